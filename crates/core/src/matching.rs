//! Choosing the nearest group that can do the job.
//!
//! This is the exact brute-force reference: every group is evaluated, distances are great-circle,
//! ties are broken by group id. An index may prune candidates but must give the same answer.

use chrono::{DateTime, Duration, Utc};

use crate::schedule::Schedule;
use crate::{Availability, GeoPoint, IneligibleReason, Skill};

/// A skill a group has, with what qualifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct SkillGrant {
    pub skill: Skill,
    /// When the certification behind the skill lapses; `None` never.
    pub certified_until: Option<DateTime<Utc>>,
    /// For vehicle cargo: tonnes the vehicle carries; zero when not stated.
    pub payload_tonnes: f64,
}

impl SkillGrant {
    pub fn plain(skill: Skill) -> Self {
        Self {
            skill,
            certified_until: None,
            payload_tonnes: 0.0,
        }
    }
}

/// What the matcher knows of a group at decision time.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Resource name, also the tie-breaker.
    pub id: String,
    /// Where the group is based; its service area is measured from here.
    pub base: GeoPoint,
    /// Where the group reported itself last, and when. Distance is measured from here when
    /// set (a mobile team), otherwise from the base.
    pub last_location: Option<(GeoPoint, DateTime<Utc>)>,
    /// Zero means no radius limit (unless `districts` restricts the area).
    pub radius_km: f64,
    /// Districts covered in addition to the radius.
    pub districts: Vec<String>,
    pub skills: Vec<SkillGrant>,
    pub availability: Availability,
    pub capacity: u32,
    pub active_assignments: u32,
    /// `None`: always on duty.
    pub schedule: Option<Schedule>,
    /// When the group's organisation takes non-urgent work; `None`: always.
    pub office_hours: Option<Schedule>,
    /// The end of the rest period after the group's last job.
    pub rest_until: Option<DateTime<Utc>>,
}

impl GroupView {
    /// Where distance is measured from.
    pub fn position(&self) -> GeoPoint {
        self.last_location.map_or(self.base, |(p, _)| p)
    }
}

/// What a request needs.
#[derive(Debug, Clone)]
pub struct Need<'a> {
    pub location: GeoPoint,
    /// District of the request as given, for groups that cover whole districts.
    pub district: &'a str,
    /// The district whose outline holds the request's point (empty when unknown): a group
    /// that covers a district covers every point inside it, however the call named the place.
    pub located_district: &'a str,
    pub skills: &'a [Skill],
    /// Tonnes to carry; zero when nothing is moved.
    pub cargo_tonnes: f64,
    /// Groups that already declined or let an offer to this request expire.
    pub excluded: &'a [String],
    /// Groups the database found at capacity during this decision.
    pub at_capacity: &'a [String],
    /// Groups the database found resting after a job during this decision.
    pub resting: &'a [String],
    /// The moment of the decision.
    pub now: DateTime<Utc>,
    /// A reported location older than this makes a group ineligible.
    pub max_location_age: Duration,
    /// Urgent enough to call a group outside its organisation's office hours.
    pub urgent: bool,
    /// Each group's service radius stretched by this much: 1 normally, more in the later rounds
    /// of a wide search (see [`crate::wide`]). Districts named as an area do not stretch.
    pub area_factor: f64,
}

/// One group as the matcher judged it.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub group: String,
    pub distance_m: f64,
    /// Empty when the group is eligible.
    pub reasons: Vec<IneligibleReason>,
    /// When office hours are all that keeps the group out: when its organisation opens.
    pub office_opens: Option<DateTime<Utc>>,
}

impl Evaluation {
    pub fn is_eligible(&self) -> bool {
        self.reasons.is_empty()
    }
}

