//! The gazetteer: every settlement of Kazakhstan with its names in Kazakh, Russian and English,
//! coordinates, region and district, and a search that suggests places while an operator types.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY); see `data/SOURCES.md`.
//!
//! The search matches the beginning of any name, or of any word in it, in any of the three
//! languages. It forgives one typo (a wrong, missing, extra or swapped letter) once three
//! letters are typed, and Kazakh letters typed on a Russian keyboard (`Кызылорда` finds
//! `Қызылорда`), because the letters are folded to what that keyboard has before comparing.
//! Exact beginnings rank before forgiven ones, whole names before words inside them, larger
//! places first.

pub mod admin;

use std::sync::OnceLock;

/// One settlement of the gazetteer.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    /// Empty when the source has no Kazakh name.
    pub name_kk: String,
    pub name_ru: String,
    pub name_en: String,
    pub lat: f64,
    pub lon: f64,
    /// None when the source does not know it (most villages).
    pub population: Option<u32>,
    /// In English, as requests and groups carry it ("Kyzylorda Region").
    pub region: String,
    pub district: String,
    pub region_ru: String,
    pub district_ru: String,
    /// "city", "town" or "village".
    pub kind: String,
    /// The region's code ("KZ-19"); see [`admin::REGIONS`].
    pub region_id: &'static str,
    /// The district's id ("KZ-19.raiymbekskiy"); empty where no district is known (inside
    /// Almaty and Astana, in Belarus, at a few borders).
    pub district_id: String,
}

impl Place {
    /// "KZ" or "BY".
    pub fn country(&self) -> &'static str {
        &self.region_id[..2]
    }
}

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Error {
    pub line: usize,
    pub message: String,
}

/// How a suggestion matched the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fit {
    /// The query is the whole name.
    Exact,
    /// The query begins the name.
    Name,
    /// The query begins a word inside the name ("каменогорск" in "Усть-Каменогорск").
    Word,
    /// As `Name` or `Word`, with one letter wrong, missing, extra or swapped.
    Typo,
}

#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    pub place: &'a Place,
    pub fit: Fit,
}

/// A name or a word of a name, folded, and whose place it is.
struct Key {
    folded: Vec<char>,
    place: u32,
    whole: bool,
}

pub struct Gazetteer {
    places: Vec<Place>,
    keys: Vec<Key>,
}

impl std::fmt::Debug for Gazetteer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gazetteer({} places)", self.places.len())
    }
}

/// The most suggestions one search returns.
pub const MAX_LIMIT: usize = 50;

/// Letters before a typo is forgiven: with fewer, nearly every place would match.
const TYPO_AFTER: usize = 3;

