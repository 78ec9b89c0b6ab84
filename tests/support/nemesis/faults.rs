//! The nemesis: every few seconds it breaks one thing for a few seconds, heals it, and
//! measures how long the services take to answer SERVING again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use komek_runtime::CancellationToken;
use komek_testkit::PgStop;
use tokio::sync::Mutex;

use super::history::History;
use super::procs::{NatsServers, Processes};
use super::proxy::Link;
use super::rng::Rng;
use super::workload::wait_serving;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// SIGKILL a service process (any of the five, a matching replica included), start it again.
    KillService,
    /// SIGSTOP a service process, SIGCONT it later.
    PauseService,
    /// SIGKILL nats-server (in a cluster, one node in turn), start it again on the same store.
    RestartNats,
    /// PostgreSQL fast shutdown, then start.
    RestartPgFast,
    /// PostgreSQL immediate shutdown (crash recovery on start).
    RestartPgImmediate,
    /// Every chunk between one service and NATS or PostgreSQL waits 50–400 ms.
    LinkDelay,
    /// One service's connections to NATS or PostgreSQL are closed, new ones too, for a while.
    LinkDrop,
    /// One service's connections to NATS or PostgreSQL are reset (RST).
    LinkReset,
    /// Nothing moves between one service and NATS or PostgreSQL for a while.
    LinkBlackhole,
}

impl Fault {
    pub const ALL: [Fault; 9] = [
        Fault::KillService,
        Fault::PauseService,
        Fault::RestartNats,
        Fault::RestartPgFast,
        Fault::RestartPgImmediate,
        Fault::LinkDelay,
        Fault::LinkDrop,
        Fault::LinkReset,
        Fault::LinkBlackhole,
    ];

    /// Faults of a server (NATS, PostgreSQL) rather than of one service.
    fn restarts_a_server(self) -> bool {
        matches!(
            self,
            Fault::RestartNats | Fault::RestartPgFast | Fault::RestartPgImmediate
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Fault::KillService => "kill -9 a service",
            Fault::PauseService => "SIGSTOP/SIGCONT a service",
            Fault::RestartNats => "kill -9 nats-server",
            Fault::RestartPgFast => "PostgreSQL fast restart",
            Fault::RestartPgImmediate => "PostgreSQL immediate restart",
            Fault::LinkDelay => "proxy: delay",
            Fault::LinkDrop => "proxy: drop connections",
            Fault::LinkReset => "proxy: reset connections",
            Fault::LinkBlackhole => "proxy: blackhole",
        }
    }
}

/// What the nemesis did, fault kind by fault kind.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub count: u32,
    /// The longest time from a heal of this kind until every service answered SERVING.
    pub slowest_recovery: Duration,
    /// Heals after which some service was not SERVING within the limit.
    pub late: u32,
    /// How many times each service was the one hit.
    pub targets: BTreeMap<&'static str, u32>,
}

/// How soon every service must be SERVING after a heal.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(10);

