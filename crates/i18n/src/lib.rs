//! Komek's words in Kazakh, Russian and English: one set of Fluent message files
//! (`messages/{kk,ru,en}.ftl`) built into the crate, for the console, the CLI and anything else
//! that shows Komek to people.
//!
//! Enum values are looked up by their protobuf names (`CATEGORY_FUEL_DELIVERY` is the key
//! `category-fuel-delivery`), so nobody ever sees the raw name. A missing key shows the key
//! itself, and a test holds every key to exist in all three languages.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language Komek speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Kk,
    Ru,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Kk, Lang::Ru, Lang::En];

    /// The BCP 47 code: "kk", "ru", "en".
    pub fn code(self) -> &'static str {
        match self {
            Lang::Kk => "kk",
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "kk" => Some(Lang::Kk),
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language a browser's `Accept-Language` header prefers among Komek's, by weight,
    /// then by order; Russian when it names none of them (the language every hotline in the
    /// region works in).
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::from_code) else {
                continue;
            };
            // No weight is 1; a weight that is not a number from 0 to 1 spoils its entry.
            let q = match pieces.find_map(|p| p.trim().strip_prefix("q=")) {
                None => 1.0,
                Some(q) => match q.trim().parse::<f32>() {
                    Ok(q) if (0.0..=1.0).contains(&q) => q,
                    _ => continue,
                },
            };
            if q == 0.0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((bq, bi, _)) => q > bq || (q == bq && i < bi),
            };
            if better {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::Ru, |(_, _, lang)| lang)
    }

    /// The language's own name, for a language switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Kk => "Қазақша",
            Lang::Ru => "Русский",
            Lang::En => "English",
        }
    }
}

const SOURCES: [(Lang, &str); 3] = [
    (Lang::Kk, include_str!("../messages/kk.ftl")),
    (Lang::Ru, include_str!("../messages/ru.ftl")),
    (Lang::En, include_str!("../messages/en.ftl")),
];

fn bundle(lang: Lang) -> &'static FluentBundle<FluentResource> {
    static BUNDLES: OnceLock<Vec<(Lang, FluentBundle<FluentResource>)>> = OnceLock::new();
    let bundles = BUNDLES.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(lang, source)| {
                let resource = FluentResource::try_new(source.to_string())
                    .unwrap_or_else(|(_, e)| panic!("{}.ftl does not parse: {e:?}", lang.code()));
                let id = lang.code().parse().expect("a language identifier");
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                // Isolation marks around arguments would end up inside HTML and copied text.
                bundle.set_use_isolating(false);
                bundle
                    .add_resource(resource)
                    .unwrap_or_else(|e| panic!("{}.ftl: {e:?}", lang.code()));
                (*lang, bundle)
            })
            .collect()
    });
    &bundles
        .iter()
        .find(|(l, _)| *l == lang)
        .expect("every language has a bundle")
        .1
}

/// The message `key` in `lang`, or the key itself when there is no such message.
pub fn text(lang: Lang, key: &str) -> String {
    format(lang, key, None)
}

/// Whether `lang` has a message `key`.
pub fn has(lang: Lang, key: &str) -> bool {
    bundle(lang).has_message(key)
}

/// The message `key` in `lang` with its `{ $name }` arguments filled in.
pub fn text_with(lang: Lang, key: &str, args: &[(&str, Arg<'_>)]) -> String {
    let mut fluent = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Str(s) => fluent.set(*name, FluentValue::from(*s)),
            Arg::Num(n) => fluent.set(*name, FluentValue::from(*n)),
        }
    }
    format(lang, key, Some(&fluent))
}

/// An argument of a message.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Str(&'a str),
    Num(f64),
}

fn format(lang: Lang, key: &str, args: Option<&FluentArgs<'_>>) -> String {
    let bundle = bundle(lang);
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return key.to_string();
    };
    let mut errors = Vec::new();
    bundle
        .format_pattern(pattern, args, &mut errors)
        .into_owned()
}

/// The label of a protobuf enum value given by its name (`CATEGORY_FUEL_DELIVERY`), in `lang`.
pub fn enum_label(lang: Lang, proto_name: &str) -> String {
    text(lang, &enum_key(proto_name))
}

/// The message key of a protobuf enum value name.
pub fn enum_key(proto_name: &str) -> String {
    proto_name.to_ascii_lowercase().replace('_', "-")
}

