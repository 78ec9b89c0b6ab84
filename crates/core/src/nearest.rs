//! Exact nearest-group search over H3 cells.
//!
//! Groups are filed in a tree of H3 cells at resolutions 1 (about 480 km across) to 7 (about
//! 1.2 km), each cell under its parent, each group under the cells of its position. A search
//! is best-first over a priority queue of cells and groups, each keyed by a lower bound of its
//! distance from the request. A cell's bound is the distance to its centre minus the radius of a
//! disc around that centre that covers every group filed under it (plus a metre for rounding);
//! by the triangle inequality no group of the cell can be nearer. The discs are measured from
//! the groups themselves, not from cell outlines, because H3 children spill over their parent's
//! outline. A group first enters the queue keyed by the straight-line (chord) distance through
//! the Earth, which is cheap and never more than the great-circle distance; when that entry
//! comes out, the exact great-circle distance is computed and the group goes back in with it.
//! A group leaves the queue only when nothing left can be nearer, so groups come out in exactly
//! the order of a brute-force sort by (distance, id): on equal keys cells open first, then
//! bounded groups, then exact ones in id order. Nothing here depends on the shape of the grid,
//! so pentagons and cell edges need no special case.
//!
//! Groups live in a slab and cells hold four-byte handles to them, so the index adds little
//! beyond the groups' own records (measured in BENCHMARKS.md).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use h3o::{CellIndex, LatLng, Resolution};

use crate::GeoPoint;
use crate::matching::{Evaluation, GroupView, Need, judge_at};

/// The tree's resolutions, coarsest first; groups are filed under the last.
const LEVELS: [Resolution; 7] = [
    Resolution::One,
    Resolution::Two,
    Resolution::Three,
    Resolution::Four,
    Resolution::Five,
    Resolution::Six,
    Resolution::Seven,
];

/// Slack added to every radius, in metres, for floating-point rounding of distances.
const SLACK_M: f64 = 1.0;

/// A little under the radius `GeoPoint::distance_m` uses (6,371,008.8 m), so chords computed
/// with it stay below great-circle distances despite rounding.
const CHORD_RADIUS_M: f64 = 6_371_000.0;

/// Taken off every chord as well, for distances too small for the relative margin above.
const CHORD_SLACK_M: f64 = 1e-6;

/// Taken off chords to positions kept in single precision, whose rounding moves a point of the
/// unit sphere by up to about 5e-8 (0.35 m on the Earth), and off discs whose radius is kept in
/// single precision too (rounded by at most 0.06 m below 1,000 km).
const SINGLE_SLACK_M: f64 = 2.0;

/// A point on the unit sphere.
type Unit = [f64; 3];

