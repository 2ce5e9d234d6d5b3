//! `fleet:`: how `gymops fleet` goes across the sites.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FleetSettings {
    /// How many sites at once (`--parallel`).
    pub parallel: u16,
    /// The longest one site may take before it is UNKNOWN (`--site-timeout`).
    #[serde(with = "humantime_serde")]
    pub site_timeout: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        FleetSettings {
            parallel: 8,
            site_timeout: Duration::from_secs(30),
        }
    }
}
