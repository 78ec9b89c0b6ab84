//! The gate every call passes before its handler: credential, role × method matrix, rate
//! limit. It runs as a tower layer on the gRPC server because only there is the method path
//! known; the principal it establishes reaches the handler as a request extension.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::keyring::Keyring;
use super::{Credentials, Principal, Role, key_id_of, policy};

/// `google.rpc.ErrorInfo` domain of Komek's refusals.
pub const DOMAIN: &str = "komek.kz";
/// ErrorInfo reason: the role may not call the method at all.
pub const ROLE_NOT_ALLOWED: &str = "ROLE_NOT_ALLOWED";
/// ErrorInfo reason: the method is allowed, the object is not the principal's.
pub const OUT_OF_SCOPE: &str = "OUT_OF_SCOPE";

/// Calls per second a principal may make, with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// Rate limits by role. They apply per principal (all keys of a subject together) and per
/// service replica.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimits {
    pub admin: RateLimit,
    pub dispatcher: RateLimit,
    pub volunteer: RateLimit,
    pub partner: RateLimit,
    pub service: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        let limit = |per_second, burst| RateLimit { per_second, burst };
        Self {
            admin: limit(50.0, 200),
            // A busy operator's console polls queues and opens requests.
            dispatcher: limit(50.0, 200),
            // Position pings every few seconds and a few answers.
            volunteer: limit(5.0, 30),
            // Reports and dashboards.
            partner: limit(10.0, 50),
            // Other Komek services and integrations.
            service: limit(500.0, 1000),
        }
    }
}

