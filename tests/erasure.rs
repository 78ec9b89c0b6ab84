//! End to end: a finished request's personal data is erased for good — on demand by its
//! reference code (a caller's right to be forgotten), and by the retention period after it
//! finished. Erased means unreadable everywhere Komek keeps it: a `pg_dump` of the database
//! (intake's, triage's and matching's schemas) and the JetStream store on disk hold none of the
//! caller's name, phone, its keyed hash, the address, the call note or what the volunteers
//! wrote. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::path::Path;
use std::time::Duration;

use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_testkit::pg_bin_dir;
use komek_tests::settlements::find;
use komek_tests::{
    System, at, create_group, create_organization, create_request, create_volunteer, eventually,
    wait_request,
};
use sqlx::PgPool;
use tonic::Code;
use uuid::Uuid;

/// What the caller and the volunteers said, each a string no other part of the test uses.
const NAME: &str = "Зейнеп Алдабергенқызы";
const PHONE: &str = "8 701 987 65 43";
const PHONE_DIGITS: &str = "7019876543";
const ADDRESS: &str = "Жібек жолы көшесі 41, 7-пәтер";
/// A relative's surname in the call note: the volunteer note keeps it (only the caller's own
/// name is cut out), so it reaches triage's and matching's rows too.
const NOTE: &str = "Қарт әжеге көмір керек, 2 тонна. Немересі Ерасыл Жетпісбаев көмектеседі.";
const NOTE_WORD: &str = "Жетпісбаев";
const REPORT: &str = "Көмір Ерасылдың қолына тапсырылды, қора жанында";
const REPORT_WORD: &str = "Ерасылдың";
const PROOF: &str = "https://photos.komek.kz/shieli/zhibek-zholy-41.jpg";

