//! Benchmark 4: the campaign solver against `pathfinding`'s Kuhn–Munkres on identical square
//! instances, and a coal-season campaign's travel against the greedy plan.

use std::time::Duration;

use komek_core::GeoPoint;
use komek_core::campaign::{self, Problem};
use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

use super::{jittered_settlements, median_time, show};
use crate::nemesis::rng::Rng;
use crate::settlements;

/// A campaign of `n` requests at jittered settlements of one region and `n / loads` trucks of
/// `loads` places each, based at settlements spread through the region, each serving
/// requests within 150 km of its base. Places match requests one to one, so both solvers
/// face an `n × n` problem.
fn regional(region: &str, n: usize, loads: u32, seed: u64) -> Problem {
    let mut rng = Rng::new(seed);
    let places: Vec<GeoPoint> = settlements::all()
        .iter()
        .filter(|s| s.region == region)
        .filter_map(|s| GeoPoint::new(s.lat, s.lon).ok())
        .collect();
    let trucks = n / loads as usize;
    let step = places.len() / trucks;
    let bases: Vec<GeoPoint> = places.iter().step_by(step).take(trucks).copied().collect();
    let jitter = |rng: &mut Rng| (rng.below(4001) as f64 - 2000.0) / 111_000.0;
    let requests: Vec<GeoPoint> = (0..n)
        .map(|_| {
            let s = places[rng.below(places.len())];
            GeoPoint::new(s.lat() + jitter(&mut rng), s.lon() + jitter(&mut rng))
                .expect("near a real settlement")
        })
        .collect();
    Problem::by_distance(&requests, &bases, loads, Some(150_000.0))
}

/// `n` requests and `n` groups of one place each at jittered settlements across the whole
/// country, every pair allowed: the square problem at its least favourable to a solver that
/// looks at near pairs first (the last places left are far from the last requests).
fn countrywide(n: usize, seed: u64) -> Problem {
    let mut rng = Rng::new(seed);
    let groups = jittered_settlements(&mut rng, n);
    let requests = jittered_settlements(&mut rng, n);
    Problem::by_distance(&requests, &groups, 1, None)
}

/// The same problem for Kuhn–Munkres: one column per place of a group, weights negated (it
/// maximises), a pair beyond a group's reach weighted `-forbidden`, more than all real costs
/// together, so that it is used only where nothing else can be.
fn square_weights(p: &Problem, forbidden: i64) -> (Matrix<i64>, Vec<usize>) {
    let columns: Vec<usize> = p
        .capacity
        .iter()
        .enumerate()
        .flat_map(|(g, c)| std::iter::repeat_n(g, *c as usize))
        .collect();
    assert_eq!(columns.len(), p.cost.len(), "a square problem");
    let n = columns.len();
    let weights = p
        .cost
        .iter()
        .flat_map(|row| columns.iter().map(|g| row[*g].map_or(-forbidden, |c| -c)))
        .collect();
    (
        Matrix::from_vec(n, n, weights).expect("a square matrix"),
        columns,
    )
}

/// Served and total cost of Kuhn–Munkres's answer, forbidden pairs left out.
fn kuhn_munkres_plan(p: &Problem, columns: &[usize], answer: &[usize]) -> (usize, i64) {
    answer
        .iter()
        .enumerate()
        .filter_map(|(r, col)| p.cost[r][columns[*col]])
        .fold((0, 0), |(n, total), c| (n + 1, total + c))
}