impl RateLimits {
    fn of(&self, role: Role) -> RateLimit {
        match role {
            Role::Admin => self.admin,
            Role::Dispatcher => self.dispatcher,
            Role::Volunteer => self.volunteer,
            Role::Partner => self.partner,
            Role::Service => self.service,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per principal.
struct Limiter {
    limits: RateLimits,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// Takes one call from the principal's bucket, or says how long until one is free.
    fn take(&self, principal: &Principal, now: Instant) -> Result<(), Duration> {
        let limit = self.limits.of(principal.role);
        let burst = f64::from(limit.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap();
        let bucket = buckets.entry(principal.subject.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * limit.per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else if limit.per_second > 0.0 {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / limit.per_second,
            ))
        } else {
            Err(Duration::from_secs(3600))
        }
    }
}

/// Decides whether a call may proceed, and as whom.
pub struct Gate {
    credentials: Credentials,
    keyring: Arc<Keyring>,
    limiter: Limiter,
}

fn refusal(code: Code, message: String, reason: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, DOMAIN, HashMap::new());
    Status::with_error_details(code, message, details)
}

/// PERMISSION_DENIED for an object outside the principal's scope.
pub fn out_of_scope(message: impl Into<String>) -> Status {
    refusal(Code::PermissionDenied, message.into(), OUT_OF_SCOPE)
}

impl Gate {
    pub fn new(credentials: Credentials, keyring: Arc<Keyring>, limits: RateLimits) -> Self {
        Self {
            credentials,
            keyring,
            limiter: Limiter {
                limits,
                buckets: Mutex::new(HashMap::new()),
            },
        }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The principal behind `authorization: Bearer <credential>`.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, Status> {
        let credential = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                refusal(
                    Code::Unauthenticated,
                    "missing credentials: send `authorization: Bearer <api key>`".into(),
                    "MISSING_CREDENTIALS",
                )
            })?;
        let invalid = || {
            refusal(
                Code::Unauthenticated,
                "invalid credentials: unknown, revoked or expired key".into(),
                "INVALID_CREDENTIALS",
            )
        };
        let now = Utc::now();
        if let Some(id) = key_id_of(credential) {
            let Some(entry) = self.keyring.get(id) else {
                // A replica that has not read the keys yet cannot tell; the caller may try
                // again (or another replica).
                if !self.keyring.loaded() {
                    return Err(refusal(
                        Code::Unavailable,
                        "keys are still being read on this replica; retry".into(),
                        "KEYS_LOADING",
                    ));
                }
                return Err(invalid());
            };
            // The hash is checked even for unusable keys, so timing tells nothing about them.
            let matches = self
                .credentials
                .secret_matches(credential, &entry.secret_hash);
            if !matches || !entry.usable(now) {
                return Err(invalid());
            }
            return Ok(Principal {
                role: entry.role,
                subject: entry.subject.clone(),
                regions: entry.regions.clone(),
                api_key: Some(id),
            });
        }
        if credential.starts_with("kms_") {
            let name = self
                .credentials
                .verify_service_token(credential, now)
                .ok_or_else(invalid)?;
            return Ok(Principal {
                role: Role::Service,
                subject: format!("services/{name}"),
                regions: vec![],
                api_key: None,
            });
        }
        if self.credentials.is_bootstrap_admin(credential) {
            return Ok(Principal {
                role: Role::Admin,
                subject: "admins/bootstrap".into(),
                regions: vec![],
                api_key: None,
            });
        }
        Err(invalid())
    }

    /// Checks a call to `path`. `Ok(None)`: a public method; `Ok(Some)`: who is calling.
    pub fn check(
        &self,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<Option<Principal>, Status> {
        if policy::is_public(path) {
            return Ok(None);
        }
        let principal = self.authenticate(authorization)?;
        let allowed = policy::roles_for(path).unwrap_or(&[]);
        if !allowed.contains(&principal.role) {
            return Err(refusal(
                Code::PermissionDenied,
                format!("the {} role may not call {path}", principal.role.as_str()),
                ROLE_NOT_ALLOWED,
            ));
        }
        if let Err(wait) = self.limiter.take(&principal, Instant::now()) {
            let mut details = ErrorDetails::new();
            details.set_retry_info(Some(wait));
            details.set_error_info("RATE_LIMITED", DOMAIN, HashMap::new());
            return Err(Status::with_error_details(
                Code::ResourceExhausted,
                format!(
                    "rate limit of {} exceeded; retry in {} ms",
                    principal.subject,
                    wait.as_millis().max(1)
                ),
                details,
            ));
        }
        Ok(Some(principal))
    }
}

/// Tower layer running the gate in front of a gRPC router.
#[derive(Clone)]
pub struct GateLayer(Arc<Gate>);

impl GateLayer {
    pub fn new(gate: Arc<Gate>) -> Self {
        Self(gate)
    }
}

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Gated {
            gate: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct Gated<S> {
    gate: Arc<Gate>,
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Gated<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match self.gate.check(request.uri().path(), authorization) {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                // The clone that was polled ready serves this call; the fresh one waits.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(inner.call(request))
            }
            Err(status) => {
                tracing::debug!(path = request.uri().path(), code = ?status.code(), "call refused");
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::follow::LastValue;
    use base64::Engine;
    use komek_proto::events::v1 as ev;

    fn gate(limits: RateLimits) -> (Gate, String, Arc<Keyring>) {
        let credentials = Credentials::from_config(&super::super::Config {
            key_pepper: base64::engine::general_purpose::STANDARD.encode([3u8; 32]),
            bootstrap_admin_key: "b".repeat(32),
            service_secret: base64::engine::general_purpose::STANDARD.encode([4u8; 32]),
            ..Default::default()
        })
        .unwrap();
        let keyring = Arc::new(Keyring::default());
        let key = super::super::NewKey::generate().unwrap();
        keyring
            .apply(&ev::ApiKeyState {
                key: format!("apiKeys/{}", key.id),
                role: Role::Partner.code(),
                subject: "organizations/0190a0c0-0000-7000-8000-000000000001".into(),
                regions: vec!["Almaty Region".into()],
                secret_hash: credentials.hash_secret(&key.secret).to_vec(),
                revision: 1,
                ..Default::default()
            })
            .unwrap();
        (
            Gate::new(credentials, keyring.clone(), limits),
            key.secret,
            keyring,
        )
    }

    fn bearer(c: &str) -> String {
        format!("Bearer {c}")
    }

    const STATUS: &str = "/komek.partner.v1.PartnerService/GetRequestStatus";
    const CREATE: &str = "/komek.intake.v1.IntakeService/CreateRequest";

    #[test]
    fn a_key_becomes_its_principal_and_the_matrix_decides() {
        let (gate, secret, _) = gate(RateLimits::default());
        let p = gate.check(STATUS, Some(&bearer(&secret))).unwrap().unwrap();
        assert_eq!(p.role, Role::Partner);
        assert_eq!(p.regions, vec!["Almaty Region".to_string()]);
        let err = gate.check(CREATE, Some(&bearer(&secret))).unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert_eq!(
            err.get_details_error_info().unwrap().reason,
            ROLE_NOT_ALLOWED
        );
    }

    #[test]
    fn an_unknown_key_is_unavailable_until_the_keys_are_read_then_unauthenticated() {
        let (gate, _, keyring) = gate(RateLimits::default());
        let unknown = super::super::NewKey::generate().unwrap();
        let err = gate
            .check(STATUS, Some(&bearer(&unknown.secret)))
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        keyring.mark_loaded();
        let err = gate
            .check(STATUS, Some(&bearer(&unknown.secret)))
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }

    #[test]
    fn missing_wrong_and_revoked_credentials_are_unauthenticated() {
        let (gate, secret, keyring) = gate(RateLimits::default());
        keyring.mark_loaded();
        for header in [None, Some("Basic x".to_string()), Some(bearer("nonsense"))] {
            let err = gate.check(STATUS, header.as_deref()).unwrap_err();
            assert_eq!(err.code(), Code::Unauthenticated, "{header:?}");
        }
        // Right id, wrong secret.
        let forged = format!("{}X", &secret[..secret.len() - 1]);
        let forged = if forged == secret {
            format!("{}Y", &secret[..secret.len() - 1])
        } else {
            forged
        };
        assert_eq!(
            gate.check(STATUS, Some(&bearer(&forged)))
                .unwrap_err()
                .code(),
            Code::Unauthenticated
        );
        let id = key_id_of(&secret).unwrap();
        let entry = keyring.get(id).unwrap();
        keyring
            .apply(&ev::ApiKeyState {
                key: format!("apiKeys/{id}"),
                role: entry.role.code(),
                subject: entry.subject.clone(),
                secret_hash: entry.secret_hash.clone(),
                revoked: true,
                revision: 2,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            gate.check(STATUS, Some(&bearer(&secret)))
                .unwrap_err()
                .code(),
            Code::Unauthenticated
        );
    }

    #[test]
    fn health_is_public_and_unknown_methods_are_refused() {
        let (gate, _, _) = gate(RateLimits::default());
        assert_eq!(
            gate.check("/grpc.health.v1.Health/Check", None).unwrap(),
            None
        );
        let admin = bearer(&"b".repeat(32));
        let err = gate
            .check("/komek.intake.v1.IntakeService/DropTables", Some(&admin))
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }

    #[test]
    fn service_tokens_and_the_bootstrap_admin() {
        let (gate, _, _) = gate(RateLimits::default());
        let token = gate
            .credentials()
            .service_token("matching", Duration::from_secs(60))
            .unwrap();
        let p = gate
            .check(
                "/komek.intake.v1.IntakeService/RevealCaller",
                Some(&bearer(&token)),
            )
            .unwrap()
            .unwrap();
        assert!(p.is_service("matching"));
        let p = gate
            .check(CREATE, Some(&bearer(&"b".repeat(32))))
            .unwrap()
            .unwrap();
        assert_eq!(p.role, Role::Admin);
    }

    #[test]
    fn a_principal_beyond_its_rate_is_told_when_to_retry() {
        let limits = RateLimits {
            partner: RateLimit {
                per_second: 1.0,
                burst: 3,
            },
            ..Default::default()
        };
        let (gate, secret, _) = gate(limits);
        let header = bearer(&secret);
        let outcomes: Vec<Code> = (0..10)
            .map(|_| match gate.check(STATUS, Some(&header)) {
                Ok(_) => Code::Ok,
                Err(e) => e.code(),
            })
            .collect();
        assert_eq!(&outcomes[..3], &[Code::Ok; 3], "the burst passes");
        assert!(
            outcomes[3..].contains(&Code::ResourceExhausted),
            "{outcomes:?}"
        );
        // Another principal has its own bucket.
        assert!(gate.check(CREATE, Some(&bearer(&"b".repeat(32)))).is_ok());
    }

    #[test]
    fn buckets_refill_at_their_rate() {
        let limiter = Limiter {
            limits: RateLimits {
                volunteer: RateLimit {
                    per_second: 2.0,
                    burst: 1,
                },
                ..Default::default()
            },
            buckets: Mutex::new(HashMap::new()),
        };
        let p = Principal {
            role: Role::Volunteer,
            subject: "volunteers/x".into(),
            regions: vec![],
            api_key: None,
        };
        let t0 = Instant::now();
        assert!(limiter.take(&p, t0).is_ok());
        let wait = limiter.take(&p, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(limiter.take(&p, t0 + Duration::from_millis(499)).is_err());
        assert!(limiter.take(&p, t0 + Duration::from_millis(1000)).is_ok());
    }
}
