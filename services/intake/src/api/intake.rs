//! IntakeService: operators record, read, list and cancel requests; matching asks for a
//! caller's contact on behalf of the group that accepted.

use std::sync::Arc;
use std::time::Duration;

use komek_proto::intake::v1 as api;
use komek_runtime::auth::gate::out_of_scope;
use komek_runtime::auth::{self, Principal};
use komek_runtime::boundary::{decode_time_id, parse_name, time_id_token};
use komek_runtime::db;
use komek_runtime::events::Bus;
use komek_runtime::pages::Pages;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::ServiceArea;
use crate::model::{RequestRow, Scope};
use crate::pii::Vault;
use crate::waiters::Waiters;
use crate::{convert, store, validate};

/// How long RevealCaller waits for intake to learn of an accept.
const REVEAL_WAIT: Duration = Duration::from_secs(5);

pub struct Intake {
    pool: PgPool,
    bus: Bus,
    pages: Pages,
    area: Option<ServiceArea>,
    vault: Option<Arc<Vault>>,
    waiters: Arc<Waiters>,
    creates: store::Creates,
    /// RevealCaller's checks and records, which matching asks for every accept.
    reveals: store::Reveals,
    /// Connections for BatchGetRequests, which triage and matching ask for every request.
    batch_reads: db::Warm,
}

impl Intake {
    pub fn new(
        pool: PgPool,
        bus: Bus,
        pages: Pages,
        area: Option<ServiceArea>,
        vault: Option<Arc<Vault>>,
        waiters: Arc<Waiters>,
    ) -> Self {
        Self {
            waiters,
            creates: store::Creates::start(pool.clone(), bus.clone()),
            reveals: store::Reveals::start(pool.clone()),
            batch_reads: db::Warm::new(pool.clone()),
            pool,
            bus,
            pages,
            area,
            vault,
        }
    }

    /// The caller's name and phone of request `id`, decrypted (sealed with key `key_id`).
    fn open_caller(
        &self,
        id: Uuid,
        key_id: Option<&str>,
        name: &Option<Vec<u8>>,
        phone: &Option<Vec<u8>>,
    ) -> (String, String) {
        let (Some(vault), Some(key_id)) = (&self.vault, key_id) else {
            return (String::new(), String::new());
        };
        let open = |field: &str, sealed: &Option<Vec<u8>>| -> String {
            let Some(sealed) = sealed else {
                return String::new();
            };
            vault.open(key_id, id, field, sealed).unwrap_or_else(|err| {
                // The rest of the request is still useful; the log says which row to check.
                tracing::error!(request = %id, error = %err, "caller data unreadable");
                String::new()
            })
        };
        (
            open("caller.display_name", name),
            open("caller.phone", phone),
        )
    }

    /// The request `id`, if `principal` may see it: outside a regional dispatcher's regions it
    /// does not exist.
    async fn get_in_scope(
        &self,
        id: uuid::Uuid,
        principal: &Principal,
    ) -> Result<RequestRow, Status> {
        let row = store::get(&self.pool, id).await?;
        if !Scope::of_operator(principal).covers(&row) {
            return Err(store::Error::NotFound.into());
        }
        Ok(row)
    }

