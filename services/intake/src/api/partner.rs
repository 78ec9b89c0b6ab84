//! PartnerService: status, live watch, lists and statistics of the requests in a partner's
//! scope. Views come from `convert::view`, a fixed set of non-personal fields.

use std::time::Duration;

use futures::StreamExt;
use komek_core::RequestStatus;
use komek_proto::events::v1 as ev;
use komek_proto::intake::v1 as intake_api;
use komek_proto::partner::v1 as api;
use komek_runtime::auth::{self, Principal, Role};
use komek_runtime::boundary::{decode_time_id, messaging, name, time_id_token};
use komek_runtime::events::{Bus, subject};
use komek_runtime::pages::Pages;
use komek_runtime::pump::{Pumps, ResponseStream};
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::convert::{self, view};
use crate::model::{RequestRow, Scope};
use crate::store::{self, stats};
use crate::validate::{self, Key};

/// How often a watch re-reads its request even without news: a change whose event this
/// replica's subscription missed (a reconnect) still arrives.
const WATCH_REFRESH: Duration = Duration::from_secs(15);
/// Intake applies an assignment event a moment after it is published; a watch re-reads then.
const APPLY_DELAY: Duration = Duration::from_millis(300);

pub struct Partner {
    pool: PgPool,
    bus: Bus,
    pages: Pages,
    /// Months in statistics are calendar months in this zone.
    stats_zone: String,
    pumps: Pumps,
}

impl Partner {
    pub fn new(pool: PgPool, bus: Bus, pages: Pages, stats_zone: String, pumps: Pumps) -> Self {
        Self {
            pool,
            bus,
            pages,
            stats_zone,
            pumps,
        }
    }

    /// The request named by `key`, if it is in `scope`. Outside the scope it does not exist,
    /// so reference codes cannot be probed.
    async fn find(&self, key: Key, scope: &Scope) -> Result<RequestRow, Status> {
        let row = match key {
            Key::Id(id) => store::get(&self.pool, id).await,
            Key::Code(code) => store::find_by_reference(&self.pool, &code).await,
        };
        match row {
            Ok(row) if scope.covers(&row) => Ok(row),
            Ok(_) | Err(store::Error::NotFound) => {
                Err(Status::not_found("no such request in your scope"))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// What `principal` may see: partners their organisation's work and their regions; dispatchers
/// and admins everything (the matrix lets no one else in).
fn scope_of(principal: &Principal) -> Result<Scope, Status> {
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
        Role::Admin => Ok(Scope::All),
        Role::Dispatcher => Ok(Scope::of_operator(principal)),
        other => Err(auth::gate::out_of_scope(format!(
            "the {} role has no partner scope",
            other.as_str()
        ))),
    }
}

#[tonic::async_trait]
impl api::partner_service_server::PartnerService for Partner {
    async fn get_request_status(
        &self,
        request: Request<api::GetRequestStatusRequest>,
    ) -> Result<Response<api::RequestStatusView>, Status> {
        let scope = scope_of(&auth::principal(&request)?)?;
        let row = self
            .find(validate::status_key(request.get_ref())?, &scope)
            .await?;
        Ok(Response::new(view(&row)))
    }

    type WatchRequestStream = ResponseStream<api::RequestStatusView>;

    async fn watch_request(
        &self,
        request: Request<api::WatchRequestRequest>,
    ) -> Result<Response<Self::WatchRequestStream>, Status> {
        let principal = auth::principal(&request)?;
        let scope = scope_of(&principal)?;
        let key = validate::watch_key(request.get_ref())?;
        let id = self.find(key, &scope).await?.id;
        let request_name = name("requests", id);
        // Subscribed before the first read, so no change falls between the two.
        let mut statuses = self
            .bus
            .client
            .subscribe(subject::REQUEST_STATUS_CHANGED)
            .await
            .map_err(messaging)?;
        let mut assignments = self
            .bus
            .client
            .subscribe("komek.assignment.>")
            .await
            .map_err(messaging)?;
        let row = store::get(&self.pool, id).await?;
        let pool = self.pool.clone();
        let stream = self.pumps.start(&principal, |feed| async move {
            let mut last = view(&row);
            if !feed.send(last.clone()).await {
                return;
            }
            while !final_status(last.status) {
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
                            Err(err) => return feed.fail(err.into()).await,
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
                        Err(err) => return feed.fail(err.into()).await,
                    },
                }
                if next != last {
                    if !feed.send(next.clone()).await {
                        return;
                    }
                    last = next;
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn list_requests(
        &self,
        request: Request<api::ListRequestsRequest>,
    ) -> Result<Response<api::ListRequestsResponse>, Status> {
        let scope = scope_of(&auth::principal(&request)?)?;
        let req = request.into_inner();
        let page = self.pages.page(&req, decode_time_id)?;
        // The same filters as intake's own list, minus what partners do not filter on.
        let mut filter = validate::list(
            &intake_api::ListRequestsRequest {
                statuses: req.statuses.clone(),
                categories: req.categories.clone(),
                region: req.region.clone(),
                district: req.district.clone(),
                created_after: req.created_after,
                created_before: req.created_before,
                ..Default::default()
            },
            page.clone(),
        )?;
        filter.scope = scope;
        let rows = store::list(&self.pool, &filter).await?;
        Ok(Response::new(api::ListRequestsResponse {
            requests: rows.iter().map(view).collect(),
            next_page_token: self
                .pages
                .next(&req, &page, &rows, |r| time_id_token(r.created_at, r.id)),
        }))
    }

    async fn get_stats(
        &self,
        request: Request<api::GetStatsRequest>,
    ) -> Result<Response<api::Stats>, Status> {
        let scope = scope_of(&auth::principal(&request)?)?;
        let query = validate::stats(request.get_ref(), scope, &self.stats_zone)?;
        let (rows, total) = stats::compute(&self.pool, &query).await?;
        Ok(Response::new(api::Stats {
            rows: rows
                .iter()
                .map(|r| convert::stats_row(r, &query.dims))
                .collect(),
            total: Some(convert::stats_row(&total, &[])),
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
}
