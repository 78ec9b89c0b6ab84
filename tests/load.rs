//! `komek-load`: the whole pipeline under a surge (see `support/load/mod.rs`; method and figures
//! in BENCHMARKS.md).
//!
//!     cargo run --release -p komek-tests --bin komek-load -- run \
//!         [--rates 100,200,400] [--step-secs 20] [--warmup-secs 5] [--drain-secs 30]
//!         [--groups 300] [--seed S] [--pgbench-secs 15] [--pgbench-clients 16]
//!         [--prime-secs 60] [--prime-rate 100] [--no-accept] [--follow-all] [--pg-tcp] [--perf-at RATE] [--statements] [--report FILE] [--dir DIR]
//!
//! The same executable runs the services of the run: `komek-load serve <service>`.

use std::path::PathBuf;
use std::time::Duration;

use komek_tests::load::{Options, run};

// Under the same load the services spent a fifth less CPU per call with mimalloc than with
// glibc's allocator (BENCHMARKS.md, the pipeline's step 7).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("serve") => {
            let service = args.next().unwrap_or_default();
            komek_tests::serve::service(&service, args.collect())
        }
        Some("run") => load(args.collect()),
        _ => anyhow::bail!("usage: komek-load run [flags] | komek-load serve <service>"),
    }
}

fn load(args: Vec<String>) -> anyhow::Result<()> {
    let mut options = Options {
        exe: std::env::current_exe()?,
        rates: vec![100.0, 200.0, 400.0],
        step: Duration::from_secs(20),
        warmup: Duration::from_secs(5),
        drain: Duration::from_secs(30),
        groups: 300,
        seed: 1,
        dir: std::env::temp_dir().join(format!("komek-load-{}", std::process::id())),
        pgbench: Duration::from_secs(15),
        pgbench_clients: 16,
        accept: true,
        prime: Duration::from_secs(60),
        prime_rate: 100.0,
        perf_at: None,
        statements: false,
        pg_settings: Vec::new(),
        follow_all: false,
        pg_socket: true,
    };
    let mut report_file: Option<PathBuf> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))
        };
        let secs = |v: String| -> anyhow::Result<Duration> { Ok(Duration::from_secs(v.parse()?)) };
        match arg.as_str() {
            "--rates" => {
                options.rates = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--step-secs" => options.step = secs(value()?)?,
            "--warmup-secs" => options.warmup = secs(value()?)?,
            "--drain-secs" => options.drain = secs(value()?)?,
            "--groups" => options.groups = value()?.parse()?,
            "--seed" => options.seed = value()?.parse()?,
            "--pgbench-secs" => options.pgbench = secs(value()?)?,
            "--pgbench-clients" => options.pgbench_clients = value()?.parse()?,
            "--prime-secs" => options.prime = secs(value()?)?,
            "--prime-rate" => options.prime_rate = value()?.parse()?,
            "--no-accept" => options.accept = false,
            "--statements" => options.statements = true,
            "--follow-all" => options.follow_all = true,
            "--pg-tcp" => options.pg_socket = false,
            "--pg-setting" => options.pg_settings.push(value()?),
            "--perf-at" => options.perf_at = Some(value()?.parse()?),
            "--report" => report_file = Some(value()?.into()),
            "--dir" => options.dir = value()?.into(),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    if options.rates.iter().any(|r| *r <= 0.0) {
        anyhow::bail!("--rates: calls per second, above zero");
    }
    // One worker, as each service runs (TOKIO_WORKER_THREADS=1): on the two cores the
    // generator shares with everything it measures, a second worker is a second thread to
    // wake on the other core (BENCHMARKS.md, step 40).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(options));
    let text = report.to_string();
    println!("{text}");
    if let Some(file) = report_file {
        std::fs::write(file, &text)?;
    }
    Ok(())
}
