//! Roster imports: a whole checked sheet applied in one transaction.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::groups::{insert_group, membership_changed};
use super::{Error, Result};
use crate::model::*;

/// The report of an earlier import with this key, encoded.
pub async fn import_done(pool: &PgPool, key: Uuid) -> Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT response FROM imports WHERE request_key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(Into::into)
}

/// What an import changed.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImportCounts {
    pub groups_created: i32,
    pub groups_updated: i32,
    pub volunteers_created: i32,
    pub volunteers_updated: i32,
}

/// Applies a checked import in one transaction: groups found by name in the organisation are
/// updated, others created; members found by name in their group are updated, others created
/// and added; each touched group's new state is published once. `report` encodes the response
/// stored under `key` so a retry returns it. With `dry_run` everything is rolled back: the
/// counts say exactly what the import would do.
pub async fn import(
    pool: &PgPool,
    organization: Uuid,
    key: Uuid,
    groups: &[GroupRows],
    dry_run: bool,
    report: impl FnOnce(ImportCounts) -> Vec<u8>,
) -> Result<ImportCounts> {
    use prost::Message;
    let mut tx = pool.begin().await?;
    // One import per organisation at a time, so two imports never both create a group.
    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(organization)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    let mut counts = ImportCounts::default();
    for g in groups {
        let n = &g.group;
        let existing: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM groups WHERE organization_id = $1 \
               AND lower(display_name) = lower($2) ORDER BY id LIMIT 1 FOR UPDATE",
        )
        .bind(organization)
        .bind(&n.display_name)
        .fetch_optional(&mut *tx)
        .await?;
        let skills: Vec<i16> = n.skills.iter().map(|s| s.skill).collect();
        let until: Vec<Option<DateTime<Utc>>> =
            n.skills.iter().map(|s| s.certified_until).collect();
        let payloads: Vec<f64> = n.skills.iter().map(|s| s.payload_tonnes).collect();
        let id = match existing {
            Some(id) => {
                // Availability and reported location are the group's own, not the sheet's.
                sqlx::query(
                    "UPDATE groups SET display_name = $2, lat = $3, lon = $4, settlement = $5, \
                       district = $6, region = $7, radius_km = $8, skills = $9, \
                       skill_certified_until = $10, skill_payload_tonnes = $11, languages = $12, \
                       capacity = $13, updated_at = now(), version = version + 1 WHERE id = $1",
                )
                .bind(id)
                .bind(&n.display_name)
                .bind(n.lat)
                .bind(n.lon)
                .bind(&n.settlement)
                .bind(&n.district)
                .bind(&n.region)
                .bind(n.radius_km)
                .bind(&skills)
                .bind(&until)
                .bind(&payloads)
                .bind(&n.languages)
                .bind(n.capacity)
                .execute(&mut *tx)
                .await?;
                counts.groups_updated += 1;
                id
            }
            None => {
                // A sheet row is held to CreateGroup's checks and inserted the same way. Its
                // idempotency key is the fresh one reading the sheet gave it; the import's own
                // key guards against replays.
                // An imported group has no key of its own (the import has one); a fresh key
                // keeps the groups' unique index on keys satisfied.
                let row = insert_group(&mut tx, Uuid::new_v4(), n, &g.api.encode_to_vec())
                    .await?
                    .expect("a fresh idempotency key");
                counts.groups_created += 1;
                row.id
            }
        };
        for v in &g.volunteers {
            let member: Option<Uuid> = sqlx::query_scalar(
                "SELECT v.id FROM volunteers v JOIN group_members m ON m.volunteer_id = v.id \
                 WHERE m.group_id = $1 AND lower(v.display_name) = lower($2) \
                 ORDER BY v.id LIMIT 1",
            )
            .bind(id)
            .bind(&v.display_name)
            .fetch_optional(&mut *tx)
            .await?;
            match member {
                Some(vid) => {
                    sqlx::query(
                        "UPDATE volunteers SET languages = $2, updated_at = now(), \
                           version = version + 1 WHERE id = $1",
                    )
                    .bind(vid)
                    .bind(&v.languages)
                    .execute(&mut *tx)
                    .await?;
                    counts.volunteers_updated += 1;
                }
                None => {
                    let vid = Uuid::now_v7();
                    sqlx::query(
                        "INSERT INTO volunteers (id, idempotency_key, create_payload, \
                           display_name, languages) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(vid)
                    .bind(Uuid::new_v4())
                    .bind(v.display_name.as_bytes())
                    .bind(&v.display_name)
                    .bind(&v.languages)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO group_members (group_id, volunteer_id) VALUES ($1, $2)",
                    )
                    .bind(id)
                    .bind(vid)
                    .execute(&mut *tx)
                    .await?;
                    counts.volunteers_created += 1;
                }
            }
        }
        membership_changed(&mut tx, id).await?;
    }
    sqlx::query("INSERT INTO imports (request_key, organization_id, response) VALUES ($1, $2, $3)")
        .bind(key)
        .bind(organization)
        .bind(report(counts))
        .execute(&mut *tx)
        .await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(counts)
}
