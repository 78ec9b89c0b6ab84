//! Possible duplicates: a new request that repeats an earlier one, either because the same caller
//! rang again or because the same need was reported from the same place. A match only links the
//! two for a dispatcher to confirm (merge) or ignore; help is never held back on a guess.

use crate::{Category, GeoPoint};

/// How far back to look, and how close counts as the same place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Seconds within which a second call of the same caller is a possible duplicate.
    pub caller_secs: i64,
    /// Seconds within which the same category at the same place is a possible duplicate.
    pub place_secs: i64,
    /// Metres within which two coordinates are the same place.
    pub radius_m: f64,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            caller_secs: 72 * 3600,
            place_secs: 24 * 3600,
            radius_m: 250.0,
        }
    }
}

/// What duplicate detection knows of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen<Id> {
    pub id: Id,
    /// The request this one was already linked to, if any.
    pub duplicate_of: Option<Id>,
    /// Keyed hash of the caller's phone; `None` for anonymous callers.
    pub caller: Option<Vec<u8>>,
    pub category: Category,
    pub point: Option<GeoPoint>,
    pub settlement: String,
    pub district: String,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    SameCaller,
    SamePlace,
}

impl Reason {
    pub fn rule_id(self) -> &'static str {
        match self {
            Reason::SameCaller => "duplicate.same_caller",
            Reason::SamePlace => "duplicate.same_place",
        }
    }

    pub fn explanation(self) -> &'static str {
        match self {
            Reason::SameCaller => "The same caller asked for help shortly before.",
            Reason::SamePlace => {
                "The same kind of help was asked for at the same place shortly before."
            }
        }
    }
}

/// A named place as the rule compares it when either request lacks coordinates: settlement and
/// district, trimmed and lowercased; None without a settlement. Stored with each decision, so
/// the database finds the candidates by it.
pub fn place_key(settlement: &str, district: &str) -> Option<String> {
    let settlement = settlement.trim();
    (!settlement.is_empty()).then(|| {
        format!(
            "{}\u{1f}{}",
            settlement.to_lowercase(),
            district.trim().to_lowercase()
        )
    })
}

/// The box of latitudes and longitudes, in degrees, that holds every point within `radius_m`
/// of `p` (and some more): what the database narrows candidates by before the exact distance.
pub fn bounding_box(p: GeoPoint, radius_m: f64) -> ((f64, f64), (f64, f64)) {
    // A degree of latitude is at least 110.5 km anywhere; a degree of longitude that times the
    // cosine of the latitude. A little slack keeps rounding on the safe side.
    let dlat = radius_m / 110_000.0 * 1.01;
    let cos = p.lat().to_radians().cos();
    let lats = (p.lat() - dlat, p.lat() + dlat);
    if cos < 0.01 || p.lon().abs() + dlat / cos.max(0.01) >= 180.0 {
        // Near a pole or the antimeridian: every longitude.
        return (lats, (-180.0, 180.0));
    }
    let dlon = dlat / cos;
    (lats, (p.lon() - dlon, p.lon() + dlon))
}

/// What a request locks before it looks for the request it may repeat, so that two requests
/// the rule could link, classified at the same time by different replicas or batches, wait for
/// each other rather than miss each other: they always share a key. `keys` are sorted and
/// distinct (taken in that order, they cannot deadlock); `everywhere` says the request's box is
/// too large for cells (near a pole or the antimeridian) and it must exclude everyone, who
/// all share one key for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Locks {
    pub keys: Vec<i64>,
    pub everywhere: bool,
}

/// Most cells a request locks before it locks everything instead.
const MAX_CELLS: usize = 64;

/// The key every request shares and one whose box has no cells takes alone.
pub const EVERYWHERE_KEY: i64 = 0x6b6f_6d65_6b2d_6475; // "komek-du"

impl Locks {
    /// Adds the locks of one more request (a batch takes all of them at once).
    pub fn merge(&mut self, other: Locks) {
        self.keys.extend(other.keys);
        self.keys.sort_unstable();
        self.keys.dedup();
        self.everywhere |= other.everywhere;
    }
}

