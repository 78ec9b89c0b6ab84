//! Exact nearest-group search over H3 cells.
//!
//! Groups are bucketed by the H3 cell of their position at two resolutions (3, about 60 km
//! across, and 6, about 3 km). A search is best-first over a priority queue holding cells,
//! keyed by a lower bound of the distance from the request to anything inside them, and groups,
//! keyed by their exact great-circle distance. A cell's bound is the distance to its centre
//! minus the radius of a disc around that centre that covers every group filed under the cell
//! (plus a metre for rounding); by the triangle inequality no group of the cell can be nearer.
//! The discs are measured from the groups themselves, not from cell outlines, because H3
//! children spill over their parent's outline. A group leaves the queue only when nothing left can be nearer, so groups
//! come out in exactly the order of a brute-force sort by (distance, id): on equal keys cells
//! open before groups, and groups leave in id order. Nothing here depends on the shape of the
//! grid, so pentagons and cell edges need no special case.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use h3o::{CellIndex, LatLng, Resolution};

use crate::GeoPoint;
use crate::matching::{Evaluation, GroupView, Need, judge};

const COARSE: Resolution = Resolution::Three;
const FINE: Resolution = Resolution::Six;

/// A disc around a cell's centre covering everything indexed in the cell.
#[derive(Debug, Clone, Copy)]
struct Disc {
    center: GeoPoint,
    radius_m: f64,
}

/// Slack added to every radius, in metres, for floating-point rounding of distances.
const SLACK_M: f64 = 1.0;

impl Disc {
    fn around(cell: CellIndex) -> Self {
        let c = LatLng::from(cell);
        Self {
            center: GeoPoint::new(c.lat(), c.lng()).expect("H3 centres are valid coordinates"),
            radius_m: 0.0,
        }
    }

    fn lower_bound(&self, from: GeoPoint) -> f64 {
        (from.distance_m(self.center) - self.radius_m).max(0.0)
    }
}

#[derive(Debug, Clone)]
struct FineCell {
    disc: Disc,
    members: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct CoarseCell {
    disc: Disc,
    fine: BTreeMap<CellIndex, FineCell>,
}

/// Groups by cell; kept current one group at a time.
#[derive(Debug, Clone, Default)]
pub struct GeoIndex {
    groups: HashMap<String, (GroupView, CellIndex)>,
    cells: BTreeMap<CellIndex, CoarseCell>,
}

fn fine_cell(p: GeoPoint) -> CellIndex {
    LatLng::new(p.lat(), p.lon())
        .expect("GeoPoint is validated")
        .to_cell(FINE)
}

impl GeoIndex {
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&GroupView> {
        self.groups.get(id).map(|(g, _)| g)
    }

    pub fn groups(&self) -> impl Iterator<Item = &GroupView> {
        self.groups.values().map(|(g, _)| g)
    }

    /// Adds a group or replaces it, moving it to the cell of its new position.
    pub fn upsert(&mut self, group: GroupView) {
        self.remove(&group.id);
        let position = group.position();
        let fine = fine_cell(position);
        let coarse = fine
            .parent(COARSE)
            .expect("coarser than the fine resolution");
        let c = self.cells.entry(coarse).or_insert_with(|| CoarseCell {
            disc: Disc::around(coarse),
            fine: BTreeMap::new(),
        });
        let f = c.fine.entry(fine).or_insert_with(|| FineCell {
            disc: Disc::around(fine),
            members: BTreeSet::new(),
        });
        f.members.insert(group.id.clone());
        f.disc.radius_m = f
            .disc
            .radius_m
            .max(f.disc.center.distance_m(position) + SLACK_M);
        let reach = c.disc.center.distance_m(f.disc.center) + f.disc.radius_m + SLACK_M;
        c.disc.radius_m = c.disc.radius_m.max(reach);
        self.groups.insert(group.id.clone(), (group, fine));
    }

    pub fn remove(&mut self, id: &str) {
        let Some((_, fine)) = self.groups.remove(id) else {
            return;
        };
        let coarse = fine
            .parent(COARSE)
            .expect("coarser than the fine resolution");
        let Some(c) = self.cells.get_mut(&coarse) else {
            return;
        };
        if let Some(f) = c.fine.get_mut(&fine) {
            f.members.remove(id);
            // Shrink the disc to the members left.
            f.disc.radius_m = f
                .members
                .iter()
                .map(|m| f.disc.center.distance_m(self.groups[m].0.position()) + SLACK_M)
                .fold(0.0, f64::max);
            if f.members.is_empty() {
                c.fine.remove(&fine);
            }
        }
        if c.fine.is_empty() {
            self.cells.remove(&coarse);
            return;
        }
        c.disc.radius_m = c
            .fine
            .values()
            .map(|f| c.disc.center.distance_m(f.disc.center) + f.disc.radius_m + SLACK_M)
            .fold(0.0, f64::max);
    }

