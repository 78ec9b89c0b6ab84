//! Benchmark 5: intake alone against a bare tonic echo of its API (`serve echo`), each a
//! process of its own under the same closed-loop clients; the figure is calls per CPU-second
//! of the server's process, so it does not depend on how the two cores are shared.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_runtime::auth::Role;
use komek_testkit::free_port;
use komek_testkit::spawn::{signal, spawn_bound_to_process};
use tokio::time::Instant;

use super::cpu::{self, Who};
use super::world::{World, call_request};
use super::{Options, Running};
use crate::nemesis::rng::Rng;
use crate::nemesis::workload::{issue_key, lazy};
use crate::settlements;

/// Calls completed, refused, and CPU seconds of the server and of PostgreSQL, over `secs`.
struct Round {
    ok: u64,
    failed: u64,
    server_cpu: f64,
    postgres_cpu: f64,
    secs: f64,
}

async fn round(
    addr: SocketAddr,
    key: &str,
    world: &Arc<World>,
    server: Who,
    postgres: Option<Who>,
    clients: usize,
    secs: Duration,
) -> Round {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let channels: Vec<_> = (0..8)
        .map(|_| IntakeServiceClient::new(lazy(&[addr], key)))
        .collect();
    let warm = Instant::now() + Duration::from_secs(2);
    let end = warm + secs;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = channels[c % channels.len()].clone();
        let (ok, failed, world) = (ok.clone(), failed.clone(), world.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(c as u64 + 1);
            let mut i = c as u64 * 1_000_000_000;
            while Instant::now() < end {
                i += 1;
                let result = client
                    .create_request(call_request(&world, &mut rng, i))
                    .await;
                if Instant::now() >= warm {
                    match result {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
        }));
    }
    tokio::time::sleep_until(warm).await;
    let mut parts = vec![("server".to_string(), server)];
    parts.extend(postgres.map(|p| ("postgres".to_string(), p)));
    let before = cpu::read(&parts);
    let t = Instant::now();
    tokio::time::sleep_until(end).await;
    let after = cpu::read(&parts);
    let secs = t.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let used = |name: &str| after.get(name).unwrap_or(&0.0) - before.get(name).unwrap_or(&0.0);
    Round {
        ok: ok.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        server_cpu: used("server"),
        postgres_cpu: used("postgres"),
        secs,
    }
}

pub async fn run(exe: PathBuf, dir: PathBuf, secs: Duration, clients: usize) -> String {
    let options = Options {
        exe: exe.clone(),
        rates: vec![],
        step: secs,
        warmup: Duration::ZERO,
        drain: Duration::ZERO,
        groups: 0,
        seed: 1,
        dir: dir.clone(),
        pgbench: Duration::ZERO,
        pgbench_clients: 0,
        prime: Duration::ZERO,
        prime_rate: 0.0,
        accept: false,
        perf_at: None,
        statements: false,
        pg_settings: Vec::new(),
        // Over TCP, as this comparison's figures in BENCHMARKS.md were measured.
        pg_socket: false,
        follow_all: false,
    };
    let mut running = Running::start_some(&options, &["roster", "intake"]).await;
    let roster = [running.addr("roster")];
    let key = issue_key(
        &roster,
        &running.secrets.admin_key,
        Role::Service,
        "services/telephony",
    )
    .await;
    crate::wait_key_known(&[running.addr("intake")], &key).await;

    let port = free_port();
    let log = std::fs::File::create(dir.join("echo.log")).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.args(["serve", "echo", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut echo = spawn_bound_to_process(cmd, libc::SIGKILL);
    let echo_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(echo_addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let world = Arc::new(World {
        groups: vec![],
        gateway_key: key.clone(),
        places: settlements::all().iter().collect(),
    });
    let intake_pid = running
        .services
        .iter()
        .find(|s| s.kind == "intake")
        .unwrap()
        .child
        .id();
    let pg = running.pg.pid().unwrap();
    // Echo and intake by turns, twice, so a slow spell of the machine falls on both.
    let (mut echo_rounds, mut intake_rounds) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        echo_rounds.push(
            round(
                echo_addr,
                &key,
                &world,
                Who::Process(echo.id()),
                None,
                clients,
                secs,
            )
            .await,
        );
        intake_rounds.push(
            round(
                running.addr("intake"),
                &key,
                &world,
                Who::Process(intake_pid),
                Some(Who::Tree(pg)),
                clients,
                secs,
            )
            .await,
        );
    }
    signal(&echo, libc::SIGKILL);
    let _ = echo.wait();
    running.stop(&dir);

    let sum = |rounds: &[Round]| {
        rounds.iter().fold((0u64, 0u64, 0.0, 0.0, 0.0), |a, r| {
            (
                a.0 + r.ok,
                a.1 + r.failed,
                a.2 + r.server_cpu,
                a.3 + r.postgres_cpu,
                a.4 + r.secs,
            )
        })
    };
    let (e_ok, e_failed, e_cpu, _, e_secs) = sum(&echo_rounds);
    let (i_ok, i_failed, i_cpu, i_pg, i_secs) = sum(&intake_rounds);
    let e_per_core = e_ok as f64 / e_cpu;
    let i_per_core = i_ok as f64 / i_cpu;
    let mut out = String::new();
    writeln!(
        out,
        "### Intake alone against a bare tonic echo of its API\n\n\
         {clients} closed-loop clients over 8 HTTP/2 connections, CreateRequest with real \
         settlements and notes; two rounds of {} s each, taken by turns.\n\n\
         | server | calls/s | failed | server CPU per call | calls per CPU-second of the server | share of the echo's |\n\
         |---|---|---|---|---|---|\n\
         | tonic echo (nothing checked, stored or published) | {:.0} | {e_failed} | {:.0} µs | {e_per_core:.0} | |\n\
         | intake (auth, validation, sealing, PostgreSQL, outbox to NATS) | {:.0} | {i_failed} | {:.0} µs | {i_per_core:.0} | **{:.0}%** |\n\n\
         PostgreSQL's own CPU during the intake rounds: {:.0} µs per call.\n",
        secs.as_secs(),
        e_ok as f64 / e_secs,
        e_cpu / e_ok as f64 * 1e6,
        i_ok as f64 / i_secs,
        i_cpu / i_ok as f64 * 1e6,
        100.0 * i_per_core / e_per_core,
        i_pg / i_ok as f64 * 1e6,
    )
    .unwrap();
    eprintln!("intake alone: echo {e_per_core:.0}/CPU-s, intake {i_per_core:.0}/CPU-s");
    out
}
