//! A gRPC client channel over every replica of a service.
//!
//! Calls go to the replicas in turn. A call that a replica refused at connect time (nothing was
//! sent, so trying elsewhere cannot do anything twice) goes to the next replica at once, and the
//! refusing one is left out for a few seconds. A call that failed after it was sent comes back
//! to the caller as it is: only the caller knows whether it may be repeated (Komek's writes
//! carry a `request_id` for that).
//!
//! Each call carries the caller's trace context (`traceparent`).
//!
//! Every Komek RPC sends a finite request (some answer with a stream), so the request body is
//! read into memory once and sent again from there when a replica refuses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use tonic::body::Body;
use tonic::codegen::StdError;
use tonic::transport::Channel;
use tower::{Service, ServiceExt};

/// How long a replica that refused a connection is passed over.
const REST: Duration = Duration::from_secs(3);

/// Round-robin over the channels of one service's replicas; see the module comment.
#[derive(Clone)]
pub struct Spread {
    shared: Arc<Shared>,
}

struct Shared {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    epoch: Instant,
}

struct Replica {
    channel: Channel,
    /// Milliseconds after `epoch` until which this replica is passed over.
    resting_until: AtomicU64,
}

impl Spread {
    /// Spreads over `channels`, in the order given when all are well.
    pub fn new(channels: Vec<Channel>) -> Self {
        assert!(!channels.is_empty(), "a spread needs at least one channel");
        Self {
            shared: Arc::new(Shared {
                replicas: channels
                    .into_iter()
                    .map(|channel| Replica {
                        channel,
                        resting_until: AtomicU64::new(0),
                    })
                    .collect(),
                next: AtomicUsize::new(0),
                epoch: Instant::now(),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.shared.replicas.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl From<Channel> for Spread {
    fn from(channel: Channel) -> Self {
        Self::new(vec![channel])
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The order to try the replicas in for one call: the next in turn first, resting ones
    /// last (they may be back; with every replica resting the call still tries them all).
    fn order(&self) -> Vec<usize> {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = self.now_ms();
        let (mut awake, resting): (Vec<usize>, Vec<usize>) = (0..n)
            .map(|i| (start + i) % n)
            .partition(|&i| self.replicas[i].resting_until.load(Ordering::Relaxed) <= now);
        awake.extend(resting);
        awake
    }

    fn rest(&self, i: usize) {
        let until = self.now_ms() + REST.as_millis() as u64;
        self.replicas[i]
            .resting_until
            .store(until, Ordering::Relaxed);
    }
}

/// Whether `err` says the connection was refused: the request never left this process.
fn refused(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
            // A wrapping io::Error hides what it wraps from `source`.
            if let Some(inner) = io.get_ref()
                && refused(inner)
            {
                return true;
            }
        }
        cause = e.source();
    }
    false
}

impl Service<http::Request<Body>> for Spread {
    type Response = http::Response<Body>;
    type Error = StdError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call readies the channel it picks.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The callee continues the caller's trace.
        if !request.headers().contains_key(crate::trace::TRACEPARENT)
            && let Some(value) = crate::trace::current_traceparent()
            && let Ok(value) = http::HeaderValue::from_str(&value)
        {
            request
                .headers_mut()
                .insert(crate::trace::TRACEPARENT, value);
        }
        let shared = self.shared.clone();
        Box::pin(async move {
            if shared.replicas.len() == 1 {
                let channel = shared.replicas[0].channel.clone();
                return channel.oneshot(request).await.map_err(Into::into);
            }
            let (parts, body) = request.into_parts();
            let bytes: Bytes = body.collect().await?.to_bytes();
            let order = shared.order();
            let mut last = None;
            for i in order {
                let request =
                    http::Request::from_parts(parts.clone(), Body::new(Full::new(bytes.clone())));
                let channel = shared.replicas[i].channel.clone();
                match channel.oneshot(request).await {
                    Ok(response) => return Ok(response),
                    Err(err) if refused(&err) => {
                        shared.rest(i);
                        last = Some(err);
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Err(last.expect("at least one replica").into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_starts_with_the_next_in_turn_and_puts_resting_replicas_last() {
        // Lazy channels need a runtime to be made in.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let channels = (0..3)
            .map(|i| {
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", 1 + i))
                    .unwrap()
                    .connect_lazy()
            })
            .collect();
        let spread = Spread::new(channels);
        let s = &spread.shared;
        assert_eq!(s.order(), vec![0, 1, 2]);
        assert_eq!(s.order(), vec![1, 2, 0]);
        s.rest(0);
        assert_eq!(s.order(), vec![2, 1, 0]);
        assert_eq!(s.order(), vec![1, 2, 0]);
    }

    #[test]
    fn only_a_refused_connection_counts_as_not_sent() {
        let refused_io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(refused(&refused_io));
        let wrapped = std::io::Error::other(refused_io);
        assert!(refused(&wrapped));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!refused(&reset));
    }
}
