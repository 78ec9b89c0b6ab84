//! Places a job: an offer to the nearest eligible group, or an escalation to dispatchers.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use komek_core::matching::{self, Need};
use komek_core::{AssignmentStatus, Category, IneligibleReason, Priority};
use komek_proto::events::v1 as ev;
use komek_runtime::boundary::{name, parse_name};
use komek_runtime::events::{Bus, enqueue, subject};
use komek_runtime::inbox::HandleError;
use komek_runtime::{failpoint, follow, metrics, trace};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use komek_core::wide::{Round, WideSearch};

use crate::config::OfferTtl;
use crate::events::{self, OfferedTo};
use crate::index::GroupIndex;
use crate::jobs;
use crate::model::Job;
use crate::store::{self, AssignmentRow};

/// How long a decision waits for the roster index to catch up with the roster stream.
const INDEX_CATCH_UP: Duration = Duration::from_secs(5);

pub struct Matcher {
    index: Arc<GroupIndex>,
    bus: Bus,
    ttl: OfferTtl,
    /// Offers made to one request before it goes to dispatchers.
    max_attempts: i32,
    /// A group's reported location older than this makes it ineligible.
    max_location_age: chrono::Duration,
    /// Requests at least this urgent call groups outside their office hours.
    urgent_from: Priority,
    /// Which requests are offered to several groups at once.
    wide: WideSearch,
}

impl Matcher {
    pub fn index(&self) -> &GroupIndex {
        &self.index
    }

    pub fn max_location_age(&self) -> chrono::Duration {
        self.max_location_age
    }

    pub fn new(
        index: Arc<GroupIndex>,
        bus: Bus,
        ttl: OfferTtl,
        max_attempts: i32,
        max_location_age: chrono::Duration,
        urgent_from: Priority,
        wide: WideSearch,
    ) -> Self {
        Self {
            index,
            bus,
            ttl,
            max_attempts,
            max_location_age,
            urgent_from,
            wide,
        }
    }

    /// How many groups the first round of `job`'s wide search offers; None when it is offered
    /// to one group at a time.
    fn wide_first_round(&self, job: &Job) -> Option<u32> {
        let category = Category::from_code(job.category)?;
        let priority = Priority::from_code(job.priority)?;
        self.wide.first_round(category, priority)
    }

    /// Whether `job` calls groups outside their organisations' office hours.
    fn urgent(&self, job: &Job) -> bool {
        Priority::from_code(job.priority).is_some_and(|p| p >= self.urgent_from)
    }
}

impl Matcher {
    /// Offers the job to the nearest eligible group, or escalates it, in the caller's
    /// transaction. Does nothing for a request that is closed or already has an active offer.
    pub async fn place(&self, tx: &mut PgConnection, job: &Job) -> Result<(), HandleError> {
        self.catch_up().await?;
        self.place_caught_up(tx, job).await
    }

    /// Waits until the group index holds the roster as the stream holds it now: a decision
    /// made after it sees every group registered before the request arrived.
    pub async fn catch_up(&self) -> Result<(), HandleError> {
        if !follow::catch_up(&*self.index, &self.bus, INDEX_CATCH_UP).await? {
            return Err(HandleError::Retry(anyhow::anyhow!(
                "roster index behind the stream"
            )));
        }
        Ok(())
    }

    /// [`Self::place`] for a job that arrived before the last [`Self::catch_up`] (a batch of
    /// triaged requests catches up once).
    pub async fn place_caught_up(
        &self,
        tx: &mut PgConnection,
        job: &Job,
    ) -> Result<(), HandleError> {
        self.place_known(tx, job, None).await
    }

