//! Who in this process waits to hear of a request's assignment: RevealCaller waits for the
//! accept that matching just committed to reach intake's own record, and the consumer that
//! applies assignment events wakes it when its transaction commits, rather than have it ask
//! the database again and again. Another replica's consumer may apply the event instead: the
//! waiter still looks again after a pause of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use uuid::Uuid;

/// How long a committed change counts as recent (see [`Waiters::changed_recently`]).
const RECENT: Duration = Duration::from_secs(10);

/// Recent changes kept at most; beyond it the oldest are dropped first. Ten seconds of a
/// surge of several thousand calls a second fit, for a few megabytes.
const RECENT_KEPT: usize = 65_536;

/// The waiters, by request, and the requests whose assignment changed lately.
#[derive(Default)]
pub struct Waiters {
    waiting: Mutex<HashMap<Uuid, (Arc<Notify>, usize)>>,
    changed: Mutex<Recent>,
}

/// The requests changed lately, with when, and the same in the order they came: the oldest
/// leave from the front, so keeping the set costs the same at any rate.
#[derive(Default)]
struct Recent {
    at: HashMap<Uuid, Instant>,
    order: VecDeque<(Instant, Uuid)>,
}

impl Recent {
    fn record(&mut self, request: Uuid, now: Instant) {
        while let Some(&(at, old)) = self.order.front() {
            if now.duration_since(at) < RECENT && self.order.len() < RECENT_KEPT {
                break;
            }
            self.order.pop_front();
            // A request changed again since has a later entry further back; it stays.
            if self.at.get(&old) == Some(&at) {
                self.at.remove(&old);
            }
        }
        self.order.push_back((now, request));
        self.at.insert(request, now);
    }

    fn contains(&self, request: Uuid) -> bool {
        self.at
            .get(&request)
            .is_some_and(|at| at.elapsed() < RECENT)
    }
}

/// One wait on a request; it ends when dropped.
pub struct Wait<'a> {
    waiters: &'a Waiters,
    request: Uuid,
    pub notify: Arc<Notify>,
}

impl Waiters {
    /// Starts waiting on `request`.
    pub fn wait(&self, request: Uuid) -> Wait<'_> {
        let mut waiting = self.waiting.lock().expect("waiters lock");
        let entry = waiting
            .entry(request)
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Wait {
            waiters: self,
            request,
            notify: entry.0.clone(),
        }
    }

    /// Whether this process committed a change of `request`'s assignment in the last few
    /// seconds: RevealCaller, called the moment matching commits an accept, usually comes
    /// before the accept reached intake, and looks only once woken; when a change came
    /// first, it looks at once.
    pub fn changed_recently(&self, request: Uuid) -> bool {
        self.changed.lock().expect("waiters lock").contains(request)
    }

    /// Wakes whoever waits on `request`: something about it was committed.
    pub fn wake(&self, request: Uuid) {
        // Recorded before the wake: a waiter that enabled its wake-up and then found no
        // recent change is sure to be woken.
        self.changed
            .lock()
            .expect("waiters lock")
            .record(request, Instant::now());
        if let Some((notify, _)) = self.waiting.lock().expect("waiters lock").get(&request) {
            notify.notify_waiters();
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        let mut waiting = self.waiters.waiting.lock().expect("waiters lock");
        if let Some(entry) = waiting.get_mut(&self.request) {
            entry.1 -= 1;
            if entry.1 == 0 {
                waiting.remove(&self.request);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_reaches_the_waiter_of_its_request_only_and_ended_waits_are_forgotten() {
        let waiters = Arc::new(Waiters::default());
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let wait_a = waiters.wait(a);
        let wait_b = waiters.wait(b);
        let (notify_a, notify_b) = (wait_a.notify.clone(), wait_b.notify.clone());
        let woken_a = notify_a.notified();
        let woken_b = notify_b.notified();
        tokio::pin!(woken_a, woken_b);
        woken_a.as_mut().enable();
        woken_b.as_mut().enable();
        waiters.wake(a);
        tokio::time::timeout(Duration::from_secs(1), woken_a)
            .await
            .expect("the waiter of a is woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), woken_b)
                .await
                .is_err(),
            "the waiter of b is not"
        );
        drop(wait_a);
        drop(wait_b);
        assert!(waiters.waiting.lock().unwrap().is_empty());
        assert!(waiters.changed_recently(a), "a changed a moment ago");
        assert!(!waiters.changed_recently(b));
    }

    #[test]
    fn a_surge_of_changes_keeps_the_newest_and_drops_the_oldest_first() {
        let waiters = Waiters::default();
        let ids: Vec<Uuid> = (0..RECENT_KEPT + 100).map(|_| Uuid::new_v4()).collect();
        for &id in &ids {
            waiters.wake(id);
        }
        let changed = waiters.changed.lock().unwrap();
        assert_eq!(changed.order.len(), RECENT_KEPT);
        assert_eq!(changed.at.len(), RECENT_KEPT);
        drop(changed);
        assert!(
            waiters.changed_recently(*ids.last().unwrap()),
            "the latest change is known however many came before it"
        );
        assert!(!waiters.changed_recently(ids[0]), "the oldest made room");
        assert!(waiters.changed_recently(ids[100]));
    }

    #[test]
    fn a_request_changed_again_outlives_its_first_entry_and_old_entries_leave_by_age() {
        let mut recent = Recent::default();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let start = Instant::now();
        recent.record(a, start);
        recent.record(b, start + Duration::from_secs(1));
        recent.record(a, start + Duration::from_secs(2));
        // Eleven seconds on, the first entries (a's first, b's) are past RECENT.
        recent.record(c, start + Duration::from_secs(11));
        assert!(!recent.at.contains_key(&b), "b aged out");
        assert_eq!(
            recent.at.get(&a),
            Some(&(start + Duration::from_secs(2))),
            "a's later change stays"
        );
        assert_eq!(recent.order.len(), 2);
    }
}
