//! Scenarios from real places, run against any Komek through its public API: by the end-to-end
//! tests (`tests/scenarios.rs`, against the test system) and by `komek-demo scenario <name>`
//! (against a running one). Each sets up what it needs under names of its own, drives the
//! work, checks what must hold and says what happened, line by line.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use anyhow::{Context, anyhow, ensure};
use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::intake::v1::plan_service_client::PlanServiceClient;
use komek_proto::matching::v1 as matching;
use komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient;
use komek_proto::partner::v1 as partner;
use komek_proto::partner::v1::partner_service_client::PartnerServiceClient;
use komek_proto::roster::v1 as roster;
use komek_proto::roster::v1::roster_service_client::RosterServiceClient;
use komek_proto::types::v1 as pb;
use uuid::Uuid;

use crate::Authed;
use crate::settlements::{Settlement, find};

/// The clients a scenario calls, all with one dispatcher's or admin's key.
#[derive(Clone)]
pub struct Komek {
    pub intake: IntakeServiceClient<Authed>,
    pub plans: PlanServiceClient<Authed>,
    pub partner: PartnerServiceClient<Authed>,
    pub roster: RosterServiceClient<Authed>,
    pub dispatch: DispatchServiceClient<Authed>,
}

impl Komek {
    /// Clients of intake, roster and matching at these channels.
    pub fn new(intake: Authed, roster: Authed, matching: Authed) -> Self {
        Self {
            intake: IntakeServiceClient::new(intake.clone()),
            plans: PlanServiceClient::new(intake.clone()),
            partner: PartnerServiceClient::new(intake),
            roster: RosterServiceClient::new(roster),
            dispatch: DispatchServiceClient::new(matching),
        }
    }
}

/// What a scenario saw, in order, for a person to read.
#[derive(Debug, Default)]
pub struct Report(pub Vec<String>);

impl Report {
    fn say(&mut self, line: impl Into<String>) {
        self.0.push(line.into());
    }
}

/// The scenarios by name, as `komek-demo scenario <name>` takes them.
pub const NAMES: [&str; 4] = [
    "kyzylorda-day",
    "kegen-coal",
    "volozhin-hours",
    "shymkent-outreach",
];

pub async fn run(name: &str, k: &mut Komek) -> anyhow::Result<Report> {
    match name {
        "kyzylorda-day" => kyzylorda_day(k).await,
        "kegen-coal" => kegen_coal(k).await,
        "volozhin-hours" => volozhin_hours(k).await,
        "shymkent-outreach" => shymkent_outreach(k).await,
        other => Err(anyhow!(
            "no scenario {other:?}; one of {}",
            NAMES.join(", ")
        )),
    }
}

/// A suffix that keeps one run's organisations apart from another's.
fn run_tag() -> String {
    Uuid::new_v4().simple().to_string()[..6].to_string()
}

async fn organization(
    k: &mut Komek,
    name: &str,
    kind: roster::OrganizationKind,
    regions: &[&str],
) -> anyhow::Result<roster::Organization> {
    Ok(k.roster
        .create_organization(roster::CreateOrganizationRequest {
            request_id: Uuid::new_v4().to_string(),
            organization: Some(roster::Organization {
                display_name: name.into(),
                kind: kind as i32,
                regions: regions.iter().map(|r| r.to_string()).collect(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner())
}

struct Team<'a> {
    name: &'a str,
    place: &'a Settlement,
    skills: &'a [pb::Skill],
    capacity: i32,
    radius_km: f64,
}

async fn group(k: &mut Komek, org: &str, t: Team<'_>) -> anyhow::Result<roster::Group> {
    Ok(k.roster
        .create_group(roster::CreateGroupRequest {
            request_id: Uuid::new_v4().to_string(),
            group: Some(roster::Group {
                organization: org.into(),
                display_name: t.name.into(),
                base_location: Some(crate::at(t.place)),
                settlement: t.place.name_en.clone(),
                region: t.place.region.clone(),
                service_area: Some(pb::ServiceArea {
                    radius_km: t.radius_km,
                    districts: vec![],
                }),
                skills: t
                    .skills
                    .iter()
                    .map(|s| pb::GroupSkill {
                        skill: *s as i32,
                        ..Default::default()
                    })
                    .collect(),
                languages: vec![pb::Language::Kazakh as i32, pb::Language::Russian as i32],
                capacity: t.capacity,
                availability: pb::Availability::Available as i32,
                ..Default::default()
            }),
        })
        .await?
        .into_inner())
}

/// A call to the line: a note in the caller's words at a settlement, anonymous; the kind of
/// help as the operator (or a partner) set it, or left to triage.
async fn call(
    k: &mut Komek,
    place: &Settlement,
    note: &str,
    channel: pb::Channel,
    category: Option<pb::Category>,
) -> anyhow::Result<intake::Request> {
    Ok(k.intake
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: channel as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(crate::at(place)),
                settlement: place.name_en.clone(),
                district: place.district.clone(),
                region: place.region.clone(),
                ..Default::default()
            }),
            description: note.into(),
            operator_category: category.map_or(0, |c| c as i32),
            ..Default::default()
        })
        .await?
        .into_inner())
}

