//! Every API key's latest state, read from the access stream and kept current, so each service
//! checks keys locally and a revocation reaches all of them within moments.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use komek_proto::events::v1 as ev;
use prost::Message;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Role;
use crate::boundary::parse_name;
use crate::events::{self, Bus, streams, subject};

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
    /// Stream sequence of the last access message applied.
    applied: watch::Sender<u64>,
}

impl Keyring {
    /// Applies a key state unless a newer revision is already known.
    pub fn apply(&self, state: &ev::ApiKeyState) -> Result<(), String> {
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

    pub fn get(&self, id: Uuid) -> Option<Arc<KeyEntry>> {
        self.keys.read().unwrap().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.keys.read().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn mark_applied(&self, seq: u64) {
        self.applied.send_if_modified(|s| {
            let newer = seq > *s;
            if newer {
                *s = seq;
            }
            newer
        });
    }

    /// Waits until every access message up to `seq` is applied, at most `timeout`.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Reads the access stream from the start, then follows it, until `shutdown`.
    pub async fn follow(self: Arc<Self>, bus: Bus, shutdown: CancellationToken) {
        let filter = format!("{}.>", subject::ACCESS_KEY_PREFIX);
        events::follow_all(bus, streams::ACCESS, filter, shutdown, |payload, seq| {
            match ev::ApiKeyState::decode(payload) {
                Ok(state) => {
                    if let Err(err) = self.apply(&state) {
                        tracing::error!(key = %state.key, error = %err, "key state ignored");
                    }
                }
                Err(err) => tracing::error!(error = %err, "undecodable key state ignored"),
            }
            self.mark_applied(seq);
        })
        .await
    }
}

/// The sequence of the last message in the access stream now.
pub async fn head(bus: &Bus) -> anyhow::Result<u64> {
    events::stream_head(bus, streams::ACCESS).await
}

#[cfg(test)]
mod tests {
    use super::*;

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
