//! Crash, pause and partition testing on one machine.
//!
//! A run starts PostgreSQL, nats-server and five service processes (intake, triage, roster and
//! two matching replicas), each reaching the servers through fault-injecting proxies. Hotline
//! operators create requests and a fleet of volunteer apps takes the offers to completion
//! through the public API, recording every call and its outcome, while the nemesis kills,
//! freezes, restarts and cuts off parts of the system every few seconds. Then everything is
//! healed, the work drains, and the checker compares the history with what the system holds:
//! nothing acknowledged lost, nothing doubled, nothing nobody asked for.

pub mod check;
pub mod faults;
pub mod fleet;
pub mod history;
pub mod procs;
pub mod proxy;
pub mod rng;
pub mod workload;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use komek_runtime::CancellationToken;
use tokio::sync::Mutex;

use faults::{Fault, RECOVERY_LIMIT, Tally};
use history::History;
use procs::Processes;

#[derive(Debug, Clone)]
pub struct Options {
    /// An executable that runs a service when called as `<exe> serve <service>`.
    pub exe: PathBuf,
    pub requests: usize,
    /// How fast the operators create requests.
    pub per_second: f64,
    pub faults: Vec<Fault>,
    /// Quiet time between one heal and the next fault, in milliseconds.
    pub quiet_ms: (u64, u64),
    /// Volunteer groups (one volunteer each, room for three jobs).
    pub groups: usize,
    pub seed: u64,
    /// Where the services' logs and the history go.
    pub dir: PathBuf,
    /// A three-node NATS cluster with three copies of each stream and two replicas of every
    /// service, instead of one server, one copy and two matching replicas.
    pub cluster: bool,
}

pub struct Report {
    pub options: Options,
    pub duration: Duration,
    pub faults: BTreeMap<Fault, Tally>,
    /// After the final heal: how long until every service answered SERVING.
    pub final_recovery: Option<Duration>,
    /// How long after the final heal until every request was finished.
    pub drained: Option<Duration>,
    /// How long after the fleet stopped until outboxes and consumers were empty.
    pub settled: Option<Duration>,
    /// Service processes that exited on their own (the supervisor restarted them).
    pub crashes: Vec<(&'static str, u32)>,
    pub verdict: check::Verdict,
    /// Each stream's name, copies, and whether every copy is current (within 30 s of the
    /// work settling); None when the streams could not be read.
    pub streams: Option<Vec<(String, usize, bool)>>,
    pub finished: chrono::DateTime<chrono::Utc>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.verdict.passed()
            && self.final_recovery.is_some()
            && self.faults.values().all(|t| t.late == 0)
    }
}

/// How long the fleet may take to finish the work once the faults stop.
const DRAIN_LIMIT: Duration = Duration::from_secs(240);

pub async fn run(options: Options) -> Report {
    let started = Instant::now();
    std::fs::create_dir_all(&options.dir).unwrap();
    let procs = Processes::start(
        &options.exe,
        &options.dir,
        &matching_tuning(),
        options.cluster,
    )
    .await;
    let addrs: Vec<_> = procs.services.iter().map(|s| s.addr).collect();
    for (addr, s) in addrs.iter().zip(&procs.services) {
        let up = workload::wait_serving(*addr, Duration::from_secs(120)).await;
        assert!(
            up.is_some(),
            "{} did not start; see {}",
            s.name,
            s.log().display()
        );
    }
    let admin = procs.secrets.admin_key.clone();
    // The operators spread their calls over the intake replicas; the checks ask the first.
    let (roster, intakes) = (procs.addrs("roster"), procs.addrs("intake"));
    let intake = intakes[0];
    let replicas = [procs.addr("matching-a"), procs.addr("matching-b")];
    let nats_url = procs.nats.urls();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&procs.pg_url())
        .await
        .unwrap();
    let servers: Vec<&str> = nats_url.split(',').collect();
    let js = async_nats::jetstream::new(async_nats::connect(servers).await.unwrap());

    let world = workload::setup(&roster, &addrs, &admin, options.groups).await;
    // The matchers learn the groups from the roster stream; wait until all are published.
    wait_published(&js, options.groups as u64).await;

    let procs = Arc::new(Mutex::new(procs));
    let history = Arc::new(History::default());
    let world = Arc::new(world);
    let stop_fleet = CancellationToken::new();
    let fleet = tokio::spawn({
        let (world, history, stop) = (world.clone(), history.clone(), stop_fleet.clone());
        async move { fleet::fleet(replicas, &world, history, stop).await }
    });
    let dispatcher = tokio::spawn({
        let (world, history, stop) = (world.clone(), history.clone(), stop_fleet.clone());
        async move { fleet::dispatcher(replicas, &world, history, stop).await }
    });
    let stop_faults = CancellationToken::new();
    let supervisor = tokio::spawn(faults::supervise(procs.clone(), stop_fleet.clone()));
    let nemesis = tokio::spawn(faults::nemesis(
        procs.clone(),
        history.clone(),
        options.faults.clone(),
        options.quiet_ms,
        stop_faults.clone(),
        options.seed,
    ));

    workload::drive(
        &intakes,
        &world,
        options.requests,
        options.per_second,
        history.clone(),
        options.seed ^ 0x5eed,
    )
    .await;
    stop_faults.cancel();
    let tally = nemesis.await.unwrap();
    let healed = Instant::now();
    let final_recovery = faults::recovery(&procs).await;

    let drained = crate::eventually(DRAIN_LIMIT, || async {
        let statuses = check::unfinished(intake, &admin).await?;
        (statuses == 0).then(|| healed.elapsed())
    })
    .await;
    stop_fleet.cancel();
    fleet.await.unwrap();
    dispatcher.await.unwrap();
    supervisor.await.unwrap();

    let quiet = Instant::now();
    let settled = check::settle(&pool, &js, Duration::from_secs(60))
        .await
        .then(|| quiet.elapsed());
    let streams = check::streams_current(&js, Duration::from_secs(30)).await;
    let entries = history.entries();
    let verdict = check::check(&entries, &pool, &js, intake, &admin).await;
    history.write(&options.dir).unwrap();

    let mut procs = procs.lock().await;
    let crashes = procs.services.iter().map(|s| (s.name, s.crashes)).collect();
    tokio::task::block_in_place(|| {
        for s in &mut procs.services {
            s.stop();
        }
    });
    Report {
        options,
        duration: started.elapsed(),
        faults: tally,
        final_recovery,
        drained,
        settled,
        crashes,
        verdict,
        streams,
        finished: chrono::Utc::now(),
    }
}

