//! Authentication and authorization shared by every service.
//!
//! A call carries `authorization: Bearer <credential>`. Three kinds of credential exist:
//! - **API keys** (`kmk_<key id>_<secret>`), issued by roster's AccessService. Services learn
//!   keys from the `komek.access.key.{key}` events ([`keyring`]); only an HMAC of the secret under
//!   the deployment's pepper travels or is stored, and it is compared in constant time.
//! - **The bootstrap admin key** from configuration, to issue the first keys.
//! - **Service tokens** (`kms_<service>_<expiry>_<mac>`), short-lived and signed with the
//!   deployment's service secret, which Komek services mint for their calls to each other.
//!
//! [`gate`] checks the credential, the role × method matrix of [`policy`] and the principal's rate
//! limit before a call reaches its handler, and hands the handler the [`Principal`]. What a
//! principal may see within a method (its own groups, its partner scope) is the handler's check.

pub mod gate;
pub mod keyring;
pub mod policy;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::Status;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// What a principal is. Codes equal `komek.types.v1.Role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin = 1,
    Dispatcher = 2,
    Volunteer = 3,
    Partner = 4,
    Service = 5,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Dispatcher,
        Role::Volunteer,
        Role::Partner,
        Role::Service,
    ];

    pub fn from_code(code: i32) -> Option<Role> {
        Role::ALL.into_iter().find(|r| *r as i32 == code)
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    /// The collection a subject of this role is named in, e.g. `volunteers`.
    pub fn collection(self) -> &'static str {
        match self {
            Role::Admin => "admins",
            Role::Dispatcher => "dispatchers",
            Role::Volunteer => "volunteers",
            Role::Partner => "organizations",
            Role::Service => "services",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Volunteer => "volunteer",
            Role::Partner => "partner",
            Role::Service => "service",
        }
    }
}

/// Who is calling, as established by the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub role: Role,
    /// `volunteers/{id}`, `organizations/{id}`, `dispatchers/{id}`, `services/{id}`,
    /// `admins/{id}`.
    pub subject: String,
    /// A partner's regions.
    pub regions: Vec<String>,
    /// The API key used, if any.
    pub api_key: Option<Uuid>,
}

impl Principal {
    /// The volunteer a VOLUNTEER principal speaks for.
    pub fn volunteer(&self) -> Option<Uuid> {
        self.uuid_of(Role::Volunteer)
    }

    /// The organisation a PARTNER principal speaks for.
    pub fn organization(&self) -> Option<Uuid> {
        self.uuid_of(Role::Partner)
    }

    fn uuid_of(&self, role: Role) -> Option<Uuid> {
        if self.role != role {
            return None;
        }
        let id = self
            .subject
            .strip_prefix(role.collection())?
            .strip_prefix('/')?;
        Uuid::parse_str(id).ok()
    }

    /// The regions a regional dispatcher's key is limited to; None when the principal's
    /// requests are not limited by region (an admin, a dispatcher for every region; partners
    /// have a scope of their own).
    pub fn region_limit(&self) -> Option<&[String]> {
        (self.role == Role::Dispatcher && !self.regions.is_empty()).then_some(&self.regions)
    }

    /// Whether the principal may see and act on a request in `region`.
    pub fn covers_region(&self, region: &str) -> bool {
        self.region_limit()
            .is_none_or(|regions| regions.iter().any(|r| r == region))
    }

    /// Dispatchers and admins see callers' personal data; nobody else does.
    pub fn sees_personal_data(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Dispatcher)
    }

    /// Whether this is the Komek service named `name` (e.g. `matching`).
    pub fn is_service(&self, name: &str) -> bool {
        self.role == Role::Service && self.subject == format!("services/{name}")
    }
}

/// The principal the gate attached to a call. A handler reached without one was served
/// without the gate, which is a wiring error, never the caller's.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no principal on this call"))
}

