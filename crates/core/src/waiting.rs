//! How long a request may wait on Komek before dispatchers hear of it again.
//!
//! A request waits on someone in four states: NEW (triage has not decided), TRIAGED (the
//! matcher has not offered it), ESCALATED (a dispatcher must act) and UNASSIGNED (its job was
//! withdrawn or aborted and nothing replaced it). Offers have their own timer (the ladder); the
//! states here had none, so a request could sit in them unnoticed. Each state has a limit per
//! priority, which a category may shorten or lengthen; past it dispatchers are alerted, and
//! again each time the limit passes once more, until the request moves on.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Category, Priority};
use crate::lifecycle::{AssignmentStatus, RequestStatus};

/// A state a request waits in. Codes are the protobuf `WaitingState` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WaitingState {
    New,
    Triaged,
    Escalated,
    Unassigned,
}

impl WaitingState {
    pub const ALL: [WaitingState; 4] =
        [Self::New, Self::Triaged, Self::Escalated, Self::Unassigned];

    pub const fn code(self) -> i32 {
        match self {
            Self::New => 1,
            Self::Triaged => 2,
            Self::Escalated => 3,
            Self::Unassigned => 4,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub const fn slug(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Triaged => "triaged",
            Self::Escalated => "escalated",
            Self::Unassigned => "unassigned",
        }
    }
}

/// When the facts a wait is measured from happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub created: DateTime<Utc>,
    pub triaged: Option<DateTime<Utc>>,
    pub escalated: Option<DateTime<Utc>>,
    /// When the request's latest assignment last changed.
    pub assignment_changed: Option<DateTime<Utc>>,
    /// When the matcher judges again a request that waits for an office to open.
    pub deferred_until: Option<DateTime<Utc>>,
}

/// The state a request waits in and since when, or `None` when it waits on nobody (on offer,
/// being served, or finished).
pub fn waiting(
    status: RequestStatus,
    assignment: Option<AssignmentStatus>,
    times: Times,
) -> Option<(WaitingState, DateTime<Utc>)> {
    match status {
        RequestStatus::New => Some((WaitingState::New, times.created)),
        // A re-triage after an escalation sends the request back to the matcher: it waits from
        // the later of the two. One waiting for office hours waits on the matcher only from the
        // opening on.
        RequestStatus::Triaged => Some((
            WaitingState::Triaged,
            times
                .triaged
                .max(times.escalated)
                .max(times.deferred_until)
                .unwrap_or(times.created),
        )),
        RequestStatus::Escalated => Some((
            WaitingState::Escalated,
            times.escalated.unwrap_or(times.created),
        )),
        // Dispatching with no active assignment: the job ended unserved and nothing took its
        // place (a dispatcher's withdrawal, an abort).
        RequestStatus::Dispatching if assignment.is_some_and(|a| !a.is_active()) => Some((
            WaitingState::Unassigned,
            times.assignment_changed.unwrap_or(times.created),
        )),
        _ => None,
    }
}

/// Seconds per priority; a missing one takes the state's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerPriority {
    pub critical_secs: Option<u32>,
    pub high_secs: Option<u32>,
    pub normal_secs: Option<u32>,
    pub low_secs: Option<u32>,
}

impl PerPriority {
    const fn all(critical: u32, high: u32, normal: u32, low: u32) -> Self {
        Self {
            critical_secs: Some(critical),
            high_secs: Some(high),
            normal_secs: Some(normal),
            low_secs: Some(low),
        }
    }

    fn get(&self, priority: Priority) -> Option<u32> {
        match priority {
            Priority::Critical => self.critical_secs,
            Priority::High => self.high_secs,
            Priority::Normal => self.normal_secs,
            Priority::Low => self.low_secs,
        }
    }
}

/// The limits of one category, by state; a state left out keeps the general limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByState {
    pub new: Option<PerPriority>,
    pub triaged: Option<PerPriority>,
    pub escalated: Option<PerPriority>,
    pub unassigned: Option<PerPriority>,
}

impl ByState {
    fn get(&self, state: WaitingState) -> Option<&PerPriority> {
        match state {
            WaitingState::New => self.new.as_ref(),
            WaitingState::Triaged => self.triaged.as_ref(),
            WaitingState::Escalated => self.escalated.as_ref(),
            WaitingState::Unassigned => self.unassigned.as_ref(),
        }
    }
}

/// The limits: general ones per state and priority, and per category (by its slug) what
/// differs. Triage and the matcher take seconds, so NEW and TRIAGED limits are short; a
/// dispatcher needs minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub new: PerPriority,
    pub triaged: PerPriority,
    pub escalated: PerPriority,
    pub unassigned: PerPriority,
    pub categories: HashMap<String, ByState>,
}

