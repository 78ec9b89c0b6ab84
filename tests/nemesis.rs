//! The CI-sized nemesis run: 2,000 requests while services are killed and frozen, NATS and
//! PostgreSQL restart, and links to them are delayed, dropped, reset and blackholed. Nothing
//! acknowledged may be lost or doubled, nothing may appear that nobody asked for, and every
//! service must be SERVING within 10 s of each heal. `deploy/nemesis.sh` is the long run.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::path::PathBuf;

use komek_tests::nemesis::faults::Fault;
use komek_tests::nemesis::{Options, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_acknowledged_is_lost_or_doubled_while_parts_fail() {
    // Kept when the run fails, even before it reports (a service that would not start).
    let dir = tempfile::Builder::new()
        .prefix("komek-nemesis-")
        .disable_cleanup(true)
        .tempdir()
        .unwrap();
    let seed = std::env::var("KOMEK_NEMESIS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261130);
    let report = run(Options {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_komek-nemesis")),
        requests: 2000,
        per_second: 10.0,
        faults: Fault::ALL.to_vec(),
        quiet_ms: (1500, 3000),
        groups: 24,
        seed,
        dir: dir.path().to_path_buf(),
        cluster: false,
    })
    .await;
    println!("{report}");
    if !report.passed() {
        // Keep the logs and the history for whoever reads the failure.
        panic!(
            "{report}\nlogs and history kept in {}",
            dir.path().display()
        );
    }
    let _ = std::fs::remove_dir_all(dir.path());
    // The faults reached the clients: calls failed and were retried.
    let unavailable = report
        .verdict
        .errors
        .get("Unavailable")
        .copied()
        .unwrap_or(0);
    assert!(
        unavailable > 0,
        "no call saw a fault; is the nemesis acting?"
    );
    // Each of the four services was killed at least once (services take turns: roster,
    // intake, triage, one matching replica, the other).
    let killed = &report.faults[&Fault::KillService].targets;
    assert!(killed.len() >= 4, "killed only {killed:?}");
    // Every kind of fault happened at least once.
    for fault in Fault::ALL {
        assert!(
            report.faults.get(&fault).is_some_and(|t| t.count > 0),
            "{} never happened",
            fault.label()
        );
    }
}
