//! Regions and districts: stable ids, names in Kazakh, Russian and English, which district (and
//! so which region) a point lies in, and which region or district a name means however it was
//! written ("Almaty Region", "Алматы облысы", "Алматинская обл." and "KZ-19" are one region).
//!
//! Regions carry the codes of ISO 3166-2 (for Kazakhstan the 2022 numeric ones, the first
//! digits of the KATO classifier: KZ-19 Almaty Region, KZ-75 Almaty the city). A district's id
//! is its region's code and the WOF transliteration of its name ("KZ-19.raiymbekskiy").
//!
//! Kazakhstan's district shapes are WOF's pre-2018 ones, with each district under its current
//! (2018/2022) region; see `data/SOURCES.md` for what that means (no Kegen district: Kegen's
//! villages are in Raiymbekskiy). Belarus has regions here, without shapes.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY); see `data/SOURCES.md`.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use geo::{BoundingRect, Contains, Coord, LineString, MultiPolygon, Point, Polygon, Rect};
use serde::Deserialize;

use crate::fold;

/// Whether a region is a province or a city of that rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Region,
    City,
}

/// A first-level division: an oblast, or a city of its rank (Almaty, Astana, Shymkent, Minsk).
#[derive(Debug)]
pub struct Region {
    /// ISO 3166-2 code, e.g. "KZ-19".
    pub id: &'static str,
    pub kind: Kind,
    pub name_kk: &'static str,
    pub name_ru: &'static str,
    /// As requests and groups have carried it so far ("Almaty Region").
    pub name_en: &'static str,
    /// Other ways people write it: former names, abbreviations, transliterations.
    aliases: &'static [&'static str],
}

impl Region {
    /// The name in `lang` ("kk", "ru", anything else English).
    pub fn name(&self, lang: &str) -> &'static str {
        match lang {
            "kk" => self.name_kk,
            "ru" => self.name_ru,
            _ => self.name_en,
        }
    }

    pub fn country(&self) -> &'static str {
        &self.id[..2]
    }
}

/// The names in a table row: id, English, Russian, Kazakh, then other ways of writing it.
type Names = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const fn division(kind: Kind, (id, name_en, name_ru, name_kk, aliases): Names) -> Region {
    Region {
        id,
        kind,
        name_kk,
        name_ru,
        name_en,
        aliases,
    }
}