/// Every message key of `lang`, in file order.
pub fn keys(lang: Lang) -> Vec<String> {
    let source = SOURCES
        .iter()
        .find(|(l, _)| *l == lang)
        .expect("every language has a file")
        .1;
    source
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '\t']) && !l.trim().is_empty())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_key_exists_in_all_three_languages() {
        let sets: Vec<(Lang, BTreeSet<String>)> = Lang::ALL
            .iter()
            .map(|l| (*l, keys(*l).into_iter().collect()))
            .collect();
        let all: BTreeSet<&String> = sets.iter().flat_map(|(_, s)| s).collect();
        for (lang, set) in &sets {
            let missing: Vec<&&String> = all.iter().filter(|k| !set.contains(**k)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.code());
        }
        for lang in Lang::ALL {
            for key in keys(lang) {
                let shown = text(lang, &key);
                assert_ne!(shown, key, "{} {key} does not format", lang.code());
                assert!(!shown.trim().is_empty(), "{} {key} is empty", lang.code());
            }
        }
    }

    /// Every value of the enums people see has a label in every language.
    #[test]
    fn every_enum_value_people_see_is_translated() {
        use komek_proto::matching::v1 as m;
        use komek_proto::roster::v1 as r;
        use komek_proto::types::v1 as t;
        let mut names: Vec<&'static str> = Vec::new();
        macro_rules! all_of {
            ($($e:ty),*) => {$(
                for code in 1..64 {
                    if let Ok(v) = <$e>::try_from(code) {
                        names.push(v.as_str_name());
                    }
                }
            )*};
        }
        all_of!(
            t::Category,
            t::Priority,
            t::Skill,
            t::Role,
            t::Language,
            t::Channel,
            t::RequestStatus,
            t::AssignmentStatus,
            t::Outcome,
            t::Availability,
            t::IneligibleReason,
            t::DayOfWeek,
            t::WaitingState,
            t::SearchRole,
            komek_proto::intake::v1::PlanState,
            r::OrganizationKind,
            m::Queue,
            m::ProgressStep
        );
        assert!(names.len() > 90, "{}", names.len());
        for lang in Lang::ALL {
            for name in &names {
                let label = enum_label(lang, name);
                assert_ne!(
                    label,
                    enum_key(name),
                    "{} has no label for {name}",
                    lang.code()
                );
            }
        }
        assert_eq!(
            enum_label(Lang::Kk, "CATEGORY_FUEL_DELIVERY"),
            "Көмір мен отын жеткізу"
        );
        assert_eq!(
            enum_label(Lang::Ru, "CATEGORY_FUEL_DELIVERY"),
            "Доставка угля и дров"
        );
    }

    #[test]
    fn counts_agree_with_the_number_in_each_language() {
        let n = |lang, count: f64| text_with(lang, "requests-count", &[("count", Arg::Num(count))]);
        assert_eq!(n(Lang::En, 1.0), "1 request");
        assert_eq!(n(Lang::En, 5.0), "5 requests");
        assert_eq!(n(Lang::Ru, 1.0), "1 заявка");
        assert_eq!(n(Lang::Ru, 3.0), "3 заявки");
        assert_eq!(n(Lang::Ru, 5.0), "5 заявок");
        assert_eq!(n(Lang::Ru, 21.0), "21 заявка");
        assert_eq!(n(Lang::Kk, 5.0), "5 өтінім");
    }

    #[test]
    fn the_browser_picks_and_russian_is_the_fallback() {
        assert_eq!(
            Lang::from_accept_language("kk-KZ,kk;q=0.9,ru;q=0.8"),
            Lang::Kk
        );
        assert_eq!(
            Lang::from_accept_language("ru-RU,ru;q=0.9,en;q=0.8"),
            Lang::Ru
        );
        assert_eq!(
            Lang::from_accept_language("de-DE,en;q=0.5,kk;q=0.7"),
            Lang::Kk
        );
        assert_eq!(Lang::from_accept_language("en-GB"), Lang::En);
        assert_eq!(Lang::from_accept_language("de, fr;q=0.5"), Lang::Ru);
        assert_eq!(Lang::from_accept_language(""), Lang::Ru);
        assert_eq!(Lang::from_accept_language("kk;q=0, en;q=0.1"), Lang::En);
        assert_eq!(Lang::from_accept_language("kk;q=NaN, en"), Lang::En);
    }

    #[test]
    fn a_missing_key_shows_itself() {
        assert_eq!(text(Lang::Kk, "no-such-key"), "no-such-key");
    }
}
