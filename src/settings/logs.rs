//! Log reading and the disk thresholds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsSettings {
    /// The service whose log files `logs files` / `logs clean` look after.
    pub service: String,
    /// The log directory inside that service's container.
    pub dir: String,
    /// Rotated plain log files older than this are gzipped by `logs clean`.
    #[serde(with = "humantime_serde")]
    pub compress_older_than: Duration,
    /// Rotated plain log files older than this are deleted by `logs clean`.
    #[serde(with = "humantime_serde")]
    pub delete_older_than: Duration,
    /// Compressed log files older than this are deleted by `logs clean`.
    #[serde(with = "humantime_serde")]
    pub delete_compressed_older_than: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskSettings {
    /// Used space at or above this percentage is a warning.
    pub warning_percent: u8,
    /// Used space at or above this percentage is critical.
    pub critical_percent: u8,
}

impl Default for LogsSettings {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        LogsSettings {
            service: "backend".into(),
            dir: "/app/logs".into(),
            compress_older_than: Duration::from_secs(DAY),
            delete_older_than: Duration::from_secs(7 * DAY),
            delete_compressed_older_than: Duration::from_secs(7 * DAY),
        }
    }
}

impl Default for DiskSettings {
    fn default() -> Self {
        DiskSettings {
            warning_percent: 80,
            critical_percent: 90,
        }
    }
}
