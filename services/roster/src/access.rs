//! AccessService: issuing, listing and revoking API keys, and telling a caller who it is.

use chrono::Utc;
use komek_proto::access::v1 as api;
use komek_runtime::auth::{self, Credentials, Principal, Role};
use komek_runtime::convert::{from_timestamp, name, parse_request_id, timestamp};
use komek_runtime::events::Bus;
use komek_runtime::grpc::{FieldViolation, invalid_argument};
use prost::Message;
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::store::Error;
use crate::store::keys::{self, Created, KeyRow, NewKey, Subject};

pub struct Access {
    pool: PgPool,
    bus: Bus,
    credentials: Credentials,
    max_page_size: u32,
}

impl Access {
    pub fn new(pool: PgPool, bus: Bus, credentials: Credentials, max_page_size: u32) -> Self {
        Self {
            pool,
            bus,
            credentials,
            max_page_size,
        }
    }
}

fn key_to_api(k: &KeyRow) -> api::ApiKey {
    api::ApiKey {
        name: name("apiKeys", k.id),
        display_name: k.display_name.clone(),
        role: i32::from(k.role),
        subject: k.subject.clone(),
        regions: k.regions.clone(),
        create_time: Some(timestamp(k.created_at)),
        expire_time: k.expire_at.map(timestamp),
        revoke_time: k.revoked_at.map(timestamp),
        revoke_reason: k.revoke_reason.clone(),
        creator: k.creator.clone(),
    }
}

fn status_of(err: Error) -> Status {
    match err {
        Error::NotFound("subject") => invalid_argument(&[FieldViolation::new(
            "api_key.subject",
            "no such volunteer or organisation in the roster",
        )]),
        other => crate::grpc::status_of(other),
    }
}

/// Names of Komek's services, which authenticate to each other with signed tokens.
const KOMEK_SERVICES: [&str; 4] = ["intake", "triage", "roster", "matching"];

/// What a key is for, checked against its role.
fn check_subject(role: Role, subject: &str, v: &mut Vec<FieldViolation>) -> Subject {
    let collection = role.collection();
    let id = subject
        .strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'));
    let field = "api_key.subject";
    if role == Role::Service && id.is_some_and(|id| KOMEK_SERVICES.contains(&id)) {
        // Komek's own services sign their own tokens; a key in their name could be leaked and
        // used to reveal callers.
        v.push(FieldViolation::new(
            field,
            "reserved for Komek's own services, which need no key",
        ));
        return Subject::Named;
    }
    match (role, id) {
        (Role::Volunteer | Role::Partner, Some(id)) => match Uuid::parse_str(id) {
            Ok(id) if role == Role::Volunteer => return Subject::Volunteer(id),
            Ok(id) => return Subject::Organization(id),
            Err(_) => {}
        },
        (_, Some(id)) if auth::valid_slug(id) => return Subject::Named,
        _ => {}
    }
    let shape = match role {
        Role::Volunteer | Role::Partner => format!("{collection}/{{uuid}}"),
        _ => format!("{collection}/{{id}} with an id of lower-case letters, digits and dashes"),
    };
    v.push(FieldViolation::new(
        field,
        format!("a {} key needs a subject like {shape}", role.as_str()),
    ));
    Subject::Named
}

fn check_regions(role: Role, regions: &[String], v: &mut Vec<FieldViolation>) -> Vec<String> {
    if role != Role::Partner && !regions.is_empty() {
        v.push(FieldViolation::new(
            "api_key.regions",
            "only partner keys have regions",
        ));
    }
    if regions.len() > 50 {
        v.push(FieldViolation::new("api_key.regions", "at most 50"));
    }
    for (i, r) in regions.iter().enumerate() {
        let r = r.trim();
        if r.is_empty() || r.chars().count() > 200 || r.chars().any(char::is_control) {
            v.push(FieldViolation::new(
                format!("api_key.regions[{i}]"),
                "1 to 200 printable characters",
            ));
        }
    }
    regions.iter().map(|r| r.trim().to_string()).collect()
}

