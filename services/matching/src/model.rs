//! The job the matcher places: one triaged request, as `request.triaged` announced it, as the
//! `jobs` table keeps it, or as its last offer carried it.

use komek_core::{GeoPoint, Skill};
use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::place;
use uuid::Uuid;

use crate::store::{self, AssignmentRow};

/// One request to place: from `request.triaged`, or from the last offer of a request whose
/// offer was declined or expired.
#[derive(Debug, Clone)]
pub struct Job {
    pub request_id: Uuid,
    pub reference_code: String,
    pub category: i32,
    pub priority: i32,
    pub required_skills: Vec<i32>,
    pub location: pb::Location,
    /// Tonnes to carry, for vehicle payload checks.
    pub cargo_tonnes: f64,
    /// What the offer tells volunteers, free of personal data.
    pub summary: String,
    pub people_count: i32,
    pub quantity: Option<pb::Quantity>,
    /// Triage was unsure what the request needs: it goes to dispatchers, not to a group. Only
    /// a fresh triage says so; a job a dispatcher moves by hand is theirs to judge.
    pub unclassified: bool,
}

fn quantity(value: f64, unit: &str) -> Option<pb::Quantity> {
    (value > 0.0 || !unit.is_empty()).then(|| pb::Quantity {
        value,
        unit: unit.to_string(),
    })
}

impl Job {
    /// The job of a triaged request; `summary` is its volunteer note, read from intake (events
    /// do not carry it).
    pub fn from_triaged(t: &ev::RequestTriaged, request_id: Uuid, summary: String) -> Self {
        Self {
            request_id,
            reference_code: t.reference_code.clone(),
            category: t.category,
            priority: t.priority,
            required_skills: t.required_skills.clone(),
            location: t.location.clone().unwrap_or_default(),
            cargo_tonnes: t.cargo_tonnes,
            summary,
            people_count: t.people_count,
            quantity: t.quantity.clone(),
            unclassified: t.unclassified && !t.overridden,
        }
    }

    /// As kept in the `jobs` table.
    pub fn to_row(&self) -> store::JobRow {
        let point = self.location.point;
        store::JobRow {
            request_id: self.request_id,
            reference_code: self.reference_code.clone(),
            category: self.category as i16,
            priority: self.priority as i16,
            required_skills: self.required_skills.iter().map(|s| *s as i16).collect(),
            lat: point.map(|p| p.latitude),
            lon: point.map(|p| p.longitude),
            settlement: self.location.settlement.clone(),
            district: self.location.district.clone(),
            region: self.location.region.clone(),
            cargo_tonnes: self.cargo_tonnes,
            volunteer_note: self.summary.clone(),
            people_count: self.people_count,
            quantity_value: self.quantity.as_ref().map_or(0.0, |q| q.value),
            quantity_unit: self
                .quantity
                .as_ref()
                .map_or(String::new(), |q| q.unit.clone()),
        }
    }

    pub fn from_row(j: &store::JobRow) -> Self {
        Self {
            request_id: j.request_id,
            reference_code: j.reference_code.clone(),
            category: j.category.into(),
            priority: j.priority.into(),
            required_skills: j.required_skills.iter().map(|s| i32::from(*s)).collect(),
            location: place(j.lat, j.lon, &j.settlement, &j.district, &j.region),
            cargo_tonnes: j.cargo_tonnes,
            summary: j.volunteer_note.clone(),
            people_count: j.people_count,
            quantity: quantity(j.quantity_value, &j.quantity_unit),
            unclassified: false,
        }
    }

    /// Where the job is, when it has valid coordinates.
    pub fn point(&self) -> Option<GeoPoint> {
        let p = self.location.point?;
        GeoPoint::new(p.latitude, p.longitude).ok()
    }

    /// The district whose outline holds the job's point ("" without a point, or outside every
    /// outline): what a group covering whole districts is matched against besides the
    /// district the call named.
    pub fn located_district(&self) -> String {
        self.point()
            .and_then(|p| komek_places::admin::Admin::get().locate(p.lat(), p.lon()))
            .map(|d| d.name_en.clone())
            .unwrap_or_default()
    }

    /// The skills it needs that this build knows.
    pub fn skills(&self) -> Vec<Skill> {
        self.required_skills
            .iter()
            .filter_map(|s| Skill::from_code(*s))
            .collect()
    }

    /// The job again, as it was last offered.
    pub fn from_offer(a: &AssignmentRow) -> Self {
        Self {
            request_id: a.request_id,
            reference_code: a.reference_code.clone(),
            category: a.category.into(),
            priority: a.priority.into(),
            required_skills: a.required_skills.iter().map(|s| i32::from(*s)).collect(),
            location: place(
                Some(a.lat),
                Some(a.lon),
                &a.settlement,
                &a.district,
                &a.region,
            ),
            cargo_tonnes: a.cargo_tonnes,
            summary: a.volunteer_note.clone(),
            people_count: a.people_count,
            quantity: quantity(a.quantity_value, &a.quantity_unit),
            unclassified: false,
        }
    }
}
