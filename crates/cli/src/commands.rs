//! Each subcommand: the calls it makes and what it prints.

use std::process::ExitCode;

use futures::StreamExt;
use komek_i18n::Arg;
use komek_proto::access::v1 as access;
use komek_proto::access::v1::access_service_client::AccessServiceClient;
use komek_proto::intake::v1 as intake;
use komek_proto::intake::v1::intake_service_client::IntakeServiceClient;
use komek_proto::matching::v1 as matching;
use komek_proto::matching::v1::assignment_service_client::AssignmentServiceClient;
use komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient;
use komek_proto::partner::v1 as partner;
use komek_proto::partner::v1::partner_service_client::PartnerServiceClient;
use komek_proto::places::v1 as places;
use komek_proto::places::v1::place_service_client::PlaceServiceClient;
use komek_proto::roster::v1 as roster;
use komek_proto::roster::v1::roster_service_client::RosterServiceClient;
use komek_proto::triage::v1 as triage;
use komek_proto::triage::v1::triage_service_client::TriageServiceClient;
use komek_proto::types::v1 as pb;
use komek_sheets::roster::Column;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::args::{
    Availability, CallArgs, Command, DispatchArgs, GroupCommand, KeysCommand, QueueName, RoleName,
    RosterCommand, StatsBy, Step, VolunteerCommand,
};
use crate::output::{Out, km, table, when, when_json};
use crate::settings::Settings;

/// How a command failed: a call the services refused (or could not answer), input the user
/// has to change (exit 3, like a refusal of a field), or something else here.
pub enum Failure {
    Refused(tonic::Status),
    Input(String),
    Local(anyhow::Error),
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Failure::Refused(s)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Local(e)
    }
}

type Done = Result<ExitCode, Failure>;