fn unit(p: GeoPoint) -> Unit {
    let (lat, lon) = (p.lat().to_radians(), p.lon().to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// The straight-line distance between two points of the sphere, in metres: never more than
/// the great-circle distance between them.
fn chord_m(a: &Unit, b: &Unit) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() * CHORD_RADIUS_M - CHORD_SLACK_M
}

fn single(u: Unit) -> [f32; 3] {
    [u[0] as f32, u[1] as f32, u[2] as f32]
}

fn widen(u: &[f32; 3]) -> Unit {
    [f64::from(u[0]), f64::from(u[1]), f64::from(u[2])]
}

/// A cell of the tree: a disc covering everything under it, and what is under it (cells of
/// the next level, or groups at the last). What a search reads of the things under a cell (a
/// cell's disc, a group's position) is kept in the cell itself, beside their handles, so that
/// opening a cell reads one contiguous list instead of visiting each child.
#[derive(Debug, Clone)]
struct Node {
    cell: CellIndex,
    center: GeoPoint,
    radius_m: f64,
    /// The node above, `u32::MAX` at the top.
    parent: u32,
    /// Cells of the next level.
    cells: Vec<Disc>,
    /// At the last level, the groups filed here.
    members: Vec<Member>,
}

/// A cell as its parent lists it for a search: 20 bytes, in single precision (a search reads
/// these lists, and at a million groups most of them come from memory, not cache).
#[derive(Debug, Clone, Copy)]
struct Disc {
    node: u32,
    center: [f32; 3],
    radius_m: f32,
}

impl Disc {
    /// No group under the cell is nearer to `from` than this.
    fn bound(&self, from: &Unit) -> f64 {
        (chord_m(from, &widen(&self.center)) - f64::from(self.radius_m) - SINGLE_SLACK_M).max(0.0)
    }
}

/// A group as its leaf cell keeps it: where it is, exactly (for the distance every answer
/// carries) and as a single-precision point of the sphere (for the cheap bound).
#[derive(Debug, Clone, Copy)]
struct Member {
    handle: u32,
    unit: [f32; 3],
    position: GeoPoint,
}

#[derive(Debug, Clone)]
struct Slot {
    group: GroupView,
    /// The leaf cell's node handle.
    leaf: u32,
}

/// Slots are allocated in chunks of this many, so the slab never holds more than one chunk
/// of room it does not use (a doubling vector of records could hold a third more).
const CHUNK: usize = 1024;

/// A map keyed by a hash already computed: the key is its own hash.
#[derive(Debug, Clone, Copy, Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Group handles by id, keeping a 64-bit hash of each id rather than a second copy of it (the
/// id is in the slot, where a lookup checks it). Ids whose hash another id already holds are
/// kept whole in `collided`.
#[derive(Debug, Clone, Default)]
struct Ids {
    by_hash: HashMap<u64, u32, BuildHasherDefault<KeyIsHash>>,
    collided: HashMap<String, u32>,
}

#[cfg(not(test))]
fn id_hash(id: &str) -> u64 {
    // SipHash with fixed keys: the same hash for the same id in every run.
    let mut h = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(id, &mut h);
    h.finish()
}

/// In tests, a hash that collides all the time, so every test goes through `collided` too.
#[cfg(test)]
fn id_hash(id: &str) -> u64 {
    id.bytes().map(u64::from).sum::<u64>() % 3
}

/// A leaf holds fewer members than this, so that a member's place in it fits the 30 bits a
/// queue entry has for it (a billion groups in one 5 km² cell).
const MAX_MEMBERS: usize = 1 << 30;

/// Pushes onto a list that usually stays short, growing it one place at a time while it is:
/// a vector's first growth makes room for four, most of it unused in a cell of one group.
fn push_short<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() && list.len() < 8 {
        list.reserve_exact(1);
    }
    list.push(item);
}

/// Groups by cell; kept current one group at a time.
#[derive(Debug, Clone, Default)]
pub struct GeoIndex {
    slots: Vec<Box<[Option<Slot>]>>,
    free_slots: Vec<u32>,
    live: usize,
    ids: Ids,
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    /// Node handles by cell, every level.
    by_cell: HashMap<CellIndex, u32>,
    /// The top level's nodes, as their parents would list them.
    top: Vec<Disc>,
}

impl GeoIndex {
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn get(&self, id: &str) -> Option<&GroupView> {
        self.handle(id).map(|h| &self.slot(h).group)
    }

    pub fn groups(&self) -> impl Iterator<Item = &GroupView> {
        self.slots
            .iter()
            .flat_map(|chunk| chunk.iter())
            .flatten()
            .map(|s| &s.group)
    }

    fn handle(&self, id: &str) -> Option<u32> {
        if let Some(&h) = self.ids.collided.get(id) {
            return Some(h);
        }
        let &h = self.ids.by_hash.get(&id_hash(id))?;
        (self.slot(h).group.id == id).then_some(h)
    }

    fn file_id(&mut self, id: &str, handle: u32) {
        let hash = id_hash(id);
        match self.ids.by_hash.get(&hash) {
            Some(&other) if self.slot(other).group.id != id => {
                self.ids.collided.insert(id.to_string(), handle);
            }
            _ => {
                self.ids.by_hash.insert(hash, handle);
            }
        }
    }

    fn unfile_id(&mut self, id: &str) -> Option<u32> {
        if let Some(h) = self.ids.collided.remove(id) {
            return Some(h);
        }
        let hash = id_hash(id);
        let &h = self.ids.by_hash.get(&hash)?;
        if self.slot(h).group.id != id {
            return None;
        }
        self.ids.by_hash.remove(&hash);
        Some(h)
    }

