//! Komek as a cluster: three NATS nodes with three copies of every stream, two replicas of
//! every service, clients spreading their calls over the replicas (matching's calls to intake
//! too). During 2,000 requests the nemesis kills one service replica or one NATS node at a time
//! (every replica and every node in turn) and brings it back. Nothing acknowledged may be lost
//! or doubled, no request may hold two offers at once, every request is finished, and the
//! consumers and the streams' copies catch up.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::path::PathBuf;

use komek_tests::nemesis::faults::Fault;
use komek_tests::nemesis::{Options, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_loses_nothing_while_replicas_and_nodes_die() {
    // Kept when the run fails, even before it reports (a service that would not start).
    let dir = tempfile::Builder::new()
        .prefix("komek-cluster-")
        .disable_cleanup(true)
        .tempdir()
        .unwrap();
    let report = run(Options {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_komek-nemesis")),
        requests: 2000,
        per_second: 10.0,
        faults: vec![Fault::KillService, Fault::RestartNats],
        quiet_ms: (1000, 2000),
        groups: 24,
        seed: 20261201,
        dir: dir.path().to_path_buf(),
        cluster: true,
    })
    .await;
    println!("{report}");
    if !report.passed() {
        panic!(
            "{report}\nlogs and history kept in {}",
            dir.path().display()
        );
    }
    let _ = std::fs::remove_dir_all(dir.path());
    assert_eq!(
        report.verdict.requests_resolved,
        report.verdict.requests_stored
    );
    assert!(report.settled.is_some(), "consumers did not catch up");

    // Every replica of every service and every NATS node went down at least once.
    let killed = &report.faults[&Fault::KillService].targets;
    for name in [
        "roster-a",
        "roster-b",
        "intake-a",
        "intake-b",
        "triage-a",
        "triage-b",
        "matching-a",
        "matching-b",
    ] {
        assert!(killed.contains_key(name), "{name} never killed: {killed:?}");
    }
    let nodes = &report.faults[&Fault::RestartNats].targets;
    assert_eq!(nodes.len(), 3, "nodes killed: {nodes:?}");

    // The streams are at three copies, all of them current again.
    let streams = report.streams.as_ref().expect("stream state read");
    for (name, replicas, current) in streams {
        assert_eq!(*replicas, 3, "{name}");
        assert!(*current, "{name}: a copy is behind");
    }
}
