//! `komek-bench`: the component benchmarks, each beside its baseline in the same run, printed
//! as the tables BENCHMARKS.md quotes (method there).
//!
//!     cargo run --release -p komek-tests --bin komek-bench -- [all | campaign ...] [--secs S]
//!
//! The pipeline under a surge is `komek-load`; `all` runs it too, with the plan of
//! BENCHMARKS.md, unless `--no-pipeline`.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use komek_tests::bench;

#[global_allocator]
static ALLOCATOR: bench::Counting = bench::Counting;

fn main() -> anyhow::Result<()> {
    let mut which = Vec::new();
    let mut budget = Duration::from_secs(3);
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
            "all" | "campaign" | "nearest" | "maintenance" => which.push(arg),
            other => anyhow::bail!(
                "unknown argument {other}; benchmarks: all, campaign, nearest, maintenance"
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
    println!("{report}");
    Ok(())
}
