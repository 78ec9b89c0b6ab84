//! The end-to-end load run: the four services as separate processes (one executable, `serve
//! <service>`) on a PostgreSQL with durable settings and one nats-server, fed calls open-loop at
//! fixed rates through the public API, with a volunteer fleet accepting every offer.
//!
//! Open loop: call `i` of a step is due at `start + i / rate` whether or not earlier calls were
//! answered, and every latency is measured from when the call was due, so a system that falls
//! behind shows it in its percentiles instead of slowing the generator down. Triage's verdict
//! and the offer are seen on NATS, as the services publish them (a plain subscription to their
//! subjects; JetStream delivers its messages to those too). The first `warmup` of each step is
//! left out of the histograms. CPU time of every process is read from `/proc` before and after
//! each step. pgbench runs the two-insert transaction (a request row and an outbox row, in
//! tables made like intake's) on the same server first: the ceiling the figures are set
//! against.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

pub mod alone;
pub mod cpu;
pub mod world;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use hdrhistogram::Histogram;
use komek_proto::events::v1 as ev;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::matching::v1 as matching;
use komek_proto::matching::v1::assignment_service_client::AssignmentServiceClient;
use komek_testkit::spawn::{signal, spawn_bound_to_process};
use komek_testkit::{Nats, Postgres, free_port};
use prost::Message;
use tokio::time::Instant;

use crate::nemesis::procs::{Secrets, service_env};
use crate::nemesis::rng::Rng;
use crate::nemesis::workload::{Spreading, lazy, wait_serving};
use cpu::Who;
use world::World;

/// The database every service of the run uses, each in its own schema.
const DATABASE: &str = "komek";

#[derive(Clone)]
pub struct Options {
    /// This executable: it runs the services too.
    pub exe: PathBuf,
    /// Calls per second, one step each, in order.
    pub rates: Vec<f64>,
    /// How long calls arrive at each rate.
    pub step: Duration,
    /// The start of each step left out of the percentiles.
    pub warmup: Duration,
    /// How long after a step's last call its requests may take to be offered before the step
    /// counts as fallen behind.
    pub drain: Duration,
    pub groups: usize,
    pub seed: u64,
    /// Where the processes' logs go.
    pub dir: PathBuf,
    /// How long pgbench runs; none when zero.
    pub pgbench: Duration,
    pub pgbench_clients: u32,
    /// Calls made at `prime_rate` before the steps, unreported, so the steps run on tables
    /// with a history and statistics (PostgreSQL's planner sees a table as it was when it last
    /// analysed it: after the priming the database is analysed, as autovacuum would within a
    /// minute of live traffic).
    pub prime: Duration,
    pub prime_rate: f64,
    /// Whether the fleet accepts the offers (as volunteers would) or leaves them.
    pub accept: bool,
    /// Record a CPU profile of the whole machine with `perf` during the step at this rate.
    pub perf_at: Option<f64>,
    /// Count PostgreSQL's statements (pg_stat_statements) over the steps and write the
    /// costliest to `statements.txt` in `dir`.
    pub statements: bool,
    /// PostgreSQL settings added to the run's (`name=value`), to see what one changes.
    pub pg_settings: Vec<String>,
    /// Also follow `request.created` and every `request.status_changed` (the → published and
    /// → assigned columns). Off, the generator follows only the two subjects the criterion
    /// needs, triaged and offered (and escalated): the other four deliveries a call cost
    /// nats-server and the generator CPU on the cores the services share (BENCHMARKS.md,
    /// step 30).
    pub follow_all: bool,
    /// The services and pgbench reach PostgreSQL over its Unix socket, as processes sharing
    /// the server's host can (deploy/OPERATIONS.md); false: over TCP on the loopback.
    pub pg_socket: bool,
}

/// One service process.
struct Service {
    kind: &'static str,
    addr: SocketAddr,
    /// Where the service answers `GET /metrics`, read after each step.
    metrics: SocketAddr,
    child: Child,
}

/// What a run starts, stopped when dropped.
struct Running {
    pg: Postgres,
    nats: Nats,
    services: Vec<Service>,
    secrets: Secrets,
}

impl Running {
    async fn start(options: &Options) -> Self {
        Self::start_some(options, &["roster", "intake", "triage", "matching"]).await
    }

