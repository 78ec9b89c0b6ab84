//! Calls that write together. Under a surge most of a small write's cost is the transaction
//! around it (its round trips, its commit, a wake-up on each side of each), so the calls that
//! arrive while a batch is being written wait for it and go in the next one, which the writer
//! writes in one transaction. A call alone still goes at once: nothing waits to gather.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

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
        let waiting = Arc::new(Mutex::new(waiting));
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

type Waiting<T, R> = Arc<Mutex<mpsc::Receiver<(T, oneshot::Sender<R>)>>>;

async fn run<T, R, F, Fut>(waiting: Waiting<T, R>, max: usize, write: Arc<F>)
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    loop {
        let mut batch = Vec::new();
        {
            let mut waiting = waiting.lock().await;
            if waiting.recv_many(&mut batch, max).await == 0 {
                return;
            }
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
    use std::time::Duration;

    use super::*;

    /// Items that arrive while a batch is written go together in the next one, each caller
    /// getting its own result; a lone item goes at once.
    #[tokio::test]
    async fn items_waiting_for_a_writer_go_together() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = batches.clone();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let held = gate.clone();
        let batcher = Batcher::start(1, 8, move |items: Vec<u32>| {
            let seen = seen.clone();
            let held = held.clone();
            async move {
                seen.lock().unwrap().push(items.clone());
                if items == [2] {
                    // This batch is written until the others are queued.
                    held.acquire().await.unwrap().forget();
                }
                items.iter().map(|i| i * 10).collect()
            }
        });
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
}
