//! Triage's decision: the statistical model and the rules together, each where it is best.
//!
//! - The operator's values always win.
//! - A closure rule (a person found, help no longer needed, an offer to give) makes the note
//!   `other` at the rule's priority: these notes mention needs they no longer have.
//! - The category is the model's when it is sure; when it is not, the rules' category if the
//!   model finds it plausible; otherwise the note is *unclassified*: the model's best guess,
//!   flagged for a dispatcher, at least `high` so it is looked at soon.
//! - The priority is the model's, lifted (never lowered) by the rules: a life-safety word
//!   that is not negated, a frost or a vulnerable age in a search, a priority rule of the
//!   category. When the model gives `critical` a real chance, the note is at least `high`.
//!
//! Every part that decided is in `fired_rules`: `model.category` and `model.priority` with the
//! words that weighed most, the rules with their terms, `numbers.*` with what was read.

use crate::text;
use crate::textmodel::Training;
use crate::{Category, Priority};

use super::model::{LabelledNote, TriageModel};
use super::numbers::{self, HARD_FROST};
use super::{Decision, FiredRule, Input, Note, RuleSet, operator_rule};

/// The model decides the category alone at or above this probability.
pub const CONFIDENT: f64 = 0.5;
/// Below [`CONFIDENT`], the rules' category is taken if the model gives it at least this.
pub const PLAUSIBLE: f64 = 0.15;
/// Below [`CONFIDENT`] and without the rules, the model's guess stands at or above this
/// probability; under it the note is unclassified.
pub const UNSURE: f64 = 0.35;
/// A `critical` probability at or above this keeps the note at `high` or above.
pub const CRITICAL_RISK: f64 = 0.25;
/// How many words explain a model decision.
const WORDS: usize = 3;

/// The rules and, when one is loaded, the model.
#[derive(Debug, Clone)]
pub struct Triage {
    rules: RuleSet,
    model: Option<TriageModel>,
}

fn percent(p: f64) -> String {
    format!("{:.0}%", 100.0 * p)
}

