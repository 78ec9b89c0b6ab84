//! Caller personal data at rest: AES-256-GCM with the key id stored beside each ciphertext, so
//! keys can rotate (new writes use the current key; older keys stay configured to read), and a
//! keyed hash of the phone (HMAC-SHA256, the blind index) to find a repeat caller without
//! decrypting anything.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// Keys as configured: base64 of 32 random bytes each.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Id of the key new data is encrypted with.
    pub key_id: String,
    /// Every key that may still be needed to read, by id; must contain `key_id`.
    pub keys: HashMap<String, String>,
    /// Key of the blind index. Changing it makes earlier callers unrecognisable.
    pub index_key: String,
    /// Keys to retire: data still under them is encrypted again with `key_id`, after which
    /// they can be removed from `keys`. Each must be in `keys`, and not be `key_id`.
    pub retire: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("pii: {0}")]
    Config(String),
    #[error("pii: data encrypted with unknown key {0:?}")]
    UnknownKey(String),
    #[error("pii: ciphertext does not decrypt; wrong key or tampered row")]
    Decrypt,
}

pub struct Vault {
    current: String,
    retired: Vec<String>,
    ciphers: HashMap<String, Aes256Gcm>,
    index_key: Vec<u8>,
}

const NONCE_LEN: usize = 12;

