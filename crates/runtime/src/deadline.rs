//! Every call's deadline: the server's own limit, or the client's `grpc-timeout` when that is
//! sooner. A call past it is answered DEADLINE_EXCEEDED (a client can tell that from its own
//! cancel, unlike the CANCELLED that tonic's built-in timeout answers) and its handler is
//! dropped, which rolls back whatever transaction it held.
//!
//! The limit covers a unary call and a stream's first response, not a stream's life.

use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tonic::Status;

/// The client's deadline from a `grpc-timeout` header: up to eight digits and a unit.
pub fn client_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Tower layer that ends calls at their deadline.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    limit: Duration,
}

impl DeadlineLayer {
    /// Calls end after `limit` at the latest.
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deadline {
            limit: self.limit,
            inner,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    limit: Duration,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Deadline<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let asked = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(client_timeout);
        let budget = asked.map_or(self.limit, |asked| asked.min(self.limit));
        let call = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(budget, call).await {
                Ok(response) => response,
                Err(_) => {
                    let status = Status::deadline_exceeded(format!(
                        "no answer within the call's deadline ({} ms)",
                        budget.as_millis()
                    ));
                    Ok(status.into_http())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    #[test]
    fn grpc_timeouts_read_in_every_unit() {
        assert_eq!(client_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(client_timeout("200m"), Some(Duration::from_millis(200)));
        assert_eq!(client_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(client_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(client_timeout("10u"), Some(Duration::from_micros(10)));
        assert_eq!(
            client_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(client_timeout(bad), None, "{bad:?}");
        }
    }

    /// A handler that answers after `delay`.
    fn slow(
        delay: Duration,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future = impl Send + 'static,
    > + Clone {
        tower::service_fn(move |_: http::Request<()>| async move {
            tokio::time::sleep(delay).await;
            Ok(http::Response::new(tonic::body::Body::empty()))
        })
    }

    fn code(response: &http::Response<tonic::body::Body>) -> tonic::Code {
        Status::from_header_map(response.headers()).map_or(tonic::Code::Ok, |s| s.code())
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_past_the_server_limit_is_deadline_exceeded() {
        let mut service =
            DeadlineLayer::new(Duration::from_secs(1)).layer(slow(Duration::from_secs(5)));
        let response = service
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(code(&response), tonic::Code::DeadlineExceeded);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_deadline_sooner_than_the_limit_wins() {
        let mut service =
            DeadlineLayer::new(Duration::from_secs(30)).layer(slow(Duration::from_secs(1)));
        let mut request = http::Request::new(());
        request
            .headers_mut()
            .insert("grpc-timeout", "200m".parse().unwrap());
        let started = tokio::time::Instant::now();
        let response = service.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(code(&response), tonic::Code::DeadlineExceeded);
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        // In time: the handler's own answer.
        let response = service
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(()))
            .await
            .unwrap();
        assert_eq!(code(&response), tonic::Code::Ok);
    }
}
