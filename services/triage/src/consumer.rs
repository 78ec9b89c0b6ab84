//! Classifies each new request once; a redelivered `request.created` changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use komek_core::duplicates::{self, Locks, Seen, Window};
use komek_core::triage::{FiredRule, Input, Triage};
use komek_core::{Category, GeoPoint, Priority};
use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::boundary::{from_timestamp, name, parse_name};
use komek_runtime::events::{Outgoing, enqueue_many, subject};
use komek_runtime::inbox::{HandleError, Handler, Incoming, Traced};
use komek_runtime::trace;
use sqlx::PgConnection;
use tracing::Instrument;
use uuid::Uuid;

use crate::events;
use crate::notes::{Intake, Notes};
use crate::store::{self, DecisionRow};

pub struct Classifier {
    triage: Arc<Triage>,
    window: Window,
    intake: Intake,
    /// What was read and decided for the requests about to be applied, before their
    /// transaction (see [`Handler::prefetches_ahead`]); an entry goes when its request's
    /// decision commits, or when it is older than [`KEEP_PREPARED`].
    prepared: Mutex<HashMap<String, Prepared>>,
}

/// A request's notes as read from intake, and its decision when it was classified with them.
struct Prepared {
    notes: Notes,
    decided: Option<(DecisionRow, Vec<FiredRule>)>,
    at: Instant,
}

/// How long notes read ahead are used: a batch is applied well within it. Its message coming
/// again later (after a failure) reads them again, so a note erased meanwhile is not used.
const KEEP_PREPARED: Duration = Duration::from_secs(10);

impl Classifier {
    pub fn new(triage: Arc<Triage>, window: Window, intake: Intake) -> Self {
        Self {
            triage,
            window,
            intake,
            prepared: Mutex::default(),
        }
    }

    /// `part` of what was prepared for `request`, when it is still fresh: only the part a
    /// caller needs is copied out.
    fn prepared<T>(&self, request: &str, part: impl FnOnce(&Prepared) -> Option<T>) -> Option<T> {
        let prepared = self.prepared.lock().expect("prepared lock");
        prepared
            .get(request)
            .filter(|p| p.at.elapsed() < KEEP_PREPARED)
            .and_then(part)
    }

    /// The notes of `request`: as prepared for its batch, or asked for now (and kept for its
    /// classifying).
    async fn notes(&self, request: &str) -> Result<Notes, HandleError> {
        if let Some(notes) = self.prepared(request, |p| Some(p.notes.clone())) {
            return Ok(notes);
        }
        let notes = self.intake.notes(request).await?;
        self.prepared.lock().expect("prepared lock").insert(
            request.to_string(),
            Prepared {
                notes: notes.clone(),
                decided: None,
                at: Instant::now(),
            },
        );
        Ok(notes)
    }
}

fn created(m: &Incoming<'_>) -> Result<ev::RequestCreated, HandleError> {
    m.decode_if::<ev::RequestCreated>(subject::REQUEST_CREATED)?
        .ok_or_else(|| HandleError::Reject(format!("unexpected subject {}", m.subject)))
}

/// What duplicate detection needs of a stored decision.
fn seen(d: &DecisionRow) -> Seen<Uuid> {
    Seen {
        id: d.request_id,
        duplicate_of: d.possible_duplicate_of,
        caller: d.caller_blind_index.clone(),
        category: Category::from_code(d.category.into()).unwrap_or(Category::Other),
        point: d
            .lat
            .zip(d.lon)
            .and_then(|(lat, lon)| GeoPoint::new(lat, lon).ok()),
        settlement: d.settlement.clone(),
        district: d.district.clone(),
        created: d.request_created_at.timestamp(),
    }
}

/// Actor recorded in the audit log for automatic decisions.
pub const ACTOR: &str = "services/triage";

