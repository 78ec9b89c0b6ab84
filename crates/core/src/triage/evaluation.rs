//! Figures of triage decisions against labelled notes: accuracy per category and per language,
//! a confusion matrix, and the mistakes that matter most (a critical note decided below high).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::{Category, Priority};

use super::Decision;
use super::model::LabelledNote;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub notes: usize,
    pub category: usize,
    pub priority: usize,
}

impl Tally {
    fn add(&mut self, category_ok: bool, priority_ok: bool) {
        self.notes += 1;
        self.category += usize::from(category_ok);
        self.priority += usize::from(priority_ok);
    }

    pub fn category_rate(&self) -> f64 {
        self.category as f64 / self.notes.max(1) as f64
    }

    pub fn priority_rate(&self) -> f64 {
        self.priority as f64 / self.notes.max(1) as f64
    }
}

#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub all: Tally,
    pub by_category: BTreeMap<&'static str, Tally>,
    pub by_language: BTreeMap<String, Tally>,
    /// (labelled, decided) → notes.
    pub confusion: BTreeMap<(Category, Category), usize>,
    pub priority_confusion: BTreeMap<(Priority, Priority), usize>,
    /// Notes labelled critical and decided below high: the mistake that costs most.
    pub critical_below_high: Vec<usize>,
    /// Notes flagged unclassified, and how many of those the best guess got right.
    pub unclassified: usize,
    pub unclassified_right: usize,
    /// One line per note decided wrongly.
    pub misses: Vec<String>,
}

impl Evaluation {
    pub fn new(notes: &[LabelledNote], decisions: &[Decision]) -> Self {
        let mut e = Self::default();
        for (n, d) in notes.iter().zip(decisions) {
            let (c_ok, p_ok) = (d.category == n.category, d.priority == n.priority);
            e.all.add(c_ok, p_ok);
            e.by_category
                .entry(n.category.slug())
                .or_default()
                .add(c_ok, p_ok);
            e.by_language
                .entry(n.language.clone())
                .or_default()
                .add(c_ok, p_ok);
            *e.confusion.entry((n.category, d.category)).or_default() += 1;
            *e.priority_confusion
                .entry((n.priority, d.priority))
                .or_default() += 1;
            if n.priority == Priority::Critical && d.priority < Priority::High {
                e.critical_below_high.push(n.line);
            }
            if d.unclassified {
                e.unclassified += 1;
                e.unclassified_right += usize::from(c_ok);
            }
            if !c_ok || !p_ok {
                let why: Vec<String> = d
                    .fired_rules
                    .iter()
                    .map(|f| format!("{}={}", f.rule_id, f.matched_terms.join("|")))
                    .collect();
                e.misses.push(format!(
                    "line {}: expected {}/{} got {}/{}{} [{}] — {}",
                    n.line,
                    n.category,
                    n.priority,
                    d.category,
                    d.priority,
                    if d.unclassified {
                        " (unclassified)"
                    } else {
                        ""
                    },
                    why.join(", "),
                    n.note
                ));
            }
        }
        e
    }

    /// The figures as a plain-text report.
    pub fn report(&self, title: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{title}: {} notes", self.all.notes);
        let _ = writeln!(
            out,
            "  {:<24} {:>5} {:>9} {:>9}",
            "", "notes", "category", "priority"
        );
        let rows = self
            .by_category
            .iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain(
                self.by_language
                    .iter()
                    .map(|(k, v)| (format!("language {k}"), v)),
            )
            .chain([("all".to_string(), &self.all)]);
        for (label, t) in rows {
            let _ = writeln!(
                out,
                "  {:<24} {:>5} {:>8.1}% {:>8.1}%",
                label,
                t.notes,
                100.0 * t.category_rate(),
                100.0 * t.priority_rate()
            );
        }
        let _ = writeln!(
            out,
            "  critical decided below high: {}; unclassified: {} (best guess right in {})",
            self.critical_below_high.len(),
            self.unclassified,
            self.unclassified_right
        );
        let _ = writeln!(
            out,
            "  category confusion (rows: labelled, columns: decided)"
        );
        let short = |c: &Category| c.slug().chars().take(6).collect::<String>();
        let mut header = format!("  {:<8}", "");
        for c in Category::ALL {
            let _ = write!(header, "{:>7}", short(c));
        }
        let _ = writeln!(out, "{header}");
        for r in Category::ALL {
            let mut line = format!("  {:<8}", short(r));
            for c in Category::ALL {
                let n = self.confusion.get(&(*r, *c)).copied().unwrap_or(0);
                let _ = write!(
                    line,
                    "{:>7}",
                    if n == 0 { ".".into() } else { n.to_string() }
                );
            }
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            out,
            "  priority confusion (rows: labelled, columns: decided)"
        );
        let mut header = format!("  {:<8}", "");
        for p in Priority::ALL {
            let _ = write!(header, "{:>9}", p.slug());
        }
        let _ = writeln!(out, "{header}");
        for r in Priority::ALL {
            let mut line = format!("  {:<8}", r.slug());
            for c in Priority::ALL {
                let n = self.priority_confusion.get(&(*r, *c)).copied().unwrap_or(0);
                let _ = write!(
                    line,
                    "{:>9}",
                    if n == 0 { ".".into() } else { n.to_string() }
                );
            }
            let _ = writeln!(out, "{line}");
        }
        out
    }
}
