//! One container's resource use, whichever sampler read it (the Engine API's stats, or the
//! kernel's cgroup counters on this host), and the formulas both share. Pure.

use serde::Serialize;

/// One container's use, as `docker stats` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub cpu_percent: f64,
    /// Memory in use, without the page cache that can be dropped (inactive files).
    pub memory_used_bytes: u64,
    pub memory_limit_bytes: u64,
    pub memory_percent: f64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub pids: u64,
}

/// Share of the limit in use, as the CLI shows it (0 without a limit).
pub fn memory_percent(used: u64, limit: u64) -> f64 {
    if limit > 0 {
        used as f64 / limit as f64 * 100.0
    } else {
        0.0
    }
}