pub async fn run(command: &Command, s: &Settings, out: &Out) -> Done {
    match command {
        Command::Call(a) => call(a, s, out).await,
        Command::Find { code } => {
            let mut client = IntakeServiceClient::new(s.client(&s.intake)?);
            let r = client
                .find_by_reference(intake::FindByReferenceRequest {
                    reference_code: code.clone(),
                })
                .await?
                .into_inner();
            print_request(&r, out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { request } => show(request, s, out).await,
        Command::Queue {
            queue,
            region,
            limit,
        } => queue_list(*queue, region.as_deref(), *limit, s, out).await,
        Command::Assign(a) => dispatch(a, false, s, out).await,
        Command::Reassign(a) => dispatch(a, true, s, out).await,
        Command::Withdraw { assignment, reason } => {
            let mut client = DispatchServiceClient::new(s.client(&s.matching)?);
            let a = client
                .withdraw_assignment(matching::WithdrawAssignmentRequest {
                    request_id: Uuid::new_v4().to_string(),
                    name: assignment.clone(),
                    reason: reason.clone(),
                })
                .await?
                .into_inner();
            print_assignment(&a, "cli-withdrawn", out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Cancel { request, reason } => {
            let name = request_name(request, s).await?;
            let mut client = IntakeServiceClient::new(s.client(&s.intake)?);
            let r = client
                .cancel_request(intake::CancelRequestRequest {
                    name,
                    reason: reason.clone(),
                    request_id: Uuid::new_v4().to_string(),
                    etag: String::new(),
                })
                .await?
                .into_inner();
            out.show(&request_json(&r), || {
                println!(
                    "{}",
                    out.t_with("cli-cancelled", &[("code", Arg::Str(&r.reference_code))])
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Erase { request, reason } => {
            let name = request_name(request, s).await?;
            let mut client = IntakeServiceClient::new(s.client(&s.intake)?);
            let r = client
                .erase_request(intake::EraseRequestRequest {
                    name,
                    reason: reason.clone(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            out.show(&request_json(&r), || {
                println!(
                    "{}",
                    out.t_with("cli-erased", &[("code", Arg::Str(&r.reference_code))])
                )
            });
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch { region } => watch(region, s, out).await,
        Command::Roster(RosterCommand::Import {
            file,
            organization,
            dry_run,
            batch,
        }) => import(file, organization, *dry_run, *batch, s, out).await,
        Command::Group(GroupCommand::Availability { group, state }) => {
            let mut client = RosterServiceClient::new(s.client(&s.roster)?);
            let availability = match state {
                Availability::Available => pb::Availability::Available,
                Availability::Busy => pb::Availability::Busy,
                Availability::OffDuty => pb::Availability::OffDuty,
            };
            let g = client
                .set_group_availability(roster::SetGroupAvailabilityRequest {
                    name: group.clone(),
                    availability: availability as i32,
                })
                .await?
                .into_inner();
            let state = out.label(g.availability().as_str_name());
            out.show(
                &json!({"name": g.name, "display_name": g.display_name,
                        "availability": g.availability().as_str_name()}),
                || {
                    println!(
                        "{}",
                        out.t_with(
                            "cli-availability-set",
                            &[
                                ("group", Arg::Str(&g.display_name)),
                                ("state", Arg::Str(&state))
                            ]
                        )
                    )
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(k) => keys(k, s, out).await,
        Command::Stats {
            from,
            to,
            by,
            region,
        } => stats(from, to, by, region.as_deref(), s, out).await,
        Command::Volunteer(v) => volunteer(v, s, out).await,
        Command::Completions { .. } => Ok(ExitCode::SUCCESS),
    }
}

/// A request named by a reference code, "requests/<id>" or the bare id.
async fn request_name(given: &str, s: &Settings) -> Result<String, Failure> {
    let given = given.trim();
    if given.starts_with("requests/") {
        return Ok(given.to_string());
    }
    if Uuid::parse_str(given).is_ok() {
        return Ok(format!("requests/{given}"));
    }
    let mut client = IntakeServiceClient::new(s.client(&s.intake)?);
    let r = client
        .find_by_reference(intake::FindByReferenceRequest {
            reference_code: given.to_string(),
        })
        .await?
        .into_inner();
    Ok(r.name)
}

async fn call(a: &CallArgs, s: &Settings, out: &Out) -> Done {
    let mut location = pb::Location {
        address: a.address.clone().unwrap_or_default(),
        region: a.region.clone().unwrap_or_default(),
        ..Default::default()
    };
    if let (Some(lat), Some(lon)) = (a.lat, a.lon) {
        location.point = Some(pb::LatLng {
            latitude: lat,
            longitude: lon,
        });
    }
    if let Some(place) = &a.place {
        // The gazetteer knows the settlement as the caller said it, in any of the three
        // languages; two of one name need the region to tell them apart.
        let mut places = PlaceServiceClient::new(s.client(&s.intake)?);
        let found = places
            .search_settlements(places::SearchSettlementsRequest {
                query: place.clone(),
                page_size: 5,
                region: a.region.clone().unwrap_or_default(),
            })
            .await?
            .into_inner()
            .settlements;
        let exact: Vec<&places::Settlement> = found
            .iter()
            .filter(|p| {
                [&p.name_en, &p.name_ru, &p.name_kk]
                    .iter()
                    .any(|n| n.to_lowercase() == place.to_lowercase())
            })
            .collect();
        let chosen = match (exact.as_slice(), found.as_slice()) {
            ([one], _) => *one,
            ([], [one]) => one,
            ([], []) => {
                return Err(Failure::Input(
                    out.t_with("cli-place-unknown", &[("place", Arg::Str(place))]),
                ));
            }
            (many, all) => {
                let list: Vec<String> = (if many.is_empty() {
                    all.iter().collect::<Vec<_>>()
                } else {
                    many.to_vec()
                })
                .iter()
                .map(|p| {
                    let at = p
                        .point
                        .map(|q| format!(" {:.3} {:.3}", q.latitude, q.longitude))
                        .unwrap_or_default();
                    format!("{} ({}, {}{at})", p.name_en, p.district, p.region)
                })
                .collect();
                return Err(Failure::Input(out.t_with(
                    "cli-place-ambiguous",
                    &[("list", Arg::Str(&list.join("; ")))],
                )));
            }
        };
        location.settlement = chosen.name_en.clone();
        location.district = chosen.district.clone();
        location.region = chosen.region.clone();
        if location.point.is_none() {
            location.point = chosen.point;
        }
    }
    let anonymous = a.caller_name.is_none() && a.phone.is_none();
    let request = intake::CreateRequestRequest {
        request_id: a
            .request_id
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string()),
        channel: pb::Channel::Hotline as i32,
        caller: Some(intake::Caller {
            display_name: a.caller_name.clone().unwrap_or_default(),
            phone: a.phone.clone().unwrap_or_default(),
            anonymous,
            ..Default::default()
        }),
        location: Some(location),
        description: a.note.clone(),
        people_count: a.people.unwrap_or(0),
        ..Default::default()
    };
    let mut client = IntakeServiceClient::new(s.client(&s.intake)?);
    let r = client.create_request(request).await?.into_inner();
    out.show(&request_json(&r), || {
        println!(
            "{}",
            out.t_with("cli-recorded", &[("code", Arg::Str(&r.reference_code))])
        );
        println!("{}", r.name);
    });
    Ok(ExitCode::SUCCESS)
}

fn place_of(l: Option<&pb::Location>) -> String {
    l.map(|l| {
        [&l.settlement, &l.district, &l.region]
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
    .filter(|p| !p.is_empty())
    .unwrap_or_else(|| "—".into())
}

fn location_json(l: Option<&pb::Location>) -> Value {
    match l {
        Some(l) => json!({
            "settlement": l.settlement, "district": l.district, "region": l.region,
            "address": l.address,
            "point": l.point.map(|p| json!({"latitude": p.latitude, "longitude": p.longitude})),
        }),
        None => Value::Null,
    }
}

/// A request for scripts; the caller's name and phone are never printed.
fn request_json(r: &intake::Request) -> Value {
    json!({
        "name": r.name,
        "reference_code": r.reference_code,
        "status": r.status().as_str_name(),
        "description": r.description,
        "location": location_json(r.location.as_ref()),
        "anonymous": r.caller.as_ref().is_none_or(|c| c.anonymous),
        "category": r.triage.as_ref().map(|t| t.category().as_str_name()),
        "priority": r.triage.as_ref().map(|t| t.priority().as_str_name()),
        "assignment": r.assignment.as_ref().map(|a| json!({
            "name": a.assignment, "group": a.group, "group_display_name": a.group_display_name,
            "status": a.status().as_str_name(), "distance_meters": a.distance_meters,
        })),
        "create_time": when_json(r.create_time.as_ref()),
        "update_time": when_json(r.update_time.as_ref()),
        "erasure": r.erasure.as_ref().map(|e| json!({
            "erase_time": when_json(e.erase_time.as_ref()),
            "erased_by": e.erased_by, "reason": e.reason,
        })),
    })
}

fn print_request(r: &intake::Request, out: &Out) {
    out.show(&request_json(r), || {
        let mut rows = vec![
            (out.t("cli-field-code"), r.reference_code.clone()),
            (
                out.t("cli-field-status"),
                out.label(r.status().as_str_name()),
            ),
        ];
        if let Some(t) = &r.triage {
            rows.push((
                out.t("cli-field-category"),
                out.label(t.category().as_str_name()),
            ));
            rows.push((
                out.t("cli-field-priority"),
                out.label(t.priority().as_str_name()),
            ));
        }
        rows.push((out.t("cli-field-place"), place_of(r.location.as_ref())));
        rows.push((out.t("cli-field-note"), r.description.clone()));
        if let Some(a) = &r.assignment {
            rows.push((
                out.t("cli-field-assignment"),
                format!(
                    "{} · {} · {}",
                    a.group_display_name,
                    out.label(a.status().as_str_name()),
                    km(a.distance_meters)
                ),
            ));
        }
        rows.push((out.t("cli-field-created"), when(r.create_time.as_ref())));
        rows.push(("id".into(), r.name.clone()));
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in rows {
            println!("{k}{}  {v}", " ".repeat(width - k.chars().count()));
        }
    });
}

async fn show(given: &str, s: &Settings, out: &Out) -> Done {
    let name = request_name(given, s).await?;
    let mut intake_client = IntakeServiceClient::new(s.client(&s.intake)?);
    let r = intake_client
        .get_request(intake::GetRequestRequest { name: name.clone() })
        .await?
        .into_inner();
    let mut triage_client = TriageServiceClient::new(s.client(&s.triage)?);
    let decision = triage_client
        .get_triage_decision(triage::GetTriageDecisionRequest {
            name: format!("{name}/triage"),
        })
        .await
        .ok()
        .map(|d| d.into_inner());
    let mut dispatch = DispatchServiceClient::new(s.client(&s.matching)?);
    let explained = dispatch
        .explain_request(matching::ExplainRequestRequest {
            request: name.clone(),
        })
        .await
        .ok()
        .map(|e| e.into_inner());
    if out.json() {
        let mut value = request_json(&r);
        value["triage"] = decision.as_ref().map_or(Value::Null, |d| {
            json!({
                "category": d.category().as_str_name(), "priority": d.priority().as_str_name(),
                "confidence": d.confidence, "overridden": d.overridden,
                "unclassified": d.unclassified, "model_version": d.model_version,
                "rules": d.fired_rules.iter().map(|f| json!({
                    "rule": f.rule_id, "terms": f.matched_terms, "explanation": f.explanation,
                })).collect::<Vec<_>>(),
            })
        });
        value["decisions"] = explained.as_ref().map_or(Value::Null, |e| {
            Value::Array(
                e.decisions
                    .iter()
                    .map(|d| {
                        json!({
                            "attempt": d.attempt, "escalated": d.escalated, "assignment": d.assignment,
                            "reasons": d.reasons().map(|r| r.as_str_name()).collect::<Vec<_>>(),
                            "decide_time": when_json(d.decide_time.as_ref()),
                            "candidates": d.candidates.iter().map(|c| json!({
                                "group": c.group, "group_display_name": c.group_display_name,
                                "distance_meters": c.distance_meters, "chosen": c.chosen,
                                "reasons": c.reasons().map(|r| r.as_str_name()).collect::<Vec<_>>(),
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            )
        });
        out.json_line(&value);
        return Ok(ExitCode::SUCCESS);
    }
    print_request(&r, out);
    if let Some(d) = &decision {
        println!();
        println!("{}", out.t("cli-field-triage"));
        for f in &d.fired_rules {
            let terms = if f.matched_terms.is_empty() {
                String::new()
            } else {
                format!(" [{}]", f.matched_terms.join(", "))
            };
            println!("  {}{terms}: {}", f.rule_id, f.explanation);
        }
    }
    if let Some(e) = &explained {
        for d in &e.decisions {
            println!();
            let outcome = if d.escalated {
                out.t("cli-decision-escalated")
            } else {
                out.t("cli-decision-offered")
            };
            println!(
                "{} {} · {} · {}",
                out.t("cli-field-decision"),
                d.attempt,
                when(d.decide_time.as_ref()),
                outcome
            );
            let rows: Vec<Vec<String>> = d
                .candidates
                .iter()
                .take(10)
                .map(|c| {
                    vec![
                        if c.chosen {
                            "→".into()
                        } else {
                            String::new()
                        },
                        c.group_display_name.clone(),
                        km(c.distance_meters),
                        c.reasons()
                            .map(|r| out.label(r.as_str_name()))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                table(
                    &[
                        String::new(),
                        out.t("cli-col-group"),
                        out.t("cli-col-distance"),
                        out.t("cli-col-reasons"),
                    ],
                    &rows,
                );
            }
            for r in d.reasons() {
                println!("  {}", out.label(r.as_str_name()));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn queue_item_json(i: &matching::QueueItem) -> Value {
    json!({
        "request": i.request, "reference_code": i.reference_code,
        "queue": i.queue().as_str_name(),
        "category": i.category().as_str_name(), "priority": i.priority().as_str_name(),
        "location": location_json(i.location.as_ref()),
        "request_status": i.request_status().as_str_name(),
        "assignment": i.assignment.as_ref().map(|a| json!({
            "name": a.name, "group": a.group, "status": a.status().as_str_name(),
        })),
        "escalation_reasons": i.escalation_reasons().map(|r| r.as_str_name()).collect::<Vec<_>>(),
        "since_time": when_json(i.since_time.as_ref()),
    })
}

async fn queue_list(
    queue: QueueName,
    region: Option<&str>,
    limit: i32,
    s: &Settings,
    out: &Out,
) -> Done {
    let queue = match queue {
        QueueName::Escalated => matching::Queue::Escalated,
        QueueName::Unassigned => matching::Queue::Unassigned,
        QueueName::Overdue => matching::Queue::Overdue,
    };
    let mut client = DispatchServiceClient::new(s.client(&s.matching)?);
    let items = client
        .list_queue(matching::ListQueueRequest {
            queue: queue as i32,
            page_size: limit.clamp(1, 100),
            region: region.unwrap_or_default().to_string(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .items;
    out.show(
        &Value::Array(items.iter().map(queue_item_json).collect()),
        || {
            if items.is_empty() {
                println!("{}", out.t("cli-queue-empty"));
                return;
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| {
                    vec![
                        i.reference_code.clone(),
                        out.label(i.priority().as_str_name()),
                        out.label(i.category().as_str_name()),
                        place_of(i.location.as_ref()),
                        when(i.since_time.as_ref()),
                        i.escalation_reasons()
                            .map(|r| out.label(r.as_str_name()))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect();
            table(
                &[
                    out.t("cli-col-code"),
                    out.t("cli-col-priority"),
                    out.t("cli-col-category"),
                    out.t("cli-col-place"),
                    out.t("cli-col-since"),
                    out.t("cli-col-why-here"),
                ],
                &rows,
            );
        },
    );
    Ok(ExitCode::SUCCESS)
}

fn assignment_json(a: &matching::Assignment) -> Value {
    json!({
        "name": a.name, "request": a.request, "reference_code": a.reference_code,
        "group": a.group, "status": a.status().as_str_name(),
        "category": a.category().as_str_name(), "priority": a.priority().as_str_name(),
        "location": location_json(a.location.as_ref()),
        "distance_meters": a.distance_meters, "summary": a.summary,
        "offer_time": when_json(a.offer_time.as_ref()),
        "expire_time": when_json(a.expire_time.as_ref()),
        "update_time": when_json(a.update_time.as_ref()),
    })
}

fn print_assignment(a: &matching::Assignment, message: &str, out: &Out) {
    out.show(&assignment_json(a), || {
        println!(
            "{}",
            out.t_with(
                message,
                &[
                    ("code", Arg::Str(&a.reference_code)),
                    ("status", Arg::Str(&out.label(a.status().as_str_name()))),
                ]
            )
        );
        println!("{}", a.name);
    });
}

async fn dispatch(a: &DispatchArgs, reassign: bool, s: &Settings, out: &Out) -> Done {
    let request = request_name(&a.request, s).await?;
    let mut client = DispatchServiceClient::new(s.client(&s.matching)?);
    let request_id = Uuid::new_v4().to_string();
    let assignment = if reassign {
        client
            .reassign_request(matching::ReassignRequestRequest {
                request_id,
                request,
                group: a.group.clone(),
                reason: a.reason.clone(),
            })
            .await?
    } else {
        client
            .assign_request(matching::AssignRequestRequest {
                request_id,
                request,
                group: a.group.clone(),
                reason: a.reason.clone(),
            })
            .await?
    }
    .into_inner();
    print_assignment(&assignment, "cli-assigned", out);
    Ok(ExitCode::SUCCESS)
}

async fn watch(region: &str, s: &Settings, out: &Out) -> Done {
    let mut client = DispatchServiceClient::new(s.client(&s.matching)?);
    let mut events = client
        .watch_region(matching::WatchRegionRequest {
            region: region.to_string(),
        })
        .await?
        .into_inner();
    if !out.json() {
        let shown = if region.is_empty() {
            out.t("cli-every-region")
        } else {
            region.to_string()
        };
        eprintln!(
            "{}",
            out.t_with("cli-watching", &[("region", Arg::Str(&shown))])
        );
    }
    loop {
        let event = tokio::select! {
            e = events.next() => e,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        };
        let Some(event) = event else {
            return Ok(ExitCode::SUCCESS);
        };
        let event = event?;
        let Some(item) = &event.item else { continue };
        if out.json() {
            let mut value = queue_item_json(item);
            value["change"] = json!(event.change);
            value["time"] = when_json(event.time.as_ref());
            out.json_line(&value);
        } else {
            println!(
                "{}  {}  {}  {}  {}  {}",
                when(event.time.as_ref()),
                item.reference_code,
                out.label(item.queue().as_str_name()),
                out.label(item.priority().as_str_name()),
                out.label(item.category().as_str_name()),
                place_of(item.location.as_ref()),
            );
        }
    }
}

/// Rows of a roster file, each with its own line (or sheet row) number.
type Batch = Vec<komek_sheets::Row>;

/// The roster file's rows grouped so that every row of one group goes in the same batch: the
/// header, then batches of whole groups of about `size` rows. The file is read as the service
/// reads it (any CSV a spreadsheet writes, or a workbook's roster sheet) and each batch is sent
/// as UTF-8 CSV, so the service's line numbers map back to the file's.
fn batches(file: &[u8], size: usize) -> anyhow::Result<(komek_sheets::Row, Vec<Batch>)> {
    let book =
        komek_sheets::read(file).map_err(|e| anyhow::anyhow!("line {}: {}", e.line, e.message))?;
    let mut sheets = book.sheets;
    let chosen = komek_sheets::roster::sheet(&sheets)
        .ok_or_else(|| anyhow::anyhow!("the file has no rows"))?;
    let mut rows = sheets.swap_remove(chosen).rows.into_iter();
    let header = rows
        .next()
        .ok_or_else(|| anyhow::anyhow!("the file has no rows"))?;
    let group_column = header
        .cells
        .iter()
        .position(|c| Column::from_header(c) == Some(Column::Group))
        .ok_or_else(|| anyhow::anyhow!("the header has no `group` column"))?;
    let mut groups: Vec<(String, Batch)> = Vec::new();
    for row in rows {
        let key = row
            .cells
            .get(group_column)
            .map_or("", |c| c.trim())
            .to_lowercase();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    let mut out: Vec<Batch> = Vec::new();
    for (_, rows) in groups {
        match out.last_mut() {
            Some(batch) if batch.len() + rows.len() <= size.max(1) => batch.extend(rows),
            _ => out.push(rows),
        }
    }
    Ok((header, out))
}

/// A batch as the CSV the service reads.
fn batch_csv(header: &komek_sheets::Row, batch: &Batch) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    writer.write_record(&header.cells)?;
    for row in batch {
        writer.write_record(&row.cells)?;
    }
    writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// What one pass over the batches found and did.
#[derive(Default)]
struct Pass {
    sums: [i32; 4],
    errors: Vec<(usize, String, String)>,
}

async fn import(
    file: &std::path::Path,
    organization: &str,
    dry_run: bool,
    size: usize,
    s: &Settings,
    out: &Out,
) -> Done {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let (header, batches) = batches(&bytes, size)?;
    let total: usize = batches.iter().map(Vec::len).sum();
    let mut client = RosterServiceClient::new(s.client(&s.roster)?);
    // Every row is checked before any is written, so a file with a bad row changes nothing
    // (each call is all-or-nothing only for its own batch).
    let mut pass = import_pass(&mut client, organization, &header, &batches, true, out).await?;
    if !dry_run && pass.errors.is_empty() {
        pass = import_pass(&mut client, organization, &header, &batches, false, out).await?;
    }
    let Pass { sums, errors } = pass;
    let applied = !dry_run && errors.is_empty();
    let value = json!({
        "dry_run": dry_run, "applied": applied, "rows": total,
        "groups_created": sums[0], "groups_updated": sums[1],
        "volunteers_created": sums[2], "volunteers_updated": sums[3],
        "errors": errors.iter().map(|(l, c, m)| json!({"line": l, "column": c, "message": m})).collect::<Vec<_>>(),
    });
    out.show(&value, || {
        let key = if applied {
            "cli-import-done"
        } else {
            "cli-import-checked"
        };
        println!(
            "{}",
            out.t_with(
                key,
                &[
                    ("rows", Arg::Num(total as f64)),
                    ("groups", Arg::Num((sums[0] + sums[1]) as f64)),
                    ("volunteers", Arg::Num((sums[2] + sums[3]) as f64)),
                    ("errors", Arg::Num(errors.len() as f64)),
                ]
            )
        );
        for (line, column, message) in &errors {
            println!("  {line}: {column}: {message}");
        }
    });
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::output::exit::INVALID)
    })
}

async fn import_pass(
    client: &mut RosterServiceClient<crate::settings::Authed>,
    organization: &str,
    header: &komek_sheets::Row,
    batches: &[Batch],
    validate_only: bool,
    out: &Out,
) -> Result<Pass, Failure> {
    let total: usize = batches.iter().map(Vec::len).sum();
    let mut pass = Pass::default();
    let mut done = 0usize;
    if !out.json() {
        let key = if validate_only {
            "cli-import-checking"
        } else {
            "cli-import-writing"
        };
        eprintln!("{}", out.t(key));
    }
    for batch in batches {
        let body = batch_csv(header, batch)?;
        let reply = client
            .import_roster(roster::ImportRosterRequest {
                request_id: Uuid::new_v4().to_string(),
                organization: organization.to_string(),
                csv: body,
                validate_only,
            })
            .await?
            .into_inner();
        pass.sums[0] += reply.groups_created;
        pass.sums[1] += reply.groups_updated;
        pass.sums[2] += reply.volunteers_created;
        pass.sums[3] += reply.volunteers_updated;
        for e in reply.errors {
            // The batch's line 1 is the header and line 2 its first row: back to the file's own
            // line numbers.
            let line = match e.line {
                1 => header.line,
                n => batch
                    .get((n as usize).saturating_sub(2))
                    .map_or(n as usize, |row| row.line),
            };
            pass.errors.push((line, e.column, e.message));
        }
        done += batch.len();
        if !out.json() {
            progress(done, total);
        }
    }
    if !out.json() {
        eprintln!();
    }
    Ok(pass)
}

/// A progress bar on the terminal's error stream, redrawn in place.
fn progress(done: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    );
}

async fn keys(k: &KeysCommand, s: &Settings, out: &Out) -> Done {
    let mut client = AccessServiceClient::new(s.client(&s.roster)?);
    match k {
        KeysCommand::Create {
            role,
            subject,
            name,
            region,
        } => {
            let role = match role {
                RoleName::Admin => pb::Role::Admin,
                RoleName::Dispatcher => pb::Role::Dispatcher,
                RoleName::Volunteer => pb::Role::Volunteer,
                RoleName::Partner => pb::Role::Partner,
                RoleName::Service => pb::Role::Service,
            };
            let created = client
                .create_api_key(access::CreateApiKeyRequest {
                    request_id: Uuid::new_v4().to_string(),
                    api_key: Some(access::ApiKey {
                        display_name: name.clone(),
                        role: role as i32,
                        subject: subject.clone(),
                        regions: region.clone(),
                        ..Default::default()
                    }),
                })
                .await?
                .into_inner();
            let key = created.api_key.unwrap_or_default();
            out.show(
                &json!({"name": key.name, "display_name": key.display_name,
                        "role": key.role().as_str_name(), "subject": key.subject,
                        "secret": created.secret}),
                || {
                    println!(
                        "{}",
                        out.t_with("cli-key-created", &[("name", Arg::Str(&key.name))])
                    );
                    println!("{}", created.secret);
                },
            );
        }
        KeysCommand::List {
            subject,
            include_revoked,
        } => {
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_api_keys(access::ListApiKeysRequest {
                        page_size: 100,
                        page_token: page_token.clone(),
                        subject: subject.clone().unwrap_or_default(),
                        include_revoked: *include_revoked,
                    })
                    .await?
                    .into_inner();
                all.extend(page.api_keys);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let value = Value::Array(
                all.iter()
                    .map(|k| {
                        json!({"name": k.name, "display_name": k.display_name,
                        "role": k.role().as_str_name(), "subject": k.subject, "regions": k.regions,
                        "create_time": when_json(k.create_time.as_ref()),
                        "revoke_time": when_json(k.revoke_time.as_ref())})
                    })
                    .collect(),
            );
            out.show(&value, || {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|k| {
                        vec![
                            k.name.clone(),
                            k.display_name.clone(),
                            out.label(k.role().as_str_name()),
                            k.subject.clone(),
                            when(k.create_time.as_ref()),
                            if k.revoke_time.is_some() {
                                when(k.revoke_time.as_ref())
                            } else {
                                String::new()
                            },
                        ]
                    })
                    .collect();
                table(
                    &[
                        "id".into(),
                        out.t("cli-col-name"),
                        out.t("cli-col-role"),
                        out.t("cli-col-subject"),
                        out.t("cli-col-created"),
                        out.t("cli-col-revoked"),
                    ],
                    &rows,
                );
            });
        }
        KeysCommand::Revoke { key, reason } => {
            let revoked = client
                .revoke_api_key(access::RevokeApiKeyRequest {
                    name: key.clone(),
                    reason: reason.clone(),
                })
                .await?
                .into_inner();
            out.show(
                &json!({"name": revoked.name, "revoke_time": when_json(revoked.revoke_time.as_ref())}),
                || {
                    println!(
                        "{}",
                        out.t_with("cli-key-revoked", &[("name", Arg::Str(&revoked.name))])
                    )
                },
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn day(value: &str, flag: &str) -> Result<prost_types::Timestamp, Failure> {
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| anyhow::anyhow!("{flag} {value:?}: a date as YYYY-MM-DD"))?;
    let t = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    Ok(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn hours(d: Option<&prost_types::Duration>) -> String {
    d.map(|d| format!("{:.1}", d.seconds as f64 / 3600.0))
        .unwrap_or_else(|| "—".into())
}

async fn stats(
    from: &str,
    to: &str,
    by: &[StatsBy],
    region: Option<&str>,
    s: &Settings,
    out: &Out,
) -> Done {
    let group_by: Vec<i32> = by
        .iter()
        .map(|b| match b {
            StatsBy::Category => partner::StatsDimension::Category,
            StatsBy::Status => partner::StatsDimension::Status,
            StatsBy::Region => partner::StatsDimension::Region,
            StatsBy::District => partner::StatsDimension::District,
            StatsBy::Month => partner::StatsDimension::Month,
            StatsBy::Organization => partner::StatsDimension::Organization,
            StatsBy::Group => partner::StatsDimension::Group,
            StatsBy::Channel => partner::StatsDimension::Channel,
        } as i32)
        .collect();
    let mut client = PartnerServiceClient::new(s.client(&s.intake)?);
    let stats = client
        .get_stats(partner::GetStatsRequest {
            period_start: Some(day(from, "--from")?),
            period_end: Some(day(to, "--to")?),
            group_by,
            region: region.unwrap_or_default().to_string(),
        })
        .await?
        .into_inner();
    let row_json = |r: &partner::StatsRow| {
        json!({"keys": r.keys, "requests": r.request_count, "people_helped": r.people_helped,
               "median_hours_to_assign": r.median_time_to_assign.as_ref().map(|d| d.seconds as f64 / 3600.0),
               "p90_hours_to_assign": r.p90_time_to_assign.as_ref().map(|d| d.seconds as f64 / 3600.0),
               "median_hours_to_complete": r.median_time_to_complete.as_ref().map(|d| d.seconds as f64 / 3600.0),
               "p90_hours_to_complete": r.p90_time_to_complete.as_ref().map(|d| d.seconds as f64 / 3600.0)})
    };
    let value = json!({
        "rows": stats.rows.iter().map(row_json).collect::<Vec<_>>(),
        "total": stats.total.as_ref().map(row_json),
    });
    out.show(&value, || {
        // Keys that are enum names (categories, statuses) read as labels.
        let key_label = |k: &str| {
            if k.chars().all(|c| c.is_ascii_uppercase() || c == '_') && k.contains('_') {
                out.label(k)
            } else {
                k.to_string()
            }
        };
        let mut rows: Vec<Vec<String>> = stats
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.keys
                        .iter()
                        .map(|k| key_label(k))
                        .collect::<Vec<_>>()
                        .join(" · "),
                    r.request_count.to_string(),
                    r.people_helped.to_string(),
                    hours(r.median_time_to_assign.as_ref()),
                    hours(r.median_time_to_complete.as_ref()),
                ]
            })
            .collect();
        if let Some(t) = &stats.total {
            rows.push(vec![
                out.t("cli-total"),
                t.request_count.to_string(),
                t.people_helped.to_string(),
                hours(t.median_time_to_assign.as_ref()),
                hours(t.median_time_to_complete.as_ref()),
            ]);
        }
        table(
            &[
                String::new(),
                out.t("cli-col-requests"),
                out.t("cli-col-people"),
                out.t("cli-col-assign-hours"),
                out.t("cli-col-complete-hours"),
            ],
            &rows,
        );
    });
    Ok(ExitCode::SUCCESS)
}

async fn volunteer(v: &VolunteerCommand, s: &Settings, out: &Out) -> Done {
    let mut client = AssignmentServiceClient::new(s.client(&s.matching)?);
    match v {
        VolunteerCommand::Offers { volunteer } => {
            let mut events = client
                .stream_offers(matching::StreamOffersRequest {
                    volunteer: volunteer.clone(),
                    cursor: String::new(),
                })
                .await?
                .into_inner();
            if !out.json() {
                eprintln!("{}", out.t("cli-offers-waiting"));
            }
            loop {
                let event = tokio::select! {
                    e = events.next() => e,
                    _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
                };
                let Some(event) = event else {
                    return Ok(ExitCode::SUCCESS);
                };
                let event = event?;
                let Some(a) = &event.assignment else { continue };
                if out.json() {
                    let mut value = assignment_json(a);
                    value["event"] = json!(event.kind().as_str_name());
                    out.json_line(&value);
                } else {
                    println!(
                        "{}  {}  {}  {}  {}  {}",
                        out.label(event.kind().as_str_name()),
                        out.label(a.priority().as_str_name()),
                        out.label(a.category().as_str_name()),
                        place_of(a.location.as_ref()),
                        km(a.distance_meters),
                        a.name,
                    );
                    if !a.summary.is_empty() {
                        println!("    {}", a.summary);
                    }
                }
            }
        }
        VolunteerCommand::Accept {
            assignment,
            volunteer,
        } => {
            let a = client
                .accept_offer(matching::AcceptOfferRequest {
                    name: assignment.clone(),
                    request_id: Uuid::new_v4().to_string(),
                    volunteer: volunteer.clone(),
                })
                .await?
                .into_inner();
            print_assignment(&a, "cli-assignment-now", out);
        }
        VolunteerCommand::Decline {
            assignment,
            volunteer,
            reason,
        } => {
            let a = client
                .decline_offer(matching::DeclineOfferRequest {
                    name: assignment.clone(),
                    request_id: Uuid::new_v4().to_string(),
                    volunteer: volunteer.clone(),
                    reason: reason.clone(),
                })
                .await?
                .into_inner();
            print_assignment(&a, "cli-assignment-now", out);
        }
        VolunteerCommand::Progress {
            assignment,
            step,
            volunteer,
            note,
        } => {
            let (step, outcome, reason) = match step {
                Step::EnRoute => (matching::ProgressStep::EnRoute, 0, String::new()),
                Step::OnSite => (matching::ProgressStep::OnSite, 0, String::new()),
                Step::Completed => (
                    matching::ProgressStep::Completed,
                    pb::Outcome::Helped as i32,
                    String::new(),
                ),
                Step::Abort => (matching::ProgressStep::Aborted, 0, note.clone()),
            };
            let a = client
                .update_progress(matching::UpdateProgressRequest {
                    name: assignment.clone(),
                    request_id: Uuid::new_v4().to_string(),
                    volunteer: volunteer.clone(),
                    step: step as i32,
                    outcome,
                    note: note.clone(),
                    reason,
                    ..Default::default()
                })
                .await?
                .into_inner();
            print_assignment(&a, "cli-assignment-now", out);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_rows_stay_in_one_batch_with_their_line_numbers() {
        let csv = "Группа;Широта;lon;skills;capacity;volunteer\n\
                   A;1;1;cargo;2;Aida\n\
                   B;1;1;cargo;2;Bolat\n\
                   a;1;1;cargo;2;Arman\n\
                   \n\
                   C;1;1;cargo;2;\n";
        let (header, split) = batches(csv.as_bytes(), 2).unwrap();
        assert_eq!(header.cells[0], "Группа");
        assert_eq!(split.len(), 2);
        // Both rows of A together, with their own line numbers (the header is line 1).
        let lines: Vec<usize> = split[0].iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 4]);
        let lines: Vec<usize> = split[1].iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 6]);
        let body = String::from_utf8(batch_csv(&header, &split[0]).unwrap()).unwrap();
        assert_eq!(
            body,
            "Группа,Широта,lon,skills,capacity,volunteer\nA,1,1,cargo,2,Aida\na,1,1,cargo,2,Arman\n"
        );
        assert!(batches(b"", 2).is_err());
        assert!(batches(b"name,lat\nx,1\n", 2).is_err());
    }
}
