//! A statistical classifier for short notes: character n-grams of folded words, whole words and
//! word pairs as features, and a multinomial logistic regression per question asked of a note
//! (a *head*: the category, the priority).
//!
//! Character n-grams carry what keyword lists miss: an inflected or misspelt word shares most
//! of its n-grams with the word a person meant ("жоғалып", "жогалды", "жоғалған"), and folding
//! (see [`crate::text`]) makes Kazakh typed with Russian look-alike letters the same text.
//!
//! A feature whose name starts with `@` is a fact decided before the note is read by a later
//! head (triage gives the priority head the category already decided): the first head never
//! sees such features, in training or after.
//!
//! The trained model is a text file (see [`Model::to_text`]): its format line, version, heads
//! with their labels, and one line per feature with its weights, closed by a checksum of
//! everything before it, so a truncated or edited file is refused at load.

mod file;
mod train;

use rustc_hash::FxHashMap;

use crate::text;

#[cfg(test)]
pub(crate) use file::fnv1a;
pub use train::{Example, Training, train};

/// First line of every model file; the number is the format, changed with any change to how
/// features are made or weights are written.
const MAGIC: &str = "komek-text-model 1";

/// Value of a given fact (an `@` feature), outside the note's unit length.
const GIVEN_VALUE: f32 = 1.0;

/// Character n-gram lengths, of a word written between boundary marks ("<word>").
const NGRAMS: std::ops::RangeInclusive<usize> = 2..=5;

/// Why a model file was refused, with its line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ModelError {
    pub line: usize,
    pub message: String,
}

fn model_err(line: usize, message: impl Into<String>) -> ModelError {
    ModelError {
        line,
        message: message.into(),
    }
}

/// The features of one note, each with its value; the vector has unit length.
#[derive(Debug, Clone, Default)]
pub struct Features {
    /// Every feature's name, one after another, in the order of `values`.
    names: String,
    /// Per feature, sorted by name, each once: where its name ends in `names`, and its value.
    values: Vec<(u32, f32)>,
    /// Per word of the note (in order): its original text and the features it produced, as
    /// indices into the features. Used to explain a decision by the words that weighed most.
    pub words: Vec<(String, Vec<usize>)>,
}

/// One feature a word (or `extra`) produced, before they are counted: where its name lies in
/// the names written so far, its first sixteen bytes as one number (see [`name_key`]), and
/// the word it came from.
struct Made {
    key: u128,
    start: u32,
    end: u32,
    word: u32,
}

/// The word of a feature that no word made (an `extra`).
const NO_WORD: u32 = u32::MAX;

/// Turns a note into features. `extra` are features a caller derives from the note itself
/// (a frost said as a number, an age): they are added as written, prefixed with `#`; an
/// `extra` that starts with `@` is a fact for later heads and is added as written.
pub fn features(note: &str, extra: &[&str]) -> Features {
    features_of_tokens(&text::tokens(note), extra)
}

