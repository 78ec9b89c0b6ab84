//! Backup and restore as the operations guide says: `pg_dump` of the running database, then
//! the database and NATS's store are both lost, the dump is restored with `pg_restore` into an
//! empty database beside a fresh NATS, and the services start again. Nothing the backup held
//! may be lost: requests whose events were in NATS but not yet handled when the backup was
//! taken go on to their offers, every API key and volunteer group is known again, every
//! request is finished by the volunteers, nothing is doubled, and the consumers catch up.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use komek_runtime::CancellationToken;
use komek_testkit::pg_bin_dir;
use komek_tests::eventually;
use komek_tests::nemesis::history::History;
use komek_tests::nemesis::procs::{DATABASE, NatsServers, Processes};
use komek_tests::nemesis::workload::{self, World, wait_serving};
use komek_tests::nemesis::{check, fleet, matching_tuning, wait_published};
use sqlx::{Connection, Executor, PgConnection, PgPool};

const GROUPS: usize = 8;
const WORKED: usize = 100;
/// Created while matching is down: triaged, their events waiting in NATS for a matcher.
const WAITING: usize = 40;

/// Runs one of PostgreSQL's programs and fails the test with its output when it fails.
fn pg(program: &str, args: &[&str]) {
    let out = Command::new(pg_bin_dir().join(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn wait_all_serving(procs: &Processes) {
    for s in &procs.services {
        let up = wait_serving(s.addr, Duration::from_secs(120)).await;
        assert!(
            up.is_some(),
            "{} did not start; see {}",
            s.name,
            s.log().display()
        );
    }
}

/// The volunteers work offers, and a dispatcher assigns escalated requests, until `stop`.
fn start_fleet(
    procs: &Processes,
    world: &Arc<World>,
    history: &Arc<History>,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let replicas = [procs.addr("matching-a"), procs.addr("matching-b")];
    let (world, history, stop) = (world.clone(), history.clone(), stop.clone());
    tokio::spawn(async move {
        tokio::join!(
            fleet::fleet(replicas, &world, history.clone(), stop.clone()),
            fleet::dispatcher(replicas, &world, history, stop),
        );
    })
}

/// Consumers other than matching's have nothing outstanding: every request was triaged and its
/// event published.
async fn wait_triaged(pool: &PgPool, js: &async_nats::jetstream::Context) {
    let last = std::sync::Mutex::new(String::new());
    let done = eventually(Duration::from_secs(60), || async {
        let outboxes = check::outboxes(pool).await;
        let behind = check::consumers_behind(js).await;
        let quiet = outboxes
            .iter()
            .all(|(schema, n)| *n == 0 || schema == "matching")
            && behind.iter().all(|c| c.contains("/matching"));
        *last.lock().unwrap() = format!("outboxes {outboxes:?}, consumers behind {behind:?}");
        quiet.then_some(())
    })
    .await;
    let last = last.into_inner().unwrap();
    assert!(done.is_some(), "triage did not catch up: {last}");
}

async fn triaged_not_offered(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM intake.requests r WHERE NOT EXISTS \
         (SELECT 1 FROM matching.assignments a WHERE a.request_id = r.id)",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restored_beside_a_fresh_nats_loses_nothing_the_backup_held() {
    let dir = tempfile::Builder::new()
        .prefix("komek-backup-")
        .disable_cleanup(true)
        .tempdir()
        .unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_komek-nemesis"));
    let mut procs = Processes::start(&exe, dir.path(), &matching_tuning(), false).await;
    wait_all_serving(&procs).await;
    let admin = procs.secrets.admin_key.clone();
    let addrs: Vec<_> = procs.services.iter().map(|s| s.addr).collect();
    let intakes = procs.addrs("intake");
    let world = Arc::new(workload::setup(&procs.addrs("roster"), &addrs, &admin, GROUPS).await);
    let url = procs.pg_url();
    let pool = PgPool::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(procs.nats.urls()).await.unwrap());
    wait_published(&js, GROUPS as u64).await;

    // Requests come in and the volunteers work them.
    let history = Arc::new(History::default());
    let stop = CancellationToken::new();
    let fleet = start_fleet(&procs, &world, &history, &stop);
    workload::drive(&intakes, &world, WORKED, 10.0, history.clone(), 11).await;
    let worked = eventually(Duration::from_secs(120), || async {
        (check::unfinished(intakes[0], &admin).await? == 0).then_some(())
    })
    .await;
    assert!(worked.is_some(), "the first requests were not finished");
    stop.cancel();
    fleet.await.unwrap();

    // Matching goes down; more requests are triaged and wait for it in NATS.
    for name in ["matching-a", "matching-b"] {
        procs.service(name).kill();
    }
    workload::drive(&intakes, &world, WAITING, 10.0, history.clone(), 12).await;
    wait_triaged(&pool, &js).await;
    let waiting = triaged_not_offered(&pool).await;
    assert!(
        waiting >= WAITING as i64,
        "{waiting} requests without an offer"
    );

    // The backup, of the running database.
    let dump = dir.path().join("komek.dump");
    pg("pg_dump", &["--format=custom", "--file", path(&dump), &url]);

    // Everything is lost: the services stop, the database goes, NATS loses its store.
    tokio::task::block_in_place(|| {
        for s in &mut procs.services {
            s.stop();
        }
    });
    pool.close().await;
    drop(js);
    let admin_url = procs.pg.url("postgres");
    let mut conn = PgConnection::connect(&admin_url).await.unwrap();
    conn.execute(format!("DROP DATABASE {DATABASE} WITH (FORCE)").as_str())
        .await
        .unwrap();
    let NatsServers::One(nats) = &mut procs.nats else {
        unreachable!("one NATS server")
    };
    tokio::task::block_in_place(|| nats.wipe());

    // The restore, into an empty database; then the services start as they would.
    conn.execute(format!("CREATE DATABASE {DATABASE}").as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
    pg(
        "pg_restore",
        &[
            "--exit-on-error",
            "--no-owner",
            "--dbname",
            &url,
            path(&dump),
        ],
    );
    for s in &mut procs.services {
        s.start();
    }
    wait_all_serving(&procs).await;
    let pool = PgPool::connect(&url).await.unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(procs.nats.urls()).await.unwrap());

    // Every key works again, on every service: the access stream was filled from the table.
    for key in &world.operator_keys {
        komek_tests::wait_key_known(&addrs, key).await;
    }

    // The volunteers come back and every request is finished: the waiting ones too.
    let stop = CancellationToken::new();
    let fleet = start_fleet(&procs, &world, &history, &stop);
    let intake = intakes[0];
    let finished = eventually(Duration::from_secs(240), || async {
        (check::unfinished(intake, &admin).await? == 0).then_some(())
    })
    .await;
    stop.cancel();
    fleet.await.unwrap();
    let settled = check::settle(&pool, &js, Duration::from_secs(60)).await;
    let verdict = check::check(&history.entries(), &pool, &js, intake, &admin).await;
    tokio::task::block_in_place(|| {
        for s in &mut procs.services {
            s.stop();
        }
    });
    history.write(dir.path()).unwrap();
    let keep = format!("logs and history kept in {}", dir.path().display());
    assert!(
        finished.is_some(),
        "requests left unfinished: {verdict:#?}\n{keep}"
    );
    assert!(settled, "consumers did not catch up: {verdict:#?}\n{keep}");
    assert!(verdict.passed(), "{verdict:#?}\n{keep}");
    assert_eq!(
        verdict.creates_acknowledged,
        WORKED + WAITING,
        "{verdict:#?}\n{keep}"
    );
    assert_eq!(verdict.requests_stored, WORKED + WAITING);
    assert_eq!(verdict.requests_resolved, WORKED + WAITING);
    // The matchers never took the roster for empty while it was being filled again.
    let no_groups: i64 =
        sqlx::query_scalar("SELECT count(*) FROM matching.decisions WHERE $1 = ANY(reasons)")
            .bind(komek_proto::types::v1::IneligibleReason::NoGroups as i16)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(no_groups, 0, "requests escalated for want of any group");
    let _ = std::fs::remove_dir_all(dir.path());
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