    /// Every group, judged, in ascending (distance, id) order, produced lazily: stop reading
    /// once the answer is known and the rest of the index is never looked at.
    pub fn search<'a>(&'a self, need: &'a Need<'a>) -> Search<'a> {
        let mut heap = BinaryHeap::new();
        for (cell, c) in &self.cells {
            heap.push(Reverse(Entry {
                key: c.disc.lower_bound(need.location),
                item: Item::Coarse(*cell),
            }));
        }
        Search {
            index: self,
            need,
            heap,
            opened_cells: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item<'a> {
    Coarse(CellIndex),
    Fine(CellIndex, CellIndex),
    Group(&'a str),
}

impl Item<'_> {
    /// Cells open before groups of the same key; groups leave in id order.
    fn rank(&self) -> (u8, &str) {
        match self {
            Item::Coarse(_) => (0, ""),
            Item::Fine(..) => (1, ""),
            Item::Group(id) => (2, id),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry<'a> {
    key: f64,
    item: Item<'a>,
}

impl PartialEq for Entry<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry<'_> {}

impl PartialOrd for Entry<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then_with(|| self.item.rank().cmp(&other.item.rank()))
    }
}

/// A search in progress; see [`GeoIndex::search`].
pub struct Search<'a> {
    index: &'a GeoIndex,
    need: &'a Need<'a>,
    heap: BinaryHeap<Reverse<Entry<'a>>>,
    /// Cells opened so far: the work the index saved shows as how few these are.
    pub opened_cells: usize,
}

