//! Real servers for tests, never mocks.
//!
//! - [`Nats`]: a `nats-server -js` per test, on a free port with its own store directory,
//!   killed and removed on drop.
//! - [`Postgres`]: a PostgreSQL server of its own that can be stopped (fast or immediate) and
//!   started again, for fault tests.
//! - [`TestDb`]: a fresh database per test in a PostgreSQL cluster that the test process starts
//!   once (initdb in a temporary directory, as the `postgres` user when running as root) and
//!   stops and removes when it exits.
//!
//! Servers are started from one long-lived thread with a parent-death signal, so killing the
//! test process (even with SIGKILL) takes the servers down with it; a directory left by a killed
//! run is removed by the next run.
//! A missing server binary fails the test with the command that installs it; nothing is skipped.

#![allow(unsafe_code)] // prctl in the spawned child and atexit; see `spawn`.

pub mod spawn;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection};

const NATS_INSTALL: &str = "apt-get update && apt-get install -y nats-server";
const PG_INSTALL: &str = "apt-get update && apt-get install -y postgresql";

/// A port nobody listens on right now, for a server a test starts.
///
/// Taken below the kernel's range of ephemeral ports (32768 and up on Linux), so the many
/// outgoing connections of a test cannot take it between now and the server's bind, and never
/// the same twice in one process, so two servers started together do not get one port.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Processes start at different places, so test binaries run one after another (or two
    // checkouts side by side) rarely meet.
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN);
}

fn find_binary(name: &str, extra_dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra_dirs.iter().cloned())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A temporary directory under the system temp dir whose name carries this process id, so a
/// later run can tell whether its owner is gone.
fn owned_temp_dir(prefix: &str) -> PathBuf {
    sweep_stale(prefix);
    tempfile::Builder::new()
        .prefix(&format!("{prefix}{}-", std::process::id()))
        .tempdir()
        .unwrap()
        .keep()
}

