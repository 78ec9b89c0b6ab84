//! The scenarios of `support/scenarios.rs`, each an end-to-end test on its own system: a
//! Kyzylorda "109" line day, the Kegen coal season as a campaign and a plan, the Volozhin
//! line's office hours, and Shymkent outreach across its settlements. The same code is
//! `komek-demo scenario <name>` against a running Komek. Real NATS and PostgreSQL, four
//! servers.

use komek_tests::System;
use komek_tests::scenarios;

async fn run(name: &str) -> Vec<String> {
    let system = System::start().await;
    let mut komek = system.komek().await;
    let report = scenarios::run(name, &mut komek)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    for line in &report.0 {
        println!("{name}: {line}");
    }
    system.stop().await;
    report.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kyzylorda_109_day() {
    let report = run("kyzylorda-day").await;
    assert_eq!(report.len(), 6, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kegen_coal_season() {
    let report = run("kegen-coal").await;
    assert!(
        report[0].starts_with("6 of 6 coal calls wait"),
        "{report:?}"
    );
    assert!(
        report[1].starts_with("campaign placed 6 calls"),
        "{report:?}"
    );
    assert!(report[2].contains("serves 6 pensioners"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_volozhin_office_hours() {
    let report = run("volozhin-hours").await;
    assert!(report[0].contains("waits for the office"), "{report:?}");
    assert!(report[0].contains("08:30"), "{report:?}");
    assert!(report[1].contains("Сёстры милосердия"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shymkent_outreach() {
    let report = run("shymkent-outreach").await;
    assert!(
        report
            .iter()
            .any(|l| l.starts_with("statistics:") && l.contains("CHANNEL_PARTNER")),
        "{report:?}"
    );
}