impl Default for Limits {
    fn default() -> Self {
        let machine = PerPriority::all(60, 120, 300, 900);
        let people = PerPriority::all(120, 600, 1800, 7200);
        // A missing person, a search: every minute counts more than the priority alone says.
        let search = ByState {
            escalated: Some(PerPriority::all(60, 300, 900, 3600)),
            unassigned: Some(PerPriority::all(60, 300, 900, 3600)),
            ..ByState::default()
        };
        Self {
            new: machine,
            triaged: machine,
            escalated: people,
            unassigned: people,
            categories: [(Category::SearchOperation.slug().to_string(), search)]
                .into_iter()
                .collect(),
        }
    }
}

impl Limits {
    /// Checks that every category named is one, and every limit is at least a second.
    pub fn check(&self) -> Result<(), String> {
        for slug in self.categories.keys() {
            if Category::from_slug(slug).is_none() {
                return Err(format!("waiting_limits.categories: no category {slug:?}"));
            }
        }
        let all = [&self.new, &self.triaged, &self.escalated, &self.unassigned]
            .into_iter()
            .copied()
            .chain(self.categories.values().flat_map(|c| {
                WaitingState::ALL
                    .into_iter()
                    .filter_map(|s| c.get(s).copied())
            }));
        for p in all {
            for priority in Priority::ALL {
                if p.get(*priority) == Some(0) {
                    return Err("waiting_limits: a limit of 0 seconds".into());
                }
            }
        }
        Ok(())
    }

    fn general(&self, state: WaitingState) -> &PerPriority {
        match state {
            WaitingState::New => &self.new,
            WaitingState::Triaged => &self.triaged,
            WaitingState::Escalated => &self.escalated,
            WaitingState::Unassigned => &self.unassigned,
        }
    }

    /// How long a request of `category` and `priority` may wait in `state`. A request triage
    /// has not judged has no priority yet; it is held to the high limit, because an untriaged
    /// call may be anything.
    pub fn limit(
        &self,
        state: WaitingState,
        category: Option<Category>,
        priority: Option<Priority>,
    ) -> Duration {
        let priority = priority.unwrap_or(Priority::High);
        let special = category
            .and_then(|c| self.categories.get(c.slug()))
            .and_then(|c| c.get(state))
            .and_then(|p| p.get(priority));
        let general = self.general(state).get(priority);
        let fallback = Limits::default()
            .general(state)
            .get(priority)
            .unwrap_or(600);
        Duration::from_secs(u64::from(special.or(general).unwrap_or(fallback)))
    }

    /// The shortest limit of any state, category and priority (an untriaged request's
    /// included): no wait is due before it has lasted this long.
    pub fn shortest(&self) -> Duration {
        let categories = std::iter::once(None).chain(Category::ALL.iter().copied().map(Some));
        let priorities = std::iter::once(None).chain(Priority::ALL.iter().copied().map(Some));
        let mut shortest = Duration::MAX;
        for state in WaitingState::ALL {
            for category in categories.clone() {
                for priority in priorities.clone() {
                    shortest = shortest.min(self.limit(state, category, priority));
                }
            }
        }
        shortest
    }
}

