//! Where a request stands, derived from what has been heard about it.
//!
//! Intake hears of a request's progress from two streams (triage's and matching's verdicts on
//! one, assignment changes on the other), and a consumer may apply them in any order: an offer
//! can arrive before the triage verdict that led to it, an escalation before the decline that
//! preceded it. Applying each event as a transition would refuse moves that look illegal out of
//! order and freeze the request. Instead intake keeps the facts — the latest of each kind, by the
//! time it happened — and derives the status from them. The facts, and so the status, are the
//! same whatever order the events were heard in.

use chrono::{DateTime, Utc};

use crate::lifecycle::{AssignmentStatus, RequestStatus};

/// The latest assignment of a request: which, in what status, since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignmentFact {
    pub id: u128,
    pub status: AssignmentStatus,
    pub at: DateTime<Utc>,
}

/// One thing heard about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Triage decided (or a dispatcher re-decided) what the request needs.
    Triaged(DateTime<Utc>),
    /// The matcher found nobody and handed the request to dispatchers.
    Escalated(DateTime<Utc>),
    /// An assignment of the request changed.
    Assignment(AssignmentFact),
    /// The request was closed: cancelled, or merged into another.
    Closed(RequestStatus, DateTime<Utc>),
}

/// What intake keeps of a request's course.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    pub triaged_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub assignment: Option<AssignmentFact>,
    pub closed: Option<(RequestStatus, DateTime<Utc>)>,
}

fn later(kept: Option<DateTime<Utc>>, heard: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(kept.map_or(heard, |k| k.max(heard)))
}

impl Facts {
    /// Adds what was heard, keeping the latest of each kind.
    pub fn hear(&mut self, heard: Heard) {
        match heard {
            Heard::Triaged(at) => self.triaged_at = later(self.triaged_at, at),
            Heard::Escalated(at) => self.escalated_at = later(self.escalated_at, at),
            // The latest change wins, ties broken by id so the order of hearing never matters.
            Heard::Assignment(a) => {
                let newer = self
                    .assignment
                    .is_none_or(|kept| (a.at, a.id) > (kept.at, kept.id));
                if newer {
                    self.assignment = Some(a);
                }
            }
            Heard::Closed(status, at) => {
                let first = self.closed.is_none_or(|(_, kept)| at < kept);
                if first && matches!(status, RequestStatus::Cancelled | RequestStatus::Merged) {
                    self.closed = Some((status, at));
                }
            }
        }
    }

    /// Where the request stands.
    pub fn status(&self) -> RequestStatus {
        let completed_at = self
            .assignment
            .filter(|a| a.status == AssignmentStatus::Completed)
            .map(|a| a.at);
        if let Some((closed, at)) = self.closed {
            // A close heard after the job was done does not undo it: a finished request is
            // neither cancelled nor merged.
            if completed_at.is_none_or(|done| done > at) {
                return closed;
            }
        }
        if completed_at.is_some() {
            return RequestStatus::Resolved;
        }
        let escalated_after =
            |t: Option<DateTime<Utc>>| self.escalated_at.is_some_and(|e| t.is_none_or(|t| e > t));
        match self.assignment {
            // Matching escalates only when nothing is active: an escalation later than the
            // active offer means the offer ended and its end is still on the way.
            Some(a) if a.status.is_active() => {
                if escalated_after(Some(a.at)) {
                    RequestStatus::Escalated
                } else {
                    progress(a.status)
                }
            }
            // Ended unserved: the matcher offered the next group or escalated in the same
            // transaction. A re-triage after the escalation sends it back to the matcher.
            Some(a) => {
                if !escalated_after(Some(a.at)) {
                    RequestStatus::Dispatching
                } else if self.triaged_at > self.escalated_at {
                    RequestStatus::Triaged
                } else {
                    RequestStatus::Escalated
                }
            }
            None => {
                if self.escalated_at.is_some() && self.escalated_at >= self.triaged_at {
                    RequestStatus::Escalated
                } else if self.triaged_at.is_some() {
                    RequestStatus::Triaged
                } else {
                    RequestStatus::New
                }
            }
        }
    }
}

