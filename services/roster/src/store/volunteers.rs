//! Volunteers and their memberships; a membership change publishes the group again.

use komek_runtime::db::{self, Replay};
use sqlx::PgPool;
use uuid::Uuid;

use super::groups::membership_changed;
use super::{Error, Result};
use crate::model::*;

const COLUMNS: &str = "id, display_name, languages, created_at, updated_at, version, deactivated_at, deactivation_reason";

pub async fn create_volunteer(
    pool: &PgPool,
    v: &NewVolunteer,
    payload: &[u8],
) -> Result<Volunteer> {
    let mut tx = pool.begin().await?;
    let inserted: Option<VolunteerRow> = sqlx::query_as(&format!(
        "INSERT INTO volunteers (id, idempotency_key, create_payload, display_name, languages) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(v.key)
    .bind(payload)
    .bind(&v.display_name)
    .bind(&v.languages)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = inserted else {
        tx.rollback().await?;
        return match db::replay(pool, "volunteers", v.key, payload).await? {
            Replay::Same(id) => get_volunteer(pool, id).await,
            _ => Err(Error::IdempotencyClash("volunteer")),
        };
    };
    for group in &v.groups {
        // Lock the group so its version and published state follow membership changes in order.
        let locked: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM groups WHERE id = $1 FOR UPDATE")
                .bind(group)
                .fetch_optional(&mut *tx)
                .await?;
        if locked.is_none() {
            return Err(Error::NotFound("group"));
        }
        sqlx::query("INSERT INTO group_members (group_id, volunteer_id) VALUES ($1, $2)")
            .bind(group)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        membership_changed(&mut tx, *group).await?;
    }
    tx.commit().await?;
    Ok(Volunteer {
        row,
        groups: v.groups.clone(),
    })
}

pub async fn get_volunteer(pool: &PgPool, id: Uuid) -> Result<Volunteer> {
    let row: VolunteerRow =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM volunteers WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or(Error::NotFound("volunteer"))?;
    let groups = sqlx::query_scalar(
        "SELECT group_id FROM group_members WHERE volunteer_id = $1 ORDER BY group_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Volunteer { row, groups })
}

pub async fn list_volunteers(
    pool: &PgPool,
    group: Option<Uuid>,
    show_deactivated: bool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Volunteer>> {
    let rows: Vec<VolunteerRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM volunteers v \
         WHERE ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM group_members m \
                 WHERE m.volunteer_id = v.id AND m.group_id = $1)) \
           AND ($2::uuid IS NULL OR id > $2) AND ($4 OR deactivated_at IS NULL) \
         ORDER BY id LIMIT $3"
    ))
    .bind(group)
    .bind(after)
    .bind(limit)
    .bind(show_deactivated)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let groups = sqlx::query_scalar(
            "SELECT group_id FROM group_members WHERE volunteer_id = $1 ORDER BY group_id",
        )
        .bind(row.id)
        .fetch_all(pool)
        .await?;
        out.push(Volunteer { row, groups });
    }
    Ok(out)
}

/// Updates a volunteer if its version is still `version`; groups it joins or leaves get their
/// new member lists published, in the same transaction.
pub async fn update_volunteer(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    display_name: &str,
    languages: &[i16],
    groups: &[Uuid],
) -> Result<Volunteer> {
    let mut tx = pool.begin().await?;
    let row: Option<VolunteerRow> = sqlx::query_as(&format!(
        "UPDATE volunteers SET display_name = $3, languages = $4, updated_at = now(), \
           version = version + 1 WHERE id = $1 AND version = $2 \
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(version)
    .bind(display_name)
    .bind(languages)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        get_volunteer(pool, id).await?;
        return Err(Error::EtagMismatch("volunteer"));
    };
    let before: Vec<Uuid> =
        sqlx::query_scalar("SELECT group_id FROM group_members WHERE volunteer_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    let mut touched: Vec<Uuid> = before
        .iter()
        .filter(|g| !groups.contains(g))
        .chain(groups.iter().filter(|g| !before.contains(g)))
        .copied()
        .collect();
    // Locks in id order, so two updates touching the same groups cannot deadlock.
    touched.sort();
    for group in &touched {
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM groups WHERE id = $1 FOR UPDATE")
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("group"))?;
        if groups.contains(group) {
            sqlx::query("INSERT INTO group_members (group_id, volunteer_id) VALUES ($1, $2)")
                .bind(group)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND volunteer_id = $2")
                .bind(group)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        membership_changed(&mut tx, *group).await?;
    }
    tx.commit().await?;
    let mut groups = groups.to_vec();
    groups.sort();
    Ok(Volunteer { row, groups })
}

/// Deactivates a volunteer (`Some(reason)`) or brings one back (`None`). Each of its groups
/// publishes its member list again (a deactivated volunteer is in none), and a deactivation
/// revokes the volunteer's keys, all in one transaction. A volunteer already in the asked
/// state is returned unchanged.
pub async fn set_active(pool: &PgPool, id: Uuid, deactivation: Option<&str>) -> Result<Volunteer> {
    let mut tx = pool.begin().await?;
    let row: Option<VolunteerRow> = sqlx::query_as(&format!(
        "UPDATE volunteers SET deactivated_at = CASE WHEN $2 THEN now() END, \
           deactivation_reason = $3, updated_at = now(), version = version + 1 \
         WHERE id = $1 AND (deactivated_at IS NULL) = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(deactivation.is_some())
    .bind(deactivation.unwrap_or_default())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return get_volunteer(pool, id).await;
    };
    let groups: Vec<Uuid> = sqlx::query_scalar(
        "SELECT group_id FROM group_members WHERE volunteer_id = $1 ORDER BY group_id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    // Locks in id order, as every membership change does.
    for group in &groups {
        sqlx::query("SELECT id FROM groups WHERE id = $1 FOR UPDATE")
            .bind(group)
            .execute(&mut *tx)
            .await?;
        membership_changed(&mut tx, *group).await?;
    }
    if let Some(reason) = deactivation {
        let subject = komek_runtime::boundary::name("volunteers", id);
        super::keys::revoke_all_of(&mut tx, &subject, &format!("deactivated: {reason}")).await?;
    }
    tx.commit().await?;
    Ok(Volunteer { row, groups })
}
