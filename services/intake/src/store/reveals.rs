//! RevealCaller's check-and-record, for the reveals of a moment together. Matching asks for
//! every accept, so under a surge these come many a second, each a statement and, when it
//! records, a commit of its own; those that arrive while one batch is written go in the next,
//! in one statement. A reveal alone still goes at once.

use std::sync::Arc;

use komek_core::AssignmentStatus;
use komek_runtime::batch::Batcher;
use komek_runtime::db;
use sqlx::{FromRow, PgConnection, PgPool, Row};
use uuid::Uuid;

use super::{Error, Result};
use crate::model::CallerContact;

/// Most reveals in one statement.
const BATCH: usize = 128;

/// Statements at once: while one commits, the next gathers.
const WRITERS: usize = 2;

/// A reveal asked for: the contact of `request`'s caller, for `volunteer` of `assignment`.
#[derive(Debug, Clone)]
pub struct Ask {
    pub request: Uuid,
    pub assignment: Uuid,
    pub volunteer: String,
    /// Who asked (matching's service principal), for the record.
    pub principal: String,
}

/// What a batch found for one ask: None when there is no such request.
type Found = Option<(CallerContact, bool)>;

/// Hands reveals to the writers.
#[derive(Clone)]
pub struct Reveals {
    /// None for a batch that failed: its reveals then go alone.
    writers: Batcher<Ask, Option<Found>>,
    warm: Arc<db::Warm>,
}

impl Reveals {
    /// Starts the writers; they stop when the last `Reveals` is dropped.
    pub fn start(pool: PgPool) -> Self {
        let warm = Arc::new(db::Warm::new(pool));
        let writers = {
            let warm = warm.clone();
            Batcher::start(WRITERS, BATCH, move |asks: Vec<Ask>| {
                let warm = warm.clone();
                async move {
                    let written = warm
                        .statement(async |conn| reveal_many(conn, &asks).await)
                        .await;
                    match written {
                        Ok(found) => found.into_iter().map(Some).collect(),
                        Err(err) => {
                            tracing::debug!(error = %err, reveals = asks.len(),
                                "batch of reveals failed; each goes alone");
                            vec![None; asks.len()]
                        }
                    }
                }
            })
        };
        Self { writers, warm }
    }

    /// As [`super::reveal`], with the other reveals of the moment.
    pub async fn reveal(&self, ask: &Ask) -> Result<(CallerContact, bool)> {
        if let Some(Some(found)) = self.writers.write(ask.clone()).await {
            return found.ok_or(Error::NotFound);
        }
        let mut conn = self.warm.acquire().await?;
        let found = super::reveal(
            &mut conn,
            ask.request,
            ask.assignment,
            &ask.volunteer,
            &ask.principal,
        )
        .await?;
        conn.keep();
        Ok(found)
    }
}

