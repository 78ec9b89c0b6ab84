//! The index's rebuild at start, for the benchmark command (`komek-bench maintenance`): a fresh
//! index reads the roster stream whole exactly as a starting matcher does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use komek_runtime::CancellationToken;
use komek_runtime::events::Bus;
use komek_runtime::follow;

use crate::index::GroupIndex;

/// How long a fresh index took to read the roster stream whole, and how many groups it holds.
pub async fn time_rebuild(bus: &Bus, timeout: Duration) -> anyhow::Result<(Duration, usize)> {
    let index = Arc::new(GroupIndex::default());
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let following = tokio::spawn(follow::follow(index.clone(), bus.clone(), shutdown.clone()));
    let whole = follow::catch_up(&*index, bus, timeout).await?;
    let took = started.elapsed();
    shutdown.cancel();
    following.await?;
    anyhow::ensure!(
        whole,
        "the roster stream was not read whole within {timeout:?}"
    );
    Ok((took, index.len()))
}
