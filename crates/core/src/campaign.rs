//! Campaigns: many requests placed at once (coal for 300 pensioners across a district), each
//! with one group, no group over its free capacity. The plan serves as many requests as can be
//! served and, among such plans, has the least total distance: a min-cost maximum flow
//! (source → request → group → sink, capacities 1, 1 and the group's free places), solved by
//! successive shortest paths with Dijkstra on reduced costs. Costs are whole centimetres so
//! sums are exact.
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

/// Metres as whole centimetres, the unit of campaign costs.
pub fn centimetres(metres: f64) -> i64 {
    (metres * 100.0).round() as i64
}

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

/// The plan serving the most requests at the least total cost.
pub fn optimal(p: &Problem) -> Plan {
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn optimal_matches_brute_force(p in problem()) {
            let plan = optimal(&p);
            prop_assert!(valid(&p, &plan));
            prop_assert_eq!((plan.served(), plan.total_cost), brute_force(&p));
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
        let p = Problem {
            capacity: vec![20; bases.len()],
            cost: villages
                .iter()
                .map(|v| {
                    bases
                        .iter()
                        .map(|b| {
                            let d = v.distance_m(*b);
                            // A truck serves villages within 150 km of its base.
                            (d <= 150_000.0).then(|| centimetres(d))
                        })
                        .collect()
                })
                .collect(),
        };
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