/// [`features`] of a note already split into words ([`text::tokens`]).
pub fn features_of_tokens(tokens: &[text::Token], extra: &[&str]) -> Features {
    // Every feature a word makes is written once into one string and counted by sorting
    // them: a note makes some five hundred, mostly of two to five letters, and a string and a
    // map entry of its own for each took more than the rest of the model's arithmetic.
    // `made` is sized for every feature the words can make (a word of n bytes makes at most
    // 4n + 3); `written` for about as many bytes as they take, and may grow.
    let most: usize = tokens.iter().map(|t| 4 * t.folded.len() + 3).sum::<usize>() + extra.len();
    let mut written = String::with_capacity(
        tokens
            .iter()
            .map(|t| 12 * t.folded.len() + 16)
            .sum::<usize>()
            + extra.iter().map(|e| e.len() + 1).sum::<usize>(),
    );
    let mut made: Vec<Made> = Vec::with_capacity(most);
    let mut make = |written: &mut String, start: usize, word: u32| {
        made.push(Made {
            key: name_key(&written[start..]),
            start: start as u32,
            end: written.len() as u32,
            word,
        });
    };
    // Byte offsets of the characters of "<word>", and its end.
    let mut bounds: Vec<usize> = Vec::new();
    let mut marked = String::new();
    for (i, t) in tokens.iter().enumerate() {
        let w = &t.folded;
        let word = i as u32;
        // Digits say little by themselves ("3", "2026"); their meaning comes through `extra`.
        if !w.chars().all(|c| c.is_ascii_digit()) {
            let start = written.len();
            written.push('=');
            written.push_str(w);
            make(&mut written, start, word);
            marked.clear();
            marked.push('<');
            marked.push_str(w);
            marked.push('>');
            bounds.clear();
            bounds.extend(marked.char_indices().map(|(at, _)| at));
            bounds.push(marked.len());
            let letters = bounds.len() - 1;
            for n in NGRAMS {
                if letters < n {
                    break;
                }
                for first in 0..=letters - n {
                    let start = written.len();
                    written.push_str(&marked[bounds[first]..bounds[first + n]]);
                    make(&mut written, start, word);
                }
            }
        }
        // A word pair keeps negation and short phrases together: "не вернулся", "келмеді".
        if let Some(next) = tokens.get(i + 1) {
            let start = written.len();
            written.push('+');
            written.push_str(w);
            written.push('_');
            written.push_str(&next.folded);
            make(&mut written, start, word);
        }
    }
    let mut facts: Vec<&str> = Vec::new();
    for e in extra {
        if given(e) {
            facts.push(e);
        } else {
            let start = written.len();
            written.push('#');
            written.push_str(e);
            make(&mut written, start, NO_WORD);
        }
    }
    let name = |m: &Made| &written[m.start as usize..m.end as usize];
    // By name, which is `str`'s order: equal names side by side, to be counted.
    made.sort_unstable_by(|a, b| by_name((a.key, name(a)), (b.key, name(b))));

    // Sub-linear counts, then unit length: a long note does not outweigh a short one. In
    // name order, so the length (a float sum) and every training run are reproducible.
    let mut distinct: Vec<(usize, f32)> = Vec::new();
    let mut feature_of = vec![0usize; made.len()];
    let mut i = 0;
    while i < made.len() {
        let mut j = i + 1;
        while j < made.len() && made[j].key == made[i].key && name(&made[j]) == name(&made[i]) {
            j += 1;
        }
        feature_of[i..j].fill(distinct.len());
        distinct.push((i, 1.0 + ((j - i) as f32).ln()));
        i = j;
    }
    let norm = distinct.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v) in &mut distinct {
            *v /= norm;
        }
    }

    // A given fact weighs as much as the whole note: it is certain, the words are not. Facts
    // are never the note's own features (those start with `=`, `+`, `#` or a letter), so
    // they sort among them without a word, each after a note's feature of the same name.
    facts.sort_unstable();
    let mut out = Features {
        names: String::with_capacity(written.len() + facts.iter().map(|f| f.len()).sum::<usize>()),
        values: Vec::with_capacity(distinct.len() + facts.len()),
        words: Vec::with_capacity(tokens.len()),
    };
    // Where each of the note's features ended up.
    let mut place = vec![0usize; distinct.len()];
    let mut facts = facts.into_iter().peekable();
    for (d, (first, v)) in distinct.iter().enumerate() {
        let own = name(&made[*first]);
        while let Some(fact) = facts.next_if(|f| *f < own) {
            out.push(fact, GIVEN_VALUE);
        }
        place[d] = out.values.len();
        out.push(own, *v);
    }
    for fact in facts {
        out.push(fact, GIVEN_VALUE);
    }

    let mut ids: Vec<Vec<usize>> = vec![Vec::new(); tokens.len()];
    for (m, d) in made.iter().zip(&feature_of) {
        if m.word != NO_WORD {
            ids[m.word as usize].push(place[*d]);
        }
    }
    out.words = tokens
        .iter()
        .zip(ids)
        .map(|(t, mut ids)| {
            ids.sort_unstable();
            ids.dedup();
            (t.original.clone(), ids)
        })
        .collect();
    out
}

/// A name's first sixteen bytes, padded with zeros, as one number: ordered as the names are
/// wherever the numbers differ (the first byte that differs is a byte of both names, or the
/// padding of a name that is the start of the other), so only names that agree on their
/// first sixteen bytes are compared whole. A note's n-grams are two to five letters, at most
/// ten bytes in Cyrillic: they are settled by the number alone.
fn name_key(s: &str) -> u128 {
    let mut bytes = [0u8; 16];
    let n = s.len().min(16);
    bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
    u128::from_be_bytes(bytes)
}