/// The locks of a request by this caller (the keyed hash of the phone), at this point or named
/// place. The same caller shares the caller's key; two points within `radius_m` share a cell,
/// because each locks every cell of a grid its bounding box touches and that box holds the
/// other point; the same named place shares the place's key. Categories are not told apart
/// (a few more waits, one less thing to know before classifying).
pub fn locks(
    caller: Option<&[u8]>,
    point: Option<GeoPoint>,
    settlement: &str,
    district: &str,
    radius_m: f64,
) -> Locks {
    let mut keys = Vec::new();
    let mut everywhere = false;
    if let Some(c) = caller.filter(|c| !c.is_empty()) {
        keys.push(key(b"caller", c));
    }
    if let Some(k) = place_key(settlement, district) {
        keys.push(key(b"place", k.as_bytes()));
    }
    if let Some(p) = point {
        // Cells as tall as the box, so a box touches two rows and a few columns of them.
        let cell = (2.0 * radius_m / 110_000.0).max(1e-5);
        let ((lat0, lat1), (lon0, lon1)) = bounding_box(p, radius_m);
        let index = |deg: f64| (deg / cell).floor() as i64;
        let rows = index(lat0)..=index(lat1);
        let columns = index(lon0)..=index(lon1);
        let count = rows.clone().count().saturating_mul(columns.clone().count());
        if count > MAX_CELLS {
            everywhere = true;
        } else {
            for row in rows {
                for column in columns.clone() {
                    let mut bytes = [0u8; 16];
                    bytes[..8].copy_from_slice(&row.to_le_bytes());
                    bytes[8..].copy_from_slice(&column.to_le_bytes());
                    keys.push(key(b"cell", &bytes));
                }
            }
        }
    }
    keys.sort_unstable();
    keys.dedup();
    Locks { keys, everywhere }
}

