//! The processes inside a container by CPU and memory (the guide's `ps aux --sort=-%cpu |
//! head` in the container, without needing `ps` there). On an engine of this host they are
//! read from the kernel: the container's cgroup lists its processes, and `/proc/PID/stat`
//! read twice a short window apart gives each one's CPU over that window, as `top` shows it.
//! Elsewhere the Engine API's `top` (the daemon runs `ps` on its host) gives ps's figures,
//! whose CPU is the average over each process's life. Parsing is pure.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

use super::cgroup::{layout, Layout};
use super::Engine;

/// One process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Process {
    /// Its PID inside the container (what `ps` there shows) when read from the kernel; the
    /// host's through the Engine API (the daemon runs ps on its host).
    pub pid: i64,
    /// Its PID on the engine's host.
    pub host_pid: Option<i64>,
    pub user: String,
    /// CPU %, 100 = one core.
    pub cpu_percent: f64,
    /// Resident memory as a share of the host's, as ps counts %MEM.
    pub memory_percent: f64,
    pub rss_bytes: u64,
    pub threads: Option<u64>,
    pub command: String,
}

/// How the CPU figures were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CpuBasis {
    /// Over the sampling window (read from the kernel), as `top`.
    Window,
    /// Over each process's lifetime (ps through the Engine API), as `ps aux`.
    Lifetime,
}

/// A process's `/proc/PID/stat` fields we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// utime + stime, clock ticks.
    pub ticks: u64,
    pub threads: u64,
    /// Resident pages.
    pub rss_pages: u64,
}

/// Parse `/proc/PID/stat`: the command may hold spaces and parentheses, so the fields are
/// counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    // After the command: state(3) ppid(4) ... utime(14) stime(15) ... num_threads(20) ...
    // rss(24); `after` starts at field 3.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ticks: field(14)? + field(15)?,
        threads: field(20)?,
        rss_pages: field(24)?,
    })
}

/// (uid, the PID inside the innermost namespace) from `/proc/PID/status`.
pub fn parse_status(text: &str) -> (Option<u32>, Option<i64>) {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key))
            .map(str::trim)
    };
    let uid = value("Uid:")
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    let ns_pid = value("NSpid:")
        .and_then(|v| v.split_whitespace().last())
        .and_then(|v| v.parse().ok());
    (uid, ns_pid)
}

/// uid → name from an `/etc/passwd`.
pub fn parse_passwd(text: &str) -> BTreeMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split(':');
            let name = parts.next()?;
            let uid = parts.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// The command line from `/proc/PID/cmdline` (NUL-separated), or `[comm]` for a kernel
/// thread or a zombie, as ps shows them.
pub fn command_line(cmdline: &[u8], stat: &str) -> String {
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if !args.is_empty() {
        return args.join(" ");
    }
    let comm = stat
        .find('(')
        .and_then(|start| Some(&stat[start + 1..stat.rfind(')')?]))
        .unwrap_or("?");
    format!("[{comm}]")
}

/// The CPU % of a process whose ticks went from `before` to `after` over `seconds`
/// (USER_HZ 100: one core is 100 ticks a second).
pub fn cpu_percent(before: u64, after: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    after.saturating_sub(before) as f64 / (seconds * 100.0) * 100.0
}

/// Rows of the Engine API's `top` answer (`Titles` and `Processes`), ps's columns.
pub fn from_top(titles: &[String], rows: &[Vec<String>]) -> Result<Vec<Process>> {
    let column = |name: &str| titles.iter().position(|t| t == name);
    let (Some(pid), Some(user), Some(cpu), Some(mem), Some(rss), Some(command)) = (
        column("PID"),
        column("USER"),
        column("%CPU"),
        column("%MEM"),
        column("RSS"),
        column("COMMAND"),
    ) else {
        return Err(anyhow!("the engine's ps gave the columns {titles:?}"));
    };
    let threads = column("NLWP");
    Ok(rows
        .iter()
        .filter_map(|row| {
            let get = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
            let pid: i64 = get(pid).parse().ok()?;
            Some(Process {
                pid,
                host_pid: Some(pid),
                user: get(user).to_string(),
                cpu_percent: get(cpu).parse().unwrap_or(0.0),
                memory_percent: get(mem).parse().unwrap_or(0.0),
                rss_bytes: get(rss).parse::<u64>().unwrap_or(0) * 1024,
                threads: threads.and_then(|i| get(i).parse().ok()),
                command: row[command..].join(" "),
            })
        })
        .collect())
}