    /// PostgreSQL, NATS and the services named (roster and intake among them, in that order).
    async fn start_some(options: &Options, kinds: &[&'static str]) -> Self {
        // Every autovacuum and autoanalyze is logged with the CPU it took (postgres.log in
        // the run's directory): the vacuums of the tables the run fills are PostgreSQL's
        // work too, and grow with them from step to step.
        let mut extra = vec!["log_autovacuum_min_duration=0"];
        if options.statements {
            extra.extend([
                "shared_preload_libraries=pg_stat_statements",
                "pg_stat_statements.track=all",
            ]);
        }
        extra.extend(options.pg_settings.iter().map(String::as_str));
        let pg = tokio::task::block_in_place(|| Postgres::start_durable(&extra));
        pg.create_database(DATABASE).await;
        // One thread for NATS's goroutines, as for each service's tasks (below): on two
        // shared cores, a second one only adds wake-ups (BENCHMARKS.md, step 38).
        let nats = tokio::task::block_in_place(|| Nats::start_with_go_procs(1));
        let secrets = Secrets::fresh();
        let pg_addr: SocketAddr = ([127, 0, 0, 1], pg.port()).into();
        std::fs::create_dir_all(&options.dir).unwrap();
        let ports: Vec<u16> = kinds.iter().map(|_| free_port()).collect();
        let intake_urls = vec![format!("http://127.0.0.1:{}", ports[1])];
        let mut services = Vec::new();
        for (&kind, port) in kinds.iter().zip(ports) {
            let mut env = service_env(&secrets, kind, port, pg_addr, &nats.url(), &intake_urls);
            if options.pg_socket {
                env.push(("KOMEK_DATABASE_URL".into(), pg.socket_url(DATABASE)));
            }
            let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            env.push(("KOMEK_METRICS_LISTEN".into(), metrics.to_string()));
            env.extend(
                [
                    // As a deployment sizes its pools for the load it expects.
                    ("KOMEK_DATABASE_MAX_CONNECTIONS", "16"),
                    // Four services, PostgreSQL and NATS share two cores: one worker thread
                    // each, as deploy/OPERATIONS.md advises for such a machine. A task woken
                    // then runs on the thread that woke it instead of waking a second one on
                    // the other core (BENCHMARKS.md, step 29).
                    ("TOKIO_WORKER_THREADS", "1"),
                    // The gateway records every call of the surge under one key, and the
                    // services read each other under theirs: no bucket may pace the run.
                    ("KOMEK_AUTH__RATE_LIMITS__SERVICE__PER_SECOND", "1000000"),
                    ("KOMEK_AUTH__RATE_LIMITS__SERVICE__BURST", "1000000"),
                    ("KOMEK_AUTH__RATE_LIMITS__VOLUNTEER__PER_SECOND", "1000000"),
                    ("KOMEK_AUTH__RATE_LIMITS__VOLUNTEER__BURST", "1000000"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            let log = std::fs::File::create(options.dir.join(format!("{kind}.log"))).unwrap();
            let mut cmd = Command::new(&options.exe);
            cmd.args(["serve", kind])
                .envs(env)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            services.push(Service {
                kind,
                addr: ([127, 0, 0, 1], port).into(),
                metrics,
                child: spawn_bound_to_process(cmd, libc::SIGKILL),
            });
        }
        for s in &services {
            wait_serving(s.addr, Duration::from_secs(120))
                .await
                .unwrap_or_else(|| panic!("{} did not start; see {:?}", s.kind, options.dir));
        }
        Self {
            pg,
            nats,
            services,
            secrets,
        }
    }

    fn addr(&self, kind: &str) -> SocketAddr {
        self.services.iter().find(|s| s.kind == kind).unwrap().addr
    }

    /// Every process whose CPU time counts, by name.
    fn parts(&self) -> Vec<(String, Who)> {
        let mut parts: Vec<(String, Who)> = self
            .services
            .iter()
            .map(|s| (s.kind.to_string(), Who::Process(s.child.id())))
            .collect();
        parts.push(("postgres".into(), Who::Tree(self.pg.pid().unwrap())));
        parts.push(("nats".into(), Who::Process(self.nats.pid())));
        parts.push(("load generator".into(), Who::Process(std::process::id())));
        parts
    }

    fn stop(&mut self, dir: &Path) {
        let _ = std::fs::write(dir.join("postgres.log"), self.pg.log());
        for s in &mut self.services {
            signal(&s.child, libc::SIGTERM);
        }
        for s in &mut self.services {
            for _ in 0..100 {
                if matches!(s.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
    }
}

/// When each request was seen triaged and offered (or escalated), and how often offered.
#[derive(Default)]
struct Seen {
    /// When intake's `request.created` reached NATS.
    published: HashMap<String, Instant>,
    triaged: HashMap<String, Instant>,
    offered: HashMap<String, (Instant, u32)>,
    escalated: HashMap<String, Instant>,
    /// When intake said the request was assigned (the fleet's accept reached its record).
    assigned: HashMap<String, Instant>,
}

/// Follows the services' events on NATS; hands each offer to the fleet.
async fn observe(
    client: async_nats::Client,
    seen: Arc<Mutex<Seen>>,
    offers: tokio::sync::mpsc::UnboundedSender<ev::AssignmentOffered>,
    follow_all: bool,
) {
    let mut subjects = vec![
        "komek.request.triaged",
        "komek.assignment.offered",
        "komek.request.escalated",
    ];
    if follow_all {
        subjects.extend(["komek.request.created", "komek.request.status_changed"]);
    }
    let mut subs = Vec::new();
    for subject in subjects {
        subs.push(client.subscribe(subject).await.unwrap());
    }
    let mut all = futures::stream::select_all(subs);
    while let Some(m) = all.next().await {
        let now = Instant::now();
        match m.subject.as_str() {
            "komek.request.created" => {
                if let Ok(e) = ev::RequestCreated::decode(m.payload) {
                    seen.lock()
                        .unwrap()
                        .published
                        .entry(e.request)
                        .or_insert(now);
                }
            }
            "komek.request.triaged" => {
                if let Ok(e) = ev::RequestTriaged::decode(m.payload) {
                    seen.lock().unwrap().triaged.entry(e.request).or_insert(now);
                }
            }
            "komek.assignment.offered" => {
                if let Ok(e) = ev::AssignmentOffered::decode(m.payload) {
                    seen.lock()
                        .unwrap()
                        .offered
                        .entry(e.request.clone())
                        .or_insert((now, 0))
                        .1 += 1;
                    let _ = offers.send(e);
                }
            }
            "komek.request.status_changed" => {
                if let Ok(e) = ev::RequestStatusChanged::decode(m.payload)
                    && e.status == komek_proto::types::v1::RequestStatus::Assigned as i32
                {
                    seen.lock()
                        .unwrap()
                        .assigned
                        .entry(e.request)
                        .or_insert(now);
                }
            }
            _ => {
                if let Ok(e) = ev::RequestEscalated::decode(m.payload) {
                    seen.lock()
                        .unwrap()
                        .escalated
                        .entry(e.request)
                        .or_insert(now);
                }
            }
        }
    }
}

/// The volunteers: each offer is accepted by its group's volunteer, through the public API.
async fn fleet(
    world: Arc<World>,
    matching_addr: SocketAddr,
    mut offers: tokio::sync::mpsc::UnboundedReceiver<ev::AssignmentOffered>,
    accept: bool,
    refused: Arc<Mutex<BTreeMap<String, u64>>>,
) {
    let clients: HashMap<String, (String, AssignmentServiceClient<Spreading>)> = world
        .groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                (
                    g.volunteer.clone(),
                    AssignmentServiceClient::new(lazy(&[matching_addr], &g.key)),
                ),
            )
        })
        .collect();
    while let Some(offer) = offers.recv().await {
        if !accept {
            continue;
        }
        let Some((volunteer, client)) = clients.get(&offer.group) else {
            continue;
        };
        let mut client = client.clone();
        let request = matching::AcceptOfferRequest {
            name: offer.assignment,
            request_id: uuid::Uuid::new_v4().to_string(),
            volunteer: volunteer.clone(),
        };
        let refused = refused.clone();
        tokio::spawn(async move {
            if let Err(status) = client.accept_offer(request).await {
                *refused
                    .lock()
                    .unwrap()
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
            }
        });
    }
}

/// Percentiles of one measure, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread {
    /// How many were measured: none when the measure was not followed.
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 0 {
            return write!(f, "–");
        }
        write!(
            f,
            "{:.1} / {:.1} / {:.1} / {:.0}",
            self.p50, self.p90, self.p99, self.max
        )
    }
}

/// What one step measured.
#[derive(Debug, Clone)]
pub struct Step {
    pub rate: f64,
    pub calls: usize,
    pub created: usize,
    /// Calls refused or failed, by code.
    pub errors: BTreeMap<String, u64>,
    pub offered: usize,
    pub escalated: usize,
    /// Created and neither offered nor escalated when the drain ran out.
    pub unfinished: usize,
    /// Requests offered more than once.
    pub offered_twice: usize,
    pub create: Spread,
    /// Call → its `request.created` on NATS (intake committed and published it).
    pub published: Spread,
    pub triaged: Spread,
    pub offered_after: Spread,
    /// Call → intake shows the request assigned (the fleet accepted the offer).
    pub assigned_after: Spread,
    /// Requests offered per second: the calls of the step over the time from its first call
    /// being due to its last request offered or escalated.
    pub throughput: f64,
    /// CPU milliseconds per call, by process.
    pub cpu_ms: BTreeMap<String, f64>,
    /// Milliseconds per call the process's threads waited for a core ([`cpu::waited_between`]).
    pub waited_ms: BTreeMap<String, f64>,
    /// Call → offered, per second of the step by when the calls were due (warm-up included),
    /// so that a slow moment can be set beside the services' and PostgreSQL's logs.
    pub timeline: Vec<Second>,
}

/// The calls due in one second of a step and how long they took to be offered.
#[derive(Debug, Clone)]
pub struct Second {
    /// When the second began (UTC).
    pub at: chrono::DateTime<chrono::Utc>,
    pub calls: u64,
    pub offered: Spread,
}

impl fmt::Display for Second {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:>5} calls, offered p50 / p90 / p99 / max {:.1} / {:.1} / {:.1} / {:.0} ms",
            self.at.format("%H:%M:%S"),
            self.calls,
            self.offered.p50,
            self.offered.p90,
            self.offered.p99,
            self.offered.max
        )
    }
}