/// FNV-1a over a tag and bytes: stable across builds and replicas (the standard library's
/// hasher is not promised to be), and a collision only makes two requests wait for each other.
fn key(tag: &[u8], bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in tag.iter().chain(b":").chain(bytes) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// Why `earlier` may be the request `new` repeats, if it may. `earlier` is a request classified
/// before `new`, created before it or, by a little, after it: two calls a moment apart are
/// classified in either order (by two replicas, or after one another's commits), and the one
/// classified second is linked to the first whichever was created first, so the pair is never
/// left unlinked. The windows count either way.
pub fn why<Id: PartialEq>(new: &Seen<Id>, earlier: &Seen<Id>, window: &Window) -> Option<Reason> {
    if new.id == earlier.id {
        return None;
    }
    let age = (new.created - earlier.created).abs();
    if age <= window.caller_secs
        && new.caller.as_ref().is_some_and(|c| !c.is_empty())
        && new.caller == earlier.caller
    {
        return Some(Reason::SameCaller);
    }
    // "Other" is what the rules did not recognise: two such calls from one village say nothing.
    if age > window.place_secs
        || new.category != earlier.category
        || new.category == Category::Other
    {
        return None;
    }
    let same_place = match (new.point, earlier.point) {
        (Some(a), Some(b)) => a.distance_m(b) <= window.radius_m,
        // Without coordinates on both sides, the named settlement and district must agree.
        _ => {
            let key = place_key(&new.settlement, &new.district);
            key.is_some() && key == place_key(&earlier.settlement, &earlier.district)
        }
    };
    same_place.then_some(Reason::SamePlace)
}

/// The original request `new` probably repeats: the earliest created of the matching requests
/// classified before it, followed to the request that one itself repeats, so a chain of
/// repeats links to one original. Links only ever point at requests classified before, so
/// they never form a cycle.
pub fn original<Id: PartialEq + Copy>(
    new: &Seen<Id>,
    earlier: &[Seen<Id>],
    window: &Window,
) -> Option<(Id, Reason)> {
    earlier
        .iter()
        .filter_map(|e| why(new, e, window).map(|r| (e, r)))
        .min_by_key(|(e, _)| e.created)
        .map(|(e, r)| (e.duplicate_of.unwrap_or(e.id), r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seen(id: u32, created: i64) -> Seen<u32> {
        Seen {
            id,
            duplicate_of: None,
            caller: None,
            category: Category::FuelDelivery,
            point: None,
            settlement: String::new(),
            district: String::new(),
            created,
        }
    }

    // Talgar and Issyk (Esik), Almaty Region, from crates/places/data/kz_settlements.csv.
    // Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
    // (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).
    fn talgar() -> GeoPoint {
        GeoPoint::new(43.30348, 77.24085).unwrap()
    }

    #[test]
    fn the_same_caller_or_named_place_shares_a_lock_and_far_places_do_not() {
        let esik = GeoPoint::new(43.35557, 77.4545).unwrap();
        let a = locks(Some(&[7; 32]), Some(talgar()), "Talgar", "", 250.0);
        let same_caller = locks(Some(&[7; 32]), Some(esik), "Esik", "", 250.0);
        let same_place = locks(None, None, " talgar ", "", 250.0);
        let far = locks(Some(&[8; 32]), Some(esik), "Esik", "", 250.0);
        let shares = |x: &Locks, y: &Locks| x.keys.iter().any(|k| y.keys.contains(k));
        assert!(shares(&a, &same_caller));
        assert!(shares(&a, &same_place));
        assert!(!shares(&a, &far), "{a:?} {far:?}");
        assert!(!a.everywhere);
        assert!(a.keys.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        assert!(a.keys.len() <= 1 + 1 + 9, "a few cells: {a:?}");
        // At the pole a box holds every longitude: no cells, everyone excluded.
        let pole = locks(
            None,
            Some(GeoPoint::new(89.99, 0.0).unwrap()),
            "",
            "",
            250.0,
        );
        assert!(pole.everywhere);
    }

    #[test]
    fn same_caller_within_the_window_is_a_duplicate_whatever_the_need() {
        let w = Window::default();
        let mut a = seen(1, 0);
        a.caller = Some(vec![7; 32]);
        let mut b = seen(2, 3600);
        b.caller = Some(vec![7; 32]);
        b.category = Category::PsychologicalSupport;
        assert_eq!(
            original(&b, &[a.clone()], &w),
            Some((1, Reason::SameCaller))
        );
        b.created = w.caller_secs + 1;
        assert_eq!(original(&b, &[a.clone()], &w), None, "outside the window");
        b.created = 3600;
        b.caller = Some(vec![8; 32]);
        assert_eq!(original(&b, &[a], &w), None, "another caller");
    }

    #[test]
    fn anonymous_callers_are_never_the_same_caller() {
        let w = Window::default();
        let a = seen(1, 0);
        let mut b = seen(2, 10);
        b.category = Category::MaterialAid;
        assert_eq!(original(&b, &[a], &w), None);
    }

    #[test]
    fn same_category_close_by_is_a_duplicate() {
        let w = Window::default();
        let mut a = seen(1, 0);
        a.point = Some(talgar());
        let mut b = seen(2, 600);
        b.point = Some(GeoPoint::new(43.30438, 77.24085).unwrap()); // 100 m north
        assert_eq!(original(&b, &[a.clone()], &w), Some((1, Reason::SamePlace)));
        b.category = Category::SearchOperation;
        assert_eq!(original(&b, &[a.clone()], &w), None, "another need");
        b.category = Category::FuelDelivery;
        b.point = Some(GeoPoint::new(43.3552, 77.45245).unwrap()); // Issyk, 18 km
        assert_eq!(original(&b, &[a], &w), None, "another place");
    }

    #[test]
    fn without_coordinates_the_settlement_and_district_must_agree() {
        let w = Window::default();
        let mut a = seen(1, 0);
        a.settlement = "Шелек".into();
        a.district = "Енбекшиказахский".into();
        let mut b = a.clone();
        b.id = 2;
        b.created = 100;
        b.settlement = " шелек".into();
        assert_eq!(original(&b, &[a.clone()], &w), Some((1, Reason::SamePlace)));
        b.district = "Уйгурский".into();
        assert_eq!(original(&b, &[a.clone()], &w), None);
        let mut unnamed = seen(3, 100);
        unnamed.settlement = String::new();
        let mut earlier = seen(4, 0);
        earlier.settlement = String::new();
        assert_eq!(original(&unnamed, &[earlier], &w), None, "no place at all");
    }

    #[test]
    fn a_repeat_of_a_repeat_links_to_the_original() {
        let w = Window::default();
        let mut a = seen(1, 0);
        a.caller = Some(vec![1]);
        let mut b = seen(2, 10);
        b.caller = Some(vec![1]);
        b.duplicate_of = Some(1);
        let mut c = seen(3, 20);
        c.caller = Some(vec![1]);
        assert_eq!(
            original(&c, &[b.clone(), a], &w),
            Some((1, Reason::SameCaller))
        );
        assert_eq!(original(&c, &[b], &w), Some((1, Reason::SameCaller)));
    }

    #[test]
    fn other_is_never_a_place_duplicate() {
        let w = Window::default();
        let mut a = seen(1, 0);
        a.category = Category::Other;
        a.point = Some(talgar());
        let mut b = a.clone();
        b.id = 2;
        b.created = 5;
        assert_eq!(original(&b, &[a], &w), None);
    }

    /// The point `distance_m` from `p` in direction `bearing` (degrees), on the sphere.
    fn away(p: GeoPoint, bearing: f64, distance_m: f64) -> GeoPoint {
        let d = distance_m / crate::geo::EARTH_RADIUS_M;
        let (la, lo, b) = (
            p.lat().to_radians(),
            p.lon().to_radians(),
            bearing.to_radians(),
        );
        let la2 = (la.sin() * d.cos() + la.cos() * d.sin() * b.cos()).asin();
        let lo2 = lo + (b.sin() * d.sin() * la.cos()).atan2(d.cos() - la.sin() * la2.sin());
        GeoPoint::new(la2.to_degrees(), lo2.to_degrees().clamp(-180.0, 180.0)).unwrap()
    }

    proptest! {
        #[test]
        fn the_box_holds_every_point_within_the_radius(
            lat in -80.0f64..80.0, lon in -179.0f64..179.0,
            bearing in 0.0f64..360.0, frac in 0.0f64..1.0, radius in 1.0f64..5000.0,
        ) {
            let p = GeoPoint::new(lat, lon).unwrap();
            let q = away(p, bearing, radius * frac);
            prop_assume!(p.distance_m(q) <= radius);
            let ((lat0, lat1), (lon0, lon1)) = bounding_box(p, radius);
            prop_assert!((lat0..=lat1).contains(&q.lat()), "{q:?} outside {lat0}..{lat1}");
            prop_assert!((lon0..=lon1).contains(&q.lon()), "{q:?} outside {lon0}..{lon1}");
        }

        #[test]
        fn two_points_the_rule_could_link_share_a_lock(
            lat in -80.0f64..80.0, lon in -179.0f64..179.0,
            bearing in 0.0f64..360.0, frac in 0.0f64..1.0, radius in 1.0f64..5000.0,
        ) {
            let p = GeoPoint::new(lat, lon).unwrap();
            let q = away(p, bearing, radius * frac);
            prop_assume!(p.distance_m(q) <= radius);
            // Different callers and named places: only the cells can bring them together.
            let a = locks(Some(b"a"), Some(p), "Talgar", "", radius);
            let b = locks(Some(b"b"), Some(q), "Esik", "", radius);
            let shared = a.keys.iter().any(|k| b.keys.contains(k));
            prop_assert!(shared || a.everywhere || b.everywhere, "{a:?} {b:?}");
        }

        #[test]
        fn never_links_to_itself_or_outside_the_window(
            created in proptest::collection::vec(0i64..100_000, 1..20),
            new_at in 0i64..100_000,
        ) {
            let w = Window::default();
            let earlier: Vec<Seen<u32>> = created
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let mut s = seen(i as u32, *t);
                    s.caller = Some(vec![1]);
                    s
                })
                .collect();
            let mut new = seen(0, new_at);
            new.caller = Some(vec![1]);
            if let Some((id, _)) = original(&new, &earlier, &w) {
                let linked = earlier.iter().find(|e| e.id == id).unwrap();
                prop_assert!(id != 0, "linked to itself");
                prop_assert!((new_at - linked.created).abs() <= w.caller_secs);
                // The earliest created of those within the window.
                prop_assert!(earlier
                    .iter()
                    .filter(|e| e.id != 0 && (new_at - e.created).abs() <= w.caller_secs)
                    .all(|e| e.created >= linked.created));
            }
        }
    }
}
