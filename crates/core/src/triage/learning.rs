//! Learning from dispatchers: every override is a labelled example. This module turns overridden
//! notes into corpus lines and ranks the words in them that neither the model nor the rules tie
//! to the category the dispatcher chose.

use std::collections::{BTreeMap, BTreeSet};

use crate::text;
use crate::{Category, Priority};

use super::Triage;

/// A note a dispatcher re-triaged, with what they chose.
#[derive(Debug, Clone)]
pub struct Corrected {
    pub note: String,
    pub category: Category,
    pub priority: Priority,
    /// Where the note came from ("requests/…"), shown as an example.
    pub source: String,
}

/// A word the model and the rules missed.
#[derive(Debug, Clone, PartialEq)]
pub struct Missed {
    /// Folded: lower case, Kazakh letters as their Russian look-alikes.
    pub word: String,
    /// Corrected notes it is in.
    pub notes: usize,
    /// Categories the dispatchers chose for those notes.
    pub categories: Vec<Category>,
    /// Mean of how much the model ties the word to the chosen category; 0 or less: not at all.
    pub model_weight: f64,
    /// The source of one note it is in.
    pub example: String,
}

/// Words too common to teach anything, folded, in kk, ru and en.
const COMMON: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "from",
    "has",
    "have",
    "his",
    "her",
    "she",
    "they",
    "this",
    "that",
    "are",
    "was",
    "not",
    "but",
    "can",
    "who",
    "needs",
    "need",
    "help",
    "please",
    "для",
    "что",
    "как",
    "это",
    "его",
    "она",
    "они",
    "нет",
    "уже",
    "еще",
    "или",
    "так",
    "там",
    "все",
    "всё",
    "при",
    "над",
    "под",
    "без",
    "когда",
    "чтобы",
    "нужна",
    "нужен",
    "нужно",
    "нужны",
    "помощь",
    "помогите",
    "просит",
    "пожалуйста",
    "очень",
    "мен",
    "жане",
    "бар",
    "жок",
    "бул",
    "ол",
    "керек",
    "комек",
    "уши",
    "деп",
    "мен",
    "сиз",
    "биз",
    "осы",
    "сол",
    "ушин",
];

/// Ranks the words of corrected notes that the model does not push towards the chosen
/// category and that no rule of that category matches: most notes first, then the words the
/// model pushes most the wrong way. At most `limit`.
pub fn missed_words(triage: &Triage, corrected: &[Corrected], limit: usize) -> Vec<Missed> {
    struct Acc {
        notes: usize,
        categories: BTreeSet<Category>,
        weight: f64,
        example: String,
    }
    let mut words: BTreeMap<String, Acc> = BTreeMap::new();
    for c in corrected {
        let mut seen = BTreeSet::new();
        for t in text::tokens(&c.note) {
            let w = t.folded;
            if w.chars().count() < 3
                || w.chars().any(|ch| ch.is_ascii_digit())
                || COMMON.contains(&w.as_str())
                || !seen.insert(w.clone())
            {
                continue;
            }
            let weight = triage
                .model()
                .map_or(0.0, |m| f64::from(m.word_push(&w, c.category)));
            if weight > 0.0 || triage.rules().knows(&w, c.category) {
                continue;
            }
            let acc = words.entry(w).or_insert_with(|| Acc {
                notes: 0,
                categories: BTreeSet::new(),
                weight: 0.0,
                example: c.source.clone(),
            });
            acc.notes += 1;
            acc.categories.insert(c.category);
            acc.weight += weight;
        }
    }
    let mut out: Vec<Missed> = words
        .into_iter()
        .map(|(word, a)| Missed {
            word,
            notes: a.notes,
            categories: a.categories.into_iter().collect(),
            model_weight: a.weight / a.notes as f64,
            example: a.example,
        })
        .collect();
    out.sort_by(|a, b| {
        b.notes
            .cmp(&a.notes)
            .then(a.model_weight.total_cmp(&b.model_weight))
            .then(a.word.cmp(&b.word))
    });
    out.truncate(limit);
    out
}

/// The language a note is written in, as the corpus labels it: `kk` when it has Kazakh
/// letters or common Kazakh words, `en` when it is Latin only, `mixed` when it has both
/// Cyrillic and Latin words or Kazakh and Russian ones, `ru` otherwise. A guess, for export.
pub fn guess_language(note: &str) -> &'static str {
    let tokens = text::tokens(note);
    let words: Vec<&str> = tokens
        .iter()
        .map(|t| t.lower.as_str())
        .filter(|w| w.chars().any(char::is_alphabetic))
        .collect();
    let latin = words.iter().filter(|w| !text::is_cyrillic_word(w)).count();
    let cyrillic = words.len() - latin;
    let kazakh = words
        .iter()
        .filter(|w| {
            w.chars().any(|c| "әғқңөұүһі".contains(c))
                || ["керек", "жоқ", "жок", "бар", "және", "үшін", "деп", "еді"].contains(w)
        })
        .count();
    let russian = words
        .iter()
        .filter(|w| {
            // Kazakh spells Russian loanwords with every Russian letter, so words decide.
            [
                "нужно",
                "нужна",
                "нужен",
                "нужны",
                "помогите",
                "что",
                "как",
                "и",
                "в",
                "на",
                "с",
                "у",
                "нет",
                "лет",
                "года",
                "срочно",
                "дома",
                "его",
                "ее",
                "просит",
                "уже",
            ]
            .contains(w)
        })
        .count();
    match (cyrillic, latin) {
        (0, 0) => "ru",
        (0, _) => "en",
        (_, 0) if kazakh > 0 && russian > 0 => "mixed",
        (_, 0) if kazakh > 0 => "kk",
        (_, 0) => "ru",
        _ => "mixed",
    }
}

