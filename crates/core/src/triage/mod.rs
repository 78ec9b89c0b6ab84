//! Triage rules: a versioned rule set, read from a TOML file, that maps the words of a call note
//! in Kazakh, Russian or English to a category, the skills the category needs and a priority.
//! Operator-set values always win.
//!
//! Words are compared after folding (see [`crate::text`]): Russian terms by stem, Kazakh terms as
//! a root followed by a chain of suffixes, English terms by a light stem. A word one typing slip
//! away from a long term still matches, at a lower weight.

pub mod evaluation;
pub mod judge;
pub mod learning;
pub mod model;
pub mod numbers;

pub use evaluation::Evaluation;
pub use judge::{Triage, cross_validate};
pub use model::{LabelledNote, TriageModel, read_corpus};

use std::collections::HashSet;

use serde::Deserialize;

use crate::text::{self, Token};
use crate::{Category, Priority, Skill};

/// Weight of a term listed under `weak`: a word that hints at a category but is common
/// elsewhere ("помощь", "семья").
const WEAK_WEIGHT: f64 = 0.5;
/// Weight of a term matched through a misspelling, relative to an exact match.
const FUZZY_FACTOR: f64 = 0.6;

/// Why a rule file was refused, with the place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct RuleError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> RuleError {
    RuleError {
        path: path.into(),
        message: message.into(),
    }
}

// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    version: String,
    category: Vec<CategorySpec>,
    #[serde(default)]
    priority: Vec<PrioritySpec>,
    #[serde(default)]
    closure: Vec<ClosureSpec>,
}

/// A note that closes something rather than asking for help: a person found, help no longer
/// needed, an offer to give. It is `other` at the rule's priority, whatever else it mentions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClosureSpec {
    id: String,
    priority: String,
    explanation: String,
    #[serde(default)]
    any: TermsSpec,
    /// Terms matched only as written (folded): no stems, suffixes or misspellings. For words
    /// whose stem is another word's ("нашлась" and "нашли" share "нашл").
    #[serde(default)]
    exact: TermsSpec,
    /// Words that say the need goes on ("ищем дальше", "өзі жоқ"): the rule does not fire.
    #[serde(default)]
    unless: TermsSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CategorySpec {
    category: String,
    priority: String,
    skills: Vec<String>,
    explanation: String,
    #[serde(default)]
    terms: TermsSpec,
    #[serde(default)]
    weak: TermsSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TermsSpec {
    #[serde(default)]
    kk: Vec<String>,
    #[serde(default)]
    ru: Vec<String>,
    #[serde(default)]
    en: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrioritySpec {
    id: String,
    priority: String,
    explanation: String,
    /// Categories the rule applies to; empty means all.
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    any: TermsSpec,
    /// Fires also on an age said in the note ("11 лет", "80 жаста").
    #[serde(default)]
    ages: Option<AgesSpec>,
    /// A second group of which one term must also be present.
    #[serde(default)]
    also: Option<TermsSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgesSpec {
    /// Ages below this fire the rule.
    #[serde(default)]
    under: Option<u32>,
    /// Ages above this fire the rule.
    #[serde(default)]
    over: Option<u32>,
    /// Words that follow a number to make it an age.
    units: TermsSpec,
}

// The compiled rule set.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Kk,
    Ru,
    En,
}

/// One term of the file: a word or a phrase, compiled to what tokens are compared with.
#[derive(Debug, Clone)]
struct Term {
    /// As written in the file; reported as the matched term.
    text: String,
    lang: Lang,
    /// Per word: the Kazakh root, the Russian stem or the English stem.
    words: Vec<String>,
    /// Per word, lower-cased with Kazakh letters kept.
    lower: Vec<String>,
    /// Per word, folded but not stemmed: a misspelling can change how a word stems
    /// ("пропол" keeps its ending), so slips are also looked for in whole words.
    folded: Vec<String>,
    /// Per word, the first two letters of the root or stem and of the folded word
    /// ([`text::head`]), which turn away most words of a note before any comparison.
    heads: Vec<(text::Head, text::Head)>,
    /// Per word, the letters of the root or stem and of the folded word, counted once here,
    /// for they are asked of every word of every note: a slip changes a word's length by one
    /// at most, so most pairs are turned away by their lengths.
    lens: Vec<(usize, usize)>,
    weight: f64,
    /// Matched as written (folded), without stems, suffixes or misspellings.
    exact: bool,
}

#[derive(Debug, Clone)]
struct CategoryRule {
    category: Category,
    base_priority: Priority,
    skills: Vec<Skill>,
    explanation: String,
    terms: Vec<Term>,
}

#[derive(Debug, Clone)]
struct PriorityRule {
    id: String,
    priority: Priority,
    explanation: String,
    categories: Vec<Category>,
    any: Vec<Term>,
    ages: Option<Ages>,
    also: Option<Vec<Term>>,
}

#[derive(Debug, Clone)]
struct Ages {
    under: Option<u32>,
    over: Option<u32>,
    units: Vec<Term>,
}

impl Ages {
    fn fires(&self, age: u32) -> bool {
        self.under.is_some_and(|u| age < u) || self.over.is_some_and(|o| age > o)
    }
}

#[derive(Debug, Clone)]
struct ClosureRule {
    id: String,
    priority: Priority,
    explanation: String,
    any: Vec<Term>,
    unless: Vec<Term>,
}

/// A validated rule set. Category rules are kept in file order, which breaks ties.
#[derive(Debug, Clone)]
pub struct RuleSet {
    version: String,
    categories: Vec<CategoryRule>,
    priorities: Vec<PriorityRule>,
    closures: Vec<ClosureRule>,
}

fn compile_terms(spec: &TermsSpec, weight: f64, path: &str) -> Result<Vec<Term>, RuleError> {
    let mut out = Vec::new();
    for (lang, list, key) in [
        (Lang::Kk, &spec.kk, "kk"),
        (Lang::Ru, &spec.ru, "ru"),
        (Lang::En, &spec.en, "en"),
    ] {
        for (i, raw) in list.iter().enumerate() {
            let at = format!("{path}.{key}[{i}]");
            let tokens = text::tokens(raw);
            if tokens.is_empty() {
                return Err(err(at, "empty term"));
            }
            // Hyphens and apostrophes separate words in notes too, so "із-түзсіз" is read as
            // two words in a row; anything else would never match and is a mistake.
            if let Some(c) = raw
                .chars()
                .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '\'')))
            {
                return Err(err(at, format!("\"{raw}\": unexpected character {c:?}")));
            }
            let mut words = Vec::new();
            for t in &tokens {
                let cyrillic = text::is_cyrillic_word(&t.folded);
                let word = match lang {
                    Lang::Kk | Lang::Ru if !cyrillic => {
                        return Err(err(at, format!("\"{raw}\" is not written in Cyrillic")));
                    }
                    Lang::En if cyrillic => {
                        return Err(err(at, format!("\"{raw}\" is not written in Latin")));
                    }
                    Lang::Kk => {
                        if t.folded.chars().count() < 3 && tokens.len() == 1 {
                            return Err(err(
                                at,
                                format!("\"{raw}\": a Kazakh root needs at least 3 letters"),
                            ));
                        }
                        t.folded.clone()
                    }
                    Lang::Ru => text::stem_ru(&t.folded),
                    Lang::En => text::stem_en(&t.folded),
                };
                words.push(word);
            }
            let lens = words
                .iter()
                .zip(&tokens)
                .map(|(w, t)| (w.chars().count(), t.folded.chars().count()))
                .collect();
            let heads = words
                .iter()
                .zip(&tokens)
                .map(|(w, t)| (text::head(w), text::head(&t.folded)))
                .collect();
            out.push(Term {
                text: raw.trim().to_string(),
                lang,
                words,
                lower: tokens.iter().map(|t| t.lower.clone()).collect(),
                folded: tokens.iter().map(|t| t.folded.clone()).collect(),
                heads,
                lens,
                weight,
                exact: false,
            });
        }
    }
    Ok(out)
}

