//! Statistics for partners' reports, computed by PostgreSQL over the requests in a scope.

use chrono::{DateTime, Utc};
use komek_core::{Outcome, RequestStatus};
use sqlx::PgPool;

use crate::model::Scope;

/// A dimension to group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Category,
    Status,
    Region,
    District,
    /// Calendar month of creation, `YYYY-MM`, in the reporting time zone.
    Month,
    /// The organisation of the group of the latest assignment, by name.
    Organization,
    /// The group of the latest assignment, by name.
    Group,
    Channel,
}

impl Dim {
    fn sql(self) -> &'static str {
        match self {
            Dim::Category => "category::text",
            Dim::Status => "status::text",
            Dim::Region => "region",
            Dim::District => "district",
            // $6 is the reporting zone.
            Dim::Month => "to_char(created_at AT TIME ZONE $6, 'YYYY-MM')",
            Dim::Organization => "assignment_organization_name",
            Dim::Group => "assignment_group_name",
            Dim::Channel => "channel::text",
        }
    }
}

pub struct Query {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub region: String,
    pub scope: Scope,
    pub dims: Vec<Dim>,
    pub zone: String,
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct Row {
    pub keys: Vec<String>,
    pub requests: i64,
    pub people_helped: i64,
    /// Seconds from creation to the first acceptance.
    pub assign_p50: Option<f64>,
    pub assign_p90: Option<f64>,
    /// Seconds from creation to resolution.
    pub complete_p50: Option<f64>,
    pub complete_p90: Option<f64>,
}

type StatsQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, Row, sqlx::postgres::PgArguments>;

fn bind_all<'q>(
    sql: &'q str,
    q: &'q Query,
    (limited, organization): (bool, Option<uuid::Uuid>),
    regions: &'q [String],
) -> StatsQuery<'q> {
    sqlx::query_as::<_, Row>(sql)
        .bind(q.start)
        .bind(q.end)
        .bind(&q.region)
        .bind(organization)
        .bind(regions)
        .bind(&q.zone)
        .bind(RequestStatus::Resolved.code() as i16)
        .bind(RequestStatus::Closed.code() as i16)
        // People helped: the people of requests resolved with an outcome that counts as help
        // (a request that gave no count helped at least one person).
        .bind(Outcome::help_codes())
        .bind(RequestStatus::Merged.code() as i16)
        .bind(limited)
}

/// Rows per combination of `dims` (sorted by key), and the total over the whole selection.
/// Requests merged into another are left out: they are the same need counted once.
pub async fn compute(pool: &PgPool, q: &Query) -> super::Result<(Vec<Row>, Row)> {
    let keys = if q.dims.is_empty() {
        "ARRAY[]::text[]".to_string()
    } else {
        let exprs: Vec<&str> = q.dims.iter().map(|d| d.sql()).collect();
        format!("ARRAY[{}]::text[]", exprs.join(", "))
    };
    let select = format!(
        "SELECT {keys} AS keys, count(*) AS requests, \
           coalesce(sum(greatest(people_count, 1)) FILTER \
             (WHERE status IN ($7, $8) AND outcome = ANY ($9)), 0)::bigint AS people_helped, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM assigned_at - created_at)) \
             FILTER (WHERE assigned_at IS NOT NULL) AS assign_p50, \
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM assigned_at - created_at)) \
             FILTER (WHERE assigned_at IS NOT NULL) AS assign_p90, \
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at)) \
             FILTER (WHERE resolved_at IS NOT NULL) AS complete_p50, \
           percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - created_at)) \
             FILTER (WHERE resolved_at IS NOT NULL) AS complete_p90 \
         FROM requests \
         WHERE ($1::timestamptz IS NULL OR created_at >= $1) \
           AND ($2::timestamptz IS NULL OR created_at < $2) \
           AND ($3 = '' OR region = $3) \
           AND (NOT $11 OR $4 = ANY (organizations) OR region = ANY ($5)) \
           AND status <> $10 AND $6::text IS NOT NULL"
    );
    let (limited, organization, regions) = q.scope.sql_args();
    let run = |sql| bind_all(sql, q, (limited, organization), &regions);
    let grouped = format!("{select} GROUP BY 1 ORDER BY 1");
    let rows = if q.dims.is_empty() {
        Vec::new()
    } else {
        run(&grouped).fetch_all(pool).await?
    };
    let whole = select.replace(&keys, "ARRAY[]::text[]");
    let mut total = run(&whole).fetch_one(pool).await?;
    total.keys.clear();
    Ok((rows, total))
}
