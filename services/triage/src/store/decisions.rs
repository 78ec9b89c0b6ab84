//! Decisions: the first one of each request, and earlier ones a new request may repeat.

use chrono::{DateTime, Utc};
use komek_core::GeoPoint;
use komek_core::duplicates::{EVERYWHERE_KEY, Locks, Window, bounding_box, place_key};
use komek_runtime::db;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::Result;

/// A stored decision.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DecisionRow {
    pub request_id: Uuid,
    pub reference_code: String,
    pub category: i16,
    pub priority: i16,
    pub required_skills: Vec<i16>,
    pub confidence: f64,
    pub fired_rules: Vec<String>,
    pub rules_version: String,
    pub overridden: bool,
    pub possible_duplicate_of: Option<Uuid>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub settlement: String,
    pub district: String,
    pub region: String,
    pub people_count: i32,
    pub cargo_tonnes: f64,
    pub decided_at: DateTime<Utc>,
    pub version: i64,
    pub fired_explanations: Vec<String>,
    pub caller_blind_index: Option<Vec<u8>>,
    pub request_created_at: DateTime<Utc>,
    pub merged_into: Option<Uuid>,
    /// What volunteers are told, and how much is needed (value 0 and no unit when unsaid).
    pub volunteer_note: String,
    pub quantity_value: f64,
    pub quantity_unit: String,
    /// Empty when the rules decided alone.
    pub model_version: String,
    /// Triage was unsure of the category; an override clears it.
    pub unclassified: bool,
    /// The note without phone numbers, e-mail addresses or document numbers.
    pub note: String,
}

/// Inserts the first decision of each request, in one statement: returns the decisions
/// stored, leaving out those of requests decided before (or twice in `rows`: the first
/// counts), in no particular order.
pub async fn insert_many(tx: &mut PgConnection, rows: &[DecisionRow]) -> Result<Vec<DecisionRow>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let col = |f: fn(&DecisionRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
    sqlx::query_as(
        "INSERT INTO decisions (request_id, reference_code, category, priority, required_skills, \
           confidence, fired_rules, rules_version, possible_duplicate_of, lat, lon, settlement, \
           district, region, people_count, cargo_tonnes, fired_explanations, caller_blind_index, \
           request_created_at, volunteer_note, quantity_value, quantity_unit, model_version, \
           unclassified, note, place_key) \
         SELECT u.request_id, u.reference_code, u.category, u.priority, u.skills::int2[], \
           u.confidence, u.rules::text[], u.rules_version, u.duplicate_of, u.lat, u.lon, \
           u.settlement, u.district, u.region, u.people, u.cargo, u.explanations::text[], \
           u.caller, u.created, u.volunteer_note, u.quantity, u.unit, u.model_version, \
           u.unclassified, u.note, u.place_key \
         FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::int2[], $5::text[], \
           $6::float8[], $7::text[], $8::text[], $9::uuid[], $10::float8[], $11::float8[], \
           $12::text[], $13::text[], $14::text[], $15::int4[], $16::float8[], $17::text[], \
           $18::bytea[], $19::timestamptz[], $20::text[], $21::float8[], $22::text[], \
           $23::text[], $24::bool[], $25::text[], $26::text[]) WITH ORDINALITY AS u(request_id, \
           reference_code, category, priority, skills, confidence, rules, rules_version, \
           duplicate_of, lat, lon, settlement, district, region, people, cargo, explanations, \
           caller, created, volunteer_note, quantity, unit, model_version, unclassified, note, \
           place_key, n) \
         ORDER BY u.n \
         ON CONFLICT (request_id) DO NOTHING RETURNING *",
    )
    .bind(rows.iter().map(|d| d.request_id).collect::<Vec<_>>())
    .bind(col(|d| d.reference_code.clone()))
    .bind(rows.iter().map(|d| d.category).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.priority).collect::<Vec<_>>())
    .bind(col(|d| db::array_literal(&d.required_skills)))
    .bind(rows.iter().map(|d| d.confidence).collect::<Vec<_>>())
    .bind(col(|d| db::text_array_literal(&d.fired_rules)))
    .bind(col(|d| d.rules_version.clone()))
    .bind(
        rows.iter()
            .map(|d| d.possible_duplicate_of)
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|d| d.lat).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.lon).collect::<Vec<_>>())
    .bind(col(|d| d.settlement.clone()))
    .bind(col(|d| d.district.clone()))
    .bind(col(|d| d.region.clone()))
    .bind(rows.iter().map(|d| d.people_count).collect::<Vec<_>>())
    .bind(rows.iter().map(|d| d.cargo_tonnes).collect::<Vec<_>>())
    .bind(col(|d| db::text_array_literal(&d.fired_explanations)))
    .bind(
        rows.iter()
            .map(|d| d.caller_blind_index.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|d| d.request_created_at)
            .collect::<Vec<_>>(),
    )
    .bind(col(|d| d.volunteer_note.clone()))
    .bind(rows.iter().map(|d| d.quantity_value).collect::<Vec<_>>())
    .bind(col(|d| d.quantity_unit.clone()))
    .bind(col(|d| d.model_version.clone()))
    .bind(rows.iter().map(|d| d.unclassified).collect::<Vec<_>>())
    .bind(col(|d| d.note.clone()))
    .bind(
        rows.iter()
            .map(|d| place_key(&d.settlement, &d.district))
            .collect::<Vec<_>>(),
    )
    .fetch_all(tx)
    .await
    .map_err(Into::into)
}

