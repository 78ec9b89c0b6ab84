//! Campaigns: many requests placed at once (coal for 300 pensioners across a district), each
//! with one group, no group over its free capacity. The plan serves as many requests as can be
//! served and, among such plans, has the least total distance: a min-cost maximum flow
//! (source → request → group → sink, capacities 1, 1 and the group's free places), solved by
//! successive shortest paths with Dijkstra on reduced costs, reading each request's groups in
//! order of cost only as far as a path could still use them (see `optimal`). Costs are whole
//! centimetres so sums are exact.
//!
//! `greedy` is the baseline the plan is reported against: requests in the given order, each
//! taking its nearest group with a free place.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Who goes where. `assigned[r]` is the group index of request `r`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub assigned: Vec<Option<usize>>,
    /// Sum of the costs of the assigned pairs.
    pub total_cost: i64,
}

impl Plan {
    pub fn served(&self) -> usize {
        self.assigned.iter().filter(|a| a.is_some()).count()
    }
}

/// The problem: free places per group, and the cost of each request-group pair (`None` when
/// the group cannot take the request).
#[derive(Debug, Clone)]
pub struct Problem {
    pub capacity: Vec<u32>,
    /// `cost[r][g]`; every row has one entry per group.
    pub cost: Vec<Vec<Option<i64>>>,
}

