//! Every input the fuzzer ever found a panic with still passes, and every fuzz target survives a
//! short run of fresh cases. The long runs are `komek-fuzz` (figures in BENCHMARKS.md).

use std::path::PathBuf;
use std::time::Duration;

use komek_tests::fuzzing::{attempt, regressions, run_for, targets};

#[test]
fn kept_regressions_no_longer_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    for (file, input) in regressions(&dir) {
        let target = targets()
            .into_iter()
            .find(|t| file.starts_with(&format!("{}-", t.0)))
            .unwrap_or_else(|| panic!("{file} names no target"));
        assert_eq!(attempt(target, &input), Ok(()), "{file}");
    }
}

#[test]
fn every_target_survives_a_short_run() {
    std::panic::set_hook(Box::new(|_| {}));
    for target in targets() {
        // Up to 5,000 cases, or three seconds for the slow ones (classifying long notes).
        let finding = run_for(target, 5_000, Duration::from_secs(3), 20261130);
        assert!(finding.is_none(), "{finding:?}");
    }
}
