//! The partners' portal in headless Chromium, against the four services on real NATS and
//! PostgreSQL, in Kazakh (and Russian and English, for the screenshots): a partner signs in,
//! finds a request by its reference code, sees its status change without a reload, opens the
//! statistics and downloads them as CSV and XLSX, which are read back and count the request;
//! no page and no file carries the caller's name, phone or address. Every screen passes
//! axe-core with no serious or critical finding.
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
use komek_runtime::auth::Role;
use komek_tests::browser::{Browser, assert_accessible, axe_source, run_scenario};
use komek_tests::settlements::find;
use komek_tests::{System, at, create_group, create_organization};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const NAME: &str = "Гүлнар Әбенова";
const PHONE_DIGITS: &str = "7015554421";
const ADDRESS: &str = "Абай көшесі 12";

/// A GET with the browser's session cookie; the body's bytes.
async fn download(addr: SocketAddr, path: &str, cookie: &str, lang: Lang) -> (u16, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: komek_session={cookie}; komek_lang={}\r\n\r\n",
        lang.code()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..at]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, raw[at + 4..].to_vec())
}

/// The file `name` of a ZIP archive whose entries are stored uncompressed.
fn stored_entry(zip: &[u8], name: &str) -> Option<String> {
    let mut i = 0;
    while i + 30 <= zip.len() && zip[i..i + 4] == [0x50, 0x4b, 0x03, 0x04] {
        let le16 = |o: usize| u16::from_le_bytes([zip[i + o], zip[i + o + 1]]) as usize;
        let le32 = |o: usize| {
            u32::from_le_bytes([zip[i + o], zip[i + o + 1], zip[i + o + 2], zip[i + o + 3]])
                as usize
        };
        let size = le32(18);
        let name_len = le16(26);
        let extra = le16(28);
        let entry = String::from_utf8_lossy(&zip[i + 30..i + 30 + name_len]).to_string();
        let data = i + 30 + name_len + extra;
        if entry == name {
            return Some(String::from_utf8_lossy(&zip[data..data + size]).to_string());
        }
        i = data + size;
    }
    None
}

fn no_personal_data(what: &str, content: &str) {
    for personal in [NAME, "Әбенова", PHONE_DIGITS, "555 44 21", ADDRESS] {
        assert!(!content.contains(personal), "{what} shows {personal:?}");
    }
}

async fn shot(browser: &Browser, screen: &str, lang: Lang) {
    if let Some(dir) = std::env::var_os("KOMEK_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        let png = browser.full_screenshot().await;
        std::fs::write(
            dir.join(format!("partner-{screen}-{}.png", lang.code())),
            png,
        )
        .unwrap();
    }
}