/// Sort by CPU (then memory) or by memory (then CPU), highest first.
pub fn sort(processes: &mut [Process], by_memory: bool) {
    processes.sort_by(|a, b| {
        let (x, y) = if by_memory {
            (
                (a.rss_bytes as f64, a.cpu_percent),
                (b.rss_bytes as f64, b.cpu_percent),
            )
        } else {
            (
                (a.cpu_percent, a.rss_bytes as f64),
                (b.cpu_percent, b.rss_bytes as f64),
            )
        };
        y.partial_cmp(&x)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.pid.cmp(&b.pid))
    });
}

fn read(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The host PIDs in the container's cgroup (its main process is `pid`).
fn cgroup_pids(host: &super::cgroup::Host, pid: i64, id: &str) -> Result<Vec<i64>> {
    let dir = match layout(&read(format!("/proc/{pid}/cgroup"))?, &host.mounts, id)? {
        Layout::V1 { pids, .. } => pids,
        Layout::V2(dir) => dir,
    };
    Ok(read(dir.join("cgroup.procs"))?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

impl Engine {
    /// The processes of a running container: from the kernel on this host (CPU over
    /// `window`), else through the Engine API.
    pub async fn processes(
        &self,
        container: &super::ContainerFacts,
        window: std::time::Duration,
    ) -> Result<(CpuBasis, Vec<Process>)> {
        if container.state != "running" {
            return Err(anyhow!(
                "the container {} is {}: it has no processes",
                container.name,
                container.state
            ));
        }
        if self.is_local() {
            match self.local_processes(container, window).await {
                Ok(found) => return Ok((CpuBasis::Window, found)),
                Err(err) => {
                    tracing::debug!(error = %format!("{err:#}"), "cannot read the container's processes from /proc; using the Engine API")
                }
            }
        }
        let answer = self
            .call(
                || crate::say!("cannot list the processes of {}", container.name),
                self.docker.top_processes(
                    &container.full_id,
                    Some(
                        bollard::query_parameters::TopOptionsBuilder::default()
                            .ps_args("-eo pid,user,pcpu,pmem,rss,nlwp,args")
                            .build(),
                    ),
                ),
            )
            .await?;
        // ps's own headers for those columns.
        let titles: Vec<String> = answer
            .titles
            .unwrap_or_default()
            .into_iter()
            .map(|t| match t.as_str() {
                "CMD" => "COMMAND".to_string(),
                _ => t,
            })
            .collect();
        Ok((
            CpuBasis::Lifetime,
            from_top(&titles, &answer.processes.unwrap_or_default())?,
        ))
    }

    async fn local_processes(
        &self,
        container: &super::ContainerFacts,
        window: std::time::Duration,
    ) -> Result<Vec<Process>> {
        let main = container.pid.ok_or_else(|| anyhow!("no main process"))?;
        let host = super::cgroup::Host::read()?;
        let pids = cgroup_pids(&host, main, &container.full_id)?;
        let ticks =
            |pid: i64| -> Option<Stat> { parse_stat(&read(format!("/proc/{pid}/stat")).ok()?) };
        let before: Vec<(i64, Option<Stat>)> = pids.iter().map(|pid| (*pid, ticks(*pid))).collect();
        let started = std::time::Instant::now();
        tokio::time::sleep(window).await;
        let seconds = started.elapsed().as_secs_f64();
        let users = std::fs::read_to_string(format!("/proc/{main}/root/etc/passwd"))
            .map(|text| parse_passwd(&text))
            .unwrap_or_default();
        let page = 4096u64;
        let mut found = Vec::new();
        for (pid, first) in before {
            // Gone during the window: not shown.
            let Ok(stat_text) = read(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(now) = parse_stat(&stat_text) else {
                continue;
            };
            let (uid, ns_pid) =
                parse_status(&read(format!("/proc/{pid}/status")).unwrap_or_default());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let rss_bytes = now.rss_pages * page;
            found.push(Process {
                pid: ns_pid.unwrap_or(pid),
                host_pid: Some(pid),
                user: uid
                    .map(|uid| users.get(&uid).cloned().unwrap_or_else(|| uid.to_string()))
                    .unwrap_or_else(|| "?".into()),
                cpu_percent: first
                    .map(|f| cpu_percent(f.ticks, now.ticks, seconds))
                    .unwrap_or(0.0),
                memory_percent: rss_bytes as f64 * 100.0 / host.memory_total.max(1) as f64,
                rss_bytes,
                threads: Some(now.threads),
                command: command_line(&cmdline, &stat_text),
            });
        }
        if found.is_empty() {
            return Err(anyhow!("no process of the container could be read"));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_even_with_spaces_and_parens_in_it() {
        let text = "4242 (java (main) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1250 375 0 0 20 0 57 0 12345 4000000000 51200 18446744073709551615 1 1 0 0 0 0 0 4096 17610 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                ticks: 1625,
                threads: 57,
                rss_pages: 51200
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(command_line(b"", text), "[java (main) x]");
        assert_eq!(
            command_line(b"java\0-Xmx512m\0-jar\0app.jar\0", text),
            "java -Xmx512m -jar app.jar"
        );
    }

    #[test]
    fn status_gives_the_uid_and_the_pid_inside_the_container() {
        let status = "Name:\tjava\nUid:\t1000\t1000\t1000\t1000\nNSpid:\t4242\t7\n";
        assert_eq!(parse_status(status), (Some(1000), Some(7)));
        assert_eq!(parse_status(""), (None, None));
        let users =
            parse_passwd("root:x:0:0:root:/root:/bin/sh\nspring:x:1000:1000::/app:/bin/sh\n");
        assert_eq!(users.get(&1000).map(String::as_str), Some("spring"));
    }

    #[test]
    fn cpu_is_ticks_over_the_window_where_one_core_is_100() {
        assert_eq!(cpu_percent(100, 150, 0.5), 100.0);
        assert_eq!(cpu_percent(100, 125, 0.5), 50.0);
        assert_eq!(cpu_percent(100, 100, 0.0), 0.0);
    }

    #[test]
    fn the_engine_api_top_answer_is_read_by_column_names() {
        let titles: Vec<String> = ["PID", "USER", "%CPU", "%MEM", "RSS", "NLWP", "COMMAND"]
            .map(String::from)
            .to_vec();
        let rows = vec![
            ["812", "root", "0.0", "0.1", "1024", "1", "sleep 600"]
                .map(String::from)
                .to_vec(),
            ["813", "1000", "97.5", "2.0", "20480", "3", "sh -c spin"]
                .map(String::from)
                .to_vec(),
        ];
        let mut processes = from_top(&titles, &rows).unwrap();
        sort(&mut processes, false);
        assert_eq!(processes[0].pid, 813);
        assert_eq!(processes[0].rss_bytes, 20480 * 1024);
        assert_eq!(processes[0].threads, Some(3));
        assert_eq!(processes[0].command, "sh -c spin");
        sort(&mut processes, true);
        assert_eq!(processes[0].pid, 813);
        assert!(from_top(&["PID".to_string()], &rows).is_err());
    }
}
