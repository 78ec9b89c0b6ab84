//! The console in a real browser (headless Chromium through WebDriver), against the four
//! services on real NATS and PostgreSQL, in Kazakh and in Russian (and English, for the
//! screenshots): a dispatcher signs in, records an anonymous call about coal for a pensioner in
//! a village of Kyzylorda Region by typing the village's name, reads the reference code back,
//! sees the request triaged and offered to the nearest group; the offer is declined and the
//! next one expires (driven through the API) and the escalated queue, open in the browser,
//! shows the request without a reload; the dispatcher assigns it by hand with a reason and the
//! audit shows it. Every screen passes axe-core with no serious or critical finding.
//!
//! With `KOMEK_SCREENSHOTS=<dir>` each screen is saved there as `<screen>-<lang>.png`
//! (`deploy/screenshots.sh` regenerates `docs/screenshots/`).

use std::time::Duration;

use komek_i18n::{Lang, text};
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_runtime::CancellationToken;
use komek_runtime::auth::Role;
use komek_tests::browser::{Browser, ENTER, assert_accessible, axe_source, run_scenario};
use komek_tests::settlements::find;
use komek_tests::{System, create_group, create_organization, create_volunteer, wait_request};
use serde_json::json;
use uuid::Uuid;

const OFFER_SECS: u64 = 4;
/// How long an escalated request may wait before dispatchers are alerted, in this scenario.
const LATE_SECS: u32 = 3;

struct Shots {
    dir: Option<std::path::PathBuf>,
    lang: &'static str,
}

impl Shots {
    async fn take(&self, browser: &Browser, screen: &str) {
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir).unwrap();
            let png = browser.full_screenshot().await;
            std::fs::write(dir.join(format!("{screen}-{}.png", self.lang)), png).unwrap();
        }
    }
}

/// What the dispatcher types, in the language of the scenario.
struct Words {
    village: &'static str,
    village_shown: &'static str,
    note: &'static str,
    reason: &'static str,
}

