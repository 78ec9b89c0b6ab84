//! Server streams. A pump is the task that feeds one gRPC response stream (offers, a region's
//! queue, a request's status). Every pump runs on the service's task tracker, so shutdown
//! waits for it, and stops when its client goes away or the service begins to shut down, so
//! the server can drain.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::Status;

/// What a handler returns for a server stream.
pub type ResponseStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

/// Items a pump may send ahead of a slow client before it waits.
const BUFFER: usize = 64;

/// Starts pumps for one service.
#[derive(Clone)]
pub struct Pumps {
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Pumps {
    /// Pumps tracked by `tracker` that stop when `shutdown` is cancelled.
    pub fn new(tracker: TaskTracker, shutdown: CancellationToken) -> Self {
        Self { tracker, shutdown }
    }

    /// Runs `pump` with the sending end of a new response stream and returns the stream.
    pub fn start<T, F, Fut>(&self, pump: F) -> ResponseStream<T>
    where
        T: Send + 'static,
        F: FnOnce(Feed<T>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(BUFFER);
        let work = pump(Feed { tx: tx.clone() });
        let shutdown = self.shutdown.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = work => {}
                _ = tx.closed() => {}
                _ = shutdown.cancelled() => {}
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

/// The sending end of a response stream.
pub struct Feed<T> {
    tx: mpsc::Sender<Result<T, Status>>,
}

impl<T> Feed<T> {
    /// Sends one item; false once the client is gone, and the pump should end.
    pub async fn send(&self, item: T) -> bool {
        self.tx.send(Ok(item)).await.is_ok()
    }

    /// Ends the stream with `status`.
    pub async fn fail(self, status: Status) {
        let _ = self.tx.send(Err(status)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;

    #[tokio::test]
    async fn a_pump_feeds_its_stream_and_shutdown_waits_for_it() {
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let pumps = Pumps::new(tracker.clone(), shutdown.clone());
        let mut stream = pumps.start(|feed| async move {
            let mut n = 0;
            while feed.send(n).await {
                n += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        assert_eq!(stream.next().await.unwrap().unwrap(), 0);
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        shutdown.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("the pump stops on shutdown");
    }

    #[tokio::test]
    async fn a_pump_stops_when_its_client_goes_away() {
        let tracker = TaskTracker::new();
        let pumps = Pumps::new(tracker.clone(), CancellationToken::new());
        // This pump never sends: only the client's leaving can stop it.
        let stream = pumps.start(|_feed: Feed<u8>| std::future::pending());
        drop(stream);
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("the pump stops when the stream is dropped");
    }

    #[tokio::test]
    async fn a_failed_pump_ends_the_stream_with_its_status() {
        let pumps = Pumps::new(TaskTracker::new(), CancellationToken::new());
        let mut stream = pumps.start(|feed: Feed<u8>| async move {
            feed.fail(Status::unavailable("feed interrupted")).await;
        });
        let err = stream.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert!(stream.next().await.is_none());
    }
}
