//! Hostile input, end to end: a catalogue of bad calls across every service. Each is answered
//! with the right code and names the field at fault (or, for refusals, the reason), writes
//! nothing, and leaves every service serving.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use komek_proto::access::v1 as access;
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient;
use komek_proto::ops::v1 as ops;
use komek_proto::places::v1 as places;
use komek_proto::roster::v1 as roster;
use komek_proto::triage::v1 as triage;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Role;
use komek_tests::settlements::find;
use komek_tests::{
    ADMIN_KEY, System, at, authed, connect, create_group, create_organization, create_request,
    create_volunteer, violated_fields,
};
use prost_types::Timestamp;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;
use uuid::Uuid;

type Call = Pin<Box<dyn Future<Output = Result<(), tonic::Status>> + Send>>;

/// A bad call and what it must be answered with: a code and the field at fault (or the
/// ErrorInfo reason of a refusal).
struct Case {
    what: &'static str,
    code: Code,
    detail: &'static str,
    call: Call,
}

fn case<T, F>(what: &'static str, code: Code, detail: &'static str, call: F) -> Case
where
    F: Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send + 'static,
{
    Case {
        what,
        code,
        detail,
        call: Box::pin(async move { call.await.map(|_| ()) }),
    }
}

fn uuid() -> String {
    Uuid::new_v4().to_string()
}

fn talgar() -> pb::Location {
    let place = find("Talghar", "Almaty Region");
    pb::Location {
        point: Some(at(place)),
        settlement: place.name_en.clone(),
        district: place.district.clone(),
        region: place.region.clone(),
        ..Default::default()
    }
}

/// A valid anonymous request from Talgar, changed by `edit`.
fn create(edit: impl FnOnce(&mut intake::CreateRequestRequest)) -> intake::CreateRequestRequest {
    let mut r = intake::CreateRequestRequest {
        request_id: uuid(),
        channel: pb::Channel::Hotline as i32,
        caller: Some(intake::Caller {
            anonymous: true,
            ..Default::default()
        }),
        location: Some(talgar()),
        description: "Ардагерге үйде көмек керек".into(),
        ..Default::default()
    };
    edit(&mut r);
    r
}

fn at_point(latitude: f64, longitude: f64) -> impl FnOnce(&mut intake::CreateRequestRequest) {
    move |r| {
        r.location.as_mut().unwrap().point = Some(pb::LatLng {
            latitude,
            longitude,
        })
    }
}

fn named_caller(name: &str, phone: &str) -> impl FnOnce(&mut intake::CreateRequestRequest) {
    let (name, phone) = (name.to_string(), phone.to_string());
    move |r| {
        r.caller = Some(intake::Caller {
            display_name: name,
            phone,
            anonymous: false,
            ..Default::default()
        })
    }
}

/// A valid group of `organization` at Talgar, changed by `edit`.
fn group(organization: &str, edit: impl FnOnce(&mut roster::Group)) -> roster::CreateGroupRequest {
    let mut g = roster::Group {
        organization: organization.into(),
        display_name: "Talgar social care".into(),
        base_location: Some(at(find("Talghar", "Almaty Region"))),
        capacity: 2,
        skills: vec![pb::GroupSkill {
            skill: pb::Skill::SocialCare as i32,
            ..Default::default()
        }],
        ..Default::default()
    };
    edit(&mut g);
    roster::CreateGroupRequest {
        request_id: uuid(),
        group: Some(g),
    }
}