    /// [`Self::place_caught_up`] with the request's closure and history when they were read
    /// already in this transaction (a batch reads its requests' in one statement). Every
    /// placement goes through here, in a span of its own in the request's trace.
    #[tracing::instrument(name = "match", skip_all, fields(request = %job.request_id))]
    pub async fn place_known(
        &self,
        tx: &mut PgConnection,
        job: &Job,
        known: Option<(bool, store::History)>,
    ) -> Result<(), HandleError> {
        let request_id = job.request_id;

        let (closed, history) = match known {
            Some(known) => known,
            None => store::closed_and_history(tx, request_id).await?,
        };
        let attempt = history.attempts + 1;
        let wide = match self.screen(job, closed, &history) {
            Screen::Nothing => return Ok(()),
            Screen::Promote(supporter) => {
                jobs::promote(tx, supporter).await?;
                return Ok(());
            }
            Screen::Escalate(reason) => {
                return escalate(tx, job, vec![reason], attempt - 1, vec![]).await;
            }
            Screen::Wide(first) => Some(first),
            Screen::Nearest => None,
        };
        let location = job.location.clone();
        let point = job.point().expect("screened for a point");
        let skills = job.skills();
        let located = job.located_district();
        let excluded = excluded(&history);
        if let Some(first) = wide {
            let next = history.round.max(0) as u32 + 1;
            return self
                .place_wide(tx, job, &history, excluded, self.wide.round(first, next))
                .await;
        }
        let mut full: Vec<String> = Vec::new();
        let mut resting: Vec<String> = Vec::new();
        let now = Utc::now();
        let (ranked, chosen) = loop {
            let need = Need {
                location: point,
                district: &location.district,
                located_district: &located,
                skills: &skills,
                cargo_tonnes: job.cargo_tonnes,
                excluded: &excluded,
                at_capacity: &full,
                resting: &resting,
                now,
                max_location_age: self.max_location_age,
                urgent: self.urgent(job),
                area_factor: 1.0,
            };
            if history.attempts >= self.max_attempts {
                // The ladder is exhausted: dispatchers decide, with what the groups looked like.
                let all = self.judged_with_load(tx, &need).await?;
                let mut reasons = matching::escalation_reasons(&all);
                if !reasons.contains(&IneligibleReason::AlreadyDeclined) {
                    reasons.push(IneligibleReason::AlreadyDeclined);
                }
                return escalate(tx, job, reasons, history.attempts, events::scores(&all)).await;
            }
            // The nearest eligible group and every nearer one, in order.
            let ranked = self.index.nearest(&need, 1);
            let Some(best) = ranked.last().filter(|e| e.is_eligible()).cloned() else {
                break (ranked, None);
            };
            let group_id = parse_name("groups", &best.group, "group")?;
            let capacity = self.index.capacity(&best.group).unwrap_or(0) as i32;
            let to = Offer {
                group_id,
                distance_m: best.distance_m,
                attempt,
                round: None,
            };
            // The place and the offer in one statement when the group has room.
            let take = match store::take_and_offer(tx, &self.offer_row(job, to), capacity).await? {
                store::TakeOffer::Offered(row) => Ok(Some(*row)),
                store::TakeOffer::AlreadyOffered => Err(()),
                store::TakeOffer::NotTaken => {
                    match store::take_capacity_after_miss(tx, group_id, capacity).await? {
                        store::Take::Taken => Ok(None),
                        // Full in the database (another request took the last place), or
                        // resting after a job: look again without it.
                        store::Take::Full => {
                            full.push(best.group);
                            continue;
                        }
                        store::Take::Resting => {
                            resting.push(best.group);
                            continue;
                        }
                    }
                }
            };
            if failpoint::fires(failpoint::MATCHER_AFTER_TAKE) {
                return Err(failpoint::crash(failpoint::MATCHER_AFTER_TAKE).into());
            }
            match take {
                Ok(offered) => break (ranked, Some((to, offered))),
                Err(()) => {
                    // Another replica offered this request meanwhile (a duplicate delivery):
                    // it is placed, and the place taken here goes back.
                    store::release(tx, group_id).await?;
                    return Ok(());
                }
            }
        };
        let Some((to, offered)) = chosen else {
            // Nobody eligible: every group was judged. Judge them again knowing which are
            // full or resting, so a group that also lacks a skill shows both.
            let need = Need {
                location: point,
                district: &location.district,
                located_district: &located,
                skills: &skills,
                cargo_tonnes: job.cargo_tonnes,
                excluded: &excluded,
                at_capacity: &full,
                resting: &resting,
                now,
                max_location_age: self.max_location_age,
                urgent: self.urgent(job),
                area_factor: 1.0,
            };
            let all = self.judged_with_load(tx, &need).await?;
            // Only office hours stand in the way: the request waits for the office to open
            // instead of going to dispatchers, and is judged again then.
            if let Some(until) = matching::deferral(&all, now) {
                return defer(tx, job, until, events::scores(&all)).await;
            }
            let reasons = matching::escalation_reasons(&all);
            return escalate(tx, job, reasons, attempt - 1, events::scores(&all)).await;
        };
        let candidates = events::scores(&ranked);
        match offered {
            Some(row) => self.announce(tx, job, row, candidates).await.map(|_| ()),
            None => self.offer(tx, job, to, candidates).await.map(|_| ()),
        }
    }