/// The whole database as `pg_dump` writes it, every schema.
fn pg_dump(url: &str) -> Vec<u8> {
    let out = std::process::Command::new(pg_bin_dir().join("pg_dump"))
        .args(["--format=plain", "--no-owner", url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every file of the JetStream store, as bytes.
fn store_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.push((path.display().to_string(), bytes));
            }
        }
    }
    files
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// How pg_dump writes a bytea value: `\x` and lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erased_request_leaves_its_words_in_no_dump_and_no_stream() {
    let system = System::start().await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let shieli = find("Chiili", "Kyzylorda Region");
    let org = create_organization(
        &mut roster_client,
        "Шиелі жастары",
        roster::OrganizationKind::YouthWing,
        &[],
    )
    .await;
    let group = create_group(
        &mut roster_client,
        &org.name,
        "Шиелі көмір",
        shieli,
        &[pb::Skill::VehicleCargo],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    let volunteer = create_volunteer(&mut roster_client, "Дәурен", vec![group.name.clone()]).await;
    system.wait_roster_published(2).await;
    let mut app = system.volunteer_app(&volunteer.name).await;

    let created = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                display_name: NAME.into(),
                phone: PHONE.into(),
                preferred_language: pb::Language::Kazakh as i32,
                anonymous: false,
            }),
            location: Some(pb::Location {
                point: Some(at(shieli)),
                address: ADDRESS.into(),
                settlement: shieli.name_en.clone(),
                district: shieli.district.clone(),
                region: shieli.region.clone(),
                ..Default::default()
            }),
            description: NOTE.into(),
            people_count: 1,
            quantity: Some(pb::Quantity {
                value: 2.0,
                unit: "t".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let code = created.reference_code.clone();

    // Not finished: nothing is erased, the caller is still to be helped.
    let early = intake_client
        .erase_request(intake::EraseRequestRequest {
            reference_code: code.clone(),
            reason: "the caller asked to be forgotten".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
    assert!(early.message().contains("cancel"), "{}", early.message());

    // Offered with the volunteer note matching read from intake; accepted; done, with a report.
    let offered = wait_request(&intake_client, &created.name, "offered", |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.status == pb::AssignmentStatus::Offered as i32)
    })
    .await;
    let assignment = offered.assignment.unwrap().assignment;
    let offer = app
        .get_assignment(matching::GetAssignmentRequest {
            name: assignment.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(offer.summary.contains(NOTE_WORD), "{:?}", offer.summary);
    app.accept_offer(matching::AcceptOfferRequest {
        name: assignment.clone(),
        request_id: Uuid::new_v4().to_string(),
        volunteer: volunteer.name.clone(),
    })
    .await
    .unwrap();
    let accepted = app
        .get_assignment(matching::GetAssignmentRequest {
            name: assignment.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let contact = accepted.caller_contact.expect("the group sees its caller");
    assert_eq!(contact.address, ADDRESS);
    for step in [
        matching::ProgressStep::EnRoute,
        matching::ProgressStep::OnSite,
        matching::ProgressStep::Completed,
    ] {
        app.update_progress(matching::UpdateProgressRequest {
            name: assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: volunteer.name.clone(),
            step: step as i32,
            outcome: pb::Outcome::Helped as i32,
            note: REPORT.into(),
            proof_uri: PROOF.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{step:?}: {e:?}"));
    }
    wait_request(&intake_client, &created.name, "resolved", |r| {
        r.status == pb::RequestStatus::Resolved as i32
    })
    .await;

    // Before: the words are where the services keep them, and the dump shows them, so the
    // searches below can find what is there.
    let pool = PgPool::connect(system.db.url()).await.unwrap();
    let hash: Vec<u8> = sqlx::query_scalar("SELECT caller_blind_index FROM intake.requests")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(hash.len(), 32);
    let triage_note: String = sqlx::query_scalar("SELECT volunteer_note FROM triage.decisions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(triage_note.contains(NOTE_WORD), "{triage_note}");
    // The note's own words that fired triage's rules and model ("rule=word|word").
    let fired: Vec<String> = sqlx::query_scalar("SELECT fired_rules FROM triage.decisions")
        .fetch_one(&pool)
        .await
        .unwrap();
    let fired_words: Vec<String> = fired
        .iter()
        .filter_map(|f| f.split_once('=').map(|(_, terms)| terms))
        .flat_map(|terms| terms.split('|'))
        .filter(|w| !w.is_empty() && !w.starts_with("requests/"))
        .map(String::from)
        .collect();
    assert!(!fired_words.is_empty(), "{fired:?}");
    let dump = pg_dump(system.db.url());
    for word in [NOTE_WORD, REPORT_WORD, ADDRESS, PROOF] {
        assert!(
            holds(&dump, word.as_bytes()),
            "{word} not in the dump before"
        );
    }
    assert!(
        holds(&dump, hex(&hash).as_bytes()),
        "hash not in the dump before"
    );

    // The caller asks to be forgotten: erased by the code they dictate, audited.
    let erased = intake_client
        .erase_request(intake::EraseRequestRequest {
            reference_code: code.to_lowercase(),
            reason: "the caller asked to be forgotten, call of 1 December".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let erasure = erased.erasure.clone().expect("erasure recorded");
    assert_eq!(erasure.erased_by, "dispatchers/test-operator");
    assert!(erasure.reason.contains("forgotten"));
    assert!(erased.description.is_empty() && erased.volunteer_note.is_empty());
    let caller = erased.caller.clone().unwrap();
    assert!(caller.display_name.is_empty() && caller.phone.is_empty());
    assert!(erased.location.as_ref().unwrap().address.is_empty());
    // The facts stay for the statistics.
    assert_eq!(erased.status, pb::RequestStatus::Resolved as i32);
    assert_eq!(erased.reference_code, code);
    // Erasing again changes nothing and says when it was done.
    let again = intake_client
        .erase_request(intake::EraseRequestRequest {
            name: created.name.clone(),
            reason: "asked again".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.erasure, Some(erasure));

    // After: no copy anywhere once triage and matching heard of it.
    let url = system.db.url().to_string();
    let clean = eventually(Duration::from_secs(30), || {
        let url = url.clone();
        let hash = hash.clone();
        async move {
            let dump = pg_dump(&url);
            let words = [NAME, PHONE_DIGITS, ADDRESS, NOTE_WORD, REPORT_WORD, PROOF];
            let left: Vec<&str> = words
                .into_iter()
                .filter(|w| holds(&dump, w.as_bytes()))
                .collect();
            let hash_left = holds(&dump, hex(&hash).as_bytes());
            (left.is_empty() && !hash_left).then_some(())
        }
    })
    .await;
    assert!(clean.is_some(), "personal data left in the dump after 30 s");
    let fired: Vec<String> = sqlx::query_scalar("SELECT fired_rules FROM triage.decisions")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !fired.is_empty() && fired.iter().all(|f| f.ends_with('=')),
        "the rules that fired stay, not the words: {fired:?}"
    );

    // The streams never held them: the JetStream store on disk has the request's events (its
    // reference code) but none of its words, nor the phone's keyed hash.
    let files = store_files(&system.nats.store_dir());
    assert!(
        files.iter().any(|(_, b)| holds(b, code.as_bytes())),
        "the request's events are not in the store: wrong place searched"
    );
    for (path, bytes) in &files {
        for word in [NAME, PHONE_DIGITS, ADDRESS, NOTE_WORD, REPORT_WORD, PROOF] {
            assert!(!holds(bytes, word.as_bytes()), "{word} in {path}");
        }
        assert!(!holds(bytes, &hash), "the phone's keyed hash in {path}");
        // Words the group's and volunteer's names share (the group is "Шиелі көмір") are
        // in the roster's events by right.
        for word in fired_words.iter().filter(|w| {
            !["шиелі көмір", "шиелі жастары", "дәурен"]
                .iter()
                .any(|n| n.contains(&w.to_lowercase()))
        }) {
            assert!(
                !holds(bytes, word.as_bytes()),
                "fired word {word} in {path}"
            );
        }
    }

    // What people see: the request, the group's job, and a search by the note's words.
    let assignment_now = app
        .get_assignment(matching::GetAssignmentRequest { name: assignment })
        .await
        .unwrap()
        .into_inner();
    assert!(assignment_now.summary.is_empty(), "{assignment_now:?}");
    let found = intake_client
        .list_requests(intake::ListRequestsRequest {
            text: NOTE_WORD.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(found.requests.is_empty());

    // Bad calls name their field and erase nothing.
    for (req, field) in [
        (
            intake::EraseRequestRequest {
                reason: "x".into(),
                ..Default::default()
            },
            "name",
        ),
        (
            intake::EraseRequestRequest {
                reference_code: code.clone(),
                ..Default::default()
            },
            "reason",
        ),
        (
            intake::EraseRequestRequest {
                reference_code: "NOT-A-CODE".into(),
                reason: "x".into(),
                ..Default::default()
            },
            "reference_code",
        ),
    ] {
        let err = intake_client.erase_request(req).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(err.message().contains(field), "{field}: {}", err.message());
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_erases_finished_requests_and_spares_open_ones() {
    let system = System::start_tuned_intake(|c| {
        c.retention_secs = 2;
        c.retention_sweep_secs = 1;
    })
    .await;
    let mut intake_client = system.intake_client().await;
    let kegen = find("Kegen", "Almaty Region");
    // Nobody can take either: one stays escalated, the other is cancelled.
    let open = create_request(
        &mut intake_client,
        Some(("Бақыт Омарова", "+7 705 222 33 44")),
        kegen,
        at(kegen),
        "Зейнеткер Омароваға отын керек",
    )
    .await;
    let cancelled = create_request(
        &mut intake_client,
        Some(("Сәуле Ахметова", "+7 705 444 55 66")),
        kegen,
        at(kegen),
        "Ахметова апаға көмір керек",
    )
    .await;
    for r in [&open, &cancelled] {
        wait_request(&intake_client, &r.name, "triaged", |r| r.triage.is_some()).await;
    }
    intake_client
        .cancel_request(intake::CancelRequestRequest {
            name: cancelled.name.clone(),
            reason: "Көмірді көршілері әкелді".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let erased = wait_request(&intake_client, &cancelled.name, "erased", |r| {
        r.erasure.is_some()
    })
    .await;
    let erasure = erased.erasure.unwrap();
    assert_eq!(erasure.erased_by, "retention");
    assert!(erased.description.is_empty());
    assert!(erased.caller.unwrap().display_name.is_empty());
    assert_eq!(erased.status, pb::RequestStatus::Cancelled as i32);

    // Triage forgets its copy of the note too.
    let pool = PgPool::connect(system.db.url()).await.unwrap();
    let id: Uuid = cancelled
        .name
        .trim_start_matches("requests/")
        .parse()
        .unwrap();
    let blank = eventually(Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            let (note, hash): (String, Option<Vec<u8>>) = sqlx::query_as(
                "SELECT note, caller_blind_index FROM triage.decisions WHERE request_id = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .ok()?;
            (note.is_empty() && hash.is_none()).then_some(())
        }
    })
    .await;
    assert!(blank.is_some(), "triage kept the erased request's note");

    // The open request keeps everything, however old.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kept = intake_client
        .get_request(intake::GetRequestRequest {
            name: open.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(kept.erasure.is_none());
    assert_eq!(kept.description, "Зейнеткер Омароваға отын керек");
    assert_eq!(kept.caller.unwrap().display_name, "Бақыт Омарова");
    system.stop().await;
}
