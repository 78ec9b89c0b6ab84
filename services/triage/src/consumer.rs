//! Classifies each new request once; a redelivered `request.created` changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
    /// The notes of the batch being applied, read from intake in one call before its
    /// transaction; a note is taken out when its request is classified.
    prefetched: Mutex<HashMap<String, Notes>>,
}

impl Classifier {
    pub fn new(triage: Arc<Triage>, window: Window, intake: Intake) -> Self {
        Self {
            triage,
            window,
            intake,
            prefetched: Mutex::default(),
        }
    }

    /// The notes of `request`: as read for its batch, or asked for now.
    async fn notes(&self, request: &str, take: bool) -> Result<Notes, HandleError> {
        let kept = {
            let mut prefetched = self.prefetched.lock().expect("notes lock");
            if take {
                prefetched.remove(request)
            } else {
                prefetched.get(request).cloned()
            }
        };
        if let Some(notes) = kept {
            return Ok(notes);
        }
        let notes = self.intake.notes(request).await?;
        if !take {
            // Locking read them first: classifying takes them from here.
            self.prefetched
                .lock()
                .expect("notes lock")
                .insert(request.to_string(), notes.clone());
        }
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
    async fn prefetch(&self, batch: &[Incoming<'_>]) {
        let names: Vec<String> = batch
            .iter()
            .filter_map(|m| created(m).ok().map(|c| c.request))
            .collect();
        let read = if names.is_empty() {
            HashMap::new()
        } else {
            self.intake
                .notes_of_many(names)
                .await
                .unwrap_or_else(|status| {
                    tracing::debug!(error = %status, "notes of a batch not read at once");
                    HashMap::new()
                })
        };
        *self.prefetched.lock().expect("notes lock") = read;
    }

    /// Each request's locks (see `duplicates::locks`): by caller, by the cells around its
    /// point, by its named place. A message that does not decode locks nothing; `handle`
    /// rejects it.
    async fn lock(&self, tx: &mut PgConnection, batch: &[Incoming<'_>]) -> Result<(), HandleError> {
        let mut all = Locks::default();
        for m in batch {
            let Ok(created) = created(m) else { continue };
            let notes = self.notes(&created.request, false).await?;
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
        self.write(tx, vec![(row, trace::current_traceparent())])
            .await
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
        let mut read = Vec::with_capacity(batch.len());
        for (i, t) in batch.iter().enumerate() {
            let r = self
                .read(t.message)
                .instrument(t.span.clone())
                .await
                .map_err(|e| (Some(i), e))?;
            read.push(r);
        }
        let classified = decide_all(&self.triage, read)
            .await
            .map_err(|e| (None, e))?;
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
        self.write(tx, decided.into_iter().zip(traces).collect())
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
    async fn classify(
        &self,
        m: Incoming<'_>,
    ) -> Result<(DecisionRow, Vec<FiredRule>), HandleError> {
        Ok(decide(&self.triage, self.read(m).await?))
    }

    /// What classifying a request reads: its event and its notes.
    async fn read(&self, m: Incoming<'_>) -> Result<Read, HandleError> {
        let created = created(&m)?;
        let request_id = parse_name("requests", &created.request, "request")?;
        // Empty when the request was erased before triage came to it: it is finished then,
        // and the decision only completes the record.
        let notes = self.notes(&created.request, true).await?;
        Ok(Read {
            created,
            request_id,
            notes,
        })
    }
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

/// [`decide`] for each request of a batch, in order; a large batch's second half on a thread
/// of the blocking pool while this task does the first.
async fn decide_all(
    triage: &Arc<Triage>,
    mut read: Vec<Read>,
) -> Result<Vec<(DecisionRow, Vec<FiredRule>)>, HandleError> {
    if read.len() < CLASSIFY_IN_TWO_FROM {
        return Ok(read.into_iter().map(|r| decide(triage, r)).collect());
    }
    let second = read.split_off(read.len() / 2);
    let other = Arc::clone(triage);
    let second = tokio::task::spawn_blocking(move || {
        second
            .into_iter()
            .map(|r| decide(&other, r))
            .collect::<Vec<_>>()
    });
    let mut decided: Vec<_> = read.into_iter().map(|r| decide(triage, r)).collect();
    let second = second
        .await
        .map_err(|e| HandleError::Retry(anyhow::anyhow!("classifying half a batch: {e}")))?;
    decided.extend(second);
    Ok(decided)
}

/// The rules and model on one request's note (see [`Classifier::classify`]).
fn decide(triage: &Triage, read: Read) -> (DecisionRow, Vec<FiredRule>) {
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

    /// Stores decisions with their audit entries and `request.triaged` events (each in the
    /// trace of the message it came from); a request decided before is left as it was.
    async fn write(
        &self,
        tx: &mut PgConnection,
        decided: Vec<(DecisionRow, Option<String>)>,
    ) -> Result<(), HandleError> {
        let (rows, traces): (Vec<DecisionRow>, Vec<Option<String>>) = decided.into_iter().unzip();
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
}
