//! The volunteer's app on a phone-sized screen (360×640), in headless Chromium through
//! WebDriver, against the four services on real NATS and PostgreSQL, in Kazakh (and Russian and
//! English, for the screenshots): a dispatcher makes a one-time sign-in link; the phone opens
//! it and signs in; an offer arrives live with what is needed; the volunteer accepts and sees
//! the caller's phone and the address; goes on the way with the phone's position emulated, and
//! the position reaches the dispatcher's request page; arrives; completes. Then the phone's
//! connection drops (a proxy between it and the console) while an offer is made: back online,
//! the missed offer arrives once and the one seen before does not come again. A lost child is
//! offered to two search teams at once; the card says so, and the one who accepts first leads.
//! Every screen passes axe-core with no serious or critical finding.
//!
//! With `KOMEK_SCREENSHOTS=<dir>` each screen is saved there as `app-<screen>-<lang>.png`.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::net::SocketAddr;
use std::time::Duration;

use komek_i18n::{Lang, text};
use komek_proto::intake::v1 as intake;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;
use komek_tests::browser::{Browser, assert_accessible, axe_source, run_scenario};
use komek_tests::nemesis::proxy::{Link, Proxy};
use komek_tests::settlements::find;
use komek_tests::{System, at, create_group, create_organization, create_volunteer, wait_request};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        request.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

fn form_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn after<'a>(page: &'a str, needle: &str) -> &'a str {
    let at = page
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in {page}"))
        + needle.len();
    page[at..].split('"').next().unwrap()
}

async fn shot(browser: &Browser, screen: &str, lang: Lang) {
    if let Some(dir) = std::env::var_os("KOMEK_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = browser.screenshot().await;
        std::fs::write(dir.join(format!("app-{screen}-{}.png", lang.code())), png).unwrap();
    }
}

