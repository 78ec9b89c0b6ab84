//! Numbers in a call note that change how urgent it is: a frost ("−28", "-30°", "минус 30",
//! "минус отыз", "minus thirty") and a person's age ("7 лет", "84 жаста", "80-year-old",
//! "восьмидесяти лет", "жеті жасар", "ей 87"). Words are read folded (see [`crate::text`]).

use crate::text;

/// What the numbers of a note say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Numbers {
    /// Temperatures below zero, in degrees.
    pub frosts: Vec<i32>,
    /// Ages of people, in years.
    pub ages: Vec<u32>,
}

/// Ages under this are a child's.
pub const CHILD_UNDER: u32 = 16;
/// Ages over this are an elderly person's.
pub const ELDERLY_OVER: u32 = 64;
/// A frost at least this hard is dangerous for a person outdoors or in an unheated house.
pub const HARD_FROST: i32 = -15;

impl Numbers {
    /// The hardest frost said, if any.
    pub fn coldest(&self) -> Option<i32> {
        self.frosts.iter().copied().min()
    }

    /// An age said in the note that makes a person vulnerable: a child's or an elderly one's.
    pub fn vulnerable_age(&self) -> Option<u32> {
        self.ages
            .iter()
            .copied()
            .find(|a| *a < CHILD_UNDER || *a > ELDERLY_OVER)
    }

