//! The role × method matrix: which roles may call which method at all. It is one table for the
//! whole system so it can be reviewed in one place; a method missing from it is refused to
//! everyone. Handlers then check what a principal may see within a method.

use super::Role;
use super::Role::{Admin as A, Dispatcher as D, Partner as P, Service as S, Volunteer as V};

/// Methods reachable without a credential: health checks and, where enabled, reflection.
pub fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

const INTAKE: &str = "komek.intake.v1.IntakeService";
const TRIAGE: &str = "komek.triage.v1.TriageService";
const ROSTER: &str = "komek.roster.v1.RosterService";
const ACCESS: &str = "komek.access.v1.AccessService";
const ASSIGNMENT: &str = "komek.matching.v1.AssignmentService";
const DISPATCH: &str = "komek.matching.v1.DispatchService";
const PARTNER: &str = "komek.partner.v1.PartnerService";
const OPS: &str = "komek.ops.v1.OperationsService";
const PLACES: &str = "komek.places.v1.PlaceService";
const PLANS: &str = "komek.intake.v1.PlanService";

/// (service, method, roles allowed).
pub const MATRIX: &[(&str, &str, &[Role])] = &[
    // Operators record calls; integrations (a telephony system, a web form) may too. Only
    // dispatchers and admins see the caller: the handler leaves it out for services.
    (INTAKE, "CreateRequest", &[A, D, S]),
    (INTAKE, "GetRequest", &[A, D, S]),
    (INTAKE, "BatchGetRequests", &[A, D, S]),
    (INTAKE, "ListRequests", &[A, D]),
    (INTAKE, "CancelRequest", &[A, D]),
    (INTAKE, "FindByReference", &[A, D, S]),
    // The gazetteer is public data; anyone signed in may look a place up.
    (PLACES, "SearchSettlements", &[A, D, V, P, S]),
    // Matching asks for the caller's contact on behalf of the group that accepted.
    (INTAKE, "RevealCaller", &[S]),
    // A caller's right to be forgotten is exercised through the people who answer the line.
    (INTAKE, "EraseRequest", &[A, D]),
    (TRIAGE, "GetTriageDecision", &[A, D]),
    (TRIAGE, "OverrideTriage", &[A, D]),
    (TRIAGE, "ListTriageAudit", &[A, D]),
    (TRIAGE, "MergeDuplicate", &[A, D]),
    (TRIAGE, "ReportMissedWords", &[A, D]),
    (PLANS, "CreatePlan", &[A, D]),
    // A partner follows its organisation's plans and those in its regions.
    (PLANS, "GetPlan", &[A, D, P]),
    (PLANS, "ListPlans", &[A, D, P]),
    (PLANS, "PausePlan", &[A, D]),
    (PLANS, "ResumePlan", &[A, D]),
    (PLANS, "ListPlanRuns", &[A, D, P]),
    (ROSTER, "CreateOrganization", &[A, D]),
    // A partner reads its own organisation.
    (ROSTER, "GetOrganization", &[A, D, P]),
    (ROSTER, "ListOrganizations", &[A, D]),
    (ROSTER, "UpdateOrganization", &[A, D]),
    (ROSTER, "CreateGroup", &[A, D]),
    // A volunteer reads its own groups and sets their availability and location.
    (ROSTER, "GetGroup", &[A, D, V]),
    (ROSTER, "ListGroups", &[A, D]),
    (ROSTER, "UpdateGroup", &[A, D]),
    (ROSTER, "SetGroupAvailability", &[A, D, V]),
    (ROSTER, "ReportGroupLocation", &[A, D, V]),
    (ROSTER, "CreateVolunteer", &[A, D]),
    // A volunteer reads itself.
    (ROSTER, "GetVolunteer", &[A, D, V]),
    (ROSTER, "ListVolunteers", &[A, D]),
    (ROSTER, "UpdateVolunteer", &[A, D]),
    (ROSTER, "DeactivateGroup", &[A, D]),
    (ROSTER, "ReactivateGroup", &[A, D]),
    (ROSTER, "DeactivateVolunteer", &[A, D]),
    (ROSTER, "ReactivateVolunteer", &[A, D]),
    (ROSTER, "ImportRoster", &[A, D]),
    // A dispatcher signs a volunteer's phone in (volunteer keys only, checked by the handler).
    (ACCESS, "CreateApiKey", &[A, D]),
    (ACCESS, "GetApiKey", &[A]),
    (ACCESS, "ListApiKeys", &[A]),
    (ACCESS, "RevokeApiKey", &[A]),
    (ACCESS, "WhoAmI", &[A, D, V, P, S]),
    // Offers and progress are the volunteer's alone: nobody answers for a group it is not in.
    (ASSIGNMENT, "StreamOffers", &[V]),
    (ASSIGNMENT, "AcceptOffer", &[V]),
    (ASSIGNMENT, "DeclineOffer", &[V]),
    (ASSIGNMENT, "UpdateProgress", &[V]),
    (ASSIGNMENT, "ReportPosition", &[V]),
    (ASSIGNMENT, "GetAssignment", &[A, D, V]),
    (DISPATCH, "ListQueue", &[A, D]),
    (DISPATCH, "WatchRegion", &[A, D]),
    (DISPATCH, "AssignRequest", &[A, D]),
    (DISPATCH, "ReassignRequest", &[A, D]),
    (DISPATCH, "WithdrawAssignment", &[A, D]),
    (DISPATCH, "ExplainRequest", &[A, D]),
    (DISPATCH, "CreateCampaign", &[A, D]),
    (DISPATCH, "GetCampaign", &[A, D]),
    (DISPATCH, "ListDispatchAudit", &[A, D]),
    // Partners within their scope; dispatchers and admins see every scope.
    (PARTNER, "GetRequestStatus", &[A, D, P]),
    (PARTNER, "WatchRequest", &[A, D, P]),
    (PARTNER, "ListRequests", &[A, D, P]),
    (PARTNER, "GetStats", &[A, D, P]),
    // Every service's dead letters: a dispatcher on duty sees what got stuck and replays it.
    (OPS, "ListDeadLetters", &[A, D]),
    (OPS, "ReplayDeadLetter", &[A, D]),
];