async fn scenario(lang: Lang, note: &str) {
    let axe = axe_source();
    let system = System::start().await;
    let stop = CancellationToken::new();
    let console = komek_tests::start_console(&system, &stop).await;
    // The phone reaches the console through a proxy that can drop its connections, as a
    // phone network does.
    let proxy = Proxy::start(console).await;
    let console = proxy.addr();
    let base = format!("http://{console}");

    let shieli = find("Chiili", "Kyzylorda Region");
    let mut roster_client = system.roster_client().await;
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
    // Дәурен is in Shieli's search team too, and Sasykkum has one: a lost child is theirs.
    let mut search_teams = Vec::new();
    for (name, place) in [
        ("Шиелі іздеушілері", shieli),
        ("Сасықкөл іздеушілері", find("Sasykkum", "Kyzylorda Region")),
    ] {
        let team = create_group(
            &mut roster_client,
            &org.name,
            name,
            place,
            &[pb::Skill::SearchRescue],
            pb::Availability::Available,
            &Uuid::new_v4().to_string(),
        )
        .await;
        search_teams.push(team.name);
    }
    let volunteer = create_volunteer(
        &mut roster_client,
        "Дәурен Сейітов",
        vec![group.name.clone(), search_teams[0].clone()],
    )
    .await;
    create_volunteer(
        &mut roster_client,
        "Бекзат Омаров",
        vec![search_teams[1].clone()],
    )
    .await;
    system.wait_roster_published(6).await;

    // The dispatcher makes a one-time link for Дәурен's phone.
    let origin = ("Origin", base.as_str());
    let body = format!("key={}", form_value(&system.dispatcher_key));
    let (_, head, _) = http(console, "POST", "/sign-in", &[origin], &body).await;
    let cookie = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim().split(';').next().unwrap().to_string())
        })
        .unwrap();
    let desk = ("Cookie", cookie.as_str());
    let (_, _, roster_page) = http(console, "GET", "/roster", &[desk], "").await;
    let csrf = after(&roster_page, r#"name="csrf" value=""#).to_string();
    let (status, _, made) = http(
        console,
        "POST",
        "/roster/sign-in-link",
        &[origin, desk],
        &format!("csrf={csrf}&volunteer={}", form_value(&volunteer.name)),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let link = after(&made, r#"id="join-link">"#)
        .split('<')
        .next()
        .unwrap()
        .to_string();
    assert!(link.starts_with(&format!("{base}/app/join/")), "{link}");
    assert!(
        made.contains(r#"<svg class="qr" role="img""#),
        "a QR code of the link"
    );

    // 1. The phone opens the link and signs in.
    let phone = Browser::phone(lang.code(), 360, 640).await;
    phone.goto(&link).await;
    assert_accessible(&phone, &axe, "join").await;
    shot(&phone, "join", lang).await;
    phone.click("form[action^='/app/join/'] button").await;
    phone
        .wait_until(
            "the offer stream live",
            Duration::from_secs(15),
            "const e = document.getElementById('offers-state'); return !!e && e.dataset.state === 'live';",
            vec![],
        )
        .await;
    // The link works once.
    let (again, _, _) = http(
        console,
        "POST",
        link.trim_start_matches(&base),
        &[origin],
        "",
    )
    .await;
    assert_eq!(again, 404, "a used link signs nobody in");
    assert_accessible(&phone, &axe, "offers-empty").await;

    // 2. A call comes in; the offer appears without a reload, saying what is needed.
    let mut intake_client = system.intake_client().await;
    let created = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                display_name: "Гүлнар Әбенова".into(),
                phone: "8 701 555 44 21".into(),
                preferred_language: pb::Language::Kazakh as i32,
                anonymous: false,
            }),
            location: Some(pb::Location {
                point: Some(at(shieli)),
                address: "Абай көшесі 12".into(),
                settlement: shieli.name_en.clone(),
                district: shieli.district.clone(),
                region: shieli.region.clone(),
                ..Default::default()
            }),
            description: note.into(),
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
    phone
        .wait_text("#offers", &created.volunteer_note, Duration::from_secs(30))
        .await;
    let card = phone.text("article.offer").await;
    assert!(
        !card.contains("Әбенова") && !card.contains("555"),
        "no personal data: {card}"
    );
    assert!(
        card.contains(&text(lang, "category-fuel-delivery")),
        "{card}"
    );
    assert_accessible(&phone, &axe, "offer").await;
    shot(&phone, "offer", lang).await;

    // 3. Accepted: who to call, where to go.
    phone
        .click("article.offer form[action$='/accept'] button")
        .await;
    phone.find("a[href^='tel:']").await;
    let tel = phone
        .run(
            "return document.querySelector(\"a[href^='tel:']\").getAttribute('href');",
            vec![],
        )
        .await;
    assert_eq!(tel, json!("tel:+77015554421"));
    assert!(phone.text(".address").await.contains("Абай көшесі 12"));
    assert_accessible(&phone, &axe, "job").await;
    shot(&phone, "job", lang).await;

    // 4. On the way, the phone says where it is; the dispatcher's page shows it.
    phone
        .devtools(
            "Browser.grantPermissions",
            json!({"origin": base, "permissions": ["geolocation"]}),
        )
        .await;
    phone
        .devtools(
            "Emulation.setGeolocationOverride",
            json!({"latitude": 44.20, "longitude": 66.70, "accuracy": 20}),
        )
        .await;
    phone
        .click("form.step input[value='PROGRESS_STEP_EN_ROUTE'] ~ button")
        .await;
    phone
        .wait_until(
            "a position sent",
            Duration::from_secs(20),
            "const j = document.querySelector('article.job'); return !!j && Number(j.dataset.positionsSent || '0') > 0;",
            vec![],
        )
        .await;
    let request_page = format!("/requests/{}", created.name.trim_start_matches("requests/"));
    let mut seen = false;
    for _ in 0..50 {
        let (_, _, page) = http(console, "GET", &request_page, &[desk], "").await;
        if page.contains(r#"id="group-position""#) && page.contains("44.2000, 66.7000") {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen, "the position reached the dispatcher's request page");
    shot(&phone, "en-route", lang).await;

    // 5. Arrived, then done.
    phone
        .click("form.step input[value='PROGRESS_STEP_ON_SITE'] ~ button")
        .await;
    phone.find("select#outcome").await;
    phone
        .click("form.step input[value='PROGRESS_STEP_COMPLETED'] ~ button")
        .await;
    phone
        .wait_until(
            "completed",
            Duration::from_secs(10),
            "const j = document.querySelector('article.job'); return !!j && j.dataset.status === 'ASSIGNMENT_STATUS_COMPLETED';",
            vec![],
        )
        .await;
    wait_request(&intake_client, &created.name, "resolved", |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.status == pb::AssignmentStatus::Completed as i32)
    })
    .await;
    shot(&phone, "done", lang).await;

    // 6. The connection drops while an offer is made: after it comes back, the offer is
    // there, once, and the offer seen before the drop does not come again (a stream started
    // afresh would send it once more as pending: only resuming from the cursor avoids that).
    phone.goto(&format!("{base}/app")).await;
    phone
        .wait_until(
            "the offer stream live again",
            Duration::from_secs(15),
            "const e = document.getElementById('offers-state'); return !!e && e.dataset.state === 'live';",
            vec![],
        )
        .await;
    let before = phone
        .run(
            "return Number(document.getElementById('offers').dataset.received || '0');",
            vec![],
        )
        .await;
    let anonymous_call = |note: &str| intake::CreateRequestRequest {
        request_id: Uuid::new_v4().to_string(),
        channel: pb::Channel::Hotline as i32,
        caller: Some(intake::Caller {
            anonymous: true,
            ..Default::default()
        }),
        location: Some(pb::Location {
            point: Some(at(shieli)),
            settlement: shieli.name_en.clone(),
            district: shieli.district.clone(),
            region: shieli.region.clone(),
            ..Default::default()
        }),
        description: note.into(),
        ..Default::default()
    };
    let seen = intake_client
        .create_request(anonymous_call("Ардагерге көмір керек, 1 тонна"))
        .await
        .unwrap()
        .into_inner();
    phone
        .wait_text("#offers", &seen.volunteer_note, Duration::from_secs(30))
        .await;
    proxy.set(Link::Down);
    phone
        .wait_until(
            "the app offline",
            Duration::from_secs(15),
            "const e = document.getElementById('offers-state'); return !!e && e.dataset.state === 'offline';",
            vec![],
        )
        .await;
    let missed = intake_client
        .create_request(anonymous_call("Жалғыз әжеге отын керек"))
        .await
        .unwrap()
        .into_inner();
    wait_request(
        &intake_client,
        &missed.name,
        "offered while the phone was away",
        |r| r.assignment.is_some(),
    )
    .await;
    proxy.set(Link::Healthy);
    phone
        .wait_text("#offers", &missed.volunteer_note, Duration::from_secs(30))
        .await;
    // Give a repeat the time to arrive, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counts = phone
        .run(
            "const b = document.getElementById('offers'); return [Number(b.dataset.received || '0'), b.querySelectorAll('article.offer').length];",
            vec![],
        )
        .await;
    assert_eq!(
        counts,
        json!([before.as_u64().unwrap() + 2, 2]),
        "the offer seen before the drop came once, the missed one arrived once"
    );

    // A cursor of a feed made again since (the database restored from a backup) starts the
    // feed afresh: the open offers come again, rather than a refusal that leaves the page
    // without offers.
    let fresh = phone
        .run(
            "return (async () => {
               const r = await fetch('/app/offers', {headers: {'Last-Event-ID': 'v2.1.1'}});
               if (!r.ok) return [r.status, false];
               const reader = r.body.getReader();
               const until = Date.now() + 10000;
               let text = '';
               while (!text.includes(arguments[0]) && Date.now() < until) {
                 const {value, done} = await reader.read();
                 if (done) break;
                 text += new TextDecoder().decode(value);
               }
               reader.cancel();
               return [r.status, text.includes(arguments[0])];
             })();",
            vec![json!(seen.volunteer_note)],
        )
        .await;
    assert_eq!(
        fresh,
        json!([200, true]),
        "a stale cursor starts the feed afresh"
    );

    // 7. A child is lost: both search teams are offered it at once, and the card says so.
    // Дәурен accepts first and leads the search.
    let lost = intake_client
        .create_request(intake::CreateRequestRequest {
            operator_category: pb::Category::SearchOperation as i32,
            operator_priority: pb::Priority::Critical as i32,
            ..anonymous_call("Бала жоғалып кетті, 9 жаста, кешке үйден шығып, қайтпады")
        })
        .await
        .unwrap()
        .into_inner();
    phone
        .wait_text(
            "#offers",
            &text(lang, "app-wide-search"),
            Duration::from_secs(30),
        )
        .await;
    let wide = phone.text("article.offer:has(p.wide)").await;
    assert!(wide.contains(&lost.volunteer_note), "{wide}");
    assert_accessible(&phone, &axe, "wide-offer").await;
    shot(&phone, "wide-offer", lang).await;
    phone
        .click("article.offer:has(p.wide) form[action$='/accept'] button")
        .await;
    phone
        .wait_text(
            "article.job .status",
            &text(lang, "search-role-lead"),
            Duration::from_secs(15),
        )
        .await;
    assert_accessible(&phone, &axe, "wide-job").await;
    shot(&phone, "wide-job", lang).await;

    phone.close().await;
    stop.cancel();
    system.stop().await;
}

fn run(lang: Lang, note: &'static str) {
    run_scenario(move || scenario(lang, note));
}

#[test]
fn a_volunteer_takes_a_coal_job_on_a_phone_in_kazakh() {
    run(
        Lang::Kk,
        "Гүлнар апаға көмір керек, 2 тонна. Тел 8 701 555 44 21",
    );
}

#[test]
fn a_volunteer_takes_a_coal_job_on_a_phone_in_russian() {
    run(
        Lang::Ru,
        "Гүлнар апе нужен уголь, 2 тонны. Тел 8 701 555 44 21",
    );
}

#[test]
fn a_volunteer_takes_a_coal_job_on_a_phone_in_english() {
    run(
        Lang::En,
        "Gulnar needs coal, 2 tonnes. Phone 8 701 555 44 21",
    );
}
