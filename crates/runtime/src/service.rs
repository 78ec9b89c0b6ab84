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
use crate::auth::keyring::Keyring;
use crate::config::Base;
use crate::db;
use crate::events::{self, Bus, Consumers, OutboxRelay};
use crate::follow;
use crate::grpc::Listening;
use crate::inbox::{self, Handler};
use crate::ops::Operations;
use crate::pages::Pages;
use crate::pump::Pumps;
use komek_proto::ops::v1::operations_service_server::{self, OperationsServiceServer};

/// Database pool (in the service's schema, migrated), event bus and credentials of a service.
pub struct Deps {
    /// The settings every service shares.
    pub base: Base,
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
        let started = std::time::Instant::now();
        let pool = db::connect_and_migrate(
            &base.database_url,
            schema,
            base.database_max_connections,
            migrator,
        )
        .await?;
        let migrated = started.elapsed();
        let bus = Bus::connect_with(
            &base.nats_url,
            &format!("komek-{schema}"),
            base.stream_replicas,
        )
        .await?;
        // A slow start shows where it spent its time.
        tracing::info!(
            database_ms = migrated.as_millis() as u64,
            nats_ms = (started.elapsed() - migrated).as_millis() as u64,
            "connected"
        );
        Ok(Self {
            base: base.clone(),
            pool,
            bus,
            credentials,
            keyring: Arc::new(Keyring::default()),
        })
    }

    /// Connects (see [`Deps::connect`]), gives the streams back what they lost of this
    /// service's events ([`events::restore_streams`]) and starts the service's outbox relay:
    /// the start of every service's `serve`.
    pub async fn start(
        base: &Base,
        schema: &str,
        migrator: &Migrator,
    ) -> anyhow::Result<(Self, Background)> {
        // Boxed: every service's serve would otherwise carry the whole start in its future.
        Box::pin(Self::start_feeding(base, schema, migrator, &[])).await
    }

    /// [`Deps::start`] for the owner of last-value streams, which it fills again from its
    /// tables when they are found empty.
    pub async fn start_feeding(
        base: &Base,
        schema: &str,
        migrator: &Migrator,
        snapshots: &[events::Snapshot],
    ) -> anyhow::Result<(Self, Background)> {
        let deps = Self::connect(base, schema, migrator).await?;
        events::restore_streams(&deps.pool, &deps.bus, snapshots).await?;
        let background = Background::new();
        background.spawn_relay(&deps);
        if let Some(addr) = base.metrics_listen {
            let listener = crate::metrics::bind(addr).await?;
            tracing::info!(%addr, "metrics listening");
            background.spawn(crate::metrics::serve(listener, background.token()));
        }
        Ok((deps, background))
    }

    /// The gate for this service's listeners.
    pub fn gate(&self) -> Arc<Gate> {
        Arc::new(Gate::new(
            self.credentials.clone(),
            self.keyring.clone(),
            self.base.auth.rate_limits.clone(),
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

/// How long a starting service waits for the keys before it serves anyway. Calls between the
/// services carry service tokens, not keys: a replica started while the access stream elects
/// its leader serves them (and health) rather than staying down until it has a leader again.
pub const KEYS_WAIT: Duration = Duration::from_secs(5);

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

    /// Consumes `consumers` with `handler` as `name` once they are set up
    /// ([`inbox::consume_once_set_up`]); the service answers calls meanwhile.
    pub fn consume<H: Handler>(
        &self,
        name: &'static str,
        consumers: Consumers,
        deps: &Deps,
        handler: H,
    ) {
        self.spawn(inbox::consume_once_set_up(
            name,
            consumers,
            deps.pool.clone(),
            deps.bus.clone(),
            handler,
            self.token(),
        ));
    }

    /// Starts server-stream pumps on this service's tracker, so draining waits for them; they
    /// stop when `shutdown` (the serving token) is cancelled, so gRPC can drain, and when the
    /// key a stream was opened with lapses in the service's keyring.
    pub fn pumps(&self, deps: &Deps, shutdown: CancellationToken) -> Pumps {
        Pumps::new(self.tracker.clone(), shutdown, deps.keyring.clone())
    }

    /// Starts the outbox relay of this service.
    pub fn spawn_relay(&self, deps: &Deps) {
        let relay = OutboxRelay::new(deps.pool.clone(), deps.bus.clone());
        self.tracker.spawn(relay.run(self.stop.clone()));
    }

    /// Starts following the access stream and waits (at most [`KEYS_WAIT`]) until the keys
    /// that exist now are known, so a valid key works from the first call.
    pub async fn start_keyring(&self, deps: &Deps) -> anyhow::Result<()> {
        self.spawn(follow::follow(
            deps.keyring.clone(),
            deps.bus.clone(),
            self.token(),
        ));
        let started = std::time::Instant::now();
        // Bounded as a whole: finding the stream's head is a request of its own, which a stream
        // whose leader just went leaves unanswered.
        let caught_up = tokio::time::timeout(
            KEYS_WAIT,
            follow::catch_up(&*deps.keyring, &deps.bus, KEYS_WAIT),
        )
        .await;
        match caught_up {
            Ok(Ok(true)) => {
                deps.keyring.mark_loaded();
                tracing::info!(ms = started.elapsed().as_millis() as u64, "keys read");
                return Ok(());
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "keys not read"),
            Ok(Ok(false)) | Err(_) => {}
        }
        // Serve the calls that need no key lookup (health, service tokens, the bootstrap key);
        // a key not read yet is answered UNAVAILABLE, not UNAUTHENTICATED, until they are.
        tracing::warn!(
            secs = KEYS_WAIT.as_secs(),
            "keys not all read in time; serving, and still reading them"
        );
        let (keyring, bus, stop) = (deps.keyring.clone(), deps.bus.clone(), self.token());
        self.spawn(async move {
            while !stop.is_cancelled() {
                if let Ok(true) = follow::catch_up(&*keyring, &bus, KEYS_WAIT).await {
                    keyring.mark_loaded();
                    tracing::info!(ms = started.elapsed().as_millis() as u64, "keys read");
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => {}
                }
            }
        });
        Ok(())
    }

    /// Serves gRPC on `listener` (and on `extra`, a second listener with its own routes,
    /// reflection and TLS behind the same gate) until `shutdown`, then stops the background
    /// tasks: the order every service shuts down in.
    /// The main listener serves OperationsService too, about this service.
    #[allow(clippy::too_many_arguments)]
    pub async fn serve_then_drain(
        self,
        deps: &Deps,
        listener: tokio::net::TcpListener,
        mut routes: tonic::service::RoutesBuilder,
        service_names: &[&'static str],
        extra: Option<ExtraListener>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.start_keyring(deps).await?;
        let base = &deps.base;
        let gate = deps.gate();
        let pages = Pages::new(deps.credentials.page_tokens(), 100);
        let operations = Operations::new(deps.pool.clone(), deps.bus.clone(), pages);
        routes.add_service(OperationsServiceServer::new(operations));
        let mut names = service_names.to_vec();
        names.push(operations_service_server::SERVICE_NAME);
        // Boxed: the server future is large, and every service would carry it inline.
        let main = Box::pin(crate::grpc::serve(
            listener,
            routes,
            &names,
            Listening::of(base, gate.clone()),
            shutdown.clone(),
        ));
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
            Box::pin(crate::grpc::serve(
                extra.listener,
                extra.routes,
                &extra.service_names,
                listening,
                shutdown.clone(),
            ))
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