/// The request once `done` holds, within 30 s.
async fn until(
    k: &Komek,
    name: &str,
    what: &str,
    done: impl Fn(&intake::Request) -> bool,
) -> anyhow::Result<intake::Request> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = k
            .intake
            .clone()
            .get_request(intake::GetRequestRequest { name: name.into() })
            .await?
            .into_inner();
        if done(&r) {
            return Ok(r);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(anyhow!("{name} never {what}: {r:?}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn label(category: i32) -> String {
    pb::Category::try_from(category).map_or("?".into(), |c| c.as_str_name().to_string())
}

/// A day at the Kyzylorda "109" line: a lonely veteran, a pupil who needs a psychologist, a
/// poor family, an old man lost in the steppe and a call from the emergency HQ. Each call is
/// triaged into its kind of help and offered to the group of the city that does it.
pub async fn kyzylorda_day(k: &mut Komek) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let tag = run_tag();
    let city = find("Qyzylorda", "Kyzylorda Region");
    let tasbuget = find("Tasbuget", "Kyzylorda Region");
    let org = organization(
        k,
        &format!("Қызылорда қаласы әкімдігі, 109 ({tag})"),
        roster::OrganizationKind::AkimatService,
        &["Kyzylorda Region"],
    )
    .await?;
    let teams = [
        ("Ардагерлерге қамқорлық", city, &[pb::Skill::SocialCare][..]),
        (
            "Жасөспірімдер психологтары",
            city,
            &[pb::Skill::Psychologist][..],
        ),
        (
            "Қызыл Жарты Ай еріктілері",
            city,
            &[pb::Skill::GeneralLabour][..],
        ),
        (
            "Іздеу-құтқару жасағы",
            tasbuget,
            &[pb::Skill::SearchRescue, pb::Skill::FirstAid][..],
        ),
    ];
    let mut groups = Vec::new();
    for (name, place, skills) in teams {
        let g = group(
            k,
            &org.name,
            Team {
                name,
                place,
                skills,
                capacity: 3,
                radius_km: 120.0,
            },
        )
        .await?;
        groups.push(g);
    }
    report.say(format!(
        "{} groups of the 109 line registered",
        groups.len()
    ));

    let calls = [
        (
            "Жалғыз тұратын соғыс ардагеріне үй шаруасына көмек керек, өзі жүре алмайды",
            pb::Category::VeteranAid,
            Some(0),
        ),
        (
            "9-сыныпта оқитын ұлыма психолог көмегі керек, мектепте қорлық көріп жүр",
            pb::Category::PsychologicalSupport,
            Some(1),
        ),
        (
            "Көп балалы аз қамтылған отбасымыз, азық-түлік пен жылы киім керек",
            pb::Category::MaterialAid,
            Some(2),
        ),
        (
            "Далада 72 жастағы қарт адасып кетті, кешеден бері хабарсыз, түнде аяз",
            pb::Category::SearchOperation,
            Some(3),
        ),
        (
            "Төтенше жағдайлар штабы: Сырдария жағасында су тасқыны, қап толтыруға 30 ерікті керек",
            pb::Category::EmergencyHq,
            Some(2),
        ),
    ];
    for (note, category, team) in calls {
        let r = call(k, city, note, pb::Channel::Hotline, None).await?;
        let placed = until(k, &r.name, "placed", |r| {
            r.assignment.is_some() || r.status == pb::RequestStatus::Escalated as i32
        })
        .await?;
        let decided = placed.triage.as_ref().map_or(0, |t| t.category);
        ensure!(
            decided == category as i32,
            "{}: triaged as {}, not {}",
            r.reference_code,
            label(decided),
            category.as_str_name()
        );
        if let Some(team) = team {
            let to = placed
                .assignment
                .as_ref()
                .map(|a| a.group_display_name.clone())
                .unwrap_or_default();
            ensure!(
                to == groups[team].display_name,
                "{}: offered to {to:?}, not {:?}",
                r.reference_code,
                groups[team].display_name
            );
        }
        report.say(format!(
            "{} {} → {} ({})",
            r.reference_code,
            category.as_str_name(),
            placed
                .assignment
                .as_ref()
                .map_or("dispatchers".into(), |a| a.group_display_name.clone()),
            pb::Priority::try_from(placed.triage.as_ref().map_or(0, |t| t.priority))
                .map_or("?", |p| p.as_str_name())
        ));
    }
    Ok(report)
}

/// The Kegen coal season: this winter's coal for Kegen's pensioners as one campaign over the
/// district's two trucks, then every month from November to March as a recurring plan.
pub async fn kegen_coal(k: &mut Komek) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let tag = run_tag();
    let org = organization(
        k,
        &format!("Райымбек ауданы әкімдігі ({tag})"),
        roster::OrganizationKind::AkimatService,
        &["Almaty Region"],
    )
    .await?;
    let villages = ["Kegen", "Aqtasty", "Aksay", "Qarqara", "Buleksaz", "Akbeit"];
    // Two trucks, three loads each, none yet in the index: the calls wait for the campaign.
    let mut calls = Vec::new();
    for village in villages {
        let place = find(village, "Almaty Region");
        let r = call(
            k,
            place,
            "Жалғыз тұратын зейнеткерге көмір керек, 2 тонна",
            pb::Channel::Hotline,
            None,
        )
        .await?;
        calls.push(r);
    }
    // With no truck registered yet they go to dispatchers (on a system that has trucks from
    // an earlier run, some are offered at once and the campaign takes the rest).
    let mut waiting = Vec::new();
    for r in &calls {
        let placed = until(k, &r.name, "placed", |r| {
            r.assignment.is_some() || r.status == pb::RequestStatus::Escalated as i32
        })
        .await?;
        if placed.assignment.is_none() {
            waiting.push(r.name.clone());
        }
    }
    report.say(format!(
        "{} of {} coal calls wait for dispatchers: no truck was free for them",
        waiting.len(),
        calls.len()
    ));
    for (name, village) in [
        ("Кеген көмір көлігі", "Kegen"),
        ("Ақсай көмір көлігі", "Aksay"),
    ] {
        group(
            k,
            &org.name,
            Team {
                name,
                place: find(village, "Almaty Region"),
                skills: &[pb::Skill::VehicleCargo],
                capacity: 3,
                radius_km: 80.0,
            },
        )
        .await?;
    }
    // The trucks reach the matcher through the roster stream a moment after registering: plan
    // (validate_only) until the plan places every call, then place them for real.
    let campaign = |validate_only: bool| matching::CreateCampaignRequest {
        request_id: Uuid::new_v4().to_string(),
        display_name: format!("Кеген көмір 2026 ({tag})"),
        requests: waiting.clone(),
        validate_only,
    };
    let mut placed = None;
    for _ in 0..50 {
        if waiting.is_empty() {
            break;
        }
        let planned = k
            .dispatch
            .create_campaign(campaign(true))
            .await?
            .into_inner();
        if planned.unassigned_count == 0 {
            placed = Some(
                k.dispatch
                    .create_campaign(campaign(false))
                    .await?
                    .into_inner(),
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if !waiting.is_empty() {
        let campaign = placed.context("the campaign never placed every call")?;
        report.say(format!(
            "campaign placed {} calls over 2 trucks: {:.0} km in all, greedy nearest-first {:.0} km",
            waiting.len(),
            campaign.total_distance_meters / 1000.0,
            campaign.greedy_total_distance_meters / 1000.0
        ));
        ensure!(campaign.total_distance_meters <= campaign.greedy_total_distance_meters + 0.01);
    }

    let stop = |village: &str| {
        let place = find(village, "Almaty Region");
        intake::PlanStop {
            location: Some(pb::Location {
                point: Some(crate::at(place)),
                settlement: place.name_en.clone(),
                region: "Almaty Region".into(),
                ..Default::default()
            }),
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            ..Default::default()
        }
    };
    let plan = k
        .plans
        .create_plan(intake::CreatePlanRequest {
            request_id: Uuid::new_v4().to_string(),
            plan: Some(intake::Plan {
                display_name: format!("Кеген: көмір, қараша – наурыз ({tag})"),
                organization: org.name.clone(),
                description: "Зейнеткерге айсайынғы көмір жеткізу, 2 тонна".into(),
                category: pb::Category::FuelDelivery as i32,
                priority: pb::Priority::Normal as i32,
                stops: villages.iter().map(|v| stop(v)).collect(),
                recurrence: Some(intake::Recurrence {
                    time_zone: "Asia/Almaty".into(),
                    frequency: intake::Frequency::Monthly as i32,
                    interval: 1,
                    day_of_month: 1,
                    time: Some(pb::TimeOfDay {
                        hours: 10,
                        minutes: 0,
                    }),
                    start_date: Some(pb::Date {
                        year: 2026,
                        month: 11,
                        day: 1,
                    }),
                    months: vec![11, 12, 1, 2, 3],
                    ..Default::default()
                }),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let next = plan.next_run_time.context("the plan has a next date")?;
    let next = chrono::DateTime::from_timestamp(next.seconds, 0)
        .context("a date")?
        .with_timezone(&chrono_tz::Asia::Almaty);
    report.say(format!(
        "plan {} serves {} pensioners; next run {}",
        plan.name,
        plan.stops.len(),
        next.format("%Y-%m-%d %H:%M %Z")
    ));
    Ok(report)
}

/// The Red Cross line in Volozhin keeps office hours, 8:30–13:00 and 14:00–17:30 on weekdays
/// (Minsk time). Here the office is closed all day today: a call for a lonely pensioner waits
/// for the next opening, with its dispatch time shown; a lost child goes out at once.
pub async fn volozhin_hours(k: &mut Komek) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let tag = run_tag();
    let belarus = komek_places::Gazetteer::belarus();
    let place = |name: &str| {
        belarus
            .places()
            .iter()
            .find(|p| p.name_en == name)
            .ok_or_else(|| anyhow!("{name} is not in the gazetteer"))
    };
    let volozhin = place("Valozhyn")?;
    let rakaw = place("Rakaw")?;
    let org = organization(
        k,
        &format!("Воложинская районная организация Красного Креста ({tag})"),
        roster::OrganizationKind::RedCrescent,
        &["Minsk Region"],
    )
    .await?;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Minsk)
        .date_naive();
    let shift = |day: i32, from: (i32, i32), to: (i32, i32)| pb::Shift {
        day,
        start: Some(pb::TimeOfDay {
            hours: from.0,
            minutes: from.1,
        }),
        end: Some(pb::TimeOfDay {
            hours: to.0,
            minutes: to.1,
        }),
    };
    let mut hours = pb::WeeklySchedule {
        time_zone: "Europe/Minsk".into(),
        shifts: (1..=5)
            .flat_map(|d| [shift(d, (8, 30), (13, 0)), shift(d, (14, 0), (17, 30))])
            .collect(),
        // Closed all of today, so the demo shows the wait at any hour.
        exceptions: vec![pb::ScheduleException {
            date: Some(pb::Date {
                year: chrono::Datelike::year(&today),
                month: chrono::Datelike::month(&today) as i32,
                day: chrono::Datelike::day(&today) as i32,
            }),
            off: true,
            shifts: vec![],
        }],
    };
    hours.shifts.sort_by_key(|s| s.day);
    let mut with_hours = org.clone();
    with_hours.office_hours = Some(hours);
    k.roster
        .update_organization(roster::UpdateOrganizationRequest {
            organization: Some(with_hours),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["office_hours".into()],
            }),
        })
        .await?;
    k.roster
        .create_group(roster::CreateGroupRequest {
            request_id: Uuid::new_v4().to_string(),
            group: Some(roster::Group {
                organization: org.name.clone(),
                display_name: "Сёстры милосердия, Воложин".into(),
                base_location: Some(pb::LatLng {
                    latitude: volozhin.lat,
                    longitude: volozhin.lon,
                }),
                settlement: "Воложин".into(),
                region: "BY-MI".into(),
                service_area: Some(pb::ServiceArea {
                    radius_km: 60.0,
                    districts: vec![],
                }),
                skills: [pb::Skill::SocialCare, pb::Skill::SearchRescue]
                    .iter()
                    .map(|s| pb::GroupSkill {
                        skill: *s as i32,
                        ..Default::default()
                    })
                    .collect(),
                capacity: 3,
                availability: pb::Availability::Available as i32,
                ..Default::default()
            }),
        })
        .await?;
    let request =
        |p: &komek_places::Place, note: &str, category, priority| intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(pb::LatLng {
                    latitude: p.lat,
                    longitude: p.lon,
                }),
                settlement: p.name_ru.clone(),
                region: p.region_id.to_string(),
                ..Default::default()
            }),
            description: note.into(),
            operator_category: category as i32,
            operator_priority: priority as i32,
            ..Default::default()
        };
    // The group reaches the matcher a moment after registering; until then calls escalate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pensioner = k
        .intake
        .create_request(request(
            rakaw,
            "Одинокой пенсионерке в Ракове нужна помощь по дому",
            pb::Category::VeteranAid,
            pb::Priority::Normal,
        ))
        .await?
        .into_inner();
    let waiting = until(k, &pensioner.name, "deferred", |r| {
        r.dispatch_time.is_some()
    })
    .await?;
    let at = waiting.dispatch_time.context("a dispatch time")?;
    let at = chrono::DateTime::from_timestamp(at.seconds, 0)
        .context("a date")?
        .with_timezone(&chrono_tz::Europe::Minsk);
    report.say(format!(
        "{} (a pensioner in Rakaw) waits for the office: dispatched {}",
        pensioner.reference_code,
        at.format("%a %Y-%m-%d %H:%M %Z")
    ));
    let child = k
        .intake
        .create_request(request(
            volozhin,
            "Пропал ребёнок, 7 лет, ушёл в лес у Воложина",
            pb::Category::SearchOperation,
            pb::Priority::Critical,
        ))
        .await?
        .into_inner();
    let offered = until(k, &child.name, "offered", |r| r.assignment.is_some()).await?;
    report.say(format!(
        "{} (a lost child) goes out at once, to {}",
        child.reference_code,
        offered
            .assignment
            .map(|a| a.group_display_name)
            .unwrap_or_default()
    ));
    Ok(report)
}

