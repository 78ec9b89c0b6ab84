//! A request as intake validated it, and as it is stored.

use chrono::{DateTime, Utc};
use komek_core::standing::{AssignmentFact, Facts};
use komek_core::waiting::{self, WaitingState};
use komek_core::{
    AssignmentStatus, Category, Channel, GeoPoint, Language, Priority, RequestStatus,
};
use uuid::Uuid;

/// A validated CreateRequest.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub id: Uuid,
    pub idempotency_key: Uuid,
    pub caller: Option<SealedCaller>,
    pub channel: Channel,
    pub anonymous: bool,
    pub language: Option<Language>,
    pub point: Option<GeoPoint>,
    pub address: String,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub description: String,
    pub volunteer_note: String,
    pub operator_category: Option<Category>,
    pub operator_priority: Option<Priority>,
    pub people_count: i32,
    pub quantity: Option<(f64, String)>,
    pub wanted_start: Option<DateTime<Utc>>,
    pub wanted_end: Option<DateTime<Utc>>,
}

/// Caller name and phone as stored: encrypted, with the key id and the phone's blind index.
#[derive(Debug, Clone)]
pub struct SealedCaller {
    pub name: Option<Vec<u8>>,
    pub phone: Option<Vec<u8>>,
    pub key_id: String,
    pub blind_index: Option<Vec<u8>>,
}

/// What RevealCaller hands the volunteer of an accepted assignment: the caller's contact,
/// read in the statement that records the reveal.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallerContact {
    pub id: Uuid,
    pub caller_anonymous: bool,
    pub caller_language: i16,
    pub address: String,
    pub caller_name_enc: Option<Vec<u8>>,
    pub caller_phone_enc: Option<Vec<u8>>,
    pub caller_key_id: Option<String>,
}

/// A stored request, column for column.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct RequestRow {
    pub id: Uuid,
    pub reference_code: String,
    pub channel: i16,
    pub caller_anonymous: bool,
    pub caller_language: i16,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: String,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub description: String,
    pub volunteer_note: String,
    pub operator_category: i16,
    pub operator_priority: i16,
    pub people_count: i32,
    pub quantity_value: Option<f64>,
    pub quantity_unit: String,
    pub wanted_start: Option<DateTime<Utc>>,
    pub wanted_end: Option<DateTime<Utc>>,
    pub status: i16,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub possible_duplicate_of: Option<Uuid>,
    pub assignment_id: Option<Uuid>,
    pub assignment_group: String,
    pub assignment_group_name: String,
    pub assignment_status: i16,
    pub assignment_distance_m: f64,
    pub assignment_expire_at: Option<DateTime<Utc>>,
    pub assignment_updated_at: Option<DateTime<Utc>>,
    pub cancel_reason: String,
    pub outcome: i16,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub caller_name_enc: Option<Vec<u8>>,
    pub caller_phone_enc: Option<Vec<u8>>,
    pub caller_key_id: Option<String>,
    pub caller_blind_index: Option<Vec<u8>>,
    pub merged_into: Option<Uuid>,
    /// Organisations whose groups were offered the request (partner scope).
    pub organizations: Vec<Uuid>,
    pub triaged_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The last alert of a wait past its limit: when that wait began, the alerts so far and
    /// the limit (see [`RequestRow::waiting`]).
    pub waiting_since: Option<DateTime<Utc>>,
    pub waiting_alerts: i32,
    pub waiting_limit_secs: i32,
    /// When the matcher judges again a request that waits for office hours.
    pub deferred_until: Option<DateTime<Utc>>,
    /// When the caller identity, address and notes were erased, by whom, why.
    pub erased_at: Option<DateTime<Utc>>,
    pub erased_by: String,
    pub erase_reason: String,
    /// When the request was first accepted, and resolved: partners' statistics.
    pub assigned_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The organisation of the latest assignment's group, and its name as the offer said it.
    pub assignment_organization: Option<Uuid>,
    pub assignment_organization_name: String,
}

