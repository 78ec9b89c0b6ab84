//! The map of Kazakhstan, drawn without a tile server: region and district outlines from the
//! committed WOF boundaries, projected once into an SVG the browser caches, and the requests
//! and groups of a page drawn on top of it in the same coordinates.
//!
//! The projection is equirectangular with the longitude scaled by cos 48.5°, Kazakhstan's middle
//! latitude: at this size the distortion is below what a dispatcher can see, and a point is
//! placed with two multiplications, the same on the server and in the browser's zoom.

use std::fmt::Write;
use std::sync::OnceLock;

use komek_i18n::Lang;

use crate::pages::{escape, t};

const GEOJSON: &str = include_str!("../../../crates/places/data/kz_admin.geojson");

pub const ATTRIBUTION: &str = "Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).";

const WEST: f64 = 46.4;
const NORTH: f64 = 55.5;
const EAST: f64 = 87.4;
const SOUTH: f64 = 40.5;
/// Map units per degree of latitude.
const SCALE: f64 = 20.0;
const COS_MID: f64 = 0.662; // cos(48.5°)

pub fn width() -> f64 {
    (EAST - WEST) * COS_MID * SCALE
}

pub fn height() -> f64 {
    (NORTH - SOUTH) * SCALE
}

/// Map coordinates of a point.
pub fn project(latitude: f64, longitude: f64) -> (f64, f64) {
    (
        (longitude - WEST) * COS_MID * SCALE,
        (NORTH - latitude) * SCALE,
    )
}

/// The outlines as one SVG document: districts thin, regions over them thicker.
pub fn base_svg() -> &'static str {
    static SVG: OnceLock<String> = OnceLock::new();
    SVG.get_or_init(|| {
        let (regions, districts) = outlines(GEOJSON);
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}"><rect width="100%" height="100%" fill="#eef3f7"/><path d="{districts}" fill="#ffffff" stroke="#b8c2cc" stroke-width="0.2" stroke-linejoin="round"/><path d="{regions}" fill="none" stroke="#5b6470" stroke-width="0.5" stroke-linejoin="round"/></svg>"##,
            w = width(),
            h = height(),
        )
    })
}

/// Path data of the region and of the district outlines.
fn outlines(geojson: &str) -> (String, String) {
    let mut regions = String::new();
    let mut districts = String::new();
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(geojson) else {
        return (regions, districts);
    };
    let features = doc["features"].as_array().cloned().unwrap_or_default();
    for feature in &features {
        let out = match feature["properties"]["level"].as_str() {
            Some("region") => &mut regions,
            Some("district") => &mut districts,
            _ => continue,
        };
        let geometry = &feature["geometry"];
        let polygons: Vec<&serde_json::Value> = match geometry["type"].as_str() {
            Some("Polygon") => vec![&geometry["coordinates"]],
            Some("MultiPolygon") => geometry["coordinates"]
                .as_array()
                .map(|p| p.iter().collect())
                .unwrap_or_default(),
            _ => continue,
        };
        for polygon in polygons {
            for ring in polygon.as_array().into_iter().flatten() {
                ring_path(ring, out);
            }
        }
    }
    (regions, districts)
}

/// One closed ring, at a tenth of a map unit (about 500 m), skipping points that round to the
/// one before.
fn ring_path(ring: &serde_json::Value, out: &mut String) {
    let mut last = None;
    let mut first = true;
    for point in ring.as_array().into_iter().flatten() {
        let (Some(lon), Some(lat)) = (point[0].as_f64(), point[1].as_f64()) else {
            continue;
        };
        let (x, y) = project(lat, lon);
        let here = ((x * 10.0).round() as i64, (y * 10.0).round() as i64);
        if last == Some(here) {
            continue;
        }
        last = Some(here);
        let _ = write!(
            out,
            "{}{:.1} {:.1}",
            if first { "M" } else { "L" },
            here.0 as f64 / 10.0,
            here.1 as f64 / 10.0
        );
        first = false;
    }
    if !first {
        out.push('Z');
    }
}

/// What a marker stands for, which sets its shape and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Request,
    /// A group the matcher chose, or that holds the request.
    Chosen,
    /// A group that was a candidate but not chosen.
    Candidate,
    Available,
    Busy,
    Away,
    /// Where the group doing the job last reported itself.
    Position,
}