/// [`super::reveal`] for each of `asks`, in one statement, in their order.
async fn reveal_many(conn: &mut PgConnection, asks: &[Ask]) -> Result<Vec<Found>> {
    let holding = AssignmentStatus::codes(AssignmentStatus::holds_contact);
    let rows = sqlx::query(
        "WITH ask AS ( \
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) \
             WITH ORDINALITY AS a(request_id, assignment_id, volunteer, principal, n)), \
         r AS ( \
           SELECT a.n, q.id, q.caller_anonymous, q.caller_language, q.address, \
             q.caller_name_enc, q.caller_phone_enc, q.caller_key_id, \
             coalesce(q.assignment_id = a.assignment_id AND q.assignment_status = ANY ($5), \
               false) AS accepted \
           FROM ask a JOIN requests q ON q.id = a.request_id), \
         recorded AS ( \
           INSERT INTO caller_reveals (request_id, assignment_id, volunteer, principal) \
           SELECT a.request_id, a.assignment_id, a.volunteer, a.principal \
           FROM ask a JOIN r USING (n) WHERE r.accepted ORDER BY a.n) \
         SELECT * FROM r",
    )
    .bind(asks.iter().map(|a| a.request).collect::<Vec<_>>())
    .bind(asks.iter().map(|a| a.assignment).collect::<Vec<_>>())
    .bind(
        asks.iter()
            .map(|a| a.volunteer.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        asks.iter()
            .map(|a| a.principal.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(&holding)
    .fetch_all(conn)
    .await?;
    let mut found: Vec<Found> = vec![None; asks.len()];
    for row in rows {
        let n: i64 = row.try_get("n")?;
        let at = usize::try_from(n).ok().and_then(|n| n.checked_sub(1));
        if let Some(slot) = at.and_then(|at| found.get_mut(at)) {
            *slot = Some((CallerContact::from_row(&row)?, row.try_get("accepted")?));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn request(pool: &PgPool, n: usize, assignment: Option<(Uuid, i16)>) -> Uuid {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO requests (id, idempotency_key, create_payload, reference_code, channel, \
               caller_anonymous, description, status, address, assignment_id, assignment_status) \
             VALUES ($1, $2, '', $3, 1, false, 'Көмір керек', 4, $4, $5, $6)",
        )
        .bind(id)
        .bind(Uuid::new_v4())
        .bind(format!("KMK-{n}"))
        .bind(format!("Талғар, Абай көшесі {n}"))
        .bind(assignment.map(|a| a.0))
        .bind(assignment.map_or(0, |a| a.1))
        .execute(pool)
        .await
        .unwrap();
        id
    }

    async fn recorded(pool: &PgPool) -> Vec<(Uuid, Uuid, String)> {
        sqlx::query_as(
            "SELECT request_id, assignment_id, volunteer FROM caller_reveals ORDER BY id",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }

    /// Reveals asked together answer and record each as one asked alone: the contact and a
    /// record for the accepted assignment, the contact and no record for another or one not
    /// accepted, nothing for a request that does not exist; in the order asked.
    #[tokio::test]
    async fn reveals_together_answer_and_record_each_as_alone() {
        let (_db, pool) = super::super::migrated().await;
        let accepted = AssignmentStatus::Accepted.code() as i16;
        let offered = AssignmentStatus::Offered.code() as i16;
        let (a1, a2, a3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let held = request(&pool, 1, Some((a1, accepted))).await;
        let not_yet = request(&pool, 2, Some((a2, offered))).await;
        let other = request(&pool, 3, Some((a3, accepted))).await;
        let ask = |request, assignment| Ask {
            request,
            assignment,
            volunteer: "volunteers/7".into(),
            principal: "services/matching".into(),
        };
        let asks = [
            ask(held, a1),
            ask(not_yet, a2),
            ask(other, Uuid::now_v7()),
            ask(Uuid::now_v7(), a1),
            ask(held, a1),
        ];
        let mut conn = pool.acquire().await.unwrap();
        let together = reveal_many(&mut conn, &asks).await.unwrap();
        let first = recorded(&pool).await;
        sqlx::query("TRUNCATE caller_reveals")
            .execute(&pool)
            .await
            .unwrap();

        let mut alone = Vec::new();
        for a in &asks {
            let found = super::super::reveal(
                &mut conn,
                a.request,
                a.assignment,
                &a.volunteer,
                &a.principal,
            )
            .await;
            alone.push(match found {
                Ok(found) => Some(found),
                Err(Error::NotFound) => None,
                Err(err) => panic!("{err}"),
            });
        }
        assert_eq!(format!("{together:?}"), format!("{alone:?}"));
        assert_eq!(first, recorded(&pool).await);
        let accepted: Vec<Option<bool>> =
            together.iter().map(|f| f.as_ref().map(|f| f.1)).collect();
        assert_eq!(
            accepted,
            [Some(true), Some(false), Some(false), None, Some(true)]
        );
        let twice = (held, a1, "volunteers/7".to_string());
        assert_eq!(first, [twice.clone(), twice]);
        assert_eq!(
            together[0].as_ref().unwrap().0.address,
            "Талғар, Абай көшесі 1"
        );
    }
}
