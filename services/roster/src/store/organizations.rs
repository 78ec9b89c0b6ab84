//! Organisations: the NGOs, Red Cross branches and akimat services that field groups.

use komek_runtime::db::{self, Replay};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Error, Result};
use crate::model::*;

pub async fn create_organization(
    pool: &PgPool,
    o: &NewOrganization,
    payload: &[u8],
) -> Result<OrganizationRow> {
    let inserted: Option<OrganizationRow> = sqlx::query_as(
        "INSERT INTO organizations (id, idempotency_key, create_payload, display_name, kind, \
           regions, contact_email) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING id, display_name, kind, regions, contact_email, created_at, updated_at, version",
    )
    .bind(Uuid::now_v7())
    .bind(o.key)
    .bind(payload)
    .bind(&o.display_name)
    .bind(o.kind)
    .bind(&o.regions)
    .bind(&o.contact_email)
    .fetch_optional(pool)
    .await?;
    match inserted {
        Some(row) => Ok(row),
        None => match db::replay(pool, "organizations", o.key, payload).await? {
            Replay::Same(id) => get_organization(pool, id).await,
            _ => Err(Error::IdempotencyClash("organization")),
        },
    }
}

pub async fn get_organization(pool: &PgPool, id: Uuid) -> Result<OrganizationRow> {
    sqlx::query_as(
        "SELECT id, display_name, kind, regions, contact_email, created_at, updated_at, version \
         FROM organizations WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound("organization"))
}

pub async fn list_organizations(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OrganizationRow>> {
    Ok(sqlx::query_as(
        "SELECT id, display_name, kind, regions, contact_email, created_at, updated_at, version \
         FROM organizations WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn update_organization(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    display_name: &str,
    kind: i16,
    regions: &[String],
    contact_email: &str,
) -> Result<OrganizationRow> {
    let row: Option<OrganizationRow> = sqlx::query_as(
        "UPDATE organizations SET display_name = $3, kind = $4, regions = $5, contact_email = $6, \
           updated_at = now(), version = version + 1 WHERE id = $1 AND version = $2 \
         RETURNING id, display_name, kind, regions, contact_email, created_at, updated_at, version",
    )
    .bind(id)
    .bind(version)
    .bind(display_name)
    .bind(kind)
    .bind(regions)
    .bind(contact_email)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(row),
        None => {
            get_organization(pool, id).await?;
            Err(Error::EtagMismatch("organization"))
        }
    }
}