/// The columns of [`RequestRow`], for the statements that read one. `*` would also ship what
/// no reader of the row uses, above all the create payload (the whole CreateRequest again,
/// kept for a retry's comparison), on every read of the hot path: a creation's `RETURNING`,
/// the status consumer's locks, matching's `BatchGetRequests`. A string literal, so that
/// `concat!` makes whole statements of it.
macro_rules! request_columns {
    () => {
        concat!(
            "id, reference_code, channel, caller_anonymous, caller_language, lat, lon, ",
            "address, settlement, district, region, description, volunteer_note, ",
            "operator_category, operator_priority, people_count, quantity_value, ",
            "quantity_unit, wanted_start, wanted_end, status, category, priority, ",
            "required_skills, possible_duplicate_of, assignment_id, assignment_group, ",
            "assignment_group_name, assignment_status, assignment_distance_m, ",
            "assignment_expire_at, assignment_updated_at, cancel_reason, outcome, ",
            "created_at, updated_at, version, caller_name_enc, caller_phone_enc, ",
            "caller_key_id, caller_blind_index, merged_into, organizations, triaged_at, ",
            "escalated_at, closed_at, waiting_since, waiting_alerts, waiting_limit_secs, ",
            "deferred_until, erased_at, erased_by, erase_reason, assigned_at, resolved_at, ",
            "assignment_organization, assignment_organization_name"
        )
    };
}
pub(crate) use request_columns;

/// The latest offer or assignment of a request, as the matcher reported it.
pub struct AssignmentUpdate<'a> {
    pub assignment_id: Uuid,
    pub group: &'a str,
    pub group_name: Option<&'a str>,
    pub status: i16,
    pub distance_m: Option<f64>,
    pub expire_at: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// The group's organisation, on offers: it joins the request's partner scope.
    pub organization: Option<Uuid>,
    /// The organisation's name, when the event says it.
    pub organization_name: Option<&'a str>,
}

/// What intake's consumer changes in a stored request, in memory: it reads the requests a
/// batch of events touches, applies the events in order, and writes each changed one back
/// once (`store::save`). `now` is the transaction's time, which the database would have used.
impl RequestRow {
    /// Triage's verdict.
    pub fn set_triage(
        &mut self,
        category: i16,
        priority: i16,
        skills: Vec<i16>,
        possible_duplicate_of: Option<Uuid>,
        now: DateTime<Utc>,
    ) {
        self.category = category;
        self.priority = priority;
        self.required_skills = skills;
        self.possible_duplicate_of = possible_duplicate_of;
        self.touch(now);
    }

    /// The facts heard besides the assignment (kept by [`Self::set_assignment`]).
    pub fn set_facts(&mut self, facts: &Facts) {
        self.triaged_at = facts.triaged_at;
        self.escalated_at = facts.escalated_at;
        self.closed_at = facts.closed.map(|(_, at)| at);
    }

    /// Moves the request to `next`. The first acceptance and the resolution are timestamped
    /// for partners' statistics; a request heard of only once it was under way counts as
    /// accepted then.
    pub fn move_to(&mut self, next: RequestStatus, now: DateTime<Utc>) {
        self.status = next.code() as i16;
        if matches!(
            next,
            RequestStatus::Assigned | RequestStatus::InProgress | RequestStatus::Resolved
        ) {
            self.assigned_at = self.assigned_at.or(Some(now));
        }
        if next == RequestStatus::Resolved {
            self.resolved_at = Some(now);
        }
        self.touch(now);
    }

    /// The latest offer or assignment; its group's organisation joins the partner scope.
    pub fn set_assignment(&mut self, a: &AssignmentUpdate<'_>, now: DateTime<Utc>) {
        self.assignment_id = Some(a.assignment_id);
        self.assignment_group = a.group.to_string();
        if let Some(name) = a.group_name {
            self.assignment_group_name = name.to_string();
        }
        self.assignment_status = a.status;
        if let Some(d) = a.distance_m {
            self.assignment_distance_m = d;
        }
        self.assignment_expire_at = (a.status == AssignmentStatus::Offered.code() as i16)
            .then_some(a.expire_at)
            .flatten();
        self.assignment_updated_at = Some(a.at);
        if a.organization.is_some() {
            self.widen_scope(a.organization);
            self.assignment_organization = a.organization;
            self.assignment_organization_name = a.organization_name.unwrap_or("").to_string();
        }
        self.touch(now);
    }

