//! All SQL of the roster. Every change to a group enqueues its new state in the same
//! transaction.

use chrono::{DateTime, Utc};
use komek_runtime::db::{self, Replay};
use komek_runtime::events::{enqueue, subject};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub mod keys;

use crate::events::group_state;
use crate::model::*;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("request_id was already used for a different {0}")]
    IdempotencyClash(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("etag does not match; the {0} changed meanwhile")]
    EtagMismatch(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn create_organization(
    pool: &PgPool,
    o: &NewOrganization,
    payload: &[u8],
) -> Result<OrganizationRow, Error> {
    let inserted: Option<OrganizationRow> = sqlx::query_as(
        "INSERT INTO organizations (id, idempotency_key, create_payload, display_name, kind, \
           regions, contact_email) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING id, display_name, kind, regions, contact_email, created_at, updated_at, version",
    )
    .bind(Uuid::now_v7())
    .bind(o.key)
    .bind(payload)
    .bind(&o.display_name)
    .bind(o.kind)
    .bind(&o.regions)
    .bind(&o.contact_email)
    .fetch_optional(pool)
    .await?;
    match inserted {
        Some(row) => Ok(row),
        None => match db::replay(pool, "organizations", o.key, payload).await? {
            Replay::Same(id) => get_organization(pool, id).await,
            _ => Err(Error::IdempotencyClash("organization")),
        },
    }
}

pub async fn get_organization(pool: &PgPool, id: Uuid) -> Result<OrganizationRow, Error> {
    sqlx::query_as(
        "SELECT id, display_name, kind, regions, contact_email, created_at, updated_at, version \
         FROM organizations WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound("organization"))
}

pub async fn list_organizations(
    pool: &PgPool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OrganizationRow>, Error> {
    Ok(sqlx::query_as(
        "SELECT id, display_name, kind, regions, contact_email, created_at, updated_at, version \
         FROM organizations WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

const GROUP_COLUMNS: &str = "id, organization_id, display_name, lat, lon, settlement, district, \
    region, radius_km, districts, skills, skill_certified_until, skill_payload_tonnes, languages, \
    capacity, schedule, availability, last_lat, last_lon, last_location_at, rest_minutes, \
    created_at, updated_at, version";

pub async fn create_group(pool: &PgPool, g: &NewGroup, payload: &[u8]) -> Result<Group, Error> {
    let mut tx = pool.begin().await?;
    let org_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
            .bind(g.organization_id)
            .fetch_one(&mut *tx)
            .await?;
    if !org_exists {
        return Err(Error::NotFound("organization"));
    }
    let inserted = insert_group(&mut tx, g, payload).await?;
    let Some(row) = inserted else {
        tx.rollback().await?;
        return match db::replay(pool, "groups", g.key, payload).await? {
            Replay::Same(id) => get_group(pool, id).await,
            _ => Err(Error::IdempotencyClash("group")),
        };
    };
    let group = Group {
        row,
        members: Vec::new(),
    };
    publish(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(group)
}

type GroupQuery<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, GroupRow, sqlx::postgres::PgArguments>;

/// Binds a group's editable fields in the order every group statement lists them:
/// display_name, lat, lon, settlement, district, region, radius_km, districts, skills,
/// skill_certified_until, skill_payload_tonnes, languages, capacity, schedule, availability,
/// rest_minutes.
fn bind_fields<'q>(q: GroupQuery<'q>, n: &'q NewGroup) -> GroupQuery<'q> {
    q.bind(&n.display_name)
        .bind(n.lat)
        .bind(n.lon)
        .bind(&n.settlement)
        .bind(&n.district)
        .bind(&n.region)
        .bind(n.radius_km)
        .bind(&n.districts)
        .bind(n.skills.iter().map(|s| s.skill).collect::<Vec<_>>())
        .bind(
            n.skills
                .iter()
                .map(|s| s.certified_until)
                .collect::<Vec<_>>(),
        )
        .bind(
            n.skills
                .iter()
                .map(|s| s.payload_tonnes)
                .collect::<Vec<_>>(),
        )
        .bind(&n.languages)
        .bind(n.capacity)
        .bind(&n.schedule)
        .bind(n.availability)
        .bind(n.rest_minutes)
}

/// Inserts a new group; `None` when its idempotency key is taken.
async fn insert_group(
    tx: &mut PgConnection,
    g: &NewGroup,
    payload: &[u8],
) -> sqlx::Result<Option<GroupRow>> {
    let sql = format!(
        "INSERT INTO groups (id, idempotency_key, create_payload, organization_id, display_name, \
           lat, lon, settlement, district, region, radius_km, districts, skills, \
           skill_certified_until, skill_payload_tonnes, languages, capacity, schedule, \
           availability, rest_minutes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
           $19, $20) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING {GROUP_COLUMNS}"
    );
    let q = sqlx::query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(g.key)
        .bind(payload)
        .bind(g.organization_id);
    bind_fields(q, g).fetch_optional(tx).await
}

async fn publish(tx: &mut PgConnection, group: &Group) -> sqlx::Result<()> {
    let id = group.row.id.to_string();
    enqueue(tx, &subject::roster_group(&id), &group_state(group)).await?;
    Ok(())
}

/// A group's members changed: its version moves and its new state is published.
async fn membership_changed(tx: &mut PgConnection, group: Uuid) -> sqlx::Result<()> {
    let row: GroupRow = sqlx::query_as(&format!(
        "UPDATE groups SET updated_at = now(), version = version + 1 WHERE id = $1 \
         RETURNING {GROUP_COLUMNS}"
    ))
    .bind(group)
    .fetch_one(&mut *tx)
    .await?;
    let members = members(&mut *tx, group).await?;
    publish(tx, &Group { row, members }).await
}

async fn members(conn: &mut PgConnection, group: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT volunteer_id FROM group_members WHERE group_id = $1 ORDER BY volunteer_id",
    )
    .bind(group)
    .fetch_all(conn)
    .await
}

pub async fn get_group(pool: &PgPool, id: Uuid) -> Result<Group, Error> {
    let mut conn = pool.acquire().await?;
    let row: GroupRow =
        sqlx::query_as(&format!("SELECT {GROUP_COLUMNS} FROM groups WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(Error::NotFound("group"))?;
    let members = members(&mut conn, id).await?;
    Ok(Group { row, members })
}

pub async fn list_groups(
    pool: &PgPool,
    organization: Option<Uuid>,
    region: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Group>, Error> {
    let mut conn = pool.acquire().await?;
    let rows: Vec<GroupRow> = sqlx::query_as(&format!(
        "SELECT {GROUP_COLUMNS} FROM groups WHERE ($1::uuid IS NULL OR organization_id = $1) \
           AND ($2 = '' OR region = $2) AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
    ))
    .bind(organization)
    .bind(region)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let members = members(&mut conn, row.id).await?;
        out.push(Group { row, members });
    }
    Ok(out)
}

/// Applies `change` to a locked group, bumps its version and publishes its new state.
async fn update_group(
    pool: &PgPool,
    id: Uuid,
    set: &str,
    bind: GroupChange,
) -> Result<Group, Error> {
    let mut tx = pool.begin().await?;
    let query = format!(
        "UPDATE groups SET {set}, updated_at = now(), version = version + 1 WHERE id = $1 \
         RETURNING {GROUP_COLUMNS}"
    );
    let q = sqlx::query_as::<_, GroupRow>(&query).bind(id);
    let q = match bind {
        GroupChange::Availability(a) => q.bind(a),
        GroupChange::Location(lat, lon, at) => q.bind(lat).bind(lon).bind(at),
    };
    let row = q
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("group"))?;
    let members = members(&mut tx, id).await?;
    let group = Group { row, members };
    publish(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(group)
}

enum GroupChange {
    Availability(i16),
    Location(f64, f64, DateTime<Utc>),
}

pub async fn set_availability(pool: &PgPool, id: Uuid, availability: i16) -> Result<Group, Error> {
    update_group(
        pool,
        id,
        "availability = $2",
        GroupChange::Availability(availability),
    )
    .await
}

pub async fn set_location(
    pool: &PgPool,
    id: Uuid,
    lat: f64,
    lon: f64,
    at: DateTime<Utc>,
) -> Result<Group, Error> {
    update_group(
        pool,
        id,
        "last_lat = $2, last_lon = $3, last_location_at = $4",
        GroupChange::Location(lat, lon, at),
    )
    .await
}

pub async fn create_volunteer(
    pool: &PgPool,
    v: &NewVolunteer,
    payload: &[u8],
) -> Result<Volunteer, Error> {
    let mut tx = pool.begin().await?;
    let inserted: Option<VolunteerRow> = sqlx::query_as(
        "INSERT INTO volunteers (id, idempotency_key, create_payload, display_name, languages) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING \
         RETURNING id, display_name, languages, created_at, updated_at, version",
    )
    .bind(Uuid::now_v7())
    .bind(v.key)
    .bind(payload)
    .bind(&v.display_name)
    .bind(&v.languages)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = inserted else {
        tx.rollback().await?;
        return match db::replay(pool, "volunteers", v.key, payload).await? {
            Replay::Same(id) => get_volunteer(pool, id).await,
            _ => Err(Error::IdempotencyClash("volunteer")),
        };
    };
    for group in &v.groups {
        // Lock the group so its version and published state follow membership changes in order.
        let locked: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM groups WHERE id = $1 FOR UPDATE")
                .bind(group)
                .fetch_optional(&mut *tx)
                .await?;
        if locked.is_none() {
            return Err(Error::NotFound("group"));
        }
        sqlx::query("INSERT INTO group_members (group_id, volunteer_id) VALUES ($1, $2)")
            .bind(group)
            .bind(row.id)
            .execute(&mut *tx)
            .await?;
        membership_changed(&mut tx, *group).await?;
    }
    tx.commit().await?;
    Ok(Volunteer {
        row,
        groups: v.groups.clone(),
    })
}

pub async fn is_member(pool: &PgPool, group: Uuid, volunteer: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND volunteer_id = $2)",
    )
    .bind(group)
    .bind(volunteer)
    .fetch_one(pool)
    .await
}

pub async fn get_volunteer(pool: &PgPool, id: Uuid) -> Result<Volunteer, Error> {
    let row: VolunteerRow = sqlx::query_as(
        "SELECT id, display_name, languages, created_at, updated_at, version FROM volunteers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound("volunteer"))?;
    let groups = sqlx::query_scalar(
        "SELECT group_id FROM group_members WHERE volunteer_id = $1 ORDER BY group_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Volunteer { row, groups })
}

/// The report of an earlier import with this key, encoded.
pub async fn import_done(pool: &PgPool, key: Uuid) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("SELECT response FROM imports WHERE request_key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
}

/// What an import changed.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImportCounts {
    pub groups_created: i32,
    pub groups_updated: i32,
    pub volunteers_created: i32,
    pub volunteers_updated: i32,
}

/// Applies a checked import in one transaction: groups found by name in the organisation are
/// updated, others created; members found by name in their group are updated, others created
/// and added; each touched group's new state is published once. `report` encodes the response
/// stored under `key` so a retry returns it. With `dry_run` everything is rolled back: the
/// counts say exactly what the import would do.
pub async fn import(
    pool: &PgPool,
    organization: Uuid,
    key: Uuid,
    groups: &[crate::import::GroupRows],
    dry_run: bool,
    report: impl FnOnce(ImportCounts) -> Vec<u8>,
) -> Result<ImportCounts, Error> {
    use prost::Message;
    let mut tx = pool.begin().await?;
    // One import per organisation at a time, so two imports never both create a group.
    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR UPDATE")
        .bind(organization)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    let mut counts = ImportCounts::default();
    for g in groups {
        let n = &g.group;
        let existing: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM groups WHERE organization_id = $1 \
               AND lower(display_name) = lower($2) ORDER BY id LIMIT 1 FOR UPDATE",
        )
        .bind(organization)
        .bind(&n.display_name)
        .fetch_optional(&mut *tx)
        .await?;
        let skills: Vec<i16> = n.skills.iter().map(|s| s.skill).collect();
        let until: Vec<Option<DateTime<Utc>>> =
            n.skills.iter().map(|s| s.certified_until).collect();
        let payloads: Vec<f64> = n.skills.iter().map(|s| s.payload_tonnes).collect();
        let id = match existing {
            Some(id) => {
                // Availability and reported location are the group's own, not the sheet's.
                sqlx::query(
                    "UPDATE groups SET display_name = $2, lat = $3, lon = $4, settlement = $5, \
                       district = $6, region = $7, radius_km = $8, skills = $9, \
                       skill_certified_until = $10, skill_payload_tonnes = $11, languages = $12, \
                       capacity = $13, updated_at = now(), version = version + 1 WHERE id = $1",
                )
                .bind(id)
                .bind(&n.display_name)
                .bind(n.lat)
                .bind(n.lon)
                .bind(&n.settlement)
                .bind(&n.district)
                .bind(&n.region)
                .bind(n.radius_km)
                .bind(&skills)
                .bind(&until)
                .bind(&payloads)
                .bind(&n.languages)
                .bind(n.capacity)
                .execute(&mut *tx)
                .await?;
                counts.groups_updated += 1;
                id
            }
            None => {
                // A sheet row is held to CreateGroup's checks and inserted the same way. Its
                // idempotency key is the fresh one reading the sheet gave it; the import's own
                // key guards against replays.
                let row = insert_group(&mut tx, n, &g.api.encode_to_vec())
                    .await?
                    .expect("a fresh idempotency key");
                counts.groups_created += 1;
                row.id
            }
        };
        for v in &g.volunteers {
            let member: Option<Uuid> = sqlx::query_scalar(
                "SELECT v.id FROM volunteers v JOIN group_members m ON m.volunteer_id = v.id \
                 WHERE m.group_id = $1 AND lower(v.display_name) = lower($2) \
                 ORDER BY v.id LIMIT 1",
            )
            .bind(id)
            .bind(&v.display_name)
            .fetch_optional(&mut *tx)
            .await?;
            match member {
                Some(vid) => {
                    sqlx::query(
                        "UPDATE volunteers SET languages = $2, updated_at = now(), \
                           version = version + 1 WHERE id = $1",
                    )
                    .bind(vid)
                    .bind(&v.languages)
                    .execute(&mut *tx)
                    .await?;
                    counts.volunteers_updated += 1;
                }
                None => {
                    let vid = Uuid::now_v7();
                    sqlx::query(
                        "INSERT INTO volunteers (id, idempotency_key, create_payload, \
                           display_name, languages) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(vid)
                    .bind(Uuid::new_v4())
                    .bind(v.display_name.as_bytes())
                    .bind(&v.display_name)
                    .bind(&v.languages)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO group_members (group_id, volunteer_id) VALUES ($1, $2)",
                    )
                    .bind(id)
                    .bind(vid)
                    .execute(&mut *tx)
                    .await?;
                    counts.volunteers_created += 1;
                }
            }
        }
        membership_changed(&mut tx, id).await?;
    }
    sqlx::query("INSERT INTO imports (request_key, organization_id, response) VALUES ($1, $2, $3)")
        .bind(key)
        .bind(organization)
        .bind(report(counts))
        .execute(&mut *tx)
        .await?;
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(counts)
}

/// Replaces a group's editable fields, if its version is still `version`, and publishes it.
pub async fn replace_group(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    n: &NewGroup,
) -> Result<Group, Error> {
    let mut tx = pool.begin().await?;
    let sql = format!(
        "UPDATE groups SET display_name = $3, lat = $4, lon = $5, settlement = $6, \
           district = $7, region = $8, radius_km = $9, districts = $10, skills = $11, \
           skill_certified_until = $12, skill_payload_tonnes = $13, languages = $14, \
           capacity = $15, schedule = $16, availability = $17, rest_minutes = $18, \
           updated_at = now(), version = version + 1 \
         WHERE id = $1 AND version = $2 RETURNING {GROUP_COLUMNS}"
    );
    let q = sqlx::query_as(&sql).bind(id).bind(version);
    let row = bind_fields(q, n).fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        return Err(if exists {
            Error::EtagMismatch("group")
        } else {
            Error::NotFound("group")
        });
    };
    let members = members(&mut tx, id).await?;
    let group = Group { row, members };
    publish(&mut tx, &group).await?;
    tx.commit().await?;
    Ok(group)
}

pub async fn update_organization(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    display_name: &str,
    kind: i16,
    regions: &[String],
    contact_email: &str,
) -> Result<OrganizationRow, Error> {
    let row: Option<OrganizationRow> = sqlx::query_as(
        "UPDATE organizations SET display_name = $3, kind = $4, regions = $5, contact_email = $6, \
           updated_at = now(), version = version + 1 WHERE id = $1 AND version = $2 \
         RETURNING id, display_name, kind, regions, contact_email, created_at, updated_at, version",
    )
    .bind(id)
    .bind(version)
    .bind(display_name)
    .bind(kind)
    .bind(regions)
    .bind(contact_email)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => Ok(row),
        None => {
            get_organization(pool, id).await?;
            Err(Error::EtagMismatch("organization"))
        }
    }
}

pub async fn list_volunteers(
    pool: &PgPool,
    group: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Volunteer>, Error> {
    let rows: Vec<VolunteerRow> = sqlx::query_as(
        "SELECT id, display_name, languages, created_at, updated_at, version FROM volunteers v \
         WHERE ($1::uuid IS NULL OR EXISTS (SELECT 1 FROM group_members m \
                 WHERE m.volunteer_id = v.id AND m.group_id = $1)) \
           AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
    )
    .bind(group)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let groups = sqlx::query_scalar(
            "SELECT group_id FROM group_members WHERE volunteer_id = $1 ORDER BY group_id",
        )
        .bind(row.id)
        .fetch_all(pool)
        .await?;
        out.push(Volunteer { row, groups });
    }
    Ok(out)
}

/// Updates a volunteer if its version is still `version`; groups it joins or leaves get their
/// new member lists published, in the same transaction.
pub async fn update_volunteer(
    pool: &PgPool,
    id: Uuid,
    version: i64,
    display_name: &str,
    languages: &[i16],
    groups: &[Uuid],
) -> Result<Volunteer, Error> {
    let mut tx = pool.begin().await?;
    let row: Option<VolunteerRow> = sqlx::query_as(
        "UPDATE volunteers SET display_name = $3, languages = $4, updated_at = now(), \
           version = version + 1 WHERE id = $1 AND version = $2 \
         RETURNING id, display_name, languages, created_at, updated_at, version",
    )
    .bind(id)
    .bind(version)
    .bind(display_name)
    .bind(languages)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        get_volunteer(pool, id).await?;
        return Err(Error::EtagMismatch("volunteer"));
    };
    let before: Vec<Uuid> =
        sqlx::query_scalar("SELECT group_id FROM group_members WHERE volunteer_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    let mut touched: Vec<Uuid> = before
        .iter()
        .filter(|g| !groups.contains(g))
        .chain(groups.iter().filter(|g| !before.contains(g)))
        .copied()
        .collect();
    // Locks in id order, so two updates touching the same groups cannot deadlock.
    touched.sort();
    for group in &touched {
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM groups WHERE id = $1 FOR UPDATE")
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound("group"))?;
        if groups.contains(group) {
            sqlx::query("INSERT INTO group_members (group_id, volunteer_id) VALUES ($1, $2)")
                .bind(group)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND volunteer_id = $2")
                .bind(group)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        membership_changed(&mut tx, *group).await?;
    }
    tx.commit().await?;
    let mut groups = groups.to_vec();
    groups.sort();
    Ok(Volunteer { row, groups })
}