/// `str`'s order of two names, each with its [`name_key`].
fn by_name(a: (u128, &str), b: (u128, &str)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1))
}

impl Features {
    /// Adds a feature after those there: the caller keeps the order by name.
    fn push(&mut self, name: &str, value: f32) {
        self.names.push_str(name);
        self.values.push((self.names.len() as u32, value));
    }

    /// Number of distinct features.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Feature `i`: its name and value.
    pub fn get(&self, i: usize) -> (&str, f32) {
        let start = match i {
            0 => 0,
            i => self.values[i - 1].0 as usize,
        };
        let (end, value) = self.values[i];
        (&self.names[start..end as usize], value)
    }

    /// The features, sorted by name, each once, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f32)> + '_ {
        (0..self.values.len()).map(|i| self.get(i))
    }

    /// These features with a given fact added (see the module notes), as if `extra` had
    /// named it.
    pub fn with_given(&self, fact: &str) -> Features {
        // Appended, so the words' feature indices stay valid; a note's own features are never
        // given facts, so it is not there already.
        debug_assert!(given(fact) && !self.iter().any(|(n, _)| n == fact));
        let mut out = self.clone();
        out.push(fact, GIVEN_VALUE);
        out
    }
}

/// One question the model answers, with its possible answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub name: String,
    pub labels: Vec<String>,
}

/// A trained model: per feature, one weight per label of every head, heads in order.
#[derive(Debug, Clone)]
pub struct Model {
    version: String,
    about: String,
    heads: Vec<Head>,
    /// Per head, one bias per label.
    bias: Vec<Vec<f32>>,
    index: FxHashMap<String, usize>,
    /// Row `i` holds feature `i`'s weights, `width` of them.
    weights: Vec<f32>,
    width: usize,
}

/// Per feature of a note, the row of its weights in a model ([`Model::rows`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Rows(Vec<u32>);

impl Rows {
    /// A feature the model has no weights for.
    const NONE: u32 = u32::MAX;
}

/// The raw scores of every head for one note, before each head's softmax (see
/// [`Model::scores`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Scores(Vec<f32>);

/// A head's answer for one note.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Probability of each label, in the head's label order; they sum to 1.
    pub probabilities: Vec<f64>,
}

impl Prediction {
    /// The most probable label's index and its probability.
    pub fn best(&self) -> (usize, f64) {
        self.probabilities
            .iter()
            .copied()
            .enumerate()
            .fold((0, f64::MIN), |b, (i, p)| if p > b.1 { (i, p) } else { b })
    }
}

impl Model {
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How the model was made, as recorded at training.
    pub fn about(&self) -> &str {
        &self.about
    }

    pub fn heads(&self) -> &[Head] {
        &self.heads
    }

