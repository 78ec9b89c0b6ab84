//! `komek-bench`: the component benchmarks, each beside its baseline in the same run, printed
//! as the tables BENCHMARKS.md quotes (method there).
//!
//!     cargo run --release -p komek-tests --bin komek-bench -- [all | campaign ...] [--secs S]
//!
//! `all` runs the pipeline under a surge too (`komek-load`'s run with the plan BENCHMARKS.md
//! quotes, some fifteen minutes), unless `--no-pipeline`. `--sizes 10000,100000` and `--queries N`
//! shape the nearest-group benchmark.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use komek_tests::bench;

#[global_allocator]
static ALLOCATOR: bench::Counting = bench::Counting;

fn main() -> anyhow::Result<()> {
    let mut which = Vec::new();
    if std::env::args().nth(1).as_deref() == Some("serve") {
        let mut args = std::env::args().skip(2);
        let service = args.next().unwrap_or_default();
        return komek_tests::serve::service(&service, args.collect());
    }
    let mut budget = Duration::from_secs(3);
    let mut pipeline = true;
    let mut sizes = bench::nearest::Sizes {
        sizes: vec![10_000, 100_000, 1_000_000],
        queries: 1_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--secs" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--secs needs a value"))?;
                budget = Duration::from_secs_f64(v.parse()?);
            }
            "--sizes" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--sizes needs a value"))?;
                sizes.sizes = v.split(',').map(str::parse).collect::<Result<_, _>>()?;
            }
            "--queries" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--queries needs a value"))?;
                sizes.queries = v.parse()?;
            }
            "--no-pipeline" => pipeline = false,
            "all" | "campaign" | "nearest" | "maintenance" | "intake" | "pipeline" => {
                which.push(arg)
            }
            other => anyhow::bail!(
                "unknown argument {other}; benchmarks: all, campaign, nearest, maintenance, intake, pipeline"
            ),
        }
    }
    if which.is_empty() {
        which.push("all".into());
    }
    let all = which.iter().any(|w| w == "all");
    let wants = |name: &str| all || which.iter().any(|w| w == name);
    let mut report = String::new();
    if wants("campaign") {
        report += &bench::campaign::run(budget);
    }
    if wants("nearest") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        report += &runtime.block_on(bench::nearest::run(budget, &sizes))?;
    }
    if wants("maintenance") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        report += &runtime.block_on(bench::maintenance::run(budget))?;
    }
    if wants("intake") {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let dir = std::env::temp_dir().join(format!("komek-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        report += &runtime.block_on(komek_tests::load::alone::run(
            std::env::current_exe()?,
            dir,
            budget.max(Duration::from_secs(10)),
            32,
        ));
    }
    if which.iter().any(|w| w == "pipeline") || (all && pipeline) {
        // Benchmark 1 with the plan BENCHMARKS.md quotes (`komek-load run` takes the flags).
        // One worker, as `komek-load run` has (BENCHMARKS.md, step 40).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let options = komek_tests::load::Options {
            exe: std::env::current_exe()?,
            rates: (1..=13).map(|i| f64::from(i) * 100.0).collect(),
            step: Duration::from_secs(20),
            warmup: Duration::from_secs(5),
            drain: Duration::from_secs(30),
            groups: 300,
            seed: 1,
            dir: std::env::temp_dir().join(format!("komek-bench-load-{}", std::process::id())),
            pgbench: Duration::from_secs(15),
            pgbench_clients: 16,
            prime: Duration::from_secs(60),
            prime_rate: 100.0,
            accept: true,
            perf_at: None,
            statements: false,
            pg_settings: Vec::new(),
            follow_all: false,
            pg_socket: true,
        };
        let text = runtime
            .block_on(komek_tests::load::run(options))
            .to_string();
        report += &format!("\n### The whole pipeline under a surge\n\n{text}\n");
    }
    println!("{report}");
    Ok(())
}
