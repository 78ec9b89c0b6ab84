//! End to end: the Kegen coal season as a recurring plan. Coal for three pensioners in Kegen's
//! villages on the 1st of every month from November to March, 10:00 Almaty time (a zone
//! without summer time). Each occurrence makes one request per pensioner through CreateRequest's
//! checks; a pensioner whose last delivery is still open is skipped and the skip recorded; a
//! paused plan makes nothing and resumes at its next date; partners see their organisation's
//! plans only, without callers. Occurrences are brought forward by setting the plan's next run
//! to now in the database, as the calendar would. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use chrono::{Datelike, TimeZone, Utc};
use komek_proto::intake::v1 as intake;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Role;
use komek_tests::settlements::find;
use komek_tests::{System, at, authed, create_organization, eventually, violated_fields};
use uuid::Uuid;

fn stop(name: &str, note: &str, caller: Option<(&str, &str)>) -> intake::PlanStop {
    let place = find(name, "Almaty Region");
    intake::PlanStop {
        location: Some(pb::Location {
            point: Some(at(place)),
            settlement: place.name_ru.clone(),
            region: "Almaty Region".into(),
            ..Default::default()
        }),
        caller: Some(match caller {
            Some((n, p)) => intake::Caller {
                display_name: n.into(),
                phone: p.into(),
                preferred_language: pb::Language::Kazakh as i32,
                anonymous: false,
            },
            None => intake::Caller {
                anonymous: true,
                ..Default::default()
            },
        }),
        note: note.into(),
        ..Default::default()
    }
}