    fn slot_mut(&mut self, handle: u32) -> &mut Option<Slot> {
        let h = handle as usize;
        &mut self.slots[h / CHUNK][h % CHUNK]
    }

    /// Cells in the tree, every level: empty ones are dropped.
    pub fn cells(&self) -> usize {
        self.by_cell.len()
    }

    fn slot(&self, handle: u32) -> &Slot {
        let h = handle as usize;
        self.slots[h / CHUNK][h % CHUNK]
            .as_ref()
            .expect("handles point at live slots")
    }

    /// The list a node is kept in: its parent's cells, or the top.
    fn siblings(&mut self, parent: u32) -> &mut Vec<Disc> {
        if parent == u32::MAX {
            &mut self.top
        } else {
            &mut self.nodes[parent as usize].cells
        }
    }

    /// Sets a node's radius, and the copy its parent keeps.
    fn set_radius(&mut self, node: u32, radius_m: f64) {
        let n = &mut self.nodes[node as usize];
        n.radius_m = radius_m;
        let parent = n.parent;
        let entry = self
            .siblings(parent)
            .iter_mut()
            .find(|d| d.node == node)
            .expect("a node is listed by its parent");
        entry.radius_m = radius_m as f32;
    }

    /// Adds a group or replaces it, moving it to the cells of its new position.
    pub fn upsert(&mut self, group: GroupView) {
        self.remove(&group.id);
        let position = group.position();
        let leaf_cell = LatLng::new(position.lat(), position.lon())
            .expect("GeoPoint is validated")
            .to_cell(LEVELS[LEVELS.len() - 1]);
        if self.free_slots.is_empty() {
            let first = self.slots.len() * CHUNK;
            self.slots.push(vec![None; CHUNK].into_boxed_slice());
            self.free_slots
                .extend((first..first + CHUNK).rev().map(|h| h as u32));
        }
        let handle = self.free_slots.pop().expect("a chunk was just added");
        // Down from the top, creating cells as needed; every disc on the way grows to cover
        // the group itself.
        let mut parent = u32::MAX;
        for level in LEVELS {
            let cell = leaf_cell.parent(level).expect("no finer than the leaf");
            let node = match self.by_cell.get(&cell) {
                Some(&n) => n,
                None => self.new_node(cell, parent),
            };
            let n = &self.nodes[node as usize];
            let reach = n.center.distance_m(position) + SLACK_M;
            if reach > n.radius_m {
                self.set_radius(node, reach);
            }
            parent = node;
        }
        let member = Member {
            handle,
            unit: single(unit(position)),
            position,
        };
        let members = &mut self.nodes[parent as usize].members;
        assert!(
            members.len() < MAX_MEMBERS,
            "a leaf cell holds {MAX_MEMBERS} groups"
        );
        push_short(members, member);
        *self.slot_mut(handle) = Some(Slot {
            group,
            leaf: parent,
        });
        let id = self.slot(handle).group.id.clone();
        self.file_id(&id, handle);
        self.live += 1;
    }

