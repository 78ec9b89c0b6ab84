//! `komek-nemesis`: the crash, pause and partition run (see `support/nemesis/mod.rs`).
//!
//!     cargo run --release -p komek-tests --bin komek-nemesis -- run \
//!         [--requests N] [--per-second R] [--groups G] [--seed S] [--report FILE] [--dir DIR]
//!         [--cluster]
//!
//! `--cluster` runs a three-node NATS cluster (three copies of each stream) and two replicas of
//! every service, and its faults are killing a service replica and killing a NATS node.
//! Prints the report (and writes it to FILE); exits 1 when the checker found anything.
//! `deploy/nemesis.sh` runs the long run and keeps its report in the repository.
//!
//! The same executable runs the services of the run: `komek-nemesis serve <service>` is what
//! each service's own binary does (configuration from KOMEK_* variables), so a run needs no
//! other build.

use std::path::PathBuf;

use komek_tests::nemesis::faults::Fault;
use komek_tests::nemesis::{Options, run};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve") => {
            let service = args.next().unwrap_or_default();
            komek_tests::serve::service(&service, args.collect())
        }
        Some("run") => {
            let rest: Vec<String> = args.collect();
            run_nemesis(rest)
        }
        _ => anyhow::bail!("usage: komek-nemesis run [flags] | komek-nemesis serve <service>"),
    }
}

fn run_nemesis(args: Vec<String>) -> anyhow::Result<()> {
    let mut options = Options {
        exe: std::env::current_exe()?,
        requests: 10_000,
        per_second: 15.0,
        faults: Fault::ALL.to_vec(),
        quiet_ms: (1500, 3000),
        groups: 24,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
        dir: std::env::temp_dir().join(format!("komek-nemesis-{}", std::process::id())),
        cluster: false,
    };
    let mut report_file: Option<PathBuf> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--requests" => options.requests = value()?.parse()?,
            "--per-second" => options.per_second = value()?.parse()?,
            "--groups" => options.groups = value()?.parse()?,
            "--seed" => options.seed = value()?.parse()?,
            "--dir" => options.dir = value()?.into(),
            "--report" => report_file = Some(value()?.into()),
            "--cluster" => {
                options.cluster = true;
                options.faults = vec![Fault::KillService, Fault::RestartNats];
            }
            other => anyhow::bail!("unknown argument {other}; see the file's first lines"),
        }
    }
    eprintln!(
        "komek-nemesis: {} requests at {}/s; logs and history in {}",
        options.requests,
        options.per_second,
        options.dir.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(options));
    let text = report.to_string();
    println!("{text}");
    if let Some(file) = report_file {
        std::fs::write(file, &text)?;
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}