impl Handler for Classifier {
    /// Reads the notes of the requests not prepared yet in one call, and classifies them:
    /// while the batch before them is applied, when the consumer gathers them ahead.
    async fn prefetch(&self, batch: &[Incoming<'_>]) {
        let fresh: Vec<(ev::RequestCreated, Uuid)> = {
            let mut prepared = self.prepared.lock().expect("prepared lock");
            prepared.retain(|_, p| p.at.elapsed() < KEEP_PREPARED);
            batch
                .iter()
                .filter_map(|m| created(m).ok())
                .filter(|c| !prepared.contains_key(&c.request))
                .filter_map(|c| {
                    let id = parse_name("requests", &c.request, "request").ok()?;
                    Some((c, id))
                })
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        let names: Vec<String> = fresh.iter().map(|(c, _)| c.request.clone()).collect();
        let mut read = match self.intake.notes_of_many(names).await {
            Ok(read) => read,
            Err(status) => {
                // Each is asked for alone when it is applied.
                tracing::debug!(error = %status, "notes of a batch not read at once");
                return;
            }
        };
        let reads: Vec<Read> = fresh
            .into_iter()
            .filter_map(|(created, request_id)| {
                let notes = read.remove(&created.request)?;
                Some(Read {
                    created,
                    request_id,
                    notes,
                })
            })
            .collect();
        let notes: Vec<(String, Notes)> = reads
            .iter()
            .map(|r| (r.created.request.clone(), r.notes.clone()))
            .collect();
        let decided = match decide_all(&self.triage, reads).await {
            Ok(decided) => decided.into_iter().map(Some).collect(),
            Err(err) => {
                tracing::debug!(error = %err, "batch not classified ahead");
                vec![None; notes.len()]
            }
        };
        let at = Instant::now();
        let mut prepared = self.prepared.lock().expect("prepared lock");
        for ((request, notes), decided) in notes.into_iter().zip(decided) {
            prepared.insert(request, Prepared { notes, decided, at });
        }
    }

    fn prefetches_ahead(&self) -> bool {
        true
    }

    /// Their decisions are stored: what was prepared for them is no longer needed.
    fn committed(&self, applied: &[Incoming<'_>]) {
        let mut prepared = self.prepared.lock().expect("prepared lock");
        for m in applied {
            if let Ok(c) = created(m) {
                prepared.remove(&c.request);
            }
        }
    }

    /// Each request's locks (see `duplicates::locks`): by caller, by the cells around its
    /// point, by its named place. A message that does not decode locks nothing; `handle`
    /// rejects it.
    async fn lock(&self, tx: &mut PgConnection, batch: &[Incoming<'_>]) -> Result<(), HandleError> {
        let mut all = Locks::default();
        for m in batch {
            let Ok(created) = created(m) else { continue };
            let notes = self.notes(&created.request).await?;
            let location = created.location.unwrap_or_default();
            let point = location
                .point
                .and_then(|p| GeoPoint::new(p.latitude, p.longitude).ok());
            all.merge(duplicates::locks(
                notes.caller_blind_index.as_deref(),
                point,
                &location.settlement,
                &location.district,
                self.window.radius_m,
            ));
        }
        store::take_locks(tx, &all).await?;
        Ok(())
    }

    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let (mut row, mut rules) = self.classify(m).await?;
        let candidates = store::duplicate_candidates(tx, &[probe(&row)], &self.window).await?;
        self.link(&mut row, &mut rules, &candidates, &[]);
        write(tx, vec![(row, trace::current_traceparent())]).await
    }

    /// Classifies each request of the batch, reads the earlier requests any of them may
    /// repeat in one statement, links each in order (seeing those of the batch before it as
    /// classified), then writes them all: the decisions, their audit entries and their events
    /// in one statement each.
    async fn handle_batch<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        batch: &'a [Traced<'a>],
    ) -> Result<(), (Option<usize>, HandleError)> {
        let mut undecided = Vec::new();
        let mut slots = Vec::with_capacity(batch.len());
        for (i, t) in batch.iter().enumerate() {
            let ready = self
                .read(t.message)
                .instrument(t.span.clone())
                .await
                .map_err(|e| (Some(i), e))?;
            slots.push(match ready {
                Ready::Decided(d) => Some(d),
                Ready::Read(r) => {
                    undecided.push(r);
                    None
                }
            });
        }
        // Those not prepared ahead (the batch's last comers, or a batch applied again).
        let mut now = decide_all(&self.triage, undecided)
            .await
            .map_err(|e| (None, e))?
            .into_iter();
        let classified: Vec<Decided> = slots
            .into_iter()
            .filter_map(|slot| slot.or_else(|| now.next()))
            .collect();
        let probes: Vec<store::Probe<'_>> = classified.iter().map(|(row, _)| probe(row)).collect();
        let candidates = store::duplicate_candidates(&mut *tx, &probes, &self.window)
            .await
            .map_err(|e| (None, e.into()))?;
        let mut decided: Vec<DecisionRow> = Vec::with_capacity(batch.len());
        let mut traces = Vec::with_capacity(batch.len());
        for (t, (mut row, mut rules)) in batch.iter().zip(classified) {
            let _span = t.span.enter();
            self.link(&mut row, &mut rules, &candidates, &decided);
            decided.push(row);
            traces.push(trace::current_traceparent());
        }
        write(tx, decided.into_iter().zip(traces).collect())
            .await
            .map_err(|e| (None, e))
    }
}

/// What the duplicate query needs of a decision.
fn probe(row: &DecisionRow) -> store::Probe<'_> {
    store::Probe {
        request_id: row.request_id,
        created_at: row.request_created_at,
        caller: row.caller_blind_index.as_deref(),
        category: row.category,
        point: row
            .lat
            .zip(row.lon)
            .and_then(|(lat, lon)| GeoPoint::new(lat, lon).ok()),
        settlement: &row.settlement,
        district: &row.district,
    }
}

