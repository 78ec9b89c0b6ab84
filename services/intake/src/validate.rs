//! Requests of the API checked into the values the store takes. Each function reports every
//! field at fault at once, so an operator on the phone fixes them in one go.

use chrono::{DateTime, Utc};
use komek_core::geo::GeoPoint;
use komek_core::phone;
use komek_core::recurrence::{Frequency, Recurrence};
use komek_core::reference::ReferenceCode;
use komek_core::{Category, Channel, Language, Priority, RequestStatus};
use komek_places::admin::Admin;
use komek_proto::intake::v1 as api;
use komek_proto::partner::v1 as partner_api;
use komek_proto::places::v1 as places_api;
use komek_runtime::boundary::{
    self, Complete, FieldViolation, Text, Violations, code, optional_code, optional_etag,
    optional_name, optional_point, optional_timestamp, page_limit, parse_name, parse_request_id,
    violations_of,
};
use komek_runtime::pages::Page;
use prost::Message;
use sha2::{Digest, Sha256};
use tonic::Status;
use uuid::Uuid;

use crate::ServiceArea;
use crate::model::{Fields, ListFilter, NewPlan, NewPlanStop, NewRequest, Scope, SealedCaller};
use crate::pii::Vault;
use crate::store::stats;

const DESCRIPTION: Text = Text::lines(4000);
const SHORT: Text = Text::lines(200);
const ADDRESS: Text = Text::lines(500);
const UNIT: Text = Text::lines(16);
const REASON: Text = Text::lines(4000).required();
const REGION: Text = Text::line(200);

/// Every problem of a CreateRequest at once. Caller name and phone come back sealed with the
/// vault's key; without a vault they are refused rather than stored in the clear.
pub fn create(
    req: &api::CreateRequestRequest,
    area: Option<&ServiceArea>,
    vault: Option<&Vault>,
) -> Result<NewRequest, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    // PLAN marks the requests a plan makes itself (see `plan_request`).
    let channel = v.take(code(
        req.channel,
        |c| Channel::from_code(c).filter(|c| *c != Channel::Plan),
        "channel",
        "must be HOTLINE, PARTNER or APP",
    ));

    let caller = req.caller.clone().unwrap_or_default();
    let language = v.take(optional_code(
        caller.preferred_language,
        Language::from_code,
        "caller.preferred_language",
    ));
    let identifies = !caller.display_name.trim().is_empty() || !caller.phone.trim().is_empty();
    if caller.anonymous && identifies {
        v.add(
            "caller.anonymous",
            "an anonymous caller has no name or phone",
        );
    }
    let caller_name = v.take(SHORT.parse(&caller.display_name, "caller.display_name"));
    let phone = match caller.phone.trim() {
        "" => Some(None),
        raw => v.take(
            phone::normalize(raw)
                .map(Some)
                .ok_or_else(|| FieldViolation::new("caller.phone", phone::EXPECTED)),
        ),
    };

    let location = req.location.clone().unwrap_or_default();
    let point = v.take(optional_point(location.point.as_ref(), "location.point"));
    let address = v.take(ADDRESS.parse(&location.address, "location.address"));
    let settlement = v.take(SHORT.parse(&location.settlement, "location.settlement"));
    let district = v.take(SHORT.parse(&location.district, "location.district"));
    let region = v.take(boundary::region(&location.region, "location.region"));
    if let (Some(Some(p)), Some(area)) = (point, area)
        && !area.contains(p)
    {
        v.add(
            "location.point",
            format!(
                "outside the service area (latitude {}..{}, longitude {}..{})",
                area.min_lat, area.max_lat, area.min_lon, area.max_lon
            ),
        );
    }
    if location.point.is_none() && location.settlement.trim().is_empty() {
        v.add("location", "give coordinates or at least a settlement");
    }

    let description = v.take(DESCRIPTION.parse(&req.description, "description"));
    if req.description.trim().is_empty() {
        v.add("description", "describe what the caller needs");
    }
    let volunteer_note = v.take(DESCRIPTION.parse(&req.volunteer_note, "volunteer_note"));
    let operator_category = v.take(optional_code(
        req.operator_category,
        Category::from_code,
        "operator_category",
    ));
    let operator_priority = v.take(optional_code(
        req.operator_priority,
        Priority::from_code,
        "operator_priority",
    ));
    if !(0..=100_000).contains(&req.people_count) {
        v.add("people_count", "between 0 and 100000");
    }
    let quantity = match &req.quantity {
        None => Some(None),
        Some(q) => {
            if !q.value.is_finite() || !(0.0..=1e6).contains(&q.value) {
                v.add("quantity.value", "a finite number between 0 and 1000000");
            }
            v.take(UNIT.parse(&q.unit, "quantity.unit"))
                .map(|unit| Some((q.value, unit)))
        }
    };
    let window = req.wanted_window.unwrap_or_default();
    let wanted_start = v.take(optional_timestamp(
        window.start_time.as_ref(),
        "wanted_window.start_time",
    ));
    let wanted_end = v.take(optional_timestamp(
        window.end_time.as_ref(),
        "wanted_window.end_time",
    ));
    if let (Some(Some(s)), Some(Some(e))) = (wanted_start, wanted_end)
        && s >= e
    {
        v.add("wanted_window", "start_time must be before end_time");
    }
    let (texts, parsed, when) = v.finish((
        (
            address,
            settlement,
            district,
            region,
            description,
            caller_name,
        )
            .complete(),
        (
            key,
            channel,
            language,
            phone,
            point,
            quantity,
            volunteer_note,
        )
            .complete(),
        (
            operator_category,
            operator_priority,
            wanted_start,
            wanted_end,
        )
            .complete(),
    ))?;
    let (address, settlement, district, region, description, caller_name) = texts;
    let (idempotency_key, channel, language, phone, point, quantity, volunteer_note) = parsed;
    let (district, region) = place_of(point, district, region);
    // Volunteers read the operator's own words for them, or the note with what is personal
    // cut out.
    let volunteer_note = if volunteer_note.trim().is_empty() {
        komek_core::scrub::volunteer_note(&description, &caller_name)
    } else {
        volunteer_note
    };
    let (operator_category, operator_priority, wanted_start, wanted_end) = when;

    let id = Uuid::now_v7();
    let caller_sealed = match (identifies, vault) {
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
        idempotency_key,
        caller: caller_sealed,
        channel,
        anonymous: caller.anonymous || !identifies,
        language,
        point,
        address,
        settlement,
        district,
        region,
        description,
        volunteer_note,
        operator_category,
        operator_priority,
        people_count: req.people_count,
        quantity,
        wanted_start,
        wanted_end,
    })
}

