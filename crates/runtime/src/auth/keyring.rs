//! Every API key's latest state, read from the access stream and kept current, so each service
//! checks keys locally and a revocation reaches all of them within moments.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use komek_proto::events::v1 as ev;
use uuid::Uuid;

use super::Role;
use crate::boundary::parse_name;
use crate::follow::{ACCESS_KEYS, LastValue, Progress, Source};

/// What a service keeps of a key.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub role: Role,
    pub subject: String,
    pub regions: Vec<String>,
    pub secret_hash: Vec<u8>,
    pub expire: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub revision: i64,
}

impl KeyEntry {
    pub fn usable(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && self.expire.is_none_or(|at| at > now)
    }
}

#[derive(Default)]
pub struct Keyring {
    /// Shared entries: a lookup on every call clones a pointer, not the entry.
    keys: RwLock<HashMap<Uuid, Arc<KeyEntry>>>,
    /// How far the access stream has been applied.
    progress: Progress,
    /// Whether every key that existed when the service started has been read. Until then an
    /// unknown key may be one not read yet, not one that does not exist.
    loaded: std::sync::atomic::AtomicBool,
}

impl LastValue for Keyring {
    type Message = ev::ApiKeyState;
    const SOURCE: Source = ACCESS_KEYS;

    /// Applies a key state unless a newer revision is already known.
    fn apply(&self, state: &ev::ApiKeyState) -> Result<(), String> {
        let id = parse_name("apiKeys", &state.key, "key").map_err(|v| v.description)?;
        let role = Role::from_code(state.role).ok_or_else(|| format!("role {}", state.role))?;
        let expire = state.expire_time.as_ref().and_then(|t| {
            DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)
        });
        let mut keys = self.keys.write().unwrap();
        if keys.get(&id).is_some_and(|k| k.revision >= state.revision) {
            return Ok(());
        }
        keys.insert(
            id,
            Arc::new(KeyEntry {
                role,
                subject: state.subject.clone(),
                regions: state.regions.clone(),
                secret_hash: state.secret_hash.clone(),
                expire,
                revoked: state.revoked,
                revision: state.revision,
            }),
        );
        Ok(())
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }
}

impl Keyring {
    /// Records that the keys that existed at start are all read.
    pub fn mark_loaded(&self) {
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<KeyEntry>> {
        self.keys.read().unwrap().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.keys.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follow::LastValue;

    fn state(id: Uuid, revision: i64, revoked: bool) -> ev::ApiKeyState {
        ev::ApiKeyState {
            key: format!("apiKeys/{id}"),
            role: Role::Dispatcher.code(),
            subject: "dispatchers/aigerim".into(),
            secret_hash: vec![1; 32],
            revoked,
            revision,
            ..Default::default()
        }
    }

    #[test]
    fn an_older_revision_never_undoes_a_revocation() {
        let ring = Keyring::default();
        let id = Uuid::new_v4();
        ring.apply(&state(id, 2, true)).unwrap();
        ring.apply(&state(id, 1, false)).unwrap();
        assert!(ring.get(id).unwrap().revoked);
        assert!(!ring.get(id).unwrap().usable(Utc::now()));
    }

    #[test]
    fn expired_keys_are_not_usable() {
        let ring = Keyring::default();
        let id = Uuid::new_v4();
        let mut s = state(id, 1, false);
        s.expire_time = Some(crate::boundary::timestamp(
            Utc::now() + chrono::Duration::hours(1),
        ));
        ring.apply(&s).unwrap();
        let entry = ring.get(id).unwrap();
        assert!(entry.usable(Utc::now()));
        assert!(!entry.usable(Utc::now() + chrono::Duration::hours(2)));
    }

    #[test]
    fn unknown_roles_are_refused() {
        let ring = Keyring::default();
        let mut s = state(Uuid::new_v4(), 1, false);
        s.role = 42;
        assert!(ring.apply(&s).is_err());
        assert!(ring.is_empty());
    }
}
