//! The in-memory group index, rebuilt from the roster stream and kept current. Matching reads
//! it and never queries the roster's database.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use komek_core::matching::{Evaluation, GroupView, Need, SkillGrant};
use komek_core::nearest::GeoIndex;
use komek_core::{Availability, GeoPoint, Skill};
use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{parse_name, schedule};
use komek_runtime::follow::{LastValue, Progress, ROSTER_GROUPS, Source};
use uuid::Uuid;

/// What the matcher keeps of a group besides its view.
#[derive(Debug, Clone)]
pub struct IndexedGroup {
    pub id: Uuid,
    pub display_name: String,
    /// "organizations/{organization}".
    pub organization: String,
    pub organization_display_name: String,
    pub members: Vec<Uuid>,
    pub revision: i64,
    /// Minutes the group rests after finishing a job.
    pub rest_minutes: i32,
    /// False while the roster has the group deactivated: it is out of the geographic index,
    /// so nothing is offered to it, while its members may still act on the jobs they hold.
    pub active: bool,
}

#[derive(Default)]
struct Groups {
    by_id: HashMap<Uuid, IndexedGroup>,
    /// The groups' views, by H3 cell of their position.
    geo: GeoIndex,
}

#[derive(Default)]
pub struct GroupIndex {
    groups: RwLock<Groups>,
    /// How far the roster stream has been applied.
    progress: Progress,
}

fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, t.nanos.clamp(0, 999_999_999) as u32))
}

/// The matcher's view of a published group state.
pub fn view_of(state: &ev::GroupState) -> Result<GroupView, String> {
    let point = |p: pb::LatLng| GeoPoint::new(p.latitude, p.longitude).map_err(|e| e.to_string());
    let base = point(state.base_location.unwrap_or_default())?;
    let last_location = match (state.last_location, time(state.last_location_time.as_ref())) {
        (Some(p), Some(at)) => Some((point(p)?, at)),
        _ => None,
    };
    let area = state.service_area.clone().unwrap_or_default();
    Ok(GroupView {
        id: state.group.clone(),
        base,
        last_location,
        radius_km: area.radius_km,
        districts: area.districts,
        skills: state
            .skills
            .iter()
            .filter_map(|s| {
                Some(SkillGrant {
                    skill: Skill::from_code(s.skill)?,
                    certified_until: time(s.certified_until.as_ref()),
                    payload_tonnes: s.payload_tonnes,
                })
            })
            .collect(),
        availability: Availability::from_code(state.availability).unwrap_or(Availability::OffDuty),
        capacity: u32::try_from(state.capacity).unwrap_or(0),
        // PostgreSQL counts active assignments, in the transaction that takes one.
        active_assignments: 0,
        schedule: state.schedule.as_ref().map(schedule).transpose()?,
        // Office hours with no shifts and no exceptions would mean "always open": kept as none.
        office_hours: state
            .office_hours
            .as_ref()
            .filter(|s| !s.shifts.is_empty() || !s.exceptions.is_empty())
            .map(schedule)
            .transpose()?,
        // Rest after a job starts when completions are recorded; until then none is due.
        rest_until: None,
    })
}

impl LastValue for GroupIndex {
    type Message = ev::GroupState;
    const SOURCE: Source = ROSTER_GROUPS;

    fn apply(&self, state: &ev::GroupState) -> Result<(), String> {
        self.apply_state(state)
    }

    fn progress(&self) -> &Progress {
        &self.progress
    }
}

impl GroupIndex {
    /// Applies a group state unless a newer revision is already known (the outbox relay of
    /// several roster replicas may publish out of order).
    fn apply_state(&self, state: &ev::GroupState) -> Result<(), String> {
        let id = parse_name("groups", &state.group, "group").map_err(|v| v.description)?;
        let mut groups = self.groups.write().unwrap();
        if groups
            .by_id
            .get(&id)
            .is_some_and(|g| g.revision >= state.revision)
        {
            return Ok(());
        }
        if state.deleted {
            groups.by_id.remove(&id);
            groups.geo.remove(&state.group);
            return Ok(());
        }
        let view = view_of(state)?;
        let members = state
            .members
            .iter()
            .filter_map(|m| parse_name("volunteers", m, "member").ok())
            .collect();
        if state.deactivated {
            groups.geo.remove(&state.group);
        } else {
            groups.geo.upsert(view);
        }
        groups.by_id.insert(
            id,
            IndexedGroup {
                id,
                display_name: state.display_name.clone(),
                organization: state.organization.clone(),
                organization_display_name: state.organization_display_name.clone(),
                members,
                revision: state.revision,
                rest_minutes: state.rest_minutes.max(0),
                active: !state.deactivated,
            },
        );
        Ok(())
    }

    /// How many groups the matcher may offer work to.
    pub fn len(&self) -> usize {
        self.groups
            .read()
            .unwrap()
            .by_id
            .values()
            .filter(|g| g.active)
            .count()
    }

    /// The deactivated groups, whose open offers are passed on.
    pub fn deactivated(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .groups
            .read()
            .unwrap()
            .by_id
            .values()
            .filter(|g| !g.active)
            .map(|g| g.id)
            .collect();
        ids.sort();
        ids
    }

    /// How many jobs the group takes at once.
    pub fn capacity(&self, group: &str) -> Option<u32> {
        self.groups
            .read()
            .unwrap()
            .geo
            .get(group)
            .map(|g| g.capacity)
    }

    /// The matcher's view of the group named `group`.
    pub fn view(&self, group: &str) -> Option<GroupView> {
        self.groups.read().unwrap().geo.get(group).cloned()
    }

    pub fn get(&self, id: Uuid) -> Option<IndexedGroup> {
        self.groups.read().unwrap().by_id.get(&id).cloned()
    }

    /// Groups in ascending (distance, id) order, judged against `need`, until `eligible` of
    /// them are eligible (or all are seen). Exactly the order of a brute-force scan.
    pub fn nearest(&self, need: &Need<'_>, eligible: usize) -> Vec<Evaluation> {
        let groups = self.groups.read().unwrap();
        let mut out = Vec::new();
        let mut found = 0;
        for e in groups.geo.search(need) {
            found += usize::from(e.is_eligible());
            out.push(e);
            if found == eligible {
                break;
            }
        }
        out
    }

    /// Groups the volunteer belongs to.
    pub fn groups_of(&self, volunteer: Uuid) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .groups
            .read()
            .unwrap()
            .by_id
            .values()
            .filter(|g| g.members.contains(&volunteer))
            .map(|g| g.id)
            .collect();
        ids.sort();
        ids
    }

    /// The volunteer's groups, waiting up to `timeout` for a membership the roster has just
    /// recorded to reach the index.
    pub async fn wait_for_membership(&self, volunteer: Uuid, timeout: Duration) -> Vec<Uuid> {
        let mut rx = self.progress.subscribe();
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
            .by_id
            .get(&id)
            .is_some_and(|g| g.members.contains(&volunteer))
    }
}
