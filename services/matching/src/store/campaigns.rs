//! Campaigns: a planned batch and what each of its requests got.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignRow {
    pub id: Uuid,
    pub display_name: String,
    pub total_distance_m: f64,
    pub greedy_distance_m: f64,
    pub unassigned_count: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignItemRow {
    pub request_id: Uuid,
    pub group_id: Option<Uuid>,
    pub distance_m: f64,
}

pub async fn campaign_by_key(tx: &mut PgConnection, key: Uuid) -> Result<Option<Uuid>> {
    sqlx::query_scalar("SELECT id FROM campaigns WHERE request_key = $1")
        .bind(key)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

pub async fn insert_campaign(
    tx: &mut PgConnection,
    c: &CampaignRow,
    key: Uuid,
    validate_only: bool,
    items: &[CampaignItemRow],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO campaigns (id, request_key, display_name, validate_only, total_distance_m, \
           greedy_distance_m, unassigned_count) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.id)
    .bind(key)
    .bind(&c.display_name)
    .bind(validate_only)
    .bind(c.total_distance_m)
    .bind(c.greedy_distance_m)
    .bind(c.unassigned_count)
    .execute(&mut *tx)
    .await?;
    for (i, item) in items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO campaign_items (campaign_id, position, request_id, group_id, distance_m) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.id)
        .bind(i as i32)
        .bind(item.request_id)
        .bind(item.group_id)
        .bind(item.distance_m)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub async fn campaign(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(CampaignRow, Vec<CampaignItemRow>)>> {
    let Some(c): Option<CampaignRow> = sqlx::query_as(
        "SELECT id, display_name, total_distance_m, greedy_distance_m, unassigned_count, \
           created_at FROM campaigns WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let items = sqlx::query_as(
        "SELECT request_id, group_id, distance_m FROM campaign_items WHERE campaign_id = $1 \
         ORDER BY position",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Some((c, items)))
}
