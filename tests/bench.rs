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

fn main() -> anyhow::Result<()> {
    let mut which = Vec::new();
    let mut budget = Duration::from_secs(3);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--secs" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--secs needs a value"))?;
                budget = Duration::from_secs_f64(v.parse()?);
            }
            "all" | "campaign" => which.push(arg),
            other => anyhow::bail!("unknown argument {other}; benchmarks: all, campaign"),
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
    println!("{report}");
    Ok(())
}