    /// What placing `job` comes to before any group is looked at, given whether its request
    /// is closed and its history.
    fn screen(&self, job: &Job, closed: bool, history: &store::History) -> Screen {
        if closed {
            // Cancelled or merged meanwhile: nobody should be sent.
            return Screen::Nothing;
        }
        let wide = self.wide_first_round(job);
        if wide.is_some() || history.round > 0 {
            // A wide search that has its lead needs nobody more; one whose lead gave up goes
            // on under the supporter offered it first (the nearest of the earliest round).
            if history.led {
                return Screen::Nothing;
            }
            if let Some(supporter) = history.supporters.first() {
                return Screen::Promote(*supporter);
            }
        }
        if history.active {
            // Already offered (a redelivery, a re-triage while an offer is open, or an offer
            // of a wide search's round still open).
            return Screen::Nothing;
        }
        // A guess at what is needed would send the wrong people, and a thank-you call or an
        // offer to help needs nobody sent: a dispatcher reads those.
        if job.unclassified {
            return Screen::Escalate(IneligibleReason::Unclassified);
        }
        if job.category == Category::Other.code() {
            return Screen::Escalate(IneligibleReason::NothingToSend);
        }
        if job.point().is_none() {
            return Screen::Escalate(IneligibleReason::NoLocation);
        }
        if self.index.len() == 0 {
            return Screen::Escalate(IneligibleReason::NoGroups);
        }
        match wide {
            Some(first) => Screen::Wide(first),
            None => Screen::Nearest,
        }
    }

    /// The offer placing `job` makes first, when that is all placing it takes: one group at a
    /// time, attempts left and an eligible group nearest, whose place the offer must still
    /// take. None when placing it takes anything else, which [`Self::place_known`] does; it
    /// also places a request whose first offer found its group without room.
    pub fn first_offer(
        &self,
        job: &Job,
        closed: bool,
        history: &store::History,
    ) -> Option<FirstOffer> {
        if !matches!(self.screen(job, closed, history), Screen::Nearest)
            || history.attempts >= self.max_attempts
        {
            return None;
        }
        let point = job.point()?;
        let skills = job.skills();
        let located = job.located_district();
        let excluded = excluded(history);
        // As the first look of `place_known`'s ladder.
        let need = Need {
            location: point,
            district: &job.location.district,
            located_district: &located,
            skills: &skills,
            cargo_tonnes: job.cargo_tonnes,
            excluded: &excluded,
            at_capacity: &[],
            resting: &[],
            now: Utc::now(),
            max_location_age: self.max_location_age,
            urgent: self.urgent(job),
            area_factor: 1.0,
        };
        let ranked = self.index.nearest(&need, 1);
        let best = ranked.last().filter(|e| e.is_eligible())?;
        let group_id = parse_name("groups", &best.group, "group").ok()?;
        let to = Offer {
            group_id,
            distance_m: best.distance_m,
            attempt: history.attempts + 1,
            round: None,
        };
        Some(FirstOffer {
            row: self.offer_row(job, to),
            capacity: self.index.capacity(&best.group).unwrap_or(0) as i32,
            candidates: events::scores(&ranked),
        })
    }

