//! Roster records as validated and as stored.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub key: Uuid,
    pub display_name: String,
    pub kind: i16,
    pub regions: Vec<String>,
    pub contact_email: String,
    pub office_hours: Option<Vec<u8>>,
}

/// An organisation's display name, regions, contact e-mail and office hours, checked.
#[derive(Debug, Clone)]
pub struct OrganizationFields {
    pub display_name: String,
    pub regions: Vec<String>,
    pub contact_email: String,
    /// Encoded WeeklySchedule; `None`: always open.
    pub office_hours: Option<Vec<u8>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganizationRow {
    pub id: Uuid,
    pub display_name: String,
    pub kind: i16,
    pub regions: Vec<String>,
    pub contact_email: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// Encoded WeeklySchedule; `None`: always open.
    pub office_hours: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub struct SkillEntry {
    pub skill: i16,
    pub certified_until: Option<DateTime<Utc>>,
    pub payload_tonnes: f64,
}

/// A group's fields as CreateGroup, UpdateGroup and every row of an import check them.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub organization_id: Uuid,
    pub display_name: String,
    pub lat: f64,
    pub lon: f64,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub radius_km: f64,
    pub districts: Vec<String>,
    pub skills: Vec<SkillEntry>,
    pub languages: Vec<i16>,
    pub capacity: i32,
    pub schedule: Option<Vec<u8>>,
    pub availability: i16,
    pub rest_minutes: i32,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub display_name: String,
    pub lat: f64,
    pub lon: f64,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub radius_km: f64,
    pub districts: Vec<String>,
    pub skills: Vec<i16>,
    pub skill_certified_until: Vec<Option<DateTime<Utc>>>,
    pub skill_payload_tonnes: Vec<f64>,
    pub languages: Vec<i16>,
    pub capacity: i32,
    pub schedule: Option<Vec<u8>>,
    pub availability: i16,
    pub last_lat: Option<f64>,
    pub last_lon: Option<f64>,
    pub last_location_at: Option<DateTime<Utc>>,
    pub rest_minutes: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub deactivation_reason: String,
    /// Its organisation's office hours, encoded (see [`OrganizationRow::office_hours`]).
    pub office_hours: Option<Vec<u8>>,
    pub organization_display_name: String,
}

/// A group with its members, as the API and the group-state event show it.
#[derive(Debug, Clone)]
pub struct Group {
    pub row: GroupRow,
    pub members: Vec<Uuid>,
}

#[derive(Debug, Clone)]
pub struct NewVolunteer {
    pub key: Uuid,
    pub display_name: String,
    pub languages: Vec<i16>,
    pub groups: Vec<Uuid>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VolunteerRow {
    pub id: Uuid,
    pub display_name: String,
    pub languages: Vec<i16>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub deactivation_reason: String,
}

#[derive(Debug, Clone)]
pub struct Volunteer {
    pub row: VolunteerRow,
    pub groups: Vec<Uuid>,
}

/// One group as the file describes it, with its members.
#[derive(Debug, Clone)]
pub struct GroupRows {
    pub line: usize,
    pub group: GroupSpec,
    /// The group as written, to compare repeated rows.
    pub api: komek_proto::roster::v1::Group,
    pub volunteers: Vec<ImportedVolunteer>,
}

#[derive(Debug, Clone)]
/// A member as a row of an import names it.
pub struct ImportedVolunteer {
    pub display_name: String,
    pub languages: Vec<i16>,
}

/// Whether the subject a key is for exists: a volunteer or an organisation of this roster.
#[derive(Debug, Clone, Copy)]
pub enum Subject {
    Volunteer(Uuid),
    Organization(Uuid),
    Named,
}

/// An API key as stored: the hash of its secret, never the secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    pub id: Uuid,
    pub display_name: String,
    pub role: i16,
    pub subject: String,
    pub regions: Vec<String>,
    pub secret_hash: Vec<u8>,
    pub expire_at: Option<DateTime<Utc>>,
    pub creator: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: String,
    pub revision: i64,
}

pub struct NewKey {
    pub id: Uuid,
    pub request_id: Uuid,
    pub display_name: String,
    pub role: i16,
    pub subject: String,
    pub regions: Vec<String>,
    pub secret_hash: Vec<u8>,
    pub expire_at: Option<DateTime<Utc>>,
    pub creator: String,
}
