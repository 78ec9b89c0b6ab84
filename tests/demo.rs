//! Shows a running Komek (deploy/up.sh) at work: registers volunteer groups at real settlements
//! around Almaty, connects a volunteer's offer stream, records a hotline call about a missing
//! child, and prints how it was triaged and to whom it was offered.
//!
//! Usage: cargo run -p komek-tests --bin komek-demo [HOST]   (HOST defaults to 127.0.0.1)
//!        cargo run -p komek-tests --bin komek-demo scenario NAME [HOST]
//!
//! The scenarios (`tests/support/scenarios.rs`, each also an end-to-end test): kyzylorda-day
//! (a "109" line's day: a veteran, a pupil, a poor family, a search, the emergency HQ),
//! kegen-coal (the coal season as a campaign and a recurring plan), volozhin-hours (a Red
//! Cross line's office hours) and shymkent-outreach (home visits across Shymkent's settlements).
//!
//! It signs in with the bootstrap admin key: `KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY`, else the one
//! `deploy/up.sh` wrote to `.komek/secrets.env`; the volunteer gets a key of its own.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use futures::StreamExt;
use komek_proto::access::v1 as access;
use komek_proto::access::v1::access_service_client::AccessServiceClient;
use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::matching::v1 as matching;
use komek_proto::matching::v1::assignment_service_client::AssignmentServiceClient;
use komek_proto::roster::v1 as roster;
use komek_proto::roster::v1::roster_service_client::RosterServiceClient;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::{Bearer, Role};
use komek_tests::settlements::find;
use komek_tests::{Authed, at, create_group};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

/// The admin credential of the running system.
fn admin_key() -> anyhow::Result<String> {
    const VAR: &str = "KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY";
    if let Ok(key) = std::env::var(VAR) {
        return Ok(key);
    }
    let secrets = std::fs::read_to_string(".komek/secrets.env").map_err(|e| {
        anyhow::anyhow!("set {VAR}, or run from the project after deploy/up.sh ({e})")
    })?;
    secrets
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{VAR}=")))
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("{VAR} is not in .komek/secrets.env"))
}

