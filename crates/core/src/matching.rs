//! Choosing the nearest group that can do the job.
//!
//! This is the exact brute-force reference: every group is evaluated, distances are great-circle,
//! ties are broken by group id. An index may prune candidates but must give the same answer.

use crate::{Availability, GeoPoint, IneligibleReason, Skill};

/// What the matcher knows of a group at decision time.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Resource name, also the tie-breaker.
    pub id: String,
    pub location: GeoPoint,
    /// Zero means no radius limit.
    pub radius_km: f64,
    pub skills: Vec<Skill>,
    pub availability: Availability,
    pub capacity: u32,
    pub active_assignments: u32,
}

/// What a request needs.
#[derive(Debug, Clone)]
pub struct Need<'a> {
    pub location: GeoPoint,
    pub skills: &'a [Skill],
    /// Groups that already declined or let an offer to this request expire.
    pub excluded: &'a [String],
}

/// One group as the matcher judged it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub group: String,
    pub distance_m: f64,
    /// Empty when the group is eligible.
    pub reasons: Vec<IneligibleReason>,
}

impl Evaluation {
    pub fn is_eligible(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Every reason `group` cannot take `need`; empty when it can.
pub fn ineligibility(group: &GroupView, need: &Need<'_>, distance_m: f64) -> Vec<IneligibleReason> {
    let mut reasons = Vec::new();
    if need.excluded.contains(&group.id) {
        reasons.push(IneligibleReason::AlreadyDeclined);
    }
    if group.availability != Availability::Available {
        reasons.push(IneligibleReason::NotAvailable);
    }
    if group.active_assignments >= group.capacity {
        reasons.push(IneligibleReason::NoCapacity);
    }
    if !need.skills.iter().all(|s| group.skills.contains(s)) {
        reasons.push(IneligibleReason::MissingSkill);
    }
    if group.radius_km > 0.0 && distance_m > group.radius_km * 1000.0 {
        reasons.push(IneligibleReason::OutsideServiceArea);
    }
    reasons
}

/// Every group judged, eligible ones first, each part ordered by distance then id.
pub fn evaluate(need: &Need<'_>, groups: &[GroupView]) -> Vec<Evaluation> {
    let mut out: Vec<Evaluation> = groups
        .iter()
        .map(|g| {
            let distance_m = need.location.distance_m(g.location);
            Evaluation {
                group: g.id.clone(),
                distance_m,
                reasons: ineligibility(g, need, distance_m),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.reasons
            .is_empty()
            .cmp(&b.reasons.is_empty())
            .reverse()
            .then(a.distance_m.total_cmp(&b.distance_m))
            .then_with(|| a.group.cmp(&b.group))
    });
    out
}

/// The reasons to give dispatchers when nobody is eligible: each reason any group had.
pub fn escalation_reasons(evaluations: &[Evaluation]) -> Vec<IneligibleReason> {
    let mut reasons: Vec<IneligibleReason> = evaluations
        .iter()
        .flat_map(|e| e.reasons.iter().copied())
        .collect();
    reasons.sort();
    reasons.dedup();
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn group(id: &str, lat: f64, lon: f64, skills: &[Skill]) -> GroupView {
        GroupView {
            id: id.into(),
            location: GeoPoint::new(lat, lon).unwrap(),
            radius_km: 0.0,
            skills: skills.to_vec(),
            availability: Availability::Available,
            capacity: 1,
            active_assignments: 0,
        }
    }

    #[test]
    fn picks_the_nearest_group_with_the_skill() {
        // Talgar, Issyk and Kaskelen around Almaty (gazetteer coordinates).
        let almaty = GeoPoint::new(43.25654, 76.92848).unwrap();
        let groups = [
            group("groups/talgar", 43.30348, 77.24085, &[Skill::SocialCare]),
            group("groups/issyk", 43.3552, 77.45245, &[Skill::SearchRescue]),
            group(
                "groups/kaskelen",
                43.19839,
                76.63099,
                &[Skill::SearchRescue],
            ),
        ];
        let need = Need {
            location: almaty,
            skills: &[Skill::SearchRescue],
            excluded: &[],
        };
        let ranked = evaluate(&need, &groups);
        assert_eq!(ranked[0].group, "groups/kaskelen");
        assert!(ranked[0].is_eligible());
        assert_eq!(ranked[2].group, "groups/talgar");
        assert_eq!(ranked[2].reasons, vec![IneligibleReason::MissingSkill]);
    }

    #[test]
    fn busy_full_and_far_groups_are_not_eligible() {
        let here = GeoPoint::new(43.25654, 76.92848).unwrap();
        let mut busy = group("groups/a", 43.26, 76.93, &[]);
        busy.availability = Availability::Busy;
        let mut full = group("groups/b", 43.26, 76.93, &[]);
        full.active_assignments = 1;
        let mut far = group("groups/c", 51.18924, 71.43209, &[]);
        far.radius_km = 50.0;
        let need = Need {
            location: here,
            skills: &[],
            excluded: &[],
        };
        let ranked = evaluate(&need, &[busy, full, far]);
        assert!(ranked.iter().all(|e| !e.is_eligible()));
        assert_eq!(
            escalation_reasons(&ranked),
            vec![
                IneligibleReason::OutsideServiceArea,
                IneligibleReason::NotAvailable,
                IneligibleReason::NoCapacity
            ]
        );
    }

    proptest! {
        #[test]
        fn first_eligible_is_the_minimum_distance(
            pts in proptest::collection::vec((40.5f64..55.5, 46.4f64..87.4, any::<bool>()), 1..40),
            at in (40.5f64..55.5, 46.4f64..87.4),
        ) {
            let groups: Vec<GroupView> = pts.iter().enumerate().map(|(i, (lat, lon, skilled))| {
                let skills = if *skilled { vec![Skill::VehicleCargo] } else { vec![] };
                group(&format!("groups/{i:03}"), *lat, *lon, &skills)
            }).collect();
            let location = GeoPoint::new(at.0, at.1).unwrap();
            let need = Need { location, skills: &[Skill::VehicleCargo], excluded: &[] };
            let ranked = evaluate(&need, &groups);
            let best = groups.iter().filter(|g| g.skills.contains(&Skill::VehicleCargo))
                .map(|g| location.distance_m(g.location)).fold(f64::INFINITY, f64::min);
            match ranked.first().filter(|e| e.is_eligible()) {
                Some(e) => prop_assert_eq!(e.distance_m, best),
                None => prop_assert!(best.is_infinite()),
            }
        }
    }
}
