//! PartnerService: status, live watch, lists and statistics of the requests in a partner's
//! scope. Views are built from a fixed set of non-personal fields, so no response can carry a
//! caller's name, phone or address.

use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use komek_core::RequestStatus;
use komek_core::reference::ReferenceCode;
use komek_proto::events::v1 as ev;
use komek_proto::intake::v1 as intake_api;
use komek_proto::partner::v1 as api;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;
use komek_runtime::auth::{self, Principal, Role};
use komek_runtime::convert::{from_timestamp, name, parse_name, timestamp};
use komek_runtime::events::{Bus, subject};
use komek_runtime::grpc::{FieldViolation, internal, invalid_argument};
use prost::Message;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::model::{RequestRow, Scope};
use crate::store::{self, stats};

pub struct Partner {
    pool: PgPool,
    bus: Bus,
    max_page_size: u32,
    /// Months in statistics are calendar months in this zone.
    stats_zone: String,
    shutdown: CancellationToken,
}

impl Partner {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        max_page_size: u32,
        stats_zone: String,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            pool,
            bus,
            max_page_size,
            stats_zone,
            shutdown,
        }
    }

    /// The request named by `key`, if it is in `scope`. Outside the scope it does not exist,
    /// so reference codes cannot be probed.
    async fn find(&self, key: Option<&Key>, scope: &Scope) -> Result<RequestRow, Status> {
        let not_found = || Status::not_found("no such request in your scope");
        let row = match key {
            Some(Key::Id(id)) => store::get(&self.pool, *id).await,
            Some(Key::Code(code)) => store::find_by_reference(&self.pool, code).await,
            None => {
                return Err(invalid_argument(&[FieldViolation::new(
                    "key",
                    "name or reference_code is required",
                )]));
            }
        };
        match row {
            Ok(row) if scope.covers(&row) => Ok(row),
            Ok(_) | Err(store::Error::NotFound) => Err(not_found()),
            Err(e) => Err(internal(e)),
        }
    }
}

enum Key {
    Id(Uuid),
    Code(ReferenceCode),
}

fn key_of(name: Option<&str>, code: Option<&str>) -> Result<Option<Key>, Status> {
    match (name, code) {
        (Some(n), _) => parse_name("requests", n, "name")
            .map(|id| Some(Key::Id(id)))
            .map_err(|v| invalid_argument(&[v])),
        (None, Some(c)) => ReferenceCode::parse(c)
            .map(|c| Some(Key::Code(c)))
            .map_err(|e| invalid_argument(&[FieldViolation::new("reference_code", e.to_string())])),
        (None, None) => Ok(None),
    }
}

/// What `principal` may see: partners their organisation's work and their regions; dispatchers
/// and admins everything (the matrix lets no one else in).
pub fn scope_of(principal: &Principal) -> Result<Scope, Status> {
    match principal.role {
        Role::Partner => {
            let organization = principal
                .organization()
                .ok_or_else(|| Status::permission_denied("a partner key without organisation"))?;
            Ok(Scope::Partner {
                organization,
                regions: principal.regions.clone(),
            })
        }
        Role::Admin | Role::Dispatcher => Ok(Scope::All),
        other => Err(auth::gate::out_of_scope(format!(
            "the {} role has no partner scope",
            other.as_str()
        ))),
    }
}

/// The partner's view of a request: settlement, district and region, never the address or
/// caller.
pub fn view(row: &RequestRow) -> api::RequestStatusView {
    api::RequestStatusView {
        name: name("requests", row.id),
        reference_code: row.reference_code.clone(),
        category: row.category.into(),
        priority: row.priority.into(),
        status: row.status.into(),
        settlement: row.settlement.clone(),
        district: row.district.clone(),
        region: row.region.clone(),
        group_display_name: row.assignment_group_name.clone(),
        outcome: row.outcome.into(),
        people_count: row.people_count,
        create_time: Some(timestamp(row.created_at)),
        update_time: Some(timestamp(row.updated_at)),
    }
}

type ViewStream =
    Pin<Box<dyn futures::Stream<Item = Result<api::RequestStatusView, Status>> + Send>>;

/// How often a watch re-reads its request even without news: a change whose event this
/// replica's subscription missed (a reconnect) still arrives.
const WATCH_REFRESH: Duration = Duration::from_secs(15);
/// Intake applies an assignment event a moment after it is published; a watch re-reads then.
const APPLY_DELAY: Duration = Duration::from_millis(300);

fn duration(seconds: Option<f64>) -> Option<prost_types::Duration> {
    seconds.map(|s| prost_types::Duration {
        seconds: s.trunc() as i64,
        nanos: (s.fract() * 1e9) as i32,
    })
}