    /// Adds an organisation whose group was offered the request to its partner scope;
    /// whether it was new.
    pub fn widen_scope(&mut self, organization: Option<Uuid>) -> bool {
        match organization {
            Some(org) if !self.organizations.contains(&org) => {
                self.organizations.push(org);
                true
            }
            _ => false,
        }
    }

    /// The matcher will judge the request again at `until`, when an office opens.
    pub fn set_deferred(&mut self, until: DateTime<Utc>, now: DateTime<Utc>) {
        self.deferred_until = Some(until);
        self.touch(now);
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
        self.version += 1;
    }
}

impl RequestRow {
    /// The state the request waits in and since when, if it waits on anyone.
    pub fn waiting(&self) -> Option<(WaitingState, DateTime<Utc>)> {
        waiting::waiting(
            self.status(),
            AssignmentStatus::from_stored(self.assignment_status),
            waiting::Times {
                created: self.created_at,
                triaged: self.triaged_at,
                escalated: self.escalated_at,
                assignment_changed: self.assignment_updated_at,
                deferred_until: self.deferred_until,
            },
        )
    }

    /// The current wait, when it has been alerted: its state, start, limit and alerts.
    pub fn waiting_too_long(&self) -> Option<(WaitingState, DateTime<Utc>, i32, i32)> {
        let (state, since) = self.waiting()?;
        (self.waiting_since == Some(since) && self.waiting_alerts > 0).then_some((
            state,
            since,
            self.waiting_limit_secs,
            self.waiting_alerts,
        ))
    }

    /// When a request that waits for an office to open will be offered.
    pub fn dispatch_time(&self) -> Option<DateTime<Utc>> {
        self.deferred_until
            .filter(|_| self.status() == RequestStatus::Triaged)
    }

    /// The category and priority a request is judged by: triage's, else the operator's.
    pub fn judged(&self) -> (Option<Category>, Option<Priority>) {
        let pick = |decided: i16, given: i16| if decided != 0 { decided } else { given };
        (
            Category::from_code(pick(self.category, self.operator_category).into()),
            Priority::from_code(pick(self.priority, self.operator_priority).into()),
        )
    }

    /// The stored status; a code this build does not know reads as new.
    pub fn status(&self) -> RequestStatus {
        RequestStatus::from_code(self.status.into()).unwrap_or(RequestStatus::New)
    }

    /// What has been heard about the request, as stored.
    pub fn facts(&self) -> Facts {
        let assignment = match (self.assignment_id, self.assignment_updated_at) {
            (Some(id), Some(at)) => {
                AssignmentStatus::from_stored(self.assignment_status).map(|status| AssignmentFact {
                    id: id.as_u128(),
                    status,
                    at,
                })
            }
            _ => None,
        };
        let closed = self
            .closed_at
            .map(|at| (self.status(), at))
            .filter(|(s, _)| matches!(s, RequestStatus::Cancelled | RequestStatus::Merged));
        Facts {
            triaged_at: self.triaged_at,
            escalated_at: self.escalated_at,
            assignment,
            closed,
        }
    }
}

/// Filters of ListRequests, already validated.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<i16>,
    pub categories: Vec<i16>,
    pub priorities: Vec<i16>,
    pub region: String,
    pub district: String,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub text: String,
    /// Only requests whose current wait has been alerted.
    pub waiting_too_long: bool,
    /// Keyset position: rows strictly older than this (created_at, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
    pub scope: Scope,
}

/// The fields of a Request a read returns (BatchGetRequests' `read_mask`), by their names in
/// the API's Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    All,
    /// These, and the name.
    Only(std::collections::BTreeSet<&'static str>),
}

