//! What each service's `serve` shares: connecting to PostgreSQL and NATS, background tasks that
//! stop after the gRPC server has drained, and the outbox relay.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Base;
use crate::db;
use crate::events::{Bus, OutboxRelay};

/// Database pool (in the service's schema, migrated) and event bus of a service.
pub struct Deps {
    pub pool: PgPool,
    pub bus: Bus,
}

impl Deps {
    pub async fn connect(base: &Base, schema: &str, migrator: &Migrator) -> anyhow::Result<Self> {
        let pool = db::connect_and_migrate(
            &base.database_url,
            schema,
            base.database_max_connections,
            migrator,
        )
        .await?;
        let bus = Bus::connect(&base.nats_url, &format!("komek-{schema}")).await?;
        Ok(Self { pool, bus })
    }
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

    /// Starts the outbox relay of this service.
    pub fn spawn_relay(&self, deps: &Deps) {
        let relay = OutboxRelay::new(deps.pool.clone(), deps.bus.clone());
        self.tracker.spawn(relay.run(self.stop.clone()));
    }

    /// Serves gRPC on `listener` until `shutdown`, then stops the background tasks: the order
    /// every service shuts down in.
    pub async fn serve_then_drain(
        self,
        base: &Base,
        listener: tokio::net::TcpListener,
        routes: tonic::service::RoutesBuilder,
        service_names: &[&'static str],
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        crate::grpc::serve(listener, routes, service_names, base.reflection, shutdown).await?;
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