    /// Number of features with weights.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn offset(&self, head: usize) -> usize {
        self.heads[..head].iter().map(|h| h.labels.len()).sum()
    }

    /// Raw scores of every head for a note's features, laid out like a weight row.
    pub fn scores(&self, f: &Features) -> Scores {
        self.scores_of(f, &self.rows(f))
    }

    /// Where each of a note's features has its weights, looked up once a note: the scores
    /// ([`Model::scores_of`]) and the words that weighed ([`Model::strongest_words_of`]) read
    /// the same rows.
    pub fn rows(&self, f: &Features) -> Rows {
        Rows(
            f.iter()
                .map(|(name, _)| self.index.get(name).map_or(Rows::NONE, |&r| r as u32))
                .collect(),
        )
    }

    /// [`Model::scores`] with the features' rows already looked up.
    pub fn scores_of(&self, f: &Features, rows: &Rows) -> Scores {
        let mut s: Vec<f32> = self.bias.iter().flatten().copied().collect();
        for ((name, v), &row) in f.iter().zip(&rows.0) {
            if row != Rows::NONE {
                self.add_row(&mut s, row as usize, name, v);
            }
        }
        Scores(s)
    }

    /// What feature `name` of value `v` adds to every head it counts for: a given fact is
    /// never seen by the first head.
    fn add(&self, s: &mut [f32], name: &str, v: f32) {
        if let Some(&row) = self.index.get(name) {
            self.add_row(s, row, name, v);
        }
    }

    fn add_row(&self, s: &mut [f32], row: usize, name: &str, v: f32) {
        let w = &self.weights[row * self.width..(row + 1) * self.width];
        let from = if given(name) {
            self.heads[0].labels.len()
        } else {
            0
        };
        for (acc, w) in s.iter_mut().zip(w).skip(from) {
            *acc += v * w;
        }
    }

    /// The scores of a note's features with a given fact added, as [`Features::with_given`]
    /// then [`Model::scores`] would make them: the fact comes last there, so adding it to the
    /// sums already made is the same arithmetic in the same order, without reading the note's
    /// features again.
    pub fn scores_with_given(&self, scores: &Scores, fact: &str) -> Scores {
        debug_assert!(given(fact));
        let mut s = scores.0.clone();
        self.add(&mut s, fact, GIVEN_VALUE);
        Scores(s)
    }

    /// Every head's prediction for a note's features, heads in order.
    pub fn predict(&self, f: &Features) -> Vec<Prediction> {
        self.predictions(&self.scores(f))
    }

    /// Every head's prediction from its raw scores, heads in order.
    pub fn predictions(&self, scores: &Scores) -> Vec<Prediction> {
        let mut out = Vec::with_capacity(self.heads.len());
        let mut at = 0;
        for h in &self.heads {
            out.push(Prediction {
                probabilities: softmax(&scores.0[at..at + h.labels.len()]),
            });
            at += h.labels.len();
        }
        out
    }

    /// The words of the note that pushed `head` most towards `label`, strongest first, at
    /// most `n`. A word's push is what its features add to the label's score beyond their
    /// mean over the head's labels, so a word common to every label pushes nothing.
    pub fn strongest_words(
        &self,
        f: &Features,
        head: usize,
        label: usize,
        n: usize,
    ) -> Vec<String> {
        self.strongest_words_of(f, &self.rows(f), head, label, n)
    }

    /// [`Model::strongest_words`] with the features' rows already looked up.
    pub fn strongest_words_of(
        &self,
        f: &Features,
        rows: &Rows,
        head: usize,
        label: usize,
        n: usize,
    ) -> Vec<String> {
        let start = self.offset(head);
        let k = self.heads[head].labels.len();
        let push = |i: usize| -> f32 {
            let (_, v) = f.get(i);
            let row = rows.0[i];
            if row == Rows::NONE {
                return 0.0;
            }
            let row = row as usize;
            let w = &self.weights[row * self.width + start..row * self.width + start + k];
            let mean = w.iter().sum::<f32>() / k as f32;
            v * (w[label] - mean)
        };
        let mut words: Vec<(f32, usize, &str)> = f
            .words
            .iter()
            .enumerate()
            .map(|(i, (original, ids))| (ids.iter().map(|&j| push(j)).sum(), i, original.as_str()))
            .filter(|(p, _, _)| *p > 0.0)
            .collect();
        words.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut out: Vec<String> = Vec::new();
        for (_, _, w) in words {
            if !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
            if out.len() == n {
                break;
            }
        }
        out
    }

    /// How much a single feature pushes `head` towards `label` (its weight beyond the mean of
    /// the head's labels); 0 for a feature the model does not know.
    pub fn push_of(&self, feature: &str, head: usize, label: usize) -> f32 {
        let Some(&row) = self.index.get(feature) else {
            return 0.0;
        };
        let start = self.offset(head);
        let k = self.heads[head].labels.len();
        let w = &self.weights[row * self.width + start..row * self.width + start + k];
        w[label] - w.iter().sum::<f32>() / k as f32
    }
}

/// Whether a feature is a fact given to later heads only (see the module notes).
fn given(name: &str) -> bool {
    name.starts_with('@')
}

