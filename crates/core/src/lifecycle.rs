//! Lifecycles of requests and assignments as explicit state machines. Services ask these
//! before writing a new status, so an illegal move is refused the same way everywhere.

/// Lifecycle of a help request. Codes are the protobuf `RequestStatus` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    New,
    Triaged,
    Dispatching,
    Assigned,
    InProgress,
    Resolved,
    Closed,
    Merged,
    Escalated,
    Cancelled,
}

impl RequestStatus {
    pub const ALL: &'static [RequestStatus] = &[
        Self::New,
        Self::Triaged,
        Self::Dispatching,
        Self::Assigned,
        Self::InProgress,
        Self::Resolved,
        Self::Closed,
        Self::Merged,
        Self::Escalated,
        Self::Cancelled,
    ];

    pub const fn code(self) -> i32 {
        match self {
            Self::New => 1,
            Self::Triaged => 2,
            Self::Dispatching => 3,
            Self::Assigned => 4,
            Self::InProgress => 5,
            Self::Resolved => 6,
            Self::Closed => 7,
            Self::Merged => 8,
            Self::Escalated => 9,
            Self::Cancelled => 10,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// No further change is possible.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::Merged | Self::Cancelled)
    }

    /// Called off before it was done: cancelled, or merged into the request it repeats. A
    /// group still on it is to be taken off.
    pub const fn is_called_off(self) -> bool {
        matches!(self, Self::Merged | Self::Cancelled)
    }

    /// Nothing more will be done for the caller: resolved, closed, merged or cancelled. From
    /// here the retention of the caller's personal data runs, and it may be erased.
    pub const fn is_finished(self) -> bool {
        self.is_final() || matches!(self, Self::Resolved)
    }

    /// Whether a request may move from `self` to `next`.
    pub fn can_become(self, next: RequestStatus) -> bool {
        use RequestStatus::*;
        if self.is_final() {
            return false;
        }
        match (self, next) {
            // Cancel and merge are possible until the request is finished.
            (Resolved, Cancelled | Merged) => false,
            (_, Cancelled | Merged) => true,
            (New, Triaged) => true,
            // Triage may run again after a dispatcher override.
            (Triaged | Dispatching | Escalated, Triaged) => true,
            (Triaged | Escalated, Dispatching) => true,
            // An aborted assignment sends the request back to dispatching.
            (Assigned | InProgress, Dispatching) => true,
            (Triaged | Dispatching, Escalated) => true,
            (Dispatching | Escalated, Assigned) => true,
            (Assigned, InProgress) => true,
            (Assigned | InProgress, Resolved) => true,
            (Resolved, Closed) => true,
            _ => false,
        }
    }
}

/// Lifecycle of one offer of a request to one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentStatus {
    Offered,
    Accepted,
    Declined,
    Expired,
    Withdrawn,
    EnRoute,
    OnSite,
    Completed,
    Aborted,
}