async fn scenario(lang: Lang, words: Words) {
    let axe = axe_source();
    // Escalated requests wait at most a few seconds before dispatchers are alerted.
    let tune_intake = |c: &mut komek_intake::Config| {
        let soon = Some(LATE_SECS);
        c.waiting_limits.escalated = komek_core::waiting::PerPriority {
            critical_secs: soon,
            high_secs: soon,
            normal_secs: soon,
            low_secs: soon,
        };
        c.waiting_sweep_secs = 1;
    };
    let system = System::start_tuned_both(tune_intake, |c| {
        c.offer_ttl.normal_secs = OFFER_SECS;
        c.offer_ttl.high_secs = OFFER_SECS;
        c.offer_ttl.critical_secs = OFFER_SECS;
        c.offer_ttl.low_secs = OFFER_SECS;
        c.expiry_sweep_ms = 200;
        c.max_attempts = 2;
    })
    .await;
    let stop = CancellationToken::new();
    let console = komek_tests::start_console(&system, &stop).await;
    let base = format!("http://{console}");
    let shots = Shots {
        dir: std::env::var_os("KOMEK_SCREENSHOTS").map(Into::into),
        lang: lang.code(),
    };

    // Two coal groups of Kazaly district: at Shaken, 30 km from the village, and at Kazaly
    // town, 70 km.
    let sholkum = find("Sholkum", "Kyzylorda Region");
    let shaken = find("Shaken", "Kyzylorda Region");
    let kazaly = find("Kazalinsk", "Kyzylorda Region");
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Қазалы ауданы әкімдігі",
        roster::OrganizationKind::AkimatService,
        &["Kyzylorda Region"],
    )
    .await;
    let mut groups = Vec::new();
    let mut apps = Vec::new();
    for (place, name) in [(shaken, "Шәкен көмір"), (kazaly, "Қазалы жастары")]
    {
        let group = create_group(
            &mut roster_client,
            &org.name,
            name,
            place,
            &[pb::Skill::VehicleCargo, pb::Skill::GeneralLabour],
            pb::Availability::Available,
            &Uuid::new_v4().to_string(),
        )
        .await;
        let volunteer = create_volunteer(
            &mut roster_client,
            &format!("{name} жүргізуші"),
            vec![group.name.clone()],
        )
        .await;
        groups.push(group);
        apps.push((
            volunteer.name.clone(),
            system.volunteer_app(&volunteer.name).await,
        ));
    }
    system.wait_roster_published(4).await;
    let dispatcher = system
        .issue_key(Role::Dispatcher, "dispatchers/aigerim", &[])
        .await;

    let browser = Browser::start(lang.code()).await;

    // 1. Sign in, in the browser's language.
    browser.goto(&format!("{base}/")).await;
    browser.find("#key").await;
    assert_eq!(
        browser
            .run("return document.documentElement.lang;", vec![])
            .await,
        json!(lang.code()),
        "the browser's language picks the page's"
    );
    assert_accessible(&browser, &axe, "sign-in").await;
    shots.take(&browser, "sign-in").await;
    browser.type_into("#key", &dispatcher).await;
    browser.click("form[action='/sign-in'] button").await;
    browser.find("a.count").await;
    assert_accessible(&browser, &axe, "home").await;
    shots.take(&browser, "home").await;

    // 2. A new call: anonymous, the village typed and picked from the suggestions with the
    // keyboard, the note, 2 tonnes.
    browser.click("nav.menu a[href='/calls/new']").await;
    browser.click("#anonymous").await;
    browser.type_into("#place", words.village).await;
    browser.find("#place-listbox [role=option]").await;
    assert_accessible(&browser, &axe, "new-call").await;
    shots.take(&browser, "new-call").await;
    // The first suggestion, already marked, is the village itself: Enter takes it.
    browser.wait_until(
        "the village suggested first",
        Duration::from_secs(5),
        "const o = document.querySelector('#place-listbox [aria-selected=true]'); return !!o && o.textContent.includes(arguments[0]);",
        vec![json!(words.village_shown)],
    )
    .await;
    browser.type_into("#place", ENTER).await;
    browser
        .wait_text("#place-chosen", words.village_shown, Duration::from_secs(5))
        .await;
    let filled = browser
        .run(
            "return [document.querySelector('input[name=region]').value, document.querySelector('input[name=district]').value, document.querySelector('input[name=lat]').value];",
            vec![],
        )
        .await;
    assert_eq!(filled[0], json!("Kyzylorda Region"), "{filled}");
    assert_eq!(filled[1], json!(sholkum.district), "{filled}");
    assert!(filled[2].as_str().unwrap().starts_with("46.3"), "{filled}");
    browser.type_into("#note", words.note).await;
    browser.type_into("#quantity", "2").await;
    browser.click("#call-form button[type=submit]").await;

    // 3. The reference code, large, to read back.
    let code = browser.text(".refcode").await;
    assert!(
        code.len() >= 8 && code.contains('-'),
        "a reference code: {code:?}"
    );
    assert!(browser.url().await.contains("/saved"));
    assert_accessible(&browser, &axe, "saved").await;
    shots.take(&browser, "saved").await;

    // 4. The request's page: triaged as coal delivery and offered to the nearest group.
    browser.click(".saved a[href^='/requests/']").await;
    let request = format!(
        "requests/{}",
        browser
            .url()
            .await
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
    );
    let fuel = text(lang, "category-fuel-delivery");
    browser
        .wait_text("#live", &fuel, Duration::from_secs(30))
        .await;
    browser
        .wait_text("#live", "Шәкен көмір", Duration::from_secs(30))
        .await;
    browser
        .wait_text(
            "#live",
            &text(lang, "candidate-chosen"),
            Duration::from_secs(30),
        )
        .await;
    let note_marks = browser
        .run(
            "return Array.from(document.querySelectorAll('blockquote.note mark')).map(m => m.textContent);",
            vec![],
        )
        .await;
    assert!(
        !note_marks.as_array().unwrap().is_empty(),
        "the words triage matched are marked in the note"
    );
    assert_accessible(&browser, &axe, "request").await;
    shots.take(&browser, "request").await;

    // 4b. A dropped call triage cannot read: flagged for the dispatcher, nobody sent, and the
    // page says so in the dispatcher's language, with who decided what.
    let mut intake_for_calls = system.intake_client().await;
    let garbled = komek_tests::create_request(
        &mut intake_for_calls,
        None,
        sholkum,
        komek_tests::at(sholkum),
        "Алло, алло, не слышно",
    )
    .await;
    browser.goto(&format!("{base}/{}", garbled.name)).await;
    browser
        .wait_text(
            "#unclassified",
            &text(lang, "triage-unclassified"),
            Duration::from_secs(30),
        )
        .await;
    browser
        .wait_text(
            "ul.rules",
            &text(lang, "triage-part-unclassified"),
            Duration::from_secs(10),
        )
        .await;
    browser
        .wait_text(
            "#live",
            &text(lang, "ineligible-reason-unclassified"),
            Duration::from_secs(30),
        )
        .await;
    assert_accessible(&browser, &axe, "request-unclassified").await;
    shots.take(&browser, "request-unclassified").await;

    // 5. The escalated queue is open while the offers fail, through the API.
    browser
        .goto(&format!("{base}/queues?queue=QUEUE_ESCALATED"))
        .await;
    browser
        .wait_until(
            "the queue watching",
            Duration::from_secs(10),
            "return document.getElementById('queue').dataset.watching === 'true';",
            vec![],
        )
        .await;
    browser.run("window.stillTheSamePage = true;", vec![]).await;
    assert!(!browser.text("#queue").await.contains(&code));

    let intake_client = system.intake_client().await;
    let first = wait_request(&intake_client, &request, "offered to Shaken", |r| {
        r.assignment
            .as_ref()
            .is_some_and(|a| a.group == groups[0].name)
    })
    .await;
    let (volunteer, app) = &mut apps[0];
    app.decline_offer(matching::DeclineOfferRequest {
        name: first.assignment.unwrap().assignment,
        request_id: Uuid::new_v4().to_string(),
        volunteer: volunteer.clone(),
        reason: "машина сломалась".into(),
    })
    .await
    .unwrap();
    // Kazaly's offer is left to expire; then nobody is left and the request escalates.
    browser
        .wait_text("#queue", &code, Duration::from_secs(OFFER_SECS * 8))
        .await;
    assert_eq!(
        browser
            .run("return window.stillTheSamePage === true;", vec![])
            .await,
        json!(true),
        "the queue updated without a reload"
    );
    // Left waiting past its limit, it is alerted above the queues, again without a reload.
    browser
        .wait_text(
            "section.late",
            &code,
            Duration::from_secs(u64::from(LATE_SECS) * 6),
        )
        .await;
    assert_accessible(&browser, &axe, "queues").await;
    shots.take(&browser, "queues").await;

    // 6. Assigned by hand with a reason; the audit shows who, what and why.
    browser
        .click(&format!("#queue a.code[href='/{request}']"))
        .await;
    browser.find("form[action$='/assign']").await;
    browser
        .run(
            "const s = document.getElementById('assign-group'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));",
            vec![json!(groups[0].name)],
        )
        .await;
    browser.type_into("#assign-reason", words.reason).await;
    browser.click("form[action$='/assign'] button").await;
    browser
        .wait_text(
            ".done",
            &text(lang, "action-done-assign"),
            Duration::from_secs(10),
        )
        .await;
    browser
        .wait_text("#h-audit + *", words.reason, Duration::from_secs(10))
        .await;
    browser
        .wait_text(
            "#h-audit + *",
            &text(lang, "audit-action-assignrequest"),
            Duration::from_secs(10),
        )
        .await;
    browser
        .wait_text(
            "#h-audit + *",
            "dispatchers/aigerim",
            Duration::from_secs(10),
        )
        .await;
    shots.take(&browser, "request-assigned").await;

    // 7. The roster with its map.
    browser.click("nav.menu a[href='/roster']").await;
    browser
        .wait_text("table.groups", "Шәкен көмір", Duration::from_secs(10))
        .await;
    assert_accessible(&browser, &axe, "roster").await;
    shots.take(&browser, "roster").await;

    // 8. The organisation's own workbook, uploaded as it is: previewed with how it was read,
    // then applied.
    let workbook = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/sheets/tests/data/roster.xlsx")
        .canonicalize()
        .unwrap();
    browser
        .type_into("#import-file", &workbook.to_string_lossy())
        .await;
    browser.click("form.import button[type=submit]").await;
    browser
        .wait_text(".preview", "Топтар", Duration::from_secs(10))
        .await;
    let preview = browser.text(".preview").await;
    assert!(preview.contains("XLSX"), "{preview}");
    assert!(!preview.contains("#N/A"), "{preview}");
    assert_accessible(&browser, &axe, "roster-import-preview").await;
    shots.take(&browser, "roster-import-preview").await;
    browser.click(".preview button[type=submit]").await;
    browser
        .wait_text(
            "table.groups",
            "Шелек көмір көлігі",
            Duration::from_secs(10),
        )
        .await;
    assert!(browser.text(".preview").await.contains("roster.xlsx"));

    // 9. A team disbands: deactivated with its reason, still listed greyed, then brought back.
    let reason_field = browser
        .run(
            "const row = [...document.querySelectorAll('table.groups tbody tr')]
               .find(r => r.textContent.includes('Талғар іздеушілері'));
             row.querySelector('details.deactivate summary').click();
             return '#' + row.querySelector('details.deactivate input[name=reason]').id;",
            vec![],
        )
        .await;
    let reason_field = reason_field.as_str().unwrap().to_string();
    browser.type_into(&reason_field, "Топ тарады").await;
    browser
        .click(&format!("{reason_field} + button[type=submit]"))
        .await;
    browser
        .wait_text(
            "table.groups tr.inactive",
            "Топ тарады",
            Duration::from_secs(10),
        )
        .await;
    assert_accessible(&browser, &axe, "roster-deactivated").await;
    shots.take(&browser, "roster-deactivated").await;
    browser
        .click("table.groups tr.inactive form button[type=submit]")
        .await;
    browser
        .wait_until(
            "the group is back",
            Duration::from_secs(10),
            "return document.querySelectorAll('table.groups tr.inactive').length === 0;",
            vec![],
        )
        .await;

    // 10. The garbled call was a mistake and the caller asks to be forgotten: cancelled, then
    // erased from its page, which keeps the facts and says when and why.
    intake_for_calls
        .cancel_request(komek_proto::intake::v1::CancelRequestRequest {
            name: garbled.name.clone(),
            reason: words.reason.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    browser.goto(&format!("{base}/{}", garbled.name)).await;
    browser.click("details.erase summary").await;
    browser.type_into("#erase-reason", words.reason).await;
    assert_accessible(&browser, &axe, "request-erase").await;
    shots.take(&browser, "request-erase").await;
    browser.click("details.erase button[type=submit]").await;
    browser
        .wait_text(
            ".status",
            &text(lang, "request-erased"),
            Duration::from_secs(10),
        )
        .await;
    assert!(!browser.text("main").await.contains("не слышно"));
    assert_accessible(&browser, &axe, "request-erased").await;
    shots.take(&browser, "request-erased").await;

    browser.close().await;
    stop.cancel();
    system.stop().await;
}

fn run(lang: Lang, words: Words) {
    run_scenario(move || scenario(lang, words));
}

#[test]
fn a_dispatcher_handles_a_coal_call_in_kazakh() {
    run(
        Lang::Kk,
        Words {
            village: "Шөлқұм",
            village_shown: "Шөлқұм",
            note: "Жалғыз тұратын зейнеткер әжеге көмір керек, 2 тонна. Үйі суып қалды.",
            reason: "Шәкен жүргізушісі көлікті жөндеп алды",
        },
    );
}

#[test]
fn a_dispatcher_handles_a_coal_call_in_russian() {
    run(
        Lang::Ru,
        Words {
            village: "Шолкум",
            village_shown: "Шолкум",
            note: "Одинокой пенсионерке нужен уголь, 2 тонны. В доме холодно.",
            reason: "Водитель из Шакена починил машину",
        },
    );
}

#[test]
fn a_dispatcher_handles_a_coal_call_in_english() {
    run(
        Lang::En,
        Words {
            village: "Sholkum",
            village_shown: "Sholkum",
            note: "A pensioner living alone needs coal, 2 tonnes. The house is cold.",
            reason: "The Shaken driver has repaired the truck",
        },
    );
}
