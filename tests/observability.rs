//! The committed dashboard and alert rules are valid: the alert rules pass `promtool check
//! rules` and their unit tests (`promtool test rules`), and every query of the Grafana
//! dashboard parses as PromQL (checked by promtool as a recording rule). The metric names they
//! use are checked against what the services export in `metrics.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs promtool (Debian's `prometheus` package; deploy/test.sh installs it) in `dir`.
fn promtool(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool not found: install Debian's prometheus package (deploy/test.sh does)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn alert_rules_are_valid_and_fire_when_they_should() {
    let dir = root().join("deploy/observability/prometheus");
    let checked = promtool(&dir, &["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&dir, &["test", "rules", "alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // The scrape configuration of the compose file loads too.
    let config = promtool(
        &dir,
        &["check", "config", "--syntax-only", "prometheus.yml"],
    );
    assert!(config.contains("SUCCESS"), "{config}");
}

#[test]
fn every_dashboard_query_parses() {
    let text =
        std::fs::read_to_string(root().join("deploy/observability/grafana/komek.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "komek-overview");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = std::collections::BTreeSet::new();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut queries = 0;
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "panel ids repeat"
        );
        assert!(panel["gridPos"]["w"].as_i64().unwrap() <= 24);
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            // Every query goes to the dashboard's chosen Prometheus.
            assert_eq!(target["datasource"]["uid"], "${datasource}");
            queries += 1;
            rules.push_str(&format!(
                "      - record: dashboard:query_{queries}\n        expr: {}\n",
                serde_json::to_string(expr).unwrap()
            ));
        }
    }
    assert!(queries >= 15, "only {queries} queries");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("queries.yml"), rules).unwrap();
    let checked = promtool(dir.path(), &["check", "rules", "queries.yml"]);
    assert!(
        checked.contains(&format!("SUCCESS: {queries} rules found")),
        "{checked}"
    );
}
