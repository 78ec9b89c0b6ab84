//! What each service's `serve` shares: connecting to PostgreSQL and NATS, background tasks that
//! stop after the gRPC server has drained, and the outbox relay.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Credentials;
use crate::auth::gate::Gate;
use crate::auth::keyring::{self, Keyring};
use crate::config::Base;
use crate::db;
use crate::events::{Bus, OutboxRelay};
use crate::grpc::Listening;
use crate::pump::Pumps;

/// Database pool (in the service's schema, migrated), event bus and credentials of a service.
pub struct Deps {
    pub pool: PgPool,
    pub bus: Bus,
    pub credentials: Credentials,
    /// Every API key, kept current from the access stream once serving starts.
    pub keyring: Arc<Keyring>,
}

impl Deps {
    pub async fn connect(base: &Base, schema: &str, migrator: &Migrator) -> anyhow::Result<Self> {
        // Refuse to start without credentials before touching anything else.
        let credentials = Credentials::from_config(&base.auth)?;
        let pool = db::connect_and_migrate(
            &base.database_url,
            schema,
            base.database_max_connections,
            migrator,
        )
        .await?;
        let bus = Bus::connect(&base.nats_url, &format!("komek-{schema}")).await?;
        Ok(Self {
            pool,
            bus,
            credentials,
            keyring: Arc::new(Keyring::default()),
        })
    }

    /// The gate for this service's listeners.
    pub fn gate(&self, base: &Base) -> Arc<Gate> {
        Arc::new(Gate::new(
            self.credentials.clone(),
            self.keyring.clone(),
            base.auth.rate_limits.clone(),
        ))
    }
}

/// A listener besides a service's main one, e.g. one facing partners outside.
pub struct ExtraListener {
    pub listener: tokio::net::TcpListener,
    pub routes: tonic::service::RoutesBuilder,
    pub service_names: Vec<&'static str>,
    pub reflection: bool,
    pub tls: crate::config::Tls,
}

/// Background tasks (consumers, relay, timers). They keep running while gRPC drains, because an
/// in-flight call may still commit outbox rows, and stop afterwards.
pub struct Background {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Default for Background {
    fn default() -> Self {
        Self::new()
    }
}

impl Background {
    pub fn new() -> Self {
        Self {
            tracker: TaskTracker::new(),
            stop: CancellationToken::new(),
        }
    }

    /// The token background tasks watch.
    pub fn token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Starts server-stream pumps on this service's tracker, so draining waits for them; they
    /// stop when `shutdown` (the serving token) is cancelled, so gRPC can drain.
    pub fn pumps(&self, shutdown: CancellationToken) -> Pumps {
        Pumps::new(self.tracker.clone(), shutdown)
    }

    /// Starts the outbox relay of this service.
    pub fn spawn_relay(&self, deps: &Deps) {
        let relay = OutboxRelay::new(deps.pool.clone(), deps.bus.clone());
        self.tracker.spawn(relay.run(self.stop.clone()));
    }

    /// Starts following the access stream and waits (at most 10 s) until the keys that exist
    /// now are known, so a valid key works from the first call.
    pub async fn start_keyring(&self, deps: &Deps) -> anyhow::Result<()> {
        let head = keyring::head(&deps.bus).await?;
        self.spawn(deps.keyring.clone().follow(deps.bus.clone(), self.token()));
        if !deps.keyring.wait_for(head, Duration::from_secs(10)).await {
            tracing::warn!(head, "keys not all read in 10 s; serving anyway");
        }
        Ok(())
    }

    /// Serves gRPC on `listener` until `shutdown`, then stops the background tasks: the order
    /// every service shuts down in.
    pub async fn serve_then_drain(
        self,
        deps: &Deps,
        base: &Base,
        listener: tokio::net::TcpListener,
        routes: tonic::service::RoutesBuilder,
        service_names: &[&'static str],
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.serve_all_then_drain(deps, base, listener, routes, service_names, None, shutdown)
            .await
    }

    /// [`Background::serve_then_drain`], with a second listener (its own routes, reflection and
    /// TLS, the same gate) served alongside the main one.
    #[allow(clippy::too_many_arguments)]
    pub async fn serve_all_then_drain(
        self,
        deps: &Deps,
        base: &Base,
        listener: tokio::net::TcpListener,
        routes: tonic::service::RoutesBuilder,
        service_names: &[&'static str],
        extra: Option<ExtraListener>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.start_keyring(deps).await?;
        let gate = deps.gate(base);
        let main = crate::grpc::serve(
            listener,
            routes,
            service_names,
            Listening::of(base, gate.clone()),
            shutdown.clone(),
        );
        let other = async {
            let Some(extra) = extra else {
                return Ok(());
            };
            let listening = Listening {
                reflection: extra.reflection,
                tls: &extra.tls,
                request_timeout: Duration::from_secs(base.request_timeout_secs.max(1)),
                gate: gate.clone(),
            };
            crate::grpc::serve(
                extra.listener,
                extra.routes,
                &extra.service_names,
                listening,
                shutdown.clone(),
            )
            .await
        };
        tokio::try_join!(main, other)?;
        self.drain(Duration::from_secs(base.shutdown_grace_secs))
            .await;
        Ok(())
    }

    /// Stops every task and waits for them, at most `grace`.
    pub async fn drain(self, grace: Duration) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "background tasks did not stop in time");
        }
    }
}
