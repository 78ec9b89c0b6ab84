//! The checker: the history of what clients were told against what the system holds once the
//! faults are healed and the work has drained.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use futures::TryStreamExt;
use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::types::v1 as pb;
use komek_runtime::events::streams;
use sqlx::PgPool;
use uuid::Uuid;

use super::history::{Call, Entry, Outcome};
use super::workload::lazy;

const SCHEMAS: [&str; 4] = ["intake", "triage", "roster", "matching"];

/// Assignment statuses, as stored.
const OFFERED: i16 = pb::AssignmentStatus::Offered as i16;
const ACCEPTED: i16 = pb::AssignmentStatus::Accepted as i16;
const DECLINED: i16 = pb::AssignmentStatus::Declined as i16;
const EN_ROUTE: i16 = pb::AssignmentStatus::EnRoute as i16;
const ON_SITE: i16 = pb::AssignmentStatus::OnSite as i16;
const COMPLETED: i16 = pb::AssignmentStatus::Completed as i16;
const ACTIVE: [i16; 4] = [OFFERED, ACCEPTED, EN_ROUTE, ON_SITE];

#[derive(Debug, Default)]
pub struct Verdict {
    pub creates_acknowledged: usize,
    /// Creates whose every attempt ended without an answer; they may or may not exist.
    pub creates_unknown: usize,
    pub creates_refused: usize,
    pub requests_stored: usize,
    pub requests_resolved: usize,
    pub assignments: usize,
    pub assigns_acknowledged: usize,
    pub accepts_acknowledged: usize,
    pub completions_acknowledged: usize,
    pub lost: Vec<String>,
    pub doubled: Vec<String>,
    pub unexpected: Vec<String>,
    /// Outbox rows not yet published, per schema, when the run ended.
    pub outbox_unsent: Vec<(String, i64)>,
    /// Consumers with messages not yet delivered or acknowledged.
    pub consumers_behind: Vec<String>,
    pub dead_letters: Vec<(String, i64)>,
    /// Requests not finished when the run ended, with their assignments and the fleet's last
    /// word on each: not a verdict by itself, but where to look.
    pub unfinished: Vec<String>,
    /// Answers other than OK, by code: what the clients saw of the faults.
    pub errors: std::collections::BTreeMap<String, usize>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.doubled.is_empty()
            && self.unexpected.is_empty()
            && self.outbox_unsent.iter().all(|(_, n)| *n == 0)
            && self.consumers_behind.is_empty()
            && self.dead_letters.iter().all(|(_, n)| *n == 0)
            && self.internal_errors() == 0
    }

    /// INTERNAL says "a bug of ours"; a fault of the network or a server must say
    /// UNAVAILABLE (or DEADLINE_EXCEEDED) so that clients know to retry.
    pub fn internal_errors(&self) -> usize {
        self.errors.get("Internal").copied().unwrap_or(0)
    }
}

/// Unsent outbox rows per schema: written unsent, or held and still waiting.
pub async fn outboxes(pool: &PgPool) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for schema in SCHEMAS {
        let sql = format!(
            "SELECT (SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL) \
                  + (SELECT count(*) FROM {schema}.outbox_pending) \
                  + (SELECT coalesce(sum(cardinality(events)), 0) \
                     FROM {schema}.outbox_pending_batches)"
        );
        let n: i64 = sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap_or(-1);
        out.push((schema.to_string(), n));
    }
    out
}

/// The durable consumers the services create (`Bus::durable_consumer`).
const DURABLE_CONSUMERS: &[&str] = &[
    "intake",
    "intake-triaged",
    "intake-escalated",
    "intake-merged",
    "intake-deferred",
    "triage",
    "triage-erasures",
    "matching",
    "matching-closures",
    "matching-called-off",
    "matching-erasures",
];

/// Every durable consumer with work outstanding, as "stream/consumer: pending, unacked".
pub async fn consumers_behind(js: &async_nats::jetstream::Context) -> Vec<String> {
    let mut behind = Vec::new();
    let Ok(streams) = js.stream_names().try_collect::<Vec<String>>().await else {
        return vec!["cannot list streams".into()];
    };
    for name in streams {
        let Ok(stream) = js.get_stream(&name).await else {
            behind.push(format!("{name}: cannot read"));
            continue;
        };
        let consumers: Vec<String> = stream
            .consumer_names()
            .try_collect()
            .await
            .unwrap_or_default();
        for consumer in consumers {
            let durable = DURABLE_CONSUMERS.contains(&consumer.as_str());
            match stream.consumer_info(&consumer).await {
                // Ephemeral consumers (offer streams, followers, watches) belong to a live
                // client's view; being behind means nothing for them.
                Ok(info) if info.config.durable_name.is_none() => {}
                Ok(info) if info.num_pending == 0 && info.num_ack_pending == 0 => {}
                Ok(info) => behind.push(format!(
                    "{name}/{consumer}: {} pending, {} unacknowledged",
                    info.num_pending, info.num_ack_pending
                )),
                // An ephemeral consumer of a killed process may not answer until the server
                // drops it after its inactivity threshold.
                Err(_) if !durable => {}
                Err(e) => behind.push(format!("{name}/{consumer}: {e}")),
            }
        }
    }
    behind
}