/// A subject id for dispatchers, services and admins: 1 to 63 lower-case letters, digits and
/// dashes, starting with a letter.
pub fn valid_slug(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Authentication settings. The same pepper and service secret must be given to every service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Base64 of at least 32 random bytes: the key of the HMAC under which API key secrets are
    /// hashed. Keys are issued under it.
    pub key_pepper: String,
    /// Earlier peppers, still accepted for keys issued under them: rotating the pepper means
    /// moving the old one here, re-issuing the keys made before, then dropping it.
    pub previous_key_peppers: Vec<String>,
    /// A credential with the ADMIN role, for issuing the first keys; at least 32 characters.
    /// Empty: none.
    pub bootstrap_admin_key: String,
    /// Base64 of at least 32 random bytes: signs the tokens services present to each other.
    /// Empty: service tokens are neither made nor accepted.
    pub service_secret: String,
    /// Earlier service secrets whose tokens are still accepted (tokens live 5 minutes), so the
    /// secret can change one replica at a time.
    pub previous_service_secrets: Vec<String>,
    pub rate_limits: gate::RateLimits,
}

/// The secrets of [`Config`], decoded and checked.
#[derive(Clone)]
pub struct Credentials {
    pepper: Vec<u8>,
    previous_peppers: Vec<Vec<u8>>,
    admin_hash: Option<[u8; 32]>,
    service_secret: Option<Vec<u8>>,
    previous_service_secrets: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

fn decode_secret(value: &str, key: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = STANDARD
        .decode(value.trim())
        .map_err(|e| anyhow::anyhow!("setting `{key}`: not base64: {e}"))?;
    anyhow::ensure!(
        bytes.len() >= 32,
        "setting `{key}`: needs at least 32 bytes, has {}",
        bytes.len()
    );
    Ok(bytes)
}

impl Credentials {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.key_pepper.is_empty(),
            "setting `auth.key_pepper` is required: base64 of 32 random bytes, the same on every service"
        );
        let pepper = decode_secret(&config.key_pepper, "auth.key_pepper")?;
        let admin = config.bootstrap_admin_key.trim();
        anyhow::ensure!(
            admin.is_empty() || admin.len() >= 32,
            "setting `auth.bootstrap_admin_key`: needs at least 32 characters"
        );
        let previous_peppers = config
            .previous_key_peppers
            .iter()
            .map(|p| decode_secret(p, "auth.previous_key_peppers"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let previous_service_secrets = config
            .previous_service_secrets
            .iter()
            .map(|p| decode_secret(p, "auth.previous_service_secrets"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut credentials = Self {
            pepper,
            previous_peppers,
            admin_hash: None,
            service_secret: None,
            previous_service_secrets,
        };
        if !admin.is_empty() {
            credentials.admin_hash = Some(credentials.hash_secret(admin));
        }
        if !config.service_secret.is_empty() {
            credentials.service_secret = Some(decode_secret(
                &config.service_secret,
                "auth.service_secret",
            )?);
        }
        Ok(credentials)
    }

    /// The keyed hash under which a secret is stored.
    pub fn hash_secret(&self, secret: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.pepper).expect("any key length");
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `secret` hashes to `expected` under the pepper or an earlier one, each compared
    /// in constant time.
    pub fn secret_matches(&self, secret: &str, expected: &[u8]) -> bool {
        std::iter::once(&self.pepper)
            .chain(&self.previous_peppers)
            .any(|pepper| {
                let mut mac = HmacSha256::new_from_slice(pepper).expect("any key length");
                mac.update(secret.as_bytes());
                mac.verify_slice(expected).is_ok()
            })
    }

    /// Page tokens signed with a key derived from the pepper: the same on every replica of
    /// every service, and changed with it.
    pub fn page_tokens(&self) -> crate::pages::PageTokens {
        crate::pages::PageTokens::new(self.hash_secret("komek page tokens v1"))
    }

    pub fn is_bootstrap_admin(&self, credential: &str) -> bool {
        self.admin_hash
            .as_ref()
            .is_some_and(|h| self.secret_matches(credential, h))
    }

    /// A token for service `name`, valid for `ttl`.
    pub fn service_token(&self, name: &str, ttl: std::time::Duration) -> Option<String> {
        let secret = self.service_secret.as_ref()?;
        let expiry = Utc::now().timestamp() + ttl.as_secs() as i64;
        let mac = service_mac(secret, name, expiry);
        Some(format!(
            "kms_{name}_{expiry}_{}",
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// The service a token speaks for, when its signature holds and it has not expired.
    pub fn verify_service_token(&self, token: &str, now: DateTime<Utc>) -> Option<String> {
        let secret = self.service_secret.as_ref()?;
        let mut parts = token.strip_prefix("kms_")?.splitn(3, '_');
        let (name, expiry, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let expiry: i64 = expiry.parse().ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let signed = std::iter::once(secret)
            .chain(&self.previous_service_secrets)
            .any(|secret| {
                let mut check = HmacSha256::new_from_slice(secret).expect("any key length");
                check.update(&service_message(name, expiry));
                check.verify_slice(&mac).is_ok()
            });
        (signed && valid_slug(name) && expiry > now.timestamp()).then(|| name.to_string())
    }
}

fn service_message(name: &str, expiry: i64) -> Vec<u8> {
    format!("komek-service-token\0{name}\0{expiry}").into_bytes()
}

fn service_mac(secret: &[u8], name: &str, expiry: i64) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
    mac.update(&service_message(name, expiry));
    mac.finalize().into_bytes().to_vec()
}

/// A freshly generated API key: its id and the whole credential to hand out.
#[derive(Debug)]
pub struct NewKey {
    pub id: Uuid,
    pub secret: String,
}

impl NewKey {
    /// 256 random bits from the operating system.
    pub fn generate() -> anyhow::Result<Self> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let id = Uuid::new_v4();
        Ok(Self {
            id,
            secret: format!("kmk_{}_{}", id.simple(), URL_SAFE_NO_PAD.encode(random)),
        })
    }
}

/// The key id an API key credential names, if it looks like one.
pub fn key_id_of(credential: &str) -> Option<Uuid> {
    let rest = credential.strip_prefix("kmk_")?;
    let (id, secret) = rest.split_at_checked(32)?;
    if !secret.starts_with('_') || secret.len() < 2 {
        return None;
    }
    Uuid::try_parse(id).ok()
}

/// Adds `authorization: Bearer <credential>` to every call of a client.
#[derive(Clone)]
pub struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bearer(..)")
    }
}

impl Bearer {
    pub fn new(credential: &str) -> anyhow::Result<Self> {
        Ok(Self(format!("Bearer {credential}").parse()?))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// Signs every call of a client with a fresh service token of `name`, so the receiving service
/// knows which Komek service is calling.
#[derive(Clone)]
pub struct ServiceBearer {
    credentials: Credentials,
    name: String,
}

impl std::fmt::Debug for ServiceBearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServiceBearer({})", self.name)
    }
}

impl ServiceBearer {
    pub fn new(credentials: Credentials, name: &str) -> Self {
        Self {
            credentials,
            name: name.to_string(),
        }
    }
}

impl tonic::service::Interceptor for ServiceBearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let token = self
            .credentials
            .service_token(&self.name, std::time::Duration::from_secs(300))
            .ok_or_else(|| Status::failed_precondition("auth.service_secret is not configured"))?;
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("unprintable service token"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials::from_config(&Config {
            key_pepper: STANDARD.encode([7u8; 32]),
            bootstrap_admin_key: "a".repeat(40),
            service_secret: STANDARD.encode([9u8; 32]),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_generated_key_names_its_id_and_matches_only_its_own_hash() {
        let c = credentials();
        let key = NewKey::generate().unwrap();
        assert_eq!(key_id_of(&key.secret), Some(key.id));
        let hash = c.hash_secret(&key.secret);
        assert!(c.secret_matches(&key.secret, &hash));
        let other = NewKey::generate().unwrap();
        assert!(!c.secret_matches(&other.secret, &hash));
        // One character changed in the secret part.
        let mut tampered = key.secret.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(!c.secret_matches(&String::from_utf8(tampered).unwrap(), &hash));
    }

    #[test]
    fn keys_issued_under_an_earlier_pepper_work_while_it_is_listed() {
        let old = credentials();
        let key = NewKey::generate().unwrap();
        let stored = old.hash_secret(&key.secret);
        let rotated = |previous: Vec<String>| {
            Credentials::from_config(&Config {
                key_pepper: STANDARD.encode([8u8; 32]),
                previous_key_peppers: previous,
                ..Default::default()
            })
            .unwrap()
        };
        let listed = rotated(vec![STANDARD.encode([7u8; 32])]);
        assert!(listed.secret_matches(&key.secret, &stored));
        assert!(!listed.secret_matches("another secret", &stored));
        // New keys are hashed under the current pepper, and match.
        let fresh = NewKey::generate().unwrap();
        assert_ne!(
            listed.hash_secret(&fresh.secret),
            old.hash_secret(&fresh.secret)
        );
        assert!(listed.secret_matches(&fresh.secret, &listed.hash_secret(&fresh.secret)));
        // Once the old pepper is dropped, its keys stop.
        assert!(!rotated(vec![]).secret_matches(&key.secret, &stored));
        // A short earlier pepper is refused like a short current one.
        assert!(
            Credentials::from_config(&Config {
                key_pepper: STANDARD.encode([8u8; 32]),
                previous_key_peppers: vec![STANDARD.encode([1u8; 8])],
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn tokens_signed_with_an_earlier_service_secret_are_accepted_while_it_is_listed() {
        let old = credentials();
        let token = old
            .service_token("matching", std::time::Duration::from_secs(60))
            .unwrap();
        let rotated = |previous: Vec<String>| {
            Credentials::from_config(&Config {
                key_pepper: STANDARD.encode([7u8; 32]),
                service_secret: STANDARD.encode([10u8; 32]),
                previous_service_secrets: previous,
                ..Default::default()
            })
            .unwrap()
        };
        let now = Utc::now();
        let listed = rotated(vec![STANDARD.encode([9u8; 32])]);
        assert_eq!(
            listed.verify_service_token(&token, now).as_deref(),
            Some("matching")
        );
        assert_eq!(rotated(vec![]).verify_service_token(&token, now), None);
        // Tokens made after the change are signed with the new secret, which the old
        // replicas do not know until they are updated.
        let new = listed
            .service_token("matching", std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(old.verify_service_token(&new, now), None);
    }

    #[test]
    fn hashes_depend_on_the_pepper() {
        let key = NewKey::generate().unwrap();
        let other = Credentials::from_config(&Config {
            key_pepper: STANDARD.encode([8u8; 32]),
            ..Default::default()
        })
        .unwrap();
        assert_ne!(
            credentials().hash_secret(&key.secret),
            other.hash_secret(&key.secret)
        );
    }

    #[test]
    fn malformed_key_credentials_name_no_key() {
        for bad in [
            "",
            "kmk_",
            "kmk_zz",
            "Bearer x",
            &format!("kmk_{}", "0".repeat(32)),
        ] {
            assert_eq!(key_id_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_bootstrap_admin_key_is_recognised_exactly() {
        let c = credentials();
        assert!(c.is_bootstrap_admin(&"a".repeat(40)));
        assert!(!c.is_bootstrap_admin(&"a".repeat(39)));
        assert!(!c.is_bootstrap_admin(""));
    }

    #[test]
    fn service_tokens_verify_until_they_expire_and_not_when_forged() {
        let c = credentials();
        let token = c
            .service_token("matching", std::time::Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            c.verify_service_token(&token, Utc::now()).as_deref(),
            Some("matching")
        );
        let later = Utc::now() + chrono::Duration::seconds(61);
        assert_eq!(c.verify_service_token(&token, later), None, "expired");
        let forged = token.replacen("matching", "intake", 1);
        assert_eq!(c.verify_service_token(&forged, Utc::now()), None, "renamed");
        let other = Credentials::from_config(&Config {
            key_pepper: STANDARD.encode([7u8; 32]),
            service_secret: STANDARD.encode([1u8; 32]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            other.verify_service_token(&token, Utc::now()),
            None,
            "signed with another secret"
        );
    }

    #[test]
    fn weak_settings_are_refused_with_their_key() {
        let err = Credentials::from_config(&Config::default()).unwrap_err();
        assert!(err.to_string().contains("auth.key_pepper"), "{err}");
        let err = Credentials::from_config(&Config {
            key_pepper: STANDARD.encode([1u8; 16]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        let err = Credentials::from_config(&Config {
            key_pepper: STANDARD.encode([1u8; 32]),
            bootstrap_admin_key: "short".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("bootstrap_admin_key"), "{err}");
    }

    #[test]
    fn principals_name_their_volunteer_or_organisation() {
        let id = Uuid::new_v4();
        let p = Principal {
            role: Role::Volunteer,
            subject: format!("volunteers/{id}"),
            regions: vec![],
            api_key: None,
        };
        assert_eq!(p.volunteer(), Some(id));
        assert_eq!(p.organization(), None);
        assert!(!p.sees_personal_data());
    }

    #[test]
    fn slugs() {
        assert!(valid_slug("matching"));
        assert!(valid_slug("aigerim-2"));
        for bad in ["", "2x", "Upper", "a_b", &"a".repeat(64)] {
            assert!(!valid_slug(bad), "{bad:?}");
        }
    }
}