/// What a new request is compared with: its time, caller and category, and where it is.
pub struct Probe<'a> {
    pub request_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub caller: Option<&'a [u8]>,
    pub category: i16,
    pub point: Option<GeoPoint>,
    pub settlement: &'a str,
    pub district: &'a str,
}

/// Requests already classified that any of the new ones (`probes`) might repeat, not merged
/// away: for a probe, the same caller
/// created within `window.caller_secs` of it (before or after: see `duplicates::why`), or the
/// same category within `window.place_secs` at the same place —
/// near its point (a box around it; the exact distance is the rule's), or under the same named
/// place when either lacks a point. Only what the rule could match is read, so no cap on the
/// number of rows hides a real duplicate: a probe with a point reads, of its place's
/// decisions, only those without one (`decisions_same_place_unplaced`), not the hundreds that
/// a surge in one town puts under the same name, and the branch that reads every decision of
/// a named place runs only for a probe without a point (a one-time filter on the probe). The
/// transaction must hold the requests' [`Locks`] (see [`take_locks`]), so that two replicas
/// classifying at once see each other's decisions and link consistently.
pub async fn duplicate_candidates(
    tx: &mut PgConnection,
    probes: &[Probe<'_>],
    window: &Window,
) -> Result<Vec<DecisionRow>> {
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let boxes: Vec<_> = probes
        .iter()
        .map(|p| p.point.map(|p| bounding_box(p, window.radius_m)))
        .collect();
    // (lat0, lat1), (lon0, lon1) of each probe's box.
    type Box = ((f64, f64), (f64, f64));
    let corner = |f: fn(Box) -> f64| boxes.iter().map(|b| b.map(f)).collect::<Vec<Option<f64>>>();
    // Each probe's candidates as its own query would find them (the same index scans, one
    // probe at a time); a decision several probes find comes once.
    let mut rows: Vec<DecisionRow> = sqlx::query_as(
        "SELECT DISTINCT ON (d.request_id) d.* \
         FROM unnest($1::uuid[], $2::timestamptz[], $3::bytea[], $4::int2[], $5::float8[], \
           $6::float8[], $7::float8[], $8::float8[], $9::text[]) \
           AS p(request_id, created, caller, category, lat0, lat1, lon0, lon1, place_key) \
         CROSS JOIN LATERAL ( \
           SELECT * FROM decisions WHERE caller_blind_index = p.caller \
             AND request_created_at BETWEEN p.created - make_interval(secs => $10) \
               AND p.created + make_interval(secs => $10) \
           UNION ALL \
           SELECT * FROM decisions WHERE merged_into IS NULL AND category = p.category \
             AND lat BETWEEN p.lat0 AND p.lat1 AND lon BETWEEN p.lon0 AND p.lon1 \
             AND request_created_at BETWEEN p.created - make_interval(secs => $11) \
               AND p.created + make_interval(secs => $11) \
           UNION ALL \
           SELECT * FROM decisions WHERE merged_into IS NULL AND lat IS NULL \
             AND category = p.category AND place_key = p.place_key \
             AND request_created_at BETWEEN p.created - make_interval(secs => $11) \
               AND p.created + make_interval(secs => $11) \
           UNION ALL \
           SELECT * FROM decisions WHERE p.lat0 IS NULL AND merged_into IS NULL \
             AND lat IS NOT NULL AND category = p.category AND place_key = p.place_key \
             AND request_created_at BETWEEN p.created - make_interval(secs => $11) \
               AND p.created + make_interval(secs => $11)) d \
         WHERE d.request_id <> p.request_id AND d.merged_into IS NULL \
         ORDER BY d.request_id",
    )
    .bind(probes.iter().map(|p| p.request_id).collect::<Vec<_>>())
    .bind(probes.iter().map(|p| p.created_at).collect::<Vec<_>>())
    .bind(probes.iter().map(|p| p.caller).collect::<Vec<_>>())
    .bind(probes.iter().map(|p| p.category).collect::<Vec<_>>())
    .bind(corner(|((lat0, _), _)| lat0))
    .bind(corner(|((_, lat1), _)| lat1))
    .bind(corner(|(_, (lon0, _))| lon0))
    .bind(corner(|(_, (_, lon1))| lon1))
    .bind(
        probes
            .iter()
            .map(|p| place_key(p.settlement, p.district))
            .collect::<Vec<_>>(),
    )
    .bind(window.caller_secs as f64)
    .bind(window.place_secs as f64)
    .fetch_all(tx)
    .await?;
    // Earliest first, as the rule that picks the original reads them.
    rows.sort_by_key(|d| d.request_created_at);
    Ok(rows)
}

/// Takes the transaction-scoped advisory locks of the requests about to be classified: the
/// key everyone shares (alone when one of them must exclude everyone), then the others in
/// ascending order, the one order every transaction takes them in.
pub async fn take_locks(tx: &mut PgConnection, locks: &Locks) -> Result<()> {
    let everywhere = if locks.everywhere {
        "SELECT pg_advisory_xact_lock($1)"
    } else {
        "SELECT pg_advisory_xact_lock_shared($1)"
    };
    sqlx::query(everywhere)
        .bind(EVERYWHERE_KEY)
        .execute(&mut *tx)
        .await?;
    if !locks.keys.is_empty() {
        // Rows come out of unnest in the array's order, and the keys are sorted.
        sqlx::query("SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::int8[]) AS k")
            .bind(&locks.keys)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

pub async fn get(pool: &PgPool, request_id: Uuid) -> Result<Option<DecisionRow>> {
    sqlx::query_as("SELECT * FROM decisions WHERE request_id = $1")
        .bind(request_id)
        .fetch_optional(pool)
        .await
        .map_err(Into::into)
}

/// Blanks what the decision kept of an erased request's words and caller: the scrubbed note,
/// the volunteer note, the note's words each fired rule matched ("rule=term|term" keeps
/// "rule=") and the keyed hash of the phone (so it is no longer linked as a repeat caller).
/// Returns whether there was a decision; when there was none, the request is remembered as
/// erased (see [`take_erased`]).
///
/// First it waits for every classifying transaction under way (each holds the shared lock on
/// [`EVERYWHERE_KEY`] or the lock itself): one may be storing a decision made with notes read
/// before the erasure, which this update would not see until it commits.
pub async fn erase(tx: &mut PgConnection, request_id: Uuid) -> Result<bool> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(EVERYWHERE_KEY)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query(
        "UPDATE decisions SET note = '', volunteer_note = '', caller_blind_index = NULL, \
           fired_rules = ARRAY(SELECT split_part(f, '=', 1) || '=' \
             FROM unnest(fired_rules) WITH ORDINALITY AS u(f, i) ORDER BY i) \
         WHERE request_id = $1",
    )
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(true);
    }
    sqlx::query("INSERT INTO erased_undecided (request_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(request_id)
        .execute(tx)
        .await?;
    Ok(false)
}

/// Which of `requests` were erased before their decision was stored (see [`erase`]),
/// forgetting that they were: called, under the classifying lock, by the transaction that
/// stores their decisions, which blanks their words.
pub async fn take_erased(
    tx: &mut PgConnection,
    requests: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>> {
    if requests.is_empty() {
        return Ok(Default::default());
    }
    let erased: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM erased_undecided WHERE request_id = ANY($1) RETURNING request_id",
    )
    .bind(requests)
    .fetch_all(tx)
    .await?;
    Ok(erased.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};
    use komek_core::duplicates::Window;
    use komek_core::{Category, GeoPoint};
    use uuid::Uuid;

    use super::{DecisionRow, Probe, duplicate_candidates, insert_many};

    /// Autovacuum's analyse of `decisions`, once a minute under a surge, gathers statistics
    /// for the columns queries choose rows by, and none for the rules, notes and figures
    /// copied for the matcher, which were much of its cost.
    #[tokio::test]
    async fn an_analyse_gathers_no_statistics_for_what_no_query_chooses_by() {
        let (_db, pool) = super::super::migrated().await;
        let targets = komek_testkit::statistics_targets(&pool, "decisions").await;
        let target = |column: &str| {
            *targets
                .get(column)
                .unwrap_or_else(|| panic!("{column}: {targets:?}"))
        };
        for chosen_by in [
            "request_id",
            "category",
            "place_key",
            "caller_blind_index",
            "request_created_at",
            "lat",
            "lon",
        ] {
            assert_ne!(target(chosen_by), 0, "{chosen_by}");
        }
        for unused in [
            "fired_rules",
            "fired_explanations",
            "note",
            "volunteer_note",
            "required_skills",
        ] {
            assert_eq!(target(unused), 0, "{unused}");
        }
    }

    // Esik, Enbekshikazakh district, Almaty Region, from the project's settlements (Data from
    // Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames (CC-BY 4.0,
    // geonames.org) and Quattroshapes (CC-BY)).
    const ESIK: (f64, f64) = (43.3552, 77.45245);
    const SETTLEMENT: &str = "Есик";
    const DISTRICT: &str = "Енбекшиказахский район";

    /// A decision of `category` made an hour ago, at `point` (or none) in `settlement`.
    fn decision(category: Category, point: Option<(f64, f64)>, settlement: &str) -> DecisionRow {
        let created = Utc::now() - Duration::hours(1);
        DecisionRow {
            request_id: Uuid::new_v4(),
            reference_code: Uuid::new_v4().simple().to_string(),
            category: category.code() as i16,
            priority: 2,
            required_skills: Vec::new(),
            confidence: 0.9,
            fired_rules: Vec::new(),
            rules_version: "test".into(),
            overridden: false,
            possible_duplicate_of: None,
            lat: point.map(|p| p.0),
            lon: point.map(|p| p.1),
            settlement: settlement.into(),
            district: DISTRICT.into(),
            region: "Алматинская область".into(),
            people_count: 1,
            cargo_tonnes: 0.0,
            decided_at: created,
            version: 1,
            fired_explanations: Vec::new(),
            caller_blind_index: None,
            request_created_at: created,
            merged_into: None,
            volunteer_note: String::new(),
            quantity_value: 0.0,
            quantity_unit: String::new(),
            model_version: String::new(),
            unclassified: false,
            note: String::new(),
        }
    }

    /// A point `metres` east of Esik.
    fn east_of_esik(metres: f64) -> (f64, f64) {
        let per_degree = 111_320.0 * ESIK.0.to_radians().cos();
        (ESIK.0, ESIK.1 + metres / per_degree)
    }

    fn probe(category: Category, point: Option<(f64, f64)>) -> Probe<'static> {
        Probe {
            request_id: Uuid::new_v4(),
            created_at: Utc::now(),
            caller: None,
            category: category.code() as i16,
            point: point.map(|(lat, lon)| GeoPoint::new(lat, lon).unwrap()),
            settlement: SETTLEMENT,
            district: DISTRICT,
        }
    }

    async fn candidates(conn: &mut sqlx::PgConnection, probe: &Probe<'_>) -> Vec<Uuid> {
        let mut found: Vec<Uuid> =
            duplicate_candidates(conn, std::slice::from_ref(probe), &Window::default())
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.request_id)
                .collect();
        found.sort();
        found
    }

    /// A request with a point is compared with the earlier ones near it and, by the named
    /// place, with those that have no point; one without a point with every earlier one of
    /// its named place. Other categories, other places and merged requests are not read.
    #[tokio::test]
    async fn the_candidates_are_what_the_duplicate_rule_compares() {
        let (_db, pool) = super::super::migrated().await;
        let fuel = Category::FuelDelivery;
        let near = decision(fuel, Some(east_of_esik(100.0)), SETTLEMENT);
        let same_name_far = decision(fuel, Some(east_of_esik(3_000.0)), SETTLEMENT);
        let same_name_unplaced = decision(fuel, None, SETTLEMENT);
        let other_name_unplaced = decision(fuel, None, "Талгар");
        let other_category_near = decision(Category::MaterialAid, Some(ESIK), SETTLEMENT);
        let merged_near = decision(fuel, Some(ESIK), SETTLEMENT);
        let rows = [
            near.clone(),
            same_name_far.clone(),
            same_name_unplaced.clone(),
            other_name_unplaced,
            other_category_near,
            merged_near.clone(),
        ];
        let mut conn = pool.acquire().await.unwrap();
        insert_many(&mut conn, &rows).await.unwrap();
        sqlx::query("UPDATE decisions SET merged_into = $1 WHERE request_id = $2")
            .bind(near.request_id)
            .bind(merged_near.request_id)
            .execute(&mut *conn)
            .await
            .unwrap();

        let sorted = |mut ids: Vec<Uuid>| {
            ids.sort();
            ids
        };
        assert_eq!(
            candidates(&mut conn, &probe(fuel, Some(ESIK))).await,
            sorted(vec![near.request_id, same_name_unplaced.request_id]),
            "with a point: the near one and the one of the same name without a point"
        );
        assert_eq!(
            candidates(&mut conn, &probe(fuel, None)).await,
            sorted(vec![
                near.request_id,
                same_name_far.request_id,
                same_name_unplaced.request_id
            ]),
            "without a point: every one of the same name"
        );
    }

    /// A surge in one town puts a thousand calls of a kind under one name, each at its own
    /// point; a new call with a point reads the few near it and those without a point, not
    /// the thousand (the check once read them all and put them away one by one).
    #[tokio::test]
    async fn a_call_with_a_point_does_not_read_its_towns_placed_calls() {
        let (_db, pool) = super::super::migrated().await;
        let fuel = Category::FuelDelivery;
        let rows: Vec<DecisionRow> = (0..1_000)
            .map(|i| decision(fuel, Some(east_of_esik(1_000.0 + f64::from(i))), SETTLEMENT))
            .chain([decision(fuel, None, SETTLEMENT)])
            .collect();
        let mut conn = pool.acquire().await.unwrap();
        insert_many(&mut conn, &rows).await.unwrap();
        sqlx::query("ANALYZE decisions")
            .execute(&mut *conn)
            .await
            .unwrap();

        // What this connection read from `decisions` and its indexes so far: its counts are
        // sent to the server's totals when it goes idle after asking for it.
        async fn read(conn: &mut sqlx::PgConnection) -> i64 {
            sqlx::query("SELECT pg_stat_force_next_flush()")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query("SELECT pg_stat_clear_snapshot()")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query_scalar(
                "SELECT (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes \
                   WHERE relid = 'decisions'::regclass)::int8 \
                 + (SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) \
                   FROM pg_stat_user_tables WHERE relid = 'decisions'::regclass)",
            )
            .fetch_one(&mut *conn)
            .await
            .unwrap()
        }
        let before = read(&mut conn).await;
        let found = candidates(&mut conn, &probe(fuel, Some(ESIK))).await;
        let after = read(&mut conn).await;
        assert_eq!(found, vec![rows[1_000].request_id]);
        assert!(
            after - before < 20,
            "read {} index entries and rows for one call",
            after - before
        );
    }
}