impl Step {
    /// Kept up: every call taken, every request placed within the drain, and 99% of them
    /// offered within a second of their call.
    pub fn kept_up(&self) -> bool {
        self.errors.is_empty()
            && self.unfinished == 0
            && self.offered_twice == 0
            && self.offered_after.p99 <= 1000.0
    }
}

pub struct Report {
    /// The machine's speed before the run ([`cpu::probe`]), µs a note.
    pub probe_us: f64,
    pub pgbench_tps: Option<f64>,
    pub pgbench_clients: u32,
    pub steps: Vec<Step>,
    pub accept_refusals: BTreeMap<String, u64>,
    pub groups: usize,
    pub seed: u64,
    pub finished: chrono::DateTime<chrono::Utc>,
}

impl Report {
    /// The highest rate a step kept up with.
    pub fn sustained(&self) -> Option<f64> {
        self.steps
            .iter()
            .filter(|s| s.kept_up())
            .map(|s| s.rate)
            .fold(None, |best, r| Some(best.map_or(r, |b: f64| b.max(r))))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        writeln!(
            f,
            "## End to end: {} groups, seed {}, {} cores, finished {}",
            self.groups,
            self.seed,
            cores,
            self.finished.format("%Y-%m-%d %H:%M UTC")
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "CPU probe (triage's rules over the run's notes, one thread, before the run): {:.1} µs a note",
            self.probe_us
        )?;
        match self.pgbench_tps {
            Some(tps) => writeln!(
                f,
                "pgbench, request row + outbox row per transaction, {} clients: {tps:.0} tps",
                self.pgbench_clients
            )?,
            None => writeln!(f, "pgbench: not run")?,
        }
        writeln!(f)?;
        writeln!(
            f,
            "| rate /s | calls | offered /s | kept up | create ms p50/p90/p99/max | → published | → triaged | → offered | → assigned | errors | unfinished |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|---|")?;
        for s in &self.steps {
            writeln!(
                f,
                "| {:.0} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.rate,
                s.calls,
                s.throughput,
                if s.kept_up() { "yes" } else { "no" },
                s.create,
                s.published,
                s.triaged,
                s.offered_after,
                s.assigned_after,
                if s.errors.is_empty() {
                    "0".to_string()
                } else {
                    format!("{:?}", s.errors)
                },
                s.unfinished,
            )?;
        }
        writeln!(f)?;
        let names: Vec<&String> = self
            .steps
            .first()
            .map(|s| s.cpu_ms.keys().collect())
            .unwrap_or_default();
        let tables = [
            ("CPU ms per call at", false),
            ("waiting for a core, ms per call at", true),
        ];
        for (title, waiting) in tables {
            write!(f, "| {title} | ")?;
            for n in &names {
                write!(f, "{n} | ")?;
            }
            writeln!(f, "all |")?;
            writeln!(f, "|---|{}---|", "---|".repeat(names.len()))?;
            for s in &self.steps {
                let of = if waiting { &s.waited_ms } else { &s.cpu_ms };
                write!(f, "| {:.0} /s | ", s.rate)?;
                for n in &names {
                    write!(f, "{:.2} | ", of.get(*n).copied().unwrap_or(0.0))?;
                }
                writeln!(f, "{:.2} |", of.values().sum::<f64>())?;
            }
            writeln!(f)?;
        }
        match self.sustained() {
            Some(r) => {
                write!(f, "Highest rate kept up: {r:.0} requests/s")?;
                if let Some(tps) = self.pgbench_tps {
                    write!(f, " ({:.1}% of pgbench)", 100.0 * r / tps)?;
                }
                writeln!(f)?;
            }
            None => writeln!(f, "No step kept up.")?,
        }
        if !self.accept_refusals.is_empty() {
            writeln!(f, "Accepts refused: {:?}", self.accept_refusals)?;
        }
        let twice: usize = self.steps.iter().map(|s| s.offered_twice).sum();
        writeln!(f, "Requests offered more than once: {twice}")
    }
}

