//! The nearest eligible group for a request: the H3 index against the brute-force scan it must
//! agree with, over every settlement of the gazetteer as a group.
//!
//! Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
//! geonames.org) and Quattroshapes (CC-BY).

use std::hint::black_box;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use komek_core::matching::{Evaluation, GroupView, Need, SkillGrant, evaluate};
use komek_core::nearest::GeoIndex;
use komek_core::{Availability, GeoPoint, Skill};

fn settlements() -> Vec<GeoPoint> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../places/data/kz_settlements.csv"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            GeoPoint::new(c.get(3)?.parse().ok()?, c.get(4)?.parse().ok()?).ok()
        })
        .collect()
}

fn groups(points: &[GeoPoint]) -> Vec<GroupView> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| GroupView {
            id: format!("groups/{i:05}"),
            base: *p,
            last_location: None,
            radius_km: 0.0,
            districts: vec![],
            // One group in five carries cargo, so the nearest eligible is not simply the nearest.
            skills: if i % 5 == 0 {
                vec![SkillGrant::plain(Skill::VehicleCargo)]
            } else {
                vec![SkillGrant::plain(Skill::SocialCare)]
            },
            availability: Availability::Available,
            capacity: 2,
            active_assignments: 0,
            schedule: None,
            office_hours: None,
            rest_until: None,
        })
        .collect()
}

fn nearest(c: &mut Criterion) {
    let points = settlements();
    let groups = groups(&points);
    let mut index = GeoIndex::default();
    for g in &groups {
        index.upsert(g.clone());
    }
    let requests: Vec<GeoPoint> = points.iter().step_by(37).copied().collect();
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap();
    let need = |location| Need {
        location,
        district: "",
        located_district: "",
        skills: &[Skill::VehicleCargo],
        cargo_tonnes: 0.0,
        excluded: &[],
        at_capacity: &[],
        resting: &[],
        now,
        max_location_age: Duration::minutes(30),
        urgent: false,
        area_factor: 1.0,
    };
    let mut g = c.benchmark_group(format!(
        "nearest eligible of {} groups, {} requests",
        groups.len(),
        requests.len()
    ));
    g.bench_function("brute force", |b| {
        b.iter(|| {
            for r in &requests {
                let n = need(*r);
                black_box(
                    evaluate(&n, &groups)
                        .into_iter()
                        .find(Evaluation::is_eligible),
                );
            }
        })
    });
    g.bench_function("h3 index", |b| {
        b.iter(|| {
            for r in &requests {
                let n = need(*r);
                black_box(index.search(&n).find(Evaluation::is_eligible));
            }
        })
    });
    // A wide search's rounds: the three nearest eligible, then six.
    for wanted in [3, 6] {
        g.bench_function(format!("h3 index, {wanted} nearest eligible"), |b| {
            b.iter(|| {
                for r in &requests {
                    let n = need(*r);
                    black_box(
                        index
                            .search(&n)
                            .filter(Evaluation::is_eligible)
                            .take(wanted)
                            .count(),
                    );
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, nearest);
criterion_main!(benches);