impl Classifier {
    /// The rules and model on one request's note: its decision, not yet linked to a request
    /// it may repeat, and the rules that fired.
    async fn classify(&self, m: Incoming<'_>) -> Result<Decided, HandleError> {
        Ok(match self.read(m).await? {
            Ready::Decided(d) => d,
            Ready::Read(r) => decide(&self.triage, r),
        })
    }

    /// What classifying a request reads: its decision when it was prepared ahead, else its
    /// event and its notes.
    async fn read(&self, m: Incoming<'_>) -> Result<Ready, HandleError> {
        let created = created(&m)?;
        let request_id = parse_name("requests", &created.request, "request")?;
        if let Some(d) = self.prepared(&created.request, |p| p.decided.clone()) {
            return Ok(Ready::Decided(d));
        }
        // Empty when the request was erased before triage came to it: it is finished then,
        // and the decision only completes the record.
        let notes = self.notes(&created.request).await?;
        Ok(Ready::Read(Read {
            created,
            request_id,
            notes,
        }))
    }
}

/// A decision not yet linked to a request it may repeat, and the rules that fired.
type Decided = (DecisionRow, Vec<FiredRule>);

/// A request of a batch: decided ahead, or read and still to classify.
enum Ready {
    Decided(Decided),
    Read(Read),
}

/// A request as classifying it needs it.
struct Read {
    created: ev::RequestCreated,
    request_id: Uuid,
    notes: Notes,
}

/// Batches at least this large are classified on two threads: the classifier is the slowest
/// work of triage's transaction, and on a busy machine the stage that falls behind first.
const CLASSIFY_IN_TWO_FROM: usize = 8;

/// [`decide`] for each request of a batch, in order, on the blocking pool: the consumer's task
/// applies the batch before it meanwhile. A large batch is split between two threads.
async fn decide_all(
    triage: &Arc<Triage>,
    mut read: Vec<Read>,
) -> Result<Vec<Decided>, HandleError> {
    if read.is_empty() {
        return Ok(Vec::new());
    }
    let on_pool = |part: Vec<Read>| {
        let triage = Arc::clone(triage);
        tokio::task::spawn_blocking(move || {
            part.into_iter()
                .map(|r| decide(&triage, r))
                .collect::<Vec<_>>()
        })
    };
    let lost = |e: tokio::task::JoinError| {
        HandleError::Retry(anyhow::anyhow!("classifying part of a batch: {e}"))
    };
    if read.len() < CLASSIFY_IN_TWO_FROM {
        return on_pool(read).await.map_err(lost);
    }
    let second = read.split_off(read.len() / 2);
    let (first, second) = tokio::join!(on_pool(read), on_pool(second));
    let mut decided = first.map_err(lost)?;
    decided.extend(second.map_err(lost)?);
    Ok(decided)
}

