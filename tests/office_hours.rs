//! End to end: the Red Cross branch in Volozhin works weekdays 8:30–13:00 and 14:00–17:30,
//! Minsk time. A call for a lonely pensioner that comes outside those hours waits, showing when
//! it will be dispatched, instead of going to dispatchers, and is offered when the office opens;
//! a missing child goes to the same group at once. The office here opens two minutes after the
//! test starts, so the wait is real. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use komek_proto::intake::v1 as intake;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::{System, create_organization, eventually, wait_request};
use prost_types::FieldMask;
use uuid::Uuid;

fn minsk() -> chrono_tz::Tz {
    chrono_tz::Europe::Minsk
}

fn time_of_day(minute: u32) -> pb::TimeOfDay {
    pb::TimeOfDay {
        hours: (minute / 60) as i32,
        minutes: (minute % 60) as i32,
    }
}

/// Office hours of one hour, opening at `opens` (a whole minute).
fn office_opening_at(opens: DateTime<Utc>) -> pb::WeeklySchedule {
    let local = opens.with_timezone(&minsk());
    let start = local.hour() * 60 + local.minute();
    pb::WeeklySchedule {
        time_zone: "Europe/Minsk".into(),
        shifts: vec![pb::Shift {
            day: local.weekday().number_from_monday() as i32,
            start: Some(time_of_day(start)),
            // Past midnight it runs into the next day, as a night shift does.
            end: Some(time_of_day((start + 60) % 1440)),
        }],
        exceptions: vec![],
    }
}

fn call(
    place: &komek_places::Place,
    note: &str,
    category: pb::Category,
    priority: pb::Priority,
) -> intake::CreateRequestRequest {
    intake::CreateRequestRequest {
        request_id: Uuid::new_v4().to_string(),
        channel: pb::Channel::Hotline as i32,
        caller: Some(intake::Caller {
            anonymous: true,
            ..Default::default()
        }),
        location: Some(pb::Location {
            point: Some(pb::LatLng {
                latitude: place.lat,
                longitude: place.lon,
            }),
            settlement: place.name_ru.clone(),
            region: place.region_id.to_string(),
            ..Default::default()
        }),
        description: note.into(),
        operator_category: category as i32,
        operator_priority: priority as i32,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_outside_office_hours_waits_for_the_office_and_an_emergency_does_not() {
    let system = System::start_tuned(|c| c.expiry_sweep_ms = 200).await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let belarus = komek_places::Gazetteer::belarus();
    let place = |name: &str| {
        belarus
            .places()
            .iter()
            .find(|p| p.name_en == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let volozhin = place("Valozhyn");
    let rakaw = place("Rakaw");

    let org = create_organization(
        &mut roster_client,
        "Воложинская районная организация Белорусского Красного Креста",
        roster::OrganizationKind::RedCrescent,
        &["Minsk Region"],
    )
    .await;
    // The office opens at the second whole minute from now.
    let now = Utc::now();
    let opens =
        now.with_second(0).unwrap().with_nanosecond(0).unwrap() + chrono::Duration::minutes(2);
    let mut with_hours = org.clone();
    with_hours.office_hours = Some(office_opening_at(opens));
    let bad = {
        let mut bad = with_hours.clone();
        bad.office_hours.as_mut().unwrap().time_zone = "Minsk".into();
        roster_client
            .update_organization(roster::UpdateOrganizationRequest {
                organization: Some(bad),
                update_mask: Some(FieldMask {
                    paths: vec!["office_hours".into()],
                }),
            })
            .await
            .unwrap_err()
    };
    assert_eq!(
        komek_tests::violated_fields(&bad),
        ["organization.office_hours.time_zone"]
    );
    roster_client
        .update_organization(roster::UpdateOrganizationRequest {
            organization: Some(with_hours),
            update_mask: Some(FieldMask {
                paths: vec!["office_hours".into()],
            }),
        })
        .await
        .unwrap();
    let group = roster_client
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
                skills: [
                    pb::Skill::SocialCare,
                    pb::Skill::SearchRescue,
                    pb::Skill::FirstAid,
                ]
                .iter()
                .map(|s| pb::GroupSkill {
                    skill: *s as i32,
                    ..Default::default()
                })
                .collect(),
                languages: vec![pb::Language::Russian as i32],
                capacity: 3,
                availability: pb::Availability::Available as i32,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    system.wait_roster_published(1).await;

    // A lonely pensioner in Rakaw needs help at home: not urgent, and the office is closed.
    let pensioner = intake_client
        .create_request(call(
            rakaw,
            "Одинокой пенсионерке в Ракове нужна помощь по дому",
            pb::Category::VeteranAid,
            pb::Priority::Normal,
        ))
        .await
        .unwrap()
        .into_inner();
    let waiting = wait_request(&intake_client, &pensioner.name, "deferred", |r| {
        r.dispatch_time.is_some()
    })
    .await;
    assert_eq!(waiting.status, pb::RequestStatus::Triaged as i32);
    assert_eq!(waiting.dispatch_time.unwrap().seconds, opens.timestamp());
    assert!(waiting.assignment.is_none());

    // A child lost near Volozhin: critical, so the same group is called at once.
    let child = intake_client
        .create_request(call(
            volozhin,
            "Пропал ребёнок, 7 лет, ушёл в лес у Воложина",
            pb::Category::SearchOperation,
            pb::Priority::Critical,
        ))
        .await
        .unwrap()
        .into_inner();
    let offered = wait_request(&intake_client, &child.name, "offered at once", |r| {
        r.assignment.is_some()
    })
    .await;
    assert_eq!(offered.assignment.unwrap().group, group.name);

    // Until the office opens the pensioner's call neither escalates nor is offered.
    let before = intake_client
        .get_request(intake::GetRequestRequest {
            name: pensioner.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        Utc::now() < opens,
        "the test ran too slowly to see the wait"
    );
    assert_eq!(before.status, pb::RequestStatus::Triaged as i32);
    assert!(before.assignment.is_none());

    // The office opens: the call is offered to the group.
    let at_opening = eventually(Duration::from_secs(200), || {
        let mut client = intake_client.clone();
        let name = pensioner.name.clone();
        async move {
            let r = client
                .get_request(intake::GetRequestRequest { name })
                .await
                .ok()?
                .into_inner();
            r.assignment.is_some().then_some(r)
        }
    })
    .await
    .expect("offered once the office opened");
    assert!(Utc::now() >= opens);
    assert_eq!(at_opening.assignment.unwrap().group, group.name);
    assert!(at_opening.dispatch_time.is_none());

    system.stop().await;
}