impl Gazetteer {
    /// Every settlement of Kazakhstan, parsed once from the file built into the crate.
    pub fn kazakhstan() -> &'static Gazetteer {
        static KZ: OnceLock<Gazetteer> = OnceLock::new();
        KZ.get_or_init(|| {
            Gazetteer::parse(include_str!("../data/kz_settlements.csv"))
                .expect("the built-in gazetteer parses")
        })
    }

    /// Every settlement of Belarus, parsed once from the file built into the crate.
    pub fn belarus() -> &'static Gazetteer {
        static BY: OnceLock<Gazetteer> = OnceLock::new();
        BY.get_or_init(|| {
            Gazetteer::parse(include_str!("../data/by_settlements.csv"))
                .expect("the built-in gazetteer parses")
        })
    }

    /// The settlements of both countries, in one search.
    pub fn all() -> &'static Gazetteer {
        static ALL: OnceLock<Gazetteer> = OnceLock::new();
        ALL.get_or_init(|| {
            let places = [Gazetteer::kazakhstan(), Gazetteer::belarus()]
                .iter()
                .flat_map(|g| g.places.iter().cloned())
                .collect();
            Gazetteer::index(places)
        })
    }

    /// Parses a gazetteer's CSV: a header line naming the columns (`name_kk`, `name_ru`,
    /// `name_en`, `lat`, `lon`, `population`, `region`, `district`, `kind`, `region_ru`,
    /// `district_ru`; others are ignored), then one settlement a line. Each place's region is
    /// given its id and canonical English name ([`admin::Admin::region`]), its district its id:
    /// by the source's name, else by the point.
    pub fn parse(text: &str) -> Result<Gazetteer, Error> {
        let admin = admin::Admin::get();
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| Error {
                line: 1,
                message: e.to_string(),
            })?
            .clone();
        let column = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| Error {
                line: 1,
                message: format!("no column {name}"),
            })
        };
        let [
            kk,
            ru,
            en,
            lat,
            lon,
            population,
            region,
            district,
            kind,
            region_ru,
            district_ru,
        ] = [
            "name_kk",
            "name_ru",
            "name_en",
            "lat",
            "lon",
            "population",
            "region",
            "district",
            "kind",
            "region_ru",
            "district_ru",
        ]
        .map(column);
        let (kk, ru, en, lat, lon, population) = (kk?, ru?, en?, lat?, lon?, population?);
        let (region, district, kind, region_ru, district_ru) =
            (region?, district?, kind?, region_ru?, district_ru?);
        let mut places = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| Error {
                line: e.position().map_or(0, |p| p.line() as usize),
                message: e.to_string(),
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let bad = |message: String| Error { line, message };
            let field = |i: usize| record.get(i).unwrap_or("");
            let number = |i: usize, what: &str| {
                let s = field(i);
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(format!("{what} {s:?} is not a number")))
            };
            let (lat, lon) = (number(lat, "latitude")?, number(lon, "longitude")?);
            // The Russian name first: it says "область" where the English one may not
            // (Belarus's "Minsk" is the province, "City of Minsk" the city).
            let Some(r) = admin
                .region(field(region_ru))
                .or_else(|| admin.region(field(region)))
            else {
                return Err(bad(format!("unknown region {:?}", field(region))));
            };
            let district_id = admin
                .district(Some(r), field(district))
                .or_else(|| admin.locate(lat, lon).filter(|d| d.region.id == r.id))
                .map_or_else(String::new, |d| d.id.clone());
            places.push(Place {
                name_kk: field(kk).to_string(),
                name_ru: field(ru).to_string(),
                name_en: field(en).to_string(),
                lat,
                lon,
                population: field(population).parse().ok(),
                region: r.name_en.to_string(),
                district: field(district).to_string(),
                kind: field(kind).to_string(),
                region_ru: field(region_ru).to_string(),
                district_ru: field(district_ru).to_string(),
                region_id: r.id,
                district_id,
            });
        }
        Ok(Gazetteer::index(places))
    }

    /// The search keys of `places`.
    fn index(places: Vec<Place>) -> Gazetteer {
        let mut keys = Vec::new();
        for (n, p) in places.iter().enumerate() {
            let mut own: Vec<Key> = Vec::new();
            for name in [&p.name_kk, &p.name_ru, &p.name_en] {
                let folded = fold(name);
                for start in word_starts(&folded) {
                    let key = Key {
                        folded: folded[start..].to_vec(),
                        place: n as u32,
                        whole: start == 0,
                    };
                    // Kazakh and Russian names often fold to the same letters: keep one.
                    if !own.iter().any(|k| k.folded == key.folded) {
                        own.push(key);
                    }
                }
            }
            keys.extend(own);
        }
        Gazetteer { places, keys }
    }

    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// Up to `limit` (at most [`MAX_LIMIT`]) places matching what was typed, best first;
    /// only places of `region` when one is given (its id, or its name in any language).
    pub fn search(&self, query: &str, region: Option<&str>, limit: usize) -> Vec<Hit<'_>> {
        let q = fold(query);
        if q.is_empty() || limit == 0 {
            return Vec::new();
        }
        let region = match region {
            Some(text) => match admin::Admin::get().region(text) {
                Some(r) => Some(r.id),
                None => return Vec::new(),
            },
            None => None,
        };
        let limit = limit.min(MAX_LIMIT);
        // Best fit per place.
        let mut best: Vec<(u32, Fit)> = Vec::new();
        let mut seen = std::collections::HashMap::<u32, usize>::new();
        for key in &self.keys {
            let Some(edit) = prefix_fit(&q, &key.folded) else {
                continue;
            };
            let place = &self.places[key.place as usize];
            if region.is_some_and(|r| place.region_id != r) {
                continue;
            }
            let fit = match (edit, key.whole) {
                (true, _) => Fit::Typo,
                (false, true) if key.folded.len() == q.len() => Fit::Exact,
                (false, true) => Fit::Name,
                (false, false) => Fit::Word,
            };
            match seen.get(&key.place) {
                Some(&i) => best[i].1 = best[i].1.min(fit),
                None => {
                    seen.insert(key.place, best.len());
                    best.push((key.place, fit));
                }
            }
        }
        best.sort_by(|a, b| {
            let (pa, pb) = (&self.places[a.0 as usize], &self.places[b.0 as usize]);
            a.1.cmp(&b.1)
                .then(pb.population.unwrap_or(0).cmp(&pa.population.unwrap_or(0)))
                .then(kind_rank(pa).cmp(&kind_rank(pb)))
                .then(pa.name_en.cmp(&pb.name_en))
        });
        best.truncate(limit);
        best.into_iter()
            .map(|(n, fit)| Hit {
                place: &self.places[n as usize],
                fit,
            })
            .collect()
    }
}