/// The rules and model on one request's note (see [`Classifier::classify`]).
fn decide(triage: &Triage, read: Read) -> Decided {
    let Read {
        created,
        request_id,
        notes,
    } = read;
    let decision = triage.classify(&Input {
        description: &notes.description,
        operator_category: Category::from_code(created.operator_category),
        operator_priority: Priority::from_code(created.operator_priority),
    });
    let location = created.location.clone().unwrap_or_default();
    let point = location.point.unwrap_or_default();
    // The request's own creation time, so windows mean the same on a redelivery.
    let created_at = created
        .create_time
        .as_ref()
        .and_then(|t| from_timestamp(t, "create_time").ok())
        .unwrap_or_else(chrono::Utc::now);
    let row = DecisionRow {
        request_id,
        reference_code: created.reference_code.clone(),
        category: decision.category.code() as i16,
        priority: decision.priority.code() as i16,
        required_skills: decision
            .required_skills
            .iter()
            .map(|s| s.code() as i16)
            .collect(),
        confidence: decision.confidence,
        fired_rules: Vec::new(),
        fired_explanations: Vec::new(),
        rules_version: decision.rules_version.clone(),
        possible_duplicate_of: None,
        lat: location.point.map(|_| point.latitude),
        lon: location.point.map(|_| point.longitude),
        settlement: location.settlement,
        district: location.district,
        region: location.region,
        people_count: created.people_count,
        cargo_tonnes: cargo_tonnes(created.quantity.as_ref()),
        volunteer_note: notes.volunteer_note.clone(),
        quantity_value: created.quantity.as_ref().map_or(0.0, |q| q.value),
        quantity_unit: created
            .quantity
            .as_ref()
            .map_or(String::new(), |q| q.unit.clone()),
        decided_at: chrono::Utc::now(),
        version: 1,
        overridden: false,
        caller_blind_index: notes.caller_blind_index.clone(),
        request_created_at: created_at,
        merged_into: None,
        model_version: decision.model_version.clone(),
        unclassified: decision.unclassified,
        note: komek_core::scrub::volunteer_note(&notes.description, ""),
    };
    (row, decision.fired_rules)
}

impl Classifier {
    /// Links a classified request to the one it probably repeats among those classified
    /// before it (`candidates` read from the database, or `before` in its batch), and sets
    /// the rules that fired.
    fn link(
        &self,
        row: &mut DecisionRow,
        rules: &mut Vec<FiredRule>,
        candidates: &[DecisionRow],
        before: &[DecisionRow],
    ) {
        let earlier: Vec<Seen<Uuid>> = candidates
            .iter()
            .chain(before.iter().filter(|d| d.merged_into.is_none()))
            .map(seen)
            .collect();
        if let Some((original, reason)) = duplicates::original(&seen(row), &earlier, &self.window) {
            row.possible_duplicate_of = Some(original);
            rules.push(FiredRule {
                rule_id: reason.rule_id().into(),
                matched_terms: vec![name("requests", original)],
                explanation: reason.explanation().into(),
            });
        }
        row.fired_rules = rules
            .iter()
            .map(|r| format!("{}={}", r.rule_id, r.matched_terms.join("|")))
            .collect();
        row.fired_explanations = rules.iter().map(|r| r.explanation.clone()).collect();
    }
}

/// Stores decisions with their audit entries and `request.triaged` events (each in the
/// trace of the message it came from); a request decided before is left as it was. A
/// request erased while it was being decided keeps no words (see `store::erase`).
async fn write(
    tx: &mut PgConnection,
    decided: Vec<(DecisionRow, Option<String>)>,
) -> Result<(), HandleError> {
    let (mut rows, traces): (Vec<DecisionRow>, Vec<Option<String>>) = decided.into_iter().unzip();
    let ids: Vec<Uuid> = rows.iter().map(|r| r.request_id).collect();
    let erased = store::take_erased(tx, &ids).await?;
    for row in rows.iter_mut().filter(|r| erased.contains(&r.request_id)) {
        forget_words(row);
    }
    let trace_of: HashMap<Uuid, Option<String>> = rows
        .iter()
        .map(|r| r.request_id)
        .zip(traces)
        .rev()
        .collect();
    let mut stored = store::insert_many(tx, &rows).await?;
    // In the order they were decided: the audit log's and the stream's order.
    let order: HashMap<Uuid, usize> = rows
        .iter()
        .enumerate()
        .rev()
        .map(|(i, r)| (r.request_id, i))
        .collect();
    stored.sort_by_key(|d| order.get(&d.request_id).copied());
    store::audit_many(tx, &stored, ACTOR, "automatic").await?;
    let events: Vec<Outgoing> = stored
        .iter()
        .map(|d| Outgoing {
            subject: subject::REQUEST_TRIAGED.into(),
            payload: prost::Message::encode_to_vec(&events::triaged(d)),
            traceparent: trace_of.get(&d.request_id).cloned().flatten(),
        })
        .collect();
    enqueue_many(tx, events).await?;
    for d in &stored {
        tracing::info!(
            request = %d.request_id,
            category = d.category,
            priority = d.priority,
            unclassified = d.unclassified,
            possible_duplicate_of = ?d.possible_duplicate_of,
            "request triaged"
        );
    }
    Ok(())
}

