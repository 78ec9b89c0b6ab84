//! Entry points for the fuzzer (`komek-fuzz`): every API request's decode-and-validate path
//! and every consumed event's decode path down to the status it implies, with no I/O. Each
//! takes arbitrary bytes and must not panic, whatever they are.

use komek_core::standing::{AssignmentFact, Facts, Heard};
use komek_core::{AssignmentStatus, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_proto::intake::v1 as api;
use komek_proto::partner::v1 as partner_api;
use komek_proto::places::v1 as places_api;
use komek_runtime::boundary::{from_timestamp, parse_name};
use komek_runtime::pages::Page;
use prost::Message;

use crate::ServiceArea;
use crate::model::Scope;
use crate::validate;

/// A fuzz target: a name and what it does with the bytes.
pub type Target = (&'static str, fn(&[u8]));

fn decoded<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}

pub const TARGETS: &[Target] = &[
    ("intake.CreateRequest", |b| {
        if let Some(r) = decoded::<api::CreateRequestRequest>(b) {
            let _ = validate::create(&r, Some(&ServiceArea::KAZAKHSTAN), None);
            let _ = validate::create(&r, None, None);
        }
    }),
    ("intake.ListRequests", |b| {
        if let Some(r) = decoded::<api::ListRequestsRequest>(b) {
            let page = Page {
                limit: 50,
                after: None,
            };
            let _ = validate::list(&r, page);
        }
    }),
    ("intake.CancelRequest", |b| {
        if let Some(r) = decoded::<api::CancelRequestRequest>(b) {
            let _ = validate::cancel(&r);
        }
    }),
    ("intake.RevealCaller", |b| {
        if let Some(r) = decoded::<api::RevealCallerRequest>(b) {
            let _ = validate::reveal(&r);
        }
    }),
    ("intake.FindByReference", |b| {
        if let Some(r) = decoded::<api::FindByReferenceRequest>(b) {
            let _ = validate::reference_code(&r.reference_code);
        }
    }),
    ("places.SearchSettlements", |b| {
        let parsed = decoded::<places_api::SearchSettlementsRequest>(b)
            .and_then(|r| validate::search_settlements(&r).ok());
        if let Some((query, limit, region)) = parsed {
            let gazetteer = komek_places::Gazetteer::all();
            assert!(gazetteer.search(&query, region.as_deref(), limit).len() <= limit);
        }
    }),
    ("partner.GetRequestStatus", |b| {
        if let Some(r) = decoded::<partner_api::GetRequestStatusRequest>(b) {
            let _ = validate::status_key(&r);
        }
    }),
    ("partner.GetStats", |b| {
        if let Some(r) = decoded::<partner_api::GetStatsRequest>(b) {
            let _ = validate::stats(&r, Scope::All, "Asia/Almaty");
        }
    }),
    ("intake.events", |b| {
        // The status keeper's reading of every event it consumes.
        let mut facts = Facts::default();
        let time = |t: Option<&prost_types::Timestamp>| {
            t.and_then(|t| from_timestamp(t, "time").ok())
                .unwrap_or_default()
        };
        if let Some(e) = decoded::<ev::RequestTriaged>(b) {
            let _ = parse_name("requests", &e.request, "request");
            facts.hear(Heard::Triaged(time(e.decide_time.as_ref())));
        }
        if let Some(e) = decoded::<ev::RequestEscalated>(b) {
            facts.hear(Heard::Escalated(time(e.escalate_time.as_ref())));
        }
        if let Some(e) = decoded::<ev::RequestMerged>(b) {
            let _ = parse_name("requests", &e.merged_into, "merged_into");
            facts.hear(Heard::Closed(
                RequestStatus::Merged,
                time(e.merge_time.as_ref()),
            ));
        }
        if let Some(e) = decoded::<ev::AssignmentChanged>(b)
            && let (Ok(id), Some(status)) = (
                parse_name("assignments", &e.assignment, "assignment"),
                AssignmentStatus::from_code(e.status),
            )
        {
            facts.hear(Heard::Assignment(AssignmentFact {
                id: id.as_u128(),
                status,
                at: time(e.change_time.as_ref()),
            }));
        }
        let _ = facts.status();
    }),
];