/// Every region. Kazakh names as the regions' akimats write them; Belarus's regions in Kazakh
/// as Kazakh writes foreign provinces (the city's name and "облысы").
pub static REGIONS: [Region; 27] = [
    division(
        Kind::Region,
        (
            "KZ-10",
            "Abai Region",
            "Абайская область",
            "Абай облысы",
            &["Abay"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-11",
            "Akmola Region",
            "Акмолинская область",
            "Ақмола облысы",
            &["Aqmola"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-15",
            "Aktobe Region",
            "Актюбинская область",
            "Ақтөбе облысы",
            &["Aqtobe"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-19",
            "Almaty Region",
            "Алматинская область",
            "Алматы облысы",
            &[],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-23",
            "Atyrau Region",
            "Атырауская область",
            "Атырау облысы",
            &["Atyraū"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-27",
            "West Kazakhstan Region",
            "Западно-Казахстанская область",
            "Батыс Қазақстан облысы",
            &["ЗКО", "Batys Kazakhstan"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-31",
            "Zhambyl Region",
            "Жамбылская область",
            "Жамбыл облысы",
            &["Jambyl"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-33",
            "Zhetysu Region",
            "Жетысуская область",
            "Жетісу облысы",
            &["Zhetisu", "Jetisu"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-35",
            "Karaganda Region",
            "Карагандинская область",
            "Қарағанды облысы",
            &["Qaraghandy", "Karagandy"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-39",
            "Kostanay Region",
            "Костанайская область",
            "Қостанай облысы",
            &["Kustanai"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-43",
            "Kyzylorda Region",
            "Кызылординская область",
            "Қызылорда облысы",
            &[],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-47",
            "Mangystau Region",
            "Мангистауская область",
            "Маңғыстау облысы",
            &["Mangghystau", "Mangistau", "Мангыстауская"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-55",
            "Pavlodar Region",
            "Павлодарская область",
            "Павлодар облысы",
            &[],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-59",
            "North Kazakhstan Region",
            "Северо-Казахстанская область",
            "Солтүстік Қазақстан облысы",
            &["СКО", "Soltustik Kazakhstan"],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-61",
            "Turkistan Region",
            "Туркестанская область",
            "Түркістан облысы",
            // Its name until 2018.
            &[
                "Turkestan",
                "South Kazakhstan",
                "Южно-Казахстанская",
                "Оңтүстік Қазақстан",
                "ЮКО",
            ],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-62",
            "Ulytau Region",
            "Улытауская область",
            "Ұлытау облысы",
            &[],
        ),
    ),
    division(
        Kind::Region,
        (
            "KZ-63",
            "East Kazakhstan Region",
            "Восточно-Казахстанская область",
            "Шығыс Қазақстан облысы",
            &["ВКО", "Shygys Kazakhstan"],
        ),
    ),
    division(
        Kind::City,
        (
            "KZ-71",
            "Astana",
            "Астана",
            "Астана",
            &["Nur-Sultan", "Нур-Султан", "Нұр-Сұлтан"],
        ),
    ),
    division(
        Kind::City,
        (
            "KZ-75",
            "Almaty",
            "Алматы",
            "Алматы",
            &["Alma-Ata", "Алма-Ата"],
        ),
    ),
    division(
        Kind::City,
        (
            "KZ-79",
            "Shymkent",
            "Шымкент",
            "Шымкент",
            &["Chimkent", "Чимкент"],
        ),
    ),
    division(
        Kind::Region,
        (
            "BY-BR",
            "Brest Region",
            "Брестская область",
            "Брест облысы",
            &["Брэсцкая"],
        ),
    ),
    division(
        Kind::Region,
        (
            "BY-VI",
            "Vitebsk Region",
            "Витебская область",
            "Витебск облысы",
            &["Віцебская"],
        ),
    ),
    division(
        Kind::Region,
        (
            "BY-HO",
            "Gomel Region",
            "Гомельская область",
            "Гомель облысы",
            &["Homel"],
        ),
    ),
    division(
        Kind::Region,
        (
            "BY-HR",
            "Grodno Region",
            "Гродненская область",
            "Гродно облысы",
            &["Hrodna", "Гродзенская"],
        ),
    ),
    division(
        Kind::Region,
        (
            "BY-MI",
            "Minsk Region",
            "Минская область",
            "Минск облысы",
            &["Мінская"],
        ),
    ),
    division(
        Kind::Region,
        (
            "BY-MA",
            "Mogilev Region",
            "Могилёвская область",
            "Могилёв облысы",
            &["Mahilyow", "Магілёўская"],
        ),
    ),
    division(
        Kind::City,
        ("BY-HM", "Minsk", "Минск", "Минск", &["City of Minsk"]),
    ),
];

/// A second-level division (audan, raion) and its shape.
#[derive(Debug)]
pub struct District {
    /// The region's code and the district's WOF name, lower case: "KZ-19.raiymbekskiy".
    pub id: String,
    pub region: &'static Region,
    /// WOF's transliteration; for some districts an older name (see `data/SOURCES.md`).
    pub name_en: String,
    /// Empty for the 40 districts the source has no Russian or Kazakh name for.
    pub name_ru: String,
    pub name_kk: String,
    /// The Russian name in WOF's source layer, often the current one.
    pub name_loc: String,
    shape: MultiPolygon<f64>,
    bounds: Rect<f64>,
}

impl District {
    /// The name in `lang`, falling back to Russian, then to English.
    pub fn name(&self, lang: &str) -> &str {
        let first = match lang {
            "kk" => &self.name_kk,
            "ru" => &self.name_ru,
            _ => &self.name_en,
        };
        [first, &self.name_ru, &self.name_loc, &self.name_en]
            .into_iter()
            .find(|n| !n.is_empty())
            .map_or("", |n| n.as_str())
    }

    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        let p = Point::new(lon, lat);
        self.bounds.contains(&p) && self.shape.contains(&p)
    }
}

/// Why the boundaries did not load.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("boundaries: {0}")]
    Json(#[from] serde_json::Error),
    #[error("boundaries: feature {feature}: {message}")]
    Feature { feature: usize, message: String },
}

/// Regions, districts, and lookups by point and by name.
pub struct Admin {
    districts: Vec<District>,
    /// Folded names of regions and districts, by kind, to what they name.
    region_names: HashMap<String, Vec<usize>>,
    district_names: HashMap<String, Vec<usize>>,
    /// Answers given, by the text asked about.
    answers: RwLock<Answers>,
}

/// What [`Admin::region`] and [`Admin::district`] answered, by the text asked about (and for a
/// district, the region's id, or "" for none): the services name places by a few hundred
/// texts over and over (every event, every view of a request), and folding a name costs more
/// than the rest of its lookup. At most [`Answers::MOST`] texts; when full it starts again,
/// so texts sent once each (or to fill it) cost what they cost without it.
#[derive(Default)]
struct Answers {
    regions: HashMap<Box<str>, Option<usize>>,
    districts: HashMap<&'static str, HashMap<Box<str>, Option<usize>>>,
    texts: usize,
}

impl Answers {
    const MOST: usize = 4096;

    /// Makes room for one more text.
    fn room(&mut self) {
        if self.texts >= Self::MOST {
            *self = Answers::default();
        }
        self.texts += 1;
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Admin({} districts)", self.districts.len())
    }
}

#[derive(Deserialize)]
struct Collection {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    properties: Properties,
    geometry: Geometry,
}

#[derive(Deserialize)]
struct Properties {
    level: String,
    name_en: String,
    #[serde(default)]
    name_ru: String,
    #[serde(default)]
    name_kk: String,
    #[serde(default)]
    name_loc: String,
    region: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", content = "coordinates")]
enum Geometry {
    Polygon(Vec<Vec<[f64; 2]>>),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

fn polygon(rings: &[Vec<[f64; 2]>]) -> Option<Polygon<f64>> {
    let ring = |r: &Vec<[f64; 2]>| {
        LineString::from(
            r.iter()
                .map(|[x, y]| Coord { x: *x, y: *y })
                .collect::<Vec<_>>(),
        )
    };
    let (shell, holes) = rings.split_first()?;
    Some(Polygon::new(ring(shell), holes.iter().map(ring).collect()))
}

/// Words that say what kind of division a name is, in the three languages, folded; they are
/// dropped before names are compared.
const REGION_WORDS: &[&str] = &[
    "область",
    "области",
    "обл",
    "облысы",
    "облысынын",
    "region",
    "oblast",
    "oblasti",
    "oblysy",
    "obl",
    "вобласць",
];
const CITY_WORDS: &[&str] = &["г", "город", "каласы", "city", "kalasy", "gorod"];
const DISTRICT_WORDS: &[&str] = &[
    "район",
    "района",
    "районе",
    "р",
    "н",
    "на",
    "рн",
    "ауданы",
    "аудан",
    "ауданынын",
    "district",
    "raion",
    "rayon",
    "audany",
    "audan",
];

/// Endings of adjectival forms ("Алматинская", "Алматинской", "Raiymbekskiy"): a name and its
/// adjective meet once they are cut off.
const ENDINGS: &[&str] = &[
    "ского",
    "ская",
    "ской",
    "скую",
    "ский",
    "ское",
    "цкая",
    "цкой",
    "цкий",
    "ская",
    "skiy",
    "skii",
    "skij",
    "sky",
    "iy",
    "ий",
    "ая",
    "ой",
];

/// A name as compared: folded, kind words dropped, each word's adjectival ending cut off.
/// Returns the name and which kind words it had.
fn key(text: &str) -> (String, bool, bool, bool) {
    let folded: String = fold(text).into_iter().collect();
    let (mut region, mut city, mut district) = (false, false, false);
    let mut words = Vec::new();
    for w in folded.split(' ') {
        if REGION_WORDS.contains(&w) {
            region = true;
        } else if CITY_WORDS.contains(&w) {
            city = true;
        } else if DISTRICT_WORDS.contains(&w) {
            district = true;
        } else {
            words.push(stem(w));
        }
    }
    (words.join(" "), region, city, district)
}

fn stem(word: &str) -> String {
    for ending in ENDINGS {
        if let Some(rest) = word.strip_suffix(ending)
            && rest.chars().count() >= 3
        {
            return rest.to_string();
        }
    }
    word.to_string()
}

impl Admin {
    /// Kazakhstan's boundaries, parsed once from the file built into the crate, and every
    /// region of both countries.
    pub fn get() -> &'static Admin {
        static ADMIN: OnceLock<Admin> = OnceLock::new();
        ADMIN.get_or_init(|| {
            Admin::parse(include_str!("../data/kz_admin.geojson"))
                .expect("the built-in boundaries parse")
        })
    }

    /// Parses a FeatureCollection of districts (`level` "district", `region` the current
    /// region's English name); features of one district in one region are its pieces.
    pub fn parse(geojson: &str) -> Result<Admin, Error> {
        let collection: Collection = serde_json::from_str(geojson)?;
        let mut districts: Vec<District> = Vec::new();
        let mut region_aliases: Vec<(usize, String)> = Vec::new();
        for (n, f) in collection.features.into_iter().enumerate() {
            let bad = |message: String| Error::Feature {
                feature: n,
                message,
            };
            let p = f.properties;
            let region_at = REGIONS.iter().position(|r| r.name_en == p.region);
            if p.level == "region" {
                // A region's shape is its pre-2018 extent; only its other names serve. Regions
                // that are no more (South Kazakhstan) or are leased (Baikonur) are left out.
                if let Some(at) = region_at {
                    for name in [&p.name_en, &p.name_ru, &p.name_kk, &p.name_loc] {
                        region_aliases.push((at, name.clone()));
                    }
                }
                continue;
            }
            let Some(region_at) = region_at else {
                return Err(bad(format!("district in unknown region {:?}", p.region)));
            };
            let polygons: Vec<Polygon<f64>> = match &f.geometry {
                Geometry::Polygon(rings) => polygon(rings).into_iter().collect(),
                Geometry::MultiPolygon(ps) => ps.iter().filter_map(|p| polygon(p)).collect(),
            };
            if polygons.is_empty() {
                return Err(bad("no polygon".into()));
            }
            let region = &REGIONS[region_at];
            let id = format!(
                "{}.{}",
                region.id,
                p.name_en.to_lowercase().replace(' ', "-")
            );
            match districts.iter_mut().find(|d| d.id == id) {
                Some(d) => {
                    d.shape.0.extend(polygons);
                    d.bounds = d.shape.bounding_rect().expect("a shape with polygons");
                }
                None => {
                    let shape = MultiPolygon(polygons);
                    let bounds = shape.bounding_rect().expect("a shape with polygons");
                    districts.push(District {
                        id,
                        region,
                        name_en: p.name_en,
                        name_ru: p.name_ru,
                        name_kk: p.name_kk,
                        name_loc: p.name_loc,
                        shape,
                        bounds,
                    });
                }
            }
        }
        let mut region_names: HashMap<String, Vec<usize>> = HashMap::new();
        let add = |map: &mut HashMap<String, Vec<usize>>, name: &str, at: usize| {
            let (k, ..) = key(name);
            if k.is_empty() {
                return;
            }
            let entry = map.entry(k).or_default();
            if !entry.contains(&at) {
                entry.push(at);
            }
        };
        for (at, r) in REGIONS.iter().enumerate() {
            for name in [r.name_en, r.name_ru, r.name_kk].iter().chain(r.aliases) {
                add(&mut region_names, name, at);
            }
        }
        for (at, name) in &region_aliases {
            add(&mut region_names, name, *at);
        }
        let mut district_names = HashMap::new();
        for (at, d) in districts.iter().enumerate() {
            for name in [&d.name_en, &d.name_ru, &d.name_kk, &d.name_loc] {
                add(&mut district_names, name, at);
            }
        }
        Ok(Admin {
            districts,
            region_names,
            district_names,
            answers: RwLock::default(),
        })
    }

    pub fn regions(&self) -> &'static [Region] {
        &REGIONS
    }

    pub fn districts(&self) -> &[District] {
        &self.districts
    }

    /// The district whose shape holds the point. None outside every district (abroad, or in
    /// the narrow slivers the source's shapes leave at a few borders).
    pub fn locate(&self, lat: f64, lon: f64) -> Option<&District> {
        self.districts.iter().find(|d| d.contains(lat, lon))
    }

    /// The region a text names: its code ("KZ-19"), or a name in any of the three languages,
    /// in full or abbreviated, as a noun or an adjective, in any case ("Алматинской обл.").
    /// A name shared by a city and its province means the city unless the text says region
    /// ("Алматы" is the city, "Алматы облысы" the province).
    pub fn region(&self, text: &str) -> Option<&'static Region> {
        let remembered = self.answers.read().unwrap().regions.get(text).copied();
        let at = remembered.unwrap_or_else(|| {
            let at = self
                .find_region(text)
                .map(|r| REGIONS.iter().position(|x| std::ptr::eq(x, r)).unwrap());
            let mut answers = self.answers.write().unwrap();
            answers.room();
            answers.regions.insert(text.into(), at);
            at
        });
        at.map(|i| &REGIONS[i])
    }

    fn find_region(&self, text: &str) -> Option<&'static Region> {
        let trimmed = text.trim();
        if let Some(r) = REGIONS.iter().find(|r| r.id.eq_ignore_ascii_case(trimmed)) {
            return Some(r);
        }
        let (k, region_word, city_word, _) = key(trimmed);
        let found = self.region_names.get(&k)?;
        let of_kind = |kind: Kind| found.iter().map(|&i| &REGIONS[i]).find(|r| r.kind == kind);
        match (region_word, city_word) {
            (true, false) => of_kind(Kind::Region),
            (false, true) => of_kind(Kind::City),
            _ => of_kind(Kind::City).or_else(|| of_kind(Kind::Region)),
        }
    }

    /// The district a text names (its id, or a name in any of the three languages), within
    /// `region` when given. None when unknown, or when the name is shared by districts of
    /// several regions and none was given.
    pub fn district(&self, region: Option<&Region>, text: &str) -> Option<&District> {
        let within = region.map_or("", |r| r.id);
        let remembered = self
            .answers
            .read()
            .unwrap()
            .districts
            .get(within)
            .and_then(|by_text| by_text.get(text).copied());
        let at = remembered.unwrap_or_else(|| {
            let at = self.find_district(region, text).map(|d| {
                self.districts
                    .iter()
                    .position(|x| std::ptr::eq(x, d))
                    .unwrap()
            });
            let mut answers = self.answers.write().unwrap();
            answers.room();
            answers
                .districts
                .entry(within)
                .or_default()
                .insert(text.into(), at);
            at
        });
        at.map(|i| &self.districts[i])
    }

    fn find_district(&self, region: Option<&Region>, text: &str) -> Option<&District> {
        let trimmed = text.trim();
        if let Some(d) = self
            .districts
            .iter()
            .find(|d| d.id.eq_ignore_ascii_case(trimmed))
        {
            return Some(d);
        }
        let (k, ..) = key(trimmed);
        let found: Vec<&District> = self
            .district_names
            .get(&k)?
            .iter()
            .map(|&i| &self.districts[i])
            .filter(|d| region.is_none_or(|r| d.region.id == r.id))
            .collect();
        match found.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> &'static Admin {
        Admin::get()
    }

    /// A region or district asked about again is answered as the first time, before and after
    /// the remembered answers fill and start again, whatever the text.
    #[test]
    fn remembered_answers_are_the_answers() {
        let admin = Admin::parse(include_str!("../data/kz_admin.geojson")).unwrap();
        let mut texts: Vec<String> = Vec::new();
        for r in REGIONS.iter() {
            texts.extend([r.id, r.name_en, r.name_ru, r.name_kk].map(String::from));
            texts.push(format!("{} облысы", r.name_kk));
            texts.push(r.name_ru.to_uppercase());
        }
        for d in admin.districts().iter().step_by(7) {
            texts.extend([&d.id, &d.name_en, &d.name_ru, &d.name_kk].map(|t| t.to_string()));
        }
        texts.extend(["", " ", "Алматы", "Алматы облысы", "нет такого", "KZ-99"].map(String::from));
        let check = |admin: &Admin| {
            for text in &texts {
                let fresh = admin.find_region(text);
                assert_eq!(
                    admin.region(text).map(|r| r.id),
                    fresh.map(|r| r.id),
                    "{text}"
                );
                assert_eq!(
                    admin.region(text).map(|r| r.id),
                    fresh.map(|r| r.id),
                    "{text}"
                );
                for within in [None, admin.find_region("KZ-19"), fresh] {
                    let fresh = admin.find_district(within, text).map(|d| &d.id);
                    assert_eq!(admin.district(within, text).map(|d| &d.id), fresh, "{text}");
                    assert_eq!(admin.district(within, text).map(|d| &d.id), fresh, "{text}");
                }
            }
        };
        check(&admin);
        // Texts never seen again fill the answers; they start again and stay right.
        for i in 0..Answers::MOST + 10 {
            admin.region(&format!("облыс {i}"));
        }
        assert!(admin.answers.read().unwrap().texts <= Answers::MOST);
        check(&admin);
    }

    #[test]
    fn a_region_is_one_whatever_language_or_form_names_it() {
        for text in [
            "KZ-19",
            "kz-19",
            "Almaty Region",
            "Алматы облысы",
            "Алматинская область",
            "алматинской обл.",
            "АЛМАТИНСКАЯ ОБЛ",
            "Almaty oblysy",
        ] {
            assert_eq!(admin().region(text).map(|r| r.id), Some("KZ-19"), "{text}");
        }
        for text in ["Almaty", "Алматы", "г. Алматы", "Алматы қаласы", "Алма-Ата"]
        {
            assert_eq!(admin().region(text).map(|r| r.id), Some("KZ-75"), "{text}");
        }
        for (text, id) in [
            ("Южно-Казахстанская область", "KZ-61"),
            ("ЮКО", "KZ-61"),
            ("Түркістан облысы", "KZ-61"),
            ("Туркестанская обл.", "KZ-61"),
            ("ВКО", "KZ-63"),
            ("Шығыс Қазақстан облысы", "KZ-63"),
            ("Западно-Казахстанской области", "KZ-27"),
            ("Qyzylorda", "KZ-43"),
            ("Кызылординская", "KZ-43"),
            ("Қызылорда облысы", "KZ-43"),
            ("Нур-Султан", "KZ-71"),
            ("Абай облысы", "KZ-10"),
            ("Гродненская область", "BY-HR"),
            ("Минск", "BY-HM"),
            ("Минская область", "BY-MI"),
        ] {
            assert_eq!(admin().region(text).map(|r| r.id), Some(id), "{text}");
        }
        assert_eq!(admin().region("Атлантида").map(|r| r.id), None);
        assert_eq!(admin().region("").map(|r| r.id), None);
    }

    #[test]
    fn every_region_has_three_names() {
        for r in admin().regions() {
            for lang in ["kk", "ru", "en"] {
                assert!(!r.name(lang).is_empty(), "{} in {lang}", r.id);
                assert_eq!(admin().region(r.name(lang)).map(|x| x.id), Some(r.id));
            }
        }
    }

    #[test]
    fn districts_are_found_by_point_and_by_name() {
        // Kegen lies in Raiymbekskiy in the source's pre-2018 shapes.
        let kegen = admin()
            .locate(43.02055, 79.22194)
            .expect("Kegen is in a district");
        assert_eq!(kegen.id, "KZ-19.raiymbekskiy");
        assert_eq!(kegen.region.id, "KZ-19");
        let almaty = admin().region("KZ-19");
        for text in [
            "Raiymbekskiy",
            "Райымбекский район",
            "Райымбек ауданы",
            "райымбекского р-на",
        ] {
            assert_eq!(
                admin().district(almaty, text).map(|d| d.id.as_str()),
                Some("KZ-19.raiymbekskiy"),
                "{text}"
            );
        }
        assert_eq!(
            admin().locate(0.0, 0.0).map(|d| &d.id),
            None,
            "not in Kazakhstan"
        );
    }

    /// The shapes against the gazetteer, whose districts come from WOF's hierarchy: the
    /// simplified outlines put nearly every settlement where the source does (SOURCES.md
    /// measured 11,715 of 11,741; the misses lie within 400 m of a border).
    #[test]
    fn points_fall_in_the_district_the_gazetteer_gives_them() {
        let places = crate::Gazetteer::kazakhstan().places();
        let (mut named, mut same_district, mut same_region) = (0, 0, 0);
        for p in places {
            let region = admin()
                .region(&p.region)
                .expect("every region of the gazetteer");
            let located = admin().locate(p.lat, p.lon);
            if located.is_some_and(|d| d.region.id == region.id) {
                same_region += 1;
            }
            let Some(expected) = admin().district(Some(region), &p.district) else {
                continue;
            };
            named += 1;
            if located.is_some_and(|d| d.id == expected.id) {
                same_district += 1;
            }
        }
        let share = |n: usize, of: usize| n as f64 / of as f64;
        println!(
            "{same_district} of {named} named districts, {same_region} of {} regions",
            places.len()
        );
        assert!(
            named as f64 > 0.95 * places.len() as f64,
            "{named} districts named"
        );
        assert!(
            share(same_district, named) > 0.995,
            "{same_district} of {named}"
        );
        assert!(share(same_region, places.len()) > 0.995, "{same_region}");
    }

    #[test]
    fn every_district_has_an_id_a_region_and_a_name_in_every_language() {
        let mut ids = std::collections::HashSet::new();
        for d in admin().districts() {
            assert!(ids.insert(d.id.clone()), "{} twice", d.id);
            assert!(d.id.starts_with(d.region.id));
            for lang in ["kk", "ru", "en"] {
                assert!(!d.name(lang).is_empty(), "{} in {lang}", d.id);
            }
        }
        assert!(ids.len() >= 170, "{} districts", ids.len());
    }
}
