//! AccessService: issuing, listing and revoking API keys, and telling a caller who it is.

use komek_proto::access::v1 as api;
use komek_runtime::auth::{self, Credentials, Role};
use komek_runtime::boundary::{internal, parse_name};
use komek_runtime::events::Bus;
use komek_runtime::pages::Pages;
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use super::uuid_position;
use crate::model::NewKey;
use crate::store::keys::{self, Created};
use crate::{convert, validate};

pub struct Access {
    pool: PgPool,
    bus: Bus,
    credentials: Credentials,
    pages: Pages,
}

impl Access {
    pub fn new(pool: PgPool, bus: Bus, credentials: Credentials, pages: Pages) -> Self {
        Self {
            pool,
            bus,
            credentials,
            pages,
        }
    }
}

#[tonic::async_trait]
impl api::access_service_server::AccessService for Access {
    async fn create_api_key(
        &self,
        request: Request<api::CreateApiKeyRequest>,
    ) -> Result<Response<api::CreateApiKeyResponse>, Status> {
        let creator = auth::principal(&request)?;
        let req = request.into_inner();
        let asked = validate::create_api_key(&req)?;
        if creator.role != Role::Admin && asked.role != Role::Volunteer {
            return Err(Status::permission_denied(
                "a dispatcher issues keys for volunteers only; other keys are an administrator's",
            ));
        }
        let generated = auth::NewKey::generate().map_err(internal)?;
        let new = NewKey {
            id: generated.id,
            request_id: asked.request_id,
            display_name: asked.display_name,
            role: asked.role.code() as i16,
            subject: asked.subject_name,
            regions: asked.regions,
            secret_hash: self.credentials.hash_secret(&generated.secret).to_vec(),
            expire_at: asked.expire_at,
            creator: creator.subject.clone(),
        };
        let payload = api::CreateApiKeyRequest {
            request_id: String::new(),
            ..req
        }
        .encode_to_vec();
        let created = keys::create(&self.pool, &new, asked.subject, &payload).await?;
        Ok(Response::new(match created {
            Created::Fresh(row) => {
                self.bus.wake_outbox();
                tracing::info!(key = %row.id, role = row.role, subject = %row.subject,
                    creator = %row.creator, "api key issued");
                api::CreateApiKeyResponse {
                    api_key: Some(convert::key(&row)),
                    secret: generated.secret,
                }
            }
            // The secret is shown once: a retry gets the key without it.
            Created::Replayed(row) => api::CreateApiKeyResponse {
                api_key: Some(convert::key(&row)),
                secret: String::new(),
            },
        }))
    }

    async fn get_api_key(
        &self,
        request: Request<api::GetApiKeyRequest>,
    ) -> Result<Response<api::ApiKey>, Status> {
        let id = parse_name("apiKeys", &request.get_ref().name, "name")?;
        let row = keys::get(&self.pool, id).await?;
        Ok(Response::new(convert::key(&row)))
    }

    async fn list_api_keys(
        &self,
        request: Request<api::ListApiKeysRequest>,
    ) -> Result<Response<api::ListApiKeysResponse>, Status> {
        let req = request.into_inner();
        let page = self.pages.page(&req, uuid_position)?;
        let subject = validate::subject_filter(&req.subject)?;
        let subject = (!subject.is_empty()).then_some(subject.as_str());
        let rows = keys::list(
            &self.pool,
            subject,
            req.include_revoked,
            page.after,
            page.limit,
        )
        .await?;
        Ok(Response::new(api::ListApiKeysResponse {
            next_page_token: self.pages.next(&req, &page, &rows, |r| r.id.to_string()),
            api_keys: rows.iter().map(convert::key).collect(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<api::RevokeApiKeyRequest>,
    ) -> Result<Response<api::ApiKey>, Status> {
        let by = auth::principal(&request)?;
        let req = request.into_inner();
        let id = parse_name("apiKeys", &req.name, "name")?;
        let reason = validate::revoke_reason(&req.reason)?;
        let row = keys::revoke(&self.pool, id, &reason).await?;
        self.bus.wake_outbox();
        tracing::info!(key = %row.id, by = %by.subject, "api key revoked");
        Ok(Response::new(convert::key(&row)))
    }

    async fn who_am_i(
        &self,
        request: Request<api::WhoAmIRequest>,
    ) -> Result<Response<api::Principal>, Status> {
        let principal = auth::principal(&request)?;
        Ok(Response::new(convert::principal(&principal)))
    }
}