/// A youth wing's outreach across Shymkent's settlements: home visits to elderly people in
/// eight of them, placed together over three groups, and the month's figures by group.
pub async fn shymkent_outreach(k: &mut Komek) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let tag = run_tag();
    let org = organization(
        k,
        &format!("«Жас Отан» Шымкент ({tag})"),
        roster::OrganizationKind::YouthWing,
        &["Shymkent"],
    )
    .await?;
    for (name, village) in [
        ("Орталық топ", "Shymkent"),
        ("Ақтас жастары", "Aktas"),
        ("Бозарық жастары", "Bozaryk"),
    ] {
        group(
            k,
            &org.name,
            Team {
                name: &format!("{name} ({tag})"),
                place: find(village, "Shymkent"),
                skills: &[pb::Skill::SocialCare],
                capacity: 3,
                radius_km: 30.0,
            },
        )
        .await?;
    }
    let visits = [
        "Aktas",
        "Bozaryk",
        "Kalinino",
        "Chokay",
        "Imeni Kirova",
        "Intymak",
        "Kamennaya Balka",
        "Khatynkopir",
    ];
    let mut calls = Vec::new();
    for village in visits {
        let r = call(
            k,
            find(village, "Shymkent"),
            "Жалғыз тұратын қарт кісіге үйге бару, дүкеннен азық-түлік әкеліп беру керек",
            pb::Channel::Partner,
            Some(pb::Category::VeteranAid),
        )
        .await?;
        calls.push(r);
    }
    let mut by_group = std::collections::BTreeMap::<String, usize>::new();
    for r in &calls {
        let placed = until(k, &r.name, "offered", |r| r.assignment.is_some()).await?;
        let to = placed
            .assignment
            .map(|a| a.group_display_name)
            .unwrap_or_default();
        *by_group.entry(to).or_default() += 1;
    }
    ensure!(
        by_group.len() >= 2,
        "the visits went to one group only: {by_group:?}"
    );
    for (g, n) in &by_group {
        report.say(format!("{g}: {n} visits"));
    }
    let stats = k
        .partner
        .get_stats(partner::GetStatsRequest {
            group_by: vec![
                partner::StatsDimension::Group as i32,
                partner::StatsDimension::Channel as i32,
            ],
            region: "Shymkent".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    for row in stats.rows.iter().filter(|r| r.keys[0].contains(&tag)) {
        report.say(format!(
            "statistics: {} · {}: {} requests",
            row.keys[0], row.keys[1], row.request_count
        ));
    }
    Ok(report)
}
