//! What deploy/ holds is valid and says what the tests run: the compose file parses and checks
//! (docker-compose, no engine needed), the Kubernetes overlays build (kubectl's kustomize) and
//! their manifests pass Kubernetes' schemas (kubernetes-validate, strict), with the replicas,
//! probes, disruption budgets and network policies a cluster needs; and the NATS settings of
//! both are deploy/nats/cluster.conf, the file the cluster tests start their nodes from.
//! deploy/test.sh installs the tools (deploy/lib.sh, `ensure_tools`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// nats-server, where Debian puts it.
fn nats_server() -> PathBuf {
    [
        "/usr/sbin/nats-server",
        "/usr/local/sbin/nats-server",
        "/usr/bin/nats-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .unwrap_or_else(|| PathBuf::from("nats-server"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}; deploy/test.sh installs the tools"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The NATS configuration embedded in the Kubernetes ConfigMap, as the file it mounts.
fn configmap_conf(nats_yaml: &str) -> String {
    let mut lines = nats_yaml.lines();
    lines
        .by_ref()
        .find(|l| l.trim() == "cluster.conf: |")
        .expect("the ConfigMap holds cluster.conf");
    let mut out = String::new();
    for line in lines.take_while(|l| *l != "---") {
        out.push_str(line.strip_prefix("    ").unwrap_or(line));
        out.push('\n');
    }
    out
}

#[test]
fn the_nats_settings_are_one_file_everywhere() {
    let root = root();
    let conf = std::fs::read_to_string(root.join("deploy/nats/cluster.conf")).unwrap();
    let nats_yaml = std::fs::read_to_string(root.join("deploy/k8s/base/nats.yaml")).unwrap();
    assert_eq!(
        configmap_conf(&nats_yaml),
        conf,
        "k8s/base/nats.yaml differs from nats/cluster.conf"
    );
    let compose = std::fs::read_to_string(root.join("deploy/compose.yaml")).unwrap();
    assert_eq!(
        compose
            .matches("./nats/cluster.conf:/etc/nats/cluster.conf:ro")
            .count(),
        3,
        "every compose node mounts deploy/nats/cluster.conf"
    );
    // nats-server itself accepts it, with a node's values.
    run(Command::new(nats_server())
        .args(["-c", "deploy/nats/cluster.conf", "-t"])
        .current_dir(&root)
        .env("KOMEK_NATS_NAME", "nats-0")
        .env("KOMEK_NATS_LISTEN", "0.0.0.0:4222")
        .env("KOMEK_NATS_MONITOR", "0.0.0.0:8222")
        .env("KOMEK_NATS_STORE", "/data")
        .env("KOMEK_NATS_CLUSTER_LISTEN", "0.0.0.0:6222")
        .env("KOMEK_NATS_ROUTE_0", "nats-route://nats-0:6222")
        .env("KOMEK_NATS_ROUTE_1", "nats-route://nats-1:6222")
        .env("KOMEK_NATS_ROUTE_2", "nats-route://nats-2:6222"));
    // The test harness starts its cluster nodes from the same file.
    let testkit = std::fs::read_to_string(root.join("crates/testkit/src/lib.rs")).unwrap();
    assert!(testkit.contains("deploy/nats/cluster.conf"));
    let up = std::fs::read_to_string(root.join("deploy/up.sh")).unwrap();
    assert!(up.contains("deploy/nats/cluster.conf"));
}

#[test]
fn the_compose_file_checks() {
    let root = root();
    let secrets = [
        "POSTGRES_PASSWORD",
        "KOMEK_AUTH__KEY_PEPPER",
        "KOMEK_AUTH__SERVICE_SECRET",
        "KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY",
        "KOMEK_PII__KEYS__K1",
        "KOMEK_PII__INDEX_KEY",
    ];
    let mut cmd = Command::new("docker-compose");
    cmd.args(["-f", "deploy/compose.yaml", "config"])
        .current_dir(&root);
    for s in secrets {
        cmd.env(s, "checked-value");
    }
    let config = run(&mut cmd);
    for service in [
        "nats-0",
        "nats-1",
        "nats-2",
        "postgres",
        "intake-1",
        "intake-2",
        "triage-1",
        "triage-2",
        "roster-1",
        "roster-2",
        "matching-1",
        "matching-2",
        "console",
        "otel-collector",
        "jaeger",
        "prometheus",
        "grafana",
    ] {
        assert!(
            config.contains(&format!("  {service}:\n")),
            "no {service} in compose"
        );
    }
    assert!(config.contains("KOMEK_STREAM_REPLICAS: '3'"), "{config}");
    // Without the secrets it refuses, naming the way to make them.
    let mut bare = Command::new("docker-compose");
    bare.args(["-f", "deploy/compose.yaml", "config", "-q"])
        .current_dir(&root);
    for s in secrets {
        bare.env_remove(s);
    }
    let out = bare.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("compose-secrets.sh"));
    // Prometheus scrapes the replicas the compose file runs.
    let scrape =
        std::fs::read_to_string(root.join("deploy/observability/prometheus/prometheus.yml"))
            .unwrap();
    for target in [
        "intake-1:9100",
        "matching-2:9100",
        "roster-2:9100",
        "triage-1:9100",
    ] {
        assert!(scrape.contains(target), "{target} not scraped");
    }
}

/// The overlay `name` built by kubectl's kustomize and checked against Kubernetes' schemas.
fn overlay(name: &str) -> String {
    let root = root();
    let built = run(Command::new("kubectl")
        .args(["kustomize", &format!("deploy/k8s/overlays/{name}")])
        .current_dir(&root));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, &built).unwrap();
    let validate = root.join("target/komek-tools/venv/bin/kubernetes-validate");
    assert!(
        Path::new(&validate).exists(),
        "kubernetes-validate missing; deploy/test.sh installs it"
    );
    let report = run(Command::new(&validate)
        .args(["--strict", "-k", "1.30.0"])
        .arg(&file));
    assert!(report.contains("passed"), "{report}");
    built
}

