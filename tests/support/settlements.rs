//! Real settlements of Kazakhstan for tests: the gazetteer of `komek-places`.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY).

pub use komek_places::Place as Settlement;

pub fn all() -> &'static [Settlement] {
    komek_places::Gazetteer::kazakhstan().places()
}

/// The settlement with this English name in this region.
pub fn find(name_en: &str, region: &str) -> &'static Settlement {
    all()
        .iter()
        .find(|s| s.name_en == name_en && s.region == region)
        .unwrap_or_else(|| panic!("no settlement {name_en} in {region}"))
}