    fn new_node(&mut self, cell: CellIndex, parent: u32) -> u32 {
        let c = LatLng::from(cell);
        let center = GeoPoint::new(c.lat(), c.lng()).expect("H3 centres are valid coordinates");
        let node = Node {
            cell,
            center,
            radius_m: 0.0,
            parent,
            cells: Vec::new(),
            members: Vec::new(),
        };
        let n = match self.free_nodes.pop() {
            Some(n) => {
                self.nodes[n as usize] = node;
                n
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.by_cell.insert(cell, n);
        let disc = Disc {
            node: n,
            center: single(unit(center)),
            radius_m: 0.0,
        };
        push_short(self.siblings(parent), disc);
        n
    }

    pub fn remove(&mut self, id: &str) {
        let Some(handle) = self.unfile_id(id) else {
            return;
        };
        let slot = self
            .slot_mut(handle)
            .take()
            .expect("handles point at live slots");
        self.free_slots.push(handle);
        self.live -= 1;
        let leaf = slot.leaf;
        let n = &mut self.nodes[leaf as usize];
        let at = n
            .members
            .iter()
            .position(|m| m.handle == handle)
            .expect("filed");
        n.members.swap_remove(at);
        if !n.members.is_empty() {
            // The leaf's disc shrinks to the groups left. The discs above still cover them
            // and are kept as they are: a disc can grow no wider than its cell's descendants
            // reach, so they stay tight enough.
            let center = n.center;
            let radius = n
                .members
                .iter()
                .map(|m| center.distance_m(m.position) + SLACK_M)
                .fold(0.0, f64::max);
            self.set_radius(leaf, radius);
            return;
        }
        // Cells left empty go, up to the first that still holds something.
        let mut node = leaf;
        while node != u32::MAX {
            let n = &self.nodes[node as usize];
            if !n.cells.is_empty() || !n.members.is_empty() {
                break;
            }
            let (cell, parent) = (n.cell, n.parent);
            self.by_cell.remove(&cell);
            self.free_nodes.push(node);
            let list = self.siblings(parent);
            let at = list.iter().position(|d| d.node == node).expect("listed");
            list.swap_remove(at);
            node = parent;
        }
    }

    /// Every group, judged, in ascending (distance, id) order, produced lazily: stop reading
    /// once the answer is known and the rest of the index is never looked at.
    pub fn search<'a>(&'a self, need: &'a Need<'a>) -> Search<'a> {
        let from = unit(need.location);
        let mut heap = BinaryHeap::with_capacity(64);
        for disc in &self.top {
            heap.push(Reverse(entry(disc.bound(&from), cell_item(disc.node))));
        }
        Search {
            index: self,
            need,
            from,
            heap,
            tied: Vec::new(),
            tied_m: 0.0,
            opened_cells: 0,
        }
    }
}

// A queue entry is one integer, its key's bits above what it stands for, so that entries
// compare and move as plain numbers. Keys are never negative, and the bits of non-negative
// floats order as the floats do. What an entry stands for orders by its top two bits: on equal
// keys cells open first, then groups keyed by a bound (measured before groups of the same key
// leave, as they may turn out to be among them), then groups keyed by their exact distance.
const CELL: u64 = 0;
const BOUNDED: u64 = 1;
const GROUP: u64 = 2;

fn entry(key_m: f64, item: u64) -> u128 {
    // Adding zero turns a negative zero into a positive one.
    (u128::from((key_m + 0.0).to_bits()) << 64) | u128::from(item)
}

fn key_of(entry: u128) -> f64 {
    f64::from_bits((entry >> 64) as u64)
}

fn cell_item(node: u32) -> u64 {
    (CELL << 62) | u64::from(node)
}

/// The `i`th member of leaf `node`: `i` is below `MAX_MEMBERS`.
fn bounded_item(node: u32, i: usize) -> u64 {
    (BOUNDED << 62) | (u64::from(node) << 30) | i as u64
}

fn group_item(handle: u32) -> u64 {
    (GROUP << 62) | u64::from(handle)
}

/// A search in progress; see [`GeoIndex::search`].
pub struct Search<'a> {
    index: &'a GeoIndex,
    need: &'a Need<'a>,
    from: Unit,
    heap: BinaryHeap<Reverse<u128>>,
    /// Groups at exactly the same distance, `tied_m`, to leave in id order (reversed: the next
    /// is last).
    tied: Vec<u32>,
    tied_m: f64,
    /// Cells opened so far: the work the index saved shows as how few these are.
    pub opened_cells: usize,
}

impl Search<'_> {
    fn answer(&self, handle: u32, distance_m: f64) -> Evaluation {
        judge_at(&self.index.slot(handle).group, self.need, distance_m)
    }
}