fn same_district(a: &str, b: &str) -> bool {
    !a.trim().is_empty() && a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Whether the request lies in the group's service area.
fn in_area(group: &GroupView, need: &Need<'_>) -> bool {
    let by_district = group
        .districts
        .iter()
        .any(|d| same_district(d, need.district) || same_district(d, need.located_district));
    if group.radius_km <= 0.0 {
        // No radius: anywhere, unless the group named districts, which then are its area.
        return group.districts.is_empty() || by_district;
    }
    by_district
        || need.location.distance_m(group.base) <= group.radius_km * 1000.0 * need.area_factor
}

/// Every reason `group` cannot take `need`; empty when it can.
pub fn ineligibility(group: &GroupView, need: &Need<'_>) -> Vec<IneligibleReason> {
    let mut reasons = Vec::new();
    if need.excluded.contains(&group.id) {
        reasons.push(IneligibleReason::AlreadyDeclined);
    }
    if group.availability != Availability::Available {
        reasons.push(IneligibleReason::NotAvailable);
    }
    if group.active_assignments >= group.capacity || need.at_capacity.contains(&group.id) {
        reasons.push(IneligibleReason::NoCapacity);
    }
    let mut missing = false;
    let mut expired = false;
    let mut payload = false;
    for skill in need.skills {
        match group.skills.iter().find(|g| g.skill == *skill) {
            None => missing = true,
            Some(g) => {
                if g.certified_until.is_some_and(|until| until <= need.now) {
                    expired = true;
                }
                if *skill == Skill::VehicleCargo
                    && need.cargo_tonnes > 0.0
                    && g.payload_tonnes > 0.0
                    && g.payload_tonnes < need.cargo_tonnes
                {
                    payload = true;
                }
            }
        }
    }
    if missing {
        reasons.push(IneligibleReason::MissingSkill);
    }
    if expired {
        reasons.push(IneligibleReason::CertificationExpired);
    }
    if payload {
        reasons.push(IneligibleReason::InsufficientPayload);
    }
    if !in_area(group, need) {
        reasons.push(IneligibleReason::OutsideServiceArea);
    }
    if group
        .schedule
        .as_ref()
        .is_some_and(|s| !s.on_duty(need.now))
    {
        reasons.push(IneligibleReason::OffShift);
    }
    if !need.urgent
        && group
            .office_hours
            .as_ref()
            .is_some_and(|s| !s.on_duty(need.now))
    {
        reasons.push(IneligibleReason::OfficeClosed);
    }
    if group
        .last_location
        .is_some_and(|(_, at)| need.now - at > need.max_location_age)
    {
        reasons.push(IneligibleReason::StaleLocation);
    }
    if group.rest_until.is_some_and(|until| until > need.now) || need.resting.contains(&group.id) {
        reasons.push(IneligibleReason::Resting);
    }
    reasons
}

/// Judges one group.
pub fn judge(group: &GroupView, need: &Need<'_>) -> Evaluation {
    judge_at(group, need, need.location.distance_m(group.position()))
}

/// Judges one group whose distance from the request is known already (the nearest-group search
/// has measured it to order its answers): `distance_m` must be
/// `need.location.distance_m(group.position())`.
pub fn judge_at(group: &GroupView, need: &Need<'_>, distance_m: f64) -> Evaluation {
    let reasons = ineligibility(group, need);
    let office_opens = if reasons == [IneligibleReason::OfficeClosed] {
        group
            .office_hours
            .as_ref()
            .and_then(|s| s.next_on_duty(need.now))
    } else {
        None
    };
    Evaluation {
        group: group.id.clone(),
        distance_m,
        reasons,
        office_opens,
    }
}

/// Every group judged, eligible ones first, each part ordered by distance then id.
pub fn evaluate(need: &Need<'_>, groups: &[GroupView]) -> Vec<Evaluation> {
    let mut out: Vec<Evaluation> = groups.iter().map(|g| judge(g, need)).collect();
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

/// When nobody is eligible, whether the request should wait for an office to open rather than
/// go to dispatchers: some group fails only because its organisation is closed. Then the
/// earliest time one of those opens; at that time the request is judged again.
pub fn deferral(evaluations: &[Evaluation], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if evaluations.iter().any(Evaluation::is_eligible) {
        return None;
    }
    evaluations
        .iter()
        .filter(|e| e.reasons == [IneligibleReason::OfficeClosed])
        .filter_map(|e| e.office_opens)
        .filter(|at| *at > now)
        .min()
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
pub(crate) mod tests {
    use super::*;
    use crate::schedule::{Schedule, Shift, zone};
    use chrono::TimeZone;
    use proptest::prelude::*;

    pub(crate) fn group(id: &str, lat: f64, lon: f64, skills: &[Skill]) -> GroupView {
        GroupView {
            id: id.into(),
            base: GeoPoint::new(lat, lon).unwrap(),
            last_location: None,
            radius_km: 0.0,
            districts: vec![],
            skills: skills.iter().map(|s| SkillGrant::plain(*s)).collect(),
            availability: Availability::Available,
            capacity: 1,
            active_assignments: 0,
            schedule: None,
            office_hours: None,
            rest_until: None,
        }
    }

    /// Monday 2026-11-23, 12:00 in Almaty.
    pub(crate) fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 7, 0, 0).unwrap()
    }

    pub(crate) fn need<'a>(location: GeoPoint, skills: &'a [Skill]) -> Need<'a> {
        Need {
            location,
            district: "",
            located_district: "",
            skills,
            cargo_tonnes: 0.0,
            excluded: &[],
            at_capacity: &[],
            resting: &[],
            now: noon(),
            max_location_age: Duration::minutes(30),
            urgent: false,
            area_factor: 1.0,
        }
    }

    // Coordinates from crates/places/data/kz_settlements.csv. Data from Who's On First
    // (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0, geonames.org) and
    // Quattroshapes (CC-BY).
    fn almaty() -> GeoPoint {
        GeoPoint::new(43.25654, 76.92848).unwrap()
    }

    #[test]
    fn picks_the_nearest_group_with_the_skill() {
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
        let ranked = evaluate(&need(almaty(), &[Skill::SearchRescue]), &groups);
        assert_eq!(ranked[0].group, "groups/kaskelen");
        assert!(ranked[0].is_eligible());
        assert_eq!(ranked[2].group, "groups/talgar");
        assert_eq!(ranked[2].reasons, vec![IneligibleReason::MissingSkill]);
    }

    #[test]
    fn a_closed_office_defers_a_request_only_when_nothing_else_stands_in_the_way() {
        // Weekdays from 14:00 in Almaty; noon() is a Monday at 12:00.
        let after_lunch = Schedule {
            zone: zone("Asia/Almaty").unwrap(),
            weekly: (1..=5)
                .map(|day| Shift {
                    day,
                    start_min: 14 * 60,
                    end_min: 18 * 60,
                })
                .collect(),
            exceptions: vec![],
        };
        let mut office = group("groups/office", 43.26, 76.93, &[Skill::SocialCare]);
        office.office_hours = Some(after_lunch);
        let at_two = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let social = [Skill::SocialCare];
        let ranked = evaluate(&need(almaty(), &social), std::slice::from_ref(&office));
        assert_eq!(ranked[0].reasons, [IneligibleReason::OfficeClosed]);
        assert_eq!(deferral(&ranked, noon()), Some(at_two));

        // Urgent enough: the office's hours do not apply.
        let urgent = Need {
            urgent: true,
            ..need(almaty(), &social)
        };
        assert!(evaluate(&urgent, std::slice::from_ref(&office))[0].is_eligible());

        // Closed and also lacking the skill: opening would not help, so no deferral.
        let search = [Skill::SearchRescue];
        let ranked = evaluate(&need(almaty(), &search), std::slice::from_ref(&office));
        assert_eq!(deferral(&ranked, noon()), None);

        // Someone can go now: no deferral either.
        let open = group("groups/open", 43.5, 77.5, &[Skill::SocialCare]);
        let ranked = evaluate(&need(almaty(), &social), &[office, open]);
        assert_eq!(deferral(&ranked, noon()), None);
    }

    #[test]
    fn a_district_area_covers_the_district_named_or_the_one_that_holds_the_point() {
        let mut g = group("groups/kegen", 43.25, 76.95, &[]);
        g.districts = vec!["Raiymbekskiy".into()];
        let named = Need {
            district: "raiymbekskiy",
            ..need(almaty(), &[])
        };
        assert!(evaluate(&named, std::slice::from_ref(&g))[0].is_eligible());
        let located = Need {
            district: "Кеген ауданы",
            located_district: "Raiymbekskiy",
            ..need(almaty(), &[])
        };
        assert!(evaluate(&located, std::slice::from_ref(&g))[0].is_eligible());
        let elsewhere = Need {
            district: "Talgarskiy",
            located_district: "Talgarskiy",
            ..need(almaty(), &[])
        };
        assert_eq!(
            evaluate(&elsewhere, &[g])[0].reasons,
            [IneligibleReason::OutsideServiceArea]
        );
    }

    #[test]
    fn busy_full_and_far_groups_are_not_eligible() {
        let mut busy = group("groups/a", 43.26, 76.93, &[]);
        busy.availability = Availability::Busy;
        let mut full = group("groups/b", 43.26, 76.93, &[]);
        full.active_assignments = 1;
        let mut far = group("groups/c", 51.18924, 71.43209, &[]);
        far.radius_km = 50.0;
        let ranked = evaluate(&need(almaty(), &[]), &[busy, full, far]);
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

    #[test]
    fn expired_certifications_and_small_vehicles_do_not_qualify() {
        let mut g = group(
            "groups/a",
            43.26,
            76.93,
            &[Skill::VehicleCargo, Skill::FirstAid],
        );
        g.skills[1].certified_until = Some(noon() - Duration::days(1));
        g.skills[0].payload_tonnes = 1.5;
        let mut n = need(almaty(), &[Skill::VehicleCargo]);
        n.cargo_tonnes = 2.0;
        assert_eq!(
            ineligibility(&g, &n),
            vec![IneligibleReason::InsufficientPayload]
        );
        n.cargo_tonnes = 1.0;
        assert!(ineligibility(&g, &n).is_empty());
        let n = need(almaty(), &[Skill::FirstAid]);
        assert_eq!(
            ineligibility(&g, &n),
            vec![IneligibleReason::CertificationExpired]
        );
        g.skills[1].certified_until = Some(noon() + Duration::days(1));
        assert!(ineligibility(&g, &n).is_empty());
    }

    #[test]
    fn districts_extend_or_define_the_area() {
        let mut g = group("groups/a", 51.18924, 71.43209, &[]); // Astana
        g.radius_km = 30.0;
        g.districts = vec!["Talgarskiy".into()];
        let mut n = need(almaty(), &[]);
        assert_eq!(
            ineligibility(&g, &n),
            vec![IneligibleReason::OutsideServiceArea]
        );
        n.district = "talgarskiy";
        assert!(
            ineligibility(&g, &n).is_empty(),
            "a named district is covered"
        );
        g.radius_km = 0.0;
        n.district = "Karasayskiy";
        assert_eq!(
            ineligibility(&g, &n),
            vec![IneligibleReason::OutsideServiceArea]
        );
    }

    #[test]
    fn off_shift_stale_and_resting_groups_wait() {
        let mut g = group("groups/a", 43.26, 76.93, &[]);
        g.schedule = Some(Schedule {
            zone: zone("Asia/Almaty").unwrap(),
            weekly: vec![Shift {
                day: 1,
                start_min: 18 * 60,
                end_min: 23 * 60,
            }],
            exceptions: vec![],
        });
        g.last_location = Some((almaty(), noon() - Duration::hours(2)));
        g.rest_until = Some(noon() + Duration::minutes(10));
        assert_eq!(
            ineligibility(&g, &need(almaty(), &[])),
            vec![
                IneligibleReason::OffShift,
                IneligibleReason::StaleLocation,
                IneligibleReason::Resting
            ]
        );
    }

    #[test]
    fn a_reported_location_is_where_distance_is_measured_from() {
        let mut g = group("groups/a", 51.18924, 71.43209, &[]);
        g.last_location = Some((almaty(), noon() - Duration::minutes(5)));
        let e = judge(&g, &need(almaty(), &[]));
        assert!(e.distance_m < 1.0);
        assert!(e.is_eligible());
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
            let ranked = evaluate(&need(location, &[Skill::VehicleCargo]), &groups);
            let best = groups.iter()
                .filter(|g| g.skills.iter().any(|s| s.skill == Skill::VehicleCargo))
                .map(|g| location.distance_m(g.base)).fold(f64::INFINITY, f64::min);
            match ranked.first().filter(|e| e.is_eligible()) {
                Some(e) => prop_assert_eq!(e.distance_m, best),
                None => prop_assert!(best.is_infinite()),
            }
        }
    }
}
