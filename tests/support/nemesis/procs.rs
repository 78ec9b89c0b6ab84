//! The system under test as separate processes: PostgreSQL, nats-server, and five service
//! processes (two of them matching replicas), each reaching PostgreSQL and NATS through a proxy
//! of its own so a fault can cut one service off while the others carry on.
//!
//! As a cluster: a three-node NATS cluster whose streams keep three copies, and two replicas of
//! every service, each reaching PostgreSQL through its proxy and the NATS nodes directly (a
//! client moves to another node when its node goes); matching calls both intake replicas.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use komek_testkit::spawn::{signal, spawn_bound_to_process};
use komek_testkit::{Nats, NatsCluster, PgStop, Postgres, free_port};

use super::proxy::Proxy;

/// The database every service of a nemesis run uses, each in its own schema.
pub const DATABASE: &str = "komek";

/// Secrets of one run, handed to every service through its environment.
#[derive(Clone)]
pub struct Secrets {
    pub admin_key: String,
    pepper: String,
    service_secret: String,
    pii_key: String,
    pii_index: String,
}

impl Secrets {
    pub fn fresh() -> Self {
        Self {
            admin_key: format!("nemesis-admin-{}", uuid::Uuid::new_v4().simple()),
            pepper: crate::random_key(),
            service_secret: crate::random_key(),
            pii_key: crate::random_key(),
            pii_index: crate::random_key(),
        }
    }
}

/// One service process and the proxies in front of its servers.
pub struct Service {
    /// "intake", "triage", "roster", "matching-a" or "matching-b"; as a cluster, every
    /// service with "-a" and "-b".
    pub name: &'static str,
    /// Which service the process runs.
    pub kind: &'static str,
    pub addr: SocketAddr,
    /// Where the process serves its Prometheus metrics.
    pub metrics: SocketAddr,
    pub pg: Proxy,
    /// The proxy to the one NATS server; none in a cluster.
    pub nats: Option<Proxy>,
    env: Vec<(String, String)>,
    exe: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
    /// Exits nobody asked for; the supervisor started the process again each time.
    pub crashes: u32,
}

impl Service {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(&self.exe);
        cmd.args(["serve", self.kind])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(spawn_bound_to_process(cmd, libc::SIGKILL));
        self.paused = false;
    }

    /// SIGKILL, as a crash or an OOM kill would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.paused {
                signal(&child, libc::SIGCONT);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    pub fn start(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    /// SIGSTOP: the process freezes with its connections open, as under a long GC pause or a
    /// starved VM.
    pub fn pause(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGSTOP);
            self.paused = true;
        }
    }

    pub fn resume(&mut self) {
        if let Some(child) = &self.child {
            signal(child, libc::SIGCONT);
        }
        self.paused = false;
    }

    /// Starts the process again when it exited on its own; true when it had.
    pub fn supervise(&mut self) -> bool {
        let exited = match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(Some(_))),
            None => false,
        };
        if exited {
            self.child = None;
            self.crashes += 1;
            self.spawn();
        }
        exited
    }

    /// SIGTERM and wait, for the end of the run.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGCONT);
            signal(&child, libc::SIGTERM);
            for _ in 0..150 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> &Path {
        &self.log
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The NATS of a run: one server, or a three-node cluster.
pub enum NatsServers {
    One(Nats),
    Cluster(NatsCluster),
}

impl NatsServers {
    /// What clients connect to: the server's URL, or every node's separated by commas.
    pub fn urls(&self) -> String {
        match self {
            NatsServers::One(nats) => nats.url(),
            NatsServers::Cluster(cluster) => cluster.urls(),
        }
    }
}

/// Everything a run starts.
pub struct Processes {
    pub pg: Postgres,
    pub nats: NatsServers,
    pub services: Vec<Service>,
    pub secrets: Secrets,
}

const SINGLE: [(&str, &str); 5] = [
    ("roster", "roster"),
    ("intake", "intake"),
    ("triage", "triage"),
    ("matching-a", "matching"),
    ("matching-b", "matching"),
];

/// As a cluster. The order makes a fault that goes round the services hit every kind of
/// service before it hits a second replica of one.
const CLUSTER: [(&str, &str); 8] = [
    ("roster-a", "roster"),
    ("intake-a", "intake"),
    ("triage-a", "triage"),
    ("matching-a", "matching"),
    ("roster-b", "roster"),
    ("intake-b", "intake"),
    ("triage-b", "triage"),
    ("matching-b", "matching"),
];

impl Processes {
    /// Starts the servers and the service processes, which run `exe serve <service>`: five
    /// on one NATS server, or eight on a three-node cluster. Logs go to `dir`.
    pub async fn start(exe: &Path, dir: &Path, tune: &[(&str, &str)], cluster: bool) -> Self {
        let pg = tokio::task::block_in_place(Postgres::start);
        pg.create_database(DATABASE).await;
        let nats = if cluster {
            NatsServers::Cluster(tokio::task::block_in_place(NatsCluster::start))
        } else {
            NatsServers::One(tokio::task::block_in_place(Nats::start))
        };
        let secrets = Secrets::fresh();
        let pg_addr: SocketAddr = ([127, 0, 0, 1], pg.port()).into();
        let layout: &[(&'static str, &'static str)] = if cluster { &CLUSTER } else { &SINGLE };
        let ports: Vec<u16> = layout.iter().map(|_| free_port()).collect();
        let intake_urls: Vec<String> = layout
            .iter()
            .zip(&ports)
            .filter(|((_, kind), _)| *kind == "intake")
            .map(|(_, port)| format!("http://127.0.0.1:{port}"))
            .collect();
        let mut services = Vec::new();
        for (&(name, kind), &port) in layout.iter().zip(&ports) {
            let pg_proxy = Proxy::start(pg_addr).await;
            let (nats_proxy, nats_url) = match &nats {
                NatsServers::One(one) => {
                    let proxy = Proxy::start(([127, 0, 0, 1], one.port()).into()).await;
                    let url = format!("nats://{}", proxy.addr());
                    (Some(proxy), url)
                }
                NatsServers::Cluster(c) => (None, c.urls()),
            };
            let mut env = service_env(
                &secrets,
                kind,
                port,
                pg_proxy.addr(),
                &nats_url,
                &intake_urls,
            );
            let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            env.push(("KOMEK_METRICS_LISTEN".into(), metrics.to_string()));
            if cluster {
                env.push(("KOMEK_STREAM_REPLICAS".into(), "3".into()));
                // How long each start took, phase by phase, for whoever reads a slow one.
                env.push((
                    "RUST_LOG".into(),
                    "warn,komek_runtime::service=info,komek_runtime::grpc=info,komek_runtime::events=info,komek_runtime::inbox=info"
                        .into(),
                ));
            }
            if kind == "matching" {
                for (k, v) in tune {
                    env.push((k.to_string(), v.to_string()));
                }
            }
            let mut service = Service {
                name,
                kind,
                addr: ([127, 0, 0, 1], port).into(),
                metrics,
                pg: pg_proxy,
                nats: nats_proxy,
                env,
                exe: exe.to_path_buf(),
                log: dir.join(format!("{name}.log")),
                child: None,
                paused: false,
                crashes: 0,
            };
            service.spawn();
            services.push(service);
        }
        Self {
            pg,
            nats,
            services,
            secrets,
        }
    }

    /// The addresses of every replica of `kind` ("intake", "matching", ...).
    pub fn addrs(&self, kind: &str) -> Vec<SocketAddr> {
        self.services
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.addr)
            .collect()
    }

    pub fn service(&mut self, name: &str) -> &mut Service {
        self.services.iter_mut().find(|s| s.name == name).unwrap()
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        self.services.iter().find(|s| s.name == name).unwrap().addr
    }

    pub fn pg_url(&self) -> String {
        self.pg.url(DATABASE)
    }

    /// Restarts PostgreSQL: stopped in `mode`, down for `down`, then started on the same data.
    pub fn restart_pg(&mut self, mode: PgStop, down: Duration) {
        tokio::task::block_in_place(|| {
            self.pg.stop(mode);
            std::thread::sleep(down);
            self.pg.start_again();
        });
    }

    /// Kills nats-server with SIGKILL; it comes back after `down` with its store. In a
    /// cluster, node `node` (modulo the cluster's size) does.
    pub fn restart_nats(&mut self, node: usize, down: Duration) {
        tokio::task::block_in_place(|| match &mut self.nats {
            NatsServers::One(nats) => {
                nats.kill();
                std::thread::sleep(down);
                nats.start_again();
            }
            NatsServers::Cluster(cluster) => {
                let node = node % NatsCluster::SIZE;
                cluster.kill_node(node);
                std::thread::sleep(down);
                cluster.start_node(node);
            }
        });
    }
}