async fn scenario(lang: Lang) {
    let axe = axe_source();
    let system = System::start().await;
    let stop = CancellationToken::new();
    let console = komek_tests::start_console(&system, &stop).await;
    let base = format!("http://{console}");

    let shieli = find("Chiili", "Kyzylorda Region");
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Қызылорда облысы әкімдігі",
        roster::OrganizationKind::AkimatService,
        &["Kyzylorda Region"],
    )
    .await;
    create_group(
        &mut roster_client,
        &org.name,
        "Шиелі көмір",
        shieli,
        &[pb::Skill::VehicleCargo],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    system.wait_roster_published(1).await;
    let partner = system
        .issue_key(Role::Partner, &org.name, &["Kyzylorda Region"])
        .await;
    let mut intake_client = system.intake_client().await;
    let created = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                display_name: NAME.into(),
                phone: "8 701 555 44 21".into(),
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
            description: "Зейнеткер әжеге көмір керек, 2 тонна".into(),
            people_count: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // 1. Signed in with the partner's key, the portal opens.
    let browser = Browser::start(lang.code()).await;
    browser.goto(&format!("{base}/sign-in")).await;
    browser.type_into("#key", &partner).await;
    browser.click("form[action='/sign-in'] button").await;
    browser.find("form[action='/partner/status']").await;
    browser
        .wait_text(
            "#partner-requests",
            &created.reference_code,
            Duration::from_secs(20),
        )
        .await;
    assert_accessible(&browser, &axe, "partner home").await;
    shot(&browser, "home", lang).await;
    no_personal_data("the portal's start", &browser.source().await);

    // 2. By reference code; the status changes live when the request is cancelled.
    browser
        .type_into("#code", &created.reference_code.to_lowercase())
        .await;
    browser.click("form[action='/partner/status'] button").await;
    browser
        .wait_until(
            "the watch open",
            Duration::from_secs(10),
            "const e = document.getElementById('live'); return !!e && e.dataset.watching === 'true';",
            vec![],
        )
        .await;
    browser.run("window.stillTheSamePage = true;", vec![]).await;
    assert_accessible(&browser, &axe, "partner status").await;
    intake_client
        .cancel_request(intake::CancelRequestRequest {
            name: created.name.clone(),
            reason: "туыстары көмектесті".into(),
            request_id: Uuid::new_v4().to_string(),
            etag: String::new(),
        })
        .await
        .unwrap();
    browser
        .wait_text(
            "#live .status",
            &text(lang, "request-status-cancelled"),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(
        browser
            .run("return window.stillTheSamePage === true;", vec![])
            .await,
        serde_json::json!(true),
        "the status changed without a reload"
    );
    shot(&browser, "status", lang).await;
    no_personal_data("the status page", &browser.source().await);

    // 3. Statistics, drawn, and downloaded as CSV and XLSX.
    browser.goto(&format!("{base}/partner/stats")).await;
    browser.find("svg.chart").await;
    assert_accessible(&browser, &axe, "partner stats").await;
    shot(&browser, "stats", lang).await;
    let page = browser.source().await;
    no_personal_data("the statistics page", &page);
    let fuel = text(lang, "category-fuel-delivery");
    assert!(page.contains(&fuel), "the request's category is counted");
    let csv_link = browser
        .run("return document.querySelector(\"a[href^='/partner/stats.csv']\").getAttribute('href');", vec![])
        .await;
    let csv_path = csv_link.as_str().unwrap().replace("&amp;", "&");
    let cookie = browser.cookie("komek_session").await.expect("a session");
    let (status, csv) = download(console, &csv_path, &cookie, lang).await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(csv).unwrap();
    no_personal_data("the CSV", &csv);
    let row = csv
        .lines()
        .find(|l| l.contains(&fuel))
        .unwrap_or_else(|| panic!("a row for {fuel} in {csv}"));
    let count: f64 = row.split(',').nth(1).unwrap().parse().unwrap();
    assert_eq!(count, 1.0, "{row}");
    let (status, book) = download(
        console,
        &csv_path.replace("stats.csv", "stats.xlsx"),
        &cookie,
        lang,
    )
    .await;
    assert_eq!(status, 200);
    assert!(book.starts_with(b"PK"), "a ZIP archive");
    let sheet = stored_entry(&book, "xl/worksheets/sheet1.xml").expect("the sheet");
    no_personal_data("the XLSX", &sheet);
    assert!(sheet.contains(&fuel), "{sheet}");
    assert!(sheet.contains("<v>1</v>"), "the request counted: {sheet}");
    assert!(stored_entry(&book, "xl/workbook.xml").is_some());

    browser.close().await;
    stop.cancel();
    system.stop().await;
}

fn run(lang: Lang) {
    run_scenario(move || scenario(lang));
}

#[test]
fn a_partner_follows_a_request_and_downloads_the_statistics_in_kazakh() {
    run(Lang::Kk);
}

#[test]
fn a_partner_follows_a_request_and_downloads_the_statistics_in_russian() {
    run(Lang::Ru);
}

#[test]
fn a_partner_follows_a_request_and_downloads_the_statistics_in_english() {
    run(Lang::En);
}