/// Waits until every outbox is drained and every consumer caught up, for at most `within`.
pub async fn settle(pool: &PgPool, js: &async_nats::jetstream::Context, within: Duration) -> bool {
    crate::eventually(within, || async {
        let drained = outboxes(pool).await.iter().all(|(_, n)| *n == 0);
        (drained && consumers_behind(js).await.is_empty()).then_some(())
    })
    .await
    .is_some()
}

struct Stored {
    id: Uuid,
    request: Uuid,
    group: Uuid,
    status: i16,
    /// One of several offers of a wide search, and whether it leads it.
    wide: bool,
    lead: bool,
}

/// Each Komek stream with its copies and whether all copies are current, once they all are or
/// `within` has passed.
pub async fn streams_current(
    js: &async_nats::jetstream::Context,
    within: Duration,
) -> Option<Vec<(String, usize, bool)>> {
    let started = std::time::Instant::now();
    loop {
        let mut all = Vec::new();
        for name in [
            streams::REQUESTS,
            streams::ASSIGNMENTS,
            streams::ROSTER,
            streams::ACCESS,
        ] {
            let info = js.get_stream(name).await.ok()?.info().await.ok()?.clone();
            let current = info
                .cluster
                .as_ref()
                .is_none_or(|c| c.replicas.iter().all(|r| r.current && !r.offline));
            all.push((name.to_string(), info.config.num_replicas, current));
        }
        if all.iter().all(|(_, _, current)| *current) || started.elapsed() > within {
            return Some(all);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads the system and judges it against `history`.
pub async fn check(
    history: &[Entry],
    pool: &PgPool,
    js: &async_nats::jetstream::Context,
    intake_addr: SocketAddr,
    admin: &str,
) -> Verdict {
    let mut v = Verdict::default();
    for e in history {
        if let Outcome::Failed(code) | Outcome::Unknown(code) = e.outcome {
            *v.errors.entry(format!("{code:?}")).or_default() += 1;
        }
    }

    // What intake holds: idempotency key to request, and each request's status through the API.
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as("SELECT id, idempotency_key FROM intake.requests")
        .fetch_all(pool)
        .await
        .unwrap();
    v.requests_stored = rows.len();
    let stored_ids: HashSet<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    let mut by_key: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (id, key) in &rows {
        by_key.entry(*key).or_default().push(*id);
    }
    let status = request_statuses(intake_addr, admin)
        .await
        .expect("list the requests");
    v.requests_resolved = status
        .values()
        .filter(|s| **s == pb::RequestStatus::Resolved as i32)
        .count();

    let assignments: Vec<Stored> = sqlx::query_as::<_, (Uuid, Uuid, Uuid, i16, bool, bool)>(
        "SELECT id, request_id, group_id, status, wide, lead FROM matching.assignments",
    )
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, request, group, status, wide, lead)| Stored {
        id,
        request,
        group,
        status,
        wide,
        lead,
    })
    .collect();
    v.assignments = assignments.len();
    let assignment: HashMap<Uuid, &Stored> = assignments.iter().map(|a| (a.id, a)).collect();
    let mut of_request: HashMap<Uuid, Vec<&Stored>> = HashMap::new();
    for a in &assignments {
        of_request.entry(a.request).or_default().push(a);
    }

    // Creates: every acknowledged one exists, once, and got somewhere.
    let mut creates: HashMap<&str, Vec<&Entry>> = HashMap::new();
    for e in history.iter().filter(|e| e.call == Call::Create) {
        creates.entry(e.request_id.as_str()).or_default().push(e);
    }
    for (key, attempts) in &creates {
        let acked: HashSet<&str> = attempts
            .iter()
            .filter(|e| e.outcome == Outcome::Ok)
            .map(|e| e.result.as_str())
            .collect();
        let unknown = attempts
            .iter()
            .any(|e| matches!(e.outcome, Outcome::Unknown(_)));
        let stored = Uuid::parse_str(key)
            .ok()
            .and_then(|k| by_key.get(&k))
            .cloned()
            .unwrap_or_default();
        if stored.len() > 1 {
            v.doubled.push(format!(
                "request_id {key} created {} requests",
                stored.len()
            ));
        }
        if acked.len() > 1 {
            v.doubled
                .push(format!("request_id {key} was answered with {acked:?}"));
        }
        if acked.is_empty() {
            if unknown {
                v.creates_unknown += 1;
            } else {
                v.creates_refused += 1;
                if !stored.is_empty() {
                    v.unexpected.push(format!(
                        "request_id {key} was refused but created {stored:?}"
                    ));
                }
            }
            continue;
        }
        v.creates_acknowledged += 1;
        let name = *acked.iter().next().unwrap();
        let Some(id) = name
            .strip_prefix("requests/")
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            v.lost.push(format!("request_id {key}: odd name {name:?}"));
            continue;
        };
        if !stored.contains(&id) {
            v.lost.push(format!(
                "{name} (request_id {key}) was acknowledged but is not stored"
            ));
            continue;
        }
        let jobs = of_request.get(&id).map(Vec::as_slice).unwrap_or_default();
        let state = status.get(name).copied().unwrap_or_default();
        if jobs.is_empty() && !is_final(state) {
            v.lost.push(format!(
                "{name} was never offered nor finished (status {})",
                status_name(state)
            ));
        }
        if jobs.iter().any(|a| a.status == COMPLETED) && state != pb::RequestStatus::Resolved as i32
        {
            v.lost.push(format!(
                "{name}: its job was completed but the request shows {}",
                status_name(state)
            ));
        }
    }
    for (key, ids) in &by_key {
        if !creates.contains_key(key.to_string().as_str()) {
            v.unexpected.push(format!(
                "requests {ids:?} with request_id {key} nobody sent"
            ));
        }
    }

    // The volunteers' calls: what was acknowledged holds, and nothing moved that nobody moved.
    for e in history.iter().filter(|e| e.call == Call::Assign) {
        if e.outcome != Outcome::Ok {
            continue;
        }
        v.assigns_acknowledged += 1;
        let made = e
            .result
            .strip_prefix("assignments/")
            .and_then(|s| Uuid::parse_str(s).ok())
            .and_then(|id| assignment.get(&id));
        if made.is_none() {
            v.lost.push(format!(
                "{}: the dispatcher's assign was acknowledged with {:?}, which does not exist",
                e.target, e.result
            ));
        }
    }
    let mut attempted: HashMap<(Uuid, Call), bool> = HashMap::new();
    for e in history
        .iter()
        .filter(|e| !matches!(e.call, Call::Create | Call::Assign))
    {
        let Some(id) = e
            .target
            .strip_prefix("assignments/")
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        let acked = attempted.entry((id, e.call)).or_default();
        *acked |= e.outcome == Outcome::Ok;
    }
    for (&(id, call), &acked) in &attempted {
        if !acked {
            continue;
        }
        match call {
            Call::Accept => v.accepts_acknowledged += 1,
            Call::Complete => v.completions_acknowledged += 1,
            _ => {}
        }
        let allowed: &[i16] = match call {
            Call::Accept => &[ACCEPTED, EN_ROUTE, ON_SITE, COMPLETED],
            Call::EnRoute => &[EN_ROUTE, ON_SITE, COMPLETED],
            Call::OnSite => &[ON_SITE, COMPLETED],
            Call::Complete => &[COMPLETED],
            Call::Decline => &[DECLINED],
            Call::Create | Call::Assign => continue,
        };
        match assignment.get(&id) {
            Some(a) if allowed.contains(&a.status) => {}
            Some(a) => v.lost.push(format!(
                "assignments/{id}: {call:?} was acknowledged but it is {}",
                assignment_status_name(a.status)
            )),
            None => v.lost.push(format!(
                "assignments/{id}: {call:?} was acknowledged but it does not exist"
            )),
        }
    }
    for a in &assignments {
        let taken = [ACCEPTED, EN_ROUTE, ON_SITE, COMPLETED].contains(&a.status);
        if taken && !attempted.contains_key(&(a.id, Call::Accept)) {
            v.unexpected.push(format!(
                "assignments/{} is {} but nobody accepted it",
                a.id,
                assignment_status_name(a.status)
            ));
        }
        if a.status == DECLINED && !attempted.contains_key(&(a.id, Call::Decline)) {
            v.unexpected
                .push(format!("assignments/{} declined by nobody", a.id));
        }
        if !stored_ids.contains(&a.request) {
            v.unexpected.push(format!(
                "assignments/{} is for requests/{}, which does not exist",
                a.id, a.request
            ));
        }
    }

    // One active assignment per request, one completed job per request; a wide search (several
    // groups at once) one active assignment per group and one lead that took the job, which
    // alone completes the request. Groups within capacity, and the capacity counters equal to
    // what they count.
    for (request, jobs) in &of_request {
        let (wide, one): (Vec<&Stored>, Vec<&Stored>) = jobs.iter().partition(|a| a.wide);
        let active = one.iter().filter(|a| ACTIVE.contains(&a.status)).count();
        if active > 1 {
            v.doubled.push(format!(
                "requests/{request} has {active} active assignments"
            ));
        }
        let mut groups = HashSet::new();
        for a in wide.iter().filter(|a| ACTIVE.contains(&a.status)) {
            if !groups.insert(a.group) {
                v.doubled.push(format!(
                    "requests/{request} has two active assignments of groups/{}",
                    a.group
                ));
            }
        }
        if !wide.is_empty() && active > 0 {
            v.doubled.push(format!(
                "requests/{request} has wide and single active assignments at once"
            ));
        }
        let leads = wide
            .iter()
            .filter(|a| a.lead && (ACTIVE.contains(&a.status) || a.status == COMPLETED))
            .filter(|a| a.status != OFFERED)
            .count();
        if leads > 1 {
            v.doubled
                .push(format!("requests/{request} has {leads} leads"));
        }
        let done = jobs
            .iter()
            .filter(|a| a.status == COMPLETED && (!a.wide || a.lead))
            .count();
        if done > 1 {
            v.doubled
                .push(format!("requests/{request} was completed {done} times"));
        }
    }
    let loads: Vec<(Uuid, i32, i32)> =
        sqlx::query_as("SELECT group_id, capacity, active FROM matching.group_load")
            .fetch_all(pool)
            .await
            .unwrap();
    for (group, capacity, active) in loads {
        let counted = assignments
            .iter()
            .filter(|a| a.group == group && ACTIVE.contains(&a.status))
            .count() as i32;
        if counted > capacity {
            v.doubled.push(format!(
                "groups/{group} holds {counted} active jobs with room for {capacity}"
            ));
        }
        if counted != active {
            v.doubled.push(format!(
                "groups/{group}: its load says {active} active, the assignments say {counted}"
            ));
        }
    }

    for (name, state) in &status {
        if is_final(*state) {
            continue;
        }
        let id = name
            .strip_prefix("requests/")
            .and_then(|s| Uuid::parse_str(s).ok());
        let jobs = id
            .and_then(|id| of_request.get(&id))
            .cloned()
            .unwrap_or_default();
        let described: Vec<String> = jobs
            .iter()
            .map(|a| {
                let target = format!("assignments/{}", a.id);
                let last = history
                    .iter()
                    .rfind(|e| e.target == target)
                    .map(|e| format!("{:?} {:?}", e.call, e.outcome))
                    .unwrap_or_else(|| "no call".into());
                format!("{} ({last})", assignment_status_name(a.status))
            })
            .collect();
        v.unfinished.push(format!(
            "{name} is {}; assignments: {}",
            status_name(*state),
            described.join(", ")
        ));
    }

    v.outbox_unsent = outboxes(pool).await;
    v.consumers_behind = consumers_behind(js).await;
    for schema in SCHEMAS {
        let sql = format!("SELECT count(*) FROM {schema}.dead_letters");
        let n: i64 = sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap_or(-1);
        v.dead_letters.push((schema.to_string(), n));
    }
    v
}

