//! Small conversions every gRPC boundary needs: timestamps and resource names.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use uuid::Uuid;

use crate::grpc::FieldViolation;

pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf timestamp as UTC time; `field` names it in the error.
pub fn from_timestamp(t: &Timestamp, field: &str) -> Result<DateTime<Utc>, FieldViolation> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|n| DateTime::from_timestamp(t.seconds, n))
        .ok_or_else(|| FieldViolation::new(field, "not a valid timestamp"))
}

/// The id in a resource name such as `requests/{uuid}`.
pub fn parse_name(collection: &str, name: &str, field: &str) -> Result<Uuid, FieldViolation> {
    name.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| FieldViolation::new(field, format!("must look like {collection}/{{uuid}}")))
}

pub fn name(collection: &str, id: Uuid) -> String {
    format!("{collection}/{id}")
}

/// An idempotency key: a UUID chosen by the client.
pub fn parse_request_id(request_id: &str) -> Result<Uuid, FieldViolation> {
    Uuid::parse_str(request_id)
        .map_err(|_| FieldViolation::new("request_id", "must be a UUID chosen by the client"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_reject_other_collections() {
        let id = Uuid::now_v7();
        assert_eq!(
            parse_name("requests", &name("requests", id), "name"),
            Ok(id)
        );
        let err = parse_name("requests", &name("groups", id), "name").unwrap_err();
        assert_eq!(err.field, "name");
    }

    #[test]
    fn timestamps_round_trip() {
        let now = Utc::now();
        assert_eq!(from_timestamp(&timestamp(now), "t").unwrap(), now);
        assert!(
            from_timestamp(
                &Timestamp {
                    seconds: 0,
                    nanos: -1
                },
                "t"
            )
            .is_err()
        );
    }
}
