//! Settlement search per keystroke: what the console's place field asks on every key.
//!
//! Baseline, measured in the same run: a plain scan that lower-cases every name and tests
//! `starts_with`, with no folding, no typo forgiveness and no ranking. The search is judged by
//! its ratio to that scan.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use komek_places::Gazetteer;

/// What an operator has typed after a few keys: a city, a village, a Kazakh name on a
/// Russian keyboard, a typo, a single letter.
const QUERIES: [&str; 5] = ["Кызылор", "Шиели", "Ұзынаға", "Кызылерда", "а"];

fn baseline(g: &Gazetteer, q: &str) -> usize {
    let q = q.to_lowercase();
    g.places()
        .iter()
        .filter(|p| {
            [&p.name_kk, &p.name_ru, &p.name_en]
                .iter()
                .any(|n| n.to_lowercase().starts_with(&q))
        })
        .take(10)
        .count()
}

fn search(c: &mut Criterion) {
    let g = Gazetteer::kazakhstan();
    let mut group = c.benchmark_group("settlement search, 11,741 places");
    for q in QUERIES {
        group.bench_function(format!("baseline scan {q}"), |b| {
            b.iter(|| baseline(g, black_box(q)))
        });
        group.bench_function(format!("search {q}"), |b| {
            b.iter(|| g.search(black_box(q), None, 10).len())
        });
    }
    group.finish();

    // Both countries in one search, as PlaceService asks: its cost against Kazakhstan's alone,
    // in the same run.
    let all = Gazetteer::all();
    let mut group = c.benchmark_group("settlement search, Kazakhstan and Belarus");
    for q in QUERIES.iter().chain(&["Воложин"]) {
        group.bench_function(format!("Kazakhstan {q}"), |b| {
            b.iter(|| g.search(black_box(q), None, 10).len())
        });
        group.bench_function(format!("both {q}"), |b| {
            b.iter(|| all.search(black_box(q), None, 10).len())
        });
    }
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