pub async fn run(options: Options) -> Report {
    let probe_us = tokio::task::block_in_place(|| cpu::probe(world::NOTES));
    let mut running = Running::start(&options).await;
    let everyone: Vec<SocketAddr> = running.services.iter().map(|s| s.addr).collect();
    let world = Arc::new(
        world::setup(
            running.addr("roster"),
            &everyone,
            &running.secrets.admin_key,
            options.groups,
        )
        .await,
    );
    let nats = async_nats::connect(running.nats.url()).await.unwrap();
    crate::nemesis::wait_published(
        &async_nats::jetstream::new(nats.clone()),
        options.groups as u64,
    )
    .await;

    let pgbench_tps = if options.pgbench.is_zero() {
        None
    } else {
        Some(pgbench(&running, &options).await)
    };

    let seen = Arc::new(Mutex::new(Seen::default()));
    let refused = Arc::new(Mutex::new(BTreeMap::new()));
    let (offers_tx, offers_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(observe(
        nats.clone(),
        seen.clone(),
        offers_tx,
        options.follow_all,
    ));
    tokio::spawn(fleet(
        world.clone(),
        running.addr("matching"),
        offers_rx,
        options.accept,
        refused.clone(),
    ));
    // Several connections, as a gateway with several lines would keep.
    let intake: Vec<IntakeServiceClient<Spreading>> = (0..8)
        .map(|_| IntakeServiceClient::new(lazy(&[running.addr("intake")], &world.gateway_key)))
        .collect();

    let pool = sqlx::PgPool::connect(&running.pg.url(DATABASE))
        .await
        .unwrap();
    if options.statements {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(&pool)
            .await
            .unwrap();
    }

    let mut rng = Rng::new(options.seed);
    let mut steps = Vec::new();
    let mut call_no = 0u64;
    if !options.prime.is_zero() {
        let primed = Options {
            step: options.prime,
            ..options.clone()
        };
        let step = run_step(
            options.prime_rate,
            &primed,
            &running,
            &world,
            &intake,
            &seen,
            &mut rng,
            &mut call_no,
        )
        .await;
        sqlx::query("ANALYZE").execute(&pool).await.unwrap();
        eprintln!(
            "primed: {} calls at {:.0}/s, {}",
            step.calls,
            step.rate,
            if step.kept_up() {
                "kept up"
            } else {
                "fell behind"
            }
        );
    }
    let mut wal_from = String::new();
    if options.statements {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            .execute(&pool)
            .await
            .unwrap();
        wal_from = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&pool)
            .await
            .unwrap();
        // The steps' statements, rows written and log alone, without the priming's.
        for reset in [
            "SELECT pg_stat_statements_reset()",
            "SELECT pg_stat_reset()",
            "SELECT pg_stat_reset_shared('wal')",
        ] {
            sqlx::query(reset).execute(&pool).await.unwrap();
        }
    }
    for &rate in &options.rates {
        let perf = (options.perf_at == Some(rate)).then(|| start_perf(&options.dir, options.step));
        let step = run_step(
            rate,
            &options,
            &running,
            &world,
            &intake,
            &seen,
            &mut rng,
            &mut call_no,
        )
        .await;
        if let Some(mut perf) = perf {
            let _ = perf.wait();
        }
        let timeline: String = step.timeline.iter().map(|s| format!("{s}\n")).collect();
        std::fs::write(options.dir.join(format!("timeline-{rate}.txt")), timeline).unwrap();
        for s in &running.services {
            if let Some(text) = scrape(s.metrics).await {
                let file = options.dir.join(format!("metrics-{rate}-{}.txt", s.kind));
                std::fs::write(file, text).unwrap();
            }
        }
        eprintln!(
            "{:.0}/s: {} calls, {:.0} offered/s, offered p99 {:.1} ms, {}",
            step.rate,
            step.calls,
            step.throughput,
            step.offered_after.p99,
            if step.kept_up() {
                "kept up"
            } else {
                "fell behind"
            }
        );
        steps.push(step);
    }
    if options.statements {
        let calls: usize = steps.iter().map(|s: &Step| s.calls).sum();
        write_statements(&pool, &options.dir.join("statements.txt"), calls, &wal_from).await;
    }
    running.stop(&options.dir);
    let accept_refusals = refused.lock().unwrap().clone();
    Report {
        probe_us,
        pgbench_tps,
        pgbench_clients: options.pgbench_clients,
        steps,
        accept_refusals,
        groups: options.groups,
        seed: options.seed,
        finished: chrono::Utc::now(),
    }
}