    /// Offers `job` to the nearest eligible groups of its wide search's `round` at once, each
    /// taking a place of its group; with none eligible it waits for office hours or goes to
    /// dispatchers, as does a search whose rounds ran out.
    async fn place_wide(
        &self,
        tx: &mut PgConnection,
        job: &Job,
        history: &store::History,
        excluded: Vec<String>,
        round: Option<Round>,
    ) -> Result<(), HandleError> {
        let point = job.point().expect("placed jobs have a point");
        let skills = job.skills();
        let located = job.located_district();
        let now = Utc::now();
        let base = Need {
            location: point,
            district: &job.location.district,
            located_district: &located,
            skills: &skills,
            cargo_tonnes: job.cargo_tonnes,
            excluded: &[],
            at_capacity: &[],
            resting: &[],
            now,
            max_location_age: self.max_location_age,
            urgent: self.urgent(job),
            area_factor: 1.0,
        };
        let Some(round) = round else {
            // Every round went unanswered: dispatchers decide, as when the ladder runs out.
            let factor = self.wide.reach(self.wide.rounds);
            let all = self
                .judged_with_load(
                    tx,
                    &Need {
                        excluded: &excluded,
                        area_factor: factor,
                        ..base.clone()
                    },
                )
                .await?;
            let mut reasons = matching::escalation_reasons(&all);
            if !reasons.contains(&IneligibleReason::AlreadyDeclined) {
                reasons.push(IneligibleReason::AlreadyDeclined);
            }
            return escalate(tx, job, reasons, history.attempts, events::scores(&all)).await;
        };
        let mut passed_over = excluded.clone();
        let mut full: Vec<String> = Vec::new();
        let mut resting: Vec<String> = Vec::new();
        let mut chosen: Vec<(matching::Evaluation, Uuid)> = Vec::new();
        let mut candidates = None;
        while chosen.len() < round.groups {
            let want = round.groups - chosen.len();
            let ranked = self.index.nearest(
                &Need {
                    excluded: &passed_over,
                    at_capacity: &full,
                    resting: &resting,
                    area_factor: round.area_factor,
                    ..base.clone()
                },
                want,
            );
            // The first look, before any group was taken, is what the decision shows.
            candidates.get_or_insert_with(|| events::scores(&ranked));
            let eligible: Vec<_> = ranked.into_iter().filter(|e| e.is_eligible()).collect();
            if eligible.is_empty() {
                break;
            }
            for best in eligible {
                let group_id = parse_name("groups", &best.group, "group")?;
                let capacity = self.index.capacity(&best.group).unwrap_or(0);
                match store::take_capacity(tx, group_id, capacity as i32).await? {
                    store::Take::Taken => {
                        passed_over.push(best.group.clone());
                        chosen.push((best, group_id));
                    }
                    store::Take::Full => full.push(best.group),
                    store::Take::Resting => resting.push(best.group),
                }
            }
        }
        if chosen.is_empty() {
            let all = self
                .judged_with_load(
                    tx,
                    &Need {
                        excluded: &excluded,
                        at_capacity: &full,
                        resting: &resting,
                        area_factor: round.area_factor,
                        ..base.clone()
                    },
                )
                .await?;
            if let Some(until) = matching::deferral(&all, now) {
                return defer(tx, job, until, events::scores(&all)).await;
            }
            let reasons = matching::escalation_reasons(&all);
            return escalate(tx, job, reasons, history.attempts, events::scores(&all)).await;
        }
        let candidates = candidates.unwrap_or_default();
        for (attempt, (best, group_id)) in (history.attempts + 1..).zip(chosen) {
            let to = Offer {
                group_id,
                distance_m: best.distance_m,
                attempt,
                round: Some(round.number),
            };
            self.offer(tx, job, to, candidates.clone()).await?;
        }
        tracing::info!(request = %job.request_id, round = round.number,
            reach = round.area_factor, "wide search offered");
        Ok(())
    }

