//! Calls that write together. Under a surge most of a small write's cost is the transaction
//! around it (its round trips, its commit, a wake-up on each side of each), so the calls that
//! arrive while a batch is being written wait for it and go in the next one, which the writer
//! writes in one transaction. A call alone still goes at once; under load a batch waits a
//! moment for more ([`Pace`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

/// How long a batch taken under load waits, from when it was taken, for more items.
///
/// Taking only what waits makes batches small at moderate rates: each stage loops as fast as
/// its transactions allow, and the transactions, commits and wake-ups of small batches fill
/// the machine, so every hop waits for a core and for the log flush. Waiting a few
/// milliseconds for more makes fewer, larger transactions, and the waits they take away are
/// longer than the one they add (BENCHMARKS.md, step 27: create → offered p50 at 450 requests/s
/// 64–68 ms taking what waits, 36 ms waiting 5 ms).
pub const LINGER: Duration = Duration::from_millis(5);

/// Whether the next batch waits for more (its linger, [`LINGER`] unless told): only when the
/// one before it was not alone, which is the sign of load. A call in a quiet hour goes at once.
#[derive(Debug)]
pub struct Pace {
    busy: bool,
    linger: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self::lingering(LINGER)
    }
}

impl Pace {
    /// A pace whose batches under load wait `linger` for more.
    pub fn lingering(linger: Duration) -> Self {
        Self {
            busy: false,
            linger,
        }
    }

    /// When a batch taken now stops waiting for more; None: it goes at once.
    pub fn until(&self) -> Option<Instant> {
        self.busy.then(|| Instant::now() + self.linger)
    }

    /// Notes how many items the batch took.
    pub fn took(&mut self, items: usize) {
        self.busy = items > 1;
    }
}

/// Hands items to writers that write them in batches.
pub struct Batcher<T, R> {
    queue: mpsc::Sender<(T, oneshot::Sender<R>)>,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts `writers` tasks, each taking whatever items wait (at most `max`) and calling
    /// `write` on them, which returns one result per item in their order; with two, one
    /// gathers while the other commits. They stop when the last `Batcher` is dropped. More
    /// than `4 * max` items waiting make callers wait (back-pressure).
    pub fn start<F, Fut>(writers: usize, max: usize, write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (queue, waiting) = mpsc::channel(4 * max);
        let waiting = Arc::new(Mutex::new((waiting, Pace::default())));
        let write = Arc::new(write);
        for _ in 0..writers {
            tokio::spawn(run(waiting.clone(), max, write.clone()));
        }
        Self { queue }
    }

    /// Writes `item` with whichever others are waiting, and returns its result; None when no
    /// writer runs any more, or the writer gave no result for it.
    pub async fn write(&self, item: T) -> Option<R> {
        let (reply, written) = oneshot::channel();
        self.queue.send((item, reply)).await.ok()?;
        written.await.ok()
    }
}

/// The items waiting, and the pace of the writers taking them (shared: with two writers, one
/// takes while the other writes).
type Waiting<T, R> = Arc<Mutex<(mpsc::Receiver<(T, oneshot::Sender<R>)>, Pace)>>;

async fn run<T, R, F, Fut>(waiting: Waiting<T, R>, max: usize, write: Arc<F>)
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    loop {
        let mut batch = Vec::new();
        {
            let (waiting, pace) = &mut *waiting.lock().await;
            if waiting.recv_many(&mut batch, max).await == 0 {
                return;
            }
            if let Some(until) = pace.until() {
                while batch.len() < max {
                    let room = max - batch.len();
                    let more = waiting.recv_many(&mut batch, room);
                    match tokio::time::timeout_at(until, more).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
            pace.took(batch.len());
        }
        let (items, replies): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
        let results = write(items).await;
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that gave up (its deadline passed) loses nothing: what was written
            // stays written, and its retry finds it.
            let _ = reply.send(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Batches = Arc<std::sync::Mutex<Vec<Vec<u32>>>>;

    /// One writer taking up to 8 items, answering each with ten times it, that records its
    /// batches and holds the batch `[held_on]` until the gate opens.
    fn gated(held_on: u32) -> (Batcher<u32, u32>, Batches, Arc<tokio::sync::Semaphore>) {
        let batches = Batches::default();
        let seen = batches.clone();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let held = gate.clone();
        let batcher = Batcher::start(1, 8, move |items: Vec<u32>| {
            let seen = seen.clone();
            let held = held.clone();
            async move {
                seen.lock().unwrap().push(items.clone());
                if items == [held_on] {
                    held.acquire().await.unwrap().forget();
                }
                items.iter().map(|i| i * 10).collect()
            }
        });
        (batcher, batches, gate)
    }

    /// Items that arrive while a batch is written go together in the next one, each caller
    /// getting its own result; a lone item goes at once.
    #[tokio::test]
    async fn items_waiting_for_a_writer_go_together() {
        // The batch [2] is written until the others are queued.
        let (batcher, batches, gate) = gated(2);
        assert_eq!(batcher.write(1).await, Some(10), "a lone item goes at once");

        let first = tokio::spawn({
            let b = batcher.clone();
            async move { b.write(2).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let rest: Vec<_> = (3..=12)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { b.write(i).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        gate.add_permits(1);
        assert_eq!(first.await.unwrap(), Some(20));
        for (i, r) in (3..=12).zip(rest) {
            assert_eq!(r.await.unwrap(), Some(i * 10));
        }
        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches[0], vec![1]);
        assert_eq!(batches[1], vec![2]);
        // Ten waited: eight (the most) went together, then the other two.
        assert_eq!(batches[2].len(), 8);
        assert_eq!(batches[3].len(), 2);
    }

    /// Under load a batch waits a moment for more: an item arriving just after the writer took
    /// one goes with it. A batch that stayed alone ends the load: the next goes at once.
    #[tokio::test(start_paused = true)]
    async fn under_load_a_batch_waits_a_moment_for_more() {
        let (batcher, batches, gate) = gated(1);
        let write = |i| {
            let b = batcher.clone();
            tokio::spawn(async move { b.write(i).await })
        };
        // Two arrive while one is written, and go together: load.
        let first = write(1);
        tokio::time::sleep(Duration::from_millis(1)).await;
        let (second, third) = (write(2), write(3));
        tokio::time::sleep(Duration::from_millis(1)).await;
        gate.add_permits(1);
        for t in [first, second, third] {
            assert!(t.await.unwrap().is_some());
        }

        let fourth = write(4);
        tokio::time::sleep(Duration::from_millis(1)).await;
        let fifth = write(5);
        assert_eq!(fourth.await.unwrap(), Some(40));
        assert_eq!(fifth.await.unwrap(), Some(50));

        let started = Instant::now();
        assert_eq!(write(6).await.unwrap(), Some(60));
        assert!(started.elapsed() >= LINGER, "under load, a lone item waits");
        let started = Instant::now();
        assert_eq!(write(7).await.unwrap(), Some(70));
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "after a lone batch, no wait"
        );

        let batches = batches.lock().unwrap().clone();
        assert_eq!(batches, [vec![1], vec![2, 3], vec![4, 5], vec![6], vec![7]]);
    }
}
