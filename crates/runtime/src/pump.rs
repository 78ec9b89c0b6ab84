//! Server streams. A pump is the task that feeds one gRPC response stream (offers, a region's
//! queue, a request's status). Every pump runs on the service's task tracker, so shutdown
//! waits for it, and stops when its client goes away or the service begins to shut down, so
//! the server can drain. A stream opened with an API key ends, UNAUTHENTICATED, the moment the
//! key is revoked or expires: a lost phone stops getting jobs at once, not at its next call.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::Status;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::keyring::Keyring;
use crate::follow::LastValue;

/// What a handler returns for a server stream.
pub type ResponseStream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>;

/// Items a pump may send ahead of a slow client before it waits.
const BUFFER: usize = 64;

/// Starts pumps for one service.
#[derive(Clone)]
pub struct Pumps {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    keyring: Arc<Keyring>,
}

impl Pumps {
    /// Pumps tracked by `tracker` that stop when `shutdown` is cancelled, or when the key of
    /// their stream lapses in `keyring`.
    pub fn new(tracker: TaskTracker, shutdown: CancellationToken, keyring: Arc<Keyring>) -> Self {
        Self {
            tracker,
            shutdown,
            keyring,
        }
    }

    /// Runs `pump` with the sending end of a new response stream for `principal` and returns
    /// the stream.
    pub fn start<T, F, Fut>(&self, principal: &Principal, pump: F) -> ResponseStream<T>
    where
        T: Send + 'static,
        F: FnOnce(Feed<T>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(BUFFER);
        let work = pump(Feed { tx: tx.clone() });
        let shutdown = self.shutdown.clone();
        let (keyring, key) = (self.keyring.clone(), principal.api_key);
        self.tracker.spawn(async move {
            tokio::select! {
                _ = work => {}
                _ = tx.closed() => {}
                _ = shutdown.cancelled() => {}
                why = lapsed(&keyring, key) => {
                    let _ = tx.send(Err(Status::unauthenticated(why))).await;
                }
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

/// Resolves, with the reason, when `key` may no longer be used; never for a stream opened
/// without an API key (a service token, the bootstrap key).
async fn lapsed(keyring: &Keyring, key: Option<Uuid>) -> String {
    let Some(id) = key else {
        return std::future::pending().await;
    };
    // Every key change the service applies moves the keyring's progress.
    let mut changes = keyring.progress().subscribe();
    loop {
        let now = chrono::Utc::now();
        let entry = match keyring.get(id) {
            None => return "the key is no longer known".into(),
            Some(e) if e.revoked => return "the key was revoked".into(),
            Some(e) if !e.usable(now) => return "the key expired".into(),
            Some(e) => e,
        };
        let expiry = entry
            .expire
            .map(|at| (at - now).to_std().unwrap_or_default());
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    // The keyring is gone with the service; shutdown ends the stream.
                    return std::future::pending().await;
                }
            }
            _ = sleep_for(expiry) => {}
        }
    }
}

async fn sleep_for(duration: Option<std::time::Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
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
    use komek_proto::events::v1 as ev;

    use super::*;
    use crate::auth::Role;

    fn pumps(tracker: &TaskTracker, shutdown: &CancellationToken) -> (Pumps, Arc<Keyring>) {
        let keyring = Arc::new(Keyring::default());
        let pumps = Pumps::new(tracker.clone(), shutdown.clone(), keyring.clone());
        (pumps, keyring)
    }

    fn anyone() -> Principal {
        Principal {
            role: Role::Admin,
            subject: "admins/bootstrap".into(),
            regions: vec![],
            api_key: None,
        }
    }

    fn key_state(id: Uuid, revision: i64, revoked: bool) -> ev::ApiKeyState {
        ev::ApiKeyState {
            key: format!("apiKeys/{id}"),
            role: Role::Volunteer.code(),
            subject: format!("volunteers/{id}"),
            secret_hash: vec![7; 32],
            revoked,
            revision,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_pump_feeds_its_stream_and_shutdown_waits_for_it() {
        let tracker = TaskTracker::new();
        let shutdown = CancellationToken::new();
        let (pumps, _) = pumps(&tracker, &shutdown);
        let mut stream = pumps.start(&anyone(), |feed| async move {
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
        let (pumps, _) = pumps(&tracker, &CancellationToken::new());
        // This pump never sends: only the client's leaving can stop it.
        let stream = pumps.start(&anyone(), |_feed: Feed<u8>| std::future::pending());
        drop(stream);
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("the pump stops when the stream is dropped");
    }

    #[tokio::test]
    async fn a_failed_pump_ends_the_stream_with_its_status() {
        let (pumps, _) = pumps(&TaskTracker::new(), &CancellationToken::new());
        let mut stream = pumps.start(&anyone(), |feed: Feed<u8>| async move {
            feed.fail(Status::unavailable("feed interrupted")).await;
        });
        let err = stream.next().await.unwrap().unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable);
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_revoked_key_ends_its_open_streams() {
        let (pumps, keyring) = pumps(&TaskTracker::new(), &CancellationToken::new());
        let id = Uuid::new_v4();
        keyring.apply(&key_state(id, 1, false)).unwrap();
        let principal = Principal {
            role: Role::Volunteer,
            subject: format!("volunteers/{id}"),
            regions: vec![],
            api_key: Some(id),
        };
        let mut stream = pumps.start(&principal, |_feed: Feed<u8>| std::future::pending());
        // Still open while the key is good.
        let open = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(open.is_err(), "{open:?}");
        keyring.apply(&key_state(id, 2, true)).unwrap();
        keyring.progress().mark(2);
        let ended = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the stream ends when its key is revoked");
        let status = ended.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn an_expiring_key_ends_its_stream_at_expiry() {
        let (pumps, keyring) = pumps(&TaskTracker::new(), &CancellationToken::new());
        let id = Uuid::new_v4();
        let mut state = key_state(id, 1, false);
        let expiry = chrono::Utc::now() + chrono::Duration::milliseconds(300);
        state.expire_time = Some(crate::boundary::timestamp(expiry));
        keyring.apply(&state).unwrap();
        let principal = Principal {
            api_key: Some(id),
            ..anyone()
        };
        let mut stream = pumps.start(&principal, |_feed: Feed<u8>| std::future::pending());
        let ended = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the stream ends when its key expires");
        assert_eq!(
            ended.unwrap().unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }
}