async fn client(url: String, credential: &str) -> anyhow::Result<Authed> {
    let channel = Channel::from_shared(url)?.connect().await?;
    Ok(InterceptedService::new(channel, Bearer::new(credential)?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("scenario") {
        let name = args.get(1).ok_or_else(|| {
            anyhow::anyhow!(
                "which scenario? one of {}",
                komek_tests::scenarios::NAMES.join(", ")
            )
        })?;
        let host = args.get(2).cloned().unwrap_or_else(|| "127.0.0.1".into());
        let url = |port: u16| format!("http://{host}:{port}");
        let admin = admin_key()?;
        let mut komek = komek_tests::scenarios::Komek::new(
            client(url(50051), &admin).await?,
            client(url(50053), &admin).await?,
            client(url(50054), &admin).await?,
        );
        let report = komek_tests::scenarios::run(name, &mut komek).await?;
        for line in report.0 {
            println!("{line}");
        }
        return Ok(());
    }
    let host = args.first().cloned().unwrap_or_else(|| "127.0.0.1".into());
    let url = |port: u16| format!("http://{host}:{port}");
    let admin = admin_key()?;
    let mut roster_client = RosterServiceClient::new(client(url(50053), &admin).await?);
    let mut intake_client = IntakeServiceClient::new(client(url(50051), &admin).await?);
    let mut access_client = AccessServiceClient::new(client(url(50053), &admin).await?);

    let org = roster_client
        .create_organization(roster::CreateOrganizationRequest {
            request_id: demo_id(0),
            organization: Some(roster::Organization {
                display_name: "Алматы еріктілері".into(),
                kind: roster::OrganizationKind::Ngo as i32,
                regions: vec!["Almaty".into(), "Almaty Region".into()],
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let search = [pb::Skill::SearchRescue, pb::Skill::FirstAid];
    let available = pb::Availability::Available;
    let teams = [
        (
            "Talgar search team",
            find("Talghar", "Almaty Region"),
            &search[..],
            available,
        ),
        (
            "Issyk search team",
            find("Issyk", "Almaty Region"),
            &search[..],
            available,
        ),
        (
            "Kaskelen social care",
            find("Qaskeleng", "Almaty Region"),
            &[pb::Skill::SocialCare][..],
            available,
        ),
    ];
    let mut groups = Vec::new();
    for (i, (name, place, skills, availability)) in teams.into_iter().enumerate() {
        let key = demo_id(1 + i as u128);
        let g = create_group(
            &mut roster_client,
            &org.name,
            name,
            place,
            skills,
            availability,
            &key,
        )
        .await;
        println!(
            "group     {} at {} ({:.4}, {:.4})",
            name, place.name_en, place.lat, place.lon
        );
        groups.push(g);
    }
    let volunteer = roster_client
        .create_volunteer(roster::CreateVolunteerRequest {
            request_id: demo_id(9),
            volunteer: Some(roster::Volunteer {
                display_name: "Айгерім".into(),
                groups: groups.iter().map(|g| g.name.clone()).collect(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    // The volunteer's app signs in with a key of its own.
    let key = access_client
        .create_api_key(access::CreateApiKeyRequest {
            request_id: Uuid::new_v4().to_string(),
            api_key: Some(access::ApiKey {
                display_name: "Айгерім's phone".into(),
                role: Role::Volunteer.code(),
                subject: volunteer.name.clone(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let mut assignments = AssignmentServiceClient::new(client(url(50054), &key.secret).await?);
    // A new key reaches matching through the access stream, a moment after it is issued.
    let mut attempts = 0;
    let mut offers = loop {
        let reply = assignments
            .stream_offers(matching::StreamOffersRequest {
                volunteer: volunteer.name.clone(),
                cursor: String::new(),
            })
            .await;
        match reply {
            Err(status) if status.code() == tonic::Code::Unauthenticated && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other?.into_inner(),
        }
    };

    let almaty = find("Almaty", "Almaty");
    let note = "Пропал ребенок 7 лет, ушёл из дома вечером, не вернулся";
    let created = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(almaty)),
                settlement: almaty.name_en.clone(),
                region: almaty.region.clone(),
                ..Default::default()
            }),
            description: note.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    println!("call      \"{note}\" in Almaty");
    println!(
        "request   {} reference {}",
        created.name, created.reference_code
    );

    // A coal call from a Kyzylorda Region village, where the demo has no group: it waits in
    // the console's escalated queue for a dispatcher.
    let sholkum = find("Sholkum", "Kyzylorda Region");
    let coal = "Жалғыз тұратын зейнеткерге көмір керек, 2 тонна";
    let escalated = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(sholkum)),
                settlement: sholkum.name_en.clone(),
                district: sholkum.district.clone(),
                region: sholkum.region.clone(),
                ..Default::default()
            }),
            description: coal.into(),
            quantity: Some(pb::Quantity {
                value: 2.0,
                unit: "t".into(),
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    println!(
        "call      \"{coal}\" in Sholkum, Kyzylorda Region: {} (no group there, so escalated)",
        escalated.reference_code
    );
    // A dispatcher's key to sign in to the console with.
    let dispatcher = access_client
        .create_api_key(access::CreateApiKeyRequest {
            request_id: Uuid::new_v4().to_string(),
            api_key: Some(access::ApiKey {
                display_name: "demo dispatcher".into(),
                role: Role::Dispatcher.code(),
                subject: "dispatchers/demo".into(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    println!(
        "console   http://{host}:8080/ — sign in with this dispatcher key: {}",
        dispatcher.secret
    );

    // Wait until intake has seen the outcome: an offer, or an escalation when every group is
    // busy (offers do not expire yet, so each run holds one unit of a group's capacity).
    let mut request = intake::Request::default();
    for _ in 0..300 {
        request = intake_client
            .get_request(intake::GetRequestRequest {
                name: created.name.clone(),
            })
            .await?
            .into_inner();
        let settled = [pb::RequestStatus::Dispatching, pb::RequestStatus::Escalated];
        if settled.iter().any(|s| *s as i32 == request.status) && request.triage.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let triage = request.triage.unwrap_or_default();
    println!(
        "triage    {:?}, {:?}, needs {:?}",
        pb::Category::try_from(triage.category)?,
        pb::Priority::try_from(triage.priority)?,
        triage
            .required_skills
            .iter()
            .filter_map(|s| pb::Skill::try_from(*s).ok())
            .collect::<Vec<_>>()
    );
    let Some(summary) = request.assignment else {
        println!(
            "escalated nobody eligible is free; status {:?}",
            pb::RequestStatus::try_from(request.status)?
        );
        return Ok(());
    };
    if !groups.iter().any(|g| g.name == summary.group) {
        // Groups registered by other clients may be nearer or free when the demo's are full.
        println!(
            "offered   to {} ({:.1} km away), a group outside this demo",
            summary.group_display_name,
            summary.distance_meters / 1000.0
        );
        return Ok(());
    }
    let event = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = offers.next().await {
            let event = event?;
            let is_this = event
                .assignment
                .as_ref()
                .is_some_and(|a| a.name == summary.assignment);
            if is_this {
                return Ok(event);
            }
        }
        anyhow::bail!("offer stream closed")
    })
    .await??;
    println!(
        "offered   to {} ({:.1} km away), expires {}s from now; on {}'s offer stream as {:?}",
        summary.group_display_name,
        summary.distance_meters / 1000.0,
        summary.expire_time.map_or(0, |t| t.seconds - now_secs()),
        volunteer.display_name,
        matching::OfferEventKind::try_from(event.kind)?
    );
    Ok(())
}

/// Fixed idempotency keys: running the demo again reuses its organisation, groups and volunteer.
fn demo_id(n: u128) -> String {
    Uuid::from_u128(0x6b6f_6d65_6b00_4000_8000_0000_0000_0000 | n).to_string()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
