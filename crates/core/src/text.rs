//! Text handling for call notes in Kazakh, Russian and English: normalisation, tokens, a Russian
//! stemmer, Kazakh suffix chains, a light English stemmer and an edit distance for misspellings.
//!
//! Everything works on *folded* text: lower case, `ё` as `е`, and the Kazakh-specific letters
//! as their nearest Russian letter (`қ`→`к`, `ө`→`о`, `і`→`и`, …). Operators often type Kazakh
//! on a Russian keyboard ("комир" for "көмір"), so folding makes both spellings one word.

/// Lower-cases and folds one character; see the module notes.
pub fn fold_char(c: char) -> char {
    match c {
        'ё' => 'е',
        'ә' => 'а',
        'ғ' => 'г',
        'қ' => 'к',
        'ң' => 'н',
        'ө' => 'о',
        'ұ' | 'ү' => 'у',
        'һ' => 'х',
        // Kazakh і, and the Ukrainian і of the same code point.
        'і' => 'и',
        other => other,
    }
}

fn is_cyrillic(c: char) -> bool {
    matches!(c, '\u{0400}'..='\u{04FF}')
}

/// A Latin letter that looks like a Cyrillic one, as typed by a keyboard in the wrong layout
/// inside a Cyrillic word ("пoмoщь" with Latin o). Latin `i` stands for Kazakh `і`, which many
/// keyboards lack.
fn cyrillic_lookalike(c: char) -> Option<char> {
    Some(match c {
        'a' => 'а',
        'c' => 'с',
        'e' => 'е',
        'o' => 'о',
        'p' => 'р',
        'x' => 'х',
        'y' => 'у',
        'k' => 'к',
        'm' => 'м',
        't' => 'т',
        'h' => 'н',
        'b' => 'в',
        'i' => 'и',
        _ => return None,
    })
}

/// One word of a note: `folded` is what the rules compare, `lower` the same word with its
/// Kazakh letters kept (for short roots, where folding would merge words: өрт "fire" and орта
/// "middle"), `original` what a person sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub folded: String,
    pub lower: String,
    pub original: String,
}

/// Splits text into words and folds each. Anything that is not a letter or digit separates
/// words, so punctuation, hyphens and emoji never glue two words together.
pub fn tokens(text: &str) -> Vec<Token> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = lower_word(w);
            Token {
                folded: lower.chars().map(fold_char).collect(),
                lower,
                original: w.to_string(),
            }
        })
        .collect()
}

