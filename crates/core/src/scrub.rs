//! What volunteers may read of a call note. The note is the operator's record and may hold a
//! phone number, an e-mail address, an ID or passport number, or the caller's own name; the
//! text an offer carries has them cut out, each replaced by [`OMITTED`]. Everything else of the
//! note stays, so a volunteer learns what is needed.

/// Put where something personal was cut out.
pub const OMITTED: &str = "[…]";

/// The note with phone numbers, e-mail addresses, document numbers and the words of
/// `caller_name` removed.
pub fn volunteer_note(note: &str, caller_name: &str) -> String {
    // Each word of the name as a stem: Kazakh adds case endings ("Гульнарға"), Russian also
    // changes the last letters ("Иванова", "Ивановой"), so a word of five letters or more
    // loses its last two.
    let names: Vec<(Vec<char>, usize)> = caller_name
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 3)
        .map(|w| {
            let full = lower(w);
            let len = full.len();
            let stem = if len >= 5 { len - 2 } else { len };
            (full[..stem].to_vec(), len)
        })
        .collect();
    let chars: Vec<char> = note.chars().collect();
    let mut out = String::with_capacity(note.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = email_at(&chars, i).or_else(|| number_at(&chars, i)) {
            omit(&mut out);
            i = end;
            continue;
        }
        let c = chars[i];
        if c.is_alphanumeric() {
            // A word: kept, unless it is the caller's name (with any case ending) or a
            // document number (letters with six or more digits).
            let end = (i..chars.len())
                .find(|&j| !chars[j].is_alphanumeric())
                .unwrap_or(chars.len());
            let word = &chars[i..end];
            let digits = word.iter().filter(|c| c.is_ascii_digit()).count();
            let lowered = lower(&word.iter().collect::<String>());
            let is_name = names.iter().any(|(stem, len)| {
                lowered.len() >= stem.len()
                    && lowered.len() <= len + 4
                    && lowered[..stem.len()] == stem[..]
            });
            if digits >= 6 || is_name {
                omit(&mut out);
            } else {
                out.extend(word);
            }
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lower(s: &str) -> Vec<char> {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// Writes the marker once for a run of cut-out pieces.
fn omit(out: &mut String) {
    if !out.trim_end().ends_with(OMITTED) {
        out.push_str(OMITTED);
    }
}

/// The end of an e-mail address starting at `i`: a word, "@", and a domain with a dot.
fn email_at(chars: &[char], i: usize) -> Option<usize> {
    let local = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
    if i > 0 && local(chars[i - 1]) {
        return None;
    }
    let at = (i..chars.len()).take_while(|&j| local(chars[j])).last()? + 1;
    if at == i || chars.get(at) != Some(&'@') {
        return None;
    }
    let end = (at + 1..chars.len())
        .take_while(|&j| chars[j].is_alphanumeric() || matches!(chars[j], '.' | '-'))
        .last()?
        + 1;
    let domain: String = chars[at + 1..end].iter().collect();
    domain.trim_end_matches('.').contains('.').then_some(end)
}

/// The end of a phone or ID number starting at `i`: digits with single spaces, dashes, dots or
/// brackets between them (and a leading "+" or "("), seven digits or more in all.
fn number_at(chars: &[char], i: usize) -> Option<usize> {
    if i > 0 && chars[i - 1].is_alphanumeric() {
        return None;
    }
    let mut j = i;
    if matches!(chars.get(j), Some('+' | '(')) {
        j += 1;
    }
    if !chars.get(j).is_some_and(char::is_ascii_digit) {
        return None;
    }
    let mut digits = 0;
    let mut end = j;
    while j < chars.len() {
        let c = chars[j];
        if c.is_ascii_digit() {
            digits += 1;
            j += 1;
            end = j;
        } else if matches!(c, ' ' | '-' | '.' | '(' | ')')
            && chars
                .get(j + 1)
                .is_some_and(|n| n.is_ascii_digit() || *n == '(')
        {
            j += 1;
        } else if c == ')' {
            j += 1;
            end = j;
        } else {
            break;
        }
    }
    // A number glued to letters ("12кг") is not a phone.
    if chars.get(end).is_some_and(|c| c.is_alphabetic()) {
        return None;
    }
    (digits >= 7).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn phones_emails_and_documents_are_cut_out_in_every_language() {
        let cases = [
            (
                "Гульнар апаға көмір керек, 2 тонна. Тел 8 701 555 44 21, ЖСН 850101400123",
                "Гульнар",
                "[…] апаға көмір керек, 2 тонна. Тел […], ЖСН […]",
            ),
            (
                "Пенсионерке Ивановой нужен уголь 3 т, звонить +7 (701) 555-44-21 или ivanova.a@mail.kz",
                "Иванова Анна",
                "Пенсионерке […] нужен уголь 3 т, звонить […] или […]",
            ),
            (
                "Missing boy, 7 years old, blue jacket. Call John on 80 29 123 45 67, passport N1234567",
                "John Smith",
                "Missing boy, 7 years old, blue jacket. Call […] on […], passport […]",
            ),
        ];
        for (note, name, want) in cases {
            assert_eq!(volunteer_note(note, name), want, "{note}");
        }
    }

    #[test]
    fn what_is_needed_stays() {
        let note = "Нужно 2,5 тонны угля и 3 м3 дров к 15.12, 4 человека, дом 12кв5";
        assert_eq!(volunteer_note(note, ""), note);
        assert_eq!(
            volunteer_note("Үйде 100 000 теңге жоқ", ""),
            "Үйде 100 000 теңге жоқ"
        );
    }

    #[test]
    fn a_name_shorter_than_three_letters_cuts_nothing() {
        assert_eq!(volunteer_note("Ли needs coal", "Ли"), "Ли needs coal");
    }

    proptest! {
        /// Whatever the note, no run of seven digits survives and the caller's name is gone.
        #[test]
        fn no_long_number_and_no_name_survives(
            before in "[а-яa-z ,.]{0,30}",
            digits in proptest::collection::vec(0u8..10, 7..13),
            sep in prop::sample::select(vec!["", " ", "-"]),
            after in "[а-яa-z ,.]{0,30}",
        ) {
            let number: Vec<String> = digits.iter().map(|d| d.to_string()).collect();
            let note = format!("{before} {} Айгерім {after}", number.join(sep));
            let out = volunteer_note(&note, "Айгерім");
            let longest = out
                .split(|c: char| !c.is_ascii_digit() && c != ' ' && c != '-')
                .map(|s| s.chars().filter(char::is_ascii_digit).count())
                .max()
                .unwrap_or(0);
            prop_assert!(longest < 7, "{out}");
            prop_assert!(!out.contains("Айгерім"), "{out}");
        }
    }
}