impl Mark {
    fn class(self) -> &'static str {
        match self {
            Mark::Request => "m-request",
            Mark::Chosen => "m-chosen",
            Mark::Candidate => "m-candidate",
            Mark::Available => "m-available",
            Mark::Busy => "m-busy",
            Mark::Away => "m-away",
            Mark::Position => "m-position",
        }
    }

    fn legend_key(self) -> &'static str {
        match self {
            Mark::Request => "map-legend-request",
            Mark::Chosen => "map-legend-chosen",
            Mark::Candidate => "map-legend-candidate",
            Mark::Available => "availability-available",
            Mark::Busy => "availability-busy",
            Mark::Away => "map-legend-away",
            Mark::Position => "map-legend-position",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Marker {
    pub latitude: f64,
    pub longitude: f64,
    pub mark: Mark,
    /// Shown when the pointer rests on the marker, and read by screen readers.
    pub label: String,
}

/// The map with `markers` on it, centred on `focus` when given, with zoom buttons, a legend
/// of the marks used, and the data's attribution.
pub fn figure(lang: Lang, title: &str, markers: &[Marker], focus: Option<(f64, f64)>) -> String {
    let (w, h) = (width(), height());
    let mut dots = String::new();
    for m in markers {
        let (x, y) = project(m.latitude, m.longitude);
        let _ = write!(
            dots,
            r#"<circle class="{class}" cx="{x:.1}" cy="{y:.1}" r="4"><title>{label}</title></circle>"#,
            class = m.mark.class(),
            label = escape(&m.label),
        );
    }
    let mut used: Vec<Mark> = markers.iter().map(|m| m.mark).collect();
    used.sort_by_key(|m| *m as u8);
    used.dedup();
    let legend: String = used
        .iter()
        .map(|m| {
            format!(
                r#"<li><svg width="12" height="12" aria-hidden="true"><circle class="{}" cx="6" cy="6" r="5"/></svg> {}</li>"#,
                m.class(),
                t(lang, m.legend_key())
            )
        })
        .collect();
    let focus = focus
        .map(|(lat, lon)| {
            let (x, y) = project(lat, lon);
            format!(r#" data-focus="{x:.1} {y:.1}""#)
        })
        .unwrap_or_default();
    format!(
        r#"<figure class="map" data-map{focus}>
<div class="map-tools" role="group" aria-label="{tools}"><button type="button" data-zoom="in" aria-label="{zin}">+</button><button type="button" data-zoom="out" aria-label="{zout}">−</button><button type="button" data-zoom="reset">{zreset}</button></div>
<svg viewBox="0 0 {w:.0} {h:.0}" role="img" aria-label="{title}" tabindex="0"><image href="/assets/kz.svg" x="0" y="0" width="{w:.0}" height="{h:.0}"/>{dots}</svg>
<figcaption><ul class="legend">{legend}</ul><small class="muted">{attribution}</small></figcaption>
</figure>"#,
        tools = t(lang, "map-tools"),
        zin = t(lang, "map-zoom-in"),
        zout = t(lang, "map-zoom-out"),
        zreset = t(lang, "map-zoom-reset"),
        title = escape(title),
        attribution = escape(ATTRIBUTION),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_fits_the_frame() {
        // Almaty in the south-east, Oral in the west, Petropavl in the north.
        for (lat, lon) in [(43.25, 76.95), (51.23, 51.37), (54.87, 69.14)] {
            let (x, y) = project(lat, lon);
            assert!((0.0..=width()).contains(&x) && (0.0..=height()).contains(&y));
        }
        let (almaty_x, almaty_y) = project(43.25, 76.95);
        let (oral_x, _) = project(51.23, 51.37);
        let (_, petropavl_y) = project(54.87, 69.14);
        assert!(oral_x < almaty_x, "west is left");
        assert!(petropavl_y < almaty_y, "north is up");
    }

    #[test]
    fn every_region_and_district_is_drawn() {
        let (regions, districts) = outlines(GEOJSON);
        // 17 regions and 195 districts, some in several pieces: at least one ring each.
        assert!(regions.matches('M').count() >= 17, "regions");
        assert!(districts.matches('M').count() >= 195, "districts");
        assert_eq!(regions.matches('M').count(), regions.matches('Z').count());
        let svg = base_svg();
        assert!(
            svg.starts_with("<svg") && svg.len() < 400_000,
            "{}",
            svg.len()
        );
    }

    #[test]
    fn markers_carry_their_label_escaped_and_the_legend_only_what_is_used() {
        let page = figure(
            Lang::Ru,
            "Карта",
            &[Marker {
                latitude: 44.85,
                longitude: 65.5,
                mark: Mark::Request,
                label: "<b>K7M2</b>".into(),
            }],
            Some((44.85, 65.5)),
        );
        assert!(page.contains("&lt;b&gt;K7M2"));
        assert!(page.contains("m-request") && !page.contains("m-busy"));
        assert!(page.contains("data-focus") && page.contains("whosonfirst.org/docs/licenses"));
    }
}
