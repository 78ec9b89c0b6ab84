//! IntakeService: validation and conversion at the boundary, errors mapped to gRPC codes here.

use chrono::{DateTime, Utc};
use komek_core::reference::ReferenceCode;
use komek_core::{Category, Channel, GeoPoint, Language, Priority, RequestStatus};
use komek_proto::intake::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::convert::{from_timestamp, name, parse_name, parse_request_id, timestamp};
use komek_runtime::events::Bus;
use komek_runtime::grpc::{FieldViolation, internal, invalid_argument};
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use std::sync::Arc;
use std::time::Duration;

use komek_core::AssignmentStatus;
use komek_runtime::auth::gate::out_of_scope;
use komek_runtime::auth::{self, Principal};

/// How long RevealCaller waits for intake to learn of an accept.
const REVEAL_WAIT: Duration = Duration::from_secs(5);

use crate::ServiceArea;
use crate::model::{ListFilter, NewRequest, RequestRow, SealedCaller};
use crate::pii::{self, Vault};
use crate::store;

const MAX_DESCRIPTION_CHARS: usize = 4000;
const MAX_SHORT_TEXT_CHARS: usize = 200;

pub struct Intake {
    pool: PgPool,
    bus: Bus,
    max_page_size: u32,
    area: Option<ServiceArea>,
    vault: Option<Arc<Vault>>,
}

impl Intake {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        max_page_size: u32,
        area: Option<ServiceArea>,
        vault: Option<Arc<Vault>>,
    ) -> Self {
        Self {
            pool,
            bus,
            max_page_size,
            area,
            vault,
        }
    }

    /// Caller name and phone of a stored request, decrypted.
    fn open_caller(&self, row: &RequestRow) -> (String, String) {
        let (Some(vault), Some(key_id)) = (&self.vault, row.caller_key_id.as_deref()) else {
            return (String::new(), String::new());
        };
        let open = |field: &str, sealed: &Option<Vec<u8>>| -> String {
            let Some(sealed) = sealed else {
                return String::new();
            };
            vault
                .open(key_id, row.id, field, sealed)
                .unwrap_or_else(|err| {
                    // The rest of the request is still useful; the log says which row to check.
                    tracing::error!(request = %row.id, error = %err, "caller data unreadable");
                    String::new()
                })
        };
        (
            open("caller.display_name", &row.caller_name_enc),
            open("caller.phone", &row.caller_phone_enc),
        )
    }

    /// The API view of a stored request for `principal`: caller name and phone decrypted for
    /// those who may see personal data; for others no caller identity and no address.
    fn to_api(&self, row: &RequestRow, principal: &Principal) -> api::Request {
        let mut out = to_api(row);
        if principal.sees_personal_data() {
            if let Some(caller) = out.caller.as_mut() {
                (caller.display_name, caller.phone) = self.open_caller(row);
            }
        } else if let Some(location) = out.location.as_mut() {
            location.address.clear();
        }
        out
    }
}

fn status_of(err: store::Error) -> Status {
    match err {
        store::Error::IdempotencyClash => Status::already_exists(err.to_string()),
        store::Error::NotFound => Status::not_found("request not found"),
        store::Error::NotCancellable(_) | store::Error::EtagMismatch => {
            Status::failed_precondition(err.to_string())
        }
        store::Error::Db(e) => internal(e),
    }
}