    /// The API view of a stored request for `principal`: caller name and phone decrypted for
    /// those who may see personal data; for others no caller identity and no address.
    fn to_api(&self, row: &RequestRow, principal: &Principal) -> api::Request {
        let mut out = convert::request(row);
        if principal.sees_personal_data() {
            if let Some(caller) = out.caller.as_mut() {
                (caller.display_name, caller.phone) = self.open_caller(
                    row.id,
                    row.caller_key_id.as_deref(),
                    &row.caller_name_enc,
                    &row.caller_phone_enc,
                );
            }
        } else if let Some(location) = out.location.as_mut() {
            location.address.clear();
        }
        // Triage links a repeat caller by it; it is not in any event, so erasure reaches it.
        if principal.is_service("triage") {
            out.caller_blind_index = row.caller_blind_index.clone().unwrap_or_default();
        }
        out
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
        let new = validate::create(&req, self.area.as_ref(), self.vault.as_deref())?;
        if !principal.covers_region(&new.region) {
            return Err(out_of_scope(format!(
                "{} records requests in its regions only; set location.region to one of them",
                principal.subject
            )));
        }
        let payload = validate::fingerprint(req, self.vault.as_deref());
        let (row, created) = self.creates.create(&new, &payload).await?;
        if created {
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
        let id = parse_name("requests", &request.get_ref().name, "name")?;
        let row = self.get_in_scope(id, &principal).await?;
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn batch_get_requests(
        &self,
        request: Request<api::BatchGetRequestsRequest>,
    ) -> Result<Response<api::BatchGetRequestsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let (ids, fields) = validate::batch_get(request.get_ref())?;
        let scope = Scope::of_operator(&principal);
        // In the order named (a name asked for twice is answered twice); NOT_FOUND for any
        // missing or out of the caller's scope.
        fn in_order<R>(
            ids: &[Uuid],
            rows: &[R],
            id: impl Fn(&R) -> Uuid,
            covered: impl Fn(&R) -> bool,
            convert: impl Fn(&R) -> api::Request,
        ) -> Result<Vec<api::Request>, Status> {
            let by_id: std::collections::HashMap<Uuid, &R> = rows
                .iter()
                .filter(|r| covered(r))
                .map(|r| (id(r), r))
                .collect();
            ids.iter()
                .map(|i| {
                    by_id
                        .get(i)
                        .map(|r| convert(r))
                        .ok_or(store::Error::NotFound.into())
                })
                .collect()
        }
        // Triage and matching ask every request's words, and only those: read without the
        // rest of the row, which nothing would show.
        let requests = if fields.words_only() {
            let blind_index = principal.is_service("triage");
            let rows = store::notes_many(&self.batch_reads, &ids).await?;
            in_order(
                &ids,
                &rows,
                |r| r.id,
                |r| scope.covers_place(&r.region, &r.organizations),
                |r| convert::words(r, &fields, blind_index),
            )?
        } else {
            let rows = store::get_many(&self.batch_reads, &ids).await?;
            in_order(
                &ids,
                &rows,
                |r| r.id,
                |r| scope.covers(r),
                |r| convert::masked(self.to_api(r, &principal), &fields),
            )?
        };
        Ok(Response::new(api::BatchGetRequestsResponse { requests }))
    }

    async fn list_requests(
        &self,
        request: Request<api::ListRequestsRequest>,
    ) -> Result<Response<api::ListRequestsResponse>, Status> {
        let principal = auth::principal(&request)?;
        let req = request.get_ref();
        let page = self.pages.page(req, decode_time_id)?;
        let mut filter = validate::list(req, page.clone())?;
        filter.scope = Scope::of_operator(&principal);
        let rows = store::list(&self.pool, &filter).await?;
        Ok(Response::new(api::ListRequestsResponse {
            requests: rows.iter().map(|r| self.to_api(r, &principal)).collect(),
            next_page_token: self
                .pages
                .next(req, &page, &rows, |r| time_id_token(r.created_at, r.id)),
        }))
    }

    async fn cancel_request(
        &self,
        request: Request<api::CancelRequestRequest>,
    ) -> Result<Response<api::Request>, Status> {
        let principal = auth::principal(&request)?;
        let (id, reason, etag) = validate::cancel(request.get_ref())?;
        self.get_in_scope(id, &principal).await?;
        let row = store::cancel(&self.pool, id, &reason, etag, &principal.subject).await?;
        self.bus.wake_outbox();
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn find_by_reference(
        &self,
        request: Request<api::FindByReferenceRequest>,
    ) -> Result<Response<api::Request>, Status> {
        let principal = auth::principal(&request)?;
        let code = validate::reference_code(&request.get_ref().reference_code)?;
        let row = store::find_by_reference(&self.pool, &code).await?;
        if !Scope::of_operator(&principal).covers(&row) {
            return Err(store::Error::NotFound.into());
        }
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn erase_request(
        &self,
        request: Request<api::EraseRequestRequest>,
    ) -> Result<Response<api::Request>, Status> {
        let principal = auth::principal(&request)?;
        let (key, reason) = validate::erase(request.get_ref())?;
        let row = match key {
            validate::Key::Id(id) => store::get(&self.pool, id).await?,
            validate::Key::Code(code) => store::find_by_reference(&self.pool, &code).await?,
        };
        if !Scope::of_operator(&principal).covers(&row) {
            return Err(store::Error::NotFound.into());
        }
        let (row, now) =
            store::erasure::erase(&self.pool, row.id, &principal.subject, &reason).await?;
        if now {
            self.bus.wake_outbox();
            tracing::info!(request = %row.id, reference = %row.reference_code,
                by = %principal.subject, "request's personal data erased");
        }
        Ok(Response::new(self.to_api(&row, &principal)))
    }

    async fn reveal_caller(
        &self,
        request: Request<api::RevealCallerRequest>,
    ) -> Result<Response<api::CallerReveal>, Status> {
        let principal = auth::principal(&request)?;
        if !principal.is_service("matching") {
            return Err(out_of_scope(
                "only the matching service reveals callers, for the group that accepted",
            ));
        }
        let req = request.into_inner();
        let (id, assignment) = validate::reveal(&req)?;
        // Intake learns of the accept from matching's event, a moment after matching committed
        // it; wait that moment rather than refuse a contact that is due.
        // This process's consumer wakes the wait when it commits an assignment change of the
        // request; another replica's does not, so it also looks again after growing pauses
        // (50, 100, 200 ms ... at most 500 ms): when intake lags behind its streams (a surge)
        // a tight poll would only add to what it is behind on.
        let deadline = tokio::time::Instant::now() + REVEAL_WAIT;
        let mut pause = Duration::from_millis(50);
        let wait = self.waiters.wait(id);
        // The first look waits for the wake unless a change of the request was applied here
        // a moment ago: a look before the accept arrived would find nothing.
        let mut look = false;
        let ask = store::Ask {
            request: id,
            assignment,
            volunteer: req.volunteer.clone(),
            principal: principal.subject.clone(),
        };
        let row = loop {
            let woken = wait.notify.notified();
            tokio::pin!(woken);
            // Registered before the read, so a commit between the two is not missed.
            woken.as_mut().enable();
            if look || self.waiters.changed_recently(id) {
                // Checked and recorded in one statement: the reveal is on record whenever
                // the contact leaves.
                let (row, accepted) = self.reveals.reveal(&ask).await?;
                if accepted {
                    break row;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(Status::failed_precondition(format!(
                        "{} is not the accepted assignment of {}",
                        req.assignment, req.request
                    )));
                }
            }
            look = true;
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(pause) => pause = (pause * 2).min(Duration::from_millis(500)),
            }
        };
        drop(wait);
        let (display_name, phone) = self.open_caller(
            row.id,
            row.caller_key_id.as_deref(),
            &row.caller_name_enc,
            &row.caller_phone_enc,
        );
        tracing::info!(request = %id, assignment = %assignment, volunteer = %req.volunteer,
            "caller contact revealed");
        Ok(Response::new(api::CallerReveal {
            display_name,
            phone,
            preferred_language: row.caller_language.into(),
            anonymous: row.caller_anonymous,
            address: row.address.clone(),
        }))
    }
}