/// Rows in every table the services write, outboxes included.
async fn written(system: &System) -> Vec<(String, i64)> {
    let pool = sqlx::PgPool::connect(system.db.url()).await.unwrap();
    let mut counts = Vec::new();
    for table in [
        "intake.requests",
        "intake.outbox",
        "triage.decisions",
        "triage.audit",
        "triage.outbox",
        "roster.organizations",
        "roster.groups",
        "roster.volunteers",
        "roster.api_keys",
        "roster.outbox",
        "matching.assignments",
        "matching.dispatch_audit",
        "matching.campaigns",
        "matching.outbox",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        counts.push((table.to_string(), n));
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_hostile_call_is_refused_precisely_and_writes_nothing() {
    let system = System::start().await;
    let mut roster_admin = system.roster_client().await;
    let mut operator = system.intake_client().await;
    let ours = create_organization(
        &mut roster_admin,
        "Red Crescent, Talgar",
        roster::OrganizationKind::RedCrescent,
        &["Almaty Region"],
    )
    .await;
    let theirs = create_organization(
        &mut roster_admin,
        "Akmola akimat social service",
        roster::OrganizationKind::AkimatService,
        &["Akmola Region"],
    )
    .await;
    let talgar = find("Talghar", "Almaty Region");
    let our_group = create_group(
        &mut roster_admin,
        &ours.name,
        "Talgar social care",
        talgar,
        &[pb::Skill::SocialCare],
        pb::Availability::Available,
        &uuid(),
    )
    .await;
    let request = create_request(&mut operator, None, talgar, at(talgar), "Көмір керек").await;
    let created = create(|_| {});
    operator.create_request(created.clone()).await.unwrap();
    let volunteer =
        create_volunteer(&mut roster_admin, "Ерлан", vec![our_group.name.clone()]).await;
    let volunteer_key = system
        .issue_key(Role::Volunteer, &volunteer.name, &[])
        .await;
    let their_partner = system.issue_key(Role::Partner, &theirs.name, &[]).await;
    let short_lived = system
        .access_client(ADMIN_KEY)
        .await
        .create_api_key(access::CreateApiKeyRequest {
            request_id: uuid(),
            api_key: Some(access::ApiKey {
                display_name: "a tablet lent for one shift".into(),
                role: Role::Dispatcher.code(),
                subject: "dispatchers/lent-tablet".into(),
                expire_time: Some(komek_runtime::boundary::timestamp(
                    chrono::Utc::now() + chrono::Duration::seconds(1),
                )),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    system.wait_roster_published(2).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = written(&system).await;

    let op = operator.clone();
    let triage_client = system.triage_client().await;
    let roster_client = roster_admin.clone();
    let access_client = system.access_client(ADMIN_KEY).await;
    let dispatch = system.dispatch_client().await;
    let assignments = system.assignment_client().await;
    let partner = system.partner_client(&their_partner).await;
    let anonymous = intake::intake_service_client::IntakeServiceClient::new(
        connect(system.intake).await.unwrap(),
    );
    let forged = intake::intake_service_client::IntakeServiceClient::new(
        authed(system.intake, "kmk_00000000000000000000000000000000_forged").await,
    );
    let expired = intake::intake_service_client::IntakeServiceClient::new(
        authed(system.intake, &short_lived).await,
    );
    let operations = ops::operations_service_client::OperationsServiceClient::new(
        authed(system.matching, &system.dispatcher_key).await,
    );
    let volunteer_dispatch =
        DispatchServiceClient::new(authed(system.matching, &volunteer_key).await);
    let places = places::place_service_client::PlaceServiceClient::new(
        authed(system.intake, &system.dispatcher_key).await,
    );
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let megabyte = "ж".repeat(500_000);
    let two_megabytes = "x".repeat(2 * 1024 * 1024);
    let bad_time = Timestamp {
        seconds: 0,
        nanos: -1,
    };
    let forged_token = "1700000000000000.0194c4a7e6b37d5a9c3f00000000abcd".to_string();
    let random_request = format!("requests/{}", uuid());
    let random_group = format!("groups/{}", uuid());
    use Code::*;

    macro_rules! c {
        ($client:expr, $method:ident, $req:expr) => {{
            let mut client = $client.clone();
            let req = $req;
            async move { client.$method(req).await }
        }};
    }

    let cases = vec![
        // Coordinates.
        case(
            "latitude 91",
            InvalidArgument,
            "location.point.latitude",
            c!(op, create_request, create(at_point(91.0, 77.0))),
        ),
        case(
            "latitude -90.5",
            InvalidArgument,
            "location.point.latitude",
            c!(op, create_request, create(at_point(-90.5, 77.0))),
        ),
        case(
            "longitude 181",
            InvalidArgument,
            "location.point.longitude",
            c!(op, create_request, create(at_point(43.0, 181.0))),
        ),
        case(
            "latitude NaN",
            InvalidArgument,
            "location.point.latitude",
            c!(op, create_request, create(at_point(nan, 77.0))),
        ),
        case(
            "longitude +Inf",
            InvalidArgument,
            "location.point.longitude",
            c!(op, create_request, create(at_point(43.0, inf))),
        ),
        case(
            "latitude -Inf",
            InvalidArgument,
            "location.point.latitude",
            c!(op, create_request, create(at_point(-inf, 77.0))),
        ),
        case(
            "0,0: an unset position",
            InvalidArgument,
            "location.point",
            c!(op, create_request, create(at_point(0.0, 0.0))),
        ),
        case(
            "no place at all",
            InvalidArgument,
            "location",
            c!(op, create_request, create(|r| r.location = None)),
        ),
        // Strings: empty, huge, controls, invisible formatting.
        case(
            "empty description",
            InvalidArgument,
            "description",
            c!(
                op,
                create_request,
                create(|r| r.description = " \n ".into())
            ),
        ),
        case(
            "megabyte description",
            InvalidArgument,
            "description",
            c!(
                op,
                create_request,
                create(move |r| r.description = megabyte)
            ),
        ),
        case(
            "volunteer note with hidden controls",
            InvalidArgument,
            "volunteer_note",
            c!(
                op,
                create_request,
                create(|r| r.volunteer_note = "Көмір \u{202E}керек\u{0}".into())
            ),
        ),
        case(
            "right-to-left override",
            InvalidArgument,
            "description",
            c!(
                op,
                create_request,
                create(|r| r.description = "Көмек \u{202E}керек".into())
            ),
        ),
        case(
            "zero-width space",
            InvalidArgument,
            "location.settlement",
            c!(
                op,
                create_request,
                create(|r| r.location.as_mut().unwrap().settlement = "Tal\u{200B}ghar".into())
            ),
        ),
        case(
            "escape sequence",
            InvalidArgument,
            "description",
            c!(
                op,
                create_request,
                create(|r| r.description = "\u{1B}[2Jhelp".into())
            ),
        ),
        case(
            "NUL in an address",
            InvalidArgument,
            "location.address",
            c!(
                op,
                create_request,
                create(|r| r.location.as_mut().unwrap().address = "Abay\u{0} 15".into())
            ),
        ),
        case(
            "bidi isolate in a name",
            InvalidArgument,
            "caller.display_name",
            c!(
                op,
                create_request,
                create(named_caller("\u{2066}Асель\u{2069}", "+77011234567"))
            ),
        ),
        case(
            "byte order mark in a region",
            InvalidArgument,
            "location.region",
            c!(
                op,
                create_request,
                create(|r| r.location.as_mut().unwrap().region = "\u{FEFF}Almaty Region".into())
            ),
        ),
        case(
            "address of 10,000 letters",
            InvalidArgument,
            "location.address",
            c!(
                op,
                create_request,
                create(|r| r.location.as_mut().unwrap().address = "к".repeat(10_000))
            ),
        ),
        // Phones.
        case(
            "a German phone (only Kazakhstan and Belarus can be called back)",
            InvalidArgument,
            "caller.phone",
            c!(
                op,
                create_request,
                create(named_caller("Асель", "+49 30 1234567"))
            ),
        ),
        case(
            "a Kazakh mobile one digit short",
            InvalidArgument,
            "caller.phone",
            c!(
                op,
                create_request,
                create(named_caller("Асель", "8 701 555 44 2"))
            ),
        ),
        case(
            "short phone",
            InvalidArgument,
            "caller.phone",
            c!(op, create_request, create(named_caller("Асель", "12345"))),
        ),
        case(
            "phone of letters",
            InvalidArgument,
            "caller.phone",
            c!(
                op,
                create_request,
                create(named_caller("Асель", "call me maybe"))
            ),
        ),
        case(
            "anonymous with a phone",
            InvalidArgument,
            "caller.anonymous",
            c!(
                op,
                create_request,
                create(|r| r.caller.as_mut().unwrap().phone = "+77011234567".into())
            ),
        ),
        // Enums.
        case(
            "channel unspecified",
            InvalidArgument,
            "channel",
            c!(op, create_request, create(|r| r.channel = 0)),
        ),
        case(
            "channel 99",
            InvalidArgument,
            "channel",
            c!(op, create_request, create(|r| r.channel = 99)),
        ),
        case(
            "category 99",
            InvalidArgument,
            "operator_category",
            c!(op, create_request, create(|r| r.operator_category = 99)),
        ),
        case(
            "priority -5",
            InvalidArgument,
            "operator_priority",
            c!(op, create_request, create(|r| r.operator_priority = -5)),
        ),
        case(
            "language 42",
            InvalidArgument,
            "caller.preferred_language",
            c!(
                op,
                create_request,
                create(|r| r.caller.as_mut().unwrap().preferred_language = 42)
            ),
        ),
        // Numbers and keys.
        case(
            "request_id not a UUID",
            InvalidArgument,
            "request_id",
            c!(
                op,
                create_request,
                create(|r| r.request_id = "again".into())
            ),
        ),
        case(
            "request_id empty",
            InvalidArgument,
            "request_id",
            c!(op, create_request, create(|r| r.request_id.clear())),
        ),
        case(
            "negative people",
            InvalidArgument,
            "people_count",
            c!(op, create_request, create(|r| r.people_count = -1)),
        ),
        case(
            "a billion people",
            InvalidArgument,
            "people_count",
            c!(
                op,
                create_request,
                create(|r| r.people_count = 1_000_000_000)
            ),
        ),
        case(
            "quantity NaN",
            InvalidArgument,
            "quantity.value",
            c!(
                op,
                create_request,
                create(|r| r.quantity = Some(pb::Quantity {
                    value: nan,
                    unit: "t".into()
                }))
            ),
        ),
        case(
            "a window ending before it starts",
            InvalidArgument,
            "wanted_window",
            c!(
                op,
                create_request,
                create(|r| r.wanted_window = Some(pb::TimeWindow {
                    start_time: Some(Timestamp {
                        seconds: 2_000_000_000,
                        nanos: 0
                    }),
                    end_time: Some(Timestamp {
                        seconds: 1_900_000_000,
                        nanos: 0
                    })
                }))
            ),
        ),
        case(
            "same request_id, other payload",
            AlreadyExists,
            "",
            c!(
                op,
                create_request,
                intake::CreateRequestRequest {
                    description: "Другое описание".into(),
                    ..created.clone()
                }
            ),
        ),
        case(
            "two megabytes",
            OutOfRange,
            "",
            c!(
                op,
                create_request,
                create(move |r| r.description = two_megabytes)
            ),
        ),
        // Lists and names.
        case(
            "negative page size",
            InvalidArgument,
            "page_size",
            c!(
                op,
                list_requests,
                intake::ListRequestsRequest {
                    page_size: -1,
                    ..Default::default()
                }
            ),
        ),
        case(
            "forged page token",
            InvalidArgument,
            "page_token",
            c!(
                op,
                list_requests,
                intake::ListRequestsRequest {
                    page_token: forged_token.clone(),
                    ..Default::default()
                }
            ),
        ),
        case(
            "status 99",
            InvalidArgument,
            "statuses",
            c!(
                op,
                list_requests,
                intake::ListRequestsRequest {
                    statuses: vec![99],
                    ..Default::default()
                }
            ),
        ),
        case(
            "broken timestamp",
            InvalidArgument,
            "created_after",
            c!(
                op,
                list_requests,
                intake::ListRequestsRequest {
                    created_after: Some(bad_time),
                    ..Default::default()
                }
            ),
        ),
        case(
            "malformed name",
            InvalidArgument,
            "name",
            c!(
                op,
                get_request,
                intake::GetRequestRequest {
                    name: "requests/42".into()
                }
            ),
        ),
        case(
            "foreign resource name",
            InvalidArgument,
            "name",
            c!(
                op,
                get_request,
                intake::GetRequestRequest {
                    name: random_group.clone()
                }
            ),
        ),
        case(
            "unknown request",
            NotFound,
            "",
            c!(
                op,
                get_request,
                intake::GetRequestRequest {
                    name: random_request.clone()
                }
            ),
        ),
        case(
            "batch read of no requests",
            InvalidArgument,
            "names",
            c!(
                op,
                batch_get_requests,
                intake::BatchGetRequestsRequest {
                    names: vec![],
                    ..Default::default()
                }
            ),
        ),
        case(
            "batch read with a malformed name among good ones",
            InvalidArgument,
            "names[1]",
            c!(
                op,
                batch_get_requests,
                intake::BatchGetRequestsRequest {
                    names: vec![random_request.clone(), "requests/42".into()],
                    ..Default::default()
                }
            ),
        ),
        case(
            "batch read of an unknown request",
            NotFound,
            "",
            c!(
                op,
                batch_get_requests,
                intake::BatchGetRequestsRequest {
                    names: vec![random_request.clone()],
                    ..Default::default()
                }
            ),
        ),
        case(
            "settlement search with a right-to-left override",
            InvalidArgument,
            "query",
            c!(
                places,
                search_settlements,
                places::SearchSettlementsRequest {
                    query: "Кызыл\u{202e}орда".into(),
                    ..Default::default()
                }
            ),
        ),
        case(
            "settlement search of a megabyte",
            InvalidArgument,
            "query",
            c!(
                places,
                search_settlements,
                places::SearchSettlementsRequest {
                    query: "ж".repeat(500_000),
                    ..Default::default()
                }
            ),
        ),
        case(
            "settlement search in a region that does not exist",
            InvalidArgument,
            "region",
            c!(
                places,
                search_settlements,
                places::SearchSettlementsRequest {
                    query: "Шиели".into(),
                    region: "Atlantis Region".into(),
                    ..Default::default()
                }
            ),
        ),
        case(
            "settlement search with a negative page size",
            InvalidArgument,
            "page_size",
            c!(
                places,
                search_settlements,
                places::SearchSettlementsRequest {
                    query: "Шиели".into(),
                    page_size: -5,
                    ..Default::default()
                }
            ),
        ),
        case(
            "reference code of symbols",
            InvalidArgument,
            "reference_code",
            c!(
                op,
                find_by_reference,
                intake::FindByReferenceRequest {
                    reference_code: "!!!-???".into()
                }
            ),
        ),
        case(
            "cancel with a stale etag",
            FailedPrecondition,
            "",
            c!(
                op,
                cancel_request,
                intake::CancelRequestRequest {
                    name: request.name.clone(),
                    reason: "дрова привезли".into(),
                    etag: "999".into(),
                    ..Default::default()
                }
            ),
        ),
        case(
            "cancel without a reason",
            InvalidArgument,
            "reason",
            c!(
                op,
                cancel_request,
                intake::CancelRequestRequest {
                    name: request.name.clone(),
                    ..Default::default()
                }
            ),
        ),
        // Triage.
        case(
            "decision name without /triage",
            InvalidArgument,
            "name",
            c!(
                triage_client,
                get_triage_decision,
                triage::GetTriageDecisionRequest {
                    name: request.name.clone()
                }
            ),
        ),
        case(
            "override to category 99",
            InvalidArgument,
            "category",
            c!(
                triage_client,
                override_triage,
                triage::OverrideTriageRequest {
                    name: format!("{}/triage", request.name),
                    request_id: uuid(),
                    category: 99,
                    reason: "ошибка".into(),
                    ..Default::default()
                }
            ),
        ),
        case(
            "override with a bidi reason",
            InvalidArgument,
            "reason",
            c!(
                triage_client,
                override_triage,
                triage::OverrideTriageRequest {
                    name: format!("{}/triage", request.name),
                    request_id: uuid(),
                    priority: pb::Priority::High as i32,
                    reason: "\u{202D}срочно".into(),
                    ..Default::default()
                }
            ),
        ),
        case(
            "merge into itself",
            InvalidArgument,
            "merge_into",
            c!(
                triage_client,
                merge_duplicate,
                triage::MergeDuplicateRequest {
                    name: format!("{}/triage", request.name),
                    merge_into: request.name.clone(),
                    request_id: uuid(),
                    reason: "дубль".into()
                }
            ),
        ),
        case(
            "audit page of -5",
            InvalidArgument,
            "page_size",
            c!(
                triage_client,
                list_triage_audit,
                triage::ListTriageAuditRequest {
                    name: format!("{}/triage", request.name),
                    page_size: -5,
                    ..Default::default()
                }
            ),
        ),
        // Roster.
        case(
            "capacity 0",
            InvalidArgument,
            "group.capacity",
            c!(
                roster_client,
                create_group,
                group(&ours.name, |g| g.capacity = 0)
            ),
        ),
        case(
            "group at NaN",
            InvalidArgument,
            "group.base_location.latitude",
            c!(
                roster_client,
                create_group,
                group(&ours.name, |g| g.base_location = Some(pb::LatLng {
                    latitude: nan,
                    longitude: 77.0
                }))
            ),
        ),
        case(
            "group at 0,0",
            InvalidArgument,
            "group.base_location",
            c!(
                roster_client,
                create_group,
                group(&ours.name, |g| g.base_location = Some(pb::LatLng {
                    latitude: 0.0,
                    longitude: 0.0
                }))
            ),
        ),
        case(
            "skill unspecified",
            InvalidArgument,
            "group.skills[0].skill",
            c!(
                roster_client,
                create_group,
                group(&ours.name, |g| g.skills[0].skill = 0)
            ),
        ),
        case(
            "time zone on Mars",
            InvalidArgument,
            "group.schedule.time_zone",
            c!(
                roster_client,
                create_group,
                group(&ours.name, |g| g.schedule = Some(pb::WeeklySchedule {
                    time_zone: "Mars/Olympus_Mons".into(),
                    ..Default::default()
                }))
            ),
        ),
        case(
            "group of an unknown organisation",
            NotFound,
            "",
            c!(
                roster_client,
                create_group,
                group(&format!("organizations/{}", uuid()), |_| {})
            ),
        ),
        case(
            "organisation without a name",
            InvalidArgument,
            "organization.display_name",
            c!(
                roster_client,
                create_organization,
                roster::CreateOrganizationRequest {
                    request_id: uuid(),
                    organization: Some(roster::Organization {
                        kind: roster::OrganizationKind::Ngo as i32,
                        ..Default::default()
                    })
                }
            ),
        ),
        case(
            "e-mail without @",
            InvalidArgument,
            "organization.contact_email",
            c!(
                roster_client,
                create_organization,
                roster::CreateOrganizationRequest {
                    request_id: uuid(),
                    organization: Some(roster::Organization {
                        display_name: "Qamqor".into(),
                        kind: roster::OrganizationKind::Ngo as i32,
                        contact_email: "qamqor.kz".into(),
                        ..Default::default()
                    })
                }
            ),
        ),
        case(
            "a group listed twice",
            InvalidArgument,
            "volunteer.groups[1]",
            c!(
                roster_client,
                create_volunteer,
                roster::CreateVolunteerRequest {
                    request_id: uuid(),
                    volunteer: Some(roster::Volunteer {
                        display_name: "Ерлан".into(),
                        groups: vec![our_group.name.clone(), our_group.name.clone()],
                        ..Default::default()
                    })
                }
            ),
        ),
        case(
            "update with a stale etag",
            FailedPrecondition,
            "",
            c!(
                roster_client,
                update_group,
                roster::UpdateGroupRequest {
                    group: Some(roster::Group {
                        name: our_group.name.clone(),
                        capacity: 3,
                        etag: "999".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["capacity".into()]
                    })
                }
            ),
        ),
        case(
            "update of an unknown field",
            InvalidArgument,
            "update_mask.paths[0]",
            c!(
                roster_client,
                update_group,
                roster::UpdateGroupRequest {
                    group: Some(roster::Group {
                        name: our_group.name.clone(),
                        etag: our_group.etag.clone(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["organization".into()]
                    })
                }
            ),
        ),
        case(
            "groups page of -1",
            InvalidArgument,
            "page_size",
            c!(
                roster_client,
                list_groups,
                roster::ListGroupsRequest {
                    page_size: -1,
                    ..Default::default()
                }
            ),
        ),
        case(
            "empty import",
            InvalidArgument,
            "csv",
            c!(
                roster_client,
                import_roster,
                roster::ImportRosterRequest {
                    request_id: uuid(),
                    organization: ours.name.clone(),
                    csv: vec![],
                    validate_only: false
                }
            ),
        ),
        case(
            "key without a role",
            InvalidArgument,
            "api_key.role",
            c!(
                access_client,
                create_api_key,
                access::CreateApiKeyRequest {
                    request_id: uuid(),
                    api_key: Some(access::ApiKey {
                        display_name: "x".into(),
                        subject: "dispatchers/x".into(),
                        ..Default::default()
                    })
                }
            ),
        ),
        case(
            "key for nobody",
            InvalidArgument,
            "api_key.subject",
            c!(
                access_client,
                create_api_key,
                access::CreateApiKeyRequest {
                    request_id: uuid(),
                    api_key: Some(access::ApiKey {
                        display_name: "x".into(),
                        role: Role::Volunteer.code(),
                        subject: format!("volunteers/{}", uuid()),
                        ..Default::default()
                    })
                }
            ),
        ),
        case(
            "key in a Komek service's name",
            InvalidArgument,
            "api_key.subject",
            c!(
                access_client,
                create_api_key,
                access::CreateApiKeyRequest {
                    request_id: uuid(),
                    api_key: Some(access::ApiKey {
                        display_name: "x".into(),
                        role: Role::Service.code(),
                        subject: "services/matching".into(),
                        ..Default::default()
                    })
                }
            ),
        ),
        // Matching.
        case(
            "queue unspecified",
            InvalidArgument,
            "queue",
            c!(dispatch, list_queue, matching::ListQueueRequest::default()),
        ),
        case(
            "forged queue token",
            InvalidArgument,
            "page_token",
            c!(
                dispatch,
                list_queue,
                matching::ListQueueRequest {
                    queue: matching::Queue::Escalated as i32,
                    page_token: forged_token.clone(),
                    ..Default::default()
                }
            ),
        ),
        case(
            "assign with a bad key",
            InvalidArgument,
            "request_id",
            c!(
                dispatch,
                assign_request,
                matching::AssignRequestRequest {
                    request_id: "x".into(),
                    request: request.name.clone(),
                    group: our_group.name.clone(),
                    reason: "сами".into()
                }
            ),
        ),
        case(
            "assign without a reason",
            InvalidArgument,
            "reason",
            c!(
                dispatch,
                assign_request,
                matching::AssignRequestRequest {
                    request_id: uuid(),
                    request: request.name.clone(),
                    group: our_group.name.clone(),
                    reason: String::new()
                }
            ),
        ),
        case(
            "campaign of nothing",
            InvalidArgument,
            "requests",
            c!(
                dispatch,
                create_campaign,
                matching::CreateCampaignRequest {
                    request_id: uuid(),
                    display_name: "Winter coal".into(),
                    requests: vec![],
                    validate_only: true
                }
            ),
        ),
        case(
            "explain a malformed name",
            InvalidArgument,
            "request",
            c!(
                dispatch,
                explain_request,
                matching::ExplainRequestRequest {
                    request: "requests/".into()
                }
            ),
        ),
        case(
            "assignment name of a group",
            InvalidArgument,
            "name",
            c!(
                assignments,
                get_assignment,
                matching::GetAssignmentRequest {
                    name: our_group.name.clone()
                }
            ),
        ),
        // Operations.
        case(
            "replay of a malformed dead letter",
            InvalidArgument,
            "name",
            c!(
                operations,
                replay_dead_letter,
                ops::ReplayDeadLetterRequest {
                    name: "deadLetters/x".into()
                }
            ),
        ),
        case(
            "replay of an unknown dead letter",
            NotFound,
            "",
            c!(
                operations,
                replay_dead_letter,
                ops::ReplayDeadLetterRequest {
                    name: format!("deadLetters/{}", uuid())
                }
            ),
        ),
        case(
            "dead letters page of -1",
            InvalidArgument,
            "page_size",
            c!(
                operations,
                list_dead_letters,
                ops::ListDeadLettersRequest {
                    page_size: -1,
                    ..Default::default()
                }
            ),
        ),
        case(
            "forged dead letters token",
            InvalidArgument,
            "page_token",
            c!(
                operations,
                list_dead_letters,
                ops::ListDeadLettersRequest {
                    page_token: forged_token.clone(),
                    ..Default::default()
                }
            ),
        ),
        // Credentials and tenants.
        case(
            "no credential",
            Unauthenticated,
            "",
            c!(
                anonymous,
                get_request,
                intake::GetRequestRequest {
                    name: request.name.clone()
                }
            ),
        ),
        case(
            "forged key",
            Unauthenticated,
            "",
            c!(
                forged,
                get_request,
                intake::GetRequestRequest {
                    name: request.name.clone()
                }
            ),
        ),
        case(
            "expired key",
            Unauthenticated,
            "",
            c!(
                expired,
                get_request,
                intake::GetRequestRequest {
                    name: request.name.clone()
                }
            ),
        ),
        case(
            "a volunteer at the dispatch desk",
            PermissionDenied,
            "ROLE_NOT_ALLOWED",
            c!(
                volunteer_dispatch,
                list_queue,
                matching::ListQueueRequest {
                    queue: matching::Queue::Escalated as i32,
                    ..Default::default()
                }
            ),
        ),
        case(
            "another tenant's request",
            NotFound,
            "",
            c!(
                partner,
                get_request_status,
                komek_proto::partner::v1::GetRequestStatusRequest {
                    key: Some(
                        komek_proto::partner::v1::get_request_status_request::Key::Name(
                            request.name.clone()
                        )
                    )
                }
            ),
        ),
    ];
    assert!(cases.len() >= 60, "{} cases", cases.len());

    let mut wrong = Vec::new();
    for Case {
        what,
        code,
        detail,
        call,
    } in cases
    {
        let answer = call.await;
        let Err(status) = answer else {
            wrong.push(format!("{what}: accepted"));
            continue;
        };
        if status.code() != code {
            wrong.push(format!("{what}: {:?} {}", status.code(), status.message()));
            continue;
        }
        if detail.is_empty() {
            continue;
        }
        let fields = if code == InvalidArgument {
            violated_fields(&status)
        } else {
            Vec::new()
        };
        let reason = status
            .get_details_error_info()
            .map(|i| i.reason)
            .unwrap_or_default();
        if !fields.iter().any(|f| f == detail) && reason != detail {
            wrong.push(format!("{what}: named {fields:?} {reason:?}, not {detail}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Nothing was written, and every service still serves.
    assert_eq!(written(&system).await, before);
    for addr in [system.intake, system.triage, system.roster, system.matching] {
        let status = HealthClient::new(connect(addr).await.unwrap())
            .check(HealthCheckRequest::default())
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{addr}");
    }
    system.stop().await;
}