#[tonic::async_trait]
impl api::intake_service_server::IntakeService for Intake {
    async fn create_request(
        &self,
        request: Request<api::CreateRequestRequest>,
    ) -> Result<Response<api::Request>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let new = validate_create(&req, self.area.as_ref(), self.vault.as_deref())?;
        let payload = fingerprint(req, self.vault.as_deref());
        let (row, created) = store::create(&self.pool, &new, &payload)
            .await
            .map_err(status_of)?;
        if created {
            self.bus.wake_outbox();
            tracing::info!(request = %row.id, reference = %row.reference_code,
                by = %principal.subject, "request created");
        }
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn get_request(
        &self,
        request: Request<api::GetRequestRequest>,
    ) -> Result<Response<api::Request>, Status> {
        let principal = auth::principal(&request)?;
        let id = parse_name("requests", &request.get_ref().name, "name")
            .map_err(|v| invalid_argument(&[v]))?;
        let row = store::get(&self.pool, id).await.map_err(status_of)?;
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn list_requests(
        &self,
        request: Request<api::ListRequestsRequest>,
    ) -> Result<Response<api::ListRequestsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let filter = validate_list(&req, self.max_page_size)?;
        let rows = store::list(&self.pool, &filter).await.map_err(status_of)?;
        let next_page_token = if rows.len() as i64 == filter.limit {
            rows.last()
                .map(|r| page_token(r.created_at, r.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(api::ListRequestsResponse {
            requests: rows.iter().map(|r| self.to_api(r, &principal)).collect(),
            next_page_token,
        }))
    }

    async fn cancel_request(
        &self,
        request: Request<api::CancelRequestRequest>,
    ) -> Result<Response<api::Request>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.into_inner();
        let mut violations = Vec::new();
        let id = parse_name("requests", &req.name, "name")
            .map_err(|v| violations.push(v))
            .ok();
        let reason = req.reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_DESCRIPTION_CHARS {
            violations.push(FieldViolation::new(
                "reason",
                "a reason of 1 to 4000 characters is required",
            ));
        }
        let etag = if req.etag.is_empty() {
            None
        } else {
            req.etag
                .parse::<i64>()
                .map_err(|_| {
                    violations.push(FieldViolation::new("etag", "not an etag of this request"))
                })
                .ok()
        };
        let Some(id) = id.filter(|_| violations.is_empty()) else {
            return Err(invalid_argument(&violations));
        };
        let row = store::cancel(&self.pool, id, reason, etag, &principal.subject)
            .await
            .map_err(status_of)?;
        self.bus.wake_outbox();
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn find_by_reference(
        &self,
        request: Request<api::FindByReferenceRequest>,
    ) -> Result<Response<api::Request>, Status> {
        let principal = auth::principal(&request)?;
        let code = ReferenceCode::parse(&request.get_ref().reference_code).map_err(|e| {
            invalid_argument(&[FieldViolation::new("reference_code", e.to_string())])
        })?;
        let row = store::find_by_reference(&self.pool, &code)
            .await
            .map_err(status_of)?;
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn reveal_caller(
        &self,
        request: Request<api::RevealCallerRequest>,
    ) -> Result<Response<api::Caller>, Status> {
        let principal = auth::principal(&request)?;
        if !principal.is_service("matching") {
            return Err(out_of_scope(
                "only the matching service reveals callers, for the group that accepted",
            ));
        }
        let req = request.into_inner();
        let mut v = Vec::new();
        let id = parse_name("requests", &req.request, "request")
            .map_err(|e| v.push(e))
            .ok();
        let assignment = parse_name("assignments", &req.assignment, "assignment")
            .map_err(|e| v.push(e))
            .ok();
        parse_name("volunteers", &req.volunteer, "volunteer")
            .map_err(|e| v.push(e))
            .ok();
        let (Some(id), Some(assignment)) = (id, assignment) else {
            return Err(invalid_argument(&v));
        };
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        // Intake learns of the accept from matching's event, a moment after matching committed
        // it; wait that moment rather than refuse a contact that is due.
        let deadline = tokio::time::Instant::now() + REVEAL_WAIT;
        let row = loop {
            let row = store::get(&self.pool, id).await.map_err(status_of)?;
            let accepted = row.assignment_id == Some(assignment)
                && AssignmentStatus::from_code(row.assignment_status.into())
                    .is_some_and(|s| s.holds_contact());
            if accepted {
                break row;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Status::failed_precondition(format!(
                    "{} is not the accepted assignment of {}",
                    req.assignment, req.request
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        store::record_reveal(
            &self.pool,
            id,
            assignment,
            &req.volunteer,
            &principal.subject,
        )
        .await
        .map_err(internal)?;
        let (display_name, phone) = self.open_caller(&row);
        tracing::info!(request = %id, assignment = %assignment, volunteer = %req.volunteer,
            "caller contact revealed");
        Ok(Response::new(api::Caller {
            display_name,
            phone,
            preferred_language: row.caller_language.into(),
            anonymous: row.caller_anonymous,
        }))
    }
}

/// What identifies "the same request" for idempotent retries: the request without its key,
/// with caller name and phone replaced by keyed hashes so that no plaintext is stored for it.
fn fingerprint(mut req: api::CreateRequestRequest, vault: Option<&Vault>) -> Vec<u8> {
    req.request_id.clear();
    if let (Some(vault), Some(caller)) = (vault, req.caller.as_mut()) {
        for (domain, value) in [
            ("fingerprint.name", &mut caller.display_name),
            ("fingerprint.phone", &mut caller.phone),
        ] {
            if !value.is_empty() {
                *value = vault
                    .keyed_hash(domain, value)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
            }
        }
    }
    req.encode_to_vec()
}

pub(crate) fn page_token(t: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", t.timestamp_micros(), id.simple())
}

fn parse_page_token(token: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = token.split_once('.')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::parse_str(id).ok()?,
    ))
}

/// A free-text field: trimmed, length-limited, no control characters but newlines and tabs.
fn text(value: &str, field: &str, max: usize, v: &mut Vec<FieldViolation>) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        v.push(FieldViolation::new(
            field,
            format!("at most {max} characters"),
        ));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        v.push(FieldViolation::new(field, "contains control characters"));
    }
    value.to_string()
}

fn optional_enum<T>(
    code: i32,
    parse: fn(i32) -> Option<T>,
    field: &str,
    v: &mut Vec<FieldViolation>,
) -> Option<T> {
    if code == 0 {
        return None;
    }
    let parsed = parse(code);
    if parsed.is_none() {
        v.push(FieldViolation::new(field, format!("unknown value {code}")));
    }
    parsed
}

/// Every problem of a CreateRequest at once, so an operator fixes them in one go.
fn validate_create(
    req: &api::CreateRequestRequest,
    area: Option<&ServiceArea>,
    vault: Option<&Vault>,
) -> Result<NewRequest, Status> {
    let mut v = Vec::new();
    let key = parse_request_id(&req.request_id)
        .map_err(|e| v.push(e))
        .ok();
    let channel = Channel::from_code(req.channel);
    if channel.is_none() {
        v.push(FieldViolation::new(
            "channel",
            "must be HOTLINE, PARTNER or APP",
        ));
    }

    let caller = req.caller.clone().unwrap_or_default();
    let language = optional_enum(
        caller.preferred_language,
        Language::from_code,
        "caller.preferred_language",
        &mut v,
    );
    let identifies = !caller.display_name.trim().is_empty() || !caller.phone.trim().is_empty();
    if caller.anonymous && identifies {
        v.push(FieldViolation::new(
            "caller.anonymous",
            "an anonymous caller has no name or phone",
        ));
    }
    let caller_name = text(
        &caller.display_name,
        "caller.display_name",
        MAX_SHORT_TEXT_CHARS,
        &mut v,
    );
    let phone = if caller.phone.trim().is_empty() {
        None
    } else {
        let normalized = pii::normalize_phone(&caller.phone);
        if normalized.is_none() {
            v.push(FieldViolation::new(
                "caller.phone",
                "an E.164 number such as +77011234567",
            ));
        }
        normalized
    };

    let location = req.location.clone().unwrap_or_default();
    let point = match &location.point {
        None => None,
        Some(p) => match GeoPoint::new(p.latitude, p.longitude) {
            Ok(point) => Some(point),
            Err(komek_core::geo::Error::Latitude) => {
                v.push(FieldViolation::new(
                    "location.point.latitude",
                    "finite, between -90 and 90",
                ));
                None
            }
            Err(komek_core::geo::Error::Longitude) => {
                v.push(FieldViolation::new(
                    "location.point.longitude",
                    "finite, between -180 and 180",
                ));
                None
            }
        },
    };
    let address = text(&location.address, "location.address", 500, &mut v);
    let settlement = text(
        &location.settlement,
        "location.settlement",
        MAX_SHORT_TEXT_CHARS,
        &mut v,
    );
    let district = text(
        &location.district,
        "location.district",
        MAX_SHORT_TEXT_CHARS,
        &mut v,
    );
    let region = text(
        &location.region,
        "location.region",
        MAX_SHORT_TEXT_CHARS,
        &mut v,
    );
    if let (Some(p), Some(area)) = (point, area)
        && !area.contains(p)
    {
        v.push(FieldViolation::new(
            "location.point",
            format!(
                "outside the service area (latitude {}..{}, longitude {}..{})",
                area.min_lat, area.max_lat, area.min_lon, area.max_lon
            ),
        ));
    }
    if location.point.is_none() && settlement.is_empty() {
        v.push(FieldViolation::new(
            "location",
            "give coordinates or at least a settlement",
        ));
    }

    let description = text(
        &req.description,
        "description",
        MAX_DESCRIPTION_CHARS,
        &mut v,
    );
    if description.is_empty() {
        v.push(FieldViolation::new(
            "description",
            "describe what the caller needs",
        ));
    }
    let operator_category = optional_enum(
        req.operator_category,
        Category::from_code,
        "operator_category",
        &mut v,
    );
    let operator_priority = optional_enum(
        req.operator_priority,
        Priority::from_code,
        "operator_priority",
        &mut v,
    );
    if !(0..=100_000).contains(&req.people_count) {
        v.push(FieldViolation::new("people_count", "between 0 and 100000"));
    }
    let quantity = req.quantity.as_ref().map(|q| {
        if !q.value.is_finite() || q.value < 0.0 || q.value > 1e6 {
            v.push(FieldViolation::new(
                "quantity.value",
                "a finite number between 0 and 1000000",
            ));
        }
        let unit = text(&q.unit, "quantity.unit", 16, &mut v);
        (q.value, unit)
    });
    let (mut wanted_start, mut wanted_end) = (None, None);
    if let Some(w) = &req.wanted_window {
        wanted_start = w.start_time.as_ref().and_then(|t| {
            from_timestamp(t, "wanted_window.start_time")
                .map_err(|e| v.push(e))
                .ok()
        });
        wanted_end = w.end_time.as_ref().and_then(|t| {
            from_timestamp(t, "wanted_window.end_time")
                .map_err(|e| v.push(e))
                .ok()
        });
        if let (Some(s), Some(e)) = (wanted_start, wanted_end)
            && s >= e
        {
            v.push(FieldViolation::new(
                "wanted_window",
                "start_time must be before end_time",
            ));
        }
    }

    if !v.is_empty() {
        return Err(invalid_argument(&v));
    }
    let id = Uuid::now_v7();
    let sealed = match (identifies, vault) {
        (false, _) => None,
        (true, Some(vault)) => Some(SealedCaller {
            name: (!caller_name.is_empty())
                .then(|| vault.seal(id, "caller.display_name", &caller_name)),
            phone: phone.as_ref().map(|p| vault.seal(id, "caller.phone", p)),
            key_id: vault.current_key_id().to_string(),
            blind_index: phone.as_ref().map(|p| vault.blind_index(p)),
        }),
        (true, None) => {
            // Names and phones are personal data and are only stored encrypted; without a key,
            // refuse rather than store them in the clear.
            return Err(Status::failed_precondition(
                "caller.display_name and caller.phone need encryption at rest, which is not configured on this server; record the caller as anonymous",
            ));
        }
    };
    Ok(NewRequest {
        id,
        idempotency_key: key.unwrap(),
        caller: sealed,
        channel: channel.unwrap(),
        anonymous: caller.anonymous || !identifies,
        language,
        point,
        address,
        settlement,
        district,
        region,
        description,
        operator_category,
        operator_priority,
        people_count: req.people_count,
        quantity,
        wanted_start,
        wanted_end,
    })
}

pub(crate) fn validate_list(
    req: &api::ListRequestsRequest,
    max_page_size: u32,
) -> Result<ListFilter, Status> {
    let mut v = Vec::new();
    if req.page_size < 0 {
        v.push(FieldViolation::new("page_size", "must not be negative"));
    }
    let after = if req.page_token.is_empty() {
        None
    } else {
        let parsed = parse_page_token(&req.page_token);
        if parsed.is_none() {
            v.push(FieldViolation::new(
                "page_token",
                "not a token from an earlier response",
            ));
        }
        parsed
    };
    let mut codes = |values: &[i32], field: &str, known: fn(i32) -> bool| -> Vec<i16> {
        for x in values {
            if !known(*x) {
                v.push(FieldViolation::new(field, format!("unknown value {x}")));
            }
        }
        values.iter().map(|x| *x as i16).collect()
    };
    let statuses = codes(&req.statuses, "statuses", |x| {
        RequestStatus::from_code(x).is_some()
    });
    let categories = codes(&req.categories, "categories", |x| {
        Category::from_code(x).is_some()
    });
    let priorities = codes(&req.priorities, "priorities", |x| {
        Priority::from_code(x).is_some()
    });
    let created_after = req.created_after.as_ref().and_then(|t| {
        from_timestamp(t, "created_after")
            .map_err(|e| v.push(e))
            .ok()
    });
    let created_before = req.created_before.as_ref().and_then(|t| {
        from_timestamp(t, "created_before")
            .map_err(|e| v.push(e))
            .ok()
    });
    let region = text(&req.region, "region", MAX_SHORT_TEXT_CHARS, &mut v);
    let district = text(&req.district, "district", MAX_SHORT_TEXT_CHARS, &mut v);
    let search = text(&req.text, "text", MAX_SHORT_TEXT_CHARS, &mut v);
    if !v.is_empty() {
        return Err(invalid_argument(&v));
    }
    let size = if req.page_size == 0 {
        50
    } else {
        req.page_size as u32
    };
    Ok(ListFilter {
        statuses,
        categories,
        priorities,
        region,
        district,
        created_after,
        created_before,
        text: search,
        after,
        limit: i64::from(size.min(max_page_size)),
        scope: Default::default(),
    })
}

fn to_api(row: &RequestRow) -> api::Request {
    let assignment = row.assignment_id.map(|id| api::AssignmentSummary {
        assignment: name("assignments", id),
        group: row.assignment_group.clone(),
        group_display_name: row.assignment_group_name.clone(),
        status: row.assignment_status.into(),
        distance_meters: row.assignment_distance_m,
        expire_time: row.assignment_expire_at.map(timestamp),
        update_time: row.assignment_updated_at.map(timestamp),
    });
    let triage = (row.category != 0).then(|| api::TriageSummary {
        category: row.category.into(),
        priority: row.priority.into(),
        required_skills: row.required_skills.iter().map(|s| i32::from(*s)).collect(),
        possible_duplicate_of: row
            .possible_duplicate_of
            .map(|d| name("requests", d))
            .unwrap_or_default(),
    });
    let mut location = crate::events::location(row);
    location.address = row.address.clone();
    api::Request {
        name: name("requests", row.id),
        reference_code: row.reference_code.clone(),
        channel: row.channel.into(),
        caller: Some(api::Caller {
            display_name: String::new(),
            phone: String::new(),
            preferred_language: row.caller_language.into(),
            anonymous: row.caller_anonymous,
        }),
        location: Some(location),
        description: row.description.clone(),
        operator_category: row.operator_category.into(),
        operator_priority: row.operator_priority.into(),
        people_count: row.people_count,
        quantity: row.quantity_value.map(|value| pb::Quantity {
            value,
            unit: row.quantity_unit.clone(),
        }),
        wanted_window: (row.wanted_start.is_some() || row.wanted_end.is_some()).then(|| {
            pb::TimeWindow {
                start_time: row.wanted_start.map(timestamp),
                end_time: row.wanted_end.map(timestamp),
            }
        }),
        status: row.status.into(),
        triage,
        assignment,
        merged_into: row
            .merged_into
            .map(|id| name("requests", id))
            .unwrap_or_default(),
        cancel_reason: row.cancel_reason.clone(),
        outcome: row.outcome.into(),
        create_time: Some(timestamp(row.created_at)),
        update_time: Some(timestamp(row.updated_at)),
        etag: row.version.to_string(),
    }
}
