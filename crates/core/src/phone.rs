//! Phone numbers as hotline operators type them while the caller dictates, normalised to E.164.
//!
//! Accepted: Kazakhstan's (and Russia's) `+7` and the national `8` prefix, and Belarus's
//! `+375` and its national `80` prefix, with the spaces, dashes, dots and brackets people put
//! in. Anything else is refused: a number from elsewhere cannot be called back from these
//! hotlines, and a typo caught while the caller is on the line is cheap.
//!
//! Numbering plans: ITU-T E.164 country codes 7 (Kazakhstan, Russia: ten national digits after
//! the trunk prefix 8) and 375 (Belarus: nine national digits after the trunk prefix 80).

/// The hint shown with a refused number.
pub const EXPECTED: &str = "a phone number of Kazakhstan (8 701 555 44 21, +7 701 555 44 21) or Belarus (+375 29 123 45 67, 80 29 123 45 67)";

/// The number in E.164 (`+77015554421`), or None when it is not one of the accepted forms.
pub fn normalize(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            // Separators people type between groups of digits.
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            _ => return None,
        }
    }
    let national = if plus {
        if let Some(n) = digits.strip_prefix("375") {
            return belarus(n);
        }
        digits.strip_prefix('7')?
    } else if let Some(n) = digits.strip_prefix("80") {
        return belarus(n);
    } else {
        digits.strip_prefix('8')?
    };
    // Codes after 7 never begin with 0: "8 0…" is Belarus's prefix, handled above.
    (national.len() == 10 && !national.starts_with('0')).then(|| format!("+7{national}"))
}

fn belarus(national: &str) -> Option<String> {
    (national.len() == 9 && !national.starts_with('0')).then(|| format!("+375{national}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_forms_operators_type_become_e164() {
        for (typed, e164) in [
            ("8 701 555 44 21", "+77015554421"),
            ("8-701-555-44-21", "+77015554421"),
            ("8 (701) 555-44-21", "+77015554421"),
            ("87015554421", "+77015554421"),
            ("+7 701 555 44 21", "+77015554421"),
            ("+7 (701) 555-44-21", "+77015554421"),
            ("+77015554421", "+77015554421"),
            ("8 (7172) 55-44-21", "+77172554421"),
            ("  +7.701.555.44.21 ", "+77015554421"),
            ("+375 29 123 45 67", "+375291234567"),
            ("+375 (29) 123-45-67", "+375291234567"),
            ("80 29 123 45 67", "+375291234567"),
            ("8 029 123-45-67", "+375291234567"),
            ("80291234567", "+375291234567"),
        ] {
            assert_eq!(normalize(typed).as_deref(), Some(e164), "{typed}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "+",
            "701 555 44 21",
            "8 701 555 44 2",
            "8 701 555 44 211",
            "+7 701 555 44 2",
            "+7 001 555 44 21",
            "+49 30 1234567",
            "+375 29 123 45 6",
            "+375 09 123 45 67",
            "80 29 123 45 6",
            "8 701 555 44 2l",
            "8 701 555 44 21 доб. 3",
            "+7 701 555 44 21\u{202e}",
            "++77015554421",
            "0 701 555 44 21",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    proptest! {
        /// Whatever separators an operator puts between the digits, the number is the same.
        #[test]
        fn separators_do_not_change_the_number(
            national in "7[0-9]{9}",
            seps in proptest::collection::vec(prop::sample::select(vec!["", " ", "-", "."]), 11),
            international in any::<bool>(),
        ) {
            let prefix = if international { "+7" } else { "8" };
            let mut typed = prefix.to_string();
            for (d, sep) in national.chars().zip(&seps) {
                typed.push_str(sep);
                typed.push(d);
            }
            prop_assert_eq!(normalize(&typed), Some(format!("+7{national}")));
        }

        /// A normalised number normalises to itself, and never panics on any input.
        #[test]
        fn normalising_is_idempotent(input in "\\PC{0,24}") {
            if let Some(e164) = normalize(&input) {
                prop_assert_eq!(normalize(&e164), Some(e164.clone()));
                prop_assert!(e164.starts_with("+7") || e164.starts_with("+375"));
            }
        }
    }
}