impl Fields {
    /// Every top-level field of the API's Request, as a read mask names it.
    pub const NAMES: &'static [&'static str] = &[
        "name",
        "reference_code",
        "channel",
        "caller",
        "location",
        "description",
        "operator_category",
        "operator_priority",
        "people_count",
        "quantity",
        "wanted_window",
        "status",
        "triage",
        "assignment",
        "merged_into",
        "cancel_reason",
        "outcome",
        "create_time",
        "update_time",
        "etag",
        "volunteer_note",
        "waiting",
        "dispatch_time",
        "erasure",
        "caller_blind_index",
    ];

    /// What [`NotesRow`] holds: a read of only these need not read or convert whole rows.
    const WORDS: &'static [&'static str] = &[
        "name",
        "description",
        "volunteer_note",
        "caller_blind_index",
    ];

    pub fn has(&self, field: &str) -> bool {
        match self {
            Fields::All => true,
            Fields::Only(names) => field == "name" || names.contains(field),
        }
    }

    /// Whether every field asked for is in [`NotesRow`].
    pub fn words_only(&self) -> bool {
        match self {
            Fields::All => false,
            Fields::Only(names) => names.iter().all(|n| Self::WORDS.contains(n)),
        }
    }
}

/// A request's words (what triage and matching read of it, events carrying none), with what a
/// scope is judged by.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotesRow {
    pub id: Uuid,
    pub region: String,
    pub organizations: Vec<Uuid>,
    pub description: String,
    pub volunteer_note: String,
    pub caller_blind_index: Option<Vec<u8>>,
}

/// Which requests a principal may see.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Scope {
    #[default]
    All,
    /// A partner: requests its organisation's groups were offered, and requests in its regions.
    Partner {
        organization: Uuid,
        regions: Vec<String>,
    },
    /// A regional dispatcher: requests in its regions.
    Regions(Vec<String>),
}

impl Scope {
    pub fn covers(&self, row: &RequestRow) -> bool {
        self.covers_place(&row.region, &row.organizations)
    }

    /// Whether it covers a request in `region` offered to `organizations`.
    pub fn covers_place(&self, region: &String, organizations: &[Uuid]) -> bool {
        match self {
            Scope::All => true,
            Scope::Partner {
                organization,
                regions,
            } => organizations.contains(organization) || regions.contains(region),
            Scope::Regions(regions) => regions.contains(region),
        }
    }

    /// What SQL filters on: whether the scope limits at all, the organisation whose offered
    /// requests it covers (if any), and the regions it covers.
    pub fn sql_args(&self) -> (bool, Option<Uuid>, Vec<String>) {
        match self {
            Scope::All => (false, None, Vec::new()),
            Scope::Partner {
                organization,
                regions,
            } => (true, Some(*organization), regions.clone()),
            Scope::Regions(regions) => (true, None, regions.clone()),
        }
    }

    /// The scope of `principal` among operators: all requests, or a regional dispatcher's.
    pub fn of_operator(principal: &komek_runtime::auth::Principal) -> Self {
        match principal.region_limit() {
            Some(regions) => Scope::Regions(regions.to_vec()),
            None => Scope::All,
        }
    }
}

/// A validated CreatePlan.
#[derive(Debug, Clone)]
pub struct NewPlan {
    pub id: Uuid,
    pub idempotency_key: Uuid,
    pub display_name: String,
    pub organization: Option<Uuid>,
    pub region: String,
    /// The plan as given, without its stops (komek.intake.v1.Plan, encoded).
    pub template: Vec<u8>,
    pub stops: Vec<NewPlanStop>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct NewPlanStop {
    pub id: Uuid,
    /// The stop without the caller's name and phone (komek.intake.v1.PlanStop, encoded).
    pub stop: Vec<u8>,
    pub caller: Option<SealedCaller>,
}

/// A stored plan, column for column.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRow {
    pub id: Uuid,
    pub display_name: String,
    pub organization_id: Option<Uuid>,
    pub region: String,
    pub template: Vec<u8>,
    pub next_run_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub pause_reason: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanStopRow {
    pub id: Uuid,
    pub plan_id: Uuid,
    pub stop: Vec<u8>,
    pub caller_name_enc: Option<Vec<u8>>,
    pub caller_phone_enc: Option<Vec<u8>>,
    pub caller_key_id: Option<String>,
    pub last_request_id: Option<Uuid>,
}

/// A plan with its stops.
#[derive(Debug, Clone)]
pub struct Plan {
    pub row: PlanRow,
    pub stops: Vec<PlanStopRow>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRunRow {
    pub stop_id: Uuid,
    pub plan_id: Uuid,
    pub occurrence_at: DateTime<Utc>,
    pub request_id: Option<Uuid>,
    pub reference_code: Option<String>,
    pub skipped_reason: String,
}
