//! Who may call what, end to end: every method of every service called with a credential of
//! every role (and with none, and with a revoked one), partners' scopes and the absence of
//! personal data in anything a partner receives, and the caller's contact reaching only the
//! group that won the race to accept.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use komek_proto::access::v1 as access;
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::partner::v1 as partner;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_runtime::auth::Role;
use komek_runtime::auth::gate::ROLE_NOT_ALLOWED;
use komek_runtime::auth::policy::MATRIX;
use komek_tests::settlements::find;
use komek_tests::{
    ADMIN_KEY, System, at, authed, connect, create_group, create_organization, create_request,
    create_volunteer, eventually, violated_fields, wait_request,
};
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

/// Calls `path` on `addr` with an empty message, as `credential` (none when empty), and
/// returns the status code and the ErrorInfo reason of the answer.
async fn call(addr: SocketAddr, path: &str, credential: &str) -> (Code, String) {
    let channel = connect(addr).await.unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let mut request = tonic::Request::new(());
    if !credential.is_empty() {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {credential}").parse().unwrap(),
        );
    }
    request.set_timeout(Duration::from_secs(5));
    // A unary method answers a streaming call with its one message, so one shape fits all.
    let reply = grpc
        .server_streaming(
            request,
            path.parse().unwrap(),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await;
    match reply {
        Ok(_) => (Code::Ok, String::new()),
        Err(status) => {
            let reason = status
                .get_details_error_info()
                .map(|i| i.reason)
                .unwrap_or_default();
            (status.code(), reason)
        }
    }
}

fn server_of(system: &System, service: &str) -> SocketAddr {
    match service {
        "komek.intake.v1.IntakeService"
        | "komek.partner.v1.PartnerService"
        | "komek.places.v1.PlaceService"
        | "komek.intake.v1.PlanService" => system.intake,
        "komek.triage.v1.TriageService" => system.triage,
        "komek.roster.v1.RosterService" | "komek.access.v1.AccessService" => system.roster,
        "komek.matching.v1.AssignmentService" | "komek.matching.v1.DispatchService" => {
            system.matching
        }
        // Every service serves its own; any one shows the gate's answer.
        "komek.ops.v1.OperationsService" => system.triage,
        other => panic!("no server for {other}"),
    }
}