    /// Every group judged against `need`, with the groups the database holds full or resting
    /// added to those `need` already names: the index knows skills, areas and shifts, only the
    /// database knows load and rest.
    async fn judged_with_load(
        &self,
        tx: &mut PgConnection,
        need: &Need<'_>,
    ) -> Result<Vec<matching::Evaluation>, HandleError> {
        let all = self.index.nearest(need, usize::MAX);
        let groups: Vec<(Uuid, i32)> = all
            .iter()
            .filter_map(|e| {
                let id = parse_name("groups", &e.group, "group").ok()?;
                Some((id, self.index.capacity(&e.group)? as i32))
            })
            .collect();
        let (full, resting) = store::load_states(tx, &groups).await?;
        let mut at_capacity = need.at_capacity.to_vec();
        at_capacity.extend(full.iter().map(|g| name("groups", *g)));
        let mut rest = need.resting.to_vec();
        rest.extend(resting.iter().map(|g| name("groups", *g)));
        let need = Need {
            at_capacity: &at_capacity,
            resting: &rest,
            ..need.clone()
        };
        Ok(self.index.nearest(&need, usize::MAX))
    }

    /// Records an offer of `job` to a group whose capacity unit this transaction already took,
    /// and announces it. `None` when the request got an active offer meanwhile (the unit goes
    /// back).
    pub async fn offer(
        &self,
        tx: &mut PgConnection,
        job: &Job,
        to: Offer,
        candidates: Vec<ev::CandidateScore>,
    ) -> Result<Option<AssignmentRow>, HandleError> {
        let row = self.offer_row(job, to);
        let Some(row) = store::insert_offer(tx, &row).await? else {
            // Another replica offered this request meanwhile (a duplicate delivery): it is
            // placed, and the unit taken here goes back.
            store::release(tx, to.group_id).await?;
            return Ok(None);
        };
        self.announce(tx, job, row, candidates).await.map(Some)
    }

    /// The row of an offer of `job` as `to` says, made now.
    fn offer_row(&self, job: &Job, to: Offer) -> AssignmentRow {
        let Offer {
            group_id,
            distance_m,
            attempt,
            round,
        } = to;
        let request_id = job.request_id;
        let location = job.location.clone();
        let point = location.point.unwrap_or_default();
        let priority = Priority::from_code(job.priority).unwrap_or(Priority::Normal);
        let now = Utc::now();
        let expire_at = now + self.ttl.for_priority(priority);
        AssignmentRow {
            id: Uuid::now_v7(),
            request_id,
            group_id,
            status: AssignmentStatus::Offered.code() as i16,
            attempt,
            reference_code: job.reference_code.clone(),
            category: job.category as i16,
            priority: job.priority as i16,
            required_skills: job.required_skills.iter().map(|s| *s as i16).collect(),
            lat: point.latitude,
            lon: point.longitude,
            settlement: location.settlement.clone(),
            district: location.district.clone(),
            region: location.region.clone(),
            distance_m,
            offered_at: now,
            expire_at,
            updated_at: now,
            reason: String::new(),
            outcome: 0,
            version: 1,
            cargo_tonnes: job.cargo_tonnes,
            volunteer_note: job.summary.clone(),
            position_lat: None,
            position_lon: None,
            position_at: None,
            people_count: job.people_count,
            quantity_value: job.quantity.as_ref().map_or(0.0, |q| q.value),
            quantity_unit: job
                .quantity
                .as_ref()
                .map_or(String::new(), |q| q.unit.clone()),
            wide: round.is_some(),
            search_round: round.map_or(0, |r| r as i32),
            lead: false,
        }
    }

