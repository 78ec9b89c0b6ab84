//! The in-memory group index, rebuilt from the roster stream and kept current. Matching reads
//! it and never queries the roster's database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use komek_core::matching::GroupView;
use komek_core::{Availability, GeoPoint, Skill};
use komek_proto::events::v1 as ev;
use komek_runtime::CancellationToken;
use komek_runtime::convert::parse_name;
use komek_runtime::events::{Bus, streams, subject};
use prost::Message;
use tokio::sync::watch;
use uuid::Uuid;

/// What the matcher keeps of a group.
#[derive(Debug, Clone)]
pub struct IndexedGroup {
    pub id: Uuid,
    pub display_name: String,
    pub view: GroupView,
    pub members: Vec<Uuid>,
    pub revision: i64,
}

#[derive(Default)]
pub struct GroupIndex {
    groups: RwLock<HashMap<Uuid, IndexedGroup>>,
    /// Stream sequence of the last roster message applied.
    applied: watch::Sender<u64>,
}

impl GroupIndex {
    /// Applies a group state unless a newer revision is already known (the outbox relay of
    /// several roster replicas may publish out of order).
    pub fn apply(&self, state: &ev::GroupState) -> Result<(), String> {
        let id = parse_name("groups", &state.group, "group").map_err(|v| v.description)?;
        let mut groups = self.groups.write().unwrap();
        if groups
            .get(&id)
            .is_some_and(|g| g.revision >= state.revision)
        {
            return Ok(());
        }
        if state.deleted {
            groups.remove(&id);
            return Ok(());
        }
        let base = state.base_location.unwrap_or_default();
        let location = GeoPoint::new(base.latitude, base.longitude).map_err(|e| e.to_string())?;
        let view = GroupView {
            id: state.group.clone(),
            location,
            radius_km: state.service_area.as_ref().map_or(0.0, |a| a.radius_km),
            skills: state
                .skills
                .iter()
                .filter_map(|s| Skill::from_code(s.skill))
                .collect(),
            availability: Availability::from_code(state.availability)
                .unwrap_or(Availability::OffDuty),
            capacity: u32::try_from(state.capacity).unwrap_or(0),
            active_assignments: 0,
        };
        let members = state
            .members
            .iter()
            .filter_map(|m| parse_name("volunteers", m, "member").ok())
            .collect();
        groups.insert(
            id,
            IndexedGroup {
                id,
                display_name: state.display_name.clone(),
                view,
                members,
                revision: state.revision,
            },
        );
        Ok(())
    }

    pub fn snapshot(&self) -> Vec<IndexedGroup> {
        self.groups.read().unwrap().values().cloned().collect()
    }

    /// Groups the volunteer belongs to.
    pub fn groups_of(&self, volunteer: Uuid) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .groups
            .read()
            .unwrap()
            .values()
            .filter(|g| g.members.contains(&volunteer))
            .map(|g| g.id)
            .collect();
        ids.sort();
        ids
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

    /// The volunteer's groups, waiting up to `timeout` for a membership the roster has just
    /// recorded to reach the index.
    pub async fn wait_for_membership(&self, volunteer: Uuid, timeout: Duration) -> Vec<Uuid> {
        let mut rx = self.applied.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let groups = self.groups_of(volunteer);
            if !groups.is_empty() {
                return groups;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return groups;
            }
        }
    }

    /// Whether the volunteer belongs to the group named `group` now.
    pub fn is_member(&self, volunteer: Uuid, group: &str) -> bool {
        let Ok(id) = parse_name("groups", group, "group") else {
            return false;
        };
        self.groups
            .read()
            .unwrap()
            .get(&id)
            .is_some_and(|g| g.members.contains(&volunteer))
    }

    /// Waits until every roster message up to `seq` is applied, at most `timeout`. Returns
    /// whether it got there.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|s| *s >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Reads the roster stream from the start (the latest state of every group) and then follows it.
pub struct RosterFollower {
    bus: Bus,
    index: Arc<GroupIndex>,
}

impl RosterFollower {
    pub fn new(bus: Bus, index: Arc<GroupIndex>) -> Self {
        Self { bus, index }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            if let Err(err) = self.follow(&shutdown).await {
                tracing::warn!(error = %err, "roster follower failed; restarting");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }

    async fn follow(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let stream = self.bus.jetstream.get_stream(streams::ROSTER).await?;
        // An ordered consumer is ephemeral and per replica: every matcher sees every group.
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::All,
                filter_subject: format!("{}.>", subject::ROSTER_GROUP_PREFIX),
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        loop {
            let message = tokio::select! {
                m = messages.next() => m,
                _ = shutdown.cancelled() => return Ok(()),
            };
            let Some(message) = message else {
                return Ok(());
            };
            let message = message?;
            match ev::GroupState::decode(message.payload.as_ref()) {
                Ok(state) => {
                    if let Err(err) = self.index.apply(&state) {
                        tracing::error!(group = %state.group, error = %err, "group state ignored");
                    }
                }
                Err(err) => tracing::error!(error = %err, "undecodable group state ignored"),
            }
            if let Ok(info) = message.info() {
                self.index.mark_applied(info.stream_sequence);
            }
        }
    }
}

/// The sequence of the last message in the roster stream now.
pub async fn roster_head(bus: &Bus) -> anyhow::Result<u64> {
    let mut stream = bus.jetstream.get_stream(streams::ROSTER).await?;
    Ok(stream.info().await?.state.last_sequence)
}