/// A service's metrics as Prometheus reads them (counters since the start: the difference of two
/// steps' files is what the later step did).
async fn scrape(addr: SocketAddr) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: load\r\n\r\n")
        .await
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// The statements PostgreSQL spent most time on over the steps, per call of the run.
async fn write_statements(pool: &sqlx::PgPool, file: &Path, calls: usize, wal_from: &str) {
    // Plans are counted only with `pg_stat_statements.track_planning` on (`--pg-setting`).
    let rows: Vec<(String, i64, f64, i64, i64, f64)> = sqlx::query_as(
        "SELECT query, calls, total_exec_time, rows, plans, total_plan_time \
         FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 60",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let total: (f64, i64) = sqlx::query_as(
        "SELECT sum(total_exec_time)::float8, sum(calls)::int8 FROM pg_stat_statements",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let per = |x: f64| x / calls.max(1) as f64;
    let mut text = format!(
        "{calls} calls; statements per call {:.1}, execution ms per call {:.3}\n\n",
        per(total.1 as f64),
        per(total.0)
    );
    // What the statements wrote: rows per table, and the log they made, per call.
    let tables: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT schemaname::text, relname::text, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del \
         FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 \
         ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let (records, fpi, bytes): (i64, i64, f64) =
        sqlx::query_as("SELECT wal_records, wal_fpi, wal_bytes::float8 FROM pg_stat_wal")
            .fetch_one(pool)
            .await
            .unwrap();
    text.push_str(&format!(
        "WAL per call: {:.1} records, {:.2} full-page images, {:.0} bytes; by kind:\n",
        per(records as f64),
        per(fpi as f64),
        per(bytes)
    ));
    // The log by kind of record (pg_walinspect), largest first.
    let kinds: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT \"resource_manager/record_type\", count, record_size, fpi_size \
         FROM pg_get_wal_stats($1::pg_lsn, pg_current_wal_flush_lsn(), true) \
         ORDER BY combined_size DESC LIMIT 14",
    )
    .bind(wal_from)
    .fetch_all(pool)
    .await
    .unwrap();
    for (kind, n, size, fpi) in kinds {
        text.push_str(&format!(
            "{:>8.2} records {:>7.0} bytes (full pages {:>5.0})  {kind}\n",
            per(n as f64),
            per(size as f64),
            per(fpi as f64)
        ));
    }
    text.push_str("\nrows written per call (inserted / updated, of which HOT / deleted):\n");
    let mut written = 0.0;
    for (schema, table, ins, upd, hot, del) in tables {
        written += per((ins + upd + del) as f64);
        text.push_str(&format!(
            "{:>8.2} / {:>5.2} ({:>5.2}) / {:>5.2}  {schema}.{table}\n",
            per(ins as f64),
            per(upd as f64),
            per(hot as f64),
            per(del as f64)
        ));
    }
    text.push_str(&format!("{written:>8.2} in all\n\n"));
    for (query, n, ms, rows, plans, plan_ms) in rows {
        let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let planned = if plans > 0 {
            format!(" (planned {plans} times, {:.3} ms/call)", per(plan_ms))
        } else {
            String::new()
        };
        text.push_str(&format!(
            "{:>8.3} ms/call {:>6.2} per call {:>8} rows{planned} | {}\n",
            per(ms),
            per(n as f64),
            rows,
            query.chars().take(220).collect::<String>()
        ));
    }
    std::fs::write(file, text).unwrap();
}

/// `perf record` of every CPU for one step: where the time goes by process and symbol, without
/// call graphs (the binaries keep no frame pointers; one process's are recorded with
/// `perf record --call-graph dwarf -p`, as BENCHMARKS.md's profiles say).
fn start_perf(dir: &Path, step: Duration) -> Child {
    Command::new("perf")
        .args(["record", "-F", "999", "-a", "-o"])
        .arg(dir.join("perf.data"))
        .args(["--", "sleep", &step.as_secs().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perf (Debian's linux-perf)")
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    rate: f64,
    options: &Options,
    running: &Running,
    world: &World,
    intake: &[IntakeServiceClient<Spreading>],
    seen: &Mutex<Seen>,
    rng: &mut Rng,
    call_no: &mut u64,
) -> Step {
    let calls = (rate * options.step.as_secs_f64()).round() as usize;
    let parts = running.parts();
    let (cpu_before, waited_before) =
        tokio::task::block_in_place(|| (cpu::read(&parts), cpu::waits(&parts)));
    let start = Instant::now() + Duration::from_millis(50);
    let wall_start = chrono::Utc::now() + chrono::Duration::milliseconds(50);
    let gap = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = tokio::task::JoinSet::new();
    let mut created = Vec::with_capacity(calls);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut create_h = histogram();
    let measured_from = start + options.warmup;
    type Answer = (Instant, Instant, Result<String, tonic::Status>);
    let mut take = |(due, answered, result): Answer| match result {
        Ok(name) => {
            if due >= measured_from {
                record(&mut create_h, answered - due);
            }
            created.push((due, name));
        }
        Err(status) => *errors.entry(format!("{:?}", status.code())).or_default() += 1,
    };
    for i in 0..calls {
        let due = start + gap * i as u32;
        tokio::time::sleep_until(due).await;
        // The answers so far, taken as they come: a step's tasks kept to its end held every
        // call's memory, and the generator spent a tenth of its time on the kernel clearing
        // fresh pages for them.
        while let Some(joined) = tasks.try_join_next() {
            take(joined.unwrap());
        }
        *call_no += 1;
        let request = world::call_request(world, rng, *call_no);
        let mut client = intake[i % intake.len()].clone();
        tasks.spawn(async move {
            let mut call = tonic::Request::new(request);
            call.set_timeout(Duration::from_secs(10));
            let result = client.create_request(call).await;
            (due, Instant::now(), result.map(|r| r.into_inner().name))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        take(joined.unwrap());
    }
    // Every created request offered or escalated, or the drain runs out.
    let deadline = Instant::now() + options.drain;
    loop {
        let left = {
            let seen = seen.lock().unwrap();
            created
                .iter()
                .filter(|(_, n)| !seen.offered.contains_key(n) && !seen.escalated.contains_key(n))
                .count()
        };
        if left == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (cpu_after, waited_after) =
        tokio::task::block_in_place(|| (cpu::read(&parts), cpu::waits(&parts)));

    let seen = seen.lock().unwrap();
    let (mut published_h, mut triaged_h) = (histogram(), histogram());
    let (mut offered_h, mut assigned_h) = (histogram(), histogram());
    let (mut offered, mut escalated, mut unfinished, mut twice) = (0, 0, 0, 0);
    let mut last_placed = start;
    let seconds = (calls as f64 / rate).ceil() as usize;
    let mut per_second: Vec<(u64, Histogram<u64>)> =
        (0..seconds.max(1)).map(|_| (0, histogram())).collect();
    for (due, name) in &created {
        let measured = *due >= measured_from;
        let second = ((*due - start).as_secs() as usize).min(per_second.len() - 1);
        per_second[second].0 += 1;
        if let Some(t) = seen.published.get(name)
            && measured
        {
            record(&mut published_h, *t - *due);
        }
        if let Some(t) = seen.triaged.get(name)
            && measured
        {
            record(&mut triaged_h, *t - *due);
        }
        if let Some(t) = seen.assigned.get(name)
            && measured
        {
            record(&mut assigned_h, *t - *due);
        }
        if let Some((t, times)) = seen.offered.get(name) {
            offered += 1;
            twice += usize::from(*times > 1);
            last_placed = last_placed.max(*t);
            if measured {
                record(&mut offered_h, *t - *due);
            }
            record(&mut per_second[second].1, *t - *due);
        } else if let Some(t) = seen.escalated.get(name) {
            escalated += 1;
            last_placed = last_placed.max(*t);
        } else {
            unfinished += 1;
        }
    }
    let span = (last_placed - start)
        .as_secs_f64()
        .max(options.step.as_secs_f64());
    let per_call = |before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>| {
        after
            .iter()
            .map(|(name, after)| {
                let before = before.get(name).copied().unwrap_or(0.0);
                (
                    name.clone(),
                    (after - before) * 1000.0 / calls.max(1) as f64,
                )
            })
            .collect()
    };
    let cpu_ms = per_call(&cpu_before, &cpu_after);
    let waited_ms = per_call(
        &BTreeMap::new(),
        &cpu::waited_between(&waited_before, &waited_after),
    );
    Step {
        rate,
        calls,
        created: created.len(),
        errors,
        offered,
        escalated,
        unfinished,
        offered_twice: twice,
        create: Spread::of(&create_h),
        published: Spread::of(&published_h),
        triaged: Spread::of(&triaged_h),
        offered_after: Spread::of(&offered_h),
        assigned_after: Spread::of(&assigned_h),
        throughput: (offered + escalated) as f64 / span,
        cpu_ms,
        waited_ms,
        timeline: per_second
            .iter()
            .enumerate()
            .map(|(i, (calls, h))| Second {
                at: wall_start + chrono::Duration::seconds(i as i64),
                calls: *calls,
                offered: Spread::of(h),
            })
            .collect(),
    }
}

fn histogram() -> Histogram<u64> {
    // Microseconds, from 1 µs to 10 minutes, three significant figures.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record(d.as_micros().clamp(1, 600_000_000) as u64);
}

/// The ceiling: pgbench running the transaction intake's CreateRequest commits, a request row
/// and an outbox row, in tables made like intake's (columns, defaults, indexes) on the same
/// server: the request's body, as it is written once (its progress, a narrow row beside it,
/// is left out, as the status was before it had a row of its own). Returns transactions per
/// second.
async fn pgbench(running: &Running, options: &Options) -> f64 {
    let url = running.pg.url(DATABASE);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    for sql in [
        "DROP SCHEMA IF EXISTS pgbench CASCADE",
        "CREATE SCHEMA pgbench",
        "CREATE TABLE pgbench.requests (LIKE intake.request_bodies INCLUDING ALL)",
        "CREATE TABLE pgbench.outbox (LIKE intake.outbox INCLUDING ALL)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let script = options.dir.join("pgbench.sql");
    std::fs::write(&script, PGBENCH_SCRIPT).unwrap();
    let out = tokio::task::block_in_place(|| {
        Command::new(running.pg.bin_dir().join("pgbench"))
            .args(["-n", "-M", "prepared", "-j", "2", "-U", "postgres"])
            .arg("-h")
            .arg(if options.pg_socket {
                running.pg.socket_dir().as_os_str()
            } else {
                "127.0.0.1".as_ref()
            })
            .args(["-c", &options.pgbench_clients.to_string()])
            .args(["-T", &options.pgbench.as_secs().to_string()])
            .args(["-p", &running.pg.port().to_string(), "-f"])
            .arg(&script)
            .arg(DATABASE)
            .output()
            .expect("pgbench")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    sqlx::query("DROP SCHEMA pgbench CASCADE")
        .execute(&pool)
        .await
        .unwrap();
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or_else(|| {
            panic!(
                "pgbench gave no tps:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// A hotline call as intake stores it: the row with the caller's sealed name and phone, the
/// idempotency fingerprint (a SHA-256) and the note, and the `request.created` event beside it.
const PGBENCH_SCRIPT: &str = r#"\set code random(1, 9000000000)
BEGIN;
INSERT INTO pgbench.requests (id, idempotency_key, create_payload, reference_code, channel,
  caller_anonymous, caller_language, lat, lon, address, settlement, district, region,
  description, operator_category, operator_priority, people_count, quantity_value,
  quantity_unit, wanted_start, wanted_end, caller_name_enc, caller_phone_enc,
  caller_key_id, caller_blind_index, volunteer_note)
VALUES (gen_random_uuid(), gen_random_uuid(), decode(repeat('5a', 32), 'hex'),
  'K' || :code, 1, false, 1, 43.25, 76.95, '', 'Kaskelen', 'Karasay District', 'Almaty Region',
  'Пенсионерке 78 лет нужен уголь на зиму, 2 тонны, сама привезти не может', 0, 0, 0, NULL, '',
  NULL, NULL, decode(repeat('a1', 48), 'hex'), decode(repeat('b2', 40), 'hex'), 'k1',
  decode(repeat('c3', 32), 'hex'), 'Пенсионерке 78 лет нужен уголь на зиму, 2 тонны');
INSERT INTO pgbench.outbox (id, subject, payload, traceparent)
VALUES (gen_random_uuid(), 'komek.request.created', decode(repeat('d4', 220), 'hex'), NULL);
COMMIT;
"#;