/// An organisation working in Almaty Region with one group at Talgar and one volunteer in it.
async fn talgar_team(system: &System) -> (roster::Organization, roster::Volunteer) {
    let mut roster_client = system.roster_client().await;
    let org = create_organization(
        &mut roster_client,
        "Talgar volunteers",
        roster::OrganizationKind::Ngo,
        &["Almaty Region"],
    )
    .await;
    let group = create_group(
        &mut roster_client,
        &org.name,
        "Talgar team",
        find("Talghar", "Almaty Region"),
        &[pb::Skill::SocialCare],
        pb::Availability::Available,
        &Uuid::new_v4().to_string(),
    )
    .await;
    let volunteer = create_volunteer(&mut roster_client, "Дина", vec![group.name]).await;
    (org, volunteer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_meets_the_matrix_and_nothing_passes_without_a_valid_key() {
    let system = System::start().await;
    let (org, volunteer) = talgar_team(&system).await;
    let keys = [
        (Role::Admin, ADMIN_KEY.to_string()),
        (Role::Dispatcher, system.dispatcher_key.clone()),
        (
            Role::Volunteer,
            system
                .issue_key(Role::Volunteer, &volunteer.name, &[])
                .await,
        ),
        (
            Role::Partner,
            system
                .issue_key(Role::Partner, &org.name, &["Almaty Region"])
                .await,
        ),
        (
            Role::Service,
            system
                .issue_key(Role::Service, "services/telephony", &[])
                .await,
        ),
    ];

    let mut checked = 0;
    for (service, method, allowed) in MATRIX {
        let path = format!("/{service}/{method}");
        let addr = server_of(&system, service);
        let (code, _) = call(addr, &path, "").await;
        assert_eq!(code, Code::Unauthenticated, "{path} without credentials");
        let (code, _) = call(addr, &path, "kmk_not-a-key").await;
        assert_eq!(code, Code::Unauthenticated, "{path} with a made-up key");
        for (role, key) in &keys {
            let (code, reason) = call(addr, &path, key).await;
            let refused = code == Code::PermissionDenied && reason == ROLE_NOT_ALLOWED;
            if allowed.contains(role) {
                assert!(
                    !refused && code != Code::Unauthenticated,
                    "{role:?} may call {path}, got {code:?} {reason}"
                );
                assert_ne!(
                    code,
                    Code::ResourceExhausted,
                    "{role:?} {path} rate limited"
                );
            } else {
                assert!(
                    refused,
                    "{role:?} may not call {path}, got {code:?} {reason}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, MATRIX.len() * keys.len());

    // A revoked key stops working everywhere.
    let volunteer_key = &keys[2].1;
    let mut admin = system.access_client(ADMIN_KEY).await;
    let listed = admin
        .list_api_keys(access::ListApiKeysRequest {
            subject: volunteer.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.api_keys.len(), 1);
    let revoked = admin
        .revoke_api_key(access::RevokeApiKeyRequest {
            name: listed.api_keys[0].name.clone(),
            reason: "phone lost".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoke_time.is_some());
    let stream_offers = "/komek.matching.v1.AssignmentService/StreamOffers";
    let refused = eventually(Duration::from_secs(10), || async {
        let (code, _) = call(system.matching, stream_offers, volunteer_key).await;
        (code == Code::Unauthenticated).then_some(())
    })
    .await;
    assert!(refused.is_some(), "a revoked key is refused");
    // The secret itself is nowhere to be read back.
    let again = admin
        .get_api_key(access::GetApiKeyRequest {
            name: listed.api_keys[0].name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        !again
            .encode_to_vec()
            .windows(20)
            .any(|w| volunteer_key.as_bytes().windows(20).any(|k| k == w))
    );

    // Keys are validated like everything else: every field at fault named.
    let err = admin
        .create_api_key(access::CreateApiKeyRequest {
            request_id: "nope".into(),
            api_key: Some(access::ApiKey {
                display_name: String::new(),
                role: Role::Volunteer.code(),
                subject: "volunteers/aigerim".into(),
                regions: vec!["Almaty".into()],
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "api_key.display_name",
            "api_key.regions",
            "api_key.subject",
            "request_id"
        ]
    );
    // A dispatcher signs a volunteer's phone in, and issues no other kind of key.
    let mut dispatcher = system.access_client(&system.dispatcher_key).await;
    let for_phone = dispatcher
        .create_api_key(access::CreateApiKeyRequest {
            request_id: Uuid::new_v4().to_string(),
            api_key: Some(access::ApiKey {
                display_name: "phone".into(),
                role: Role::Volunteer.code(),
                subject: volunteer.name.clone(),
                ..Default::default()
            }),
        })
        .await
        .expect("a dispatcher issues a volunteer's key")
        .into_inner();
    assert!(!for_phone.secret.is_empty());
    let err = dispatcher
        .create_api_key(access::CreateApiKeyRequest {
            request_id: Uuid::new_v4().to_string(),
            api_key: Some(access::ApiKey {
                display_name: "another desk".into(),
                role: Role::Dispatcher.code(),
                subject: "dispatchers/another".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // A key for a volunteer the roster does not know is refused too.
    let err = admin
        .create_api_key(access::CreateApiKeyRequest {
            request_id: Uuid::new_v4().to_string(),
            api_key: Some(access::ApiKey {
                display_name: "ghost".into(),
                role: Role::Volunteer.code(),
                subject: format!("volunteers/{}", Uuid::new_v4()),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    system.stop().await;
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_watches_its_requests_live_and_sees_no_one_else_and_no_personal_data() {
    let system = System::start_tuned(|c| c.offer_ttl.normal_secs = 600).await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;

    // The Red Crescent branch in Talgar, and an akimat service far away in Akmola Region.
    let talgar = find("Talghar", "Almaty Region");
    let stepnogorsk = find("Stepnogorsk", "Akmola Region");
    let ours = create_organization(
        &mut roster_client,
        "Red Crescent, Talgar",
        roster::OrganizationKind::RedCrescent,
        &["Almaty Region"],
    )
    .await;
    let theirs = create_organization(
        &mut roster_client,
        "Akmola akimat social service",
        roster::OrganizationKind::AkimatService,
        &["Akmola Region"],
    )
    .await;
    let mut groups = Vec::new();
    for (org, place, label) in [
        (&ours, talgar, "Talgar"),
        (&theirs, stepnogorsk, "Stepnogorsk"),
    ] {
        groups.push(
            create_group(
                &mut roster_client,
                &org.name,
                &format!("{label} social care"),
                place,
                &[pb::Skill::SocialCare],
                pb::Availability::Available,
                &Uuid::new_v4().to_string(),
            )
            .await,
        );
    }
    let member = create_volunteer(&mut roster_client, "Әсел", vec![groups[0].name.clone()]).await;
    system.wait_roster_published(3).await;

    let (name, phone, address) = ("Бақытжан Сейітов", "+77017770011", "ул. Абая, 15, кв. 3");
    let mut ours_request = create_request(
        &mut intake_client,
        Some((name, phone)),
        talgar,
        at(talgar),
        "Ардагерге үйде көмек керек, жалғыз тұрады",
    )
    .await;
    // The exact address goes to intake only; partners must never see it.
    ours_request = intake_client
        .get_request(intake::GetRequestRequest {
            name: ours_request.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let theirs_request = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                display_name: name.into(),
                phone: phone.into(),
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(stepnogorsk)),
                address: address.into(),
                settlement: stepnogorsk.name_en.clone(),
                district: stepnogorsk.district.clone(),
                region: stepnogorsk.region.clone(),
                ..Default::default()
            }),
            description: "Пенсионерке нужна помощь по дому".into(),
            people_count: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let offer = wait_request(&intake_client, &ours_request.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await
    .assignment
    .unwrap();
    assert_eq!(offer.group, groups[0].name);
    wait_request(&intake_client, &theirs_request.name, "offered", |r| {
        r.assignment.is_some()
    })
    .await;

    // Our partner: its organisation's groups' work. Another partner: Akmola Region by region.
    let our_key = system.issue_key(Role::Partner, &ours.name, &[]).await;
    let akmola_key = system
        .issue_key(Role::Partner, &theirs.name, &["Akmola Region"])
        .await;
    let mut partner_client = system.partner_client(&our_key).await;
    let mut seen: Vec<Vec<u8>> = Vec::new();

    let by_code = partner_client
        .get_request_status(partner::GetRequestStatusRequest {
            key: Some(partner::get_request_status_request::Key::ReferenceCode(
                ours_request.reference_code.to_lowercase(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    seen.push(by_code.encode_to_vec());
    assert_eq!(by_code.name, ours_request.name);
    assert_eq!(by_code.status, pb::RequestStatus::Dispatching as i32);
    assert_eq!(by_code.group_display_name, "Talgar social care");
    assert_eq!(by_code.settlement, talgar.name_en);

    // Out of scope is as good as absent, by name, by code and for watching.
    for key in [
        partner::get_request_status_request::Key::Name(theirs_request.name.clone()),
        partner::get_request_status_request::Key::ReferenceCode(
            theirs_request.reference_code.clone(),
        ),
    ] {
        let err = partner_client
            .get_request_status(partner::GetRequestStatusRequest { key: Some(key) })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
    }
    let err = partner_client
        .watch_request(partner::WatchRequestRequest {
            key: Some(partner::watch_request_request::Key::Name(
                theirs_request.name.clone(),
            )),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let listed = partner_client
        .list_requests(partner::ListRequestsRequest::default())
        .await
        .unwrap()
        .into_inner();
    seen.push(listed.encode_to_vec());
    let names: Vec<&str> = listed.requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [ours_request.name.as_str()]);
    // The Akmola partner sees the Akmola request through its region, and not ours.
    let mut akmola = system.partner_client(&akmola_key).await;
    let listed = akmola
        .list_requests(partner::ListRequestsRequest::default())
        .await
        .unwrap()
        .into_inner();
    seen.push(listed.encode_to_vec());
    let names: Vec<&str> = listed.requests.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [theirs_request.name.as_str()]);
    // Partners never reach intake's own API, which carries callers.
    let err = intake::intake_service_client::IntakeServiceClient::new(
        authed(system.intake, &our_key).await,
    )
    .get_request(intake::GetRequestRequest {
        name: ours_request.name.clone(),
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Live: the partner watches while the group accepts, travels and finishes.
    let mut watch = partner_client
        .watch_request(partner::WatchRequestRequest {
            key: Some(partner::watch_request_request::Key::Name(
                ours_request.name.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(20), watch.next())
            .await
            .expect("a status change within 20 s")
            .expect("the watch is open")
            .unwrap()
    };
    let first = next().await;
    seen.push(first.encode_to_vec());
    assert_eq!(first.status, pb::RequestStatus::Dispatching as i32);

    let mut app = system.volunteer_app(&member.name).await;
    let accepted = app
        .accept_offer(matching::AcceptOfferRequest {
            name: offer.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            volunteer: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    // The group that took the job gets the caller's contact with the answer.
    let contact = accepted.caller_contact.expect("contact after accept");
    assert_eq!(
        (contact.display_name.as_str(), contact.phone.as_str()),
        (name, phone)
    );
    let assigned = next().await;
    seen.push(assigned.encode_to_vec());
    assert_eq!(assigned.status, pb::RequestStatus::Assigned as i32);
    for step in [
        matching::ProgressStep::EnRoute,
        matching::ProgressStep::OnSite,
        matching::ProgressStep::Completed,
    ] {
        app.update_progress(matching::UpdateProgressRequest {
            name: offer.assignment.clone(),
            request_id: Uuid::new_v4().to_string(),
            step: step as i32,
            outcome: pb::Outcome::Helped as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let mut statuses = vec![];
    loop {
        let view = next().await;
        seen.push(view.encode_to_vec());
        statuses.push(view.status);
        if view.status == pb::RequestStatus::Resolved as i32 {
            assert_eq!(view.outcome, pb::Outcome::Helped as i32);
            break;
        }
    }
    assert_eq!(
        statuses.first(),
        Some(&(pb::RequestStatus::InProgress as i32))
    );

    // Statistics of the partner's scope: one request, helped, with its times.
    let stats = partner_client
        .get_stats(partner::GetStatsRequest {
            group_by: vec![
                partner::StatsDimension::Category as i32,
                partner::StatsDimension::Month as i32,
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    seen.push(stats.encode_to_vec());
    let total = stats.total.unwrap();
    assert_eq!(total.request_count, 1);
    assert_eq!(total.people_helped, 1);
    assert!(total.median_time_to_assign.is_some() && total.p90_time_to_complete.is_some());
    assert_eq!(stats.rows.len(), 1);
    assert_eq!(stats.rows[0].keys[0], "CATEGORY_VETERAN_AID");
    // By the organisation and the group that did the work, and by how the call came.
    let by_who = partner_client
        .get_stats(partner::GetStatsRequest {
            group_by: vec![
                partner::StatsDimension::Organization as i32,
                partner::StatsDimension::Group as i32,
                partner::StatsDimension::Channel as i32,
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_who.rows.len(), 1, "{by_who:?}");
    assert_eq!(
        by_who.rows[0].keys,
        [
            "Red Crescent, Talgar",
            "Talgar social care",
            "CHANNEL_HOTLINE"
        ]
    );
    assert_eq!(by_who.rows[0].people_helped, 1);
    // Dispatchers see every scope in the same report.
    let everything = system
        .partner_client(&system.dispatcher_key)
        .await
        .get_stats(partner::GetStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(everything.total.unwrap().request_count, 2);

    // An integration (a telephony system) records calls but does not read callers back.
    let telephony = system
        .issue_key(Role::Service, "services/telephony", &[])
        .await;
    let mut integration = intake::intake_service_client::IntakeServiceClient::new(
        authed(system.intake, &telephony).await,
    );
    let recorded = create_request(
        &mut integration,
        Some((name, phone)),
        talgar,
        at(talgar),
        "Ардагерге көмек керек",
    )
    .await;
    let caller = recorded.caller.unwrap();
    assert!(caller.display_name.is_empty() && caller.phone.is_empty());
    let seen_by_dispatcher = intake_client
        .get_request(intake::GetRequestRequest {
            name: recorded.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen_by_dispatcher.caller.unwrap().phone, phone);

    // A message over the size cap is refused before any handler sees it.
    let mut huge = intake::CreateRequestRequest {
        request_id: Uuid::new_v4().to_string(),
        description: "көмір ".repeat(200_000),
        ..Default::default()
    };
    huge.channel = pb::Channel::Hotline as i32;
    let err = intake_client.create_request(huge).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");

    // Nothing a partner received carries the caller or the address.
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    for bytes in &seen {
        for secret in [name, "Бақытжан", "Сейітов", phone, &digits, address, "Абая"]
        {
            assert!(!contains(bytes, secret), "{secret:?} reached a partner");
        }
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_principal_beyond_its_rate_is_told_when_to_retry() {
    let system = System::start_tuned(|c| {
        c.base.auth.rate_limits.volunteer = komek_runtime::auth::gate::RateLimit {
            per_second: 0.5,
            burst: 3,
        };
    })
    .await;
    let (_, volunteer) = talgar_team(&system).await;
    let mut app = system.volunteer_app(&volunteer.name).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let answer = app
            .get_assignment(matching::GetAssignmentRequest {
                name: format!("assignments/{}", Uuid::new_v4()),
            })
            .await;
        codes.push(answer.unwrap_err());
    }
    // The burst passes the gate (and finds nothing; signing in took one call of it), then the
    // bucket is empty.
    for status in &codes[..2] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
    assert!(
        codes
            .iter()
            .all(|s| matches!(s.code(), Code::NotFound | Code::ResourceExhausted))
    );
    let limited = codes
        .iter()
        .find(|s| s.code() == Code::ResourceExhausted)
        .expect("calls beyond the burst are refused");
    let retry = limited.get_details_retry_info().expect("a retry delay");
    assert!(retry.retry_delay.is_some_and(|d| d > Duration::ZERO));
    // The dispatcher's own bucket is untouched.
    let dispatcher = system
        .assignment_client()
        .await
        .get_assignment(matching::GetAssignmentRequest {
            name: format!("assignments/{}", Uuid::new_v4()),
        })
        .await
        .unwrap_err();
    assert_eq!(dispatcher.code(), Code::NotFound);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_regional_dispatcher_sees_and_acts_on_its_regions_only() {
    use komek_proto::matching::v1::dispatch_service_client::DispatchServiceClient;
    use komek_proto::triage::v1 as triage;
    use komek_proto::triage::v1::triage_service_client::TriageServiceClient;

    // No groups anywhere: both requests are escalated to dispatchers.
    let system = System::start().await;
    let mut operator = system.intake_client().await;
    let talgar = find("Talghar", "Almaty Region");
    let stepnogorsk = find("Stepnogorsk", "Akmola Region");
    let ours = create_request(
        &mut operator,
        None,
        talgar,
        at(talgar),
        "Ардагерге көмек керек",
    )
    .await;
    let theirs = create_request(
        &mut operator,
        None,
        stepnogorsk,
        at(stepnogorsk),
        "Пенсионерке нужен уголь",
    )
    .await;
    for r in [&ours, &theirs] {
        wait_request(&operator, &r.name, "escalated", |r| {
            r.status == pb::RequestStatus::Escalated as i32
        })
        .await;
    }

    // The Almaty "109" line's dispatcher.
    let key = system
        .issue_key(
            Role::Dispatcher,
            "dispatchers/almaty-109",
            &["Almaty Region"],
        )
        .await;
    let mut intake_client =
        komek_proto::intake::v1::intake_service_client::IntakeServiceClient::new(
            authed(system.intake, &key).await,
        );
    let mut triage_client = TriageServiceClient::new(authed(system.triage, &key).await);
    let mut dispatch = DispatchServiceClient::new(authed(system.matching, &key).await);

    let listed = intake_client
        .list_requests(intake::ListRequestsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .requests;
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, [ours.name.as_str()]);
    let queue = dispatch
        .list_queue(matching::ListQueueRequest {
            queue: matching::Queue::Escalated as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .items;
    let queued: Vec<&str> = queue.iter().map(|i| i.request.as_str()).collect();
    assert_eq!(queued, [ours.name.as_str()]);
    let get = |name: &str| intake::GetRequestRequest { name: name.into() };
    assert!(intake_client.get_request(get(&ours.name)).await.is_ok());
    let decision = |r: &intake::Request| triage::GetTriageDecisionRequest {
        name: format!("{}/triage", r.name),
    };
    assert!(
        triage_client
            .get_triage_decision(decision(&ours))
            .await
            .is_ok()
    );

    // Akmola's request does not exist for it, however it asks.
    assert_eq!(
        code(intake_client.get_request(get(&theirs.name)).await),
        Code::NotFound
    );
    let find_theirs = intake::FindByReferenceRequest {
        reference_code: theirs.reference_code.clone(),
    };
    assert_eq!(
        code(intake_client.find_by_reference(find_theirs).await),
        Code::NotFound
    );
    let cancel_theirs = intake::CancelRequestRequest {
        name: theirs.name.clone(),
        reason: "ошибка".into(),
        ..Default::default()
    };
    assert_eq!(
        code(intake_client.cancel_request(cancel_theirs).await),
        Code::NotFound
    );
    assert_eq!(
        code(triage_client.get_triage_decision(decision(&theirs)).await),
        Code::NotFound
    );
    let explain = matching::ExplainRequestRequest {
        request: theirs.name.clone(),
    };
    assert_eq!(
        code(dispatch.explain_request(explain).await),
        Code::NotFound
    );
    let assign = matching::AssignRequestRequest {
        request_id: Uuid::new_v4().to_string(),
        request: theirs.name.clone(),
        group: format!("groups/{}", Uuid::new_v4()),
        reason: "сами съездим".into(),
    };
    assert_eq!(code(dispatch.assign_request(assign).await), Code::NotFound);
    // Nor does it record calls elsewhere.
    let elsewhere = intake_client
        .create_request(intake::CreateRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            channel: pb::Channel::Hotline as i32,
            caller: Some(intake::Caller {
                anonymous: true,
                ..Default::default()
            }),
            location: Some(pb::Location {
                point: Some(at(stepnogorsk)),
                settlement: stepnogorsk.name_en.clone(),
                region: stepnogorsk.region.clone(),
                ..Default::default()
            }),
            description: "Нужны дрова".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(code(elsewhere), Code::PermissionDenied);

    // The dispatcher for every region still sees both.
    let all = operator
        .list_requests(intake::ListRequestsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(all.len(), 2);
    system.stop().await;
}

/// The code of a call that must fail.
fn code<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match result {
        Ok(ok) => panic!("answered {ok:?}"),
        Err(status) => status.code(),
    }
}