impl Triage {
    pub fn new(rules: RuleSet, model: Option<TriageModel>) -> Self {
        Self { rules, model }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn model(&self) -> Option<&TriageModel> {
        self.model.as_ref()
    }

    /// Classifies a call note.
    pub fn classify(&self, input: &Input<'_>) -> Decision {
        let Some(model) = &self.model else {
            return self.rules.classify(input);
        };
        // The note is split into words once, for the rules, the numbers and the model.
        let note = Note::of_tokens(text::tokens(input.description));
        let numbers = numbers::read_with_tokens(input.description, note.tokens());
        let reading = model.categories_of(note.tokens(), &numbers);
        let mut fired = Vec::new();
        let closure = if input.operator_category.is_none() {
            self.rules.closure(&note)
        } else {
            None
        };

        let (category, confidence, unclassified) = if let Some(c) = input.operator_category {
            fired.push(operator_rule("operator.category"));
            (c, 1.0, false)
        } else if let Some((_, rule)) = &closure {
            fired.push(rule.clone());
            (Category::Other, 1.0, false)
        } else {
            let (guess, p) = reading.best();
            // Scoring every category's terms is most of the rules' cost; only an unsure model
            // needs it.
            let by_rules = || self.rules.category_scores(&note).into_iter().next();
            if p >= CONFIDENT {
                fired.push(FiredRule {
                    rule_id: "model.category".into(),
                    matched_terms: model.words_for_category(&reading, guess, WORDS),
                    explanation: format!("The model reads the note as {guess} ({}).", percent(p)),
                });
                (guess, p, false)
            } else if let Some(s) =
                by_rules().filter(|s| reading.probability_of(s.category) >= PLAUSIBLE)
            {
                let mut rule = s.fired.clone();
                rule.explanation = format!(
                    "{} The model was unsure ({guess} {}), and finds this plausible ({}).",
                    rule.explanation,
                    percent(p),
                    percent(reading.probability_of(s.category))
                );
                fired.push(rule);
                (s.category, reading.probability_of(s.category), false)
            } else if p >= UNSURE {
                fired.push(FiredRule {
                    rule_id: "model.category".into(),
                    matched_terms: model.words_for_category(&reading, guess, WORDS),
                    explanation: format!(
                        "The model reads the note as {guess} ({}); the rules found nothing to add.",
                        percent(p)
                    ),
                });
                (guess, p, false)
            } else {
                fired.push(FiredRule {
                    rule_id: "triage.unclassified".into(),
                    matched_terms: model.words_for_category(&reading, guess, WORDS),
                    explanation: format!(
                        "Unsure: the model's best guess is {guess} ({}) and the rules do not \
                         confirm it. A dispatcher decides; kept at high at least meanwhile.",
                        percent(p)
                    ),
                });
                (guess, p, true)
            }
        };

        let priority = if let Some(p) = input.operator_priority {
            fired.push(operator_rule("operator.priority"));
            p
        } else if let Some((p, _)) = closure {
            p
        } else {
            let reading = model.priorities(&reading, category);
            let (mut priority, p) = reading.best();
            fired.push(FiredRule {
                rule_id: "model.priority".into(),
                matched_terms: model.words_for_priority(&reading, priority, WORDS),
                explanation: format!("The model reads the note as {priority} ({}).", percent(p)),
            });
            // Rules only lift: a low-priority rule ("не срочно") is a hint the model has
            // already read, while a missed life-safety word is the mistake that costs most.
            // A rule that agrees with the model is shown too: it is part of why.
            let model_said = priority;
            for (rule_priority, rule) in self
                .rules
                .priority_rules(&note, category)
                .into_iter()
                .chain(number_rules(category, &numbers))
            {
                if rule_priority >= model_said {
                    priority = priority.max(rule_priority);
                    fired.push(rule);
                }
            }
            let critical = reading.probability_of(Priority::Critical);
            if critical >= CRITICAL_RISK && priority < Priority::High {
                priority = Priority::High;
                fired.push(FiredRule {
                    rule_id: "model.critical_risk".into(),
                    matched_terms: model.words_for_priority(&reading, Priority::Critical, WORDS),
                    explanation: format!(
                        "The model gives critical {}: kept at high at least.",
                        percent(critical)
                    ),
                });
            }
            if unclassified && priority < Priority::High {
                priority = Priority::High;
            }
            priority
        };

        Decision {
            category,
            priority,
            required_skills: self.rules.skills_for(category),
            confidence,
            fired_rules: fired,
            rules_version: self.rules.version().to_string(),
            model_version: model.version().to_string(),
            unclassified,
        }
    }
}

/// Priority rules on the numbers of a note.
fn number_rules(category: Category, n: &numbers::Numbers) -> Vec<(Priority, FiredRule)> {
    let mut out = Vec::new();
    if category == Category::SearchOperation {
        if let Some(t) = n.coldest().filter(|t| *t <= -10) {
            out.push((
                Priority::Critical,
                FiredRule {
                    rule_id: "numbers.missing_in_frost".into(),
                    matched_terms: vec![format!("{t}°")],
                    explanation: "Someone is missing in a frost.".into(),
                },
            ));
        }
        if let Some(age) = n.vulnerable_age() {
            out.push((
                Priority::Critical,
                FiredRule {
                    rule_id: "numbers.missing_vulnerable_age".into(),
                    matched_terms: vec![age.to_string()],
                    explanation: "A missing child or elderly person, by the age said.".into(),
                },
            ));
        }
    }
    if matches!(category, Category::FuelDelivery | Category::VeteranAid)
        && let Some(t) = n.coldest().filter(|t| *t <= HARD_FROST)
    {
        out.push((
            Priority::High,
            FiredRule {
                rule_id: "numbers.hard_frost".into(),
                matched_terms: vec![format!("{t}°")],
                explanation: "A hard frost is said: heating cannot wait.".into(),
            },
        ));
    }
    out
}

/// Notes that sit within this many lines of each other share a fold in cross-validation: a
/// note and its versions in other languages are written side by side, and a model must not
/// be judged on the translation of a note it was trained on.
const FOLD_BLOCK: usize = 8;

/// K-fold cross-validation: every note decided by a model trained without its fold, in the
/// order of `notes`.
pub fn cross_validate(
    rules: &RuleSet,
    notes: &[LabelledNote],
    folds: usize,
    settings: &Training,
) -> Vec<Decision> {
    let fold_of = |i: usize| (i / FOLD_BLOCK) % folds;
    let mut out: Vec<Option<Decision>> = vec![None; notes.len()];
    for k in 0..folds {
        let train: Vec<LabelledNote> = notes
            .iter()
            .enumerate()
            .filter(|(i, _)| fold_of(*i) != k)
            .map(|(_, n)| n.clone())
            .collect();
        let model = super::model::train(&train, settings, "cross-validation", "");
        let triage = Triage::new(rules.clone(), Some(model));
        for (i, n) in notes.iter().enumerate().filter(|(i, _)| fold_of(*i) == k) {
            out[i] = Some(triage.classify(&Input {
                description: &n.note,
                ..Default::default()
            }));
        }
    }
    out.into_iter()
        .map(|d| d.expect("every note is in a fold"))
        .collect()
}