fn principal_to_api(p: &Principal) -> api::Principal {
    api::Principal {
        role: p.role.code(),
        subject: p.subject.clone(),
        regions: p.regions.clone(),
        api_key: p.api_key.map(|id| name("apiKeys", id)).unwrap_or_default(),
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
        let mut v = Vec::new();
        let request_id = parse_request_id(&req.request_id)
            .map_err(|e| v.push(e))
            .ok();
        let Some(k) = req.api_key.as_ref() else {
            return Err(invalid_argument(&[FieldViolation::new(
                "api_key", "required",
            )]));
        };
        let display_name = k.display_name.trim().to_string();
        if display_name.is_empty()
            || display_name.chars().count() > 200
            || display_name.chars().any(char::is_control)
        {
            v.push(FieldViolation::new(
                "api_key.display_name",
                "1 to 200 printable characters",
            ));
        }
        let role = Role::from_code(k.role);
        let subject = match role {
            Some(role) => check_subject(role, k.subject.trim(), &mut v),
            None => {
                v.push(FieldViolation::new("api_key.role", "a role"));
                Subject::Named
            }
        };
        let regions = check_regions(role.unwrap_or(Role::Partner), &k.regions, &mut v);
        let expire_at = match k.expire_time.as_ref() {
            None => None,
            Some(t) => match from_timestamp(t, "api_key.expire_time") {
                Ok(at) if at > Utc::now() => Some(at),
                Ok(_) => {
                    v.push(FieldViolation::new("api_key.expire_time", "in the future"));
                    None
                }
                Err(e) => {
                    v.push(e);
                    None
                }
            },
        };
        if !v.is_empty() {
            return Err(invalid_argument(&v));
        }
        let generated = auth::NewKey::generate().map_err(komek_runtime::grpc::internal)?;
        let new = NewKey {
            id: generated.id,
            request_id: request_id.unwrap(),
            display_name,
            role: role.unwrap().code() as i16,
            subject: k.subject.trim().to_string(),
            regions,
            secret_hash: self.credentials.hash_secret(&generated.secret).to_vec(),
            expire_at,
            creator: creator.subject.clone(),
        };
        let payload = api::CreateApiKeyRequest {
            request_id: String::new(),
            ..req
        }
        .encode_to_vec();
        let created = keys::create(&self.pool, &new, subject, &payload)
            .await
            .map_err(status_of)?;
        Ok(Response::new(match created {
            Created::Fresh(row) => {
                self.bus.wake_outbox();
                tracing::info!(key = %row.id, role = row.role, subject = %row.subject,
                    creator = %row.creator, "api key issued");
                api::CreateApiKeyResponse {
                    api_key: Some(key_to_api(&row)),
                    secret: generated.secret,
                }
            }
            Created::Replayed(row) => api::CreateApiKeyResponse {
                api_key: Some(key_to_api(&row)),
                secret: String::new(),
            },
        }))
    }

    async fn get_api_key(
        &self,
        request: Request<api::GetApiKeyRequest>,
    ) -> Result<Response<api::ApiKey>, Status> {
        let id = crate::grpc::name_arg("apiKeys", &request.get_ref().name, "name")?;
        let row = keys::get(&self.pool, id).await.map_err(status_of)?;
        Ok(Response::new(key_to_api(&row)))
    }

    async fn list_api_keys(
        &self,
        request: Request<api::ListApiKeysRequest>,
    ) -> Result<Response<api::ListApiKeysResponse>, Status> {
        let req = request.into_inner();
        let limit = crate::grpc::page_limit(req.page_size, self.max_page_size)?;
        let after = crate::grpc::page_after(&req.page_token)?;
        let subject = (!req.subject.is_empty()).then_some(req.subject.as_str());
        let rows = keys::list(&self.pool, subject, req.include_revoked, after, limit)
            .await
            .map_err(status_of)?;
        Ok(Response::new(api::ListApiKeysResponse {
            next_page_token: crate::grpc::next_token(rows.len(), limit, rows.last().map(|r| r.id)),
            api_keys: rows.iter().map(key_to_api).collect(),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<api::RevokeApiKeyRequest>,
    ) -> Result<Response<api::ApiKey>, Status> {
        let by = auth::principal(&request)?;
        let req = request.into_inner();
        let id = crate::grpc::name_arg("apiKeys", &req.name, "name")?;
        let reason = req.reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(invalid_argument(&[FieldViolation::new(
                "reason",
                "1 to 500 characters",
            )]));
        }
        let row = keys::revoke(&self.pool, id, reason)
            .await
            .map_err(status_of)?;
        self.bus.wake_outbox();
        tracing::info!(key = %row.id, by = %by.subject, "api key revoked");
        Ok(Response::new(key_to_api(&row)))
    }

    async fn who_am_i(
        &self,
        request: Request<api::WhoAmIRequest>,
    ) -> Result<Response<api::Principal>, Status> {
        let principal = auth::principal(&request)?;
        Ok(Response::new(principal_to_api(&principal)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_must_fit_their_role() {
        let id = Uuid::new_v4();
        let mut v = Vec::new();
        assert!(matches!(
            check_subject(Role::Volunteer, &format!("volunteers/{id}"), &mut v),
            Subject::Volunteer(x) if x == id
        ));
        assert!(matches!(
            check_subject(Role::Partner, &format!("organizations/{id}"), &mut v),
            Subject::Organization(x) if x == id
        ));
        assert!(matches!(
            check_subject(Role::Dispatcher, "dispatchers/aigerim", &mut v),
            Subject::Named
        ));
        assert!(v.is_empty(), "{v:?}");
        for (role, subject) in [
            (Role::Volunteer, "volunteers/aigerim"),
            (Role::Partner, &format!("volunteers/{id}") as &str),
            (Role::Dispatcher, "dispatchers/Aigerim"),
            (Role::Service, "matching"),
            (Role::Admin, "dispatchers/root"),
            (Role::Service, "services/matching"),
        ] {
            let mut v = Vec::new();
            check_subject(role, subject, &mut v);
            assert_eq!(v.len(), 1, "{role:?} {subject}");
            assert_eq!(v[0].field, "api_key.subject");
        }
    }

    #[test]
    fn only_partners_have_regions() {
        let mut v = Vec::new();
        check_regions(Role::Dispatcher, &["Almaty Region".into()], &mut v);
        assert_eq!(v[0].field, "api_key.regions");
        let mut v = Vec::new();
        check_regions(Role::Partner, &["".into()], &mut v);
        assert_eq!(v[0].field, "api_key.regions[0]");
    }
}
