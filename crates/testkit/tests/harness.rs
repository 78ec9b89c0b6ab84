//! The harness itself: real servers come up, databases are private, and nothing outlives the
//! test process, even when it is killed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use komek_testkit::{Nats, TestDb};
use sqlx::Connection;

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its parent's bookkeeping is left.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

#[tokio::test]
async fn each_test_gets_a_private_database() {
    let a = TestDb::create().await;
    let b = TestDb::create().await;
    assert_ne!(a.url(), b.url());
    let mut conn = sqlx::PgConnection::connect(a.url()).await.unwrap();
    sqlx::query("CREATE TABLE only_in_a (x int)")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut other = sqlx::PgConnection::connect(b.url()).await.unwrap();
    let seen: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_in_a')::text")
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert_eq!(seen, None);
}

#[tokio::test]
async fn nats_server_has_jetstream_and_stops_on_drop() {
    let nats = Nats::start();
    let pid = nats.pid();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "PROBE".into(),
        subjects: vec!["probe.>".into()],
        ..Default::default()
    })
    .await
    .expect("JetStream enabled");
    drop(nats);
    assert!(!alive(pid), "nats-server {pid} still running after drop");
}

/// Not a test on its own: the process that `killed_test_process_leaves_no_server_behind`
/// starts and kills.
#[tokio::test]
#[ignore = "helper process for killed_test_process_leaves_no_server_behind"]
async fn helper_hold_servers() {
    let nats = Nats::start();
    let _db = TestDb::create().await;
    println!("PIDS {} {}", nats.pid(), TestDb::server_pid().unwrap());
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[test]
#[allow(unsafe_code)]
fn killed_test_process_leaves_no_server_behind() {
    // Become the subreaper of the helper's servers, so that once orphaned they are our children
    // and this test can reap them instead of leaving zombies for init.
    // SAFETY: prctl with integer arguments only.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_hold_servers", "--ignored", "--nocapture"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(helper.stdout.take().unwrap());
    let pids: Vec<u32> = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("PIDS ").map(String::from))
        .expect("helper printed its server pids")
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        pids.iter().all(|p| alive(*p)),
        "servers run while the test process runs"
    );

    helper.kill().unwrap(); // SIGKILL: no destructor, no atexit handler runs.
    helper.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reap whatever of them died as our adopted children.
    // SAFETY: waitpid with a null status pointer and WNOHANG never blocks or writes.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    for pid in pids {
        assert!(!alive(pid), "server {pid} outlived the killed test process");
    }
}

#[test]
fn a_nats_server_started_with_go_procs_keeps_them_across_a_restart() {
    let goprocs = |pid: u32| {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        environ
            .split(|b| *b == 0)
            .find_map(|v| v.strip_prefix(b"GOMAXPROCS=").map(<[u8]>::to_vec))
    };
    let mut nats = Nats::start_with_go_procs(1);
    assert_eq!(goprocs(nats.pid()), Some(b"1".to_vec()));
    nats.restart();
    assert_eq!(goprocs(nats.pid()), Some(b"1".to_vec()), "after a restart");
    assert_eq!(
        goprocs(Nats::start().pid()),
        None,
        "the default leaves it unset"
    );
}
