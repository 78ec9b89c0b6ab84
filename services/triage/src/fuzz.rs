//! Entry points for the fuzzer (`komek-fuzz`): every API request's decode-and-validate path
//! and the reading of `request.created` and `request.erased`, with no I/O. Each takes arbitrary bytes
//! and must not panic, whatever they are.

use std::sync::OnceLock;

use komek_core::triage::{Input, RuleSet, Triage, TriageModel};
use komek_core::{Category, Priority};
use komek_proto::events::v1 as ev;
use komek_proto::triage::v1 as api;
use prost::Message;

use crate::{DEFAULT_MODEL, DEFAULT_RULES, validate};

/// A fuzz target: a name and what it does with the bytes.
pub type Target = (&'static str, fn(&[u8]));

fn rules() -> &'static RuleSet {
    triage().rules()
}

/// The shipped rules and model, as the service runs them.
fn triage() -> &'static Triage {
    static TRIAGE: OnceLock<Triage> = OnceLock::new();
    TRIAGE.get_or_init(|| {
        Triage::new(
            RuleSet::from_toml(DEFAULT_RULES).expect("the shipped rules load"),
            Some(TriageModel::from_text(DEFAULT_MODEL).expect("the shipped model loads")),
        )
    })
}

pub const TARGETS: &[Target] = &[
    ("triage.OverrideTriage", |b| {
        if let Ok(r) = api::OverrideTriageRequest::decode(b) {
            let _ = validate::decision_name(&r.name);
            let _ = validate::override_triage(&r, rules(), "dispatchers/fuzz");
        }
    }),
    ("triage.ReportMissedWords", |b| {
        if let Ok(r) = api::ReportMissedWordsRequest::decode(b) {
            let _ = validate::missed_words(&r);
        }
    }),
    ("triage.MergeDuplicate", |b| {
        if let Ok(r) = api::MergeDuplicateRequest::decode(b) {
            let _ = validate::merge(&r, uuid::Uuid::nil(), "dispatchers/fuzz");
        }
    }),
    ("triage.classify", |b| {
        // The classifier reads whatever text a caller's note holds (from intake, up to the
        // 4000 characters it lets through), with the operator's choices from the event.
        let note: String = String::from_utf8_lossy(b).chars().take(4000).collect();
        let (category, priority) = match ev::RequestCreated::decode(b) {
            Ok(e) => (
                Category::from_code(e.operator_category),
                Priority::from_code(e.operator_priority),
            ),
            Err(_) => (None, None),
        };
        let _ = triage().classify(&Input {
            description: &note,
            operator_category: category,
            operator_priority: priority,
        });
    }),
    ("triage.erased", |b| {
        if let Ok(e) = ev::RequestErased::decode(b) {
            let _ = komek_runtime::boundary::parse_name("requests", &e.request, "request");
        }
    }),
];
