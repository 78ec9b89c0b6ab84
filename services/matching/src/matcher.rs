//! Turns `request.triaged` into an offer to the nearest eligible group, or an escalation.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use komek_core::matching::{self, Need};
use komek_core::{GeoPoint, IneligibleReason, Priority, Skill};
use komek_proto::events::v1 as ev;
use komek_proto::types::v1 as pb;
use komek_runtime::convert::{name, parse_name, timestamp};
use komek_runtime::events::{Bus, HandleError, Handler, enqueue, subject};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::OfferTtl;
use crate::index::{self, GroupIndex};
use crate::store::{self, AssignmentRow};

/// How long a decision waits for the roster index to catch up with the roster stream.
const INDEX_CATCH_UP: Duration = Duration::from_secs(5);

pub struct Matcher {
    index: Arc<GroupIndex>,
    bus: Bus,
    ttl: OfferTtl,
}

impl Matcher {
    pub fn new(index: Arc<GroupIndex>, bus: Bus, ttl: OfferTtl) -> Self {
        Self { index, bus, ttl }
    }
}

impl Handler for Matcher {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        subject: &str,
        payload: &[u8],
    ) -> Result<(), HandleError> {
        if subject != subject::REQUEST_TRIAGED {
            return Ok(());
        }
        let triaged = ev::RequestTriaged::decode(payload)?;
        let request_id = parse_name("requests", &triaged.request, "request")
            .map_err(|v| HandleError::Reject(v.description))?;

        // Decide on a roster at least as fresh as the stream when the request arrived, so a
        // group registered just before the call is not missed.
        let head = index::roster_head(&self.bus).await?;
        if !self.index.wait_for(head, INDEX_CATCH_UP).await {
            return Err(HandleError::Retry(anyhow::anyhow!(
                "roster index behind the stream"
            )));
        }

        if store::is_closed(tx, request_id).await? {
            // Cancelled or merged meanwhile: nobody should be sent.
            return Ok(());
        }
        let history = store::history(tx, request_id).await?;
        if history.active {
            // Already offered (a redelivery, or a re-triage while an offer is open).
            return Ok(());
        }
        let attempt = history.attempts + 1;
        let location = triaged.location.clone().unwrap_or_default();
        let Some(point) = location
            .point
            .and_then(|p| GeoPoint::new(p.latitude, p.longitude).ok())
        else {
            return escalate(tx, &triaged, vec![IneligibleReason::NoLocation], attempt).await;
        };
        let skills: Vec<Skill> = triaged
            .required_skills
            .iter()
            .filter_map(|s| Skill::from_code(*s))
            .collect();
        let groups = self.index.snapshot();
        if groups.is_empty() {
            return escalate(tx, &triaged, vec![IneligibleReason::NoGroups], attempt).await;
        }
        let views: Vec<_> = groups.iter().map(|g| g.view.clone()).collect();
        let excluded: Vec<String> = history
            .excluded_groups
            .iter()
            .map(|g| name("groups", *g))
            .collect();
        let need = Need {
            location: point,
            skills: &skills,
            excluded: &excluded,
        };
        let mut ranked = matching::evaluate(&need, &views);

        let mut chosen = None;
        for (i, evaluation) in ranked.iter_mut().enumerate() {
            if !evaluation.is_eligible() {
                break;
            }
            let group_id = parse_name("groups", &evaluation.group, "group")
                .map_err(|v| HandleError::Reject(v.description))?;
            let group = groups
                .iter()
                .find(|g| g.id == group_id)
                .expect("ranked from this snapshot");
            if !store::take_capacity(tx, group_id, group.view.capacity as i32).await? {
                evaluation.reasons.push(IneligibleReason::NoCapacity);
                continue;
            }
            chosen = Some((i, group.clone()));
            break;
        }
        let candidates: Vec<ev::CandidateScore> = ranked
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut reasons: Vec<i32> = e.reasons.iter().map(|r| r.code()).collect();
                if e.is_eligible() && chosen.as_ref().is_some_and(|(c, _)| *c != i) {
                    reasons.push(IneligibleReason::NotNearest.code());
                }
                ev::CandidateScore {
                    group: e.group.clone(),
                    distance_meters: e.distance_m,
                    reasons,
                }
            })
            .collect();
        let Some((i, group)) = chosen else {
            let reasons = matching::escalation_reasons(&ranked);
            return escalate(tx, &triaged, reasons, attempt).await;
        };

        let priority = Priority::from_code(triaged.priority).unwrap_or(Priority::Normal);
        let now = Utc::now();
        let expire_at = now + self.ttl.for_priority(priority);
        let row = AssignmentRow {
            id: Uuid::now_v7(),
            request_id,
            group_id: group.id,
            status: 1,
            attempt,
            reference_code: triaged.reference_code.clone(),
            category: triaged.category as i16,
            priority: triaged.priority as i16,
            required_skills: triaged.required_skills.iter().map(|s| *s as i16).collect(),
            lat: point.lat(),
            lon: point.lon(),
            settlement: location.settlement.clone(),
            district: location.district.clone(),
            region: location.region.clone(),
            distance_m: ranked[i].distance_m,
            offered_at: now,
            expire_at,
            updated_at: now,
            reason: String::new(),
            outcome: 0,
            version: 1,
        };
        let Some(row) = store::insert_offer(tx, &row).await? else {
            // Another replica made an offer first; our capacity unit rolls back with the error.
            return Err(HandleError::Retry(anyhow::anyhow!(
                "request already has an active offer"
            )));
        };
        let event = ev::AssignmentOffered {
            assignment: name("assignments", row.id),
            request: triaged.request.clone(),
            reference_code: row.reference_code.clone(),
            group: name("groups", group.id),
            group_display_name: group.display_name.clone(),
            category: triaged.category,
            priority: triaged.priority,
            required_skills: triaged.required_skills.clone(),
            location: Some(pb::Location {
                address: String::new(),
                ..location
            }),
            distance_meters: row.distance_m,
            attempt,
            offer_time: Some(timestamp(row.offered_at)),
            expire_time: Some(timestamp(row.expire_at)),
            candidates,
        };
        enqueue(tx, subject::ASSIGNMENT_OFFERED, &event).await?;
        tracing::info!(
            request = %request_id,
            group = %group.id,
            distance_m = row.distance_m.round(),
            attempt,
            "offer made"
        );
        Ok(())
    }
}

async fn escalate(
    tx: &mut PgConnection,
    triaged: &ev::RequestTriaged,
    reasons: Vec<IneligibleReason>,
    attempts: i32,
) -> Result<(), HandleError> {
    let event = ev::RequestEscalated {
        request: triaged.request.clone(),
        reasons: reasons.iter().map(|r| r.code()).collect(),
        attempts,
        escalate_time: Some(timestamp(Utc::now())),
    };
    enqueue(tx, subject::REQUEST_ESCALATED, &event).await?;
    tracing::info!(request = %triaged.request, ?reasons, "escalated to dispatchers");
    Ok(())
}
