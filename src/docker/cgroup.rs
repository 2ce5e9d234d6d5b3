//! Container resource counters read straight from the kernel when the engine runs on this
//! host: the same files the daemon reads for its stats endpoint (cgroup v1 and v2,
//! `/proc/stat`, the container's `/proc/PID/net/dev`), so that two samples can be taken
//! a short window apart instead of waiting for the daemon's one-second collector twice.
//! The arithmetic then is the docker CLI's (see [`super::stats`]). Parsing is pure; any file
//! that cannot be read makes the caller fall back to the Engine API.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use super::usage::Usage;

/// One container's counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Counters {
    /// Container CPU time, ns.
    pub cpu_ns: u64,
    /// Host CPU time as the daemon counts it (`/proc/stat` user..softirq), ns.
    pub system_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_inactive_file: u64,
    pub memory_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
}

/// Where a container's cgroup files are.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// cgroup v1: one directory per controller.
    V1 {
        cpuacct: PathBuf,
        memory: PathBuf,
        blkio: PathBuf,
        pids: PathBuf,
    },
    /// cgroup v2: one directory.
    V2(PathBuf),
}

/// A mounted cgroup hierarchy (from `/proc/self/mountinfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// The cgroup path at the mount's root.
    pub root: String,
    pub mount_point: PathBuf,
    /// v1 controllers (`cpu`, `cpuacct`...); empty for v2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            let options = right.next().unwrap_or("");
            let (root, mount_point) = (fields.get(3)?, fields.get(4)?);
            match fstype {
                "cgroup2" => Some(Mount {
                    root: unescape(root),
                    mount_point: PathBuf::from(unescape(mount_point)),
                    controllers: Vec::new(),
                    v2: true,
                }),
                "cgroup" => Some(Mount {
                    root: unescape(root),
                    mount_point: PathBuf::from(unescape(mount_point)),
                    controllers: options.split(',').map(str::to_string).collect(),
                    v2: false,
                }),
                _ => None,
            }
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(text: &str) -> String {
    text.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The container's cgroup directories from its `/proc/PID/cgroup`, checked to belong to the
/// container `id` (a PID from another PID namespace would point at some other process).
pub fn layout(proc_cgroup: &str, mounts: &[Mount], id: &str) -> Result<Layout> {
    if id.len() < 12 || !proc_cgroup.contains(id) {
        return Err(anyhow!("the process's cgroups do not name container {id}"));
    }
    let mut v1 = std::collections::HashMap::new();
    let mut unified = None;
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next(), parts.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        if controllers.is_empty() {
            unified = Some(path.to_string());
        }
        for controller in controllers.split(',') {
            v1.insert(controller.to_string(), path.to_string());
        }
    }
    let dir = |mount: &Mount, path: &str| -> Option<PathBuf> {
        let relative = if mount.root == "/" {
            path
        } else {
            path.strip_prefix(mount.root.as_str())?
        };
        Some(mount.mount_point.join(relative.trim_start_matches('/')))
    };
    let v1_dir = |controller: &str| -> Option<PathBuf> {
        let path = v1.get(controller)?;
        let mount = mounts
            .iter()
            .find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))?;
        dir(mount, path)
    };
    if let (Some(cpuacct), Some(memory), Some(blkio), Some(pids)) = (
        v1_dir("cpuacct"),
        v1_dir("memory"),
        v1_dir("blkio"),
        v1_dir("pids"),
    ) {
        return Ok(Layout::V1 {
            cpuacct,
            memory,
            blkio,
            pids,
        });
    }
    let path = unified.ok_or_else(|| anyhow!("no cgroup of the container found"))?;
    let mount = mounts
        .iter()
        .find(|m| m.v2)
        .ok_or_else(|| anyhow!("no cgroup2 mount"))?;
    dir(mount, &path)
        .map(Layout::V2)
        .ok_or_else(|| anyhow!("the container's cgroup is outside the cgroup2 mount"))
}

/// `key value` lines (memory.stat, cpu.stat): the value of `key`.
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// `/proc/stat`'s first line as the daemon counts it: user, nice, system, idle, iowait, irq,
/// softirq, in clock ticks, to ns.
pub fn system_ns(proc_stat: &str, ticks_per_second: u64) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Option<Vec<u64>> = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .map(|f| f.parse().ok())
        .collect();
    let ticks = ticks?;
    if ticks.len() < 7 {
        return None;
    }
    Some(ticks.iter().sum::<u64>() * 1_000_000_000 / ticks_per_second)
}

/// `0-1,4` -> 3.
pub fn online_cpus(text: &str) -> u32 {
    text.trim()
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|range| match range.split_once('-') {
            Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => u32::from(range.parse::<u32>().is_ok()),
        })
        .sum()
}

/// Received and sent bytes over every interface but loopback (the daemon reports the
/// container's endpoints, never `lo`).
pub fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() >= 9 {
            rx += fields[0];
            tx += fields[8];
        }
    }
    (rx, tx)
}

