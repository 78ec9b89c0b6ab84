//! Organisations: the NGOs, Red Cross branches and akimat services that field groups.

use komek_runtime::db::{self, Replay};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Error, Result};
use crate::model::*;

const COLUMNS: &str = "id, display_name, kind, regions, contact_email, created_at, updated_at, \
    version, office_hours";

pub async fn create_organization(
    pool: &PgPool,
    o: &NewOrganization,
    payload: &[u8],
) -> Result<OrganizationRow> {
    let inserted: Option<OrganizationRow> = sqlx::query_as(&format!(
        "INSERT INTO organizations (id, idempotency_key, create_payload, display_name, kind, \
           regions, contact_email, office_hours) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(o.key)
    .bind(payload)
    .bind(&o.display_name)
    .bind(o.kind)
    .bind(&o.regions)
    .bind(&o.contact_email)
    .bind(&o.office_hours)
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
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE id = $1"
    ))
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
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE ($1::uuid IS NULL OR id > $1) \
             ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Updates an organisation if its version is still `version`. When its office hours or name
/// change, every group of it publishes its state again (the matcher reads both from there), in
/// the same transaction.
pub async fn update_organization(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    kind: i16,
    f: &OrganizationFields,
) -> Result<OrganizationRow> {
    let mut tx = pool.begin().await?;
    let before: Option<(Option<Vec<u8>>, String)> = sqlx::query_as(
        "SELECT office_hours, display_name FROM organizations WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(before) = before else {
        return Err(Error::NotFound("organization"));
    };
    let row: Option<OrganizationRow> = sqlx::query_as(&format!(
        "UPDATE organizations SET display_name = $3, kind = $4, regions = $5, contact_email = $6, \
           office_hours = $7, updated_at = now(), version = version + 1 \
         WHERE id = $1 AND version = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(version)
    .bind(&f.display_name)
    .bind(kind)
    .bind(&f.regions)
    .bind(&f.contact_email)
    .bind(&f.office_hours)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(Error::EtagMismatch("organization"));
    };
    if before != (row.office_hours.clone(), row.display_name.clone()) {
        let groups: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM groups WHERE organization_id = $1 ORDER BY id FOR UPDATE",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for group in groups {
            super::groups::membership_changed(&mut tx, group).await?;
        }
    }
    tx.commit().await?;
    Ok(row)
}
