//! What every gRPC boundary needs to turn a request into checked values and a failure into a
//! status: field violations and the collector that gathers them, the parsers for the fields
//! every API shares (resource names, idempotency keys, timestamps, page sizes, etags,
//! free text, coordinates, enum codes), and the status helpers.
//!
//! This module is a leaf: it knows protobuf value types and the domain's coordinates, nothing of
//! serving, configuration or authentication, so any module may use it.
//!
//! Parsers return `Result<T, FieldViolation>`. A handler that checks one field uses `?` (a
//! violation converts into INVALID_ARGUMENT); one that checks several collects them in
//! [`Violations`] and takes the values out with [`Violations::finish`], so an operator sees every
//! problem of a request at once and no value is unwrapped after the check.

use chrono::{DateTime, Utc};
use komek_core::GeoPoint;
use komek_proto::types::v1::LatLng;
use prost_types::Timestamp;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

/// One field at fault in a request.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldViolation {
    /// Path of the field, e.g. `location.point.latitude`.
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl From<FieldViolation> for Status {
    fn from(v: FieldViolation) -> Self {
        invalid_argument(&[v])
    }
}

/// INVALID_ARGUMENT with a `google.rpc.BadRequest` detail listing every violation.
pub fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
    let message = format!("invalid request: {}", fields.join(", "));
    let mut details = ErrorDetails::new();
    for v in violations {
        details.add_bad_request_violation(v.field.clone(), v.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The field violations an INVALID_ARGUMENT carries, for a caller that reports them under
/// other names (a plan's stops checked as CreateRequest calls).
pub fn violations_of(status: &Status) -> Vec<FieldViolation> {
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| FieldViolation::new(v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// A group's weekly schedule as the domain evaluates it; an unknown time zone is refused.
pub fn schedule(
    s: &komek_proto::types::v1::WeeklySchedule,
) -> Result<komek_core::schedule::Schedule, String> {
    let shift = |s: &komek_proto::types::v1::Shift| komek_core::schedule::Shift {
        day: s.day.clamp(0, 7) as u8,
        start_min: s
            .start
            .map_or(0, |t| (t.hours * 60 + t.minutes).clamp(0, 1439) as u16),
        end_min: s
            .end
            .map_or(0, |t| (t.hours * 60 + t.minutes).clamp(0, 1439) as u16),
    };
    Ok(komek_core::schedule::Schedule {
        zone: komek_core::schedule::zone(&s.time_zone).map_err(|e| e.to_string())?,
        weekly: s.shifts.iter().map(shift).collect(),
        exceptions: s
            .exceptions
            .iter()
            .filter_map(|e| {
                let d = e.date?;
                Some(komek_core::schedule::Exception {
                    date: chrono::NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)?,
                    off: e.off,
                    shifts: e.shifts.iter().map(shift).collect(),
                })
            })
            .collect(),
    })
}

/// INTERNAL with no detail for the caller; the detail goes to the log.
pub fn internal(err: impl std::fmt::Display) -> Status {
    tracing::error!(error = %err, "internal error");
    Status::internal("internal error")
}

/// The status for a failed database call. Losing the database (connection refused or reset,
/// the server shutting down or starting, no connection free in time) is UNAVAILABLE, which
/// clients retry with the same `request_id`; a serialization conflict is ABORTED. Anything
/// else is a fault of ours: INTERNAL. Either way the transaction did not commit, unless the
/// connection broke during COMMIT, which is why the retry must carry the same `request_id`.
pub fn database(err: sqlx::Error) -> Status {
    match transient(&err) {
        Some(Code::Unavailable) => {
            tracing::warn!(error = %err, "database unavailable");
            Status::unavailable("the database is unavailable; retry with the same request_id")
        }
        Some(code) => Status::new(code, "a concurrent change conflicted; retry"),
        None => internal(err),
    }
}

/// The status for a failure to reach NATS (the feed a stream follows, the roster index's
/// catch-up): the connection is down or reconnecting, so the caller retries shortly.
pub fn messaging(err: impl std::fmt::Display) -> Status {
    tracing::warn!(error = %err, "messaging unavailable");
    Status::unavailable("the event stream is unavailable; retry shortly")
}

/// The code of a database failure worth retrying, if it is one.
fn transient(err: &sqlx::Error) -> Option<Code> {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(Code::Unavailable),
        sqlx::Error::Database(db) => {
            let state = db.code()?;
            // Class 08: connection exception; 57P01–57P03: shutting down, crashed, starting.
            if state.starts_with("08") || matches!(&*state, "57P01" | "57P02" | "57P03") {
                Some(Code::Unavailable)
            } else if matches!(&*state, "40001" | "40P01") {
                Some(Code::Aborted)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The violations of one request, gathered field by field.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub fn push(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    pub fn extend(&mut self, violations: impl IntoIterator<Item = FieldViolation>) {
        self.0.extend(violations);
    }

    /// The value of a parse, or None with its violation noted.
    pub fn take<T>(&mut self, parsed: Result<T, FieldViolation>) -> Option<T> {
        parsed.map_err(|v| self.0.push(v)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations themselves, for callers that report them otherwise (an import's rows).
    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }

    /// Ok when nothing was violated.
    pub fn check(self) -> Result<(), Status> {
        self.finish(Some(()))
    }

    /// The parsed values, when every one of them parsed and nothing else was violated.
    pub fn finish<T: Complete>(self, values: T) -> Result<T::Output, Status> {
        match values.complete() {
            Some(values) if self.0.is_empty() => Ok(values),
            None if self.0.is_empty() => {
                // A parser that returned nothing must have noted why; this is a bug here.
                Err(internal("a required value is missing without a violation"))
            }
            _ => Err(invalid_argument(&self.0)),
        }
    }
}

impl From<Violations> for Status {
    fn from(v: Violations) -> Self {
        invalid_argument(&v.0)
    }
}

/// Optional values that are complete when every one is present: `Option<A>` and tuples of up
/// to eight options.
pub trait Complete {
    type Output;
    fn complete(self) -> Option<Self::Output>;
}

impl<A> Complete for Option<A> {
    type Output = A;
    fn complete(self) -> Option<A> {
        self
    }
}

macro_rules! complete_tuple {
    ($($t:ident),+) => {
        impl<$($t),+> Complete for ($(Option<$t>,)+) {
            type Output = ($($t,)+);
            #[allow(non_snake_case)]
            fn complete(self) -> Option<Self::Output> {
                let ($($t,)+) = self;
                Some(($($t?,)+))
            }
        }
    };
}
complete_tuple!(A, B);
complete_tuple!(A, B, C);
complete_tuple!(A, B, C, D);
complete_tuple!(A, B, C, D, E);
complete_tuple!(A, B, C, D, E, F);
complete_tuple!(A, B, C, D, E, F, G);
complete_tuple!(A, B, C, D, E, F, G, H);

// ---- resource names, keys, timestamps ----

pub fn name(collection: &str, id: Uuid) -> String {
    format!("{collection}/{id}")
}

/// The name of an optional reference, or empty (proto3's "not set" for a string).
pub fn name_or_empty(collection: &str, id: Option<Uuid>) -> String {
    id.map(|id| name(collection, id)).unwrap_or_default()
}

/// The id in a resource name such as `requests/{uuid}`.
pub fn parse_name(collection: &str, value: &str, field: &str) -> Result<Uuid, FieldViolation> {
    value
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| FieldViolation::new(field, format!("must look like {collection}/{{uuid}}")))
}

/// A resource name that may be left empty (a filter): None when empty.
pub fn optional_name(
    collection: &str,
    value: &str,
    field: &str,
) -> Result<Option<Uuid>, FieldViolation> {
    if value.is_empty() {
        return Ok(None);
    }
    parse_name(collection, value, field).map(Some)
}

/// An idempotency key: a UUID chosen by the client.
pub fn parse_request_id(request_id: &str) -> Result<Uuid, FieldViolation> {
    Uuid::parse_str(request_id)
        .map_err(|_| FieldViolation::new("request_id", "must be a UUID chosen by the client"))
}

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf timestamp as UTC time; `field` names it in the error.
pub fn from_timestamp(t: &Timestamp, field: &str) -> Result<DateTime<Utc>, FieldViolation> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(t.seconds, n))
        .ok_or_else(|| FieldViolation::new(field, "not a valid timestamp"))
}

/// A timestamp that may be left out.
pub fn optional_timestamp(
    t: Option<&Timestamp>,
    field: &str,
) -> Result<Option<DateTime<Utc>>, FieldViolation> {
    t.map(|t| from_timestamp(t, field)).transpose()
}

/// A region as a client gives it: its id ("KZ-19") or its name in Kazakh, Russian or English
/// however written ("Алматы облысы", "Алматинская обл."), as the canonical English name every
/// service stores and compares ("Almaty Region"). Empty stays empty.
pub fn region(value: &str, field: &str) -> Result<String, FieldViolation> {
    // The checks of any one-line text first: length, control and invisible characters.
    let value = Text::line(200).parse(value, field)?;
    if value.is_empty() {
        return Ok(String::new());
    }
    komek_places::admin::Admin::get()
        .region(&value)
        .map(|r| r.name_en.to_string())
        .ok_or_else(|| {
            FieldViolation::new(
                field,
                "not a known region; give its id (\"KZ-19\") or its name, e.g. \"Almaty \
                 Region\", \"Алматы облысы\" or \"Алматинская область\"",
            )
        })
}

/// A place as events and views carry it: coordinates when known, then settlement, district and
/// region. Never an address: those stay in intake.
pub fn place(
    lat: Option<f64>,
    lon: Option<f64>,
    settlement: &str,
    district: &str,
    region: &str,
) -> komek_proto::types::v1::Location {
    komek_proto::types::v1::Location {
        point: lat.zip(lon).map(|(latitude, longitude)| LatLng {
            latitude,
            longitude,
        }),
        address: String::new(),
        settlement: settlement.to_string(),
        district: district.to_string(),
        region: region.to_string(),
        region_id: String::new(),
        district_id: String::new(),
    }
    .with_ids()
}

/// The ids of a location's region and district, from the names it carries.
pub trait WithIds {
    fn with_ids(self) -> Self;
}

impl WithIds for komek_proto::types::v1::Location {
    fn with_ids(mut self) -> Self {
        let admin = komek_places::admin::Admin::get();
        let region = admin.region(&self.region);
        self.region_id = region.map(|r| r.id.to_string()).unwrap_or_default();
        self.district_id = region
            .and_then(|r| admin.district(Some(r), &self.district))
            .map(|d| d.id.clone())
            .unwrap_or_default();
        self
    }
}

// ---- pages ----

/// The page size when a request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The number of rows to read for a page: as asked, capped at `max`; 0 asks for the default.
pub fn page_limit(page_size: i32, max: u32) -> Result<i64, FieldViolation> {
    match page_size {
        n if n < 0 => Err(FieldViolation::new("page_size", "must not be negative")),
        0 => Ok(i64::from(DEFAULT_PAGE_SIZE.min(max))),
        n => Ok(i64::from((n as u32).min(max))),
    }
}

/// The position of a row in a list ordered by time, then id (what a page token carries; see
/// `pages`).
pub fn time_id_token(t: DateTime<Utc>, id: Uuid) -> String {
    format!("{}.{}", t.timestamp_micros(), id.simple())
}

pub fn decode_time_id(token: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = token.split_once('.')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::parse_str(id).ok()?,
    ))
}

// ---- etags ----

/// The etag of a resource as last read; None when left empty (no precondition).
pub fn optional_etag(value: &str, field: &str) -> Result<Option<i64>, FieldViolation> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| FieldViolation::new(field, "not an etag from an earlier response"))
}

/// The etag an update must name: the resource as it was last read.
pub fn required_etag(value: &str, field: &str) -> Result<i64, FieldViolation> {
    value
        .parse()
        .map_err(|_| FieldViolation::new(field, "the etag of the resource as last read"))
}

// ---- free text ----

/// Characters that format text without being seen: the bidirectional embeddings, overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069) that make a note read other than it is stored,
/// zero-width spaces and joiners, word joiners and invisible operators, the byte order mark,
/// soft hyphens, and the rest of Unicode's format category (Cf).
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether free text may hold `c`: nothing invisible or controlling (see [`INVISIBLE`]; line
/// and paragraph separators U+2028/2029 are among them), no noncharacters, and of the control
/// characters only new lines and tabs in multi-line text.
pub fn allowed_in_text(c: char, multiline: bool) -> bool {
    if c.is_control() {
        return multiline && (c == '\n' || c == '\t');
    }
    let noncharacter = ('\u{FDD0}'..='\u{FDEF}').contains(&c) || (c as u32 & 0xFFFE) == 0xFFFE;
    !noncharacter && !INVISIBLE.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// What a free-text field may hold. Text is trimmed, counted in characters, and held to one
/// rule for its characters ([`allowed_in_text`]) in every field of every API, so names and
/// notes print as they were typed.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    max: usize,
    required: bool,
    multiline: bool,
}

impl Text {
    /// A single line of at most `max` characters, possibly empty.
    pub const fn line(max: usize) -> Self {
        Self {
            max,
            required: false,
            multiline: false,
        }
    }

    /// Several lines (a note, a description) of at most `max` characters, possibly empty.
    pub const fn lines(max: usize) -> Self {
        Self {
            max,
            required: false,
            multiline: true,
        }
    }

    /// The same, but empty is refused.
    pub const fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    /// The trimmed text, or the violation naming `field` and what is wrong with it.
    pub fn parse(&self, value: &str, field: &str) -> Result<String, FieldViolation> {
        let value = value.trim();
        let count = value.chars().count();
        let max = self.max;
        if self.required && value.is_empty() {
            return Err(FieldViolation::new(
                field,
                format!("required: 1 to {max} characters"),
            ));
        }
        if count > max {
            return Err(FieldViolation::new(
                field,
                format!("at most {max} characters, not {count}"),
            ));
        }
        if let Some((at, c)) = value
            .chars()
            .enumerate()
            .find(|(_, c)| !allowed_in_text(*c, self.multiline))
        {
            let kind = if c.is_control() {
                "a control"
            } else {
                "an invisible formatting"
            };
            return Err(FieldViolation::new(
                field,
                format!(
                    "{kind} character (U+{:04X}) at character {}; type the text as it reads",
                    c as u32,
                    at + 1
                ),
            ));
        }
        Ok(value.to_string())
    }
}

// ---- coordinates ----

/// A required point; violations name `{field}.latitude` or `{field}.longitude`, or `field`
/// itself for 0, 0: where an unset position lands (a phone without a fix, a form left blank),
/// in the Gulf of Guinea, never a place a hotline serves.
pub fn geo_point(p: Option<&LatLng>, field: &str) -> Result<GeoPoint, FieldViolation> {
    let Some(p) = p else {
        return Err(FieldViolation::new(field, "required"));
    };
    if p.latitude == 0.0 && p.longitude == 0.0 {
        return Err(FieldViolation::new(
            field,
            "0, 0 is an unset position, not a place; give the real one or leave it out",
        ));
    }
    GeoPoint::new(p.latitude, p.longitude).map_err(|e| match e {
        komek_core::geo::Error::Latitude => {
            FieldViolation::new(format!("{field}.latitude"), "finite, between -90 and 90")
        }
        komek_core::geo::Error::Longitude => {
            FieldViolation::new(format!("{field}.longitude"), "finite, between -180 and 180")
        }
    })
}

/// A point that may be left out.
pub fn optional_point(p: Option<&LatLng>, field: &str) -> Result<Option<GeoPoint>, FieldViolation> {
    p.map(|p| geo_point(Some(p), field)).transpose()
}

// ---- enum codes ----

/// A protobuf enum value that must be set and known to `parse`; `expected` says which values.
pub fn code<T>(
    value: i32,
    parse: impl FnOnce(i32) -> Option<T>,
    field: &str,
    expected: &str,
) -> Result<T, FieldViolation> {
    parse(value).ok_or_else(|| FieldViolation::new(field, expected))
}

/// A protobuf enum value that may be left unspecified (0): None then.
pub fn optional_code<T>(
    value: i32,
    parse: impl FnOnce(i32) -> Option<T>,
    field: &str,
) -> Result<Option<T>, FieldViolation> {
    if value == 0 {
        return Ok(None);
    }
    parse(value)
        .map(Some)
        .ok_or_else(|| FieldViolation::new(field, format!("unknown value {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losing_the_database_is_unavailable_and_a_bug_is_internal() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        for lost in [
            sqlx::Error::Io(reset),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
        ] {
            assert_eq!(database(lost).code(), Code::Unavailable);
        }
        assert_eq!(database(sqlx::Error::RowNotFound).code(), Code::Internal);
        assert_eq!(
            database(sqlx::Error::ColumnNotFound("x".into())).code(),
            Code::Internal
        );
    }

    #[test]
    fn names_round_trip_and_reject_other_collections() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_name("requests", &name("requests", id), "name"),
            Ok(id)
        );
        let err = parse_name("requests", &name("groups", id), "name").unwrap_err();
        assert_eq!(err.field, "name");
        assert_eq!(optional_name("groups", "", "group"), Ok(None));
        assert!(optional_name("groups", "groups/x", "group").is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        let now = Utc::now();
        assert_eq!(from_timestamp(&timestamp(now), "t").unwrap(), now);
        let broken = Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(from_timestamp(&broken, "t").is_err());
        assert_eq!(optional_timestamp(None, "t"), Ok(None));
    }

    #[test]
    fn violations_finish_only_when_everything_parsed() {
        let mut v = Violations::new();
        let a = v.take(parse_request_id(&Uuid::new_v4().to_string()));
        let b = v.take(page_limit(10, 100));
        assert_eq!(v.finish((a, b)).unwrap().1, 10);

        let mut v = Violations::new();
        let a = v.take(parse_request_id("nope"));
        let b = v.take(page_limit(-1, 100));
        let status = v.finish((a, b)).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["request_id", "page_size"]);
    }

    #[test]
    fn a_violation_noted_besides_parsed_values_fails_the_request() {
        let mut v = Violations::new();
        let a = v.take(page_limit(5, 10));
        v.add("reason", "required");
        assert_eq!(v.finish(a).unwrap_err().code(), Code::InvalidArgument);
    }

    #[test]
    fn a_missing_value_without_violation_is_internal() {
        let v = Violations::new();
        assert_eq!(v.finish(None::<u8>).unwrap_err().code(), Code::Internal);
    }

    #[test]
    fn page_limits_default_and_cap() {
        assert_eq!(page_limit(0, 100), Ok(50));
        assert_eq!(page_limit(0, 20), Ok(20));
        assert_eq!(page_limit(500, 100), Ok(100));
        assert_eq!(page_limit(-1, 100).unwrap_err().field, "page_size");
    }

    #[test]
    fn time_and_id_positions_round_trip() {
        let (t, id) = (
            DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            Uuid::now_v7(),
        );
        assert_eq!(decode_time_id(&time_id_token(t, id)), Some((t, id)));
        assert_eq!(decode_time_id("garbage"), None);
    }

    #[test]
    fn etags() {
        assert_eq!(optional_etag("", "etag"), Ok(None));
        assert_eq!(optional_etag("7", "etag"), Ok(Some(7)));
        assert_eq!(optional_etag("x", "etag").unwrap_err().field, "etag");
        assert_eq!(
            required_etag("", "group.etag").unwrap_err().field,
            "group.etag"
        );
    }

    #[test]
    fn invisible_and_control_characters_are_refused_wherever_they_stand() {
        let note = Text::lines(100);
        for bad in [
            "Ардагер\u{202E}kcehc",
            "\u{2066}Talgar\u{2069}",
            "ко\u{200B}мір",
            "a\u{200D}b",
            "\u{FEFF}Алматы",
            "soft\u{00AD}hyphen",
            "line\u{2028}separator",
            "esc\u{1B}[31m",
            "tag\u{E0041}",
            "non\u{FFFF}char",
        ] {
            let err = note.parse(bad, "note").unwrap_err();
            assert_eq!(err.field, "note", "{bad:?}");
            assert!(
                err.description.contains("U+"),
                "{bad:?}: {}",
                err.description
            );
        }
        // Kazakh, Russian and English letters, punctuation, emoji and new lines are text.
        for good in [
            "Көмір керек, 2 т.",
            "Нужна помощь — срочно!",
            "Coal 🔥\nfor 3 homes",
        ] {
            assert!(note.parse(good, "note").is_ok(), "{good:?}");
        }
        let err = Text::line(100).parse("a\u{202E}b", "reason").unwrap_err();
        assert!(err.description.contains("U+202E"), "{}", err.description);
        assert!(
            err.description.contains("character 2"),
            "{}",
            err.description
        );
    }

    #[test]
    fn text_is_trimmed_and_limited() {
        assert_eq!(Text::line(5).parse("  abc ", "f"), Ok("abc".into()));
        assert_eq!(Text::line(5).parse("", "f"), Ok(String::new()));
        assert!(Text::line(5).required().parse("   ", "f").is_err());
        assert!(Text::line(3).parse("abcd", "f").is_err());
        // Counted in characters, not bytes: Kazakh letters are two bytes each.
        assert!(Text::line(3).parse("көк", "f").is_ok());
        assert!(Text::line(10).parse("a\nb", "f").is_err());
        assert!(Text::lines(10).parse("a\nb\tc", "f").is_ok());
        assert!(Text::lines(10).parse("a\u{7}b", "f").is_err());
    }

    #[test]
    fn points_name_the_coordinate_at_fault() {
        let at = |latitude, longitude| LatLng {
            latitude,
            longitude,
        };
        assert!(geo_point(Some(&at(43.2, 76.9)), "p").is_ok());
        assert_eq!(
            geo_point(Some(&at(91.0, 76.9)), "p").unwrap_err().field,
            "p.latitude"
        );
        assert_eq!(
            geo_point(Some(&at(43.0, f64::NAN)), "p").unwrap_err().field,
            "p.longitude"
        );
        assert_eq!(geo_point(None, "p").unwrap_err().field, "p");
        assert_eq!(geo_point(Some(&at(0.0, 0.0)), "p").unwrap_err().field, "p");
        assert!(
            geo_point(Some(&at(0.0, 77.0)), "p").is_ok(),
            "the equator is a place"
        );
        assert_eq!(optional_point(None, "p"), Ok(None));
    }

    #[test]
    fn codes() {
        let parse = |c: i32| (1..=3).contains(&c).then_some(c);
        assert_eq!(code(2, parse, "f", "one to three"), Ok(2));
        assert!(code(0, parse, "f", "one to three").is_err());
        assert_eq!(optional_code(0, parse, "f"), Ok(None));
        assert!(optional_code(9, parse, "f").is_err());
    }
}