fn key_bytes(name: &str, b64: &str) -> Result<Vec<u8>, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| Error::Config(format!("{name} is not base64")))?;
    if bytes.len() != 32 {
        return Err(Error::Config(format!(
            "{name} must be 32 bytes, is {}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The fields a plan stop's caller name and phone are sealed under, bound to the stop's id.
pub const STOP_NAME: &str = "plan.caller.display_name";
pub const STOP_PHONE: &str = "plan.caller.phone";

impl Vault {
    /// `None` when no key is configured: the service then refuses personal data.
    pub fn from_config(config: &Config) -> Result<Option<Self>, Error> {
        if config.key_id.is_empty() && config.keys.is_empty() && config.index_key.is_empty() {
            return Ok(None);
        }
        if !config.keys.contains_key(&config.key_id) {
            return Err(Error::Config(format!(
                "pii.keys has no key {:?} (pii.key_id)",
                config.key_id
            )));
        }
        let mut ciphers = HashMap::new();
        for (id, b64) in &config.keys {
            let bytes = key_bytes(&format!("pii.keys.{id}"), b64)?;
            ciphers.insert(
                id.clone(),
                Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            );
        }
        for id in &config.retire {
            if id == &config.key_id {
                return Err(Error::Config(format!(
                    "pii.retire names {id:?}, the key new data is encrypted with (pii.key_id)"
                )));
            }
            if !config.keys.contains_key(id) {
                return Err(Error::Config(format!(
                    "pii.retire names {id:?}, which is not in pii.keys: the data under it \
                     could not be read to encrypt it again"
                )));
            }
        }
        let index_key = key_bytes("pii.index_key", &config.index_key)?;
        Ok(Some(Self {
            current: config.key_id.clone(),
            retired: config.retire.clone(),
            ciphers,
            index_key,
        }))
    }

    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    /// Keys whose data is to be encrypted again with the current one.
    pub fn retired_key_ids(&self) -> &[String] {
        &self.retired
    }

    /// Whether a key of this id is configured.
    pub fn knows(&self, key_id: &str) -> bool {
        self.ciphers.contains_key(key_id)
    }

    /// Encrypts `plain` for the row `row` and column `field`; both are bound in as associated
    /// data, so a ciphertext copied to another row or column does not decrypt.
    pub fn seal(&self, row: Uuid, field: &str, plain: &str) -> Vec<u8> {
        let cipher = &self.ciphers[&self.current];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated(row, field);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption of a short string cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(
        &self,
        key_id: &str,
        row: Uuid,
        field: &str,
        sealed: &[u8],
    ) -> Result<String, Error> {
        let cipher = self
            .ciphers
            .get(key_id)
            .ok_or_else(|| Error::UnknownKey(key_id.into()))?;
        if sealed.len() < NONCE_LEN {
            return Err(Error::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = associated(row, field);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Decrypt)?;
        String::from_utf8(plain).map_err(|_| Error::Decrypt)
    }

    /// A plan stop's caller name and phone, each opened when it was kept. They are sealed
    /// under the stop's id and the fields [`STOP_NAME`] and [`STOP_PHONE`].
    pub fn open_stop_caller(
        &self,
        key_id: &str,
        stop: Uuid,
        name: Option<&[u8]>,
        phone: Option<&[u8]>,
    ) -> Result<(Option<String>, Option<String>), Error> {
        let open = |field, sealed: Option<&[u8]>| {
            sealed
                .map(|s| self.open(key_id, stop, field, s))
                .transpose()
        };
        Ok((open(STOP_NAME, name)?, open(STOP_PHONE, phone)?))
    }

    /// Keyed hash of a normalised phone number.
    pub fn blind_index(&self, phone: &str) -> Vec<u8> {
        self.keyed_hash("komek.caller.phone.v1", phone)
    }

    /// Keyed hash of `value` in the named domain: comparable, not reversible without the key.
    pub fn keyed_hash(&self, domain: &str, value: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key).expect("any key length");
        mac.update(domain.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

fn associated(row: Uuid, field: &str) -> Vec<u8> {
    let mut aad = row.as_bytes().to_vec();
    aad.extend_from_slice(field.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([n; 32])
    }

    fn vault(current: &str, keys: &[(&str, u8)]) -> Vault {
        let config = Config {
            key_id: current.into(),
            keys: keys
                .iter()
                .map(|(id, n)| (id.to_string(), key(*n)))
                .collect(),
            index_key: key(99),
            retire: Vec::new(),
        };
        Vault::from_config(&config).unwrap().unwrap()
    }

    #[test]
    fn sealed_data_hides_the_plaintext_and_opens_again() {
        let v = vault("k1", &[("k1", 1)]);
        let row = Uuid::now_v7();
        let sealed = v.seal(row, "phone", "+77011234567");
        assert!(!sealed.windows(12).any(|w| w == b"+77011234567"));
        assert_eq!(v.open("k1", row, "phone", &sealed).unwrap(), "+77011234567");
        assert_ne!(
            v.seal(row, "phone", "+77011234567"),
            sealed,
            "a fresh nonce every time"
        );
    }

    #[test]
    fn ciphertext_moved_to_another_row_or_column_does_not_open() {
        let v = vault("k1", &[("k1", 1)]);
        let row = Uuid::now_v7();
        let sealed = v.seal(row, "phone", "+77011234567");
        assert!(v.open("k1", Uuid::now_v7(), "phone", &sealed).is_err());
        assert!(v.open("k1", row, "name", &sealed).is_err());
    }

    #[test]
    fn rotated_keys_still_read_old_rows() {
        let old = vault("k1", &[("k1", 1)]);
        let row = Uuid::now_v7();
        let sealed = old.seal(row, "name", "Бекжан");
        let new = vault("k2", &[("k1", 1), ("k2", 2)]);
        assert_eq!(new.current_key_id(), "k2");
        assert_eq!(new.open("k1", row, "name", &sealed).unwrap(), "Бекжан");
        let without_old = vault("k2", &[("k2", 2)]);
        assert!(matches!(
            without_old.open("k1", row, "name", &sealed),
            Err(Error::UnknownKey(_))
        ));
    }

    #[test]
    fn only_a_configured_key_other_than_the_current_one_can_be_retired() {
        let config = |retire: &[&str]| Config {
            key_id: "k2".into(),
            keys: [("k1".into(), key(1)), ("k2".into(), key(2))].into(),
            index_key: key(9),
            retire: retire.iter().map(|s| s.to_string()).collect(),
        };
        let v = Vault::from_config(&config(&["k1"])).unwrap().unwrap();
        assert_eq!(v.retired_key_ids(), ["k1"]);
        for wrong in [&["k2"][..], &["k0"][..]] {
            let err = Vault::from_config(&config(wrong))
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("pii.retire"), "{err}");
        }
    }

    #[test]
    fn blind_index_is_stable_and_keyed() {
        let a = vault("k1", &[("k1", 1)]);
        assert_eq!(a.blind_index("+77011234567"), a.blind_index("+77011234567"));
        assert_ne!(a.blind_index("+77011234567"), a.blind_index("+77011234568"));
        let mut other = Config {
            key_id: "k1".into(),
            keys: [("k1".into(), key(1))].into(),
            index_key: key(5),
            retire: Vec::new(),
        };
        let b = Vault::from_config(&other).unwrap().unwrap();
        assert_ne!(a.blind_index("+77011234567"), b.blind_index("+77011234567"));
        other.index_key = "short".into();
        assert!(Vault::from_config(&other).is_err());
    }
}