/// What `store::erase` blanks in a stored decision, blanked in one about to be stored.
fn forget_words(row: &mut DecisionRow) {
    row.note.clear();
    row.volunteer_note.clear();
    row.caller_blind_index = None;
    for fired in &mut row.fired_rules {
        if let Some(at) = fired.find('=') {
            fired.truncate(at + 1);
        } else {
            fired.push('=');
        }
    }
}

/// Tonnes of cargo, when the quantity is given in tonnes or kilograms.
fn cargo_tonnes(q: Option<&pb::Quantity>) -> f64 {
    match q {
        Some(q) if matches!(q.unit.as_str(), "t" | "т" | "tonne" | "tonnes") => q.value,
        Some(q) if matches!(q.unit.as_str(), "kg" | "кг") => q.value / 1000.0,
        _ => 0.0,
    }
}

/// Every store failure in a handler is the database's: worth a redelivery.
impl From<store::Error> for HandleError {
    fn from(err: store::Error) -> Self {
        HandleError::Retry(err.into())
    }
}

/// Forgets the words and the caller's hash of a request erased in intake.
pub struct Eraser;

impl Handler for Eraser {
    async fn handle(&self, tx: &mut PgConnection, m: Incoming<'_>) -> Result<(), HandleError> {
        let Some(erased) = m.decode_if::<ev::RequestErased>(subject::REQUEST_ERASED)? else {
            return Err(HandleError::Reject(format!(
                "unexpected subject {}",
                m.subject
            )));
        };
        let request_id = parse_name("requests", &erased.request, "request")?;
        // No decision yet: triage will read the erased request's empty notes when it comes
        // to it.
        let had = store::erase(tx, request_id).await?;
        tracing::info!(request = %request_id, had_decision = had, "request's notes erased");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use komek_core::triage::{RuleSet, TriageModel};

    use super::*;

    fn read(i: usize, description: &str) -> Read {
        Read {
            created: ev::RequestCreated {
                request: format!("requests/{}", Uuid::nil()),
                reference_code: format!("KMK-{i}"),
                ..Default::default()
            },
            request_id: Uuid::from_u128(i as u128),
            notes: Notes {
                description: description.to_string(),
                volunteer_note: String::new(),
                caller_blind_index: None,
            },
        }
    }

    /// A batch classified on two threads comes back in its order, each decision what
    /// classifying the request alone gives.
    #[tokio::test]
    async fn a_batch_classified_in_two_halves_keeps_its_order() {
        let triage = Arc::new(Triage::new(
            RuleSet::from_toml(crate::DEFAULT_RULES).unwrap(),
            Some(TriageModel::from_text(crate::DEFAULT_MODEL).unwrap()),
        ));
        let notes = [
            "Көмір керек, қыс келді",
            "Нужны дрова и уголь на зиму",
            "Пожилой мужчина один дома, нужна помощь с продуктами",
            "Психологиялық көмек керек",
            "Подвезти бабушку в поликлинику",
            "Затопило подвал, вода в доме",
            "Азық-түлік керек",
            "Спасибо волонтёрам",
            "Нужна помощь по дому ветерану",
        ];
        for size in [
            1,
            CLASSIFY_IN_TWO_FROM - 1,
            CLASSIFY_IN_TWO_FROM,
            2 * notes.len() + 1,
        ] {
            let batch: Vec<Read> = (0..size).map(|i| read(i, notes[i % notes.len()])).collect();
            let decided = decide_all(&triage, batch).await.unwrap();
            assert_eq!(decided.len(), size);
            for (i, (row, rules)) in decided.iter().enumerate() {
                let (alone, alone_rules) = decide(&triage, read(i, notes[i % notes.len()]));
                assert_eq!(row.request_id, Uuid::from_u128(i as u128), "order kept");
                assert_eq!(
                    (
                        row.category,
                        row.priority,
                        &row.required_skills,
                        rules.len()
                    ),
                    (
                        alone.category,
                        alone.priority,
                        &alone.required_skills,
                        alone_rules.len()
                    )
                );
            }
        }
    }

    fn erased(id: Uuid) -> Vec<u8> {
        prost::Message::encode_to_vec(&ev::RequestErased {
            request: name("requests", id),
            ..Default::default()
        })
    }

    /// A decision made with a request's words, as the classifier stores it.
    fn with_words(triage: &Triage, i: usize) -> DecisionRow {
        let mut r = read(i, "Көмір керек, қыс келді, үйде жалғыз");
        r.notes.volunteer_note = "Кілт көршіде".into();
        r.notes.caller_blind_index = Some(vec![7; 32]);
        let (mut row, _) = decide(triage, r);
        row.fired_rules = vec!["coal=көмір".into(), "alone=жалғыз".into()];
        row
    }

    fn assert_no_words(row: &DecisionRow) {
        assert_eq!(
            (
                row.note.as_str(),
                row.volunteer_note.as_str(),
                &row.caller_blind_index,
                &row.fired_rules
            ),
            (
                "",
                "",
                &None,
                &vec!["coal=".to_string(), "alone=".to_string()]
            )
        );
    }

    /// A transaction storing `row` as the classifier does, under its locks, not committed.
    async fn storing(
        pool: &sqlx::PgPool,
        row: &DecisionRow,
    ) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut tx = pool.begin().await.unwrap();
        store::take_locks(&mut tx, &Locks::default()).await.unwrap();
        write(&mut tx, vec![(row.clone(), None)]).await.unwrap();
        tx
    }

