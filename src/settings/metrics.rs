//! The metrics exporter and relay, `monitor`, and the monitoring stack `monitoring init`
//! writes.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address `gymops metrics serve` listens on.
    pub listen: String,
    /// Time between collections; scrapes read the newest collection.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Where Prometheus (in the monitoring stack's containers) reaches `gymops metrics serve`.
    pub scrape_target: String,
    /// The release history whose newest entry is published.
    pub releases_file: PathBuf,
    /// File holding the bearer token Alertmanager sends to the relay (`POST /alertmanager`);
    /// or `GYMOPS_METRICS_RELAY_TOKEN`. Without one the relay is off. `monitoring init`
    /// writes one to `secrets/relay_token`.
    pub relay_token_file: Option<PathBuf>,
    /// Resolved relay token; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub relay_token: Option<Secret>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            listen: "127.0.0.1:9464".into(),
            interval: Duration::from_secs(15),
            scrape_target: "host.docker.internal:9464".into(),
            releases_file: PathBuf::from(".gymops/releases.json"),
            relay_token_file: None,
            relay_token: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSettings {
    /// A container at or above this CPU % is a warning (100% = one CPU).
    pub cpu_percent: f64,
    /// A container at or above this share of its memory limit is a warning.
    pub memory_percent: f64,
    /// A file system at or above this share used is a warning.
    pub disk_percent: f64,
    /// Time between rounds with `monitor --interval` when no value is given.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            cpu_percent: 80.0,
            memory_percent: 80.0,
            disk_percent: 90.0,
            interval: Duration::from_secs(60),
        }
    }
}

/// What the monitoring stack (`monitoring init`) scrapes and runs: only what the deployment
/// has, so no alert fires forever for a target that does not exist.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringSettings {
    /// The backend exposes Spring Boot's `/actuator/prometheus` (micrometer-registry-prometheus):
    /// scrape it and alert on its response times.
    pub backend_metrics: bool,
    /// Run and scrape node-exporter (host CPU, memory, disks) in the monitoring stack.
    pub node_exporter: bool,
    /// Run and scrape cAdvisor (per-container resource use) in the monitoring stack.
    pub cadvisor: bool,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            backend_metrics: false,
            node_exporter: true,
            cadvisor: true,
        }
    }
}