/// When the next alert of a wait that began at `since` falls due, `alerts` having been given
/// for it: at each whole multiple of the limit.
pub fn next_alert(since: DateTime<Utc>, limit: Duration, alerts: u32) -> DateTime<Utc> {
    let limit = chrono::Duration::from_std(limit).unwrap_or(chrono::TimeDelta::MAX);
    let times = i32::try_from(alerts.saturating_add(1)).unwrap_or(i32::MAX);
    since
        .checked_add_signed(limit * times)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap()
    }

    fn times() -> Times {
        Times {
            created: t(0),
            triaged: Some(t(1)),
            escalated: Some(t(5)),
            assignment_changed: Some(t(7)),
            deferred_until: None,
        }
    }

    #[test]
    fn each_waiting_status_is_measured_from_the_fact_that_put_it_there() {
        use AssignmentStatus::*;
        use RequestStatus as R;
        assert_eq!(
            waiting(R::New, None, times()),
            Some((WaitingState::New, t(0)))
        );
        assert_eq!(
            waiting(R::Escalated, None, times()),
            Some((WaitingState::Escalated, t(5)))
        );
        // Triaged again after the escalation: waiting on the matcher since the later fact.
        assert_eq!(
            waiting(R::Triaged, None, times()),
            Some((WaitingState::Triaged, t(5)))
        );
        let deferred = Times {
            deferred_until: Some(t(600)),
            ..times()
        };
        assert_eq!(
            waiting(R::Triaged, None, deferred),
            Some((WaitingState::Triaged, t(600))),
            "waiting for an office to open is not waiting on the matcher"
        );
        assert_eq!(
            waiting(R::Dispatching, Some(Withdrawn), times()),
            Some((WaitingState::Unassigned, t(7)))
        );
        // On offer, accepted, on the way, done: the ladder and the overdue queue watch those.
        assert_eq!(waiting(R::Dispatching, Some(Offered), times()), None);
        assert_eq!(waiting(R::Assigned, Some(Accepted), times()), None);
        assert_eq!(waiting(R::Resolved, Some(Completed), times()), None);
        assert_eq!(waiting(R::Cancelled, None, times()), None);
    }

    #[test]
    fn a_category_overrides_only_what_it_names() {
        let limits = Limits::default();
        let search = Some(Category::SearchOperation);
        let coal = Some(Category::FuelDelivery);
        let critical = Some(Priority::Critical);
        assert_eq!(
            limits.limit(WaitingState::Escalated, search, critical),
            Duration::from_secs(60)
        );
        assert_eq!(
            limits.limit(WaitingState::Escalated, coal, critical),
            Duration::from_secs(120)
        );
        assert_eq!(
            limits.limit(WaitingState::New, search, critical),
            Duration::from_secs(60),
            "a state the category leaves out keeps the general limit"
        );
        assert_eq!(
            limits.limit(WaitingState::New, None, None),
            limits.limit(WaitingState::New, None, Some(Priority::High)),
            "an untriaged request is held to the high limit"
        );
    }

    #[test]
    fn limits_read_from_configuration_and_bad_ones_are_refused() {
        let limits: Limits = toml::from_str(
            "[escalated]\nnormal_secs = 900\n[categories.fuel_delivery.unassigned]\nlow_secs = 60\n",
        )
        .unwrap();
        limits.check().unwrap();
        assert_eq!(
            limits.limit(WaitingState::Escalated, None, Some(Priority::Normal)),
            Duration::from_secs(900)
        );
        assert_eq!(
            limits.limit(WaitingState::Escalated, None, Some(Priority::Critical)),
            Duration::from_secs(120),
            "a priority left out takes the default"
        );
        assert_eq!(
            limits.limit(
                WaitingState::Unassigned,
                Some(Category::FuelDelivery),
                Some(Priority::Low)
            ),
            Duration::from_secs(60)
        );
        let unknown: Limits = toml::from_str("[categories.coal.new]\nlow_secs = 5\n").unwrap();
        assert!(unknown.check().is_err());
        let zero: Limits = toml::from_str("[new]\nhigh_secs = 0\n").unwrap();
        assert!(zero.check().is_err());
        assert!(toml::from_str::<Limits>("[new]\nhihg_secs = 5\n").is_err());
    }

    proptest! {
        /// Alerts fall due at every multiple of the limit and never before the first: the n-th
        /// alert comes after n limits, and each comes one limit after the previous.
        #[test]
        fn alerts_repeat_once_per_limit(secs in 1u64..100_000, alerts in 0u32..1000) {
            let limit = Duration::from_secs(secs);
            let first = next_alert(t(0), limit, 0);
            prop_assert_eq!(first, t(0) + chrono::Duration::seconds(secs as i64));
            let this = next_alert(t(0), limit, alerts);
            let next = next_alert(t(0), limit, alerts + 1);
            prop_assert_eq!(next - this, chrono::Duration::seconds(secs as i64));
            prop_assert!(this >= first);
        }

        /// The shortest limit is one of the limits, and none is shorter: a sweep that skips
        /// requests younger than it skips none that is due.
        #[test]
        fn the_shortest_limit_is_the_least_of_them_all(
            general in proptest::collection::vec(per_priority(), 4),
            special in proptest::collection::vec(
                (proptest::sample::select(Category::ALL), per_priority(), 0usize..4), 0..4),
        ) {
            let mut limits = Limits {
                new: general[0],
                triaged: general[1],
                escalated: general[2],
                unassigned: general[3],
                categories: HashMap::new(),
            };
            for (category, p, state) in special {
                let by_state = limits.categories.entry(category.slug().to_string()).or_default();
                *[&mut by_state.new, &mut by_state.triaged, &mut by_state.escalated,
                    &mut by_state.unassigned][state] = Some(p);
            }
            let shortest = limits.shortest();
            let mut found = false;
            for state in WaitingState::ALL {
                for category in std::iter::once(None).chain(Category::ALL.iter().copied().map(Some)) {
                    for priority in std::iter::once(None).chain(Priority::ALL.iter().copied().map(Some)) {
                        let limit = limits.limit(state, category, priority);
                        prop_assert!(shortest <= limit);
                        found |= shortest == limit;
                    }
                }
            }
            prop_assert!(found);
        }
    }

    fn per_priority() -> impl Strategy<Value = PerPriority> {
        let secs = || proptest::option::of(1u32..100_000);
        (secs(), secs(), secs(), secs()).prop_map(|(critical, high, normal, low)| PerPriority {
            critical_secs: critical,
            high_secs: high,
            normal_secs: normal,
            low_secs: low,
        })
    }

    #[test]
    fn by_default_no_wait_is_due_before_a_minute() {
        assert_eq!(Limits::default().shortest(), Duration::from_secs(60));
    }
}