    /// What follows a recorded offer: its trace kept, the decision, the event.
    pub async fn announce(
        &self,
        tx: &mut PgConnection,
        job: &Job,
        row: AssignmentRow,
        candidates: Vec<ev::CandidateScore>,
    ) -> Result<AssignmentRow, HandleError> {
        let (request_id, group_id, attempt) = (row.request_id, row.group_id, row.attempt);
        let (display_name, organization, organization_display_name) = self
            .index
            .get(group_id)
            .map(|g| (g.display_name, g.organization, g.organization_display_name))
            .unwrap_or_default();
        if let Some(traceparent) = trace::current_traceparent() {
            store::keep_traceparent(tx, row.id, &traceparent).await?;
        }
        let list = ev::CandidateList {
            candidates: candidates.clone(),
        };
        store::record_decision(
            tx,
            request_id,
            attempt,
            Some(row.id),
            &list.encode_to_vec(),
            &[],
        )
        .await?;
        let to = OfferedTo {
            display_name,
            organization,
            organization_display_name,
        };
        // The first offer of a wide search's round stands for the request; the others widen
        // the partners' scope only.
        let sibling = row.wide && store::has_sibling_standing(tx, &row).await?;
        let event = events::offered(&row, job, to, candidates, sibling);
        enqueue(tx, subject::ASSIGNMENT_OFFERED, &event).await?;
        metrics::count(
            "komek_offers_total",
            "Offers made to groups (by the matcher or a dispatcher).",
            &[],
            1,
        );
        tracing::info!(
            request = %request_id,
            group = %group_id,
            distance_m = row.distance_m.round(),
            attempt,
            "offer made"
        );
        Ok(row)
    }
}

/// The groups that already said no to the request, by name, as the index names them.
fn excluded(history: &store::History) -> Vec<String> {
    history
        .excluded_groups
        .iter()
        .map(|g| name("groups", *g))
        .collect()
}

/// What placing a request comes to before any group is looked at.
enum Screen {
    /// Nothing to do: closed meanwhile, a wide search led, or an offer open.
    Nothing,
    /// A wide search whose lead gave up goes on under this supporter.
    Promote(Uuid),
    /// To dispatchers at once.
    Escalate(IneligibleReason),
    /// A wide search's next round (its first round offers this many groups).
    Wide(u32),
    /// The nearest eligible group, one at a time.
    Nearest,
}

/// An offer to the nearest eligible group, made before its place is taken (see
/// [`Matcher::first_offer`]): the row to record, the group's capacity as the roster has it,
/// and the groups looked at, for the decision.
pub struct FirstOffer {
    pub row: AssignmentRow,
    pub capacity: i32,
    pub candidates: Vec<ev::CandidateScore>,
}

/// Which group an offer goes to, how far it is, which attempt at the request it is, and for
/// a wide search which round.
#[derive(Debug, Clone, Copy)]
pub struct Offer {
    pub group_id: Uuid,
    pub distance_m: f64,
    pub attempt: i32,
    pub round: Option<u32>,
}

/// Why a dispatcher's choice of group for a job cannot be offered.
#[derive(Debug)]
pub enum ManualRefusal {
    UnknownGroup,
    Deactivated,
    NoLocation,
    Full,
    Resting,
    /// The request got an active offer meanwhile.
    AlreadyOffered,
}

