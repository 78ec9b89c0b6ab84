//! Every matching decision of a request, with the candidates it looked at.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Result;

/// Records one matching decision with the groups it considered; inside [`holding_decisions`]
/// it is held back to be written with the others.
pub async fn record_decision(
    tx: &mut PgConnection,
    request_id: Uuid,
    attempt: i32,
    assignment_id: Option<Uuid>,
    candidates: &[u8],
    reasons: &[i16],
) -> Result<()> {
    let decision = NewDecision {
        request_id,
        attempt,
        assignment_id,
        candidates: candidates.to_vec(),
        reasons: reasons.to_vec(),
    };
    let mut decision = Some(decision);
    let _ = HELD.try_with(|held| held.borrow_mut().extend(decision.take()));
    match decision {
        Some(decision) => record_decisions(tx, vec![decision]).await,
        None => Ok(()),
    }
}

/// A decision to record.
pub struct NewDecision {
    request_id: Uuid,
    attempt: i32,
    assignment_id: Option<Uuid>,
    candidates: Vec<u8>,
    reasons: Vec<i16>,
}

tokio::task_local! {
    static HELD: std::cell::RefCell<Vec<NewDecision>>;
}

/// Runs `work` holding back the decisions it records, and returns them with its outcome, for
/// [`record_decisions`] in the same transaction: a batch of placements then writes its
/// decisions in one statement. Nothing reads a decision in the transaction that makes it.
pub async fn holding_decisions<T>(work: impl Future<Output = T>) -> (T, Vec<NewDecision>) {
    HELD.scope(std::cell::RefCell::new(Vec::new()), async move {
        let out = work.await;
        (out, HELD.with(|held| held.take()))
    })
    .await
}

/// Writes decisions in one statement, in their order.
pub async fn record_decisions(tx: &mut PgConnection, decisions: Vec<NewDecision>) -> Result<()> {
    if decisions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO decisions (request_id, attempt, assignment_id, escalated, candidates, \
           reasons) \
         SELECT u.request_id, u.attempt, u.assignment_id, u.assignment_id IS NULL, \
           u.candidates, u.reasons::int2[] \
         FROM unnest($1::uuid[], $2::int4[], $3::uuid[], $4::bytea[], $5::text[]) \
           WITH ORDINALITY AS u(request_id, attempt, assignment_id, candidates, reasons, n) \
         ORDER BY u.n",
    )
    .bind(decisions.iter().map(|d| d.request_id).collect::<Vec<_>>())
    .bind(decisions.iter().map(|d| d.attempt).collect::<Vec<_>>())
    .bind(
        decisions
            .iter()
            .map(|d| d.assignment_id)
            .collect::<Vec<_>>(),
    )
    .bind(
        decisions
            .iter()
            .map(|d| d.candidates.as_slice())
            .collect::<Vec<_>>(),
    )
    .bind(
        decisions
            .iter()
            .map(|d| komek_runtime::db::array_literal(&d.reasons))
            .collect::<Vec<_>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionRow {
    pub attempt: i32,
    pub assignment_id: Option<Uuid>,
    pub escalated: bool,
    pub candidates: Vec<u8>,
    pub decided_at: DateTime<Utc>,
    pub reasons: Vec<i16>,
}

pub async fn decisions(pool: &PgPool, request_id: Uuid) -> Result<Vec<DecisionRow>> {
    sqlx::query_as(
        "SELECT attempt, assignment_id, escalated, candidates, decided_at, reasons FROM decisions \
         WHERE request_id = $1 ORDER BY seq",
    )
    .bind(request_id)
    .fetch_all(pool)
    .await
    .map_err(Into::into)
}
