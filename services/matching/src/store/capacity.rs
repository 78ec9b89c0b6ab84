//! Groups' places: how many jobs each holds, and its rest after a finished one.

use sqlx::PgConnection;
use uuid::Uuid;

use super::Result;

/// What taking a place from a group came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    Taken,
    Full,
    Resting,
}

/// Takes one unit of the group's capacity, unless it is full or resting after a job. The CHECK
/// on group_load backs this up should two replicas race.
///
/// Only a successful take locks the group's row, and a decision stops at its first success,
/// so a transaction holds at most one group lock: replicas checking the same groups in
/// different orders wait for each other but never deadlock.
pub async fn take_capacity(tx: &mut PgConnection, group: Uuid, capacity: i32) -> Result<Take> {
    // The row exists for every group that was ever offered anything: one statement then.
    if try_take(tx, group, capacity).await? {
        return Ok(Take::Taken);
    }
    take_capacity_after_miss(tx, group, capacity).await
}

/// [`take_capacity`] after a take that found no place (one that failed as `try_take`, or in
/// [`super::take_and_offer`]): makes the group's row when it has none and takes from it, or
/// tells whether the group is full or resting.
pub async fn take_capacity_after_miss(
    tx: &mut PgConnection,
    group: Uuid,
    capacity: i32,
) -> Result<Take> {
    let made = sqlx::query(
        "INSERT INTO group_load (group_id, capacity) VALUES ($1, $2) \
         ON CONFLICT (group_id) DO NOTHING",
    )
    .bind(group)
    .bind(capacity.max(0))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if made == 1 && try_take(tx, group, capacity).await? {
        return Ok(Take::Taken);
    }
    let resting: bool = sqlx::query_scalar(
        "SELECT COALESCE(rest_until > now(), false) FROM group_load WHERE group_id = $1",
    )
    .bind(group)
    .fetch_one(&mut *tx)
    .await?;
    Ok(if resting { Take::Resting } else { Take::Full })
}

/// Takes a place when the group's row has one free and the group is not resting. The
/// roster's capacity may have changed since the row was made; the new one applies.
async fn try_take(tx: &mut PgConnection, group: Uuid, capacity: i32) -> Result<bool> {
    let taken = sqlx::query(
        "UPDATE group_load SET active = active + 1, capacity = $2 \
         WHERE group_id = $1 AND active < $2 AND (rest_until IS NULL OR rest_until <= now())",
    )
    .bind(group)
    .bind(capacity)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// Of `groups` (each with its capacity now), those the database holds full and those resting
/// after a job, for explaining an escalation.
pub async fn load_states(
    tx: &mut PgConnection,
    groups: &[(Uuid, i32)],
) -> Result<(Vec<Uuid>, Vec<Uuid>)> {
    let ids: Vec<Uuid> = groups.iter().map(|(id, _)| *id).collect();
    let rows: Vec<(Uuid, i32, bool)> = sqlx::query_as(
        "SELECT group_id, active, COALESCE(rest_until > now(), false) FROM group_load \
         WHERE group_id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut full = Vec::new();
    let mut resting = Vec::new();
    for (id, active, rests) in rows {
        let capacity = groups.iter().find(|(g, _)| *g == id).map_or(0, |(_, c)| *c);
        if active >= capacity {
            full.push(id);
        }
        if rests {
            resting.push(id);
        }
    }
    Ok((full, resting))
}

/// Starts a group's rest after a finished job.
pub async fn start_rest(tx: &mut PgConnection, group: Uuid, minutes: i32) -> Result<()> {
    sqlx::query(
        "UPDATE group_load SET rest_until = now() + make_interval(mins => $2) WHERE group_id = $1",
    )
    .bind(group)
    .bind(minutes.max(0))
    .execute(tx)
    .await?;
    Ok(())
}

/// Gives back a unit taken in this transaction.
pub async fn release(tx: &mut PgConnection, group: Uuid) -> Result<()> {
    sqlx::query("UPDATE group_load SET active = active - 1 WHERE group_id = $1 AND active > 0")
        .bind(group)
        .execute(tx)
        .await?;
    Ok(())
}

/// Places taken per group now.
pub async fn loads(tx: &mut PgConnection) -> Result<Vec<(Uuid, i32)>> {
    sqlx::query_as("SELECT group_id, active FROM group_load")
        .fetch_all(tx)
        .await
        .map_err(Into::into)
}