impl Matcher {
    /// Offers `job` to the group a dispatcher chose, in `tx`. The dispatcher overrides the
    /// matcher's judgement (distance, area, shift, skills, earlier answers), not the group's
    /// capacity or rest: those are the group's own limits. The decision records how the group
    /// measured up, so ExplainRequest shows what was overridden.
    pub async fn offer_manually(
        &self,
        tx: &mut PgConnection,
        job: &Job,
        group_id: Uuid,
    ) -> Result<Result<AssignmentRow, ManualRefusal>, HandleError> {
        let group = name("groups", group_id);
        let Some(view) = self.index.view(&group) else {
            let deactivated = self.index.get(group_id).is_some_and(|g| !g.active);
            return Ok(Err(if deactivated {
                ManualRefusal::Deactivated
            } else {
                ManualRefusal::UnknownGroup
            }));
        };
        let Some(point) = job.point() else {
            return Ok(Err(ManualRefusal::NoLocation));
        };
        let skills = job.skills();
        let located = job.located_district();
        let need = Need {
            location: point,
            district: &job.location.district,
            located_district: &located,
            skills: &skills,
            cargo_tonnes: job.cargo_tonnes,
            excluded: &[],
            at_capacity: &[],
            resting: &[],
            now: Utc::now(),
            max_location_age: self.max_location_age,
            // A dispatcher decides on office hours as on everything else.
            urgent: true,
            area_factor: 1.0,
        };
        let judged = matching::judge(&view, &need);
        match store::take_capacity(tx, group_id, view.capacity as i32).await? {
            store::Take::Taken => {}
            store::Take::Full => return Ok(Err(ManualRefusal::Full)),
            store::Take::Resting => return Ok(Err(ManualRefusal::Resting)),
        }
        let history = store::history(tx, job.request_id).await?;
        let distance = judged.distance_m;
        // In a wide search the dispatcher's group joins the current round beside the others.
        let round = (history.round > 0).then_some(history.round as u32);
        let offered = self
            .offer(
                tx,
                job,
                Offer {
                    group_id,
                    distance_m: distance,
                    attempt: history.attempts + 1,
                    round,
                },
                events::scores(&[judged]),
            )
            .await?;
        Ok(offered.ok_or(ManualRefusal::AlreadyOffered))
    }
}

pub const ESCALATIONS: &str = "komek_escalations_total";
pub const ESCALATIONS_HELP: &str =
    "Requests handed to dispatchers, by reason (one request may give several).";

/// Keeps `job` until `until`, when the office of a group that could take it opens, and says so.
async fn defer(
    tx: &mut PgConnection,
    job: &Job,
    until: chrono::DateTime<Utc>,
    candidates: Vec<ev::CandidateScore>,
) -> Result<(), HandleError> {
    store::defer_job(tx, job.request_id, until).await?;
    let event = events::deferred(job.request_id, until, candidates);
    enqueue(tx, subject::REQUEST_DEFERRED, &event).await?;
    tracing::info!(request = %job.request_id, %until, "waits for office hours");
    Ok(())
}

async fn escalate(
    tx: &mut PgConnection,
    job: &Job,
    reasons: Vec<IneligibleReason>,
    attempts: i32,
    candidates: Vec<ev::CandidateScore>,
) -> Result<(), HandleError> {
    let list = ev::CandidateList {
        candidates: candidates.clone(),
    };
    // With no candidate looked at, the reasons are the request's own; keep them for the queue.
    let own: Vec<i16> = if candidates.is_empty() {
        reasons.iter().map(|r| r.code() as i16).collect()
    } else {
        Vec::new()
    };
    store::record_decision(
        tx,
        job.request_id,
        attempts + 1,
        None,
        &list.encode_to_vec(),
        &own,
    )
    .await?;
    let event = events::escalated(job.request_id, &reasons, attempts, candidates);
    enqueue(tx, subject::REQUEST_ESCALATED, &event).await?;
    for reason in &reasons {
        metrics::count(
            ESCALATIONS,
            ESCALATIONS_HELP,
            &[("reason", &format!("{reason:?}"))],
            1,
        );
    }
    tracing::info!(request = %job.request_id, ?reasons, "escalated to dispatchers");
    Ok(())
}
