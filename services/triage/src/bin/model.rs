//! `komek-triage-model`: trains, evaluates and learns from dispatchers for triage's
//! statistical model, offline.
//!
//! ```text
//! komek-triage-model train    [--corpus FILE]... [--version V] [--out FILE] [training]
//! komek-triage-model evaluate [--corpus FILE]... [--folds K] [--holdout FILE] [--model FILE] [--misses]
//! komek-triage-model explain NOTE...                 (the shipped model and rules)
//! komek-triage-model export-overrides [--out FILE] [--database-url URL]
//! komek-triage-model missed-words [--limit N] [--database-url URL]
//! ```
//!
//! Training settings (defaults in `komek_core::textmodel::Training`): `--epochs N`,
//! `--learning-rate X`, `--l2 X`, `--min-notes N`.
//!
//! Paths default to the files in the repository, relative to its root. The database commands
//! read triage's settings like the service does (`KOMEK_DATABASE_URL`, `--config FILE`, or
//! flags such as `--database-url`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use komek_core::textmodel::Training;
use komek_core::triage::{
    Evaluation, Input, LabelledNote, RuleSet, Triage, TriageModel, cross_validate, learning,
    read_corpus,
};

const CORPUS: &str = "services/triage/tests/data/corpus.tsv";
const HOLDOUT: &str = "services/triage/tests/data/holdout.tsv";
const MODEL: &str = "services/triage/model/triage.model";

struct Args {
    command: String,
    corpora: Vec<PathBuf>,
    out: Option<PathBuf>,
    version: Option<String>,
    folds: usize,
    holdout: Option<PathBuf>,
    model: Option<PathBuf>,
    misses: bool,
    limit: usize,
    training: Training,
    rest: Vec<String>,
}

fn parse() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let command = it.next().unwrap_or_default();
    let mut a = Args {
        command,
        corpora: Vec::new(),
        out: None,
        version: None,
        folds: 10,
        holdout: None,
        model: None,
        misses: false,
        limit: 30,
        training: Training::default(),
        rest: Vec::new(),
    };
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--corpus" => a.corpora.push(value("--corpus")?.into()),
            "--out" => a.out = Some(value("--out")?.into()),
            "--version" => a.version = Some(value("--version")?),
            "--folds" => a.folds = value("--folds")?.parse().context("--folds: a number")?,
            "--holdout" => a.holdout = Some(value("--holdout")?.into()),
            "--model" => a.model = Some(value("--model")?.into()),
            "--limit" => a.limit = value("--limit")?.parse().context("--limit: a number")?,
            "--misses" => a.misses = true,
            "--epochs" => a.training.epochs = value("--epochs")?.parse().context("--epochs")?,
            "--learning-rate" => {
                a.training.learning_rate = value("--learning-rate")?
                    .parse()
                    .context("--learning-rate")?
            }
            "--l2" => a.training.l2 = value("--l2")?.parse().context("--l2")?,
            "--min-notes" => {
                a.training.min_notes = value("--min-notes")?.parse().context("--min-notes")?
            }
            _ => a.rest.push(arg),
        }
    }
    if a.corpora.is_empty() {
        a.corpora.push(CORPUS.into());
    }
    Ok(a)
}

fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<LabelledNote>> {
    let mut notes = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
        notes.extend(read_corpus(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?);
    }
    Ok(notes)
}

fn rules() -> RuleSet {
    RuleSet::from_toml(komek_triage::DEFAULT_RULES).expect("the shipped rules are valid")
}

