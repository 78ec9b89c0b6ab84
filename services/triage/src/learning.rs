//! Learning from dispatchers: overridden decisions read back as labelled examples, for
//! `komek-triage-model export-overrides` and `missed-words` and for ReportMissedWords.

use chrono::{DateTime, Utc};
use komek_core::triage::learning::Corrected;
use komek_core::{Category, Priority};
use komek_runtime::boundary::name;
use sqlx::PgPool;

use crate::store;

/// Corrected notes with the region of their request, oldest override first.
pub(crate) async fn corrected_in(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
) -> store::Result<Vec<(String, Corrected)>> {
    let rows = store::overridden(pool, since).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some((
                r.region,
                Corrected {
                    note: r.note,
                    category: Category::from_code(r.category.into())?,
                    priority: Priority::from_code(r.priority.into())?,
                    source: name("requests", r.request_id),
                },
            ))
        })
        .collect())
}

/// Every corrected note in triage's database at `database_url`, migrating it first if needed.
pub async fn corrected(
    database_url: &str,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<Corrected>> {
    let pool =
        komek_runtime::db::connect_and_migrate(database_url, store::SCHEMA, 2, &store::MIGRATOR)
            .await?;
    let out = corrected_in(&pool, since).await?;
    pool.close().await;
    Ok(out.into_iter().map(|(_, c)| c).collect())
}
