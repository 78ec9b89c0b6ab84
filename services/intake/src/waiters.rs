//! Who in this process waits to hear of a request's assignment: RevealCaller waits for the
//! accept that matching just committed to reach intake's own record, and the consumer that
//! applies assignment events wakes it when its transaction commits, rather than have it ask
//! the database again and again. Another replica's consumer may apply the event instead: the
//! waiter still looks again after a pause of its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use uuid::Uuid;

/// How long a committed change counts as recent (see [`Waiters::changed_recently`]).
const RECENT: Duration = Duration::from_secs(10);

/// Recent changes kept before the old ones are dropped.
const RECENT_KEPT: usize = 4096;

/// The waiters, by request, and the requests whose assignment changed lately.
#[derive(Default)]
pub struct Waiters {
    waiting: Mutex<HashMap<Uuid, (Arc<Notify>, usize)>>,
    changed: Mutex<HashMap<Uuid, Instant>>,
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
        self.changed
            .lock()
            .expect("waiters lock")
            .get(&request)
            .is_some_and(|at| at.elapsed() < RECENT)
    }

    /// Wakes whoever waits on `request`: something about it was committed.
    pub fn wake(&self, request: Uuid) {
        {
            // Recorded before the wake: a waiter that enabled its wake-up and then found no
            // recent change is sure to be woken.
            let mut changed = self.changed.lock().expect("waiters lock");
            if changed.len() >= RECENT_KEPT {
                changed.retain(|_, at| at.elapsed() < RECENT);
            }
            if changed.len() < RECENT_KEPT {
                changed.insert(request, Instant::now());
            }
        }
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
}