/// Offers live 20 s so that ignored ones come back soon; the rest is as deployed.
pub fn matching_tuning() -> Vec<(&'static str, &'static str)> {
    vec![
        ("KOMEK_OFFER_TTL__CRITICAL_SECS", "20"),
        ("KOMEK_OFFER_TTL__HIGH_SECS", "20"),
        ("KOMEK_OFFER_TTL__NORMAL_SECS", "20"),
        ("KOMEK_OFFER_TTL__LOW_SECS", "20"),
        ("KOMEK_KEEPALIVE_SECS", "5"),
    ]
}

pub async fn wait_published(js: &async_nats::jetstream::Context, groups: u64) {
    let done = crate::eventually(Duration::from_secs(60), || async {
        let mut stream = js.get_stream("KOMEK_ROSTER").await.ok()?;
        let info = stream.info().await.ok()?;
        // Besides the groups, the roster's "complete" message.
        (info.state.messages > groups).then_some(())
    })
    .await;
    assert!(done.is_some(), "the roster did not publish {groups} groups");
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let v = &self.verdict;
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        writeln!(f, "## Nemesis run: {verdict}")?;
        writeln!(f)?;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        writeln!(
            f,
            "{} requests at {}/s, {} volunteer groups, seed {}, {:.0} s in all; finished {} on a machine with {cores} cores.",
            o.requests,
            o.per_second,
            o.groups,
            o.seed,
            self.duration.as_secs_f64(),
            self.finished.format("%Y-%m-%d %H:%M UTC"),
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| fault | times | slowest to SERVING after heal | later than {} s |",
            RECOVERY_LIMIT.as_secs()
        )?;
        writeln!(f, "|---|---:|---:|---:|")?;
        for (fault, t) in &self.faults {
            let whom: Vec<String> = t.targets.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let times = if whom.is_empty() {
                t.count.to_string()
            } else {
                format!("{} ({})", t.count, whom.join(", "))
            };
            writeln!(
                f,
                "| {} | {} | {:.1} s | {} |",
                fault.label(),
                times,
                t.slowest_recovery.as_secs_f64(),
                t.late
            )?;
        }
        writeln!(f)?;
        let secs = |d: Option<Duration>| {
            d.map(|d| format!("{:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into())
        };
        writeln!(
            f,
            "- After the last heal: every service SERVING in {}; every request finished in {}; outboxes and consumers empty {} after the fleet stopped.",
            secs(self.final_recovery),
            secs(self.drained),
            secs(self.settled)
        )?;
        writeln!(
            f,
            "- Creates: {} acknowledged, {} never answered, {} refused; {} requests stored, {} resolved; {} assignments; {} dispatcher assigns, {} accepts and {} completions acknowledged.",
            v.creates_acknowledged,
            v.creates_unknown,
            v.creates_refused,
            v.requests_stored,
            v.requests_resolved,
            v.assignments,
            v.assigns_acknowledged,
            v.accepts_acknowledged,
            v.completions_acknowledged
        )?;
        if let Some(streams) = &self.streams {
            let copies: Vec<String> = streams
                .iter()
                .map(|(name, n, current)| {
                    let state = if *current { "current" } else { "BEHIND" };
                    format!("{name} ×{n} {state}")
                })
                .collect();
            writeln!(f, "- Streams: {}.", copies.join(", "))?;
        }
        let errors: Vec<String> = v.errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
        writeln!(
            f,
            "- Answers other than OK (unknown outcomes were retried with the same request_id): {}.",
            errors.join(", ")
        )?;
        let crashes: Vec<String> = self
            .crashes
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        writeln!(
            f,
            "- Exits nobody asked for (restarted by the supervisor): {}.",
            crashes.join(", ")
        )?;
        writeln!(
            f,
            "- **lost {}, doubled {}, unexpected {}**; unsent outbox rows {:?}; consumers behind {}; dead letters {:?}.",
            v.lost.len(),
            v.doubled.len(),
            v.unexpected.len(),
            v.outbox_unsent,
            v.consumers_behind.len(),
            v.dead_letters
        )?;
        for (what, list) in [
            ("lost", &v.lost),
            ("doubled", &v.doubled),
            ("unexpected", &v.unexpected),
            ("behind", &v.consumers_behind),
            ("unfinished", &v.unfinished),
        ] {
            for line in list.iter().take(20) {
                writeln!(f, "  - {what}: {line}")?;
            }
        }
        Ok(())
    }
}
