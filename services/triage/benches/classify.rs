//! What triage costs per note: the statistical model with the rules against the rules alone
//! (the baseline, in the same run), over every note of the corpus and the hold-out, as
//! percentiles of single calls; and what loading the shipped model costs against reading the
//! rule file.
//!
//! `cargo bench -p komek-triage --bench classify`; method and figures in BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use komek_core::triage::{Input, RuleSet, Triage, TriageModel, read_corpus};

/// Passes over all notes; the first is a warm-up and is not counted.
const PASSES: usize = 6;
const LOADS: usize = 15;

fn notes() -> Vec<String> {
    let mut out = Vec::new();
    for name in ["corpus.tsv", "holdout.tsv"] {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        out.extend(read_corpus(&text).unwrap().into_iter().map(|n| n.note));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Per-call times of `triage` over every note, after one warm-up pass.
fn calls(triage: &Triage, notes: &[String]) -> Vec<Duration> {
    let mut out = Vec::with_capacity(notes.len() * (PASSES - 1));
    for pass in 0..PASSES {
        for n in notes {
            let started = Instant::now();
            black_box(triage.classify(&Input {
                description: black_box(n),
                ..Default::default()
            }));
            if pass > 0 {
                out.push(started.elapsed());
            }
        }
    }
    out.sort();
    out
}

fn median_of(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let notes = notes();
    let rules = RuleSet::from_toml(komek_triage::DEFAULT_RULES).unwrap();
    let model = TriageModel::from_text(komek_triage::DEFAULT_MODEL).unwrap();
    let both = Triage::new(rules.clone(), Some(model));
    let alone = Triage::new(rules, None);

    let base = calls(&alone, &notes);
    let with_model = calls(&both, &notes);
    println!(
        "classify, {} notes × {} passes ({} calls each)",
        notes.len(),
        PASSES - 1,
        base.len()
    );
    println!(
        "  {:<18} {:>9} {:>9} {:>9} {:>9}",
        "µs per note", "p50", "p90", "p99", "max"
    );
    for (label, t) in [("rules alone", &base), ("model and rules", &with_model)] {
        println!(
            "  {:<18} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            label,
            micros(percentile(t, 0.5)),
            micros(percentile(t, 0.9)),
            micros(percentile(t, 0.99)),
            micros(*t.last().unwrap())
        );
    }
    println!(
        "  ratio at p50 {:.2}, at p99 {:.2}",
        micros(percentile(&with_model, 0.5)) / micros(percentile(&base, 0.5)),
        micros(percentile(&with_model, 0.99)) / micros(percentile(&base, 0.99))
    );

    let rule_loads = median_of(
        (0..LOADS)
            .map(|_| {
                let started = Instant::now();
                black_box(RuleSet::from_toml(black_box(komek_triage::DEFAULT_RULES)).unwrap());
                started.elapsed()
            })
            .collect(),
    );
    let model_loads = median_of(
        (0..LOADS)
            .map(|_| {
                let started = Instant::now();
                black_box(TriageModel::from_text(black_box(komek_triage::DEFAULT_MODEL)).unwrap());
                started.elapsed()
            })
            .collect(),
    );
    println!(
        "load, median of {LOADS}: rule file {:.1} ms, model file ({} KiB) {:.1} ms, ratio {:.1}",
        rule_loads.as_secs_f64() * 1e3,
        komek_triage::DEFAULT_MODEL.len() / 1024,
        model_loads.as_secs_f64() * 1e3,
        model_loads.as_secs_f64() / rule_loads.as_secs_f64()
    );
}
