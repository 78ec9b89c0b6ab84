//! Volunteer groups. Every change to a group enqueues its whole new state in the same
//! transaction, so the roster stream always ends with what the table holds.

use chrono::{DateTime, Utc};
use komek_runtime::db::{self, Replay};
use komek_runtime::events::{enqueue, subject};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Error, Result};
use crate::events::group_state;
use crate::model::*;

pub(super) const GROUP_COLUMNS: &str = "id, organization_id, display_name, lat, lon, settlement, district, \
    region, radius_km, districts, skills, skill_certified_until, skill_payload_tonnes, languages, \
    capacity, schedule, availability, last_lat, last_lon, last_location_at, rest_minutes, \
    created_at, updated_at, version, deactivated_at, deactivation_reason, \
    (SELECT o.office_hours FROM organizations o WHERE o.id = organization_id) AS office_hours, \
    (SELECT o.display_name FROM organizations o WHERE o.id = organization_id) \
      AS organization_display_name";

pub async fn create_group(
    pool: &PgPool,
    key: Uuid,
    g: &GroupSpec,
    payload: &[u8],
) -> Result<Group> {
    let mut tx = pool.begin().await?;
    let org_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
            .bind(g.organization_id)
            .fetch_one(&mut *tx)
            .await?;
    if !org_exists {
        return Err(Error::NotFound("organization"));
    }
    let inserted = insert_group(&mut tx, key, g, payload).await?;
    let Some(row) = inserted else {
        tx.rollback().await?;
        return match db::replay(pool, "groups", key, payload).await? {
            Replay::Same(id) => get_group(pool, id).await,
            _ => Err(Error::IdempotencyClash("group")),
        };
    };
    let group = Group {
        row,
        members: Vec::new(),
    };
    publish(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(group)
}

pub(super) type GroupQuery<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, GroupRow, sqlx::postgres::PgArguments>;

/// Binds a group's editable fields in the order every group statement lists them:
/// display_name, lat, lon, settlement, district, region, radius_km, districts, skills,
/// skill_certified_until, skill_payload_tonnes, languages, capacity, schedule, availability,
/// rest_minutes.
pub(super) fn bind_fields<'q>(q: GroupQuery<'q>, n: &'q GroupSpec) -> GroupQuery<'q> {
    q.bind(&n.display_name)
        .bind(n.lat)
        .bind(n.lon)
        .bind(&n.settlement)
        .bind(&n.district)
        .bind(&n.region)
        .bind(n.radius_km)
        .bind(&n.districts)
        .bind(n.skills.iter().map(|s| s.skill).collect::<Vec<_>>())
        .bind(
            n.skills
                .iter()
                .map(|s| s.certified_until)
                .collect::<Vec<_>>(),
        )
        .bind(
            n.skills
                .iter()
                .map(|s| s.payload_tonnes)
                .collect::<Vec<_>>(),
        )
        .bind(&n.languages)
        .bind(n.capacity)
        .bind(&n.schedule)
        .bind(n.availability)
        .bind(n.rest_minutes)
}

/// Inserts a new group; `None` when its idempotency key is taken.
pub(super) async fn insert_group(
    tx: &mut PgConnection,
    key: Uuid,
    g: &GroupSpec,
    payload: &[u8],
) -> Result<Option<GroupRow>> {
    let sql = format!(
        "INSERT INTO groups (id, idempotency_key, create_payload, organization_id, display_name, \
           lat, lon, settlement, district, region, radius_km, districts, skills, \
           skill_certified_until, skill_payload_tonnes, languages, capacity, schedule, \
           availability, rest_minutes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
           $19, $20) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING {GROUP_COLUMNS}"
    );
    let q = sqlx::query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(key)
        .bind(payload)
        .bind(g.organization_id);
    bind_fields(q, g)
        .fetch_optional(tx)
        .await
        .map_err(Into::into)
}

pub(super) async fn publish(tx: &mut PgConnection, group: &Group) -> Result<()> {
    let id = group.row.id.to_string();
    enqueue(tx, &subject::roster_group(&id), &group_state(group)).await?;
    Ok(())
}

/// Enqueues the state of every group, for an empty roster stream (see
/// `komek_runtime::events::restore_streams`). Returns how many.
pub async fn publish_all(tx: &mut PgConnection) -> Result<u64> {
    let rows: Vec<GroupRow> =
        sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM groups ORDER BY id"))
            .fetch_all(&mut *tx)
            .await?;
    let pairs: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT m.group_id, m.volunteer_id FROM group_members m \
           JOIN volunteers v ON v.id = m.volunteer_id AND v.deactivated_at IS NULL \
         ORDER BY m.group_id, m.volunteer_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut members: std::collections::HashMap<Uuid, Vec<Uuid>> = Default::default();
    for (group, volunteer) in pairs {
        members.entry(group).or_default().push(volunteer);
    }
    let n = rows.len() as u64;
    for row in rows {
        let members = members.remove(&row.id).unwrap_or_default();
        publish(tx, &Group { row, members }).await?;
    }
    Ok(n)
}

/// A group's members (or its organisation's office hours) changed: its version moves and its
/// new state is published.
pub(super) async fn membership_changed(tx: &mut PgConnection, group: Uuid) -> Result<()> {
    let row: GroupRow = sqlx::query_as(&format!(
        "UPDATE groups SET updated_at = now(), version = version + 1 WHERE id = $1 \
         RETURNING {GROUP_COLUMNS}"
    ))
    .bind(group)
    .fetch_one(&mut *tx)
    .await?;
    let members = members(&mut *tx, group).await?;
    publish(tx, &Group { row, members }).await
}