fn kind_rank(p: &Place) -> u8 {
    match p.kind.as_str() {
        "city" => 0,
        "town" => 1,
        _ => 2,
    }
}

/// Lower case, with Kazakh letters as a Russian keyboard types them, ё as е, and every run of
/// spaces, hyphens and other separators as one space. In Latin names, q is k and gh is g, so
/// the transliterations of қ and ғ (Qyzylorda, Talghar) meet the older ones (Kyzylorda, Talgar).
pub fn fold(s: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c == 'h' && out.last() == Some(&'g') {
            continue;
        }
        let c = match komek_core::text::fold_char(c) {
            'q' => 'k',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        };
        if c == ' ' && out.last().is_none_or(|l| *l == ' ') {
            continue;
        }
        out.push(c);
    }
    if out.last() == Some(&' ') {
        out.pop();
    }
    out
}

/// Where each word of a folded name begins.
fn word_starts(folded: &[char]) -> impl Iterator<Item = usize> + '_ {
    (0..folded.len()).filter(move |&i| i == 0 || folded[i - 1] == ' ')
}

/// Whether `q` begins `name`: Some(false) exactly, Some(true) with one edit (once `q` is
/// long enough), None otherwise.
fn prefix_fit(q: &[char], name: &[char]) -> Option<bool> {
    let common = q.iter().zip(name).take_while(|(a, b)| a == b).count();
    if common == q.len() {
        return Some(false);
    }
    if q.len() < TYPO_AFTER {
        return None;
    }
    let (qr, nr) = (&q[common..], &name[common.min(name.len())..]);
    let begins = |q: &[char], n: &[char]| n.len() >= q.len() && n[..q.len()] == *q;
    // A wrong letter, an extra letter typed, a letter left out, two letters swapped.
    let wrong = !nr.is_empty() && begins(&qr[1..], &nr[1..]);
    let extra = begins(&qr[1..], nr);
    let missing = !nr.is_empty() && begins(qr, &nr[1..]);
    let swapped = qr.len() >= 2
        && nr.len() >= 2
        && qr[0] == nr[1]
        && qr[1] == nr[0]
        && begins(&qr[2..], &nr[2..]);
    (wrong || extra || missing || swapped).then_some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kz() -> &'static Gazetteer {
        Gazetteer::kazakhstan()
    }

    fn first(query: &str) -> &'static Place {
        kz().search(query, None, 5)
            .first()
            .unwrap_or_else(|| panic!("nothing for {query:?}"))
            .place
    }

    #[test]
    fn the_built_in_gazetteer_has_every_settlement() {
        assert_eq!(kz().places().len(), 11_741);
    }

    #[test]
    fn a_city_is_found_from_its_first_letters_in_each_language() {
        for q in [
            "Қызылор",
            "Кызылор",
            "кызылор",
            "Qyzylor",
            "Kyzylor",
            "kyzylor",
        ] {
            let p = first(q);
            assert_eq!(p.name_en, "Qyzylorda", "{q}");
            assert_eq!(p.region, "Kyzylorda Region");
        }
    }

    #[test]
    fn one_typo_is_forgiven_once_three_letters_are_typed() {
        // Wrong letter, missing letter, extra letter, swapped letters.
        for q in [
            "Кызылерда",
            "Кызлорда",
            "Кызыллорда",
            "Кызылодра",
            "Kyzylroda",
        ] {
            let hits = kz().search(q, None, 10);
            assert!(
                hits.iter().any(|h| h.place.name_en == "Qyzylorda"),
                "{q}: {:?}",
                hits.iter().map(|h| &h.place.name_en).collect::<Vec<_>>()
            );
        }
        // Two typos are too many.
        let hits = kz().search("Кызелодра", None, 50);
        assert!(hits.iter().all(|h| h.place.name_en != "Qyzylorda"));
    }

    #[test]
    fn exact_beginnings_rank_before_forgiven_ones_and_bigger_places_first() {
        let hits = kz().search("Алма", None, 10);
        assert_eq!(hits[0].place.name_en, "Almaty");
        for q in ["Талгар", "Talgar", "Talghar"] {
            let talgar = kz().search(q, None, 10);
            assert_eq!(talgar[0].place.name_en, "Talghar", "{q}");
            assert_eq!(talgar[0].fit, Fit::Exact, "{q}");
        }
        let fits: Vec<Fit> = hits.iter().map(|h| h.fit).collect();
        let mut sorted = fits.clone();
        sorted.sort();
        assert_eq!(fits, sorted, "ordered by how well they fit");
    }

    #[test]
    fn a_word_inside_a_name_is_found() {
        let hits = kz().search("Каменогорск", None, 5);
        assert!(
            hits.iter()
                .any(|h| h.place.name_ru.contains("Усть-Каменогорск") && h.fit == Fit::Word),
            "{:?}",
            hits.iter().map(|h| &h.place.name_ru).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_region_narrows_the_suggestions() {
        let all = kz().search("Жана", None, 50);
        let here = kz().search("Жана", Some("Kyzylorda Region"), 50);
        assert!(!here.is_empty() && here.len() <= all.len());
        assert!(here.iter().all(|h| h.place.region == "Kyzylorda Region"));
    }

    #[test]
    fn nothing_typed_suggests_nothing_and_limits_hold() {
        assert!(kz().search("", None, 10).is_empty());
        assert!(kz().search(" -- ", None, 10).is_empty());
        assert!(kz().search("а", None, 0).is_empty());
        assert_eq!(kz().search("а", None, 1000).len(), MAX_LIMIT);
    }

    #[test]
    fn folding_types_kazakh_on_a_russian_keyboard() {
        assert_eq!(fold("Әулиекөл"), fold("аулиекол"));
        assert_eq!(fold("Ұзынағаш"), fold("узынагаш"));
        assert_eq!(fold("Өскемен"), fold("оскемен"));
        assert_eq!(fold("Ақсу-Аюлы"), fold("аксу  аюлы"));
        assert_eq!(fold("Щучинск"), fold("щучинск"));
    }

    #[test]
    fn a_malformed_file_names_its_line() {
        const HEADER: &str = "name_kk,name_ru,name_en,lat,lon,population,region,district,kind,region_ru,district_ru\n";
        let err = Gazetteer::parse(&format!("{HEADER},б,c,43,77,,Almaty Region,d,village,р,д\nа,б,c,north,1,,Almaty Region,d,village,р,д\n")).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("latitude"), "{}", err.message);
        let err = Gazetteer::parse(&format!("{HEADER}а,б,c,43,77,,Atlantis,d,village,р,д\n"))
            .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("region"), "{}", err.message);
        let err = Gazetteer::parse("name_kk,name_ru\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("name_en"), "{}", err.message);
    }

    #[test]
    fn belarus_is_searched_too_and_places_carry_their_region_and_district_ids() {
        let by = Gazetteer::belarus();
        assert!(by.places().len() > 24_000, "{}", by.places().len());
        // A name with a comma in it, quoted in the file.
        assert!(
            by.places()
                .iter()
                .any(|p| p.name_en == "Ryasno, Rjasno, Rasna")
        );
        let volozhin = &Gazetteer::all().search("Воложин", None, 1)[0].place;
        assert_eq!(volozhin.name_en, "Valozhyn");
        assert_eq!((volozhin.region_id, volozhin.country()), ("BY-MI", "BY"));
        assert_eq!(volozhin.region, "Minsk Region");
        let kegen = &Gazetteer::all().search("Кеген", Some("Алматы облысы"), 1)[0].place;
        assert_eq!(kegen.region_id, "KZ-19");
        assert_eq!(kegen.district_id, "KZ-19.raiymbekskiy");
        // Every Kazakh place has its region; all but those of the cities and a few at borders
        // their district.
        let kz = kz().places();
        let without = kz.iter().filter(|p| p.district_id.is_empty()).count();
        assert!(without < 100, "{without} places without a district");
        assert!(kz.iter().all(|p| p.region_id.starts_with("KZ-")));
    }

    proptest! {
        /// Every place is found by the first letters of each of its names.
        #[test]
        fn every_place_is_found_by_its_own_beginning(i in 0usize..11_741, len in 1usize..8) {
            let p = &kz().places()[i];
            for name in [&p.name_kk, &p.name_ru, &p.name_en] {
                let q: String = name.chars().take(len).collect();
                if fold(&q).is_empty() {
                    continue;
                }
                let hits = kz().search(&q, Some(&p.region), MAX_LIMIT);
                // Short prefixes match many places; the place is there when it is among the
                // first MAX_LIMIT, which the ranking decides. Its full name always finds it
                // (unless fifty places of the region share that name).
                if q == *name || hits.len() < MAX_LIMIT {
                    prop_assert!(hits.iter().any(|h| std::ptr::eq(h.place, p)), "{q}");
                }
            }
        }

        /// Whatever is typed, the search answers within its limit and never panics.
        #[test]
        fn any_input_is_answered(q in "\\PC{0,40}", limit in 0usize..100) {
            prop_assert!(kz().search(&q, None, limit).len() <= limit.min(MAX_LIMIT));
        }
    }
}