/// cgroup v1 `blkio.*io_service_bytes*`: `8:0 Read 4096` lines, summed per direction.
pub fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, value] = fields[..] {
            let value: u64 = value.parse().unwrap_or(0);
            match op {
                "Read" => read += value,
                "Write" => write += value,
                _ => {}
            }
        }
    }
    (read, write)
}

/// cgroup v2 `io.stat`: `8:0 rbytes=1 wbytes=2 ...` lines.
pub fn io_stat_v2(text: &str) -> (u64, u64) {
    let (mut read, mut write) = (0, 0);
    for line in text.lines() {
        for field in line.split_whitespace().skip(1) {
            match field.split_once('=') {
                Some(("rbytes", v)) => read += v.parse::<u64>().unwrap_or(0),
                Some(("wbytes", v)) => write += v.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
    }
    (read, write)
}

/// Usage between two readings, with the docker CLI's formulas: CPU % = container CPU delta /
/// system CPU delta x online CPUs x 100; memory = usage - inactive file cache.
pub fn usage(before: &Counters, after: &Counters) -> Usage {
    let cpu_delta = after.cpu_ns.saturating_sub(before.cpu_ns) as f64;
    let system_delta = after.system_ns.saturating_sub(before.system_ns) as f64;
    let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * f64::from(after.online_cpus) * 100.0
    } else {
        0.0
    };
    let used = if after.memory_inactive_file < after.memory_usage {
        after.memory_usage - after.memory_inactive_file
    } else {
        after.memory_usage
    };
    let limit = after.memory_limit;
    Usage {
        cpu_percent,
        memory_used_bytes: used,
        memory_limit_bytes: limit,
        memory_percent: super::usage::memory_percent(used, limit),
        net_rx_bytes: after.net_rx,
        net_tx_bytes: after.net_tx,
        block_read_bytes: after.block_read,
        block_write_bytes: after.block_write,
        pids: after.pids,
    }
}

/// The host facts every reading shares.
pub struct Host {
    pub mounts: Vec<Mount>,
    pub memory_total: u64,
    pub online_cpus: u32,
}

impl Host {
    pub fn read() -> Result<Host> {
        let mounts = parse_mountinfo(&read("/proc/self/mountinfo")?);
        if mounts.is_empty() {
            return Err(anyhow!("no cgroup file system is mounted here"));
        }
        let meminfo = read("/proc/meminfo")?;
        let memory_total = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| anyhow!("no MemTotal in /proc/meminfo"))?;
        let online_cpus = online_cpus(&read("/sys/devices/system/cpu/online")?);
        if online_cpus == 0 {
            return Err(anyhow!("cannot count the online CPUs"));
        }
        Ok(Host {
            mounts,
            memory_total,
            online_cpus,
        })
    }

    /// Read the counters of the container `id` whose main process is `pid`.
    pub fn counters(&self, pid: i64, id: &str) -> Result<Counters> {
        let layout = layout(&read(format!("/proc/{pid}/cgroup"))?, &self.mounts, id)?;
        let (cpu_ns, memory_usage, memory_inactive_file, limit, (block_read, block_write), pids) =
            match &layout {
                Layout::V1 {
                    cpuacct,
                    memory,
                    blkio,
                    pids,
                } => {
                    let stat = read(memory.join("memory.stat"))?;
                    let blkio_text = match read(blkio.join("blkio.io_service_bytes_recursive")) {
                        Ok(text) if text.lines().any(|l| l.contains(" Read ")) => text,
                        _ => read(blkio.join("blkio.throttle.io_service_bytes"))?,
                    };
                    (
                        number(&cpuacct.join("cpuacct.usage"))?,
                        number(&memory.join("memory.usage_in_bytes"))?,
                        keyed(&stat, "total_inactive_file").unwrap_or(0),
                        number(&memory.join("memory.limit_in_bytes"))?,
                        blkio_v1(&blkio_text),
                        number(&pids.join("pids.current"))?,
                    )
                }
                Layout::V2(dir) => {
                    let stat = read(dir.join("memory.stat"))?;
                    let cpu = read(dir.join("cpu.stat"))?;
                    let max = read(dir.join("memory.max"))?;
                    (
                        keyed(&cpu, "usage_usec")
                            .ok_or_else(|| anyhow!("no usage_usec in cpu.stat"))?
                            * 1000,
                        number(&dir.join("memory.current"))?,
                        keyed(&stat, "inactive_file").unwrap_or(0),
                        max.trim().parse().unwrap_or(u64::MAX),
                        io_stat_v2(&read(dir.join("io.stat")).unwrap_or_default()),
                        number(&dir.join("pids.current"))?,
                    )
                }
            };
        let (net_rx, net_tx) = net_dev(&read(format!("/proc/{pid}/net/dev"))?);
        // USER_HZ is 100 on every Linux architecture Docker runs on.
        let system_ns = system_ns(&read("/proc/stat")?, 100)
            .ok_or_else(|| anyhow!("cannot read the cpu line of /proc/stat"))?;
        Ok(Counters {
            cpu_ns,
            system_ns,
            online_cpus: self.online_cpus,
            memory_usage,
            memory_inactive_file,
            // The daemon reports the host's memory for a container without a limit.
            memory_limit: limit.min(self.memory_total),
            net_rx,
            net_tx,
            block_read,
            block_write,
            pids,
        })
    }
}