fn priority_of(slug: &str, path: &str) -> Result<Priority, RuleError> {
    Priority::from_slug(slug).ok_or_else(|| err(path, format!("unknown priority \"{slug}\"")))
}

fn category_of(slug: &str, path: &str) -> Result<Category, RuleError> {
    Category::from_slug(slug).ok_or_else(|| err(path, format!("unknown category \"{slug}\"")))
}

impl RuleSet {
    /// Reads and validates a rule file. Every category must be described exactly once.
    pub fn from_toml(source: &str) -> Result<Self, RuleError> {
        let spec: FileSpec = toml::from_str(source).map_err(|e| err("file", e.to_string()))?;
        let version = spec.version.trim();
        if version.is_empty() || version.chars().count() > 64 {
            return Err(err("version", "1 to 64 characters"));
        }
        let mut categories = Vec::new();
        let mut seen = HashSet::new();
        for (i, c) in spec.category.iter().enumerate() {
            let path = format!("category[{i}]");
            let category = category_of(&c.category, &format!("{path}.category"))?;
            if !seen.insert(category) {
                return Err(err(
                    format!("{path}.category"),
                    format!("\"{}\" is described twice", c.category),
                ));
            }
            let mut skills = Vec::new();
            for (j, s) in c.skills.iter().enumerate() {
                let skill = Skill::from_slug(s)
                    .ok_or_else(|| err(format!("{path}.skills[{j}]"), "unknown skill"))?;
                if skills.contains(&skill) {
                    return Err(err(format!("{path}.skills[{j}]"), "listed twice"));
                }
                skills.push(skill);
            }
            let mut terms = compile_terms(&c.terms, 1.0, &format!("{path}.terms"))?;
            terms.extend(compile_terms(
                &c.weak,
                WEAK_WEIGHT,
                &format!("{path}.weak"),
            )?);
            if terms.is_empty() && category != Category::Other {
                return Err(err(format!("{path}.terms"), "a category needs terms"));
            }
            categories.push(CategoryRule {
                category,
                base_priority: priority_of(&c.priority, &format!("{path}.priority"))?,
                skills,
                explanation: c.explanation.trim().to_string(),
                terms,
            });
        }
        if let Some(missing) = Category::ALL.iter().find(|c| !seen.contains(c)) {
            return Err(err("category", format!("\"{missing}\" is not described")));
        }

        let mut priorities = Vec::new();
        let mut ids = HashSet::new();
        for (i, p) in spec.priority.iter().enumerate() {
            let path = format!("priority[{i}]");
            let id = p.id.trim();
            if id.is_empty() || !ids.insert(id.to_string()) {
                return Err(err(format!("{path}.id"), "empty or used twice"));
            }
            let categories = p
                .categories
                .iter()
                .enumerate()
                .map(|(j, c)| category_of(c, &format!("{path}.categories[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let any = compile_terms(&p.any, 1.0, &format!("{path}.any"))?;
            let ages = match &p.ages {
                Some(a) => {
                    let units = compile_terms(&a.units, 1.0, &format!("{path}.ages.units"))?;
                    if units.is_empty() || units.iter().any(|u| u.words.len() != 1) {
                        return Err(err(
                            format!("{path}.ages.units"),
                            "one or more single words",
                        ));
                    }
                    if a.under.is_none() && a.over.is_none() {
                        return Err(err(format!("{path}.ages"), "set under, over or both"));
                    }
                    Some(Ages {
                        under: a.under,
                        over: a.over,
                        units,
                    })
                }
                None => None,
            };
            if any.is_empty() && ages.is_none() {
                return Err(err(format!("{path}.any"), "a priority rule needs terms"));
            }
            let also = match &p.also {
                Some(also) => {
                    let terms = compile_terms(also, 1.0, &format!("{path}.also"))?;
                    if terms.is_empty() {
                        return Err(err(format!("{path}.also"), "empty; remove it or add terms"));
                    }
                    Some(terms)
                }
                None => None,
            };
            priorities.push(PriorityRule {
                id: id.to_string(),
                priority: priority_of(&p.priority, &format!("{path}.priority"))?,
                explanation: p.explanation.trim().to_string(),
                categories,
                any,
                ages,
                also,
            });
        }
        let mut closures = Vec::new();
        for (i, c) in spec.closure.iter().enumerate() {
            let path = format!("closure[{i}]");
            let id = c.id.trim();
            if id.is_empty() || !ids.insert(id.to_string()) {
                return Err(err(format!("{path}.id"), "empty or used twice"));
            }
            let mut any = compile_terms(&c.any, 1.0, &format!("{path}.any"))?;
            let mut exact = compile_terms(&c.exact, 1.0, &format!("{path}.exact"))?;
            exact.iter_mut().for_each(|t| t.exact = true);
            any.extend(exact);
            if any.is_empty() {
                return Err(err(format!("{path}.any"), "a closure rule needs terms"));
            }
            closures.push(ClosureRule {
                id: id.to_string(),
                priority: priority_of(&c.priority, &format!("{path}.priority"))?,
                explanation: c.explanation.trim().to_string(),
                any,
                unless: compile_terms(&c.unless, 1.0, &format!("{path}.unless"))?,
            });
        }
        Ok(Self {
            version: version.to_string(),
            categories,
            priorities,
            closures,
        })
    }

    /// The version written in the file, recorded with every decision.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The skills a group needs for a category.
    pub fn skills_for(&self, category: Category) -> Vec<Skill> {
        self.rule(category).skills.clone()
    }

    fn rule(&self, category: Category) -> &CategoryRule {
        self.categories
            .iter()
            .find(|c| c.category == category)
            .expect("validated: every category is described")
    }

    /// Classifies a call note with the rules alone.
    pub fn classify(&self, input: &Input<'_>) -> Decision {
        let note = Note::new(input.description);
        let mut fired = Vec::new();
        let closure = if input.operator_category.is_none() {
            self.closure(&note)
        } else {
            None
        };

        let (category, confidence) = if let Some(category) = input.operator_category {
            fired.push(operator_rule("operator.category"));
            (category, 1.0)
        } else if let Some((_, rule)) = &closure {
            fired.push(rule.clone());
            (Category::Other, 1.0)
        } else {
            let scored = self.category_scores(&note);
            match scored.first() {
                Some(best) => {
                    let second = scored.get(1).map_or(0.0, |s| s.score);
                    fired.push(best.fired.clone());
                    (best.category, best.score / (best.score + second + 0.5))
                }
                None => (Category::Other, 0.0),
            }
        };

        let priority = if let Some(priority) = input.operator_priority {
            fired.push(operator_rule("operator.priority"));
            priority
        } else if let Some((priority, _)) = closure {
            priority
        } else {
            let rules = self.priority_rules(&note, category);
            let best = rules.iter().map(|(p, _)| *p).max();
            fired.extend(rules.into_iter().map(|(_, f)| f));
            // The most urgent rule that fired; the category's usual priority when none did.
            best.unwrap_or(self.rule(category).base_priority)
        };

        Decision {
            category,
            priority,
            required_skills: self.skills_for(category),
            confidence,
            fired_rules: fired,
            rules_version: self.version.clone(),
            model_version: String::new(),
            unclassified: false,
        }
    }

    /// The categories whose terms are in the note, most weight first (file order breaks ties).
    pub(crate) fn category_scores(&self, note: &Note) -> Vec<Scored> {
        let mut scored: Vec<(usize, Scored)> = self
            .categories
            .iter()
            .enumerate()
            .filter_map(|(i, rule)| {
                let (score, terms) = note.score(&rule.terms, false);
                (score > 0.0).then(|| {
                    (
                        i,
                        Scored {
                            category: rule.category,
                            score,
                            fired: FiredRule {
                                rule_id: format!("category.{}", rule.category),
                                matched_terms: terms,
                                explanation: rule.explanation.clone(),
                            },
                        },
                    )
                })
            })
            .collect();
        scored.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        scored.into_iter().map(|(_, s)| s).collect()
    }

    /// The priority rules that fire on the note for a category, in file order. A term said
    /// negated ("нет угрозы жизни", "қауіп жоқ", "not trapped") does not fire a rule.
    pub(crate) fn priority_rules(
        &self,
        note: &Note,
        category: Category,
    ) -> Vec<(Priority, FiredRule)> {
        let mut out = Vec::new();
        for rule in &self.priorities {
            if !rule.categories.is_empty() && !rule.categories.contains(&category) {
                continue;
            }
            let (_, mut terms) = note.score(&rule.any, true);
            if let Some(ages) = &rule.ages {
                terms.extend(note.ages(ages));
            }
            if terms.is_empty() {
                continue;
            }
            if let Some(also) = &rule.also {
                let (_, more) = note.score(also, false);
                if more.is_empty() {
                    continue;
                }
                terms.extend(more);
            }
            out.push((
                rule.priority,
                FiredRule {
                    rule_id: rule.id.clone(),
                    matched_terms: terms,
                    explanation: rule.explanation.clone(),
                },
            ));
        }
        out
    }

    /// The first closure rule that fires: the note closes a need or offers help.
    pub(crate) fn closure(&self, note: &Note) -> Option<(Priority, FiredRule)> {
        self.closures.iter().find_map(|rule| {
            let (_, terms) = note.score(&rule.any, true);
            if terms.is_empty() || !note.score(&rule.unless, false).1.is_empty() {
                return None;
            }
            Some((
                rule.priority,
                FiredRule {
                    rule_id: rule.id.clone(),
                    matched_terms: terms,
                    explanation: rule.explanation.clone(),
                },
            ))
        })
    }

    /// Whether a term of `category` matches `word` (by stem, suffix chain or misspelling).
    pub fn knows(&self, word: &str, category: Category) -> bool {
        let note = Note::new(word);
        !note.score(&self.rule(category).terms, false).1.is_empty()
    }

    /// The category's usual priority, when nothing else says.
    pub fn base_priority(&self, category: Category) -> Priority {
        self.rule(category).base_priority
    }
}

/// A category the rules found terms of, with their weight.
#[derive(Debug, Clone)]
pub(crate) struct Scored {
    pub category: Category,
    pub score: f64,
    pub fired: FiredRule,
}

fn operator_rule(id: &str) -> FiredRule {
    FiredRule {
        rule_id: id.into(),
        matched_terms: vec![],
        explanation: "Set by the operator".into(),
    }
}

/// Words that negate what follows them, and what precedes them, folded.
const NEGATION_BEFORE: &[&str] = &["не", "нет", "без", "no", "not", "without", "never"];
const NEGATION_AFTER: &[&str] = &["нет", "жок", "емес", "not"];

/// A call note prepared once for all rules: its tokens with their stems.
pub(crate) struct Note {
    tokens: Vec<Token>,
    /// Per token, the first two letters of its folded form ([`text::head`]).
    heads: Vec<text::Head>,
    cyrillic: Vec<bool>,
    ru: Vec<String>,
    en: Vec<String>,
    /// Per token, the letters of its folded form and of its stem (Russian or English, by its
    /// script), counted once for every term it is compared with.
    lens: Vec<(usize, usize)>,
    /// The tokens as bits, 64 to a word: `words` words a set.
    words: usize,
    /// Per [`letter_class`], the set of tokens with a letter of that class in their head.
    by_letter: Vec<u64>,
    /// The set of tokens too short to have a head, which it never turns away.
    headless: Vec<u64>,
}

/// Classes of letters for [`Note::by_letter`]: each Latin and Russian letter and each digit
/// is a class of its own, and every other character shares one. Two letters in one class
/// only make a token a candidate that the comparison then turns away; they never hide one.
const LETTER_CLASSES: usize = 26 + 32 + 10 + 1;

fn letter_class(c: char) -> usize {
    match c {
        'a'..='z' => c as usize - 'a' as usize,
        'а'..='я' => 26 + (c as usize - 'а' as usize),
        '0'..='9' => 58 + (c as usize - '0' as usize),
        _ => 68,
    }
}

/// How a term matched.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Match {
    Exact,
    Fuzzy,
}

impl Note {
    pub(crate) fn new(description: &str) -> Self {
        Self::of_tokens(text::tokens(description))
    }

    /// The note of words already split ([`text::tokens`]).
    pub(crate) fn of_tokens(tokens: Vec<Token>) -> Self {
        let heads: Vec<text::Head> = tokens.iter().map(|t| text::head(&t.folded)).collect();
        let cyrillic: Vec<bool> = tokens
            .iter()
            .map(|t| text::is_cyrillic_word(&t.folded))
            .collect();
        let ru: Vec<String> = tokens
            .iter()
            .zip(&cyrillic)
            .map(|(t, c)| {
                if *c {
                    text::stem_ru(&t.folded)
                } else {
                    String::new()
                }
            })
            .collect();
        let en: Vec<String> = tokens
            .iter()
            .zip(&cyrillic)
            .map(|(t, c)| {
                if *c {
                    String::new()
                } else {
                    text::stem_en(&t.folded)
                }
            })
            .collect();
        let lens = tokens
            .iter()
            .zip(ru.iter().zip(&en))
            .zip(&cyrillic)
            .map(|((t, (ru, en)), c)| {
                let stem: &String = if *c { ru } else { en };
                (t.folded.chars().count(), stem.chars().count())
            })
            .collect();
        let words = tokens.len().div_ceil(64).max(1);
        let mut by_letter = vec![0; LETTER_CLASSES * words];
        let mut headless = vec![0; words];
        for (i, head) in heads.iter().enumerate() {
            let (w, bit) = (i / 64, 1u64 << (i % 64));
            match head {
                Some((a, b)) => {
                    by_letter[letter_class(*a) * words + w] |= bit;
                    by_letter[letter_class(*b) * words + w] |= bit;
                }
                None => headless[w] |= bit,
            }
        }
        Self {
            tokens,
            heads,
            cyrillic,
            ru,
            en,
            lens,
            words,
            by_letter,
            headless,
        }
    }

    /// The note's words.
    pub(crate) fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// Word `w` of the set of tokens where `term` may begin: those [`Note::word_matches`]
    /// does not turn away by their first two letters alone. A term word's head and a token's
    /// are apart when neither letter of one is either letter of the other, so a token whose
    /// head shares no letter class with the term's first word (as stem or root, or as
    /// written) cannot match it. Every note's word is tested against every term, and most
    /// pairs are turned away by this, so it is done for 64 tokens at once.
    fn starts(&self, term: &Term, w: usize) -> u64 {
        match term.heads[0] {
            (Some((a, b)), Some((c, d))) => [a, b, c, d].iter().fold(self.headless[w], |set, l| {
                set | self.by_letter[letter_class(*l) * self.words + w]
            }),
            _ => u64::MAX,
        }
    }

    fn word_matches(&self, i: usize, term: &Term, k: usize) -> Option<Match> {
        let (lang, word, whole) = (term.lang, &term.words[k], &term.folded[k]);
        let cyrillic = self.cyrillic[i];
        let folded = &self.tokens[i].folded;
        if term.exact {
            return (folded == whole).then_some(Match::Exact);
        }
        // Every way below needs the word to begin as the root, stem or folded term does, or
        // to be one slip from it: a stem or root is the start of its word (stemmers and
        // suffix chains only take from the end), so comparing the folded word's first two
        // letters with theirs is enough to turn it away.
        let (word_head, whole_head) = term.heads[k];
        if text::heads_apart(self.heads[i], word_head)
            && text::heads_apart(self.heads[i], whole_head)
        {
            return None;
        }
        // The forms as written (a root and its suffixes, stems that agree, equal stems) begin
        // with the word's first two letters: a stem or root of two letters or more is the start
        // of its word, stemmers only change its end. So those are looked at only where the
        // heads are equal.
        let written = match (self.heads[i], word_head) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        // A slip (`text::within_one`) changes a word's length by one letter at most, and a
        // stem agrees only with one of its length or one letter longer or shorter: comparing
        // the lengths counted beforehand turns away most pairs that share a head.
        let (folded_len, stem_len) = self.lens[i];
        let (word_len, whole_len) = term.lens[k];
        match lang {
            // A root of three letters or fewer keeps its Kazakh letters: folded, өрт "fire"
            // would be орт, the start of орта "middle".
            Lang::Kk if cyrillic && word_len <= 3 => (written
                && text::kk_matches_strict(&self.tokens[i].lower, &term.lower[k]))
            .then_some(Match::Exact),
            Lang::Kk if cyrillic => {
                if written && folded_len >= word_len && text::kk_matches(folded, word) {
                    Some(Match::Exact)
                // A slip of the root needs the word to reach at least one letter short of it.
                } else if folded_len + 1 >= word_len
                    && text::kk_matches_fuzzy(folded, word, word_len)
                {
                    Some(Match::Fuzzy)
                } else {
                    None
                }
            }
            Lang::Ru if cyrillic => {
                let stem = &self.ru[i];
                if written && stem_len.abs_diff(word_len) <= 1 && text::ru_stems_agree(stem, word) {
                    Some(Match::Exact)
                } else if text::close_enough(stem, stem_len, word, word_len)
                    || text::close_enough(folded, folded_len, whole, whole_len)
                {
                    Some(Match::Fuzzy)
                } else {
                    None
                }
            }
            Lang::En if !cyrillic => {
                let stem = &self.en[i];
                if written && stem_len == word_len && stem == word {
                    Some(Match::Exact)
                } else if text::close_enough(stem, stem_len, word, word_len)
                    || text::close_enough(folded, folded_len, whole, whole_len)
                {
                    Some(Match::Fuzzy)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// How a term matches anywhere in the note: the best of its occurrences, with the span of
    /// tokens it covers.
    fn find(&self, term: &Term, affirmed: bool) -> Option<(Match, String, std::ops::Range<usize>)> {
        let n = term.words.len();
        let end = self.tokens.len().saturating_sub(n - 1);
        let mut best = None;
        // The candidate starts in order, as a scan of every start would meet them.
        let starts = (0..self.words).flat_map(|w| {
            let mut set = self.starts(term, w);
            std::iter::from_fn(move || {
                let bit = set.trailing_zeros();
                set &= set.wrapping_sub(1);
                (bit < 64).then(|| w * 64 + bit as usize)
            })
        });
        for start in starts.take_while(|s| *s < end) {
            let mut how = Match::Exact;
            let mut ok = true;
            for k in 0..n {
                match self.word_matches(start + k, term, k) {
                    Some(Match::Exact) => {}
                    Some(Match::Fuzzy) => how = Match::Fuzzy,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            let span = start..start + n;
            if !ok || (affirmed && self.negated(&span)) {
                continue;
            }
            let shown = match how {
                Match::Exact => term.text.clone(),
                Match::Fuzzy => {
                    let seen: Vec<&str> = self.tokens[span.clone()]
                        .iter()
                        .map(|t| t.original.as_str())
                        .collect();
                    format!("{}~{}", seen.join(" "), term.text)
                }
            };
            if how == Match::Exact {
                return Some((how, shown, span));
            }
            best.get_or_insert((how, shown, span));
        }
        best
    }

    /// Whether the words of `span` are said negated: a negation right before them ("нет угрозы
    /// жизни", "not trapped") or right after ("угрозы жизни нет", "қауіп жоқ").
    fn negated(&self, span: &std::ops::Range<usize>) -> bool {
        let before = span
            .start
            .checked_sub(1)
            .is_some_and(|i| NEGATION_BEFORE.contains(&self.tokens[i].folded.as_str()));
        let after = self
            .tokens
            .get(span.end)
            .is_some_and(|t| NEGATION_AFTER.contains(&t.folded.as_str()));
        before || after
    }

    /// Ages said in the note that fire `ages`, as "number unit".
    fn ages(&self, ages: &Ages) -> Vec<String> {
        let mut out = Vec::new();
        for i in 0..self.tokens.len().saturating_sub(1) {
            let Ok(age) = self.tokens[i].folded.parse::<u32>() else {
                continue;
            };
            let unit = ages
                .units
                .iter()
                .any(|u| self.word_matches(i + 1, u, 0).is_some());
            if unit && ages.fires(age) {
                out.push(format!(
                    "{} {}",
                    self.tokens[i].original,
                    self.tokens[i + 1].original
                ));
            }
        }
        out
    }

    /// Sum of the weights of the terms present, and the terms as shown to people. Each word of
    /// the note counts once: when several terms cover the same words (a phrase and its first
    /// word, "потерялся" and "потерялась" both near "потере"), only the best counts, preferring
    /// exact matches, then longer phrases, then heavier terms.
    ///
    /// With `affirmed`, an occurrence said negated does not count (see [`Note::negated`]).
    fn score(&self, terms: &[Term], affirmed: bool) -> (f64, Vec<String>) {
        let mut hits: Vec<(Match, String, std::ops::Range<usize>, f64)> = terms
            .iter()
            .filter_map(|t| {
                self.find(t, affirmed)
                    .map(|(how, text, span)| (how, text, span, t.weight))
            })
            .collect();
        hits.sort_by(|a, b| {
            (b.0 == Match::Exact)
                .cmp(&(a.0 == Match::Exact))
                .then(b.2.len().cmp(&a.2.len()))
                .then(b.3.total_cmp(&a.3))
        });
        let mut used = vec![false; self.tokens.len()];
        let mut total = 0.0;
        let mut shown = Vec::new();
        for (how, text, span, weight) in hits {
            if used[span.clone()].iter().any(|u| *u) {
                continue;
            }
            used[span.clone()].iter_mut().for_each(|u| *u = true);
            let factor = if how == Match::Exact {
                1.0
            } else {
                FUZZY_FACTOR
            };
            total += weight * factor;
            shown.push((span.start, text));
        }
        // In the order the words appear in the note.
        shown.sort();
        (total, shown.into_iter().map(|(_, text)| text).collect())
    }
}

/// What the operator typed and set.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    pub description: &'a str,
    pub operator_category: Option<Category>,
    pub operator_priority: Option<Priority>,
}

/// One rule that contributed to a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct FiredRule {
    pub rule_id: String,
    /// The rule's terms found in the note; "written~term" for a misspelling.
    pub matched_terms: Vec<String>,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub category: Category,
    pub priority: Priority,
    pub required_skills: Vec<Skill>,
    /// 0..1; 1 when the operator set the category, 0 when no rule recognised it.
    pub confidence: f64,
    pub fired_rules: Vec<FiredRule>,
    pub rules_version: String,
    /// Version of the statistical model that took part; empty when the rules decided alone.
    pub model_version: String,
    /// Neither the model nor the rules were sure of the category: `category` is the best
    /// guess, and a dispatcher must confirm it before anyone is sent.
    pub unclassified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RULES: &str = r#"
version = "test-1"

[[category]]
category = "search_operation"
priority = "high"
skills = ["search_rescue"]
explanation = "Someone is missing"
terms = { ru = ["пропал", "не вернулся"], kk = ["жоғал", "ізде"], en = ["missing"] }

[[category]]
category = "fuel_delivery"
priority = "normal"
skills = ["vehicle_cargo"]
explanation = "Coal or firewood"
terms = { ru = ["уголь", "угля", "дрова"], kk = ["көмір", "отын"], en = ["coal", "firewood"] }
weak = { ru = ["зима"] }

[[category]]
category = "veteran_aid"
priority = "normal"
skills = ["social_care"]
explanation = "Aid at home for a veteran"
terms = { ru = ["ветеран"], kk = ["ардагер"], en = ["veteran"] }

[[category]]
category = "psychological_support"
priority = "normal"
skills = ["psychologist"]
explanation = "Psychological support"
terms = { ru = ["психолог"] }

[[category]]
category = "material_aid"
priority = "normal"
skills = ["general_labour"]
explanation = "Food, clothes"
terms = { ru = ["продукты"] }

[[category]]
category = "emergency_hq"
priority = "high"
skills = ["general_labour"]
explanation = "Flood or fire"
terms = { ru = ["паводок"] }

[[category]]
category = "consultation"
priority = "low"
skills = ["legal_advice"]
explanation = "Advice"
terms = { ru = ["консультация"] }

[[category]]
category = "other"
priority = "normal"
skills = []
explanation = "Nothing recognised"

[[priority]]
id = "critical.missing_child"
priority = "critical"
explanation = "A missing child"
categories = ["search_operation"]
any = { ru = ["ребенок", "ребенка"], kk = ["бала"], en = ["child"] }

[[priority]]
id = "critical.vulnerable_age"
priority = "critical"
explanation = "A child or an elderly person, by age"
categories = ["search_operation"]
ages = { under = 16, over = 64, units = { ru = ["лет", "года"], kk = ["жас"], en = ["years"] } }

[[priority]]
id = "critical.cold"
priority = "critical"
explanation = "Cold without heating"
any = { ru = ["нет"] , en = ["no"] }
also = { ru = ["отопления"], en = ["heating"] }
"#;

    fn rules() -> RuleSet {
        RuleSet::from_toml(RULES).unwrap()
    }

    fn note(description: &str) -> Decision {
        rules().classify(&Input {
            description,
            ..Default::default()
        })
    }

    #[test]
    fn missing_child_is_a_critical_search() {
        let d = note("Пропал ребёнок 7 лет, ушёл из дома вечером");
        assert_eq!(d.category, Category::SearchOperation);
        assert_eq!(d.priority, Priority::Critical);
        assert_eq!(d.required_skills, vec![Skill::SearchRescue]);
        assert_eq!(d.rules_version, "test-1");
        let ids: Vec<&str> = d.fired_rules.iter().map(|r| r.rule_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "category.search_operation",
                "critical.missing_child",
                "critical.vulnerable_age"
            ]
        );
        assert_eq!(d.fired_rules[0].matched_terms, ["пропал"]);
    }

    #[test]
    fn kazakh_suffixes_and_keyboard_spellings_match() {
        for text in [
            "Зейнеткерге көмір керек",
            "Зейнеткерге көмірді әкеліп беріңіздер",
            "зейнеткерге комир керек",
        ] {
            assert_eq!(note(text).category, Category::FuelDelivery, "{text}");
        }
        assert_eq!(note("Ардагерге көмек керек").category, Category::VeteranAid);
        let d = note("Бала жоғалып кетті");
        assert_eq!(d.category, Category::SearchOperation);
        assert_eq!(d.priority, Priority::Critical);
    }

    #[test]
    fn a_phrase_matches_whole() {
        let d = note("Сын не вернулся с рыбалки");
        assert_eq!(d.category, Category::SearchOperation);
        assert_eq!(d.fired_rules[0].matched_terms, ["не вернулся"]);
        assert_eq!(note("Сын вернулся, всё хорошо").category, Category::Other);
    }

    #[test]
    fn a_misspelling_matches_and_is_shown_as_such() {
        let d = note("пропол мальчик");
        assert_eq!(d.category, Category::SearchOperation);
        assert_eq!(d.fired_rules[0].matched_terms, ["пропол~пропал"]);
        assert!(d.confidence < note("пропал мальчик").confidence);
    }

    #[test]
    fn a_priority_rule_with_two_groups_needs_both() {
        assert_eq!(
            note("нужен уголь, нет отопления").priority,
            Priority::Critical
        );
        assert_eq!(note("нужен уголь, нет машины").priority, Priority::Normal);
        // Rules with categories apply only to those categories.
        assert_eq!(note("ребенку нужны продукты").priority, Priority::Normal);
    }

    #[test]
    fn an_age_said_in_the_note_fires_an_age_rule() {
        let d = note("Пропала 12 лет, ушла из школы");
        assert_eq!(d.priority, Priority::Critical);
        let fired = d
            .fired_rules
            .iter()
            .find(|r| r.rule_id == "critical.vulnerable_age");
        assert_eq!(fired.unwrap().matched_terms, ["12 лет"]);
        assert_eq!(note("Пропал мужчина 81 года").priority, Priority::Critical);
        assert_eq!(note("Жоғалып кетті 70 жаста").priority, Priority::Critical);
        assert_eq!(note("Пропал мужчина 40 лет").priority, Priority::High);
        assert_eq!(
            note("Пропал, ищем с 12 часов").priority,
            Priority::High,
            "not an age"
        );
    }

    #[test]
    fn more_terms_win_and_raise_confidence() {
        let d = note("Нужен уголь и дрова, ветеран");
        assert_eq!(d.category, Category::FuelDelivery);
        let clear = note("Нужен уголь и дрова").confidence;
        assert!(d.confidence < clear, "a rival category lowers confidence");
        assert!(note("уголь").confidence < clear);
        assert!(clear < 1.0);
    }

    #[test]
    fn weak_terms_alone_count_less() {
        let weak = note("зима");
        assert_eq!(weak.category, Category::FuelDelivery);
        assert!(weak.confidence < note("уголь").confidence);
    }

    #[test]
    fn operator_values_win() {
        let d = rules().classify(&Input {
            description: "Пропал ребенок",
            operator_category: Some(Category::Consultation),
            operator_priority: Some(Priority::Low),
        });
        assert_eq!(d.category, Category::Consultation);
        assert_eq!(d.priority, Priority::Low);
        assert_eq!(d.confidence, 1.0);
        assert_eq!(d.required_skills, vec![Skill::LegalAdvice]);
    }

    #[test]
    fn operator_category_still_gets_priority_rules() {
        let d = rules().classify(&Input {
            description: "ребенок",
            operator_category: Some(Category::SearchOperation),
            operator_priority: None,
        });
        assert_eq!(d.priority, Priority::Critical);
    }

    #[test]
    fn unknown_text_is_other_with_no_confidence() {
        let d = note("hello");
        assert_eq!(d.category, Category::Other);
        assert_eq!(d.confidence, 0.0);
        assert_eq!(d.priority, Priority::Normal);
    }

    #[test]
    fn bad_files_are_refused_with_the_place() {
        let cases = [
            (RULES.replace("\"test-1\"", "\"\""), "version"),
            (
                RULES.replace("category = \"consultation\"", "category = \"nonsense\""),
                "category[6].category",
            ),
            (
                RULES.replace("skills = [\"psychologist\"]", "skills = [\"juggler\"]"),
                "category[3].skills[0]",
            ),
            (
                RULES.replace("kk = [\"көмір\", \"отын\"]", "kk = [\"көмір\", \"от\"]"),
                "category[1].terms.kk[1]",
            ),
            (
                RULES.replace("en = [\"coal\", \"firewood\"]", "en = [\"уголь\"]"),
                "category[1].terms.en[0]",
            ),
            (
                RULES.replace("id = \"critical.cold\"", "id = \"critical.missing_child\""),
                "priority[2].id",
            ),
            (
                RULES.replace("priority = \"critical\"", "priority = \"urgent\""),
                "priority[0].priority",
            ),
            (
                RULES.replace("terms = { ru = [\"продукты\"] }", ""),
                "category[4].terms",
            ),
            (RULES.replace("version =", "vershion ="), "file"),
        ];
        for (source, path) in cases {
            let e = RuleSet::from_toml(&source).unwrap_err();
            assert_eq!(e.path, path, "{e}");
        }
        let without_other = RULES
            .split("[[category]]\ncategory = \"other\"")
            .next()
            .unwrap();
        let e = RuleSet::from_toml(without_other).unwrap_err();
        assert!(e.message.contains("\"other\" is not described"), "{e}");
    }

    /// Every term of a rule set, whichever list it is in.
    fn all_terms(r: &RuleSet) -> Vec<&Term> {
        let priorities = r.priorities.iter().flat_map(|p| {
            p.any
                .iter()
                .chain(p.also.iter().flatten())
                .chain(p.ages.iter().flat_map(|a| &a.units))
        });
        let closures = r
            .closures
            .iter()
            .flat_map(|c| c.any.iter().chain(&c.unless));
        r.categories
            .iter()
            .flat_map(|c| &c.terms)
            .chain(priorities)
            .chain(closures)
            .collect()
    }

    /// A word of a term of the shipped rules, or any word, with a typing slip or not.
    fn note_word(vocabulary: &'static [String]) -> impl Strategy<Value = String> {
        let known = proptest::sample::select(vocabulary);
        let made_up = "[a-zа-яёқөүұіңғәһ0-9]{1,9}";
        (
            prop_oneof![3 => known, 1 => made_up],
            0..4usize,
            any::<prop::sample::Index>(),
            "[a-zа-яқө]",
        )
            .prop_map(|(word, slip, at, letter)| {
                let mut letters: Vec<char> = word.chars().collect();
                let i = at.index(letters.len());
                match slip {
                    1 if letters.len() > 1 => {
                        letters.remove(i);
                    }
                    2 if i + 1 < letters.len() => letters.swap(i, i + 1),
                    3 => letters[i] = letter.chars().next().unwrap(),
                    _ => {}
                }
                letters.into_iter().collect()
            })
    }

    fn shipped_vocabulary() -> &'static [String] {
        static WORDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        WORDS.get_or_init(|| {
            let rules = RuleSet::from_toml(SHIPPED).unwrap();
            let mut words: Vec<String> = all_terms(&rules)
                .iter()
                .flat_map(|t| t.text.split([' ', '-', '\'']).map(str::to_lowercase))
                .filter(|w| !w.is_empty())
                .collect();
            words.sort();
            words.dedup();
            words
        })
    }

    const SHIPPED: &str = include_str!("../../../../services/triage/rules/triage.toml");

    /// [`Note::word_matches`] spelled out from its definitions, with no length or head
    /// gates: what the gates must never change.
    fn word_matches_spelled(note: &Note, i: usize, term: &Term, k: usize) -> Option<Match> {
        let token = &note.tokens[i];
        let (word, whole) = (&term.words[k], &term.folded[k]);
        let slip = |a: &str, b: &str| {
            text::edit_distance(a, b) <= 1
                && a.chars().count() >= text::FUZZY_MIN_LEN
                && b.chars().count() >= text::FUZZY_MIN_LEN
        };
        let how = |exact: bool, fuzzy: bool| {
            if exact {
                Some(Match::Exact)
            } else if fuzzy {
                Some(Match::Fuzzy)
            } else {
                None
            }
        };
        if term.exact {
            return (&token.folded == whole).then_some(Match::Exact);
        }
        match (term.lang, note.cyrillic[i]) {
            (Lang::Kk, true) if word.chars().count() <= 3 => {
                text::kk_matches_strict(&token.lower, &term.lower[k]).then_some(Match::Exact)
            }
            (Lang::Kk, true) => how(
                text::kk_matches(&token.folded, word),
                text::kk_matches_fuzzy(&token.folded, word, word.chars().count()),
            ),
            (Lang::Ru, true) => how(
                text::ru_stems_agree(&note.ru[i], word),
                slip(&note.ru[i], word) || slip(&token.folded, whole),
            ),
            (Lang::En, false) => how(
                &note.en[i] == word,
                slip(&note.en[i], word) || slip(&token.folded, whole),
            ),
            _ => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A term is looked for only where its first word may match: every token left out of
        /// its starts is one the word comparison turns away, in notes long and short (more
        /// than 64 words take more than one word of bits).
        #[test]
        fn a_term_is_looked_for_wherever_its_first_word_may_match(
            words in proptest::collection::vec(note_word(shipped_vocabulary()), 1..150),
        ) {
            let rules = RuleSet::from_toml(SHIPPED).unwrap();
            let note = Note::new(&words.join(" "));
            for term in all_terms(&rules) {
                for i in 0..note.tokens.len() {
                    let listed = note.starts(term, i / 64) & (1 << (i % 64)) != 0;
                    prop_assert!(
                        listed || note.word_matches(i, term, 0).is_none(),
                        "{:?} left out for {:?}", note.tokens[i].original, term.text
                    );
                }
            }
        }

        /// Every word of a note against every word of every shipped term: the heads and the
        /// lengths counted beforehand turn away only pairs that would not match, and a pair
        /// that matches matches the same way (as written or through a slip).
        #[test]
        fn a_word_matches_a_term_as_its_definition_says(
            words in proptest::collection::vec(note_word(shipped_vocabulary()), 1..40),
        ) {
            let rules = RuleSet::from_toml(SHIPPED).unwrap();
            let note = Note::new(&words.join(" "));
            for term in all_terms(&rules) {
                for k in 0..term.words.len() {
                    for i in 0..note.tokens.len() {
                        prop_assert_eq!(
                            note.word_matches(i, term, k),
                            word_matches_spelled(&note, i, term, k),
                            "{:?} against {:?}", note.tokens[i].original, term.text
                        );
                    }
                }
            }
        }
    }
}
