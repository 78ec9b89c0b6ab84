//! Follows `request.status_changed`: when intake closes a request (cancelled, or merged into
//! another), its active assignment is withdrawn, the group's capacity is given back, and the
//! request is remembered so a late `request.triaged` does not offer it again.

use komek_core::{AssignmentStatus, RequestStatus};
use komek_proto::events::v1 as ev;
use komek_runtime::convert::parse_name;
use komek_runtime::events::{HandleError, Handler, enqueue, subject};
use prost::Message;
use sqlx::PgConnection;

use crate::{ladder, store};

pub struct Closures;

impl Handler for Closures {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        subject: &str,
        payload: &[u8],
    ) -> Result<(), HandleError> {
        if subject != subject::REQUEST_STATUS_CHANGED {
            return Ok(());
        }
        let e = ev::RequestStatusChanged::decode(payload)?;
        let status = RequestStatus::from_code(e.status);
        if !matches!(
            status,
            Some(RequestStatus::Cancelled | RequestStatus::Merged)
        ) {
            return Ok(());
        }
        let request_id = parse_name("requests", &e.request, "request")
            .map_err(|v| HandleError::Reject(v.description))?;
        store::close_request(tx, request_id, e.status as i16).await?;
        let reason = if e.reason.is_empty() {
            "request closed".to_string()
        } else {
            format!("request closed: {}", e.reason)
        };
        let active = store::active_of(tx, request_id).await?;
        if !e.actor.is_empty() {
            // A person closed it (a dispatcher's cancel): the dispatch audit says who and why.
            store::audit(
                tx,
                &store::NewAudit {
                    key: None,
                    actor: &e.actor,
                    action: "CancelRequest",
                    request_id,
                    assignment_id: active.first().map(|a| a.id),
                    group_id: active.first().map(|a| a.group_id),
                    reason: &e.reason,
                },
            )
            .await?;
        }
        for active in active {
            let withdrawn = store::set_status(
                tx,
                active.id,
                AssignmentStatus::Withdrawn.code() as i16,
                &reason,
                true,
            )
            .await?;
            enqueue(
                tx,
                subject::ASSIGNMENT_CHANGED,
                &ladder::changed(&withdrawn, active.status),
            )
            .await?;
            tracing::info!(
                assignment = %active.id,
                request = %request_id,
                "assignment withdrawn: request closed"
            );
        }
        Ok(())
    }
}