impl Iterator for Search<'_> {
    type Item = Evaluation;

    fn next(&mut self) -> Option<Evaluation> {
        if let Some(h) = self.tied.pop() {
            return Some(self.answer(h, self.tied_m));
        }
        while let Some(Reverse(top)) = self.heap.pop() {
            let item = top as u64;
            match item >> 62 {
                CELL => {
                    self.opened_cells += 1;
                    let n = item as u32;
                    let node = &self.index.nodes[n as usize];
                    for disc in &node.cells {
                        self.heap
                            .push(Reverse(entry(disc.bound(&self.from), cell_item(disc.node))));
                    }
                    for (i, m) in node.members.iter().enumerate() {
                        let bound =
                            (chord_m(&self.from, &widen(&m.unit)) - SINGLE_SLACK_M).max(0.0);
                        self.heap.push(Reverse(entry(bound, bounded_item(n, i))));
                    }
                }
                BOUNDED => {
                    let (n, i) = ((item >> 30) as u32, item as usize & (MAX_MEMBERS - 1));
                    let m = &self.index.nodes[n as usize].members[i];
                    let exact = self.need.location.distance_m(m.position);
                    self.heap.push(Reverse(entry(exact, group_item(m.handle))));
                }
                _ => {
                    let (h, key) = (item as u32, top >> 64);
                    // Anything still queued at this key is a group at exactly this distance
                    // (cells and bounds of equal key came out first); ties leave in id order.
                    let distance_m = key_of(top);
                    if self
                        .heap
                        .peek()
                        .is_none_or(|Reverse(next)| next >> 64 != key)
                    {
                        return Some(self.answer(h, distance_m));
                    }
                    let mut same = vec![h];
                    while let Some(&Reverse(next)) = self.heap.peek() {
                        if next >> 64 != key {
                            break;
                        }
                        self.heap.pop();
                        same.push(next as u32);
                    }
                    same.sort_by(|a, b| {
                        let id = |h: &u32| self.index.slot(*h).group.id.as_str();
                        id(b).cmp(id(a))
                    });
                    let first = same.pop().expect("at least one");
                    self.tied = same;
                    self.tied_m = distance_m;
                    return Some(self.answer(first, distance_m));
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
    use crate::matching::judge;
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
            let cell = LatLng::new(lat, lon).unwrap().to_cell(LEVELS[LEVELS.len() - 1]);
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Groups placed, moved and taken out in any order: the index answers as brute force
        /// over the groups left, where they are now.
        #[test]
        fn exact_after_moves_and_removals(
            steps in proptest::collection::vec(
                (0usize..25, prop_oneof![
                    3 => (40.5f64..55.5, 46.4f64..87.4).prop_map(Some),
                    1 => Just(None),
                ]),
                1..120,
            ),
            at in (40.5f64..55.5, 46.4f64..87.4),
        ) {
            let mut index = GeoIndex::default();
            let mut live: std::collections::BTreeMap<usize, GroupView> = Default::default();
            for (i, step) in steps {
                match step {
                    Some((lat, lon)) => {
                        let g = skilled(i, lat, lon, i % 3 == 0);
                        index.upsert(g.clone());
                        live.insert(i, g);
                    }
                    None => {
                        index.remove(&format!("groups/{i:05}"));
                        live.remove(&i);
                    }
                }
            }
            let groups: Vec<GroupView> = live.into_values().collect();
            let n = need(GeoPoint::new(at.0, at.1).unwrap(), &[Skill::SearchRescue]);
            let searched: Vec<Evaluation> = index.search(&n).collect();
            prop_assert_eq!(searched, brute_force(&groups, &n));
            prop_assert_eq!(index.len(), groups.len());
        }

        /// Groups at the very same spot leave in id order, whatever order they came in.
        #[test]
        fn groups_at_one_spot_leave_in_id_order(
            order in Just((0..12).collect::<Vec<usize>>()).prop_shuffle(),
            at in (43.0f64..43.5, 76.5f64..77.2),
        ) {
            let groups: Vec<GroupView> = order
                .iter()
                .map(|i| skilled(*i, 43.25654, 76.92848, true))
                .collect();
            let n = need(GeoPoint::new(at.0, at.1).unwrap(), &[Skill::SearchRescue]);
            let index = index_of(&groups);
            let searched: Vec<Evaluation> = index.search(&n).collect();
            prop_assert_eq!(searched, brute_force(&groups, &n));
        }
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
        assert_eq!(index.cells(), LEVELS.len(), "empty cells are dropped");
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