    /// Features for the statistical model: what the numbers mean, not the numbers.
    pub fn features(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match self.coldest() {
            Some(t) if t <= HARD_FROST => out.push("hard_frost"),
            Some(_) => out.push("frost"),
            None => {}
        }
        for a in &self.ages {
            out.push(if *a < CHILD_UNDER {
                "child_age"
            } else if *a > ELDERLY_OVER {
                "elderly_age"
            } else {
                "adult_age"
            });
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Number words by the start of their folded forms ("восемьдесят", "восьмидесяти"), in
/// Russian, Kazakh and English. Tens first so "двадцать пять" reads as 25.
const TENS: &[(&str, u32)] = &[
    ("десят", 10),
    ("двадцат", 20),
    ("тридцат", 30),
    ("сорок", 40),
    ("пятьдесят", 50),
    ("пятидесят", 50),
    ("шестьдесят", 60),
    ("шестидесят", 60),
    ("семьдесят", 70),
    ("семидесят", 70),
    ("восемьдесят", 80),
    ("восьмидесят", 80),
    ("девяност", 90),
    ("он", 10),
    ("жиырма", 20),
    ("отыз", 30),
    ("кырык", 40),
    ("елу", 50),
    ("алпыс", 60),
    ("жетпис", 70),
    ("сексен", 80),
    ("токсан", 90),
    ("ten", 10),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
];

const UNITS: &[(&str, u32)] = &[
    ("один", 1),
    ("одного", 1),
    ("два", 2),
    ("двух", 2),
    ("три", 3),
    ("трех", 3),
    ("четыр", 4),
    ("пять", 5),
    ("пяти", 5),
    ("шест", 6),
    ("семь", 7),
    ("семи", 7),
    ("восем", 8),
    ("восьм", 8),
    ("девят", 9),
    ("одиннадцат", 11),
    ("двенадцат", 12),
    ("тринадцат", 13),
    ("четырнадцат", 14),
    ("пятнадцат", 15),
    ("бир", 1),
    ("еки", 2),
    ("уш", 3),
    ("торт", 4),
    ("бес", 5),
    ("алты", 6),
    ("жети", 7),
    ("сегиз", 8),
    ("тогыз", 9),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
];

/// A word that is exactly a number word or one with an ending: short Kazakh words ("он",
/// "уш") must match whole, or "онда", "уште" would read as numbers.
fn word_value(word: &str, table: &[(&str, u32)]) -> Option<u32> {
    table
        .iter()
        // The prefix first: it turns away nearly every stem without counting letters.
        .filter(|(stem, _)| {
            if !word.starts_with(stem) {
                return false;
            }
            let len = stem.chars().count();
            if len <= 3 {
                word.len() == stem.len()
            } else {
                word.chars().count() <= len + 4
            }
        })
        // The longest stem wins: "пятнадцать" is not "пят…".
        .max_by_key(|(stem, _)| stem.len())
        .map(|(_, v)| *v)
}

/// The number starting at word `i`, and how many words it takes.
fn number_at(words: &[String], i: usize) -> Option<(u32, usize)> {
    let w = &words[i];
    if let Ok(v) = w.parse::<u32>() {
        return Some((v, 1));
    }
    if let Some(tens) = word_value(w, TENS) {
        if let Some(unit) = words
            .get(i + 1)
            .and_then(|n| word_value(n, UNITS))
            .filter(|u| *u < 10)
        {
            return Some((tens + unit, 2));
        }
        return Some((tens, 1));
    }
    word_value(w, UNITS).map(|v| (v, 1))
}

/// Whether a word says "years of age" after a number.
fn age_unit(word: &str) -> bool {
    [
        "лет",
        "год",
        "годик",
        "годов",
        "летн",
        "жас",
        "year",
        "yr",
        "yo",
    ]
    .iter()
    .any(|u| word.starts_with(u))
        || matches!(word, "г" | "y")
}

/// A word that says "minus" before a number.
fn minus_word(word: &str) -> bool {
    matches!(word, "минус" | "minus")
}

/// A word for frost: a number close after it is a frost ("мороз под тридцать", "аяз 30").
fn frost_word(word: &str) -> bool {
    ["мороз", "аяз", "frost"]
        .iter()
        .any(|f| word.starts_with(f))
}

/// After a number, words that make it a frost: "30 градусов мороза", "30 below".
fn frost_after(words: &[String], at: usize) -> bool {
    let next = |k: usize| words.get(at + k).map(String::as_str).unwrap_or("");
    (next(0).starts_with("градус") && (frost_word(next(1)) || next(1) == "ниже"))
        || next(0) == "below"
        || (next(0) == "degrees" && next(1) == "below")
}

/// Reads the frosts and ages of a note.
pub fn read(note: &str) -> Numbers {
    read_with_tokens(note, &text::tokens(note))
}

/// [`read`] of a note already split into words ([`text::tokens`] of `note`).
pub fn read_with_tokens(note: &str, tokens: &[text::Token]) -> Numbers {
    let mut out = Numbers::default();
    // Signs are lost when a note is split into words, so frosts written with a sign are read
    // from the characters: a minus sign or dash right before digits, and not between two
    // numbers or words ("2-3 дня", "Алматы-Бишкек").
    let chars: Vec<char> = note.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if !matches!(c, '-' | '−' | '–') {
            continue;
        }
        if i > 0 && chars[i - 1].is_alphanumeric() {
            continue;
        }
        let digits: String = chars[i + 1..]
            .iter()
            .skip_while(|c| **c == ' ')
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if let Ok(v) = digits.parse::<i32>()
            && (1..=70).contains(&v)
        {
            out.frosts.push(-v);
        }
    }

    // Words: digits glued to a unit ("7лет", "83г", "5yo") are split first.
    let mut words: Vec<String> = Vec::new();
    for t in tokens {
        let w = &t.folded;
        let split = w.find(|c: char| !c.is_ascii_digit()).filter(|at| *at > 0);
        match split {
            Some(at) => {
                words.push(w[..at].to_string());
                words.push(w[at..].to_string());
            }
            None => words.push(w.clone()),
        }
    }
    let mut i = 0;
    while i < words.len() {
        let Some((value, taken)) = number_at(&words, i) else {
            i += 1;
            continue;
        };
        let after = words.get(i + taken).map(String::as_str);
        let before = i.checked_sub(1).map(|b| words[b].as_str());
        let near_frost = words[i.saturating_sub(2)..i].iter().any(|w| frost_word(w));
        if (before.is_some_and(minus_word) || near_frost || frost_after(&words, i + taken))
            && (1..=70).contains(&value)
        {
            out.frosts.push(-(value as i32));
        } else if (after.is_some_and(age_unit)
            // "ей 87", "ему 90": a pronoun and a bare number is an age.
            || (before.is_some_and(|b| matches!(b, "ей" | "ему")) && words[i].parse::<u32>().is_ok()))
            && (1..=120).contains(&value)
        {
            out.ages.push(value);
        }
        i += taken;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frosts_in_digits_signs_and_words() {
        for (note, t) in [
            ("на улице −28", -28),
            ("мороз -30°", -30),
            ("сегодня – 25 градусов", -25),
            ("ночью минус 32", -32),
            ("минус тридцать", -30),
            ("далада минус отыз", -30),
            ("it's minus twenty five", -25),
            ("-18 and windy", -18),
            ("мороз под тридцать", -30),
            ("аяз 30 градус", -30),
            ("30 градусов мороза", -30),
            ("it was 25 below last night", -25),
        ] {
            assert_eq!(read(note).coldest(), Some(t), "{note}");
        }
        for note in [
            "угля на 2-3 дня",
            "трасса Алматы-Бишкек",
            "дома +5",
            "звонить 8-701-555",
        ] {
            assert_eq!(read(note).coldest(), None, "{note}");
        }
    }

    #[test]
    fn ages_in_digits_and_number_words() {
        for (note, age) in [
            ("Ребёнок 7 лет", 7),
            ("дед 83г ушел", 83),
            ("5yo missing", 5),
            ("80-year-old man", 80),
            ("Пропала женщина восьмидесяти лет", 80),
            ("мальчик девяти лет", 9),
            ("Сексен жастағы әже", 80),
            ("Жеті жасар ұл", 7),
            ("ей 87, плохо ориентируется", 87),
            ("a boy of twelve years", 12),
            ("ему двадцать пять лет", 25),
            ("әжем 84 жаста", 84),
        ] {
            assert_eq!(read(note).ages, vec![age], "{note}");
        }
        for note in [
            "семья из пяти человек",
            "угля на 3 дня",
            "он үйде",
            "2 тонны",
        ] {
            assert!(read(note).ages.is_empty(), "{note}");
        }
    }

    #[test]
    fn features_say_what_the_numbers_mean() {
        let n = read("ребёнок 6 лет, бабушка 80 лет, минус 25");
        assert_eq!(n.features(), vec!["child_age", "elderly_age", "hard_frost"]);
        assert_eq!(n.vulnerable_age(), Some(6));
        assert_eq!(
            read("мужчина 40 лет, -5").features(),
            vec!["adult_age", "frost"]
        );
    }
}