/// The district and region a request is filed under: as the operator gave them, in the names
/// every service compares (a district named in any language, within its region), and taken
/// from the point when left out (the district whose outline holds it, and its region).
fn place_of(point: Option<GeoPoint>, district: String, region: String) -> (String, String) {
    let admin = Admin::get();
    let located = point.and_then(|p| admin.locate(p.lat(), p.lon()));
    let region = match (region.is_empty(), located) {
        (true, Some(d)) => d.region.name_en.to_string(),
        _ => region,
    };
    let within = admin.region(&region);
    let district = if district.trim().is_empty() {
        located
            .filter(|d| within.is_some_and(|r| r.id == d.region.id))
            .map_or(district, |d| d.name_en.clone())
    } else {
        admin
            .district(within, &district)
            .map_or(district, |d| d.name_en.clone())
    };
    (district, region)
}

/// The filters of a list, shared by IntakeService and PartnerService.
/// Its page is the caller's to add (`Pages::page`): tokens belong to the API that issued them.
pub fn list(
    req: &api::ListRequestsRequest,
    page: Page<(DateTime<Utc>, Uuid)>,
) -> Result<ListFilter, Status> {
    let mut v = Violations::new();
    let mut codes = |values: &[i32], field: &str, known: fn(i32) -> bool| -> Vec<i16> {
        for x in values {
            if !known(*x) {
                v.add(field, format!("unknown value {x}"));
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
    let created_after = v.take(optional_timestamp(
        req.created_after.as_ref(),
        "created_after",
    ));
    let created_before = v.take(optional_timestamp(
        req.created_before.as_ref(),
        "created_before",
    ));
    let region = v.take(boundary::region(&req.region, "region"));
    let district = v.take(SHORT.parse(&req.district, "district"));
    let text = v.take(SHORT.parse(&req.text, "text"));
    let (created_after, created_before, (region, district, text)) = v.finish((
        created_after,
        created_before,
        (region, district, text).complete(),
    ))?;
    Ok(ListFilter {
        statuses,
        categories,
        priorities,
        region,
        district,
        created_after,
        created_before,
        text,
        waiting_too_long: req.waiting_too_long,
        after: page.after,
        limit: page.limit,
        scope: Scope::All,
    })
}

/// A cancel: the request, the reason and, optionally, the etag it was last read with.
pub fn cancel(req: &api::CancelRequestRequest) -> Result<(Uuid, String, Option<i64>), Status> {
    let mut v = Violations::new();
    let id = v.take(parse_name("requests", &req.name, "name"));
    let reason = v.take(REASON.parse(&req.reason, "reason"));
    let etag = v.take(optional_etag(&req.etag, "etag"));
    // A cancel is idempotent by itself (cancelling twice is a retry); a key, when given, must
    // still be one.
    if !req.request_id.is_empty() {
        v.take(parse_request_id(&req.request_id));
    }
    v.finish((id, reason, etag))
}

/// Most requests one BatchGetRequests reads.
pub const BATCH_GET_MAX: usize = 500;

/// The requests a BatchGetRequests names, in order, and the fields it asks for.
pub fn batch_get(req: &api::BatchGetRequestsRequest) -> Result<(Vec<Uuid>, Fields), Status> {
    let names = &req.names;
    let mut v = Violations::new();
    if names.is_empty() || names.len() > BATCH_GET_MAX {
        v.add(
            "names",
            format!("name 1 to {BATCH_GET_MAX} requests (got {})", names.len()),
        );
    }
    let ids: Vec<Uuid> = names
        .iter()
        .take(BATCH_GET_MAX)
        .enumerate()
        .filter_map(|(i, n)| v.take(parse_name("requests", n, &format!("names[{i}]"))))
        .collect();
    let fields = v.take(read_mask(req.read_mask.as_ref()));
    v.check()?;
    Ok((ids, fields.unwrap_or(Fields::All)))
}

/// A read mask's fields: top-level fields of Request, each named once at most; none is all.
fn read_mask(mask: Option<&prost_types::FieldMask>) -> Result<Fields, FieldViolation> {
    let paths = mask.map_or(&[][..], |m| &m.paths[..]);
    if paths.is_empty() {
        return Ok(Fields::All);
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, path) in paths.iter().enumerate() {
        let field = format!("read_mask.paths[{i}]");
        let Some(known) = Fields::NAMES.iter().find(|n| **n == path.as_str()) else {
            return Err(FieldViolation::new(
                field,
                format!(
                    "{:?} is not a field of Request (top-level fields only: {})",
                    path.chars().take(100).collect::<String>(),
                    Fields::NAMES.join(", ")
                ),
            ));
        };
        if !names.insert(*known) {
            return Err(FieldViolation::new(field, format!("{known} named twice")));
        }
    }
    Ok(Fields::Only(names))
}

/// Which request to erase, by name or reference code, and why.
pub fn erase(req: &api::EraseRequestRequest) -> Result<(Key, String), Status> {
    let mut v = Violations::new();
    let key = match (req.name.is_empty(), req.reference_code.is_empty()) {
        (false, true) => v.take(parse_name("requests", &req.name, "name").map(Key::Id)),
        (true, false) => v.take(reference_code(&req.reference_code).map(Key::Code)),
        (false, false) => v.take(Err(FieldViolation::new(
            "reference_code",
            "give name or reference_code, not both",
        ))),
        (true, true) => v.take(Err(FieldViolation::new(
            "name",
            "name or reference_code is required",
        ))),
    };
    let reason = v.take(REASON.parse(&req.reason, "reason"));
    v.finish((key, reason))
}

/// The three names of a RevealCaller: request, assignment and the volunteer it is for.
pub fn reveal(req: &api::RevealCallerRequest) -> Result<(Uuid, Uuid), Status> {
    let mut v = Violations::new();
    let id = v.take(parse_name("requests", &req.request, "request"));
    let assignment = v.take(parse_name("assignments", &req.assignment, "assignment"));
    v.take(parse_name("volunteers", &req.volunteer, "volunteer"));
    v.finish((id, assignment))
}

/// What was typed, how many suggestions, and the region to keep to, of a settlement search.
pub fn search_settlements(
    req: &places_api::SearchSettlementsRequest,
) -> Result<(String, usize, Option<String>), Status> {
    const QUERY: Text = Text::line(100);
    let mut v = Violations::new();
    let query = v.take(QUERY.parse(&req.query, "query"));
    // Ten suggestions fit under a text field; a list that long is what a client asks for.
    let limit = match req.page_size {
        0 => Some(10),
        n => v.take(page_limit(n, komek_places::MAX_LIMIT as u32)),
    };
    let region = v.take(REGION.parse(&req.region, "region").and_then(|r| {
        if r.is_empty() {
            return Ok(None);
        }
        match komek_places::admin::Admin::get().region(&r) {
            Some(region) => Ok(Some(region.id.to_string())),
            None => Err(FieldViolation::new(
                "region",
                "not a region of the gazetteer; give its id (\"KZ-43\") or its name, e.g. \
                 \"Kyzylorda Region\" or \"Кызылординская область\"",
            )),
        }
    }));
    let (query, limit, region) = v.finish((query, limit, region))?;
    Ok((query, limit as usize, region))
}

pub fn reference_code(value: &str) -> Result<ReferenceCode, FieldViolation> {
    ReferenceCode::parse(value).map_err(|e| FieldViolation::new("reference_code", e.to_string()))
}

/// How a partner names a request: by its resource name or by the caller's reference code.
pub enum Key {
    Id(Uuid),
    Code(ReferenceCode),
}

fn key(name: Option<&str>, code: Option<&str>) -> Result<Key, FieldViolation> {
    match (name, code) {
        (Some(n), _) => parse_name("requests", n, "name").map(Key::Id),
        (None, Some(c)) => reference_code(c).map(Key::Code),
        (None, None) => Err(FieldViolation::new(
            "key",
            "name or reference_code is required",
        )),
    }
}

/// GetRequestStatus and WatchRequest name a request in two oneofs of the same shape.
macro_rules! oneof_key {
    ($key:expr, $oneof:path) => {{
        use $oneof as K;
        match $key {
            Some(K::Name(n)) => key(Some(n), None),
            Some(K::ReferenceCode(c)) => key(None, Some(c)),
            None => key(None, None),
        }
    }};
}

pub fn status_key(req: &partner_api::GetRequestStatusRequest) -> Result<Key, FieldViolation> {
    oneof_key!(&req.key, partner_api::get_request_status_request::Key)
}

pub fn watch_key(req: &partner_api::WatchRequestRequest) -> Result<Key, FieldViolation> {
    oneof_key!(&req.key, partner_api::watch_request_request::Key)
}

/// A partner's statistics query, in `scope`, with months in `zone`.
pub fn stats(
    req: &partner_api::GetStatsRequest,
    scope: Scope,
    zone: &str,
) -> Result<stats::Query, Status> {
    use partner_api::StatsDimension as D;
    let mut v = Violations::new();
    let start = v.take(optional_timestamp(
        req.period_start.as_ref(),
        "period_start",
    ));
    let end = v.take(optional_timestamp(req.period_end.as_ref(), "period_end"));
    if let (Some(Some(s)), Some(Some(e))) = (start, end)
        && s >= e
    {
        v.add("period_end", "after period_start");
    }
    let mut dims = Vec::new();
    for (i, d) in req.group_by.iter().enumerate() {
        let dim = match D::try_from(*d) {
            Ok(D::Category) => stats::Dim::Category,
            Ok(D::Status) => stats::Dim::Status,
            Ok(D::Region) => stats::Dim::Region,
            Ok(D::District) => stats::Dim::District,
            Ok(D::Month) => stats::Dim::Month,
            Ok(D::Organization) => stats::Dim::Organization,
            Ok(D::Group) => stats::Dim::Group,
            Ok(D::Channel) => stats::Dim::Channel,
            _ => {
                v.add(format!("group_by[{i}]"), "a dimension");
                continue;
            }
        };
        if dims.contains(&dim) {
            v.add(format!("group_by[{i}]"), "given twice");
        }
        dims.push(dim);
    }
    let region = v.take(boundary::region(&req.region, "region"));
    let (start, end, region) = v.finish((start, end, region))?;
    Ok(stats::Query {
        start,
        end,
        region,
        scope,
        dims,
        zone: zone.to_string(),
    })
}

/// Bytes as lowercase hexadecimal, two digits each, in one string (this runs for every call).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// What identifies "the same request" for idempotent retries: the SHA-256 of the request
/// without its key, with caller name and phone replaced by keyed hashes first. A digest, as
/// only equality is asked of it: 32 bytes stored where the encoded request took some 320 (a
/// quarter of the request's stored row), and neither the note nor the place in it.
pub fn fingerprint(mut req: api::CreateRequestRequest, vault: Option<&Vault>) -> Vec<u8> {
    req.request_id.clear();
    if let (Some(vault), Some(caller)) = (vault, req.caller.as_mut()) {
        for (domain, value) in [
            ("fingerprint.name", &mut caller.display_name),
            ("fingerprint.phone", &mut caller.phone),
        ] {
            if !value.is_empty() {
                *value = hex(&vault.keyed_hash(domain, value));
            }
        }
    }
    Sha256::digest(req.encode_to_vec()).to_vec()
}

/// Whether a request's stored fingerprint is `fingerprint`: earlier releases stored the
/// encoded request itself, whose digest is then what compares.
pub fn same_fingerprint(stored: &[u8], fingerprint: &[u8]) -> bool {
    stored == fingerprint || Sha256::digest(stored).as_slice() == fingerprint
}

/// The CreateRequest a plan's stop makes: the plan's words and needs, the stop's place and
/// caller, the stop's note after the description. Checked by [`create`] like any call.
pub fn plan_request(
    plan: &api::Plan,
    stop: &api::PlanStop,
    request_id: Uuid,
) -> api::CreateRequestRequest {
    let description = if stop.note.trim().is_empty() {
        plan.description.clone()
    } else {
        format!("{}\n{}", plan.description.trim_end(), stop.note.trim())
    };
    api::CreateRequestRequest {
        request_id: request_id.to_string(),
        channel: Channel::Hotline.code(),
        caller: Some(stop.caller.clone().unwrap_or(api::Caller {
            anonymous: true,
            ..Default::default()
        })),
        location: stop.location.clone(),
        description,
        operator_category: plan.category,
        operator_priority: plan.priority,
        people_count: plan.people_count,
        quantity: plan.quantity.clone(),
        wanted_window: None,
        volunteer_note: plan.volunteer_note.clone(),
    }
}

/// Where a CreateRequest field's violation belongs in a plan: the stop's own fields under the
/// stop, the shared ones under the plan (reported for the first stop only).
fn plan_field(field: &str, stop: usize) -> Option<String> {
    let top = field.split(['.', '[']).next().unwrap_or("");
    match top {
        "location" | "caller" => Some(format!("plan.stops[{stop}].{field}")),
        "request_id" => None,
        _ if stop > 0 => None,
        "operator_category" => Some("plan.category".into()),
        "operator_priority" => Some("plan.priority".into()),
        _ => Some(format!("plan.{field}")),
    }
}

/// The most stops one plan serves.
pub const MAX_PLAN_STOPS: usize = 200;

fn recurrence(r: Option<&api::Recurrence>, v: &mut Violations) -> Option<Recurrence> {
    let Some(r) = r else {
        v.add("plan.recurrence", "required: when the plan repeats");
        return None;
    };
    let zone = v.take(
        komek_core::schedule::zone(&r.time_zone)
            .map_err(|e| FieldViolation::new("plan.recurrence.time_zone", e.to_string())),
    );
    let date = |d: Option<&komek_proto::types::v1::Date>, field: &str, v: &mut Violations| {
        let d = d?;
        let parsed =
            chrono::NaiveDate::from_ymd_opt(d.year, d.month.max(0) as u32, d.day.max(0) as u32);
        if parsed.is_none() {
            v.add(field, "a calendar date");
        }
        parsed
    };
    let start = date(r.start_date.as_ref(), "plan.recurrence.start_date", v);
    if r.start_date.is_none() {
        v.add("plan.recurrence.start_date", "required");
    }
    let end = date(r.end_date.as_ref(), "plan.recurrence.end_date", v);
    if let (Some(s), Some(e)) = (start, end)
        && e < s
    {
        v.add("plan.recurrence.end_date", "on or after the start date");
    }
    let time = r.time.and_then(|t| {
        chrono::NaiveTime::from_hms_opt(t.hours.max(0) as u32, t.minutes.max(0) as u32, 0)
    });
    if time.is_none() {
        v.add("plan.recurrence.time", "a time of day 00:00-23:59");
    }
    if !(0..=12).contains(&r.interval) {
        v.add("plan.recurrence.interval", "every 1 to 12 weeks or months");
    }
    let every = r.interval.max(1) as u32;
    for (i, m) in r.months.iter().enumerate() {
        if !(1..=12).contains(m) {
            v.add(format!("plan.recurrence.months[{i}]"), "a month 1-12");
        }
    }
    let frequency = match komek_proto::intake::v1::Frequency::try_from(r.frequency) {
        Ok(api::Frequency::Weekly) => {
            let days: Vec<chrono::Weekday> = r
                .days
                .iter()
                .filter_map(|d| chrono::Weekday::try_from(u8::try_from(d - 1).ok()?).ok())
                .collect();
            if days.is_empty() || days.len() != r.days.len() {
                v.add("plan.recurrence.days", "one or more days of the week");
            }
            Some(Frequency::Weekly { every, days })
        }
        Ok(api::Frequency::Monthly) => {
            if !(1..=31).contains(&r.day_of_month) {
                v.add("plan.recurrence.day_of_month", "a day 1-31");
            }
            Some(Frequency::Monthly {
                every,
                day: r.day_of_month.clamp(1, 31) as u32,
            })
        }
        _ => {
            v.add("plan.recurrence.frequency", "WEEKLY or MONTHLY");
            None
        }
    };
    Some(Recurrence {
        zone: zone?,
        frequency: frequency?,
        time: time?,
        start: start?,
        end,
        months: r.months.iter().map(|m| (*m).clamp(1, 12) as u32).collect(),
    })
}

/// The recurrence of a stored plan (checked when it was created).
pub fn stored_recurrence(plan: &api::Plan) -> Option<Recurrence> {
    let mut v = Violations::new();
    recurrence(plan.recurrence.as_ref(), &mut v).filter(|_| v.is_empty())
}

/// CreatePlan: every stop held to CreateRequest's checks, its caller sealed under the stop's
/// own id, and the first occurrence after `now`.
pub fn plan(
    req: &api::CreatePlanRequest,
    area: Option<&ServiceArea>,
    vault: Option<&Vault>,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<NewPlan, Status> {
    let mut v = Violations::new();
    let key = v.take(parse_request_id(&req.request_id));
    let p = req.plan.clone().unwrap_or_default();
    let display_name = v.take(SHORT.parse(&p.display_name, "plan.display_name"));
    if p.display_name.trim().is_empty() {
        v.add("plan.display_name", "required");
    }
    let organization = v.take(optional_name(
        "organizations",
        &p.organization,
        "plan.organization",
    ));
    let recurrence = recurrence(p.recurrence.as_ref(), &mut v);
    // The same shared field refused through several stops is reported once.
    let mut reported = std::collections::HashSet::new();
    if p.description.trim().is_empty() {
        v.add("plan.description", "describe what each request needs");
        reported.insert("plan.description".to_string());
    }
    if p.stops.is_empty() || p.stops.len() > MAX_PLAN_STOPS {
        v.add("plan.stops", format!("1 to {MAX_PLAN_STOPS} stops"));
    }
    let mut region: Option<String> = None;
    let mut stops = Vec::new();
    for (i, stop) in p.stops.iter().enumerate() {
        let note = v.take(SHORT.parse(&stop.note, &format!("plan.stops[{i}].note")));
        let id = Uuid::now_v7();
        match create(&plan_request(&p, stop, Uuid::new_v4()), area, vault) {
            Ok(new) => {
                match &region {
                    None => region = Some(new.region.clone()),
                    Some(r) if *r != new.region => v.add(
                        format!("plan.stops[{i}].location.region"),
                        format!("every stop of a plan is in one region ({r})"),
                    ),
                    Some(_) => {}
                }
                let caller = stop.caller.clone().unwrap_or_default();
                let sealed = vault.filter(|_| !caller.anonymous).map(|vault| {
                    let seal = |field: &str, value: &str| {
                        (!value.trim().is_empty()).then(|| vault.seal(id, field, value.trim()))
                    };
                    SealedCaller {
                        name: seal(crate::pii::STOP_NAME, &caller.display_name),
                        phone: seal(crate::pii::STOP_PHONE, &caller.phone),
                        key_id: vault.current_key_id().to_string(),
                        blind_index: None,
                    }
                });
                let kept = api::PlanStop {
                    name: String::new(),
                    caller: stop.caller.as_ref().map(|c| api::Caller {
                        display_name: String::new(),
                        phone: String::new(),
                        ..c.clone()
                    }),
                    note: note.unwrap_or_default(),
                    last_request: String::new(),
                    location: stop.location.clone(),
                };
                stops.push(NewPlanStop {
                    id,
                    stop: kept.encode_to_vec(),
                    caller: sealed,
                });
            }
            // Refused for what the deployment lacks (no keys for caller data): the plan is too.
            Err(status) if status.code() != tonic::Code::InvalidArgument => return Err(status),
            Err(status) => {
                for violation in violations_of(&status) {
                    if let Some(field) = plan_field(&violation.field, i)
                        && reported.insert(field.clone())
                    {
                        v.add(field, violation.description);
                    }
                }
            }
        }
    }
    let next = recurrence.as_ref().map(|r| r.next_after(now));
    if let Some(None) = next {
        v.add(
            "plan.recurrence",
            "no occurrence is left: check the dates and months",
        );
    }
    let (key, display_name, organization, next) =
        v.finish((key, display_name, organization, next))?;
    let template = api::Plan {
        stops: vec![],
        name: String::new(),
        etag: String::new(),
        ..p
    };
    Ok(NewPlan {
        id: Uuid::now_v7(),
        idempotency_key: key,
        display_name,
        organization,
        region: region.unwrap_or_default(),
        template: template.encode_to_vec(),
        stops,
        next_run_at: next,
        created_by: created_by.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A retry is told by its fingerprint, whether the request was stored with the digest or,
    /// by a release before, with the encoded request; any other request is not the same.
    #[test]
    fn a_fingerprint_matches_its_request_stored_either_way() {
        let call = |description: &str| api::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            description: description.into(),
            ..Default::default()
        };
        let digest = fingerprint(call("Көмір керек, 2 тонна"), None);
        assert_eq!(digest.len(), 32);
        assert_eq!(
            digest,
            fingerprint(call("Көмір керек, 2 тонна"), None),
            "the key is not part of it"
        );
        let mut encoded = call("Көмір керек, 2 тонна");
        encoded.request_id.clear();
        let encoded = encoded.encode_to_vec();
        assert!(same_fingerprint(&digest, &digest));
        assert!(
            same_fingerprint(&encoded, &digest),
            "stored by a release before"
        );
        let other = fingerprint(call("Көмір керек, 3 тонна"), None);
        assert!(!same_fingerprint(&digest, &other));
        assert!(!same_fingerprint(&encoded, &other));
        assert!(!same_fingerprint(b"", &digest), "an erased request's");
    }

    /// Fingerprints stored by earlier releases spelled each byte with `format!("{b:02x}")`; a
    /// retry after an upgrade must fingerprint the same, or it would be refused as a clash.
    #[test]
    fn hex_spells_bytes_as_before() {
        let all: Vec<u8> = (0..=255).collect();
        let before: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&all), before);
        assert_eq!(hex(&[]), "");
    }
}