fn coal_season(org: &str) -> intake::Plan {
    intake::Plan {
        display_name: "Кеген: көмір, қараша – наурыз".into(),
        organization: org.into(),
        description: "Зейнеткерге айсайынғы көмір жеткізу".into(),
        category: pb::Category::FuelDelivery as i32,
        priority: pb::Priority::Normal as i32,
        quantity: Some(pb::Quantity {
            value: 1.0,
            unit: "t".into(),
        }),
        stops: vec![
            stop(
                "Kegen",
                "Абай көшесі, көк қақпа",
                Some(("Сәуле Жұмабаева", "+77012345678")),
            ),
            stop("Koshkar", "", None),
            stop("Aksay", "2 тонна керек", None),
        ],
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kegen_coal_season_runs_as_a_plan() {
    let system = System::start_tuned_intake(|c| c.plan_sweep_secs = 1).await;
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Райымбек ауданы әкімдігі",
        roster::OrganizationKind::AkimatService,
        &["Almaty Region"],
    )
    .await;
    let other = create_organization(
        &mut roster_client,
        "Шиелі жастары",
        roster::OrganizationKind::YouthWing,
        &["Kyzylorda Region"],
    )
    .await;
    let plans = komek_proto::intake::v1::plan_service_client::PlanServiceClient::new(
        authed(system.intake, &system.dispatcher_key).await,
    );
    let db = sqlx::PgPool::connect(system.db.url()).await.unwrap();
    let bring_forward = |plan: String| {
        let db = db.clone();
        async move {
            let id = Uuid::parse_str(plan.trim_start_matches("plans/")).unwrap();
            sqlx::query("UPDATE intake.plans SET next_run_at = now() WHERE id = $1")
                .bind(id)
                .execute(&db)
                .await
                .unwrap();
        }
    };

    // A bad plan is refused field by field, each stop's fields under the stop.
    let mut bad = coal_season(&org.name);
    bad.stops[1].location.as_mut().unwrap().region = "Nowhere".into();
    bad.recurrence.as_mut().unwrap().day_of_month = 0;
    bad.description.clear();
    let err = plans
        .clone()
        .create_plan(intake::CreatePlanRequest {
            request_id: Uuid::new_v4().to_string(),
            plan: Some(bad),
        })
        .await
        .unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "plan.description",
            "plan.recurrence.day_of_month",
            "plan.stops[1].location.region"
        ],
        "{err:?}"
    );

    let request_id = Uuid::new_v4().to_string();
    let create = intake::CreatePlanRequest {
        request_id: request_id.clone(),
        plan: Some(coal_season(&org.name)),
    };
    let plan = plans
        .clone()
        .create_plan(create.clone())
        .await
        .unwrap()
        .into_inner();
    let again = plans
        .clone()
        .create_plan(create)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.name, plan.name, "a retried create is the same plan");
    assert_eq!(plan.state, intake::PlanState::Active as i32);
    assert_eq!(plan.region, "Almaty Region");
    assert_eq!(
        plan.stops[0].caller.as_ref().unwrap().display_name,
        "Сәуле Жұмабаева"
    );
    // The first occurrence: the next 1st of a season month, at 10:00 in Almaty.
    let next = plan.next_run_time.unwrap();
    let next = Utc.timestamp_opt(next.seconds, 0).unwrap();
    let local = next.with_timezone(&chrono_tz::Asia::Almaty);
    assert_eq!(
        (local.day(), local.format("%H:%M").to_string()),
        (1, "10:00".to_string())
    );
    assert!([11, 12, 1, 2, 3].contains(&local.month()));

    // The occurrence comes: one request per pensioner, made as a plan's.
    bring_forward(plan.name.clone()).await;
    let runs = |plan: String| {
        let mut client = plans.clone();
        async move {
            client
                .list_plan_runs(intake::ListPlanRunsRequest {
                    plan,
                    page_size: 50,
                    page_token: String::new(),
                })
                .await
                .unwrap()
                .into_inner()
                .runs
        }
    };
    let first = eventually(Duration::from_secs(15), || {
        let runs = runs(plan.name.clone());
        async move { Some(runs.await).filter(|r| r.len() == 3) }
    })
    .await
    .expect("three runs");
    assert!(first.iter().all(|r| !r.request.is_empty()), "{first:?}");
    let mut intake_client = system.intake_client().await;
    let mut made = Vec::new();
    for run in &first {
        let r = intake_client
            .get_request(intake::GetRequestRequest {
                name: run.request.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.channel, pb::Channel::Plan as i32);
        assert_eq!(r.operator_category, pb::Category::FuelDelivery as i32);
        made.push(r);
    }
    let kegen = made
        .iter()
        .find(|r| r.description.contains("көк қақпа"))
        .expect("the stop's note follows the description");
    assert_eq!(
        kegen.caller.as_ref().unwrap().display_name,
        "Сәуле Жұмабаева",
        "the stop's caller goes with the request, for the group that takes it"
    );

    // Next month: Koshkar's coal was delivered meanwhile (cancelled here, as closed), the
    // other two are still open and are skipped, with the reason recorded.
    let koshkar = made
        .iter()
        .find(|r| r.location.as_ref().unwrap().settlement == "Кошкар")
        .unwrap();
    intake_client
        .cancel_request(intake::CancelRequestRequest {
            name: koshkar.name.clone(),
            reason: "delivered by the akimat's own truck".into(),
            request_id: Uuid::new_v4().to_string(),
            etag: String::new(),
        })
        .await
        .unwrap();
    bring_forward(plan.name.clone()).await;
    let second = eventually(Duration::from_secs(15), || {
        let runs = runs(plan.name.clone());
        async move { Some(runs.await).filter(|r| r.len() == 6) }
    })
    .await
    .expect("six runs");
    let latest: Vec<&intake::PlanRun> = second.iter().take(3).collect();
    let skipped = latest.iter().filter(|r| r.request.is_empty()).count();
    let remade = latest.iter().filter(|r| !r.request.is_empty()).count();
    assert_eq!((skipped, remade), (2, 1), "{latest:?}");
    assert!(
        latest
            .iter()
            .filter(|r| r.request.is_empty())
            .all(|r| r.skipped_reason.contains("still")),
        "{latest:?}"
    );

    // Paused: an occurrence that comes makes nothing; resumed, the plan waits for its next date.
    let paused = plans
        .clone()
        .pause_plan(intake::PausePlanRequest {
            name: plan.name.clone(),
            reason: "the road to the villages is closed by snow".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(paused.state, intake::PlanState::Paused as i32);
    assert!(paused.next_run_time.is_none());
    bring_forward(plan.name.clone()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        runs(plan.name.clone()).await.len(),
        6,
        "a paused plan makes nothing"
    );
    let resumed = plans
        .clone()
        .resume_plan(intake::ResumePlanRequest {
            name: plan.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.state, intake::PlanState::Active as i32);
    let next = Utc
        .timestamp_opt(resumed.next_run_time.unwrap().seconds, 0)
        .unwrap();
    assert!(next > Utc::now(), "nothing missed is made up");

    // Partners: the organisation's own sees the plan without callers; another sees nothing.
    let own_key = system.issue_key(Role::Partner, &org.name, &[]).await;
    let mut own = komek_proto::intake::v1::plan_service_client::PlanServiceClient::new(
        authed(system.intake, &own_key).await,
    );
    let seen = own
        .get_plan(intake::GetPlanRequest {
            name: plan.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let caller = seen.stops[0].caller.as_ref().unwrap();
    assert!(caller.display_name.is_empty() && caller.phone.is_empty());
    let other_key = system.issue_key(Role::Partner, &other.name, &[]).await;
    let mut stranger = komek_proto::intake::v1::plan_service_client::PlanServiceClient::new(
        authed(system.intake, &other_key).await,
    );
    let hidden = stranger
        .get_plan(intake::GetPlanRequest {
            name: plan.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::NotFound);
    let listed = stranger
        .list_plans(intake::ListPlansRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.plans.is_empty());

    system.stop().await;
}

/// The plans page in headless Chromium: a dispatcher follows the Kegen plan's runs and pauses
/// it with a reason; the organisation's partner sees the same plan, without callers and without
/// the pause. Every screen passes axe-core.
#[test]
fn plans_are_followed_and_paused_in_the_console() {
    komek_tests::browser::run_scenario(plans_in_the_console);
}

async fn plans_in_the_console() {
    use komek_tests::browser::{Browser, assert_accessible, axe_source};
    let axe = axe_source();
    let system = System::start_tuned_intake(|c| c.plan_sweep_secs = 1).await;
    let stop = komek_runtime::CancellationToken::new();
    let console = komek_tests::start_console(&system, &stop).await;
    let base = format!("http://{console}");
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Райымбек ауданы әкімдігі",
        roster::OrganizationKind::AkimatService,
        &["Almaty Region"],
    )
    .await;
    let mut plans = komek_proto::intake::v1::plan_service_client::PlanServiceClient::new(
        authed(system.intake, &system.dispatcher_key).await,
    );
    let plan = plans
        .create_plan(intake::CreatePlanRequest {
            request_id: Uuid::new_v4().to_string(),
            plan: Some(coal_season(&org.name)),
        })
        .await
        .unwrap()
        .into_inner();
    let db = sqlx::PgPool::connect(system.db.url()).await.unwrap();
    sqlx::query("UPDATE intake.plans SET next_run_at = now() WHERE id = $1")
        .bind(Uuid::parse_str(plan.name.trim_start_matches("plans/")).unwrap())
        .execute(&db)
        .await
        .unwrap();

    let browser = Browser::start("ru").await;
    browser.goto(&format!("{base}/sign-in")).await;
    browser.type_into("#key", &system.dispatcher_key).await;
    browser.click("form[action='/sign-in'] button").await;
    browser.find("nav.menu a[href='/plans']").await;
    // The occurrence runs within a second or two; the page shows it when reloaded.
    let mut shown = false;
    for _ in 0..20 {
        browser.goto(&format!("{base}/plans")).await;
        if browser.source().await.contains("ul class=\"runs\"") {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(shown, "the plan's runs are listed");
    let page = browser.text("main").await;
    assert!(page.contains("Кеген: көмір, қараша – наурыз"), "{page}");
    assert!(page.contains("Действует"), "{page}");
    assert!(page.contains("Обслуживает людей: 3"), "{page}");
    assert_accessible(&browser, &axe, "plans").await;
    shot(&browser, "plans").await;

    // Paused from the page, with its reason.
    browser
        .click("section.plan details.deactivate summary")
        .await;
    browser
        .type_into("section.plan input[name=reason]", "Дорогу на Кеген замело")
        .await;
    browser
        .click("section.plan details.deactivate button[type=submit]")
        .await;
    browser
        .wait_text(
            "section.plan",
            "Дорогу на Кеген замело",
            Duration::from_secs(10),
        )
        .await;
    assert!(browser.text("section.plan").await.contains("Приостановлен"));
    assert_accessible(&browser, &axe, "plans paused").await;
    shot(&browser, "plans-paused").await;
    browser.close().await;

    // The organisation's partner sees it, without callers and without the controls.
    let partner = system.issue_key(Role::Partner, &org.name, &[]).await;
    let browser = Browser::start("ru").await;
    browser.goto(&format!("{base}/sign-in")).await;
    browser.type_into("#key", &partner).await;
    browser.click("form[action='/sign-in'] button").await;
    browser.find("nav.menu a[href='/plans']").await;
    browser.goto(&format!("{base}/plans")).await;
    browser
        .wait_text("main", "Кеген: көмір", Duration::from_secs(10))
        .await;
    let source = browser.source().await;
    assert!(!source.contains("Сәуле") && !source.contains("2345678"));
    assert!(
        !source.contains("action=\"/plans/"),
        "no pause or resume for partners"
    );
    assert_accessible(&browser, &axe, "partner plans").await;
    browser.close().await;

    stop.cancel();
    system.stop().await;
}

/// With `KOMEK_SCREENSHOTS=<dir>`, the page as `<screen>-ru.png` there.
async fn shot(browser: &komek_tests::browser::Browser, screen: &str) {
    if let Some(dir) = std::env::var_os("KOMEK_SCREENSHOTS").map(std::path::PathBuf::from) {
        let png = browser.full_screenshot().await;
        std::fs::write(dir.join(format!("{screen}-ru.png")), png).unwrap();
    }
}