/// Applies `kinds` in turn (shuffled each round; killing a service comes twice a round) until
/// `stop`, then heals everything. The service a fault hits goes round all of them in turn for
/// each kind of fault, so a short run still kills each service once; so does the NATS node
/// killed in a cluster.
pub async fn nemesis(
    procs: Arc<Mutex<Processes>>,
    history: Arc<History>,
    kinds: Vec<Fault>,
    quiet: (u64, u64),
    stop: CancellationToken,
    seed: u64,
) -> BTreeMap<Fault, Tally> {
    let mut rng = Rng::new(seed);
    let mut tally: BTreeMap<Fault, Tally> = BTreeMap::new();
    let mut round: Vec<Fault> = Vec::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(rng.millis(quiet.0, quiet.1)) => {}
        }
        if round.is_empty() {
            round = kinds.clone();
            if kinds.contains(&Fault::KillService) {
                round.push(Fault::KillService);
            }
            // Fisher–Yates with the run's generator.
            for i in (1..round.len()).rev() {
                round.swap(i, rng.below(i + 1));
            }
        }
        let fault = round.pop().unwrap();
        let t = tally.entry(fault).or_default();
        let turn = t.count as usize;
        t.count += 1;
        let hold = rng.millis(1000, 4000);
        let down = rng.millis(0, 2000);
        {
            let mut p = procs.lock().await;
            let target = turn % p.services.len();
            let cluster = matches!(p.nats, NatsServers::Cluster(_));
            let service = &mut p.services[target];
            let (link, server) = match &service.nats {
                Some(nats) if rng.below(2) == 1 => (nats, "NATS"),
                _ => (&service.pg, "PostgreSQL"),
            };
            let restarts = fault.restarts_a_server();
            const NODES: [&str; 3] = ["node 0", "node 1", "node 2"];
            let whom = match fault {
                Fault::RestartNats if cluster => NODES[turn % NODES.len()].to_string(),
                _ if restarts => String::new(),
                Fault::KillService | Fault::PauseService => service.name.to_string(),
                _ => format!("{} to {server}", service.name),
            };
            let held = if restarts { down } else { hold };
            history.fault(format!(
                "{} {whom} for {} ms",
                fault.label(),
                held.as_millis()
            ));
            if fault == Fault::RestartNats && cluster {
                *tally
                    .entry(fault)
                    .or_default()
                    .targets
                    .entry(NODES[turn % NODES.len()])
                    .or_default() += 1;
            } else if !restarts {
                *tally
                    .entry(fault)
                    .or_default()
                    .targets
                    .entry(service.name)
                    .or_default() += 1;
            }
            match fault {
                Fault::KillService => service.kill(),
                Fault::PauseService => service.pause(),
                Fault::LinkDelay => link.set(Link::Delayed(rng.millis(50, 400))),
                Fault::LinkDrop => link.set(Link::Down),
                Fault::LinkReset => link.reset_all(),
                Fault::LinkBlackhole => link.set(Link::Blackhole),
                Fault::RestartNats => p.restart_nats(turn, down),
                Fault::RestartPgFast => p.restart_pg(PgStop::Fast, down),
                Fault::RestartPgImmediate => p.restart_pg(PgStop::Immediate, down),
            }
        }
        if !fault.restarts_a_server() {
            tokio::time::sleep(hold).await;
        }
        heal(&procs).await;
        history.fault("healed".into());
        let recovered = recovery(&procs).await;
        let t = tally.entry(fault).or_default();
        match recovered {
            Some(d) => t.slowest_recovery = t.slowest_recovery.max(d),
            None => t.late += 1,
        }
    }
    heal(&procs).await;
    tally
}

/// Undoes every fault: links healthy, paused processes running, killed ones started.
pub async fn heal(procs: &Arc<Mutex<Processes>>) {
    let mut p = procs.lock().await;
    for s in &mut p.services {
        s.pg.set(Link::Healthy);
        if let Some(nats) = &s.nats {
            nats.set(Link::Healthy);
        }
        s.resume();
        s.start();
    }
}

/// How long until every service answers SERVING; None if one did not within the limit.
pub async fn recovery(procs: &Arc<Mutex<Processes>>) -> Option<Duration> {
    let addrs: Vec<_> = procs.lock().await.services.iter().map(|s| s.addr).collect();
    let waits = addrs.into_iter().map(|a| wait_serving(a, RECOVERY_LIMIT));
    let times = futures::future::join_all(waits).await;
    times
        .into_iter()
        .try_fold(Duration::ZERO, |m, t| Some(m.max(t?)))
}

/// Restarts service processes that exited on their own, as a process supervisor would.
pub async fn supervise(procs: Arc<Mutex<Processes>>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        {
            let mut p = procs.lock().await;
            for s in &mut p.services {
                s.supervise();
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
