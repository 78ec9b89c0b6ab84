//! Real settlements of Kazakhstan for tests (tests/data/kz_settlements.csv).
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY).

use std::sync::OnceLock;

#[derive(Debug, Clone, PartialEq)]
pub struct Settlement {
    pub name_en: String,
    pub name_ru: String,
    pub lat: f64,
    pub lon: f64,
    pub region: String,
    pub district: String,
}

pub fn all() -> &'static [Settlement] {
    static ALL: OnceLock<Vec<Settlement>> = OnceLock::new();
    ALL.get_or_init(|| {
        let csv = include_str!("../data/kz_settlements.csv");
        csv.lines()
            .skip(1)
            .map(|line| {
                // The file has no quoted fields: a plain split is exact.
                let f: Vec<&str> = line.split(',').collect();
                Settlement {
                    name_ru: f[1].to_string(),
                    name_en: f[2].to_string(),
                    lat: f[3].parse().unwrap(),
                    lon: f[4].parse().unwrap(),
                    region: f[6].to_string(),
                    district: f[7].to_string(),
                }
            })
            .collect()
    })
}

/// The settlement with this English name in this region.
pub fn find(name_en: &str, region: &str) -> &'static Settlement {
    all()
        .iter()
        .find(|s| s.name_en == name_en && s.region == region)
        .unwrap_or_else(|| panic!("no settlement {name_en} in {region}"))
}