impl AssignmentStatus {
    pub const ALL: &'static [AssignmentStatus] = &[
        Self::Offered,
        Self::Accepted,
        Self::Declined,
        Self::Expired,
        Self::Withdrawn,
        Self::EnRoute,
        Self::OnSite,
        Self::Completed,
        Self::Aborted,
    ];

    pub const fn code(self) -> i32 {
        match self {
            Self::Offered => 1,
            Self::Accepted => 2,
            Self::Declined => 3,
            Self::Expired => 4,
            Self::Withdrawn => 5,
            Self::EnRoute => 6,
            Self::OnSite => 7,
            Self::Completed => 8,
            Self::Aborted => 9,
        }
    }

    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The codes of every status for which `holds` is true, as the database stores them: the
    /// sets SQL binds come from here, never from literals.
    pub fn codes(holds: fn(Self) -> bool) -> Vec<i16> {
        Self::ALL
            .iter()
            .filter(|s| holds(**s))
            .map(|s| s.code() as i16)
            .collect()
    }

    /// The status stored as `code`, if it is one.
    pub fn from_stored(code: i16) -> Option<Self> {
        Self::from_code(code.into())
    }

    /// Holds the request and a unit of the group's capacity.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            Self::Offered | Self::Accepted | Self::EnRoute | Self::OnSite
        )
    }

    /// The group has taken the job and not finished it: the only time it may see the caller's
    /// contact.
    pub const fn holds_contact(self) -> bool {
        matches!(self, Self::Accepted | Self::EnRoute | Self::OnSite)
    }

    /// The group took the job and has not given it up: on it (as [`Self::holds_contact`]) or
    /// done. A wide search's lead in one of these leads it.
    pub const fn took_the_job(self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::EnRoute | Self::OnSite | Self::Completed
        )
    }

    /// The group accepted the offer, whatever happened after: a retried accept finds its
    /// answer already given. (Withdrawn is not among them: an offer may be withdrawn before
    /// anyone answered it.)
    pub const fn was_accepted(self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::EnRoute | Self::OnSite | Self::Completed | Self::Aborted
        )
    }

    /// The group is on its way or on site: the only time it reports positions.
    pub const fn is_on_the_way(self) -> bool {
        matches!(self, Self::EnRoute | Self::OnSite)
    }

    /// Ended without the job done by this group (declined, lapsed, taken back or given up):
    /// the matcher does not offer the request to that group again.
    pub const fn ended_unserved(self) -> bool {
        matches!(
            self,
            Self::Declined | Self::Expired | Self::Withdrawn | Self::Aborted
        )
    }

    /// Ends with the group's capacity unit given back at once; a completed job gives it back
    /// after the group's rest instead.
    pub const fn releases_at_once(self) -> bool {
        self.ended_unserved()
    }

    /// Whether an assignment may move from `self` to `next`.
    pub fn can_become(self, next: AssignmentStatus) -> bool {
        use AssignmentStatus::*;
        matches!(
            (self, next),
            (Offered, Accepted | Declined | Expired)
                // A dispatcher (or the request's closing) may take any active job back.
                | (Offered | Accepted | EnRoute | OnSite, Withdrawn)
                | (Accepted, EnRoute)
                | (EnRoute, OnSite)
                | (Accepted | EnRoute | OnSite, Completed)
                | (Accepted | EnRoute | OnSite, Aborted)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn happy_path_of_a_request() {
        use RequestStatus::*;
        let path = [
            New,
            Triaged,
            Dispatching,
            Assigned,
            InProgress,
            Resolved,
            Closed,
        ];
        for w in path.windows(2) {
            assert!(w[0].can_become(w[1]), "{:?} -> {:?}", w[0], w[1]);
        }
    }

    #[test]
    fn aborted_assignment_returns_request_to_dispatching() {
        assert!(RequestStatus::InProgress.can_become(RequestStatus::Dispatching));
        assert!(AssignmentStatus::EnRoute.can_become(AssignmentStatus::Aborted));
    }

    #[test]
    fn only_taken_unfinished_jobs_hold_the_contact() {
        use AssignmentStatus::*;
        let holding: Vec<_> = AssignmentStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.holds_contact())
            .collect();
        assert_eq!(holding, vec![Accepted, EnRoute, OnSite]);
    }

    #[test]
    fn offer_cannot_be_accepted_after_expiry() {
        assert!(!AssignmentStatus::Expired.can_become(AssignmentStatus::Accepted));
        assert!(!AssignmentStatus::Declined.can_become(AssignmentStatus::Accepted));
    }

    #[test]
    fn status_sets_are_the_codes_the_database_stores() {
        use AssignmentStatus::*;
        assert_eq!(
            AssignmentStatus::codes(AssignmentStatus::is_active),
            [1, 2, 6, 7]
        );
        assert_eq!(
            AssignmentStatus::codes(AssignmentStatus::ended_unserved),
            [3, 4, 5, 9]
        );
        assert_eq!(
            AssignmentStatus::codes(AssignmentStatus::is_on_the_way),
            [6, 7]
        );
        // Every status is active, ended unserved or completed: nothing falls between.
        for s in AssignmentStatus::ALL {
            let kinds = [s.is_active(), s.ended_unserved(), *s == Completed];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{s:?}");
        }
        assert_eq!(AssignmentStatus::from_stored(8), Some(Completed));
    }

    proptest! {
        #[test]
        fn final_request_states_never_change(from in 0usize..10, to in 0usize..10) {
            let (from, to) = (RequestStatus::ALL[from], RequestStatus::ALL[to]);
            if from.is_final() {
                prop_assert!(!from.can_become(to));
            }
        }

        #[test]
        fn finished_requests_go_on_only_to_their_close(from in 0usize..10, to in 0usize..10) {
            let (from, to) = (RequestStatus::ALL[from], RequestStatus::ALL[to]);
            if from.is_finished() && from.can_become(to) {
                prop_assert_eq!((from, to), (RequestStatus::Resolved, RequestStatus::Closed));
            }
        }

        #[test]
        fn inactive_assignments_never_come_back(from in 0usize..9, to in 0usize..9) {
            let (from, to) = (AssignmentStatus::ALL[from], AssignmentStatus::ALL[to]);
            if !from.is_active() {
                prop_assert!(!from.can_become(to), "{:?} -> {:?}", from, to);
            }
        }

        #[test]
        fn codes_round_trip(i in 0usize..10) {
            let s = RequestStatus::ALL[i];
            prop_assert_eq!(RequestStatus::from_code(s.code()), Some(s));
        }
    }
}