/// The roles allowed to call the method at `path` (`/package.Service/Method`); None when the
/// method is not in the matrix.
pub fn roles_for(path: &str) -> Option<&'static [Role]> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    MATRIX
        .iter()
        .find(|(s, m, _)| *s == service && *m == method)
        .map(|(_, _, roles)| *roles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use std::collections::BTreeSet;

    /// Every method of every Komek service, from the compiled descriptor set.
    fn methods() -> BTreeSet<(String, String)> {
        let set = prost_types::FileDescriptorSet::decode(komek_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut out = BTreeSet::new();
        for file in set.file {
            let package = file.package().to_string();
            for service in &file.service {
                for method in &service.method {
                    out.insert((
                        format!("{package}.{}", service.name()),
                        method.name().to_string(),
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn the_matrix_covers_exactly_the_methods_that_exist() {
        let existing = methods();
        let listed: BTreeSet<(String, String)> = MATRIX
            .iter()
            .map(|(s, m, _)| (s.to_string(), m.to_string()))
            .collect();
        let unlisted: Vec<_> = existing.difference(&listed).collect();
        let stale: Vec<_> = listed.difference(&existing).collect();
        assert!(
            unlisted.is_empty(),
            "methods without a policy: {unlisted:?}"
        );
        assert!(stale.is_empty(), "policies for no method: {stale:?}");
        assert_eq!(listed.len(), MATRIX.len(), "a method listed twice");
    }

    #[test]
    fn lookups_by_path() {
        assert_eq!(
            roles_for("/komek.access.v1.AccessService/RevokeApiKey"),
            Some(&[Role::Admin][..])
        );
        assert_eq!(roles_for("/komek.access.v1.AccessService/Nothing"), None);
        assert_eq!(roles_for("garbage"), None);
        assert!(is_public("/grpc.health.v1.Health/Check"));
        assert!(!is_public("/komek.intake.v1.IntakeService/GetRequest"));
    }

    #[test]
    fn personal_data_paths_exclude_partners_and_volunteers() {
        for method in ["GetRequest", "ListRequests", "FindByReference"] {
            let roles = roles_for(&format!("/{INTAKE}/{method}")).unwrap();
            assert!(!roles.contains(&Role::Partner), "{method}");
            assert!(!roles.contains(&Role::Volunteer), "{method}");
        }
    }
}
