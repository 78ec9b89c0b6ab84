//! Recurring plans at work: every `plan_sweep_secs` the plans whose occurrence is due make
//! their requests, one per stop, through the same checks and store as CreateRequest. A stop
//! whose previous request is still open is skipped this time, and the skip is recorded. An
//! occurrence's requests carry request ids derived from the stop and the occurrence, so a run
//! that stopped half-way and is taken up again (by this replica or another) makes each request
//! once. Occurrences missed while the service was down are not made up: the plan moves on to
//! its next occurrence after now.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use komek_core::Channel;
use komek_proto::intake::v1 as api;
use komek_runtime::CancellationToken;
use komek_runtime::events::Bus;
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::ServiceArea;
use crate::model::{Plan, PlanStopRow};
use crate::pii::Vault;
use crate::{store, validate};

/// Runs due plans every `every` until `shutdown`.
pub async fn run(
    pool: PgPool,
    bus: Bus,
    area: Option<ServiceArea>,
    vault: Option<Arc<Vault>>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match run_due(&pool, area.as_ref(), vault.as_deref()).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(occurrences = n, "plans made their requests");
                bus.wake_outbox();
            }
            Err(err) => tracing::warn!(error = %err, "plans not run; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Runs every due occurrence, one plan per transaction. Returns how many ran.
pub async fn run_due(
    pool: &PgPool,
    area: Option<&ServiceArea>,
    vault: Option<&Vault>,
) -> anyhow::Result<usize> {
    let mut ran = 0;
    loop {
        let mut tx = pool.begin().await?;
        let Some(plan) = store::plans::next_due(&mut tx).await? else {
            return Ok(ran);
        };
        let occurrence = plan.row.next_run_at.unwrap_or_else(Utc::now);
        let template = api::Plan::decode(plan.row.template.as_slice())?;
        for stop in &plan.stops {
            let (request, skipped) =
                run_stop(pool, &plan, stop, &template, occurrence, area, vault).await?;
            store::plans::record_run(&mut tx, stop, occurrence, request, &skipped).await?;
        }
        let next = validate::stored_recurrence(&template)
            .and_then(|r| r.next_after(occurrence.max(Utc::now())));
        store::plans::advance(&mut tx, plan.row.id, next).await?;
        tx.commit().await?;
        tracing::info!(plan = %plan.row.id, %occurrence, ?next, "plan occurrence made");
        ran += 1;
    }
}

/// The request id of a stop's request for one occurrence: the same on every attempt, and
/// different for two occurrences in the same second (to the microsecond PostgreSQL keeps).
fn occurrence_id(stop: Uuid, occurrence: DateTime<Utc>) -> Uuid {
    let digest = Sha256::new()
        .chain_update(stop.as_bytes())
        .chain_update(occurrence.timestamp_micros().to_be_bytes())
        .finalize();
    let bytes: [u8; 16] = digest[..16].try_into().expect("16 of 32 bytes");
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Makes one stop's request, or says why not: (the request, the reason it was skipped).
async fn run_stop(
    pool: &PgPool,
    plan: &Plan,
    stop: &PlanStopRow,
    template: &api::Plan,
    occurrence: DateTime<Utc>,
    area: Option<&ServiceArea>,
    vault: Option<&Vault>,
) -> anyhow::Result<(Option<Uuid>, String)> {
    let key = occurrence_id(stop.id, occurrence);
    if let Some(previous) = stop.last_request_id {
        let row = store::get(pool, previous).await?;
        // The same occurrence taken up again finds its own request, which is no reason to skip.
        let own = store::find_by_idempotency_key(pool, key).await?;
        if own.is_none() && !row.status().is_final() {
            let status = format!("{:?}", row.status()).to_lowercase();
            return Ok((
                None,
                format!(
                    "the previous request {} is still {status}",
                    row.reference_code
                ),
            ));
        }
    }
    let mut kept = api::PlanStop::decode(stop.stop.as_slice())?;
    if let (Some(caller), Some(vault), Some(key_id)) =
        (kept.caller.as_mut(), vault, stop.caller_key_id.as_deref())
    {
        let (name, phone) = vault
            .open_stop_caller(
                key_id,
                stop.id,
                stop.caller_name_enc.as_deref(),
                stop.caller_phone_enc.as_deref(),
            )
            .map_err(|e| anyhow::anyhow!("a plan stop's caller does not open: {e}"))?;
        caller.display_name = name.unwrap_or_default();
        caller.phone = phone.unwrap_or_default();
    }
    let request = validate::plan_request(template, &kept, key);
    let mut new = match validate::create(&request, area, vault) {
        Ok(new) => new,
        Err(status) => {
            tracing::error!(plan = %plan.row.id, stop = %stop.id, error = %status.message(), "a plan's stop no longer makes a valid request");
            return Ok((
                None,
                format!("not a valid request now: {}", status.message()),
            ));
        }
    };
    new.channel = Channel::Plan;
    let payload = validate::fingerprint(request, vault);
    let (row, _) = store::create(pool, &new, &payload).await?;
    Ok((Some(row.id), String::new()))
}