fn read(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn number(path: &Path) -> Result<u64> {
    read(path)?
        .trim()
        .parse()
        .with_context(|| format!("{} does not hold a number", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "cd6589ce1784ab4b1415be8efdb742820d1b37c9d2c89a20d28aba5c10181f93";

    /// Recorded on Debian 12 with Docker 20.10 (cgroupfs driver, cgroup v1).
    const MOUNTINFO_V1: &str = "\
35 25 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
37 35 0:32 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
40 35 0:35 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
41 35 0:36 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
42 35 0:37 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,blkio
43 35 0:38 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
";

    fn proc_cgroup_v1() -> String {
        format!(
            "9:name=systemd:/docker/{ID}\n8:pids:/docker/{ID}\n7:blkio:/docker/{ID}\n4:memory:/docker/{ID}\n2:cpu,cpuacct:/docker/{ID}\n0::/docker/{ID}\n"
        )
    }

    #[test]
    fn v1_directories_come_from_the_controllers_mounts() {
        let mounts = parse_mountinfo(MOUNTINFO_V1);
        assert_eq!(mounts.len(), 6);
        let layout = layout(&proc_cgroup_v1(), &mounts, ID).unwrap();
        assert_eq!(
            layout,
            Layout::V1 {
                cpuacct: PathBuf::from(format!("/sys/fs/cgroup/cpu,cpuacct/docker/{ID}")),
                memory: PathBuf::from(format!("/sys/fs/cgroup/memory/docker/{ID}")),
                blkio: PathBuf::from(format!("/sys/fs/cgroup/blkio/docker/{ID}")),
                pids: PathBuf::from(format!("/sys/fs/cgroup/pids/docker/{ID}")),
            }
        );
    }

    #[test]
    fn v2_with_the_systemd_driver_and_a_mount_below_the_root() {
        let mounts = parse_mountinfo(
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        );
        let scope = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(
            layout(&scope, &mounts, ID).unwrap(),
            Layout::V2(PathBuf::from(format!(
                "/sys/fs/cgroup/system.slice/docker-{ID}.scope"
            )))
        );
        let nested = parse_mountinfo("30 23 0:26 /outer /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(
            layout(&format!("0::/outer/docker/{ID}\n"), &nested, ID).unwrap(),
            Layout::V2(PathBuf::from(format!("/sys/fs/cgroup/docker/{ID}")))
        );
    }

    #[test]
    fn a_process_of_another_container_or_namespace_is_refused() {
        let mounts = parse_mountinfo(MOUNTINFO_V1);
        let other = proc_cgroup_v1().replace(&ID[..20], "00000000000000000000");
        assert!(layout(&other, &mounts, ID).is_err());
        assert!(layout("0::/\n", &mounts, ID).is_err());
    }

    #[test]
    fn file_formats_parse_as_the_daemon_reads_them() {
        assert_eq!(
            system_ns(
                "cpu  67982 0 13251 122044 1420 0 181 231 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n",
                100
            ),
            Some((67982 + 13251 + 122044 + 1420 + 181) * 10_000_000)
        );
        assert_eq!(online_cpus("0-1\n"), 2);
        assert_eq!(online_cpus("0-3,6,8-9"), 7);
        let dev = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    1042      11    0    0    0     0          0         0       64       1    0    0    0     0       0          0\n";
        assert_eq!(net_dev(dev), (1042, 64));
        assert_eq!(
            blkio_v1("8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:16 Read 1\nTotal 12289\n"),
            (4097, 8192)
        );
        assert_eq!(
            io_stat_v2("8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n"),
            (4096, 512)
        );
        assert_eq!(
            keyed(
                "cache 1\ntotal_inactive_file 45056\n",
                "total_inactive_file"
            ),
            Some(45056)
        );
    }

    #[test]
    fn usage_is_the_cli_arithmetic_over_the_window() {
        let before = Counters {
            cpu_ns: 1_000_000_000,
            system_ns: 100_000_000_000,
            online_cpus: 2,
            memory_usage: 544_768,
            memory_inactive_file: 45_056,
            memory_limit: 25_276_063_744,
            net_rx: 1000,
            net_tx: 10,
            block_read: 0,
            block_write: 0,
            pids: 1,
        };
        let after = Counters {
            // 0.25 s of CPU while the host counted 1 s over its 2 CPUs (0.5 s wall).
            cpu_ns: 1_250_000_000,
            system_ns: 101_000_000_000,
            net_rx: 1042,
            ..before.clone()
        };
        let used = usage(&before, &after);
        assert!((used.cpu_percent - 50.0).abs() < 1e-9, "{used:?}");
        assert_eq!(used.memory_used_bytes, 499_712);
        assert_eq!(used.net_rx_bytes, 1042);
        assert!((used.memory_percent - 499_712.0 / 25_276_063_744.0 * 100.0).abs() < 1e-12);
    }
}
