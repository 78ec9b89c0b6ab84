//! Campaigns: a dispatcher's batch of requests placed at once by the optimal plan of
//! `komek_core::campaign`, reported against greedy nearest-first on the same batch.

use std::collections::HashMap;

use chrono::Utc;
use komek_core::campaign::{self, Problem, centimetres};
use komek_core::matching::Need;
use komek_proto::events::v1 as ev;
use komek_runtime::boundary::{name, parse_name};
use komek_runtime::inbox::HandleError;
use sqlx::PgPool;
use uuid::Uuid;

use crate::matcher::{Matcher, Offer};
use crate::model::Job;
use crate::store::{self, CampaignItemRow, CampaignRow};
use crate::validate;

/// Why a campaign was not made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not triaged yet: {}", .0.join(", "))]
    NotTriaged(Vec<String>),
    #[error("{0}")]
    Placing(HandleError),
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(err.into())
    }
}

/// Refuses a campaign naming a request outside a regional dispatcher's `regions` (as if it did
/// not exist); every region is open when `regions` is empty.
pub async fn check_regions(
    pool: &PgPool,
    valid: &validate::Campaign,
    regions: &[String],
) -> Result<(), Error> {
    if regions.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    let outside: Vec<String> = store::jobs(&mut tx, &valid.requests)
        .await?
        .iter()
        .filter(|j| !regions.contains(&j.region))
        .map(|j| name("requests", j.request_id))
        .collect();
    if outside.is_empty() {
        return Ok(());
    }
    Err(Error::NotTriaged(outside))
}

/// A campaign as stored, and whether offers were made.
pub struct Planned {
    pub campaign: CampaignRow,
    pub items: Vec<CampaignItemRow>,
    pub offered: bool,
}

/// Plans the batch and, unless `validate_only`, makes the offers, in one transaction. A retry
/// with the same key returns the campaign made first.
pub async fn create(
    pool: &PgPool,
    matcher: &Matcher,
    valid: &validate::Campaign,
) -> Result<Planned, Error> {
    let mut tx = pool.begin().await?;
    if let Some(id) = store::campaign_by_key(&mut tx, valid.key).await? {
        drop(tx);
        if let Some((campaign, items)) = store::campaign(pool, id).await? {
            return Ok(Planned {
                campaign,
                items,
                offered: false,
            });
        }
        // Keys and campaigns are written in one transaction and never deleted.
        return Err(store::Error::Db(sqlx::Error::RowNotFound).into());
    }

    let rows = store::jobs(&mut tx, &valid.requests).await?;
    let by_id: HashMap<Uuid, &store::JobRow> = rows.iter().map(|j| (j.request_id, j)).collect();
    let missing: Vec<String> = valid
        .requests
        .iter()
        .filter(|id| !by_id.contains_key(id))
        .map(|id| name("requests", *id))
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotTriaged(missing));
    }

    // Which requests can be placed at all, and where.
    let now = Utc::now();
    let mut jobs = Vec::new();
    let mut attempts = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    let mut column: HashMap<String, usize> = HashMap::new();
    let mut costs: Vec<Vec<(usize, f64)>> = Vec::new();
    for id in &valid.requests {
        let job = Job::from_row(by_id[id]);
        let history = store::history(&mut tx, *id).await?;
        let closed = store::is_closed(&mut tx, *id).await?;
        let point = job.point();
        let mut row = Vec::new();
        if let (Some(point), false, false) = (point, history.active, closed) {
            let skills = job.skills();
            let located = job.located_district();
            let excluded: Vec<String> = history
                .excluded_groups
                .iter()
                .map(|g| name("groups", *g))
                .collect();
            let need = Need {
                location: point,
                district: &job.location.district,
                located_district: &located,
                skills: &skills,
                cargo_tonnes: job.cargo_tonnes,
                excluded: &excluded,
                at_capacity: &[],
                resting: &[],
                now,
                max_location_age: matcher.max_location_age(),
                urgent: false,
                area_factor: 1.0,
            };
            for e in matcher.index().nearest(&need, usize::MAX) {
                if !e.is_eligible() {
                    continue;
                }
                let next = groups.len();
                let g = *column.entry(e.group.clone()).or_insert(next);
                if g == groups.len() {
                    groups.push(e.group.clone());
                }
                row.push((g, e.distance_m));
            }
        }
        costs.push(row);
        attempts.push(history.attempts + 1);
        jobs.push(job);
    }

    // Free places per group: roster capacity less what PostgreSQL counts as taken.
    let loads: HashMap<Uuid, i32> = store::loads(&mut tx).await?.into_iter().collect();
    let ids: Vec<Uuid> = groups
        .iter()
        .map(|g| parse_name("groups", g, "group").map_err(|v| Error::Placing(v.into())))
        .collect::<Result<_, _>>()?;
    let capacity: Vec<u32> = groups
        .iter()
        .zip(&ids)
        .map(|(g, id)| {
            let cap = matcher.index().capacity(g).unwrap_or(0) as i32;
            (cap - loads.get(id).copied().unwrap_or(0)).max(0) as u32
        })
        .collect();
    let problem = Problem {
        capacity,
        cost: costs
            .iter()
            .map(|row| {
                let mut full = vec![None; groups.len()];
                for (g, d) in row {
                    full[*g] = Some(centimetres(*d));
                }
                full
            })
            .collect(),
    };
    let plan = campaign::optimal(&problem);
    let greedy = campaign::greedy(&problem);

    let mut items = Vec::new();
    for (r, job) in jobs.iter().enumerate() {
        let mut item = CampaignItemRow {
            request_id: job.request_id,
            group_id: None,
            distance_m: 0.0,
        };
        if let Some(g) = plan.assigned[r] {
            let distance = problem.cost[r][g].unwrap_or(0) as f64 / 100.0;
            let group_id = ids[g];
            let placed = valid.validate_only || {
                let cap = matcher.index().capacity(&groups[g]).unwrap_or(0) as i32;
                store::take_capacity(&mut tx, group_id, cap).await? == store::Take::Taken
                    && matcher
                        .offer(
                            &mut tx,
                            job,
                            Offer {
                                group_id,
                                distance_m: distance,
                                attempt: attempts[r],
                                round: None,
                            },
                            vec![ev::CandidateScore {
                                group: groups[g].clone(),
                                distance_meters: distance,
                                reasons: vec![],
                            }],
                        )
                        .await
                        .map_err(Error::Placing)?
                        .is_some()
            };
            if placed {
                item.group_id = Some(group_id);
                item.distance_m = distance;
            }
        }
        items.push(item);
    }
    let campaign = CampaignRow {
        id: Uuid::now_v7(),
        display_name: valid.display_name.clone(),
        total_distance_m: items.iter().map(|i| i.distance_m).sum(),
        greedy_distance_m: greedy.total_cost as f64 / 100.0,
        unassigned_count: items.iter().filter(|i| i.group_id.is_none()).count() as i32,
        created_at: now,
    };
    store::insert_campaign(&mut tx, &campaign, valid.key, valid.validate_only, &items).await?;
    tx.commit().await?;
    tracing::info!(
        campaign = %campaign.id,
        requests = items.len(),
        unassigned = campaign.unassigned_count,
        total_km = campaign.total_distance_m / 1000.0,
        greedy_km = campaign.greedy_distance_m / 1000.0,
        greedy_served = greedy.served(),
        "campaign planned"
    );
    Ok(Planned {
        campaign,
        items,
        offered: !valid.validate_only,
    })
}
