//! The runtime every Komek service shares, so that each service is only its domain and its API.
//!
//! `main` calls [`config::load`] and [`telemetry::init`]; a service's `serve` then connects with
//! [`service::Deps::connect`] (schema, migrations, NATS, streams), spawns its consumers
//! ([`events::consume`]) and outbox relay on a [`service::Background`], and ends with
//! [`service::Background::serve_then_drain`]: gRPC with health and reflection until the shutdown
//! token is cancelled, then the background tasks.

pub mod auth;
pub mod batch;
pub mod boundary;
pub mod config;
pub mod db;
pub mod dead_letters;
pub mod deadline;
pub mod events;
pub mod failpoint;
pub mod follow;
pub mod grpc;
pub mod inbox;
pub mod metrics;
pub mod ops;
pub mod pages;
pub mod pump;
pub mod service;
pub mod shutdown;
pub mod spread;
pub mod telemetry;
pub mod trace;

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;
