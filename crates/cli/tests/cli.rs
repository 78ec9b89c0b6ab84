//! The `komek` binary against the four services (real NATS and PostgreSQL): an admin issues
//! keys, a roster file is checked and imported, an operator records a call by the settlement's
//! name, finds and explains it, a volunteer sees the offer stream and accepts; answers in the
//! three languages, JSON for scripts, and exit codes for refusals, missing things, bad keys and
//! services that are down. Settings also come from the config file.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::find;
use komek_tests::{
    ADMIN_KEY, System, create_group, create_organization, create_volunteer, eventually,
};
use serde_json::Value;
use tokio::io::AsyncBufReadExt;
use uuid::Uuid;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// `komek` with the system's URLs, `key` (if any) and a config directory of its own.
fn command(
    system: &System,
    config: &Path,
    key: Option<&str>,
    args: &[&str],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_komek"));
    cmd.args(args)
        .env_clear()
        .env("XDG_CONFIG_HOME", config)
        .env("KOMEK_INTAKE_URL", format!("http://{}", system.intake))
        .env("KOMEK_TRIAGE_URL", format!("http://{}", system.triage))
        .env("KOMEK_ROSTER_URL", format!("http://{}", system.roster))
        .env("KOMEK_MATCHING_URL", format!("http://{}", system.matching))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if let Some(key) = key {
        cmd.env("KOMEK_KEY", key);
    }
    cmd
}