    /// An erasure that comes while a decision made with the request's notes is being stored
    /// waits for it and blanks it; one that comes before the decision is stored leaves the
    /// request's id, and the decision stored after it keeps no words.
    #[tokio::test]
    async fn an_erasure_racing_the_decision_leaves_no_words() {
        let db = komek_testkit::TestDb::create().await;
        let pool =
            komek_runtime::db::connect_and_migrate(db.url(), store::SCHEMA, 4, &store::MIGRATOR)
                .await
                .unwrap();
        let triage = Triage::new(
            RuleSet::from_toml(crate::DEFAULT_RULES).unwrap(),
            Some(TriageModel::from_text(crate::DEFAULT_MODEL).unwrap()),
        );
        let erase = |id: Uuid| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await.unwrap();
                let payload = erased(id);
                let m = Incoming {
                    subject: subject::REQUEST_ERASED,
                    payload: &payload,
                };
                Eraser.handle(&mut tx, m).await.unwrap();
                tx.commit().await.unwrap();
            })
        };

        // Erased while its decision is being stored.
        let first = with_words(&triage, 1);
        let classifying = storing(&pool, &first).await;
        let erasing = erase(first.request_id);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            !erasing.is_finished(),
            "the erasure waits for the decision being stored"
        );
        classifying.commit().await.unwrap();
        erasing.await.unwrap();
        assert_no_words(&store::get(&pool, first.request_id).await.unwrap().unwrap());

        // Erased before its decision is stored.
        let second = with_words(&triage, 2);
        erase(second.request_id).await.unwrap();
        storing(&pool, &second).await.commit().await.unwrap();
        assert_no_words(&store::get(&pool, second.request_id).await.unwrap().unwrap());
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM triage.erased_undecided")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            left, 0,
            "the erasure is forgotten once its decision is stored"
        );

        // A decision stored with no erasure keeps its words.
        let third = with_words(&triage, 3);
        storing(&pool, &third).await.commit().await.unwrap();
        let kept = store::get(&pool, third.request_id).await.unwrap().unwrap();
        assert_eq!(kept.volunteer_note, "Кілт көршіде");
        assert!(kept.caller_blind_index.is_some());
    }
}