fn softmax(s: &[f32]) -> Vec<f64> {
    let max = s.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f64> = s.iter().map(|v| f64::from(v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::file::num;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn names_are_ordered_as_strings_are(
            a in "[\\x00ab<>=+_жқ]{0,12}",
            b in "[\\x00ab<>=+_жқ]{0,12}",
        ) {
            let keyed = |s: &str| (name_key(s), s.to_string());
            let ((ka, a), (kb, b)) = (keyed(&a), keyed(&b));
            prop_assert_eq!(by_name((ka, &a), (kb, &b)), a.cmp(&b));
            let shared = format!("{a}{b}");
            prop_assert_eq!(
                by_name((ka, &a), (name_key(&shared), &shared)),
                a.as_str().cmp(shared.as_str())
            );
        }
    }

    /// The features of a note by their definition, a string and a map entry for each:
    /// names in `str`'s order with their values, and each word's features.
    #[allow(clippy::type_complexity)]
    fn features_by_definition(
        note: &str,
        extra: &[&str],
    ) -> (Vec<(String, f32)>, Vec<(String, Vec<usize>)>) {
        use std::collections::BTreeMap;
        let tokens = text::tokens(note);
        let mut counts: BTreeMap<String, f32> = BTreeMap::new();
        let mut per_word: Vec<(String, Vec<String>)> = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            let w = &t.folded;
            let mut own = Vec::new();
            if !w.chars().all(|c| c.is_ascii_digit()) {
                own.push(format!("={w}"));
                let marked: Vec<char> = format!("<{w}>").chars().collect();
                for n in NGRAMS {
                    for gram in marked.windows(n) {
                        own.push(gram.iter().collect());
                    }
                }
            }
            if let Some(next) = tokens.get(i + 1) {
                own.push(format!("+{w}_{}", next.folded));
            }
            for f in &own {
                *counts.entry(f.clone()).or_default() += 1.0;
            }
            per_word.push((t.original.clone(), own));
        }
        let mut facts = Vec::new();
        for e in extra {
            if e.starts_with('@') {
                facts.push((e.to_string(), GIVEN_VALUE));
            } else {
                *counts.entry(format!("#{e}")).or_default() += 1.0;
            }
        }
        let mut values: Vec<(String, f32)> =
            counts.into_iter().map(|(f, c)| (f, 1.0 + c.ln())).collect();
        let norm = values.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        for (_, v) in &mut values {
            *v /= norm;
        }
        values.extend(facts);
        values.sort_by(|a, b| a.0.cmp(&b.0));
        let words = per_word
            .into_iter()
            .map(|(original, own)| {
                let mut ids: Vec<usize> = own
                    .iter()
                    .map(|f| values.iter().position(|(n, _)| n == f).unwrap())
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                (original, ids)
            })
            .collect();
        (values, words)
    }

    fn same_as_defined(note: &str, extra: &[&str]) -> Result<(), TestCaseError> {
        let f = features(note, extra);
        let (values, words) = features_by_definition(note, extra);
        let made: Vec<(String, u32)> = f
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_bits()))
            .collect();
        let defined: Vec<(String, u32)> = values
            .iter()
            .map(|(n, v)| (n.clone(), v.to_bits()))
            .collect();
        prop_assert_eq!(made, defined, "{:?}", note);
        prop_assert_eq!(&f.words, &words, "{:?}", note);
        Ok(())
    }

    proptest! {
        /// The features made by sorting written names are the definition's, bit for bit:
        /// the order, the counts, the length divided by, and each word's share.
        #[test]
        fn features_are_their_definition(
            note in "[а-яёәғқңөұүһі a-zA-Z0-9.,!-]{0,80}",
            extra in proptest::collection::vec("[@#]?[a-zж_=]{1,8}", 0..4),
        ) {
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            same_as_defined(&note, &extra)?;
        }
    }

    #[test]
    fn features_of_repeated_and_long_words_are_their_definition() {
        for note in [
            "",
            "уголь уголь уголь",
            "жоғалғандардың жоғалғандардың ізделінуде 83 жаста",
            "Көмір КОМИР көмір, -25 градус",
            "a b c d e f g h",
        ] {
            same_as_defined(note, &["child_age", "@category=search_operation"]).unwrap();
        }
    }

    fn heads() -> Vec<Head> {
        vec![
            Head {
                name: "topic".into(),
                labels: vec!["coal".into(), "search".into()],
            },
            Head {
                name: "urgency".into(),
                labels: vec!["now".into(), "later".into(), "never".into()],
            },
        ]
    }

    fn example(note: &str, topic: usize, urgency: usize) -> Example {
        Example {
            features: features(note, &[]),
            labels: vec![topic, urgency],
            weight: 1.0,
        }
    }

    fn toy() -> Model {
        let examples = vec![
            example("нужен уголь на зиму", 0, 1),
            example("угля нет совсем, срочно", 0, 0),
            example("привезти уголь пенсионеру", 0, 1),
            example("көмір керек", 0, 1),
            example("пропал ребёнок, срочно", 1, 0),
            example("пропала бабушка", 1, 0),
            example("бала жоғалды", 1, 0),
            example("пропал брат, не срочно", 1, 2),
        ];
        let settings = Training {
            min_notes: 1,
            ..Training::default()
        };
        train(heads(), &examples, &settings, "toy-1", "unit test")
    }

    #[test]
    fn features_have_unit_length_and_fold_kazakh_letters() {
        let f = features("Көмір КОМИР", &["cold"]);
        let norm: f32 = f.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        // Both spellings fold to one word, so its feature counts twice and the pair once.
        let word = f.iter().find(|(n, _)| *n == "=комир").unwrap().1;
        let pair = f.iter().find(|(n, _)| *n == "+комир_комир").unwrap().1;
        assert!(word > pair);
        assert!(f.iter().any(|(n, _)| n == "#cold"));
        assert_eq!(f.words.len(), 2);
    }

    #[test]
    fn trained_model_separates_what_it_was_shown_and_generalises_by_ngrams() {
        let m = toy();
        let p = m.predict(&features("углём бы помочь", &[]));
        assert_eq!(p[0].best().0, 0, "{p:?}");
        // An inflection it never saw.
        let p = m.predict(&features("пропавшая девочка", &[]));
        assert_eq!(p[0].best().0, 1, "{p:?}");
        let sum: f64 = p[1].probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-9);
    }

    #[test]
    fn strongest_words_are_the_ones_that_decided() {
        let m = toy();
        let f = features("Пропал сосед вчера", &[]);
        let words = m.strongest_words(&f, 0, 1, 2);
        assert_eq!(
            words.first().map(String::as_str),
            Some("Пропал"),
            "{words:?}"
        );
    }

    #[test]
    fn file_round_trips_and_damage_is_refused_with_its_line() {
        let m = toy();
        let text = m.to_text();
        let back = Model::from_text(&text).unwrap();
        assert_eq!(back.version(), "toy-1");
        assert_eq!(back.heads(), m.heads());
        let f = features("пропал ребёнок", &[]);
        let (a, b) = (m.predict(&f), back.predict(&f));
        for (x, y) in a[0].probabilities.iter().zip(&b[0].probabilities) {
            assert!((x - y).abs() < 1e-3);
        }

        // Cut short.
        let cut = &text[..text.len() / 2];
        let e = Model::from_text(cut).unwrap_err();
        assert!(e.message.contains("cut short"), "{e}");
        // One weight changed.
        let changed = text.replacen("\t", "\t9", 3);
        assert!(
            Model::from_text(&changed)
                .unwrap_err()
                .message
                .contains("checksum")
        );
        // A wrong row, with a correct checksum: refused at its line.
        let body = text[..text.rfind("end\t").unwrap()].replace("\n=пропал\t", "\n=пропал\t1 ");
        let forged = format!("{body}end\t{:016x}\n", fnv1a(body.as_bytes()));
        let e = Model::from_text(&forged).unwrap_err();
        assert!(e.message.contains("weights, expected 5"), "{e}");
        assert!(
            forged
                .lines()
                .nth(e.line - 1)
                .unwrap()
                .starts_with("=пропал")
        );
        // A non-finite weight.
        let body = text[..text.rfind("end\t").unwrap()].replacen("bias\t", "bias\tNaN", 1);
        let forged = format!("{body}end\t{:016x}\n", fnv1a(body.as_bytes()));
        assert!(Model::from_text(&forged).is_err());
    }

    #[test]
    fn weights_are_written_short_and_read_back_close() {
        for v in [0.0f32, 1.0, -0.5, 1.234_567, 3.2e-5, -12.5] {
            let back: f32 = num(v).parse().unwrap();
            assert!((back - v).abs() <= v.abs() * 5e-3, "{v} → {}", num(v));
        }
        assert_eq!(num(1.0), "1");
        assert_eq!(num(-0.5), "-5e-1");
    }
}