/// Every request's status, read through ListRequests as an operator would.
async fn request_statuses(intake_addr: SocketAddr, admin: &str) -> Option<HashMap<String, i32>> {
    let mut client = IntakeServiceClient::new(lazy(&[intake_addr], admin));
    let mut out = HashMap::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_requests(intake::ListRequestsRequest {
                page_size: 100,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner();
        for r in page.requests {
            out.insert(r.name, r.status);
        }
        if page.next_page_token.is_empty() {
            return Some(out);
        }
        token = page.next_page_token;
    }
}

/// How many requests are not finished yet; None when intake cannot say.
pub async fn unfinished(intake_addr: SocketAddr, admin: &str) -> Option<usize> {
    let statuses = request_statuses(intake_addr, admin).await?;
    Some(statuses.values().filter(|s| !is_final(**s)).count())
}

fn is_final(status: i32) -> bool {
    [
        pb::RequestStatus::Resolved,
        pb::RequestStatus::Closed,
        pb::RequestStatus::Cancelled,
        pb::RequestStatus::Merged,
    ]
    .iter()
    .any(|s| *s as i32 == status)
}

fn status_name(code: i32) -> &'static str {
    pb::RequestStatus::try_from(code)
        .map(|s| s.as_str_name())
        .unwrap_or("?")
}

fn assignment_status_name(code: i16) -> &'static str {
    pb::AssignmentStatus::try_from(code as i32)
        .map(|s| s.as_str_name())
        .unwrap_or("?")
}