impl Iterator for Search<'_> {
    type Item = Evaluation;

    fn next(&mut self) -> Option<Evaluation> {
        while let Some(Reverse(entry)) = self.heap.pop() {
            match entry.item {
                Item::Coarse(cell) => {
                    self.opened_cells += 1;
                    for (fine, f) in &self.index.cells[&cell].fine {
                        self.heap.push(Reverse(Entry {
                            key: f.disc.lower_bound(self.need.location),
                            item: Item::Fine(cell, *fine),
                        }));
                    }
                }
                Item::Fine(coarse, fine) => {
                    self.opened_cells += 1;
                    for id in &self.index.cells[&coarse].fine[&fine].members {
                        let (group, _) = &self.index.groups[id];
                        self.heap.push(Reverse(Entry {
                            key: self.need.location.distance_m(group.position()),
                            item: Item::Group(id),
                        }));
                    }
                }
                Item::Group(id) => {
                    let (group, _) = &self.index.groups[id];
                    return Some(judge(group, self.need));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Skill;
    use crate::matching::tests::{group, need};
    use proptest::prelude::*;

    /// The brute-force reference: every group judged, sorted by (distance, id).
    fn brute_force(groups: &[GroupView], need: &Need<'_>) -> Vec<Evaluation> {
        let mut all: Vec<Evaluation> = groups.iter().map(|g| judge(g, need)).collect();
        all.sort_by(|a, b| {
            a.distance_m
                .total_cmp(&b.distance_m)
                .then_with(|| a.group.cmp(&b.group))
        });
        all
    }

    fn index_of(groups: &[GroupView]) -> GeoIndex {
        let mut index = GeoIndex::default();
        for g in groups {
            index.upsert(g.clone());
        }
        index
    }

    /// Checks the whole order and the first eligible group against brute force.
    fn assert_exact(groups: &[GroupView], need: &Need<'_>) -> Result<(), TestCaseError> {
        let index = index_of(groups);
        let searched: Vec<Evaluation> = index.search(need).collect();
        let expected = brute_force(groups, need);
        prop_assert_eq!(&searched, &expected);
        let first = index.search(need).find(Evaluation::is_eligible);
        prop_assert_eq!(first, expected.into_iter().find(Evaluation::is_eligible));
        Ok(())
    }

    fn skilled(i: usize, lat: f64, lon: f64, skill: bool) -> GroupView {
        let skills: &[Skill] = if skill { &[Skill::SearchRescue] } else { &[] };
        group(&format!("groups/{i:05}"), lat, lon, skills)
    }

    /// Points spread over Kazakhstan, or packed in one city, or a mix.
    fn layout() -> impl Strategy<Value = Vec<(f64, f64, bool)>> {
        let spread = (40.5f64..55.5, 46.4f64..87.4, any::<bool>());
        let city = (43.20f64..43.30, 76.85f64..77.00, any::<bool>());
        prop_oneof![
            proptest::collection::vec(spread.clone(), 0..60),
            proptest::collection::vec(city.clone(), 0..60),
            (
                proptest::collection::vec(spread, 0..30),
                proptest::collection::vec(city, 0..30)
            )
                .prop_map(|(mut a, b)| {
                    a.extend(b);
                    a
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn search_order_equals_brute_force(
            points in layout(),
            at in prop_oneof![(40.5f64..55.5, 46.4f64..87.4), (43.20f64..43.30, 76.85f64..77.00)],
        ) {
            let groups: Vec<GroupView> = points
                .iter()
                .enumerate()
                .map(|(i, (lat, lon, s))| skilled(i, *lat, *lon, *s))
                .collect();
            let location = GeoPoint::new(at.0, at.1).unwrap();
            assert_exact(&groups, &need(location, &[Skill::SearchRescue]))?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Around the twelve pentagons, where the grid is most distorted.
        #[test]
        fn exact_around_pentagons(
            pentagon in 0usize..12,
            offsets in proptest::collection::vec((-3.0f64..3.0, -3.0f64..3.0, any::<bool>()), 1..40),
            at in (-3.0f64..3.0, -3.0f64..3.0),
        ) {
            let centre = pentagon_centre(pentagon);
            let shift = |dlat: f64, dlon: f64| {
                let lat = (centre.lat() + dlat).clamp(-89.9, 89.9);
                let lon = ((centre.lon() + dlon + 540.0) % 360.0) - 180.0;
                (lat, lon)
            };
            let groups: Vec<GroupView> = offsets
                .iter()
                .enumerate()
                .map(|(i, (a, b, s))| {
                    let (lat, lon) = shift(*a, *b);
                    skilled(i, lat, lon, *s)
                })
                .collect();
            let (lat, lon) = shift(at.0, at.1);
            let location = GeoPoint::new(lat, lon).unwrap();
            assert_exact(&groups, &need(location, &[Skill::SearchRescue]))?;
        }

        /// Groups sitting on the vertices of fine cells, and just either side of them, with
        /// the request in the same or a neighbouring cell.
        #[test]
        fn exact_on_cell_edges(
            lat in 41.0f64..55.0,
            lon in 47.0f64..87.0,
            nudge in -1e-7f64..1e-7,
            pick in 0usize..6,
        ) {
            let cell = LatLng::new(lat, lon).unwrap().to_cell(FINE);
            let mut groups = Vec::new();
            let mut n = 0;
            for c in cell.grid_disk::<Vec<_>>(1) {
                for v in c.boundary().iter() {
                    for d in [-nudge, 0.0, nudge] {
                        groups.push(skilled(n, (v.lat() + d).clamp(-90.0, 90.0), v.lng() + d, n % 3 == 0));
                        n += 1;
                    }
                }
            }
            let vertex = cell.boundary()[pick % cell.boundary().len()];
            let location = GeoPoint::new(vertex.lat() + nudge, vertex.lng() - nudge).unwrap();
            assert_exact(&groups, &need(location, &[Skill::SearchRescue]))?;
        }
    }

    fn pentagon_centre(i: usize) -> GeoPoint {
        let cell = CellIndex::base_cells()
            .filter(|c| c.is_pentagon())
            .nth(i)
            .unwrap();
        let c = LatLng::from(cell);
        GeoPoint::new(c.lat(), c.lng()).unwrap()
    }

    #[test]
    fn there_are_twelve_pentagons() {
        assert_eq!(
            CellIndex::base_cells().filter(|c| c.is_pentagon()).count(),
            12
        );
    }

    #[test]
    fn moving_and_removing_groups_keeps_the_index_exact() {
        let mut index = GeoIndex::default();
        index.upsert(skilled(1, 43.25654, 76.92848, true)); // Almaty
        index.upsert(skilled(2, 51.18924, 71.43209, true)); // Astana
        let here = GeoPoint::new(51.2, 71.4).unwrap();
        let n = need(here, &[Skill::SearchRescue]);
        assert_eq!(index.search(&n).next().unwrap().group, "groups/00002");
        index.upsert(skilled(1, 51.2, 71.41, true)); // moved next to the request
        assert_eq!(index.search(&n).next().unwrap().group, "groups/00001");
        index.remove("groups/00001");
        assert_eq!(index.search(&n).count(), 1);
        assert_eq!(index.cells.len(), 1, "empty cells are dropped");
    }

    /// Every settlement of Kazakhstan in the gazetteer as a group, every 37th as a request:
    /// groups hundreds of kilometres apart in the steppe and packed in the cities.
    #[test]
    fn exact_over_the_real_settlements_of_kazakhstan() {
        // Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
        // (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../places/data/kz_settlements.csv"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let points: Vec<(f64, f64)> = text
            .lines()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split(',').collect();
                Some((cols.get(3)?.parse().ok()?, cols.get(4)?.parse().ok()?))
            })
            .collect();
        assert!(points.len() > 2000, "{} settlements", points.len());
        let groups: Vec<GroupView> = points
            .iter()
            .enumerate()
            .map(|(i, (lat, lon))| skilled(i, *lat, *lon, i % 5 == 0))
            .collect();
        let index = index_of(&groups);
        let mut opened = 0;
        let mut requests = 0;
        for (lat, lon) in points.iter().step_by(37) {
            let location = GeoPoint::new(*lat, *lon).unwrap();
            let n = need(location, &[Skill::SearchRescue]);
            let expected = brute_force(&groups, &n);
            let want = expected.iter().position(Evaluation::is_eligible).unwrap();
            let mut search = index.search(&n);
            let got: Vec<Evaluation> = search.by_ref().take(want + 1).collect();
            assert_eq!(got[..], expected[..=want], "request at {lat},{lon}");
            opened += search.opened_cells;
            requests += 1;
        }
        println!(
            "{} groups, {requests} requests: {} cells opened per request",
            groups.len(),
            opened / requests
        );
        // The point of the index: few cells opened per request.
        assert!(
            opened / requests < 200,
            "{} cells per request",
            opened / requests
        );
    }
}