/// A request's status while one of its assignments is active.
fn progress(status: AssignmentStatus) -> RequestStatus {
    match status {
        AssignmentStatus::Offered => RequestStatus::Dispatching,
        AssignmentStatus::Accepted => RequestStatus::Assigned,
        _ => RequestStatus::InProgress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssignmentStatus::*;
    use proptest::prelude::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_790_000_000_000 + ms).unwrap()
    }

    fn a(id: u128, status: AssignmentStatus, ms: i64) -> Heard {
        Heard::Assignment(AssignmentFact {
            id,
            status,
            at: t(ms),
        })
    }

    fn status_after(events: &[Heard]) -> RequestStatus {
        let mut f = Facts::default();
        for e in events {
            f.hear(*e);
        }
        f.status()
    }

    #[test]
    fn an_offer_heard_before_its_triage_still_reads_dispatching_then_assigned() {
        // The case an outside tester hit: the offer came before the verdict that led to it.
        let mut f = Facts::default();
        f.hear(a(1, Offered, 20));
        assert_eq!(f.status(), RequestStatus::Dispatching);
        f.hear(Heard::Triaged(t(10)));
        assert_eq!(f.status(), RequestStatus::Dispatching);
        f.hear(a(1, Accepted, 30));
        assert_eq!(f.status(), RequestStatus::Assigned);
        f.hear(a(1, EnRoute, 40));
        f.hear(a(1, Completed, 50));
        assert_eq!(f.status(), RequestStatus::Resolved);
    }

    #[test]
    fn an_escalation_heard_before_the_decline_it_followed_stays_escalated() {
        let events = [
            Heard::Triaged(t(10)),
            a(1, Offered, 20),
            a(1, Declined, 30),
            Heard::Escalated(t(31)),
        ];
        assert_eq!(status_after(&events), RequestStatus::Escalated);
        let reordered = [events[0], events[3], events[1], events[2]];
        assert_eq!(status_after(&reordered), RequestStatus::Escalated);
    }

    #[test]
    fn a_retriage_after_an_escalation_goes_back_to_the_matcher() {
        let events = [
            Heard::Triaged(t(10)),
            Heard::Escalated(t(20)),
            Heard::Triaged(t(30)),
        ];
        assert_eq!(status_after(&events), RequestStatus::Triaged);
        // And a dispatcher's assignment after the escalation is dispatching again.
        assert_eq!(
            status_after(&[events[0], events[1], a(7, Offered, 25)]),
            RequestStatus::Dispatching
        );
    }

    #[test]
    fn an_older_change_never_hides_a_newer_one() {
        assert_eq!(
            status_after(&[a(1, Accepted, 30), a(1, Offered, 20)]),
            RequestStatus::Assigned
        );
        assert_eq!(
            status_after(&[a(2, Offered, 40), a(1, Withdrawn, 35)]),
            RequestStatus::Dispatching
        );
    }

    #[test]
    fn a_merge_heard_after_completion_does_not_undo_it() {
        let done = [a(1, Completed, 50)];
        let merge = Heard::Closed(RequestStatus::Merged, t(60));
        assert_eq!(
            status_after(&[done[0], merge]),
            RequestStatus::Resolved,
            "completed first"
        );
        assert_eq!(status_after(&[merge, done[0]]), RequestStatus::Resolved);
        let early_merge = Heard::Closed(RequestStatus::Merged, t(40));
        assert_eq!(status_after(&[done[0], early_merge]), RequestStatus::Merged);
    }

    /// A request's life as the services would produce it: each step later than the one
    /// before, on the streams they really travel on.
    fn life() -> impl Strategy<Value = Vec<Heard>> {
        // Each step: 0 offer to a new group, 1 decline, 2 expiry, 3 escalation, 4 re-triage,
        // 5 accept, 6 en route, 7 complete, 8 cancel, 9 merge, 10 withdraw.
        proptest::collection::vec(0u8..11, 0..14).prop_map(|steps| {
            let mut out = vec![Heard::Triaged(t(0))];
            let mut clock = 0;
            let mut next_id = 0u128;
            let mut current: Option<(u128, AssignmentStatus)> = None;
            for step in steps {
                clock += 10;
                let active = current.filter(|(_, s)| s.is_active());
                let heard = match (step, active) {
                    (0, None) => {
                        next_id += 1;
                        current = Some((next_id, Offered));
                        a(next_id, Offered, clock)
                    }
                    (1 | 2, Some((id, Offered))) => {
                        let s = if step == 1 { Declined } else { Expired };
                        current = Some((id, s));
                        a(id, s, clock)
                    }
                    (3, None) => Heard::Escalated(t(clock)),
                    (4, _) => Heard::Triaged(t(clock)),
                    (5, Some((id, Offered))) => {
                        current = Some((id, Accepted));
                        a(id, Accepted, clock)
                    }
                    (6, Some((id, Accepted))) => {
                        current = Some((id, EnRoute));
                        a(id, EnRoute, clock)
                    }
                    (7, Some((id, Accepted | EnRoute))) => {
                        current = Some((id, Completed));
                        a(id, Completed, clock)
                    }
                    (8, _) => Heard::Closed(RequestStatus::Cancelled, t(clock)),
                    (9, _) => Heard::Closed(RequestStatus::Merged, t(clock)),
                    (10, Some((id, _))) => {
                        current = Some((id, Withdrawn));
                        a(id, Withdrawn, clock)
                    }
                    _ => continue,
                };
                out.push(heard);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn the_status_is_the_same_whatever_order_the_events_are_heard_in(
            events in life(),
            seed in any::<u64>(),
        ) {
            let in_order = status_after(&events);
            // A shuffle driven by the seed: every order is reachable.
            let mut shuffled = events.clone();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(status_after(&shuffled), in_order);
        }

        #[test]
        fn hearing_something_twice_changes_nothing(events in life()) {
            let twice: Vec<Heard> = events.iter().flat_map(|e| [*e, *e]).collect();
            prop_assert_eq!(status_after(&twice), status_after(&events));
        }
    }
}