async fn komek(system: &System, config: &Path, key: Option<&str>, args: &[&str]) -> Run {
    let out = command(system, config, key, args).output().await.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn komek_at_a_terminal_and_in_scripts() {
    let system = System::start().await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path();

    // An admin issues a dispatcher's key; the secret comes back once.
    let created = komek(
        &system,
        config,
        Some(ADMIN_KEY),
        &[
            "-o",
            "json",
            "keys",
            "create",
            "--role",
            "dispatcher",
            "--subject",
            "dispatchers/cli-test",
            "--name",
            "CLI test",
        ],
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let dispatcher = created.json()["secret"].as_str().unwrap().to_string();
    system.wait_key_known(&dispatcher).await;
    let listed = komek(
        &system,
        config,
        Some(ADMIN_KEY),
        &["--lang", "ru", "keys", "list"],
    )
    .await;
    assert_eq!(listed.code, 0);
    assert!(listed.stdout.contains("CLI test") && listed.stdout.contains("Диспетчер"));

    // A roster file far away in Kyzylorda Region: checked, refused with a bad row, imported.
    let mut roster_client = system.roster_client().await;
    let far = create_organization(
        &mut roster_client,
        "Қызылорда жастары",
        roster::OrganizationKind::YouthWing,
        &[],
    )
    .await;
    let shieli = find("Chiili", "Kyzylorda Region");
    let good = format!(
        "group,lat,lon,skills,capacity,region,volunteer\n\
         Шиелі көмір,{lat},{lon},vehicle_cargo:5,2,Kyzylorda Region,Дәурен\n\
         Шиелі көмір,{lat},{lon},vehicle_cargo:5,2,Kyzylorda Region,Айжан\n\
         Шиелі психолог,{lat},{lon},psychologist,1,Kyzylorda Region,\n",
        lat = shieli.lat,
        lon = shieli.lon
    );
    let file = home.path().join("roster.csv");
    std::fs::write(&file, &good).unwrap();
    let path = file.to_str().unwrap();
    let checked = komek(
        &system,
        config,
        Some(ADMIN_KEY),
        &[
            "-o",
            "json",
            "roster",
            "import",
            path,
            "--organization",
            &far.name,
            "--dry-run",
            "--batch",
            "1",
        ],
    )
    .await;
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert_eq!(checked.json()["applied"], false);
    assert_eq!(checked.json()["rows"], 3);
    let bad = good.replace(",1,Kyzylorda Region,\n", ",many,Kyzylorda Region,\n");
    std::fs::write(&file, &bad).unwrap();
    let refused = komek(
        &system,
        config,
        Some(ADMIN_KEY),
        &[
            "-o",
            "json",
            "roster",
            "import",
            path,
            "--organization",
            &far.name,
            "--batch",
            "1",
        ],
    )
    .await;
    assert_eq!(refused.code, 3, "{}", refused.stdout);
    let errors = refused.json()["errors"].as_array().unwrap().clone();
    assert_eq!(errors.len(), 1);
    // The line of the file, not of the batch it went in.
    assert_eq!(errors[0]["line"], 4);
    assert_eq!(errors[0]["column"], "capacity");
    assert_eq!(refused.json()["applied"], false);
    std::fs::write(&file, &good).unwrap();
    let imported = komek(
        &system,
        config,
        Some(ADMIN_KEY),
        &[
            "--lang",
            "kk",
            "roster",
            "import",
            path,
            "--organization",
            &far.name,
            "--batch",
            "1",
        ],
    )
    .await;
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    assert!(
        imported.stdout.contains("Жүктелген жолдар: 3"),
        "{}",
        imported.stdout
    );
    // The progress bar goes to the error stream, not into the answer.
    assert!(imported.stderr.contains("3/3"), "{}", imported.stderr);

    // A coal group near Shelek with a volunteer of its own.
    let near = create_organization(
        &mut roster_client,
        "Red Crescent, Enbekshikazakh",
        roster::OrganizationKind::RedCrescent,
        &[],
    )
    .await;
    let shelek = find("Shelek", "Almaty Region");
    let group = create_group(
        &mut roster_client,
        &near.name,
        "Шелек көмір",
        shelek,
        &[pb::Skill::VehicleCargo],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    let volunteer = create_volunteer(&mut roster_client, "Ерлан", vec![group.name.clone()]).await;
    system.wait_roster_published(4).await;

    // The operator records a call by the settlement's name.
    let call = komek(
        &system,
        config,
        Some(&dispatcher),
        &[
            "-o",
            "json",
            "call",
            "--place",
            "Shelek",
            "--region",
            "Almaty Region",
            "--note",
            "Жалғыз тұратын зейнеткерге көмір керек, 2 тонна",
            "--people",
            "1",
        ],
    )
    .await;
    assert_eq!(call.code, 0, "{}", call.stderr);
    let request = call.json();
    let code = request["reference_code"].as_str().unwrap().to_string();
    assert_eq!(request["location"]["settlement"], "Shelek");
    assert_eq!(request["anonymous"], true);
    assert!(request["location"]["point"]["latitude"].as_f64().is_some());

    // Found by its code, in Russian.
    let found = komek(
        &system,
        config,
        Some(&dispatcher),
        &["--lang", "ru", "find", &code],
    )
    .await;
    assert_eq!(found.code, 0, "{}", found.stderr);
    assert!(found.stdout.contains(&code));
    assert!(found.stdout.contains("Код заявки"), "{}", found.stdout);

    // Explained once matching has offered it.
    let shown = eventually(Duration::from_secs(30), || {
        let (system, dispatcher, code) = (&system, &dispatcher, &code);
        async move {
            let run = komek(
                system,
                config,
                Some(dispatcher),
                &["-o", "json", "show", code],
            )
            .await;
            let value = run.json();
            (value["assignment"]["status"] == "ASSIGNMENT_STATUS_OFFERED").then_some(value)
        }
    })
    .await
    .expect("the request was offered");
    assert_eq!(shown["triage"]["category"], "CATEGORY_FUEL_DELIVERY");
    assert!(!shown["triage"]["rules"].as_array().unwrap().is_empty());
    let decisions = shown["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1);
    assert!(
        decisions[0]["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["chosen"] == true)
    );
    let assignment = shown["assignment"]["name"].as_str().unwrap().to_string();
    // And for people, in English: the group that got it.
    let explained = komek(
        &system,
        config,
        Some(&dispatcher),
        &["--lang", "en", "show", &code],
    )
    .await;
    assert!(
        explained.stdout.contains("Шелек көмір"),
        "{}",
        explained.stdout
    );
    assert!(explained.stdout.contains("How triage read the note"));

    // The volunteer's key; the offer stream shows the open offer as one JSON line.
    let created = komek(
        &system,
        config,
        Some(ADMIN_KEY),
        &[
            "-o",
            "json",
            "keys",
            "create",
            "--role",
            "volunteer",
            "--subject",
            &volunteer.name,
            "--name",
            "Ерлан",
        ],
    )
    .await;
    let volunteer_key = created.json()["secret"].as_str().unwrap().to_string();
    system.wait_key_known(&volunteer_key).await;
    let mut offers = command(
        &system,
        config,
        Some(&volunteer_key),
        &[
            "-o",
            "json",
            "volunteer",
            "offers",
            "--volunteer",
            &volunteer.name,
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = tokio::io::BufReader::new(offers.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("an offer line")
        .unwrap()
        .unwrap();
    let offer: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(offer["name"], assignment.as_str());
    assert_eq!(offer["event"], "OFFER_EVENT_KIND_PENDING");
    offers.kill().await.unwrap();
    let accepted = komek(
        &system,
        config,
        Some(&volunteer_key),
        &[
            "--lang",
            "kk",
            "volunteer",
            "accept",
            &assignment,
            "--volunteer",
            &volunteer.name,
        ],
    )
    .await;
    assert_eq!(accepted.code, 0, "{}", accepted.stderr);
    assert!(
        accepted.stdout.contains("Қабылданды") || accepted.stdout.contains(&code),
        "{}",
        accepted.stdout
    );

    // Queues as JSON for scripts.
    let queue = komek(
        &system,
        config,
        Some(&dispatcher),
        &["-o", "json", "queue", "escalated"],
    )
    .await;
    assert_eq!(queue.code, 0, "{}", queue.stderr);
    assert!(queue.json().is_array());

    // Exit codes: a field at fault, a request that does not exist, a wrong key, no key, and
    // a service that is down.
    let invalid = komek(
        &system,
        config,
        Some(&dispatcher),
        &["call", "--note", " ", "--lat", "43.6", "--lon", "78.2"],
    )
    .await;
    assert_eq!(invalid.code, 3, "{}", invalid.stderr);
    assert!(invalid.stderr.contains("description"), "{}", invalid.stderr);
    // Several settlements of one name: the user is asked for the region.
    let ambiguous = komek(
        &system,
        config,
        Some(&dispatcher),
        &["call", "--place", "Aksu", "--note", "Көмір керек"],
    )
    .await;
    assert_eq!(ambiguous.code, 3, "{}", ambiguous.stderr);
    assert!(
        ambiguous.stderr.contains("--region"),
        "{}",
        ambiguous.stderr
    );
    let missing = format!("requests/{}", Uuid::now_v7());
    let not_found = komek(&system, config, Some(&dispatcher), &["show", &missing]).await;
    assert_eq!(not_found.code, 4, "{}", not_found.stderr);
    let wrong = komek(
        &system,
        config,
        Some("not-a-key-at-all-but-long-enough-000000"),
        &["queue"],
    )
    .await;
    assert_eq!(wrong.code, 5, "{}", wrong.stderr);
    let none = komek(&system, config, None, &["--lang", "ru", "queue"]).await;
    assert_eq!(none.code, 5);
    assert!(none.stderr.contains("Нет ключа"), "{}", none.stderr);
    let mut down = command(&system, config, Some(&dispatcher), &["queue"]);
    down.env("KOMEK_MATCHING_URL", "http://127.0.0.1:9");
    let down = down.output().await.unwrap();
    assert_eq!(down.status.code(), Some(6));
    let usage = komek(&system, config, None, &["queue", "nowhere"]).await;
    assert_eq!(usage.code, 2);

    // The caller asks to be forgotten: refused while the request is open, done once cancelled.
    let open = komek(
        &system,
        config,
        Some(&dispatcher),
        &["erase", &code, "--reason", "caller asked"],
    )
    .await;
    assert_eq!(open.code, 3, "{}", open.stderr);
    assert!(open.stderr.contains("cancel"), "{}", open.stderr);
    let cancelled = komek(
        &system,
        config,
        Some(&dispatcher),
        &["cancel", &code, "--reason", "recorded twice"],
    )
    .await;
    assert_eq!(cancelled.code, 0, "{}", cancelled.stderr);
    let erased = komek(
        &system,
        config,
        Some(&dispatcher),
        &["-o", "json", "erase", &code, "--reason", "caller asked"],
    )
    .await;
    assert_eq!(erased.code, 0, "{}", erased.stderr);
    let erased = erased.json();
    assert_eq!(erased["description"], "");
    assert!(
        erased["erasure"]["erased_by"]
            .as_str()
            .is_some_and(|by| by.starts_with("dispatchers/")),
        "{erased}"
    );

    // Settings from the config file: the key and the language.
    std::fs::create_dir_all(config.join("komek")).unwrap();
    std::fs::write(
        config.join("komek/cli.toml"),
        format!("key = \"{dispatcher}\"\nlang = \"kk\"\n"),
    )
    .unwrap();
    let from_file = komek(&system, config, None, &["find", &code]).await;
    assert_eq!(from_file.code, 0, "{}", from_file.stderr);
    assert!(
        from_file.stdout.contains("Өтінім коды"),
        "{}",
        from_file.stdout
    );

    // Shell completions.
    let bash = komek(&system, config, None, &["completions", "bash"]).await;
    assert_eq!(bash.code, 0);
    assert!(bash.stdout.contains("_komek"));
}