/// What a service process of `kind` is started with: where it listens, its database and NATS,
/// the run's secrets, and the intake replicas it calls.
pub fn service_env(
    secrets: &Secrets,
    kind: &str,
    port: u16,
    pg: SocketAddr,
    nats: &str,
    intake_urls: &[String],
) -> Vec<(String, String)> {
    let mut env = common_env(secrets, port, pg, nats);
    match kind {
        "intake" => {
            env.push(("KOMEK_PII__KEY_ID".into(), "k1".into()));
            env.push(("KOMEK_PII__KEYS__K1".into(), secrets.pii_key.clone()));
            env.push(("KOMEK_PII__INDEX_KEY".into(), secrets.pii_index.clone()));
        }
        "triage" | "matching" => {
            env.push(("KOMEK_INTAKE__URL".into(), intake_urls.join(",")));
        }
        _ => {}
    }
    env
}

fn common_env(secrets: &Secrets, port: u16, pg: SocketAddr, nats: &str) -> Vec<(String, String)> {
    [
        ("KOMEK_LISTEN", format!("127.0.0.1:{port}")),
        (
            "KOMEK_DATABASE_URL",
            format!("postgres://postgres@{pg}/{DATABASE}"),
        ),
        ("KOMEK_NATS_URL", nats.to_string()),
        ("KOMEK_DATABASE_MAX_CONNECTIONS", "8".into()),
        ("KOMEK_SHUTDOWN_GRACE_SECS", "5".into()),
        ("KOMEK_LOG__FILTER", "warn".into()),
        ("KOMEK_AUTH__KEY_PEPPER", secrets.pepper.clone()),
        ("KOMEK_AUTH__SERVICE_SECRET", secrets.service_secret.clone()),
        ("KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY", secrets.admin_key.clone()),
        // The fleet's volunteers each work several jobs at a time, faster than people do.
        (
            "KOMEK_AUTH__RATE_LIMITS__VOLUNTEER__PER_SECOND",
            "100".into(),
        ),
        ("KOMEK_AUTH__RATE_LIMITS__VOLUNTEER__BURST", "200".into()),
        ("KOMEK_AUTH__RATE_LIMITS__ADMIN__PER_SECOND", "500".into()),
        ("KOMEK_AUTH__RATE_LIMITS__ADMIN__BURST", "1000".into()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