/// Lower-cases a word, writes ё as е, and reads a word mixing Cyrillic and Latin letters as
/// Cyrillic. Kazakh letters are kept.
pub fn lower_word(word: &str) -> String {
    let lower: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    let mixed =
        lower.iter().any(|c| is_cyrillic(*c)) && lower.iter().any(|c| c.is_ascii_alphabetic());
    lower
        .into_iter()
        .map(|c| match c {
            'ё' => 'е',
            c if mixed => cyrillic_lookalike(c).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// Lower-cases and folds one word; see the module notes.
pub fn fold_word(word: &str) -> String {
    lower_word(word).chars().map(fold_char).collect()
}

/// Whether a folded word is written in Cyrillic (so Russian and Kazakh rules apply to it).
pub fn is_cyrillic_word(folded: &str) -> bool {
    folded.chars().any(is_cyrillic)
}

// ---------------------------------------------------------------------------------------------
// Russian: the Snowball Russian stemming algorithm (Porter), working on folded words.

const RU_VOWELS: &[char] = &['а', 'е', 'и', 'о', 'у', 'ы', 'э', 'ю', 'я'];

fn ru_vowel(c: char) -> bool {
    RU_VOWELS.contains(&c)
}

const PERFECTIVE_GERUND_1: &[&str] = &["в", "вши", "вшись"];
const PERFECTIVE_GERUND_2: &[&str] = &["ив", "ивши", "ившись", "ыв", "ывши", "ывшись"];
const ADJECTIVE: &[&str] = &[
    "ее", "ие", "ые", "ое", "ими", "ыми", "ей", "ий", "ый", "ой", "ем", "им", "ым", "ом", "его",
    "ого", "ему", "ому", "их", "ых", "ую", "юю", "ая", "яя", "ою", "ею",
];
const PARTICIPLE_1: &[&str] = &["ем", "нн", "вш", "ющ", "щ"];
const PARTICIPLE_2: &[&str] = &["ивш", "ывш", "ующ"];
const REFLEXIVE: &[&str] = &["ся", "сь"];
const VERB_1: &[&str] = &[
    "ла", "на", "ете", "йте", "ли", "й", "л", "ем", "н", "ло", "но", "ет", "ют", "ны", "ть", "ешь",
    "нно",
];
const VERB_2: &[&str] = &[
    "ила", "ыла", "ена", "ейте", "уйте", "ите", "или", "ыли", "ей", "уй", "ил", "ыл", "им", "ым",
    "ен", "ило", "ыло", "ено", "ят", "ует", "уют", "ит", "ыт", "ены", "ить", "ыть", "ишь", "ую",
    "ю",
];
const NOUN: &[&str] = &[
    "а", "ев", "ов", "ие", "ье", "е", "иями", "ями", "ами", "еи", "ии", "и", "ией", "ей", "ой",
    "ий", "й", "иям", "ям", "ием", "ем", "ам", "ом", "о", "у", "ах", "иях", "ях", "ы", "ь", "ию",
    "ью", "ю", "ия", "ья", "я",
];
const DERIVATIONAL: &[&str] = &["ост", "ость"];
const SUPERLATIVE: &[&str] = &["ейш", "ейше"];

fn ends_with(w: &[char], suffix: &str) -> bool {
    ending_len(w, suffix).is_some()
}

/// The length of `suffix` in characters when `w` ends with it. Compared from the end, letter by
/// letter, without collecting the suffix: a note's every word is checked against a hundred
/// endings, and collecting each one was most of what stemming cost.
fn ending_len(w: &[char], suffix: &str) -> Option<usize> {
    let mut n = 0;
    for c in suffix.chars().rev() {
        if n == w.len() || w[w.len() - 1 - n] != c {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// The longest ending of `word[start..]` from `set`, as its length in characters.
fn longest_ending(word: &[char], start: usize, set: &[&str]) -> Option<usize> {
    set.iter()
        .filter_map(|e| ending_len(word, e))
        .filter(|n| word.len() >= start + n)
        .max()
}

/// Removes the longest ending of `set_1` (which must follow а or я) or `set_2`, within the
/// region starting at `start`. Like Snowball's `among`, only the longest ending is tried.
fn remove_grouped(word: &mut Vec<char>, start: usize, set_1: &[&str], set_2: &[&str]) -> bool {
    let one = longest_ending(word, start, set_1);
    let two = longest_ending(word, start, set_2);
    match (one, two) {
        (Some(a), b) if b.is_none_or(|b| a > b) => {
            let at = word.len() - a;
            if at > start && matches!(word[at - 1], 'а' | 'я') {
                word.truncate(at);
                true
            } else {
                false
            }
        }
        (_, Some(b)) => {
            word.truncate(word.len() - b);
            true
        }
        _ => false,
    }
}

fn remove_plain(word: &mut Vec<char>, start: usize, set: &[&str]) -> bool {
    match longest_ending(word, start, set) {
        Some(n) => {
            word.truncate(word.len() - n);
            true
        }
        None => false,
    }
}

/// Start of the region after the first vowel that follows a non-vowel after a vowel (R1), from
/// position `from`.
fn region_after_vc(word: &[char], from: usize) -> usize {
    let mut i = from;
    while i < word.len() && !ru_vowel(word[i]) {
        i += 1;
    }
    while i < word.len() && ru_vowel(word[i]) {
        i += 1;
    }
    (i + 1).min(word.len())
}

/// Stems a folded Russian word.
pub fn stem_ru(word: &str) -> String {
    let mut w: Vec<char> = word.chars().collect();
    // RV: after the first vowel.
    let Some(first_vowel) = w.iter().position(|c| ru_vowel(*c)) else {
        return word.to_string();
    };
    let rv = first_vowel + 1;
    let r1 = region_after_vc(&w, 0);
    let r2 = region_after_vc(&w, r1);

    // Step 1.
    if !remove_grouped(&mut w, rv, PERFECTIVE_GERUND_1, PERFECTIVE_GERUND_2) {
        remove_plain(&mut w, rv, REFLEXIVE);
        if remove_plain(&mut w, rv, ADJECTIVE) {
            remove_grouped(&mut w, rv, PARTICIPLE_1, PARTICIPLE_2);
        } else if !remove_grouped(&mut w, rv, VERB_1, VERB_2) {
            remove_plain(&mut w, rv, NOUN);
        }
    }
    // Step 2.
    if w.len() > rv && w.last() == Some(&'и') {
        w.pop();
    }
    // Step 3.
    if r2 <= w.len() {
        remove_plain(&mut w, r2, DERIVATIONAL);
    }
    // Step 4.
    if w.len() >= rv + 2 && ends_with(&w, "нн") {
        w.pop();
    } else if remove_plain(&mut w, rv, SUPERLATIVE) {
        if w.len() >= rv + 2 && ends_with(&w, "нн") {
            w.pop();
        }
    } else if w.len() > rv && w.last() == Some(&'ь') {
        w.pop();
    }
    w.into_iter().collect()
}

/// Whether two Russian stems name the same word. Snowball leaves some forms one letter apart
/// ("ветеран" → "ветера" but "ветерану" → "ветеран"), so a stem that extends the other by one
/// letter agrees with it; short stems must be equal.
pub fn ru_stems_agree(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    // The prefix first: it turns away nearly every pair without counting letters.
    long.starts_with(short)
        && long[short.len()..].chars().count() == 1
        && short.chars().count() >= 4
}

// ---------------------------------------------------------------------------------------------
// Kazakh: agglutinative, so a word is a root followed by a chain of suffixes. A rule names the
// root; a word matches when it is that root followed by zero or more known suffixes. Suffixes
// are folded like the words, so көмірді, комирди and көмірдің all reduce to көмір + suffixes.

/// Kazakh suffixes, folded: plural, possessive, case, verb tense, converb, participle, person,
/// negation, causative and passive voice, derivation.
const KK_SUFFIXES: &[&str] = &[
    // plural
    "лар", "лер", "дар", "дер", "тар", "тер", // possessive
    "ым", "им", "м", "ын", "ин", "н", "ыныз", "иниз", "ныз", "низ", "сы", "си", "ы", "и", "мыз",
    "миз", "ымыз", "имиз", // genitive, accusative
    "нын", "нин", "дын", "дин", "тын", "тин", "ны", "ни", "ды", "ди", "ты", "ти", // dative
    "га", "ге", "ка", "ке", "на", "не", "а", "е", // locative, ablative
    "да", "де", "та", "те", "нда", "нде", "дан", "ден", "тан", "тен", "нан", "нен",
    // instrumental, similative
    "мен", "бен", "пен", "ша", "ше", // verbal noun, converbs, participles
    "у", "ып", "ип", "п", "ган", "ген", "кан", "кен", "атын", "етин", "йтын", "йтин", "ар", "ер",
    "р", "мак", "мек", "бак", "бек", "пак", "пек", // person
    "мын", "мин", "сын", "син", "сыз", "сиз", "к", // negation, question, conditional
    "ма", "ме", "ба", "бе", "па", "пе", "са", "се", // voice
    "стыр", "стир", "дыр", "дир", "тыр", "тир", "гыз", "гиз", "кыз", "киз", "ыл", "ил", "л",
    // derivation: abstract noun, agent, "having", "without"
    "лык", "лик", "дык", "дик", "тык", "тик", "шы", "ши", "ушы", "уши", "лы", "ли", "сыз", "сиз",
    "ла", "ле", "да", "де",
];

/// The most suffixes one word is read as carrying; real words rarely stack more.
const KK_MAX_SUFFIXES: usize = 5;

/// Whether `rest` (folded) is a chain of Kazakh suffixes, possibly empty.
pub fn is_kk_suffix_chain(rest: &str) -> bool {
    fn chain(rest: &str, depth: usize) -> bool {
        if rest.is_empty() {
            return true;
        }
        if depth == KK_MAX_SUFFIXES {
            return false;
        }
        KK_SUFFIXES
            .iter()
            .any(|s| rest.strip_prefix(s).is_some_and(|r| chain(r, depth + 1)))
    }
    chain(rest, 0)
}

/// Whether a folded word is the folded Kazakh root `root` with a suffix chain.
pub fn kk_matches(word: &str, root: &str) -> bool {
    word.strip_prefix(root).is_some_and(is_kk_suffix_chain)
}

/// Like [`kk_matches`], but the root is compared with its Kazakh letters (`lower` forms), and
/// only the suffixes are folded.
pub fn kk_matches_strict(lower: &str, root: &str) -> bool {
    lower
        .strip_prefix(root)
        .is_some_and(|rest| is_kk_suffix_chain(&rest.chars().map(fold_char).collect::<String>()))
}

/// Whether a folded word is a misspelling (one edit) of `root`, of `root_len` letters (counted
/// once by the caller), followed by a suffix chain.
pub fn kk_matches_fuzzy(word: &str, root: &str, root_len: usize) -> bool {
    // Every head tried below starts with the word's first two letters (a root this long is
    // cut after four letters at least), so the test `within_one` starts with can be made once.
    if first_two_apart(word, root) {
        return false;
    }
    if root_len < FUZZY_MIN_LEN {
        return false;
    }
    // The word cut after root_len - 1, root_len and root_len + 1 letters (as far as it goes).
    word.char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(word.len()))
        .skip(root_len - 1)
        .take(3)
        .any(|cut| {
            let (head, rest) = word.split_at(cut);
            within_one(head, root) && is_kk_suffix_chain(rest)
        })
}

// ---------------------------------------------------------------------------------------------
// English: a light stemmer for plural, -ing and -ed, enough for call-note vocabulary.

/// Stems an English word.
pub fn stem_en(word: &str) -> String {
    let w = word.strip_suffix("'s").unwrap_or(word);
    let long_enough = |stem: &str| stem.chars().count() >= 3;
    if let Some(s) = w.strip_suffix("ies").filter(|s| long_enough(s)) {
        return format!("{s}y");
    }
    for suffix in ["ing", "ed"] {
        if let Some(s) = w.strip_suffix(suffix).filter(|s| long_enough(s)) {
            // "stopped" → "stop"
            let mut s = s.to_string();
            let chars: Vec<char> = s.chars().collect();
            if chars.len() >= 2
                && chars[chars.len() - 1] == chars[chars.len() - 2]
                && !matches!(chars[chars.len() - 1], 'l' | 's' | 'z')
            {
                s.pop();
            }
            return s;
        }
    }
    if let Some(s) = w.strip_suffix("es").filter(|s| {
        long_enough(s)
            && (s.ends_with('s')
                || s.ends_with('x')
                || s.ends_with('z')
                || s.ends_with("ch")
                || s.ends_with("sh"))
    }) {
        return s.to_string();
    }
    if let Some(s) = w
        .strip_suffix('s')
        .filter(|s| long_enough(s) && !s.ends_with('s') && !s.ends_with('u') && !s.ends_with('i'))
    {
        return s.to_string();
    }
    w.to_string()
}

// ---------------------------------------------------------------------------------------------
// Misspellings.

/// Stems shorter than this match only exactly: one edit in a short word changes its meaning.
pub const FUZZY_MIN_LEN: usize = 5;

/// Optimal string alignment distance (Levenshtein plus adjacent transposition), in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `s` without its first character.
fn skip_first(s: &str) -> &str {
    s.chars().next().map_or("", |c| &s[c.len_utf8()..])
}

/// A word's first two letters; None for a word shorter than two.
pub type Head = Option<(char, char)>;

/// The [`Head`] of a word.
pub fn head(word: &str) -> Head {
    let mut x = word.chars();
    Some((x.next()?, x.next()?))
}

/// Whether no edit could bring two words' first two letters (see [`head`]) together: neither
/// is in place nor moved by one. Words shorter than two letters are never apart by this test.
pub fn heads_apart(a: Head, b: Head) -> bool {
    matches!(
        (a, b),
        (Some((a0, a1)), Some((b0, b1))) if a0 != b0 && a1 != b1 && a0 != b1 && a1 != b0
    )
}

fn first_two_apart(a: &str, b: &str) -> bool {
    heads_apart(head(a), head(b))
}

/// Whether [`edit_distance`] is at most 1, without allocating or counting letters: the rules
/// ask this of every word of a note against every long term, so it must be cheap.
pub fn within_one(a: &str, b: &str) -> bool {
    // One edit leaves one of the first two letters in place or moves it by one: most pairs
    // are turned away here.
    if first_two_apart(a, b) {
        return false;
    }
    // Past the common prefix, the rests must be equal after one edit at their start: a letter
    // more in `a`, a letter more in `b`, one letter changed, or two neighbours swapped
    // ("ребнеок" for "ребенок"). Each of these comparisons also fixes how the lengths differ,
    // so the letters need no counting.
    let common: usize = a
        .chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum();
    let (ra, rb) = (&a[common..], &b[common..]);
    let (sa, sb) = (skip_first(ra), skip_first(rb));
    if sa == rb || ra == sb || sa == sb {
        return true;
    }
    let mut x = ra.chars();
    let mut y = rb.chars();
    let (x0, x1, y0, y1) = (x.next(), x.next(), y.next(), y.next());
    x0.is_some() && x1.is_some() && x0 == y1 && x1 == y0 && x.as_str() == y.as_str()
}

/// Whether two stems of `stem_len` and `term_len` letters are the same word with at most one
/// typing slip. The lengths are counted by the caller, once per word: the rules ask this of
/// every word of a note against every long term, and a slip changes a length by one at most,
/// so the lengths turn away most pairs before a letter is compared.
pub fn close_enough(stem: &str, stem_len: usize, term: &str, term_len: usize) -> bool {
    stem_len >= FUZZY_MIN_LEN
        && term_len >= FUZZY_MIN_LEN
        && stem_len.abs_diff(term_len) <= 1
        && within_one(stem, term)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folding_unifies_kazakh_letters_case_and_yo() {
        assert_eq!(fold_word("КӨМІР"), "комир");
        assert_eq!(fold_word("Жоғалып"), "жогалып");
        assert_eq!(fold_word("Ребёнок"), "ребенок");
        assert_eq!(fold_word("көмір"), fold_word("комир"));
    }

    #[test]
    fn latin_lookalikes_inside_cyrillic_words_are_read_as_cyrillic() {
        // Latin "o" and "p" typed in the wrong layout.
        assert_eq!(fold_word("пoмoщь"), "помощь");
        // Latin i for Kazakh і.
        assert_eq!(fold_word("кiшi"), fold_word("кіші"));
        // Pure Latin words stay Latin.
        assert_eq!(fold_word("Coal"), "coal");
    }

    #[test]
    fn tokens_split_on_punctuation_and_keep_originals() {
        let t = tokens("Пропал ребёнок, 7 лет!");
        let folded: Vec<&str> = t.iter().map(|t| t.folded.as_str()).collect();
        assert_eq!(folded, ["пропал", "ребенок", "7", "лет"]);
        assert_eq!(t[1].original, "ребёнок");
    }

    #[test]
    fn russian_forms_share_a_stem() {
        let same = |words: &[&str]| {
            let stems: Vec<String> = words.iter().map(|w| stem_ru(&fold_word(w))).collect();
            assert!(
                stems.windows(2).all(|p| ru_stems_agree(&p[0], &p[1])),
                "{words:?} → {stems:?}"
            );
        };
        same(&["угля", "углем", "углю"]);
        same(&["пропал", "пропала", "пропали"]);
        same(&["дрова", "дров", "дровами"]);
        same(&["ветеран", "ветерану", "ветеранов", "ветераны"]);
        same(&["отопления", "отопление", "отоплением"]);
        same(&["замерзают", "замерзает"]);
        same(&["лекарства", "лекарств", "лекарствами"]);
        // Fleeting vowels are not restored, as in Snowball: rules list "уголь" and "угля".
        assert_ne!(stem_ru("уголь"), stem_ru("угля"));
    }

    #[test]
    fn kazakh_roots_take_suffix_chains() {
        let root = fold_word("көмір");
        for w in [
            "көмір",
            "көмірді",
            "көмірдің",
            "көмірге",
            "комирди",
            "көмірлері",
        ] {
            assert!(kk_matches(&fold_word(w), &root), "{w}");
        }
        let root = fold_word("ардагер");
        assert!(kk_matches(&fold_word("ардагерге"), &root));
        assert!(kk_matches(&fold_word("ардагерлерге"), &root));
        let root = fold_word("ізде");
        for w in ["іздеу", "іздестіру", "іздеп", "іздеді", "іздестіріп"]
        {
            assert!(kk_matches(&fold_word(w), &root), "{w}");
        }
        assert!(kk_matches(&fold_word("жоғалып"), &fold_word("жоғал")));
        // A longer word that only starts with the root is another word.
        assert!(!kk_matches(&fold_word("көмірқышқыл"), &root_of("көмір")));
    }

    fn root_of(w: &str) -> String {
        fold_word(w)
    }

    #[test]
    fn misspelt_kazakh_roots_still_match() {
        // One letter dropped, then a case suffix.
        assert!(kk_matches_fuzzy(
            &fold_word("ардгерге"),
            &fold_word("ардагер"),
            7
        ));
        assert!(!kk_matches_fuzzy(
            &fold_word("балта"),
            &fold_word("бала"),
            4
        ));
    }

    #[test]
    fn english_stems() {
        assert_eq!(stem_en("missing"), "miss");
        assert_eq!(stem_en("missed"), "miss");
        assert_eq!(stem_en("searches"), "search");
        assert_eq!(stem_en("pensioners"), "pensioner");
        assert_eq!(stem_en("supplies"), "supply");
        assert_eq!(stem_en("stopped"), "stop");
        assert_eq!(stem_en("gas"), "gas");
    }

    #[test]
    fn edit_distance_counts_one_slip() {
        assert_eq!(edit_distance("ребенок", "рибенок"), 1);
        assert_eq!(edit_distance("ребенок", "ребнеок"), 1, "transposition");
        assert_eq!(edit_distance("ребенок", "ребенок"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert!(close_enough("пропал", 6, "прапал", 6));
        assert!(
            !close_enough("дров", 4, "дрок", 4),
            "short stems match only exactly"
        );
    }

    proptest! {
        #[test]
        fn folding_is_idempotent(s in "\\PC{0,40}") {
            let once: Vec<String> = tokens(&s).into_iter().map(|t| t.folded).collect();
            let twice: Vec<String> = once.iter().map(|w| fold_word(w)).collect();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn stems_never_grow(s in "[а-яё]{1,20}") {
            let w = fold_word(&s);
            prop_assert!(stem_ru(&w).chars().count() <= w.chars().count());
            prop_assert!(w.starts_with(&stem_ru(&w)));
        }

        #[test]
        fn an_ending_is_found_exactly_where_the_word_ends_with_it(
            w in "[аеиоуынвлсья]{0,8}",
            set in proptest::collection::vec("[аеиоуынвлсья]{1,4}", 1..12),
            start in 0usize..6,
        ) {
            let word: Vec<char> = w.chars().collect();
            let set: Vec<&str> = set.iter().map(String::as_str).collect();
            // As the definition says: the suffix's letters are the word's last ones, and they
            // begin at `start` or later.
            let spelled = set
                .iter()
                .map(|e| e.chars().collect::<Vec<char>>())
                .filter(|e| word.len() >= start + e.len() && word[word.len() - e.len()..] == e[..])
                .map(|e| e.len())
                .max();
            prop_assert_eq!(longest_ending(&word, start, &set), spelled);
        }

        #[test]
        fn edit_distance_is_symmetric_and_bounded(a in "[a-zа-я]{0,12}", b in "[a-zа-я]{0,12}") {
            let d = edit_distance(&a, &b);
            prop_assert_eq!(d, edit_distance(&b, &a));
            prop_assert!(d <= a.chars().count().max(b.chars().count()));
            prop_assert_eq!(edit_distance(&a, &a), 0);
        }

        #[test]
        fn fuzzy_kazakh_matching_is_one_edit_of_the_root_and_a_suffix_chain(
            root in "[абкмір]{5,7}",
            word in "[абкмірдың]{0,12}",
        ) {
            // The rule spelled out: some cut of the word is one edit from the root and the
            // rest is a chain of suffixes.
            let chars: Vec<(usize, char)> = word.char_indices().collect();
            let n = root.chars().count();
            let expected = (n - 1..=n + 1).filter(|k| *k <= chars.len()).any(|k| {
                let cut = chars.get(k).map_or(word.len(), |(i, _)| *i);
                edit_distance(&word[..cut], &root) <= 1 && is_kk_suffix_chain(&word[cut..])
            });
            prop_assert_eq!(kk_matches_fuzzy(&word, &root, n), expected, "{} {}", word, root);
        }

        #[test]
        fn stems_agree_when_equal_or_a_long_one_extends_the_other_by_a_letter(
            a in "[абвг]{0,7}",
            extra in "[абвг]{0,2}",
        ) {
            // Spelled out with letters counted: what the prefix test must agree with.
            let b = format!("{a}{extra}");
            let spelled = |x: &str, y: &str| {
                let (short, long) = if x.chars().count() <= y.chars().count() { (x, y) } else { (y, x) };
                x == y
                    || (short.chars().count() >= 4
                        && long.chars().count() == short.chars().count() + 1
                        && long.starts_with(short))
            };
            prop_assert_eq!(ru_stems_agree(&a, &b), spelled(&a, &b), "{} {}", a, b);
            prop_assert_eq!(ru_stems_agree(&b, &a), spelled(&b, &a), "{} {}", b, a);
            let c = format!("{extra}{a}");
            prop_assert_eq!(ru_stems_agree(&a, &c), spelled(&a, &c), "{} {}", a, c);
        }

        #[test]
        fn close_enough_is_one_slip_between_words_of_five_letters_or_more(
            a in "[абвa]{0,7}",
            b in "[абвa]{0,7}",
        ) {
            let (la, lb) = (a.chars().count(), b.chars().count());
            let spelled = edit_distance(&a, &b) <= 1 && la >= FUZZY_MIN_LEN && lb >= FUZZY_MIN_LEN;
            prop_assert_eq!(close_enough(&a, la, &b, lb), spelled, "{} {}", a, b);
        }

        #[test]
        fn within_one_agrees_with_edit_distance(a in "[абвa]{0,7}", b in "[абвa]{0,7}") {
            prop_assert_eq!(within_one(&a, &b), edit_distance(&a, &b) <= 1, "{} {}", a, b);
        }
    }
}