pub fn run(budget: Duration) -> String {
    let mut out = String::from(
        "### Campaign solver against Kuhn–Munkres (pathfinding 4), identical instances\n\n\
         | instance | Komek solver | Kuhn–Munkres | ratio | same plan value (served, km) |\n\
         |---|---|---|---|---|\n",
    );
    let instances = [
        (
            "50×50: Almaty Region, 5 trucks × 10",
            regional("Almaty Region", 50, 10, 50),
        ),
        (
            "200×200: Almaty Region, 10 trucks × 20",
            regional("Almaty Region", 200, 20, 200),
        ),
        (
            "1000×1000: East Kazakhstan, 50 trucks × 20",
            regional("East Kazakhstan Region", 1000, 20, 1000),
        ),
        ("50×50: one place each, countrywide", countrywide(50, 51)),
        (
            "200×200: one place each, countrywide",
            countrywide(200, 201),
        ),
        (
            "1000×1000: one place each, countrywide",
            countrywide(1000, 1001),
        ),
    ];
    for (name, p) in instances {
        let forbidden = p.cost.iter().flatten().flatten().sum::<i64>() + 1;
        let (w, columns) = square_weights(&p, forbidden);
        let ours = campaign::optimal(&p);
        let (_, answer) = kuhn_munkres(&w);
        let theirs = kuhn_munkres_plan(&p, &columns, &answer);
        let same = (ours.served(), ours.total_cost) == theirs;
        let t_ours = median_time(budget, || {
            std::hint::black_box(campaign::optimal(std::hint::black_box(&p)));
        });
        let t_km = median_time(budget, || {
            std::hint::black_box(kuhn_munkres(std::hint::black_box(&w)));
        });
        let ratio = t_km.as_secs_f64() / t_ours.as_secs_f64();
        out += &format!(
            "| {name} | {} | {} | **{}** | {} ({}, {:.0} km) |\n",
            show(t_ours),
            show(t_km),
            if ratio >= 1.0 {
                format!("{ratio:.1}× faster")
            } else {
                format!("{:.1}× slower", 1.0 / ratio)
            },
            if same { "yes" } else { "NO" },
            ours.served(),
            ours.total_cost as f64 / 100_000.0
        );
        eprintln!("campaign {name}: ours {t_ours:?}, Kuhn–Munkres {t_km:?}, same {same}");
    }
    out += "\n### A coal season: the plan's travel against greedy (requests in call order)\n\n\
            | campaign | requests | trucks × loads | optimal: served, km | greedy: served, km | travel saved |\n\
            |---|---|---|---|---|---|\n";
    for (region, villages, trucks) in [
        ("Almaty Region", 300, 15),
        ("East Kazakhstan Region", 300, 15),
        ("Kazakhstan", 2_000, 100),
    ] {
        let (p, loads) = coal(region, villages, trucks);
        let best = campaign::optimal(&p);
        let first = campaign::greedy(&p);
        let km = |c: i64| c as f64 / 100_000.0;
        out += &format!(
            "| {region} | {} | {} × {loads} | {}, {:.0} | {}, {:.0} | {:.1}% |\n",
            p.cost.len(),
            p.capacity.len(),
            best.served(),
            km(best.total_cost),
            first.served(),
            km(first.total_cost),
            100.0 * (1.0 - best.total_cost as f64 / first.total_cost as f64)
        );
    }
    out.push('\n');
    out
}

/// Coal for `villages` settlements of a region (or the whole country), brought by `trucks`
/// trucks of 20 loads each based at settlements spread through the list, each serving
/// villages within 150 km of its base. Requests come in the gazetteer's order, which the
/// greedy plan follows as calls would come.
fn coal(region: &str, villages: usize, trucks: usize) -> (Problem, u32) {
    let places: Vec<GeoPoint> = settlements::all()
        .iter()
        .filter(|s| region == "Kazakhstan" || s.region == region)
        .filter_map(|s| GeoPoint::new(s.lat, s.lon).ok())
        .collect();
    assert!(
        places.len() >= villages + trucks,
        "{region}: {} places",
        places.len()
    );
    let step = places.len() / trucks;
    let bases: Vec<GeoPoint> = places.iter().step_by(step).take(trucks).copied().collect();
    let requests: Vec<GeoPoint> = places
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step != 0)
        .map(|(_, p)| *p)
        .step_by(((places.len() - trucks) / villages).max(1))
        .take(villages)
        .collect();
    let loads = 20;
    let p = Problem::by_distance(&requests, &bases, loads, Some(150_000.0));
    (p, loads)
}
