//! End to end: dispatchers work the queues by hand. An escalated request is assigned to a
//! group the matcher would not choose, reassigned, found overdue, withdrawn and cancelled;
//! every move lands in the audit log with who and why, and the region's watch shows the
//! changes as they happen. Real NATS and PostgreSQL, four servers.
//!
//! Settlements: Data from Who's On First (https://whosonfirst.org/docs/licenses/), incl. GeoNames
//! (CC-BY 4.0, geonames.org) and Quattroshapes (CC-BY).

use std::time::Duration;

use futures::StreamExt;
use komek_proto::intake::v1 as intake;
use komek_proto::matching::v1 as matching;
use komek_proto::roster::v1 as roster;
use komek_proto::types::v1 as pb;
use komek_tests::settlements::find;
use komek_tests::{
    System, at, create_group, create_organization, create_request, create_volunteer, eventually,
    violated_fields, wait_request,
};
use tonic::Code;
use uuid::Uuid;

/// What the watch showed of a request: the event, its queue, its status.
type Seen = (String, i32, i32);

fn queue(q: matching::Queue) -> matching::ListQueueRequest {
    matching::ListQueueRequest {
        queue: q as i32,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dispatchers_work_the_queues_by_hand_and_every_move_is_audited() {
    let system = System::start_tuned(|c| {
        // Accepted jobs are overdue one second later, so the test sees one.
        c.en_route_within.critical_secs = 1;
        c.en_route_within.high_secs = 1;
        c.en_route_within.normal_secs = 1;
        c.en_route_within.low_secs = 1;
    })
    .await;
    let mut roster_client = system.roster_client().await;
    let mut intake_client = system.intake_client().await;
    let mut dispatch = system.dispatch_client().await;

    let talgar = find("Talghar", "Almaty Region");
    let issyk = find("Issyk", "Almaty Region");
    let stepnogorsk = find("Stepnogorsk", "Akmola Region");
    let org = create_organization(
        &mut roster_client,
        "Алматы облысы еріктілері",
        roster::OrganizationKind::Ngo,
        &["Almaty Region"],
    )
    .await;
    // Coal trucks only: a missing person has nobody with the skill, so it escalates.
    let mut groups = Vec::new();
    for (place, label) in [(talgar, "Talgar"), (issyk, "Issyk")] {
        groups.push(
            create_group(
                &mut roster_client,
                &org.name,
                &format!("{label} trucks"),
                place,
                &[pb::Skill::VehicleCargo],
                pb::Availability::Available,
                &Uuid::new_v4().to_string(),
            )
            .await
            .name,
        );
    }
    let driver =
        create_volunteer(&mut roster_client, "Issyk driver", vec![groups[1].clone()]).await;
    system.wait_roster_published(3).await;

    let mut watch = dispatch
        .watch_region(matching::WatchRegionRequest {
            region: "Almaty Region".into(),
        })
        .await
        .unwrap()
        .into_inner();

    let lost = create_request(
        &mut intake_client,
        None,
        talgar,
        at(talgar),
        "Қария жоғалып кетті, кеше кешке үйден шықты",
    )
    .await;
    // A request of another region the Almaty Region watch must not show.
    let elsewhere = create_request(
        &mut intake_client,
        None,
        stepnogorsk,
        at(stepnogorsk),
        "Пропал пожилой мужчина, ушёл из дома",
    )
    .await;
    for r in [&lost, &elsewhere] {
        wait_request(&intake_client, &r.name, "escalated", |r| {
            r.status == pb::RequestStatus::Escalated as i32
        })
        .await;
    }

    // The region's watch shows the escalation, and nothing from Akmola.
    let mut seen = Vec::new();
    let mut watched = async |until: &dyn Fn(&[Seen]) -> bool, seen: &mut Vec<Seen>| {
        while !until(seen) {
            let event = tokio::time::timeout(Duration::from_secs(10), watch.next())
                .await
                .expect("a watch event within 10 s")
                .unwrap()
                .unwrap();
            let item = event.item.unwrap();
            assert_ne!(item.request, elsewhere.name, "another region's request");
            if item.request == lost.name {
                seen.push((event.change, item.queue, item.request_status));
            }
        }
    };
    watched(
        &|seen| {
            seen.iter()
                .any(|(_, q, _)| *q == matching::Queue::Escalated as i32)
        },
        &mut seen,
    )
    .await;

    let escalated = dispatch
        .list_queue(queue(matching::Queue::Escalated))
        .await
        .unwrap()
        .into_inner();
    let item = escalated
        .items
        .iter()
        .find(|i| i.request == lost.name)
        .expect("the escalated request is queued");
    assert_eq!(item.queue, matching::Queue::Escalated as i32);
    assert_eq!(item.request_status, pb::RequestStatus::Escalated as i32);
    assert!(
        item.escalation_reasons
            .contains(&(pb::IneligibleReason::MissingSkill as i32)),
        "{:?}",
        item.escalation_reasons
    );
    // Filters: Akmola's queue has only its own request.
    let akmola = dispatch
        .list_queue(matching::ListQueueRequest {
            queue: matching::Queue::Escalated as i32,
            region: "Akmola Region".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<&str> = akmola.items.iter().map(|i| i.request.as_str()).collect();
    assert_eq!(names, [elsewhere.name.as_str()]);

    // Bad input names every field at fault and changes nothing.
    let err = dispatch
        .assign_request(matching::AssignRequestRequest {
            request_id: "x".into(),
            request: "requests/nope".into(),
            group: "talgar".into(),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    let mut fields = violated_fields(&err);
    fields.sort();
    assert_eq!(fields, ["group", "reason", "request", "request_id"]);

    // 1. The dispatcher sends the Talgar truck crew anyway: they know the area.
    let assign = matching::AssignRequestRequest {
        request_id: Uuid::new_v4().to_string(),
        request: lost.name.clone(),
        group: groups[0].clone(),
        reason: "экипаж знает местность, поможет в поиске".into(),
    };
    let assigned = dispatch
        .assign_request(assign.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(assigned.group, groups[0]);
    assert_eq!(assigned.status, pb::AssignmentStatus::Offered as i32);
    let retried = dispatch.assign_request(assign).await.unwrap().into_inner();
    assert_eq!(retried.name, assigned.name, "a retry assigns nothing more");
    let err = dispatch
        .assign_request(matching::AssignRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            request: lost.name.clone(),
            group: groups[1].clone(),
            reason: "second thoughts".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("ReassignRequest"),
        "{}",
        err.message()
    );
    let escalated = dispatch
        .list_queue(queue(matching::Queue::Escalated))
        .await
        .unwrap()
        .into_inner();
    assert!(escalated.items.iter().all(|i| i.request != lost.name));
    // The explanation shows the override: the chosen group lacked the skill.
    let explained = dispatch
        .explain_request(matching::ExplainRequestRequest {
            request: lost.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let manual = explained.decisions.last().unwrap();
    assert_eq!(manual.assignment, assigned.name);
    assert!(manual.candidates[0].chosen);
    assert!(
        manual.candidates[0]
            .reasons
            .contains(&(pb::IneligibleReason::MissingSkill as i32))
    );

    // 2. Reassigned to Issyk in one move.
    let err = dispatch
        .reassign_request(matching::ReassignRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            request: lost.name.clone(),
            group: groups[0].clone(),
            reason: "same group".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let moved = dispatch
        .reassign_request(matching::ReassignRequestRequest {
            request_id: Uuid::new_v4().to_string(),
            request: lost.name.clone(),
            group: groups[1].clone(),
            reason: "Талғар экипажы бос емес".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.group, groups[1]);
    let first = system
        .assignment_client()
        .await
        .get_assignment(matching::GetAssignmentRequest {
            name: assigned.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.status, pb::AssignmentStatus::Withdrawn as i32);

    // 3. Issyk accepts but does not set out: overdue a second later.
    let mut app = system.volunteer_app(&driver.name).await;
    app.accept_offer(matching::AcceptOfferRequest {
        name: moved.name.clone(),
        request_id: Uuid::new_v4().to_string(),
        volunteer: String::new(),
    })
    .await
    .unwrap();
    let overdue = eventually(Duration::from_secs(10), || {
        let mut dispatch = dispatch.clone();
        let name = lost.name.clone();
        async move {
            let items = dispatch
                .list_queue(queue(matching::Queue::Overdue))
                .await
                .ok()?
                .into_inner()
                .items;
            items.into_iter().find(|i| i.request == name)
        }
    })
    .await
    .expect("the accepted job becomes overdue");
    assert_eq!(overdue.request_status, pb::RequestStatus::Assigned as i32);
    assert_eq!(overdue.assignment.unwrap().name, moved.name);

    // 4. Withdrawn: the request waits unassigned for the dispatcher's next move.
    dispatch
        .withdraw_assignment(matching::WithdrawAssignmentRequest {
            request_id: Uuid::new_v4().to_string(),
            name: moved.name.clone(),
            reason: "экипаж не выехал".into(),
        })
        .await
        .unwrap();
    let unassigned = dispatch
        .list_queue(queue(matching::Queue::Unassigned))
        .await
        .unwrap()
        .into_inner();
    assert!(unassigned.items.iter().any(|i| i.request == lost.name));
    let err = dispatch
        .withdraw_assignment(matching::WithdrawAssignmentRequest {
            request_id: Uuid::new_v4().to_string(),
            name: moved.name.clone(),
            reason: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    // 5. The family calls back: found. The dispatcher cancels in intake.
    intake_client
        .cancel_request(intake::CancelRequestRequest {
            name: lost.name.clone(),
            reason: "табылды, отбасы хабарлады".into(),
            request_id: Uuid::new_v4().to_string(),
            etag: String::new(),
        })
        .await
        .unwrap();

    // The audit log has every move, newest first, with who and why.
    let log = eventually(Duration::from_secs(10), || {
        let mut dispatch = dispatch.clone();
        let name = lost.name.clone();
        async move {
            let entries = dispatch
                .list_dispatch_audit(matching::ListDispatchAuditRequest {
                    request: name,
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner()
                .entries;
            (entries.len() == 4).then_some(entries)
        }
    })
    .await
    .expect("four audit entries");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "CancelRequest",
            "WithdrawAssignment",
            "ReassignRequest",
            "AssignRequest"
        ]
    );
    assert!(log.iter().all(|e| e.actor == "dispatchers/test-operator"));
    assert_eq!(log[0].reason, "табылды, отбасы хабарлады");
    assert_eq!(log[2].group, groups[1]);
    // One entry per page, in the same order.
    let page = dispatch
        .list_dispatch_audit(matching::ListDispatchAuditRequest {
            request: lost.name.clone(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let next = dispatch
        .list_dispatch_audit(matching::ListDispatchAuditRequest {
            request: lost.name.clone(),
            page_size: 1,
            page_token: page.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.entries[0].action, "WithdrawAssignment");

    // The watch went on to show the offers and the cancellation.
    watched(
        &|seen| {
            seen.iter()
                .any(|(_, _, s)| *s == pb::RequestStatus::Cancelled as i32)
        },
        &mut seen,
    )
    .await;
    assert!(
        seen.iter().any(|(c, _, _)| c == "komek.assignment.offered"),
        "{seen:?}"
    );
    system.stop().await;
}