/// One line of a corpus file (see [`super::read_corpus`]).
pub fn corpus_line(c: &Corrected) -> String {
    let note: String = c
        .note
        .chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect();
    format!(
        "{}\t{}\t{}\t{}",
        guess_language(&note),
        c.category.slug(),
        c.priority.slug(),
        note.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::{RuleSet, read_corpus};

    const RULES: &str = r#"
version = "t"
[[category]]
category = "search_operation"
priority = "high"
skills = []
explanation = "x"
terms = { ru = ["пропал"] }
[[category]]
category = "fuel_delivery"
priority = "normal"
skills = []
explanation = "x"
terms = { ru = ["уголь"] }
[[category]]
category = "veteran_aid"
priority = "normal"
skills = []
explanation = "x"
terms = { ru = ["ветеран"] }
[[category]]
category = "psychological_support"
priority = "normal"
skills = []
explanation = "x"
terms = { ru = ["психолог"] }
[[category]]
category = "material_aid"
priority = "normal"
skills = []
explanation = "x"
terms = { ru = ["одежда"] }
[[category]]
category = "emergency_hq"
priority = "high"
skills = []
explanation = "x"
terms = { ru = ["паводок"] }
[[category]]
category = "consultation"
priority = "low"
skills = []
explanation = "x"
terms = { ru = ["юрист"] }
[[category]]
category = "other"
priority = "normal"
skills = []
explanation = "x"
"#;

    fn corrected(note: &str, category: Category) -> Corrected {
        Corrected {
            note: note.into(),
            category,
            priority: Priority::Normal,
            source: format!("requests/{note}"),
        }
    }

    #[test]
    fn ranks_words_neither_the_model_nor_the_rules_tie_to_the_category() {
        let corpus = read_corpus(
            "ru\tsearch_operation\thigh\tпропал брат\n\
             ru\tfuel_delivery\tnormal\tнужен уголь\n\
             ru\tfuel_delivery\tnormal\tуголь на зиму\n",
        )
        .unwrap();
        let model = super::super::model::train(
            &corpus,
            &crate::textmodel::Training {
                min_notes: 1,
                ..Default::default()
            },
            "t",
            "",
        );
        let triage = Triage::new(RuleSet::from_toml(RULES).unwrap(), Some(model));
        let notes = [
            corrected("Саксаул кончился, саксаул нужен", Category::FuelDelivery),
            corrected("саксаул на исходе", Category::FuelDelivery),
            corrected("нужен уголь и кизяк", Category::FuelDelivery),
            corrected("брат пропал в степи", Category::SearchOperation),
        ];
        let missed = missed_words(&triage, &notes, 10);
        let words: Vec<&str> = missed.iter().map(|m| m.word.as_str()).collect();
        // Twice, counted once per note; first because most frequent.
        assert_eq!(missed[0].word, "саксаул");
        assert_eq!(missed[0].notes, 2);
        assert_eq!(missed[0].categories, vec![Category::FuelDelivery]);
        assert!(words.contains(&"кизяк"), "{words:?}");
        // A rule term of the chosen category, and a word the model ties to it, are known.
        assert!(!words.contains(&"уголь"), "{words:?}");
        assert!(!words.contains(&"пропал"), "{words:?}");
        // Common words teach nothing.
        assert!(!words.contains(&"нужен"), "{words:?}");
        assert!(missed_words(&triage, &notes, 1).len() == 1);
    }

    #[test]
    fn languages_are_guessed_for_export() {
        assert_eq!(guess_language("Пропал ребёнок"), "ru");
        assert_eq!(guess_language("Бала жоғалып кетті"), "kk");
        assert_eq!(guess_language("комир керек"), "kk");
        assert_eq!(guess_language("Missing child"), "en");
        assert_eq!(guess_language("Missing person, мужчина 30 лет"), "mixed");
        assert_eq!(guess_language("Көмір нужен на зиму"), "mixed");
    }

    #[test]
    fn an_exported_line_reads_back_as_corpus() {
        let c = corrected("Нужен\tуголь\nсрочно", Category::FuelDelivery);
        let line = corpus_line(&c);
        let back = read_corpus(&line).unwrap();
        assert_eq!(back[0].note, "Нужен уголь срочно");
        assert_eq!(back[0].category, Category::FuelDelivery);
    }
}
