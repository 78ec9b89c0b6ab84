//! How triage does on labelled call notes in Kazakh, Russian, English and mixed text. Prints
//! tables per category and per language and confusion matrices; run with `--nocapture`.
//!
//! `corpus.tsv` is the training corpus: the model is cross-validated on it (each note decided
//! by a model trained without it and its neighbours). `holdout.tsv` holds notes written before
//! any tuning on them (see its protocol); the shipped model and rules are measured on it.

use komek_core::textmodel::Training;
use komek_core::triage::{
    Evaluation, Input, LabelledNote, RuleSet, Triage, TriageModel, cross_validate, read_corpus,
};
use komek_core::{Category, Priority};

fn load(name: &str) -> Vec<LabelledNote> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    read_corpus(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn shipped_rules() -> RuleSet {
    RuleSet::from_toml(komek_triage::DEFAULT_RULES).expect("the shipped rules are valid")
}

fn shipped_model() -> TriageModel {
    TriageModel::from_text(komek_triage::DEFAULT_MODEL).expect("the shipped model is valid")
}

fn decide(triage: &Triage, notes: &[LabelledNote]) -> Evaluation {
    let decisions: Vec<_> = notes
        .iter()
        .map(|n| {
            triage.classify(&Input {
                description: &n.note,
                ..Default::default()
            })
        })
        .collect();
    Evaluation::new(notes, &decisions)
}

fn show(e: &Evaluation, title: &str) {
    println!("\n{}", e.report(title));
    for m in &e.misses {
        println!("  {m}");
    }
}

#[test]
fn corpus_covers_every_category_priority_and_language() {
    let notes = load("corpus.tsv");
    assert!(notes.len() >= 1500, "{} notes", notes.len());
    for c in Category::ALL {
        let n = notes.iter().filter(|k| k.category == *c).count();
        assert!(n >= 100, "{n} {c} notes");
    }
    for p in Priority::ALL {
        assert!(notes.iter().any(|k| k.priority == *p), "no {p} note");
    }
    for l in ["kk", "ru", "en", "mixed"] {
        let n = notes.iter().filter(|k| k.language == l).count();
        assert!(n >= 100, "{n} {l} notes");
    }
    let held = load("holdout.tsv");
    assert!(held.len() >= 150, "{} held-out notes", held.len());
    for h in &held {
        assert!(
            !notes.iter().any(|n| n.note == h.note),
            "holdout.tsv:{} is also in the corpus",
            h.line
        );
    }
}

/// The rules alone keep doing what they were tuned to do: the corpus's first notes, which
/// they were written against, before the corpus grew for the model.
#[test]
fn rules_alone_still_classify_the_notes_they_were_tuned_on() {
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/corpus.tsv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let grown_at = text
        .lines()
        .position(|l| l.starts_with("# ---- Added"))
        .expect("the corpus marks where it grew")
        + 1;
    let tuned: Vec<LabelledNote> = load("corpus.tsv")
        .into_iter()
        .filter(|n| n.line < grown_at)
        .collect();
    assert!(tuned.len() >= 200, "{} notes", tuned.len());
    let e = decide(&Triage::new(shipped_rules(), None), &tuned);
    show(
        &e,
        &format!(
            "rules {} alone, on the notes they were tuned on",
            shipped_rules().version()
        ),
    );
    assert!(
        e.all.category_rate() >= 0.95,
        "category {:.3}",
        e.all.category_rate()
    );
    assert!(
        e.all.priority_rate() >= 0.90,
        "priority {:.3}",
        e.all.priority_rate()
    );
    let whole = decide(&Triage::new(shipped_rules(), None), &load("corpus.tsv"));
    println!(
        "\n{}",
        whole.report("rules alone, whole corpus (for comparison)")
    );
}

/// The model with the rules, 10-fold cross-validated: no note is decided by a model that saw
/// it, or a version of it in another language written next to it.
#[test]
fn model_and_rules_cross_validated_on_the_corpus() {
    let notes = load("corpus.tsv");
    let decisions = cross_validate(&shipped_rules(), &notes, 10, &Training::default());
    let e = Evaluation::new(&notes, &decisions);
    show(
        &e,
        "model and rules, 10-fold cross-validation on corpus.tsv",
    );
    assert!(
        e.all.category_rate() >= 0.90,
        "category {:.3}",
        e.all.category_rate()
    );
    assert!(
        e.all.priority_rate() >= 0.88,
        "priority {:.3}",
        e.all.priority_rate()
    );
    let critical = notes
        .iter()
        .filter(|n| n.priority == Priority::Critical)
        .count();
    assert!(
        e.critical_below_high.len() * 100 <= critical,
        "{} of {critical} critical notes decided below high: lines {:?}",
        e.critical_below_high.len(),
        e.critical_below_high
    );
    for (category, t) in &e.by_category {
        assert!(
            t.category_rate() >= 0.85,
            "{category}: {:.3}",
            t.category_rate()
        );
    }
}

/// The shipped model and rules on notes nobody tuned anything on.
#[test]
fn shipped_model_and_rules_on_the_hold_out() {
    let held = load("holdout.tsv");
    let rules_only = decide(&Triage::new(shipped_rules(), None), &held);
    println!("\n{}", rules_only.report("holdout.tsv, rules alone"));
    let e = decide(&Triage::new(shipped_rules(), Some(shipped_model())), &held);
    show(
        &e,
        &format!("holdout.tsv, model {} and rules", shipped_model().version()),
    );
    assert!(
        e.all.category_rate() >= 0.95,
        "category {:.3}",
        e.all.category_rate()
    );
    assert!(
        e.all.priority_rate() >= 0.90,
        "priority {:.3}",
        e.all.priority_rate()
    );
    assert!(
        e.critical_below_high.is_empty(),
        "critical notes decided below high: lines {:?}",
        e.critical_below_high
    );
}

/// The shipped model was trained on the corpus as it is: a corpus change without retraining
/// would leave the model behind its data.
#[test]
fn shipped_model_was_trained_on_the_current_corpus() {
    let notes = load("corpus.tsv");
    let about = shipped_model().about().to_string();
    assert!(
        about.contains(&format!(" on {} notes ", notes.len())),
        "model: \"{about}\", corpus: {} notes; retrain with `komek-triage-model train`",
        notes.len()
    );
}
