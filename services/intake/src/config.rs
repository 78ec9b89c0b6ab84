//! Intake's settings: page sizes, personal-data keys and their retention, the service area,
//! statistics and the partner listener.

use komek_runtime::config::Base;
use serde::{Deserialize, Serialize};

use crate::pii;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
    /// Largest page ListRequests returns.
    pub max_page_size: u32,
    /// Keys for caller personal data; without them, caller name and phone are refused.
    pub pii: pii::Config,
    /// Where requests may be located; coordinates outside are refused. None: anywhere.
    pub service_area: Option<ServiceArea>,
    /// IANA zone whose calendar months partners' statistics use.
    pub stats_time_zone: String,
    /// A second listener serving only PartnerService (and health), for exposing to partner
    /// organisations apart from the operators' API. PartnerService is on the main listener too.
    pub partner_listener: Option<PartnerListener>,
    /// How long a request may wait in each state before dispatchers are alerted, by priority,
    /// with what differs per category (see `komek_core::waiting`).
    pub waiting_limits: komek_core::waiting::Limits,
    /// How often requests that wait are looked at.
    pub waiting_sweep_secs: u64,
    /// How often recurring plans are looked at for occurrences that are due.
    pub plan_sweep_secs: u64,
    /// How long after a request finished (resolved, cancelled, merged) its caller identity,
    /// address and notes are kept before they are erased for good. 0: kept until erased on
    /// demand.
    pub retention_secs: u64,
    /// How often finished requests are looked at for erasure.
    pub retention_sweep_secs: u64,
}

/// The partner-facing listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PartnerListener {
    pub listen: std::net::SocketAddr,
    /// Reflection here is off unless asked for: outsiders need not see the whole API.
    pub reflection: bool,
    pub tls: komek_runtime::config::Tls,
}

impl Default for PartnerListener {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 50055)),
            reflection: false,
            tls: Default::default(),
        }
    }
}

/// A latitude/longitude box, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceArea {
    pub min_lat: f64,
    pub max_lat: f64,
    pub min_lon: f64,
    pub max_lon: f64,
}

impl ServiceArea {
    /// Kazakhstan's bounding box, as used to build the settlement gazetteer.
    pub const KAZAKHSTAN: ServiceArea = ServiceArea {
        min_lat: 40.5,
        max_lat: 55.5,
        min_lon: 46.4,
        max_lon: 87.4,
    };

    pub fn contains(&self, p: komek_core::GeoPoint) -> bool {
        (self.min_lat..=self.max_lat).contains(&p.lat())
            && (self.min_lon..=self.max_lon).contains(&p.lon())
    }
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50051);
        Self {
            base,
            max_page_size: 100,
            pii: pii::Config::default(),
            service_area: None,
            stats_time_zone: "Asia/Almaty".into(),
            waiting_limits: Default::default(),
            waiting_sweep_secs: 15,
            plan_sweep_secs: 30,
            // A year: long enough to answer a complaint or a follow-up call about the help
            // given, no longer.
            retention_secs: 365 * 24 * 3600,
            retention_sweep_secs: 300,
            partner_listener: None,
        }
    }
}
