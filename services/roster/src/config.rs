//! The roster's settings.

use komek_runtime::config::Base;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    #[serde(flatten)]
    pub base: Base,
    pub max_page_size: u32,
}

impl Default for Config {
    fn default() -> Self {
        let mut base = Base::default();
        base.listen.set_port(50053);
        // A roster import carries up to 4 MiB of CSV.
        base.max_message_bytes = 5 * 1024 * 1024;
        Self {
            base,
            max_page_size: 100,
        }
    }
}