fn evaluate(triage: &Triage, notes: &[LabelledNote]) -> Evaluation {
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

fn print(e: &Evaluation, title: &str, misses: bool) {
    println!("{}", e.report(title));
    if misses {
        for m in &e.misses {
            println!("  {m}");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = parse()?;
    match a.command.as_str() {
        "train" => {
            let notes = load(&a.corpora)?;
            let version = a.version.context("--version: the new model's version")?;
            let files: Vec<String> = a.corpora.iter().map(|p| p.display().to_string()).collect();
            let about = format!(
                "trained {} on {} notes of {}",
                chrono::Utc::now().format("%Y-%m-%d"),
                notes.len(),
                files.join(", ")
            );
            let model = komek_core::triage::model::train(&notes, &a.training, &version, &about);
            let out = a.out.unwrap_or_else(|| MODEL.into());
            std::fs::write(&out, model.to_text()).with_context(|| out.display().to_string())?;
            println!(
                "{}: model {version}, {} features; {about}",
                out.display(),
                model.len()
            );
        }
        "evaluate" => {
            let notes = load(&a.corpora)?;
            let rules = rules();
            let rules_only = Triage::new(rules.clone(), None);
            print(
                &evaluate(&rules_only, &notes),
                &format!("corpus, rules {} alone", rules.version()),
                false,
            );
            let decisions = cross_validate(&rules, &notes, a.folds, &a.training);
            print(
                &Evaluation::new(&notes, &decisions),
                &format!(
                    "corpus, {}-fold cross-validation of model and rules",
                    a.folds
                ),
                a.misses,
            );
            if let Some(path) = &a.holdout {
                let held = load(std::slice::from_ref(path))?;
                let model = match &a.model {
                    Some(m) => TriageModel::from_text(&std::fs::read_to_string(m)?)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", m.display()))?,
                    None => komek_core::triage::model::train(&notes, &a.training, "evaluation", ""),
                };
                print(
                    &evaluate(&rules_only, &held),
                    &format!("{}, rules alone", path.display()),
                    false,
                );
                print(
                    &evaluate(&Triage::new(rules, Some(model)), &held),
                    &format!("{}, model and rules", path.display()),
                    a.misses,
                );
            }
        }
        "explain" => {
            let triage = Triage::new(
                rules(),
                Some(TriageModel::from_text(komek_triage::DEFAULT_MODEL)?),
            );
            for note in &a.rest {
                let d = triage.classify(&Input {
                    description: note,
                    ..Default::default()
                });
                println!(
                    "{note}\n  {}/{}{} (confidence {:.2})",
                    d.category,
                    d.priority,
                    if d.unclassified { ", unclassified" } else { "" },
                    d.confidence
                );
                for f in &d.fired_rules {
                    println!(
                        "  {} [{}] {}",
                        f.rule_id,
                        f.matched_terms.join(", "),
                        f.explanation
                    );
                }
            }
        }
        "export-overrides" | "missed-words" => {
            let config: komek_triage::Config =
                komek_runtime::config::load(komek_triage::Config::default(), a.rest.clone())?;
            let corrected =
                komek_triage::learning::corrected(&config.base.database_url, None).await?;
            if a.command == "export-overrides" {
                let mut out = format!(
                    "# Dispatchers' overrides exported {} from triage's database: {} notes.\n\
                     # Language is guessed; check it, then add the lines to the corpus.\n",
                    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
                    corrected.len()
                );
                for c in &corrected {
                    out.push_str(&learning::corpus_line(c));
                    out.push('\n');
                }
                match &a.out {
                    Some(path) => {
                        std::fs::write(path, out).with_context(|| path.display().to_string())?;
                        println!("{}: {} overridden notes", path.display(), corrected.len());
                    }
                    None => print!("{out}"),
                }
            } else {
                let triage = config.triage()?;
                let missed = learning::missed_words(&triage, &corrected, a.limit);
                println!(
                    "{} overridden notes; words neither model {} nor rules {} tie to the category chosen:",
                    corrected.len(),
                    triage.model().map_or("(none)", |m| m.version()),
                    triage.rules().version()
                );
                println!(
                    "  {:<20} {:>5} {:>8}  categories  example",
                    "word", "notes", "weight"
                );
                for m in missed {
                    let cats: Vec<&str> = m.categories.iter().map(|c| c.slug()).collect();
                    println!(
                        "  {:<20} {:>5} {:>8.3}  {}  {}",
                        m.word,
                        m.notes,
                        m.model_weight,
                        cats.join(","),
                        m.example
                    );
                }
            }
        }
        other => bail!(
            "unknown command {other:?}: train, evaluate, export-overrides or missed-words \
             (default files: {CORPUS}, {HOLDOUT}, {MODEL})"
        ),
    }
    Ok(())
}