/// A group's members: its volunteers that are not deactivated.
pub(super) async fn members(conn: &mut PgConnection, group: Uuid) -> Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT m.volunteer_id FROM group_members m \
           JOIN volunteers v ON v.id = m.volunteer_id AND v.deactivated_at IS NULL \
         WHERE m.group_id = $1 ORDER BY m.volunteer_id",
    )
    .bind(group)
    .fetch_all(conn)
    .await
    .map_err(Into::into)
}

pub async fn get_group(pool: &PgPool, id: Uuid) -> Result<Group> {
    let mut conn = pool.acquire().await?;
    let row: GroupRow =
        sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(Error::NotFound("group"))?;
    let members = members(&mut conn, id).await?;
    Ok(Group { row, members })
}

pub async fn list_groups(
    pool: &PgPool,
    organization: Option<Uuid>,
    region: &str,
    show_deactivated: bool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Group>> {
    let mut conn = pool.acquire().await?;
    let rows: Vec<GroupRow> = sqlx::query_as(&format!(
        "SELECT {GROUP_COLUMNS} FROM groups WHERE ($1::uuid IS NULL OR organization_id = $1) \
           AND ($2 = '' OR region = $2) AND ($3::uuid IS NULL OR id > $3) \
           AND ($5 OR deactivated_at IS NULL) ORDER BY id LIMIT $4"
    ))
    .bind(organization)
    .bind(region)
    .bind(after)
    .bind(limit)
    .bind(show_deactivated)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let members = members(&mut conn, row.id).await?;
        out.push(Group { row, members });
    }
    Ok(out)
}

/// Applies `change` to a locked group, bumps its version and publishes its new state.
async fn update_group(pool: &PgPool, id: Uuid, set: &str, bind: GroupChange) -> Result<Group> {
    let mut tx = pool.begin().await?;
    let query = format!(
        "UPDATE groups SET {set}, updated_at = now(), version = version + 1 WHERE id = $1 \
         RETURNING {GROUP_COLUMNS}"
    );
    let q = sqlx::query_as::<_, GroupRow>(&query).bind(id);
    let q = match bind {
        GroupChange::Availability(a) => q.bind(a),
        GroupChange::Location(lat, lon, at) => q.bind(lat).bind(lon).bind(at),
    };
    let row = q
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("group"))?;
    let members = members(&mut tx, id).await?;
    let group = Group { row, members };
    publish(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(group)
}

enum GroupChange {
    Availability(i16),
    Location(f64, f64, DateTime<Utc>),
}

pub async fn set_availability(pool: &PgPool, id: Uuid, availability: i16) -> Result<Group> {
    update_group(
        pool,
        id,
        "availability = $2",
        GroupChange::Availability(availability),
    )
    .await
}

pub async fn set_location(
    pool: &PgPool,
    id: Uuid,
    lat: f64,
    lon: f64,
    at: DateTime<Utc>,
) -> Result<Group> {
    update_group(
        pool,
        id,
        "last_lat = $2, last_lon = $3, last_location_at = $4",
        GroupChange::Location(lat, lon, at),
    )
    .await
}

/// Replaces a group's editable fields, if its version is still `version`, and publishes it.
pub async fn replace_group(pool: &PgPool, id: Uuid, version: i64, n: &GroupSpec) -> Result<Group> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "UPDATE groups SET display_name = $3, lat = $4, lon = $5, settlement = $6, \
           district = $7, region = $8, radius_km = $9, districts = $10, skills = $11, \
           skill_certified_until = $12, skill_payload_tonnes = $13, languages = $14, \
           capacity = $15, schedule = $16, availability = $17, rest_minutes = $18, \
           updated_at = now(), version = version + 1 \
         WHERE id = $1 AND version = $2 RETURNING {GROUP_COLUMNS}"
    );
    let q = sqlx::query_as(&sql).bind(id).bind(version);
    let row = bind_fields(q, n).fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        return Err(if exists {
            Error::EtagMismatch("group")
        } else {
            Error::NotFound("group")
        });
    };
    let members = members(&mut tx, id).await?;
    let group = Group { row, members };
    publish(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(group)
}

/// Deactivates a group (`Some(reason)`) or brings it back (`None`) and publishes its state; a
/// group already in the asked state is returned unchanged.
pub async fn set_active(pool: &PgPool, id: Uuid, deactivation: Option<&str>) -> Result<Group> {
    let mut tx = pool.begin().await?;
    let row: Option<GroupRow> = sqlx::query_as(&format!(
        "UPDATE groups SET deactivated_at = CASE WHEN $2 THEN now() END, \
           deactivation_reason = $3, updated_at = now(), version = version + 1 \
         WHERE id = $1 AND (deactivated_at IS NULL) = $2 RETURNING {GROUP_COLUMNS}"
    ))
    .bind(id)
    .bind(deactivation.is_some())
    .bind(deactivation.unwrap_or_default())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return get_group(pool, id).await;
    };
    let members = members(&mut tx, id).await?;
    let group = Group { row, members };
    publish(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(group)
}

pub async fn is_member(pool: &PgPool, group: Uuid, volunteer: Uuid) -> Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND volunteer_id = $2)",
    )
    .bind(group)
    .bind(volunteer)
    .fetch_one(pool)
    .await
    .map_err(Into::into)
}
