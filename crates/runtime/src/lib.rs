//! The runtime every Komek service shares, so that each service is only its domain and its API.
//!
//! A service's `run(config, shutdown)` calls, in order: [`telemetry::init`] (from `main`),
//! [`db::connect_and_migrate`], [`events::Bus::connect`], spawns its consumers and the
//! [`events::OutboxRelay`] on a [`tokio_util::task::TaskTracker`], and serves gRPC with
//! [`grpc::serve`], which adds health and reflection. Cancelling the shutdown token drains all of it.

pub mod config;
pub mod convert;
pub mod db;
pub mod events;
pub mod grpc;
pub mod service;
pub mod shutdown;
pub mod telemetry;

pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;