/// Removes directories left by test processes that were killed.
fn sweep_stale(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A running `nats-server` with JetStream, private to one test.
pub struct Nats {
    child: Child,
    dir: PathBuf,
    port: u16,
    /// `GOMAXPROCS` of the server, when not the Go runtime's default (every core).
    go_procs: Option<usize>,
}

impl Nats {
    /// Starts a server; panics with the install command when `nats-server` is missing.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server whose Go runtime runs goroutines on at most `procs` threads at once
    /// (`GOMAXPROCS`), as a deployment that shares a few cores with PostgreSQL and the
    /// services sets it (deploy/OPERATIONS.md).
    pub fn start_with_go_procs(procs: usize) -> Self {
        Self::start_with(Some(procs))
    }

    fn start_with(go_procs: Option<usize>) -> Self {
        let dir = owned_temp_dir("komek-nats-");
        for attempt in 0..5 {
            let port = free_port();
            if let Some(child) = Self::spawn(&dir, port, go_procs) {
                return Self {
                    child,
                    dir,
                    port,
                    go_procs,
                };
            }
            if attempt == 4 {
                let log = std::fs::read_to_string(dir.join("nats.log")).unwrap_or_default();
                panic!("nats-server would not start:\n{log}");
            }
        }
        unreachable!()
    }

    /// A server on `port` keeping its store in `dir`; None when it would not listen.
    fn spawn(dir: &Path, port: u16, go_procs: Option<usize>) -> Option<Child> {
        let bin = find_binary(
            "nats-server",
            &[PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")],
        )
        .unwrap_or_else(|| {
            panic!("nats-server not found on PATH or in /usr/sbin; install it: {NATS_INSTALL}")
        });
        let mut cmd = Command::new(&bin);
        cmd.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.join("store"))
            .arg("-l")
            .arg(dir.join("nats.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(procs) = go_procs {
            cmd.env("GOMAXPROCS", procs.to_string());
        }
        let mut child = spawn::spawn_bound_to_process(cmd, libc::SIGKILL);
        if wait_until_listening(port, &mut child) {
            return Some(child);
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Kills the server (as a crash would) and starts it again on the same port and store:
    /// what clients see when NATS restarts.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Kills the server with SIGKILL; [`Nats::start_again`] brings it back.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server, deletes its store (every stream and consumer) and starts it again on
    /// the same port: a NATS that lost its disk.
    pub fn wipe(&mut self) {
        self.kill();
        let store = self.dir.join("store");
        if store.exists() {
            std::fs::remove_dir_all(&store).expect("delete the JetStream store");
        }
        self.start_again();
    }

    /// Starts the killed server again on the same port and store.
    pub fn start_again(&mut self) {
        // The port is free again once the old process is gone; retry while it lingers.
        for _ in 0..50 {
            if let Some(child) = Self::spawn(&self.dir, self.port, self.go_procs) {
                self.child = child;
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server would not start again on port {}", self.port);
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The JetStream store directory: the streams' messages as the server keeps them on disk.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.join("store")
    }
}

/// False when the child exited (port taken by someone else, say).
/// Whether the nats-server whose monitoring listens on `port` answers its health check with
/// status ok.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

fn wait_until_listening(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three `nats-server` processes clustered on loopback ports, each with JetStream and its own
/// store, started from deploy/nats/cluster.conf: the configuration of the compose file and the
/// Kubernetes manifests, on one machine. Nodes can be killed and
/// started again on the same ports and stores.
pub struct NatsCluster {
    nodes: Vec<Option<Child>>,
    dir: PathBuf,
    client_ports: Vec<u16>,
    route_ports: Vec<u16>,
    monitor_ports: Vec<u16>,
}

impl NatsCluster {
    pub const SIZE: usize = 3;

    pub fn start() -> Self {
        let dir = owned_temp_dir("komek-nats-cluster-");
        let client_ports: Vec<u16> = (0..Self::SIZE).map(|_| free_port()).collect();
        let route_ports: Vec<u16> = (0..Self::SIZE).map(|_| free_port()).collect();
        let monitor_ports: Vec<u16> = (0..Self::SIZE).map(|_| free_port()).collect();
        let mut cluster = Self {
            nodes: (0..Self::SIZE).map(|_| None).collect(),
            dir,
            client_ports,
            route_ports,
            monitor_ports,
        };
        for i in 0..Self::SIZE {
            cluster.start_node(i);
        }
        cluster.wait_ready(Duration::from_secs(90));
        cluster
    }

    /// Waits until every node says it is healthy, which for a JetStream cluster means it is in
    /// touch with an elected leader: what a deployment's readiness probe waits for. Panics with
    /// the nodes' logs when that takes longer than `within`.
    pub fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.monitor_ports.iter().all(|p| healthy(*p)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let logs: Vec<String> = (0..Self::SIZE)
            .map(|i| {
                let log = std::fs::read_to_string(self.dir.join(format!("n{i}/nats.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    "node {i}:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect();
        panic!(
            "the NATS cluster had no leader within {within:?}:\n{}",
            logs.join("\n")
        );
    }

    /// Starts node `i` (again) on its ports and store.
    pub fn start_node(&mut self, i: usize) {
        let bin = find_binary(
            "nats-server",
            &[PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")],
        )
        .unwrap_or_else(|| {
            panic!("nats-server not found on PATH or in /usr/sbin; install it: {NATS_INSTALL}")
        });
        let node_dir = self.dir.join(format!("n{i}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        // The configuration deployments run (deploy/nats/cluster.conf), with this node's ports
        // and store; its own route is in the list, as in a deployment.
        let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats/cluster.conf");
        for _ in 0..50 {
            let mut cmd = Command::new(&bin);
            cmd.arg("-c")
                .arg(&conf)
                .arg("-l")
                .arg(node_dir.join("nats.log"))
                .env("KOMEK_NATS_NAME", format!("n{i}"))
                .env(
                    "KOMEK_NATS_LISTEN",
                    format!("127.0.0.1:{}", self.client_ports[i]),
                )
                .env(
                    "KOMEK_NATS_MONITOR",
                    format!("127.0.0.1:{}", self.monitor_ports[i]),
                )
                .env("KOMEK_NATS_STORE", node_dir.join("store"))
                .env(
                    "KOMEK_NATS_CLUSTER_LISTEN",
                    format!("127.0.0.1:{}", self.route_ports[i]),
                )
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (j, port) in self.route_ports.iter().enumerate() {
                cmd.env(
                    format!("KOMEK_NATS_ROUTE_{j}"),
                    format!("nats-route://127.0.0.1:{port}"),
                );
            }
            let mut child = spawn::spawn_bound_to_process(cmd, libc::SIGKILL);
            if wait_until_listening(self.client_ports[i], &mut child) {
                self.nodes[i] = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(node_dir.join("nats.log")).unwrap_or_default();
        panic!("nats-server node {i} would not start:\n{log}");
    }

    /// Kills node `i` with SIGKILL, as a crash would.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every node's client URL, separated by commas, as `nats_url` takes them.
    pub fn urls(&self) -> String {
        self.client_ports
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i`'s client URL.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.client_ports[i])
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..Self::SIZE {
            self.kill_node(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The PostgreSQL cluster of this test process.
struct Cluster {
    child: Mutex<Option<Child>>,
    dir: PathBuf,
    port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// Where PostgreSQL's programs are (initdb, pg_ctl, pg_dump, pg_restore): `KOMEK_PG_BIN`, or
/// the newest version Debian installed.
pub fn pg_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KOMEK_PG_BIN") {
        return PathBuf::from(dir);
    }
    // Debian keeps server binaries out of PATH, one directory per major version.
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    match find_binary("initdb", &[]) {
        Some(initdb) => initdb.parent().unwrap().to_path_buf(),
        None => panic!(
            "PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH; install them: {PG_INSTALL} (or set KOMEK_PG_BIN)"
        ),
    }
}

/// uid and gid of the `postgres` user, which PostgreSQL must run as when we are root.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.first() == Some(&"postgres"))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

fn as_postgres_user(cmd: &mut Command, dir: &Path) {
    if !spawn::is_root() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let (uid, gid) = postgres_user().unwrap_or_else(|| {
        panic!("running as root but there is no postgres user; install PostgreSQL: {PG_INSTALL}")
    });
    chown_tree(dir, uid, gid);
    cmd.uid(uid).gid(gid);
}

fn chown_tree(dir: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            chown_tree(&path, uid, gid);
        } else {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
    }
}

/// Creates a database cluster in `dir/data` owned by the user PostgreSQL runs as.
fn init_cluster(bin: &Path, dir: &Path) {
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(dir.join("data"))
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ])
        .stdin(Stdio::null());
    as_postgres_user(&mut initdb, dir);
    let out = initdb
        .output()
        .unwrap_or_else(|e| panic!("cannot run initdb: {e}; install: {PG_INSTALL}"));
    assert!(
        out.status.success(),
        "initdb failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the postmaster of the cluster in `dir` on `port`; None when it would not listen.
/// `settings` are extra `-c` options.
fn spawn_postgres<S: AsRef<str>>(
    bin: &Path,
    dir: &Path,
    port: u16,
    settings: &[S],
) -> Option<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("postgres.log"))
        .unwrap();
    let mut postgres = Command::new(bin.join("postgres"));
    postgres
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=400",
            "-c",
            "shared_buffers=64MB",
        ])
        .args(settings.iter().flat_map(|s| ["-c", s.as_ref()]))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    as_postgres_user(&mut postgres, dir);
    // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster stops its backends too.
    let mut child = spawn::spawn_bound_to_process(postgres, libc::SIGQUIT);
    if wait_until_listening(port, &mut child) {
        return Some(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Cluster {
    fn start() -> Cluster {
        let bin = pg_bin_dir();
        let dir = owned_temp_dir("komek-pg-");
        init_cluster(&bin, &dir);
        // Durability is not under test here; speed is welcome.
        let settings = [
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ];
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn_postgres(&bin, &dir, port, &settings) {
                spawn::at_exit(stop_cluster);
                return Cluster {
                    child: Mutex::new(Some(child)),
                    dir,
                    port,
                };
            }
        }
        let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
        panic!("postgres would not start:\n{log}");
    }

    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

/// Runs at process exit: stops the cluster and removes its directory.
extern "C" fn stop_cluster() {
    if let Some(cluster) = CLUSTER.get() {
        if let Some(mut child) = cluster.child.lock().ok().and_then(|mut c| c.take()) {
            spawn::signal(&child, libc::SIGQUIT);
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&cluster.dir);
    }
}

/// Connects once the server accepts connections: it listens a moment before it is ready.
async fn connect_when_ready(url: &str) -> PgConnection {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match PgConnection::connect(url).await {
            Ok(conn) => return conn,
            Err(err) if Instant::now() < deadline => {
                let starting = err
                    .as_database_error()
                    .and_then(|e| e.code())
                    .is_some_and(|c| c == "57P03");
                if !starting {
                    panic!("cannot connect to the test cluster: {err}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("test cluster not ready within 30 s: {err}"),
        }
    }
}

/// Each column of `table` (in the connection's schema) with its statistics target: 0 where
/// `ANALYZE` gathers none, -1 for the server's default.
pub async fn statistics_targets(
    pool: &sqlx::PgPool,
    table: &str,
) -> std::collections::HashMap<String, i32> {
    sqlx::query_as::<_, (String, i32)>(
        "SELECT attname::text, coalesce(attstattarget::int, -1) FROM pg_attribute \
         WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .expect("statistics targets")
    .into_iter()
    .collect()
}

/// A database of its own for one test, dropped with it.
pub struct TestDb {
    name: String,
    admin_url: String,
    url: String,
}

impl TestDb {
    /// Creates an empty database in the test process's cluster, starting the cluster first if
    /// this is the first database.
    pub async fn create() -> Self {
        let cluster = CLUSTER.get_or_init(Cluster::start);
        let admin_url = cluster.admin_url();
        let name = format!("komek_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = connect_when_ready(&admin_url).await;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        conn.close().await.ok();
        let url = format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port);
        Self {
            name,
            admin_url,
            url,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The postmaster's process id, to check that it stops.
    pub fn server_pid() -> Option<u32> {
        CLUSTER.get()?.child.lock().ok()?.as_ref().map(Child::id)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside an async test: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

/// How PostgreSQL is stopped: its shutdown modes (`pg_ctl stop -m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgStop {
    /// Rolls back open transactions, disconnects clients, writes a checkpoint.
    Fast,
    /// Stops at once, as a crash would; the next start replays the WAL.
    Immediate,
}

/// A PostgreSQL server of its own that can be stopped and started again on the same port and
/// data, for tests of what clients see when the database goes away. Unlike the shared test
/// cluster, commits are synchronous: a commit that was acknowledged survives an immediate stop.
pub struct Postgres {
    child: Option<Child>,
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    settings: Vec<String>,
}

impl Postgres {
    /// Synchronous commits without waiting for the disk: fast, and an immediate stop still
    /// keeps what was acknowledged (the operating system has it).
    const SETTINGS: &[&str] = &["fsync=off", "full_page_writes=off"];

    /// As deployed: every commit flushed to disk before it is acknowledged (PostgreSQL's own
    /// defaults for fsync, synchronous_commit and full_page_writes), with the shared buffers a
    /// small server would give it. For benchmarks that must not measure a database that lies.
    const DURABLE: &[&str] = &["shared_buffers=512MB", "max_wal_size=4GB"];

    pub fn start() -> Self {
        Self::start_with(Self::SETTINGS.iter().map(|s| s.to_string()).collect())
    }

    /// A server with durable settings (see [`Self::DURABLE`]) and `extra` ones
    /// ("shared_preload_libraries=pg_stat_statements", say).
    pub fn start_durable(extra: &[&str]) -> Self {
        Self::start_with(
            Self::DURABLE
                .iter()
                .chain(extra)
                .map(|s| s.to_string())
                .collect(),
        )
    }

    fn start_with(settings: Vec<String>) -> Self {
        let bin = pg_bin_dir();
        let dir = owned_temp_dir("komek-pgr-");
        init_cluster(&bin, &dir);
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn_postgres(&bin, &dir, port, &settings) {
                return Self {
                    child: Some(child),
                    bin,
                    dir,
                    port,
                    settings,
                };
            }
        }
        let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
        panic!("postgres would not start:\n{log}");
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The URL of database `name` over the server's Unix socket.
    pub fn socket_url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/{name}?host={}",
            self.port,
            self.dir.display()
        )
    }

    /// The directory of the server's binaries (pgbench lives beside postgres).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The postmaster's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Creates database `name`.
    pub async fn create_database(&self, name: &str) {
        let mut conn = connect_when_ready(&self.url("postgres")).await;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        conn.close().await.ok();
    }

    /// Stops the server in `mode` and waits until it has exited.
    pub fn stop(&mut self, mode: PgStop) {
        if let Some(mut child) = self.child.take() {
            let signal = match mode {
                PgStop::Fast => libc::SIGINT,
                PgStop::Immediate => libc::SIGQUIT,
            };
            spawn::signal(&child, signal);
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port and data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        // A lingering socket of the old postmaster can hold the port for a moment.
        for _ in 0..100 {
            if let Some(child) = spawn_postgres(&self.bin, &self.dir, self.port, &self.settings) {
                self.child = Some(child);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
        panic!("postgres would not start again on {}:\n{log}", self.port);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop(PgStop::Immediate);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
