//! The Komek domain, free of I/O: what a request and an assignment are, how they move through
//! their lifecycles, the first triage rules, great-circle geometry and nearest-group matching.
//!
//! Architecture invariant: this crate depends on no gRPC, database or messaging crate, so every
//! rule here is testable with plain unit and property tests.

pub mod campaign;
pub mod domain;
pub mod duplicates;
pub mod geo;
pub mod lifecycle;
pub mod matching;
pub mod nearest;
pub mod phone;
pub mod recurrence;
pub mod reference;
pub mod schedule;
pub mod scrub;
pub mod standing;
pub mod text;
pub mod textmodel;
pub mod triage;
pub mod waiting;
pub mod wide;

pub use domain::{
    Availability, Category, Channel, IneligibleReason, Language, Outcome, Priority, Skill,
};
pub use geo::GeoPoint;
pub use lifecycle::{AssignmentStatus, RequestStatus};
