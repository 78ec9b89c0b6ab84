//! Matching's settings: offer lifetimes, attempts, wide searches, sweeps, overdue limits, and
//! intake.

use std::time::Duration;

use komek_runtime::config::{Base, Upstream};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
    pub offer_ttl: OfferTtl,
    /// Seconds between keepalive events on an idle offer stream.
    pub keepalive_secs: u64,
    /// Offers made to one request (declined or expired ones included) before it goes to
    /// dispatchers.
    pub max_attempts: u32,
    /// Milliseconds between sweeps for expired offers.
    pub expiry_sweep_ms: u64,
    /// A group's reported location older than this, in seconds, makes it ineligible until it
    /// reports again. Groups that never report are placed at their base.
    pub location_max_age_secs: u64,
    /// Intake, asked for a caller's contact when a group accepts.
    pub intake: Upstream,
    /// An accepted job not en route within this long, by priority, is overdue.
    pub en_route_within: OfferTtl,
    /// A job on site longer than this, in seconds, is overdue.
    pub on_site_max_secs: u64,
    /// Largest page of queues and audit entries.
    pub max_page_size: u32,
    /// The lowest priority ("critical", "high", "normal", "low") that calls a group outside its
    /// organisation's office hours; less urgent requests wait for the office to open.
    pub office_hours_waived_from: String,
    /// Which requests are offered to several groups at once, and how the rounds grow (see
    /// `komek_core::wide`).
    pub wide_search: WideSearch,
}

/// Wide searches as written in the settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WideSearch {
    /// Groups offered at once in the first round, by category and priority.
    pub groups: Vec<WideGroups>,
    /// Rounds before dispatchers take over.
    pub rounds: u32,
    /// Each round after the first reaches this much farther.
    pub widen_factor: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WideGroups {
    /// A category's slug: "search_operation".
    pub category: String,
    /// "critical", "high", "normal" or "low".
    pub priority: String,
    pub groups: u32,
}

impl Default for WideSearch {
    fn default() -> Self {
        let core = komek_core::wide::WideSearch::default();
        Self {
            groups: core
                .groups
                .iter()
                .map(|(c, p, n)| WideGroups {
                    category: c.slug().into(),
                    priority: p.slug().into(),
                    groups: *n,
                })
                .collect(),
            rounds: core.rounds,
            widen_factor: core.widen_factor,
        }
    }
}

impl WideSearch {
    /// The settings checked, naming the one at fault.
    pub fn check(&self) -> anyhow::Result<komek_core::wide::WideSearch> {
        let mut groups = Vec::new();
        for (i, g) in self.groups.iter().enumerate() {
            let category = komek_core::Category::from_slug(&g.category).ok_or_else(|| {
                anyhow::anyhow!(
                    "wide_search.groups[{i}].category: no category {:?}",
                    g.category
                )
            })?;
            let priority = komek_core::Priority::from_slug(&g.priority).ok_or_else(|| {
                anyhow::anyhow!(
                    "wide_search.groups[{i}].priority: no priority {:?}",
                    g.priority
                )
            })?;
            groups.push((category, priority, g.groups));
        }
        if self.rounds == 0 {
            anyhow::bail!("wide_search.rounds: at least 1");
        }
        if !(self.widen_factor.is_finite() && self.widen_factor >= 1.0) {
            anyhow::bail!("wide_search.widen_factor: a number of at least 1");
        }
        Ok(komek_core::wide::WideSearch {
            groups,
            rounds: self.rounds,
            widen_factor: self.widen_factor,
        })
    }
}

/// A time per priority, in seconds: how long a group has to answer an offer, or to set out
/// after accepting.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct OfferTtl {
    pub critical_secs: u64,
    pub high_secs: u64,
    pub normal_secs: u64,
    pub low_secs: u64,
}

impl Default for OfferTtl {
    fn default() -> Self {
        Self {
            critical_secs: 5 * 60,
            high_secs: 15 * 60,
            normal_secs: 60 * 60,
            low_secs: 4 * 3600,
        }
    }
}

impl OfferTtl {
    pub fn for_priority(&self, priority: komek_core::Priority) -> Duration {
        use komek_core::Priority::*;
        Duration::from_secs(match priority {
            Critical => self.critical_secs,
            High => self.high_secs,
            Normal => self.normal_secs,
            Low => self.low_secs,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50054);
        Self {
            base,
            offer_ttl: OfferTtl::default(),
            keepalive_secs: 30,
            max_attempts: 5,
            expiry_sweep_ms: 5000,
            location_max_age_secs: 3600,
            intake: Upstream {
                url: "http://127.0.0.1:50051".into(),
                ..Default::default()
            },
            en_route_within: OfferTtl {
                critical_secs: 10 * 60,
                high_secs: 30 * 60,
                normal_secs: 2 * 3600,
                low_secs: 8 * 3600,
            },
            on_site_max_secs: 4 * 3600,
            max_page_size: 100,
            office_hours_waived_from: "critical".into(),
            wide_search: WideSearch::default(),
        }
    }
}

/// When accepted or on-site jobs count as overdue.
#[derive(Debug, Clone)]
pub struct Overdue {
    pub en_route_within: OfferTtl,
    pub on_site_max_secs: u64,
}

impl Overdue {
    /// Seconds an accepted job may wait to be en route, by priority code 1..=4, and seconds a
    /// job may stay on site: what the queue query binds.
    pub fn limits(&self) -> ([f64; 4], f64) {
        let t = &self.en_route_within;
        (
            [t.low_secs, t.normal_secs, t.high_secs, t.critical_secs].map(|s| s as f64),
            self.on_site_max_secs as f64,
        )
    }
}