fn stats_row(r: &stats::Row) -> api::StatsRow {
    api::StatsRow {
        keys: r.keys.clone(),
        request_count: r.requests,
        people_helped: r.people_helped,
        median_time_to_assign: duration(r.assign_p50),
        p90_time_to_assign: duration(r.assign_p90),
        median_time_to_complete: duration(r.complete_p50),
        p90_time_to_complete: duration(r.complete_p90),
    }
}

#[tonic::async_trait]
impl api::partner_service_server::PartnerService for Partner {
    async fn get_request_status(
        &self,
        request: Request<api::GetRequestStatusRequest>,
    ) -> Result<Response<api::RequestStatusView>, Status> {
        use api::get_request_status_request::Key as K;
        let scope = scope_of(&auth::principal(&request)?)?;
        let key = match &request.get_ref().key {
            Some(K::Name(n)) => key_of(Some(n), None)?,
            Some(K::ReferenceCode(c)) => key_of(None, Some(c))?,
            None => None,
        };
        let row = self.find(key.as_ref(), &scope).await?;
        Ok(Response::new(view(&row)))
    }

    type WatchRequestStream = ViewStream;

    async fn watch_request(
        &self,
        request: Request<api::WatchRequestRequest>,
    ) -> Result<Response<Self::WatchRequestStream>, Status> {
        use api::watch_request_request::Key as K;
        let scope = scope_of(&auth::principal(&request)?)?;
        let key = match &request.get_ref().key {
            Some(K::Name(n)) => key_of(Some(n), None)?,
            Some(K::ReferenceCode(c)) => key_of(None, Some(c))?,
            None => None,
        };
        let row = self.find(key.as_ref(), &scope).await?;
        let id = row.id;
        let request_name = name("requests", id);
        // Subscribed before the first read, so no change falls between the two.
        let mut statuses = self
            .bus
            .client
            .subscribe(subject::REQUEST_STATUS_CHANGED)
            .await
            .map_err(internal)?;
        let mut assignments = self
            .bus
            .client
            .subscribe("komek.assignment.>")
            .await
            .map_err(internal)?;
        let row = store::get(&self.pool, id).await.map_err(internal)?;
        let (tx, rx) = mpsc::channel(16);
        let pool = self.pool.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut last = view(&row);
            if tx.send(Ok(last.clone())).await.is_err() {
                return;
            }
            loop {
                if final_status(last.status) {
                    return;
                }
                let mut next = last.clone();
                tokio::select! {
                    // Status changes come from the events themselves, so every step is sent
                    // in order even when they follow each other faster than a re-read.
                    m = statuses.next() => {
                        let Some(m) = m else { return };
                        let Ok(e) = ev::RequestStatusChanged::decode(m.payload.as_ref()) else {
                            continue;
                        };
                        if e.request != request_name || !newer(e.change_time.as_ref(), &last) {
                            continue;
                        }
                        next.status = e.status;
                        next.outcome = e.outcome;
                        next.update_time = e.change_time;
                    }
                    // An assignment event may change the group (a new offer after a decline);
                    // intake applies it a moment after it is published.
                    m = assignments.next() => {
                        let Some(m) = m else { return };
                        if !mentions(&m.payload, &request_name) {
                            continue;
                        }
                        tokio::time::sleep(APPLY_DELAY).await;
                        match store::get(&pool, id).await {
                            Ok(row) => next.group_display_name = row.assignment_group_name,
                            Err(err) => {
                                let _ = tx.send(Err(internal(err))).await;
                                return;
                            }
                        }
                    }
                    // Catches up with anything this subscription missed (a reconnect).
                    _ = tokio::time::sleep(WATCH_REFRESH) => match store::get(&pool, id).await {
                        Ok(row) => {
                            let fresh = view(&row);
                            if newer(fresh.update_time.as_ref(), &last) {
                                next = fresh;
                            }
                        }
                        Err(err) => {
                            let _ = tx.send(Err(internal(err))).await;
                            return;
                        }
                    },
                    _ = tx.closed() => return,
                    _ = shutdown.cancelled() => return,
                }
                if next != last {
                    if tx.send(Ok(next.clone())).await.is_err() {
                        return;
                    }
                    last = next;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list_requests(
        &self,
        request: Request<api::ListRequestsRequest>,
    ) -> Result<Response<api::ListRequestsResponse>, Status> {
        let scope = scope_of(&auth::principal(&request)?)?;
        let req = request.into_inner();
        // The same filters as intake's own list, minus what partners do not filter on.
        let mut filter = crate::grpc::validate_list(
            &intake_api::ListRequestsRequest {
                page_size: req.page_size,
                page_token: req.page_token,
                statuses: req.statuses,
                categories: req.categories,
                region: req.region,
                district: req.district,
                created_after: req.created_after,
                created_before: req.created_before,
                ..Default::default()
            },
            self.max_page_size,
        )?;
        filter.scope = scope;
        let rows = store::list(&self.pool, &filter).await.map_err(internal)?;
        let next_page_token = if rows.len() as i64 == filter.limit {
            rows.last()
                .map(|r| crate::grpc::page_token(r.created_at, r.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(api::ListRequestsResponse {
            requests: rows.iter().map(view).collect(),
            next_page_token,
        }))
    }

    async fn get_stats(
        &self,
        request: Request<api::GetStatsRequest>,
    ) -> Result<Response<api::Stats>, Status> {
        let scope = scope_of(&auth::principal(&request)?)?;
        let req = request.into_inner();
        let mut v = Vec::new();
        let time =
            |t: &Option<prost_types::Timestamp>, field: &str, v: &mut Vec<FieldViolation>| {
                t.as_ref()
                    .and_then(|t| from_timestamp(t, field).map_err(|e| v.push(e)).ok())
            };
        let start: Option<DateTime<Utc>> = time(&req.period_start, "period_start", &mut v);
        let end: Option<DateTime<Utc>> = time(&req.period_end, "period_end", &mut v);
        if let (Some(s), Some(e)) = (start, end)
            && s >= e
        {
            v.push(FieldViolation::new("period_end", "after period_start"));
        }
        let mut dims = Vec::new();
        for (i, d) in req.group_by.iter().enumerate() {
            let dim = match api::StatsDimension::try_from(*d) {
                Ok(api::StatsDimension::Category) => stats::Dim::Category,
                Ok(api::StatsDimension::Status) => stats::Dim::Status,
                Ok(api::StatsDimension::Region) => stats::Dim::Region,
                Ok(api::StatsDimension::District) => stats::Dim::District,
                Ok(api::StatsDimension::Month) => stats::Dim::Month,
                _ => {
                    v.push(FieldViolation::new(format!("group_by[{i}]"), "a dimension"));
                    continue;
                }
            };
            if dims.contains(&dim) {
                v.push(FieldViolation::new(format!("group_by[{i}]"), "given twice"));
            }
            dims.push(dim);
        }
        let region = req.region.trim();
        if region.chars().count() > 200 {
            v.push(FieldViolation::new("region", "at most 200 characters"));
        }
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let query = stats::Query {
            start,
            end,
            region: region.to_string(),
            scope,
            dims,
            zone: self.stats_zone.clone(),
        };
        let (rows, total) = stats::compute(&self.pool, &query).await.map_err(internal)?;
        Ok(Response::new(api::Stats {
            rows: rows
                .iter()
                .map(|r| {
                    let mut out = stats_row(r);
                    out.keys = r
                        .keys
                        .iter()
                        .zip(&query.dims)
                        .map(|(k, d)| d.label(k))
                        .collect();
                    out
                })
                .collect(),
            total: Some(stats_row(&total)),
        }))
    }
}

fn final_status(code: i32) -> bool {
    RequestStatus::from_code(code).is_some_and(|s| s.is_final())
}

/// Whether a change at `at` is later than what `view` shows.
fn newer(at: Option<&prost_types::Timestamp>, view: &api::RequestStatusView) -> bool {
    let key = |t: Option<&prost_types::Timestamp>| t.map(|t| (t.seconds, t.nanos));
    key(at) > key(view.update_time.as_ref())
}

/// Whether an assignment event's payload is about `request` (both event types carry the
/// request name as field 2).
fn mentions(payload: &[u8], request: &str) -> bool {
    #[derive(Clone, PartialEq, Message)]
    struct RequestOnly {
        #[prost(string, tag = "2")]
        request: String,
    }
    RequestOnly::decode(payload).is_ok_and(|e| e.request == request)
}

/// Category and status codes as their protobuf names, for report keys.
pub fn category_label(code: &str) -> String {
    code.parse::<i32>()
        .ok()
        .and_then(|c| pb::Category::try_from(c).ok())
        .map_or_else(|| code.to_string(), |c| c.as_str_name().to_string())
}

pub fn status_label(code: &str) -> String {
    code.parse::<i32>()
        .ok()
        .and_then(|c| pb::RequestStatus::try_from(c).ok())
        .map_or_else(|| code.to_string(), |c| c.as_str_name().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_events_are_matched_by_their_request() {
        let offered = ev::AssignmentOffered {
            assignment: "assignments/a".into(),
            request: "requests/r".into(),
            ..Default::default()
        };
        let changed = ev::AssignmentChanged {
            assignment: "assignments/a".into(),
            request: "requests/r".into(),
            ..Default::default()
        };
        assert!(mentions(&offered.encode_to_vec(), "requests/r"));
        assert!(mentions(&changed.encode_to_vec(), "requests/r"));
        assert!(!mentions(&changed.encode_to_vec(), "requests/other"));
    }

    #[test]
    fn labels_use_protobuf_names() {
        assert_eq!(
            category_label("3"),
            pb::Category::try_from(3).unwrap().as_str_name()
        );
        assert_eq!(status_label("6"), "REQUEST_STATUS_RESOLVED");
        assert_eq!(status_label("x"), "x");
    }
}
