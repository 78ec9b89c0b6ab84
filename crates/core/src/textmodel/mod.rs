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
    /// Feature text and value, sorted by text, each once.
    pub values: Vec<(String, f32)>,
    /// Per word of the note (in order): its original text and the features it produced, as
    /// indices into `values`. Used to explain a decision by the words that weighed most.
    pub words: Vec<(String, Vec<usize>)>,
}

/// Turns a note into features. `extra` are features a caller derives from the note itself
/// (a frost said as a number, an age): they are added as written, prefixed with `#`; an
/// `extra` that starts with `@` is a fact for later heads and is added as written.
pub fn features(note: &str, extra: &[&str]) -> Features {
    let tokens = text::tokens(note);
    // Each distinct feature once, with its count and the slot it was first given; a word
    // keeps the slots of its features. Names are hashed with Fx rather than SipHash: they
    // come from the model's own text, and a note makes a thousand of them.
    // Sized for every feature the words can make (a word of n letters makes at most 4n + 3),
    // so it never grows on the way.
    let most: usize = tokens.iter().map(|t| 4 * t.folded.len() + 3).sum();
    let mut counts: FxHashMap<String, (f32, usize)> =
        FxHashMap::with_capacity_and_hasher(most + extra.len(), Default::default());
    let mut count = |name: &str| -> usize {
        if let Some((c, slot)) = counts.get_mut(name) {
            *c += 1.0;
            return *slot;
        }
        let slot = counts.len();
        counts.insert(name.to_string(), (1.0, slot));
        slot
    };
    let mut per_word: Vec<(String, Vec<usize>)> = Vec::with_capacity(tokens.len());
    let mut name = String::new();
    let mut marked: Vec<char> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let mut own = Vec::new();
        let w = &t.folded;
        // Digits say little by themselves ("3", "2026"); their meaning comes through `extra`.
        if !w.chars().all(|c| c.is_ascii_digit()) {
            name.clear();
            name.push('=');
            name.push_str(w);
            own.push(count(&name));
            marked.clear();
            marked.push('<');
            marked.extend(w.chars());
            marked.push('>');
            for n in NGRAMS {
                if marked.len() < n {
                    break;
                }
                for gram in marked.windows(n) {
                    name.clear();
                    name.extend(gram);
                    own.push(count(&name));
                }
            }
        }
        // A word pair keeps negation and short phrases together: "не вернулся", "келмеді".
        if let Some(next) = tokens.get(i + 1) {
            name.clear();
            name.push('+');
            name.push_str(w);
            name.push('_');
            name.push_str(&next.folded);
            own.push(count(&name));
        }
        per_word.push((t.original.clone(), own));
    }
    let mut facts = Vec::new();
    for e in extra {
        if given(e) {
            facts.push((e.to_string(), GIVEN_VALUE));
        } else {
            count(&format!("#{e}"));
        }
    }
    // Sub-linear counts, then unit length: a long note does not outweigh a short one.
    let mut values: Vec<(String, f32, usize)> = counts
        .into_iter()
        .map(|(f, (c, slot))| (f, 1.0 + c.ln(), slot))
        .collect();
    // In a fixed order, so the length (a float sum) and every training run are reproducible.
    // Names are distinct, so an unstable sort gives the one order.
    values.sort_unstable_by(|a, b| by_name(&a.0, &b.0));
    let norm = values.iter().map(|(_, v, _)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v, _) in &mut values {
            *v /= norm;
        }
    }
    // A given fact weighs as much as the whole note: it is certain, the words are not. Facts
    // are never the note's own features (those start with `=`, `+`, `#` or a letter), so
    // they sort among them without taking a slot.
    let sort_again = !facts.is_empty();
    let mut values: Vec<(String, f32, Option<usize>)> = values
        .into_iter()
        .map(|(f, v, slot)| (f, v, Some(slot)))
        .chain(facts.into_iter().map(|(f, v)| (f, v, None)))
        .collect();
    if sort_again {
        values.sort_by(|a, b| by_name(&a.0, &b.0));
    }
    // Where each slot ended up.
    let mut place = vec![0; values.len()];
    for (i, (_, _, slot)) in values.iter().enumerate() {
        if let Some(slot) = slot {
            place[*slot] = i;
        }
    }
    let words = per_word
        .into_iter()
        .map(|(original, own)| {
            let mut ids: Vec<usize> = own.into_iter().map(|slot| place[slot]).collect();
            ids.sort_unstable();
            ids.dedup();
            (original, ids)
        })
        .collect();
    Features {
        values: values.into_iter().map(|(f, v, _)| (f, v)).collect(),
        words,
    }
}

/// The order of feature names, which is `str`'s (bytewise): their first eight bytes, padded
/// with zeros, compared as one number first, which settles nearly every pair of a note's
/// names (two to five letters, or a word) without a call to `memcmp`. Where the numbers
/// differ, the first byte that differs is a byte of both names, or the padding of a name that
/// is the start of the other, so they are in `str`'s order; where they are equal the whole
/// names are compared.
fn by_name(a: &str, b: &str) -> std::cmp::Ordering {
    fn head(s: &str) -> u64 {
        let mut bytes = [0u8; 8];
        let n = s.len().min(8);
        bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        u64::from_be_bytes(bytes)
    }
    head(a).cmp(&head(b)).then_with(|| a.cmp(b))
}

impl Features {
    /// These features with a given fact added (see the module notes), as if `extra` had
    /// named it.
    pub fn with_given(&self, fact: &str) -> Features {
        // Appended, so the words' feature indices stay valid; a note's own features are never
        // given facts, so it is not there already.
        debug_assert!(given(fact) && !self.values.iter().any(|(n, _)| n == fact));
        let mut out = self.clone();
        out.values.push((fact.to_string(), GIVEN_VALUE));
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
        let mut s: Vec<f32> = self.bias.iter().flatten().copied().collect();
        for (name, v) in &f.values {
            self.add(&mut s, name, *v);
        }
        Scores(s)
    }

    /// What feature `name` of value `v` adds to every head it counts for: a given fact is
    /// never seen by the first head.
    fn add(&self, s: &mut [f32], name: &str, v: f32) {
        if let Some(&row) = self.index.get(name) {
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
        let start = self.offset(head);
        let k = self.heads[head].labels.len();
        let push = |i: usize| -> f32 {
            let (name, v) = &f.values[i];
            let Some(&row) = self.index.get(name) else {
                return 0.0;
            };
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
            prop_assert_eq!(by_name(&a, &b), a.cmp(&b));
            let shared = format!("{a}{b}");
            prop_assert_eq!(by_name(&a, &shared), a.as_str().cmp(shared.as_str()));
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
        let norm: f32 = f.values.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        // Both spellings fold to one word, so its feature counts twice and the pair once.
        let word = f.values.iter().find(|(n, _)| n == "=комир").unwrap().1;
        let pair = f
            .values
            .iter()
            .find(|(n, _)| n == "+комир_комир")
            .unwrap()
            .1;
        assert!(word > pair);
        assert!(f.values.iter().any(|(n, _)| n == "#cold"));
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