/// The documents of a multi-document YAML text.
fn documents(yaml: &str) -> Vec<&str> {
    yaml.split("\n---\n").collect()
}

#[test]
fn the_kubernetes_overlays_build_and_pass_the_schemas() {
    for name in ["production", "external-db"] {
        let built = overlay(name);
        let docs = documents(&built);
        let kind = |k: &str, n: &str| {
            docs.iter()
                .find(|d| {
                    d.contains(&format!("kind: {k}\n")) && d.contains(&format!("\n  name: {n}\n"))
                })
                .unwrap_or_else(|| panic!("{name}: no {k} {n}"))
                .to_string()
        };
        let nats = kind("StatefulSet", "nats");
        assert!(
            nats.contains("replicas: 3"),
            "{name}: NATS runs three nodes"
        );
        kind("PodDisruptionBudget", "nats");
        for service in ["intake", "triage", "roster", "matching", "console"] {
            let d = kind("Deployment", service);
            assert!(
                !d.contains("replicas: 1\n"),
                "{name}: {service} runs one replica"
            );
            assert!(d.contains("readinessProbe:") && d.contains("livenessProbe:"));
            assert!(d.contains("resources:") && d.contains("runAsNonRoot: true"));
            kind("PodDisruptionBudget", service);
            kind("Service", service);
        }
        for service in ["intake", "triage", "roster", "matching"] {
            let d = kind("Deployment", service);
            assert!(
                d.contains("grpc:\n"),
                "{name}: {service} has a gRPC health probe"
            );
            assert!(d.contains("KOMEK_STREAM_REPLICAS"));
        }
        kind("NetworkPolicy", "default-deny-ingress");
        kind("NetworkPolicy", "nats");
        kind("NetworkPolicy", "postgres");
        assert!(built.contains("namespace: komek"));
    }
    let production = overlay("production");
    assert!(
        production.contains("kind: Cluster\n"),
        "CloudNativePG cluster"
    );
    assert!(production.contains("registry.example.kz/komek/komek:0.1.0"));
    let external = overlay("external-db");
    assert!(!external.contains("kind: Cluster\n"));
    assert_eq!(external.matches("name: komek-external-db").count(), 4);
}

#[test]
fn the_image_holds_every_binary_the_deployments_run() {
    let root = root();
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).unwrap();
    for binary in ["intake", "triage", "roster", "matching", "console", "komek"] {
        assert!(
            dockerfile.contains(&format!("target/release/{binary}")),
            "the image lacks {binary}"
        );
    }
    // Every binary the image copies is one the workspace builds.
    for (package, binary) in [
        ("services/intake", "intake"),
        ("services/triage", "triage"),
        ("services/roster", "roster"),
        ("services/matching", "matching"),
        ("services/console", "console"),
        ("crates/cli", "komek"),
    ] {
        let manifest = std::fs::read_to_string(root.join(package).join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{package} builds no {binary}"
        );
    }
}
