//! Container resource use from the Engine's stats endpoint, computed exactly as the docker
//! CLI computes it (cli/command/container/stats_helpers.go). The arithmetic is pure.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;

use super::Engine;

pub use super::usage::{memory_percent, Usage};

/// CPU % = container CPU time delta / host CPU time delta × online CPUs × 100.
pub fn cpu_percent(stats: &ContainerStatsResponse) -> f64 {
    let (Some(now), Some(before)) = (&stats.cpu_stats, &stats.precpu_stats) else {
        return 0.0;
    };
    let total = |s: &bollard::models::ContainerCpuStats| {
        s.cpu_usage
            .as_ref()
            .and_then(|u| u.total_usage)
            .unwrap_or(0) as f64
    };
    let cpu_delta = total(now) - total(before);
    let system_delta =
        now.system_cpu_usage.unwrap_or(0) as f64 - before.system_cpu_usage.unwrap_or(0) as f64;
    let mut online = f64::from(now.online_cpus.unwrap_or(0));
    if online == 0.0 {
        online = now
            .cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(0, Vec::len) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// Memory used without inactive file cache: `total_inactive_file` on cgroup v1,
/// `inactive_file` on cgroup v2, as the docker CLI does.
pub fn memory_used(stats: &ContainerStatsResponse) -> u64 {
    let Some(memory) = &stats.memory_stats else {
        return 0;
    };
    let usage = memory.usage.unwrap_or(0);
    let keys = memory.stats.as_ref();
    if let Some(inactive) = keys.and_then(|k| k.get("total_inactive_file")) {
        if *inactive < usage {
            return usage - inactive;
        }
    }
    match keys.and_then(|k| k.get("inactive_file")) {
        Some(inactive) if *inactive < usage => usage - inactive,
        _ => usage,
    }
}

pub fn usage(stats: &ContainerStatsResponse) -> Usage {
    let used = memory_used(stats);
    let limit = stats
        .memory_stats
        .as_ref()
        .and_then(|m| m.limit)
        .unwrap_or(0);
    let (mut rx, mut tx) = (0, 0);
    for network in stats.networks.iter().flat_map(|n| n.values()) {
        rx += network.rx_bytes.unwrap_or(0);
        tx += network.tx_bytes.unwrap_or(0);
    }
    let (mut read, mut write) = (0, 0);
    let entries = stats
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref());
    for entry in entries.into_iter().flatten() {
        match entry.op.as_deref().and_then(|op| op.chars().next()) {
            Some('r' | 'R') => read += entry.value.unwrap_or(0),
            Some('w' | 'W') => write += entry.value.unwrap_or(0),
            _ => {}
        }
    }
    Usage {
        cpu_percent: cpu_percent(stats),
        memory_used_bytes: used,
        memory_limit_bytes: limit,
        memory_percent: memory_percent(used, limit),
        net_rx_bytes: rx,
        net_tx_bytes: tx,
        block_read_bytes: read,
        block_write_bytes: write,
        pids: stats
            .pids_stats
            .as_ref()
            .and_then(|p| p.current)
            .unwrap_or(0),
    }
}

/// How far apart the two readings of a sample taken from the kernel are.
pub const LOCAL_WINDOW: Duration = Duration::from_millis(500);

impl Engine {
    /// Whether the engine runs on this host (a unix socket), so its containers' cgroup
    /// files are ours to read.
    pub fn is_local(&self) -> bool {
        self.address.starts_with("unix://")
    }

    /// The use of each running container, in order. On a local engine both readings come
    /// from the kernel [`LOCAL_WINDOW`] apart (what the daemon reads, without waiting for its
    /// one-second collector twice); a container whose files cannot be read, and every
    /// container of a remote engine, is sampled through the Engine API instead.
    pub async fn usages(&self, containers: &[&super::ContainerFacts]) -> Vec<Result<Usage>> {
        let mut local: Vec<Option<Usage>> = vec![None; containers.len()];
        if self.is_local() {
            match super::cgroup::Host::read() {
                Ok(host) => {
                    let read = |c: &super::ContainerFacts| {
                        let pid = c.pid.ok_or_else(|| anyhow!("no process"))?;
                        host.counters(pid, &c.full_id)
                    };
                    let first: Vec<Option<super::cgroup::Counters>> = containers
                        .iter()
                        .map(|c| {
                            read(c)
                                .map_err(|err| {
                                    tracing::debug!(container = %c.name, error = %format!("{err:#}"), "cgroup counters unavailable; using the Engine API");
                                })
                                .ok()
                        })
                        .collect();
                    if first.iter().any(Option::is_some) {
                        tokio::time::sleep(LOCAL_WINDOW).await;
                        for (index, container) in containers.iter().enumerate() {
                            if let (Some(before), Ok(after)) = (&first[index], read(container)) {
                                local[index] = Some(super::cgroup::usage(before, &after));
                            }
                        }
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %format!("{err:#}"), "no cgroup files here; using the Engine API")
                }
            }
        }
        futures_util::future::join_all(containers.iter().zip(local).map(
            |(container, local)| async move {
                match local {
                    Some(used) => Ok(used),
                    None => self.stats(&container.name).await.map(|stats| usage(&stats)),
                }
            },
        ))
        .await
    }

    /// [`Engine::usages`] of the running containers among these services, in their order.
    pub async fn running_usages(&self, states: &[super::ServiceState]) -> Vec<Result<Usage>> {
        let running: Vec<&super::ContainerFacts> = states
            .iter()
            .filter_map(|state| state.container.as_ref())
            .filter(|container| container.state == "running")
            .collect();
        self.usages(&running).await
    }

    /// One stats sample with the previous CPU reading filled in (the engine samples twice,
    /// about a second apart), like `docker stats --no-stream`.
    pub async fn stats(&self, container: &str) -> Result<ContainerStatsResponse> {
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(false)
            .build();
        let mut stream = self.docker.stats(container, Some(options));
        let deadline = self.timeout.max(Duration::from_secs(5));
        match crate::deadline::limit(
            deadline,
            || format!("no stats for {container}"),
            stream.next(),
        )
        .await?
        {
            Some(result) => result.with_context(|| format!("cannot read the stats of {container}")),
            None => Err(anyhow!("the engine sent no stats for {container}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Docker 20.10 on cgroup v1 (trimmed).
    const CGROUP_V1: &str = r#"{
      "read": "2026-11-25T18:10:01.5Z", "preread": "2026-11-25T18:10:00.5Z",
      "pids_stats": {"current": 7},
      "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 254, "minor": 0, "op": "Read", "value": 1048576},
        {"major": 254, "minor": 0, "op": "Write", "value": 4096},
        {"major": 254, "minor": 0, "op": "Sync", "value": 1052672},
        {"major": 254, "minor": 0, "op": "Total", "value": 1052672}]},
      "cpu_stats": {"cpu_usage": {"total_usage": 2500000000, "percpu_usage": [1500000000, 1000000000]},
                    "system_cpu_usage": 120000000000, "online_cpus": 2},
      "precpu_stats": {"cpu_usage": {"total_usage": 2000000000, "percpu_usage": [1200000000, 800000000]},
                       "system_cpu_usage": 118000000000, "online_cpus": 2},
      "memory_stats": {"usage": 52428800, "limit": 25769803776,
                       "stats": {"total_inactive_file": 10485760, "inactive_file": 10485760, "cache": 20971520}},
      "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 700}, "eth1": {"rx_bytes": 500, "tx_bytes": 300}}
    }"#;

    /// Recorded from a cgroup v2 host (trimmed): no total_* keys, no percpu_usage.
    const CGROUP_V2: &str = r#"{
      "pids_stats": {"current": 3, "limit": 4096},
      "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 8, "minor": 0, "op": "read", "value": 8192},
        {"major": 8, "minor": 0, "op": "write", "value": 16384}]},
      "cpu_stats": {"cpu_usage": {"total_usage": 900000000}, "system_cpu_usage": 40000000000, "online_cpus": 4},
      "precpu_stats": {"cpu_usage": {"total_usage": 800000000}, "system_cpu_usage": 36000000000, "online_cpus": 4},
      "memory_stats": {"usage": 67108864, "limit": 67108864, "stats": {"inactive_file": 16777216, "anon": 40000000}}
    }"#;

    fn parse(text: &str) -> ContainerStatsResponse {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn cgroup_v1_sample_reads_like_docker_stats() {
        let usage = usage(&parse(CGROUP_V1));
        // 0.5 s of CPU over 2 s of host time on 2 CPUs = 50%.
        assert!(
            (usage.cpu_percent - 50.0).abs() < 1e-9,
            "{}",
            usage.cpu_percent
        );
        assert_eq!(usage.memory_used_bytes, 52428800 - 10485760);
        assert_eq!(usage.memory_limit_bytes, 25769803776);
        assert_eq!((usage.net_rx_bytes, usage.net_tx_bytes), (2000, 1000));
        assert_eq!(
            (usage.block_read_bytes, usage.block_write_bytes),
            (1048576, 4096)
        );
        assert_eq!(usage.pids, 7);
    }

    #[test]
    fn cgroup_v2_sample_uses_inactive_file_and_online_cpus() {
        let usage = usage(&parse(CGROUP_V2));
        // 0.1 s over 4 s on 4 CPUs = 10%.
        assert!(
            (usage.cpu_percent - 10.0).abs() < 1e-9,
            "{}",
            usage.cpu_percent
        );
        assert_eq!(usage.memory_used_bytes, 67108864 - 16777216);
        assert!((usage.memory_percent - 75.0).abs() < 1e-9);
        assert_eq!(
            (usage.block_read_bytes, usage.block_write_bytes),
            (8192, 16384)
        );
    }

    #[test]
    fn missing_previous_sample_or_counters_give_zero_not_nonsense() {
        let mut first = parse(CGROUP_V2);
        first.precpu_stats = None;
        assert_eq!(cpu_percent(&first), 0.0);
        let stopped: ContainerStatsResponse = serde_json::from_str("{}").unwrap();
        assert_eq!(
            usage(&stopped),
            Usage {
                cpu_percent: 0.0,
                memory_used_bytes: 0,
                memory_limit_bytes: 0,
                memory_percent: 0.0,
                net_rx_bytes: 0,
                net_tx_bytes: 0,
                block_read_bytes: 0,
                block_write_bytes: 0,
                pids: 0,
            }
        );
        // online_cpus missing: the number of per-CPU counters stands in.
        let mut old = parse(CGROUP_V1);
        old.cpu_stats.as_mut().unwrap().online_cpus = None;
        assert!((cpu_percent(&old) - 50.0).abs() < 1e-9);
    }
}