impl Problem {
    /// Requests and groups at points, each group with `places` free and reaching requests
    /// within `reach_m` of it (every request when `None`); costs are the distances.
    pub fn by_distance(
        requests: &[crate::GeoPoint],
        groups: &[crate::GeoPoint],
        places: u32,
        reach_m: Option<f64>,
    ) -> Self {
        Problem {
            capacity: vec![places; groups.len()],
            cost: requests
                .iter()
                .map(|r| {
                    groups
                        .iter()
                        .map(|g| {
                            let d = r.distance_m(*g);
                            reach_m.is_none_or(|m| d <= m).then(|| centimetres(d))
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

/// Metres as whole centimetres, the unit of campaign costs.
pub fn centimetres(metres: f64) -> i64 {
    (metres * 100.0).round() as i64
}

/// Where a request stands while the plan is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seat {
    /// Not yet placed: its round has not come.
    Free,
    Group(u32),
    /// Sent to the sink at the cost of going unserved.
    Unserved,
}

/// A request's feasible groups by key, sorted lazily: `pairs[..sorted]` holds the lowest in
/// order, the rest is unsorted. Most requests end with one of their nearest groups, so most
/// rows are never sorted past their first few. A pair's key is its cost plus its group's price
/// (minus its potential) when the row was keyed; prices only rise, so cost plus potential of
/// the request plus the key is a lower bound of the pair's reduced cost.
struct Row {
    pairs: Vec<(i64, u32)>,
    sorted: usize,
}

/// How many pairs a row's last scan may have looked at before the row is re-keyed.
const REKEY_AFTER: usize = 8;

impl Row {
    fn rekey(&mut self, costs: &[Option<i64>], group_potential: &[i64]) {
        for (key, g) in &mut self.pairs {
            let g = *g as usize;
            *key = costs[g].expect("rows hold feasible pairs") - group_potential[g];
        }
        self.sorted = 0;
    }

    /// The `k`-th cheapest pair, sorting a further chunk (twice the last) when needed.
    fn get(&mut self, k: usize) -> Option<(i64, u32)> {
        if k >= self.pairs.len() {
            return None;
        }
        if k >= self.sorted {
            let chunk = self.sorted.max(4);
            let rest = &mut self.pairs[self.sorted..];
            if rest.len() > chunk {
                rest.select_nth_unstable(chunk - 1);
                rest[..chunk].sort_unstable();
                self.sorted += chunk;
            } else {
                rest.sort_unstable();
                self.sorted = self.pairs.len();
            }
        }
        Some(self.pairs[k])
    }
}

/// Dijkstra's state for one augmenting path, reset between paths by what it touched.
struct Search {
    dist: Vec<i64>,
    settled: Vec<bool>,
    touched: Vec<usize>,
    /// A group's predecessor on the path (a request), and the sink's (a group, or a request
    /// tagged UNSERVE).
    via: Vec<u32>,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
}

impl Search {
    fn reach(&mut self, v: usize, d: i64, from: u32) {
        if d < self.dist[v] && !self.settled[v] {
            if self.dist[v] == i64::MAX {
                self.touched.push(v);
            }
            self.dist[v] = d;
            self.via[v] = from;
            self.heap.push(Reverse((d, v as u32)));
        }
    }

    fn reset(&mut self) {
        for &v in &self.touched {
            self.dist[v] = i64::MAX;
            self.settled[v] = false;
        }
        self.touched.clear();
        self.heap.clear();
    }
}

// What a heap entry stands for, in the top two bits of its tag.
const NODE: u32 = 0;
const SCAN: u32 = 1 << 30;
const UNSERVE: u32 = 2 << 30;
const KIND: u32 = 3 << 30;

/// The plan serving the most requests at the least total cost.
///
/// A min-cost flow request → group → sink in which every request is sent somewhere: to a
/// group, or straight to the sink at a cost (`unserved`) above any sum of real costs, so that
/// serving one more request always pays. Requests are placed one at a time by the shortest
/// augmenting path (the Hungarian method's order) under potentials that keep every reduced cost
/// non-negative, so Dijkstra applies.
///
/// Pairs are not all looked at. With potentials kept at or below zero for groups (groups only
/// ever lose potential, and a group with a free place keeps zero), a request's pair costs at
/// least `cost + potential(request)` reduced, so a request's pairs can be scanned in order of
/// cost and the scan can wait in the queue, keyed by that bound, until nothing cheaper is left.
/// Groups far from every request are never touched; only pairs that compete with the path being
/// built are.
pub fn optimal(p: &Problem) -> Plan {
    let (r, g) = (p.cost.len(), p.capacity.len());
    assert!(r < (1 << 29) && g < (1 << 29), "campaign too large");
    let unserved = p
        .cost
        .iter()
        .map(|row| row.iter().flatten().copied().max().unwrap_or(0))
        .sum::<i64>()
        + 1;
    let mut rows: Vec<Row> = p
        .cost
        .iter()
        .map(|row| Row {
            pairs: row
                .iter()
                .enumerate()
                .filter_map(|(g, c)| c.map(|c| (c, g as u32)))
                .collect(),
            sorted: 0,
        })
        .collect();
    let mut seat = vec![Seat::Free; r];
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); g];
    let mut free: Vec<i64> = p.capacity.iter().map(|c| i64::from(*c)).collect();

    // Nodes: requests 0..r, groups r..r + g, the sink last. The sink's potential stays zero.
    let sink = r + g;
    let mut potential = vec![0i64; sink];
    let mut search = Search {
        dist: vec![i64::MAX; sink + 1],
        settled: vec![false; sink + 1],
        touched: Vec::new(),
        via: vec![0; sink + 1],
        heap: BinaryHeap::new(),
    };
    let mut cursor = vec![0usize; r];
    let mut order = Vec::new();

    // A request whose nearest group still has a place takes it at once, with its potential
    // lowered by that cost: every pair of the request is then at least zero reduced, and the
    // pair taken exactly zero. Most requests of a campaign are placed so; the paths below
    // only settle the contested ones.
    for (ri, row) in rows.iter_mut().enumerate() {
        if let Some((c, gi)) = row.get(0)
            && free[gi as usize] > 0
        {
            free[gi as usize] -= 1;
            members[gi as usize].push(ri as u32);
            seat[ri] = Seat::Group(gi);
            potential[ri] = -c;
        }
    }

    for start in 0..r {
        if seat[start] != Seat::Free {
            continue;
        }
        search.reach(start, 0, 0);
        order.clear();
        while let Some(Reverse((key, tag))) = search.heap.pop() {
            let index = (tag & !KIND) as usize;
            match tag & KIND {
                NODE => {
                    if search.settled[index] || key > search.dist[index] {
                        continue;
                    }
                    search.settled[index] = true;
                    order.push(index);
                    if index == sink {
                        break;
                    }
                    if index < r {
                        // A request: its pairs by cost, and going unserved unless it already is.
                        // A row scanned deep last time is re-keyed with today's prices of
                        // its groups, which only rise: a tighter bound, still a bound.
                        if cursor[index] > REKEY_AFTER {
                            rows[index].rekey(&p.cost[index], &potential[r..]);
                        }
                        cursor[index] = 0;
                        if let Some((c, _)) = rows[index].get(0) {
                            let bound = key + c + potential[index];
                            search.heap.push(Reverse((bound, SCAN | index as u32)));
                        }
                        if seat[index] != Seat::Unserved {
                            let d = key + unserved + potential[index];
                            search.heap.push(Reverse((d, UNSERVE | index as u32)));
                        }
                    } else {
                        let gi = index - r;
                        if free[gi] > 0 {
                            search.reach(sink, key + potential[index], gi as u32);
                        }
                        for &m in &members[gi] {
                            let m = m as usize;
                            let c = p.cost[m][gi].expect("a member's pair is feasible");
                            let d = key - c + potential[index] - potential[m];
                            search.reach(m, d, 0);
                        }
                    }
                }
                SCAN => {
                    let k = cursor[index];
                    let (_, gi) = rows[index].get(k).expect("scanned within the row");
                    if seat[index] != Seat::Group(gi) {
                        let v = r + gi as usize;
                        let c = p.cost[index][gi as usize].expect("rows hold feasible pairs");
                        let d = search.dist[index] + c + potential[index] - potential[v];
                        search.reach(v, d, index as u32);
                    }
                    cursor[index] = k + 1;
                    if let Some((c, _)) = rows[index].get(k + 1) {
                        let bound = search.dist[index] + c + potential[index];
                        search.heap.push(Reverse((bound, SCAN | index as u32)));
                    }
                }
                _ => search.reach(sink, key, UNSERVE | index as u32),
            }
        }

        // Settled nodes lose what separates them from the sink; the rest keep their potential.
        // This keeps every reduced cost non-negative and makes the path's pairs tight.
        let d_sink = search.dist[sink];
        for &v in &order {
            if v < sink {
                potential[v] -= d_sink - search.dist[v];
            }
        }

        // Walk the path back: each group on it takes the request before it, and the request
        // that group hands on (reached from it) leaves it.
        let mut moves: Vec<(usize, Seat)> = Vec::new();
        let last = search.via[sink];
        let mut v = if last & UNSERVE != 0 {
            let m = (last & !KIND) as usize;
            moves.push((m, Seat::Unserved));
            m
        } else {
            free[last as usize] -= 1;
            r + last as usize
        };
        loop {
            if v >= r {
                let m = search.via[v] as usize;
                moves.push((m, Seat::Group((v - r) as u32)));
                v = m;
            } else if v == start {
                break;
            } else {
                let Seat::Group(gi) = seat[v] else {
                    unreachable!("a request on a path was reached from its group")
                };
                v = r + gi as usize;
            }
        }
        for (m, to) in moves {
            if let Seat::Group(gi) = seat[m] {
                let list = &mut members[gi as usize];
                let at = list.iter().position(|x| *x as usize == m).expect("seated");
                list.swap_remove(at);
            }
            if let Seat::Group(gi) = to {
                members[gi as usize].push(m as u32);
            }
            seat[m] = to;
        }

        search.reset();
    }

    let mut assigned = vec![None; r];
    let mut total_cost = 0;
    for (ri, s) in seat.iter().enumerate() {
        if let Seat::Group(gi) = s {
            assigned[ri] = Some(*gi as usize);
            total_cost += p.cost[ri][*gi as usize].expect("seated on a feasible pair");
        }
    }
    Plan {
        assigned,
        total_cost,
    }
}

/// Requests in order, each to its cheapest group with a free place (ties: lower index).
pub fn greedy(p: &Problem) -> Plan {
    let mut free = p.capacity.clone();
    let mut assigned = Vec::with_capacity(p.cost.len());
    let mut total_cost = 0;
    for row in &p.cost {
        let best = row
            .iter()
            .enumerate()
            .filter_map(|(g, c)| c.filter(|_| free[g] > 0).map(|c| (c, g)))
            .min();
        if let Some((c, g)) = best {
            free[g] -= 1;
            total_cost += c;
        }
        assigned.push(best.map(|(_, g)| g));
    }
    Plan {
        assigned,
        total_cost,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy)]
    struct Edge {
        to: usize,
        cap: i64,
        cost: i64,
    }

    struct Graph {
        edges: Vec<Edge>,
        out: Vec<Vec<usize>>,
    }

    impl Graph {
        fn new(n: usize) -> Self {
            Self {
                edges: Vec::new(),
                out: vec![Vec::new(); n],
            }
        }

        /// Adds an edge and its residual twin; returns the edge's index.
        fn add(&mut self, from: usize, to: usize, cap: i64, cost: i64) -> usize {
            let i = self.edges.len();
            self.edges.push(Edge { to, cap, cost });
            self.out[from].push(i);
            self.edges.push(Edge {
                to: from,
                cap: 0,
                cost: -cost,
            });
            self.out[to].push(i + 1);
            i
        }
    }

    /// The plain min-cost flow over every pair, source → request → group → sink: the
    /// reference the lazy solver must agree with on problems too big for brute force.
    pub fn reference(p: &Problem) -> Plan {
        let (r, g) = (p.cost.len(), p.capacity.len());
        let (source, sink) = (0, 1 + r + g);
        let n = sink + 1;
        let mut graph = Graph::new(n);
        let mut pair_edges = Vec::new();
        for (ri, row) in p.cost.iter().enumerate() {
            graph.add(source, 1 + ri, 1, 0);
            for (gi, cost) in row.iter().enumerate() {
                if let Some(c) = cost {
                    let e = graph.add(1 + ri, 1 + r + gi, 1, *c);
                    pair_edges.push((ri, gi, e));
                }
            }
        }
        for (gi, cap) in p.capacity.iter().enumerate() {
            graph.add(1 + r + gi, sink, i64::from(*cap), 0);
        }

        // Costs are non-negative, so zero potentials start valid; each round keeps reduced costs
        // non-negative, which lets Dijkstra find the cheapest augmenting path.
        let mut potential = vec![0i64; n];
        loop {
            let mut dist = vec![i64::MAX; n];
            let mut via = vec![usize::MAX; n];
            dist[source] = 0;
            let mut heap = BinaryHeap::from([Reverse((0i64, source))]);
            while let Some(Reverse((d, u))) = heap.pop() {
                if d > dist[u] {
                    continue;
                }
                for &e in &graph.out[u] {
                    let edge = graph.edges[e];
                    if edge.cap == 0 {
                        continue;
                    }
                    let nd = d + edge.cost + potential[u] - potential[edge.to];
                    if nd < dist[edge.to] {
                        dist[edge.to] = nd;
                        via[edge.to] = e;
                        heap.push(Reverse((nd, edge.to)));
                    }
                }
            }
            if dist[sink] == i64::MAX {
                break;
            }
            for v in 0..n {
                if dist[v] != i64::MAX {
                    potential[v] += dist[v];
                }
            }
            // Every path carries one unit: requests have capacity 1.
            let mut v = sink;
            while v != source {
                let e = via[v];
                graph.edges[e].cap -= 1;
                graph.edges[e ^ 1].cap += 1;
                v = graph.edges[e ^ 1].to;
            }
        }

        let mut assigned = vec![None; r];
        let mut total_cost = 0;
        for (ri, gi, e) in pair_edges {
            if graph.edges[e].cap == 0 {
                assigned[ri] = Some(gi);
                total_cost += graph.edges[e].cost;
            }
        }
        Plan {
            assigned,
            total_cost,
        }
    }

    /// Every possible plan, for tiny problems: (most served, least cost).
    fn brute_force(p: &Problem) -> (usize, i64) {
        fn go(
            p: &Problem,
            r: usize,
            free: &mut [u32],
            served: usize,
            cost: i64,
            best: &mut (usize, i64),
        ) {
            if r == p.cost.len() {
                if served > best.0 || (served == best.0 && cost < best.1) {
                    *best = (served, cost);
                }
                return;
            }
            go(p, r + 1, free, served, cost, best);
            for g in 0..free.len() {
                if let (Some(c), true) = (p.cost[r][g], free[g] > 0) {
                    free[g] -= 1;
                    go(p, r + 1, free, served + 1, cost + c, best);
                    free[g] += 1;
                }
            }
        }
        let mut best = (0, 0);
        go(p, 0, &mut p.capacity.clone(), 0, 0, &mut best);
        best
    }

    fn valid(p: &Problem, plan: &Plan) -> bool {
        let mut used = vec![0u32; p.capacity.len()];
        let mut cost = 0;
        for (r, a) in plan.assigned.iter().enumerate() {
            if let Some(g) = a {
                let Some(c) = p.cost[r][*g] else { return false };
                used[*g] += 1;
                cost += c;
            }
        }
        used.iter().zip(&p.capacity).all(|(u, c)| u <= c) && cost == plan.total_cost
    }

    fn problem() -> impl Strategy<Value = Problem> {
        (1usize..4, 0usize..8).prop_flat_map(|(groups, requests)| {
            (
                proptest::collection::vec(0u32..3, groups),
                proptest::collection::vec(
                    proptest::collection::vec(
                        proptest::option::weighted(0.8, 0i64..50_000),
                        groups,
                    ),
                    requests,
                ),
            )
                .prop_map(|(capacity, cost)| Problem { capacity, cost })
        })
    }

    /// Up to 40 requests and 12 groups; some cannot be served.
    fn wider_problem() -> impl Strategy<Value = Problem> {
        (1usize..12, 0usize..40).prop_flat_map(|(groups, requests)| {
            (
                proptest::collection::vec(0u32..4, groups),
                proptest::collection::vec(
                    proptest::collection::vec(
                        proptest::option::weighted(0.7, 0i64..50_000),
                        groups,
                    ),
                    requests,
                ),
            )
                .prop_map(|(capacity, cost)| Problem { capacity, cost })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn optimal_matches_brute_force(p in problem()) {
            let plan = optimal(&p);
            prop_assert!(valid(&p, &plan));
            prop_assert_eq!((plan.served(), plan.total_cost), brute_force(&p));
        }

        /// Larger problems than brute force can check, against the plain flow over every pair.
        #[test]
        fn optimal_agrees_with_the_flow_over_every_pair(p in wider_problem()) {
            let (plan, full) = (optimal(&p), reference(&p));
            prop_assert!(valid(&p, &plan));
            prop_assert_eq!((plan.served(), plan.total_cost), (full.served(), full.total_cost));
        }

        #[test]
        fn optimal_is_never_worse_than_greedy(p in problem()) {
            let (best, first) = (optimal(&p), greedy(&p));
            prop_assert!(valid(&p, &first));
            prop_assert!(best.served() >= first.served());
            if best.served() == first.served() {
                prop_assert!(best.total_cost <= first.total_cost);
            }
        }
    }

    #[test]
    fn greedy_is_beaten_where_the_first_request_takes_the_shared_group() {
        // Request 0 is a little nearer group 0 than group 1; request 1 can only use group 0.
        let p = Problem {
            capacity: vec![1, 1],
            cost: vec![vec![Some(100), Some(110)], vec![Some(100), None]],
        };
        assert_eq!(greedy(&p).served(), 1);
        let plan = optimal(&p);
        assert_eq!(plan.assigned, vec![Some(1), Some(0)]);
        assert_eq!(plan.total_cost, 210);
    }

    /// A region-wide coal drive on real settlements: 300 villages of Almaty Region and 15
    /// trucks of 20 loads, based at settlements spread through the region (every n-th of the
    /// list), each serving villages within 150 km. Prints both plans.
    #[test]
    fn three_hundred_requests_in_almaty_region() {
        use crate::GeoPoint;
        // Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
        // (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../places/data/kz_settlements.csv"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let places: Vec<GeoPoint> = text
            .lines()
            .skip(1)
            .filter(|l| l.split(',').nth(6) == Some("Almaty Region"))
            .filter_map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                GeoPoint::new(c[3].parse().ok()?, c[4].parse().ok()?).ok()
            })
            .collect();
        assert!(places.len() >= 315, "{} places", places.len());
        let step = places.len() / 15;
        let bases: Vec<GeoPoint> = places.iter().step_by(step).take(15).copied().collect();
        let villages: Vec<GeoPoint> = places
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step != 0)
            .map(|(_, p)| *p)
            .take(300)
            .collect();
        // A truck serves villages within 150 km of its base.
        let p = Problem::by_distance(&villages, &bases, 20, Some(150_000.0));
        let (best, first) = (optimal(&p), greedy(&p));
        println!(
            "300 requests, 15 groups x 20: optimal serves {} for {:.1} km, greedy serves {} for \
             {:.1} km",
            best.served(),
            best.total_cost as f64 / 100_000.0,
            first.served(),
            first.total_cost as f64 / 100_000.0
        );
        assert!(best.served() >= first.served());
        if best.served() == first.served() {
            assert!(best.total_cost <= first.total_cost);
        }
    }
}
