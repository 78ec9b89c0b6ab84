//! `komek-fuzz`: fuzzes every service's decode-and-validate paths (see `support/fuzzing.rs`).
//!
//!     cargo run --release -p komek-tests --bin komek-fuzz -- [--cases N] [--seed S] [--target NAME]
//!
//! Runs N cases (default 1,000,000) through each target, prints cases per second, and keeps any
//! input that made a target panic under `tests/fuzz/regressions/`, where `fuzz_smoke` replays it
//! on every test run. Exits 1 when it found something.

use std::path::PathBuf;
use std::time::Instant;

use komek_tests::fuzzing::{run, targets};

fn main() {
    let mut cases: u64 = 1_000_000;
    let mut seed: u64 = 0x006b_6f6d_656b;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--cases" => cases = value().parse().expect("--cases takes a number"),
            "--seed" => seed = value().parse().expect("--seed takes a number"),
            "--target" => only = Some(value()),
            other => panic!("unknown argument {other}; see the file's first lines"),
        }
    }
    // Panics are the findings: reported once, below, not as a backtrace per case.
    std::panic::set_hook(Box::new(|_| {}));
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut found = 0;
    println!(
        "{:<30} {:>10} {:>9} {:>12}  result",
        "target", "cases", "seconds", "cases/s"
    );
    for target in targets() {
        if only.as_deref().is_some_and(|o| o != target.0) {
            continue;
        }
        let started = Instant::now();
        let finding = run(target, cases, seed);
        let secs = started.elapsed().as_secs_f64();
        let result = match &finding {
            None => "no panic".to_string(),
            Some(f) => {
                found += 1;
                std::fs::create_dir_all(&dir).expect("the regressions folder");
                let file = dir.join(format!("{}-{seed}.bin", f.target));
                std::fs::write(&file, &f.input).expect("keeping the input");
                format!("PANIC {:?}; kept as {}", f.message, file.display())
            }
        };
        println!(
            "{:<30} {:>10} {:>9.1} {:>12.0}  {result}",
            target.0,
            cases,
            secs,
            cases as f64 / secs
        );
    }
    if found > 0 {
        std::process::exit(1);
    }
}
