//! Entry points for the fuzzer (`komek-fuzz`): every API request's decode-and-validate path and
//! the matcher's reading of the events it consumes, with no I/O. Each takes arbitrary bytes and
//! must not panic, whatever they are.

use komek_core::RequestStatus;
use komek_proto::events::v1 as ev;
use komek_proto::matching::v1 as api;
use komek_runtime::boundary::parse_name;
use komek_runtime::pages::Page;
use prost::Message;

use crate::model::Job;
use crate::{convert, feed, validate};

/// A fuzz target: a name and what it does with the bytes.
pub type Target = (&'static str, fn(&[u8]));

pub const TARGETS: &[Target] = &[
    ("matching.UpdateProgress", |b| {
        if let Ok(r) = api::UpdateProgressRequest::decode(b) {
            let _ = validate::progress(&r);
        }
    }),
    ("matching.DeclineOffer", |b| {
        if let Ok(r) = api::DeclineOfferRequest::decode(b) {
            let _ = validate::decline(&r);
        }
    }),
    ("matching.ReportPosition", |b| {
        if let Ok(r) = api::ReportPositionRequest::decode(b) {
            let _ = validate::position(&r);
        }
    }),
    ("matching.StreamOffers", |b| {
        if let Ok(r) = api::StreamOffersRequest::decode(b) {
            let _ = validate::cursor(&r.cursor);
        }
        let _ = feed::decode_cursor(&String::from_utf8_lossy(b));
    }),
    ("matching.AssignRequest", |b| {
        if let Ok(r) = api::AssignRequestRequest::decode(b) {
            let _ = validate::move_request(&r.request_id, &r.request, &r.group, &r.reason);
        }
    }),
    ("matching.WithdrawAssignment", |b| {
        if let Ok(r) = api::WithdrawAssignmentRequest::decode(b) {
            let _ = validate::withdraw(&r);
        }
    }),
    ("matching.ListQueue", |b| {
        if let Ok(r) = api::ListQueueRequest::decode(b) {
            let page = Page {
                limit: 50,
                after: None,
            };
            let _ = validate::queue(&r, page);
        }
        let _ = convert::decode_queue_token(&String::from_utf8_lossy(b));
    }),
    ("matching.CreateCampaign", |b| {
        if let Ok(r) = api::CreateCampaignRequest::decode(b) {
            let _ = validate::campaign(&r);
        }
    }),
    ("matching.events", |b| {
        if let Ok(t) = ev::RequestTriaged::decode(b)
            && let Ok(id) = parse_name("requests", &t.request, "request")
        {
            let job = Job::from_triaged(&t, id, String::from_utf8_lossy(b).into_owned());
            let _ = (job.point(), job.skills(), job.to_row());
        }
        if let Ok(e) = ev::RequestStatusChanged::decode(b) {
            let _ = RequestStatus::from_code(e.status);
        }
        if let Ok(e) = ev::RequestErased::decode(b) {
            let _ = parse_name("requests", &e.request, "request");
        }
    }),
];
