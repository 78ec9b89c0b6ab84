//! Entry points for the fuzzer (`komek-fuzz`): every API request's decode-and-validate path,
//! and the roster import's CSV reader, with no I/O. Each takes arbitrary bytes and must not
//! panic, whatever they are.

use komek_proto::access::v1 as access_api;
use komek_proto::roster::v1 as api;
use prost::Message;

use crate::validate::{self, import};

/// A fuzz target: a name and what it does with the bytes.
pub type Target = (&'static str, fn(&[u8]));

pub const TARGETS: &[Target] = &[
    ("roster.CreateGroup", |b| {
        if let Ok(r) = api::CreateGroupRequest::decode(b) {
            let _ = validate::create_group(&r);
        }
    }),
    ("roster.CreateOrganization", |b| {
        if let Ok(r) = api::CreateOrganizationRequest::decode(b) {
            let _ = validate::create_organization(&r);
        }
    }),
    ("roster.CreateVolunteer", |b| {
        if let Ok(r) = api::CreateVolunteerRequest::decode(b) {
            let _ = validate::create_volunteer(&r);
        }
    }),
    ("roster.ReportGroupLocation", |b| {
        if let Ok(r) = api::ReportGroupLocationRequest::decode(b) {
            let _ = validate::location(&r);
        }
    }),
    ("roster.ImportRoster", |b| {
        if let Ok(r) = api::ImportRosterRequest::decode(b) {
            let _ = validate::import_roster(&r);
            let _ = import::read(&r.csv, &r.organization);
        }
        // The CSV itself, as any bytes.
        let _ = import::read(b, "organizations/00000000-0000-0000-0000-000000000000");
    }),
    ("access.CreateApiKey", |b| {
        if let Ok(r) = access_api::CreateApiKeyRequest::decode(b) {
            let _ = validate::create_api_key(&r);
        }
    }),
];
