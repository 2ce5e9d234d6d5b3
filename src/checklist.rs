//! The verdicts of the guide's daily and weekly checklists (section 5.1), from what
//! `check` gathered: each a finding with a status and, when it is not OK, what to do. Pure:
//! gathering (probes, the engine, the log, PostgreSQL, the backup directory) is the
//! command's.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::exit::Status;
use crate::logs::stats::LogStats;
use crate::output::{human_bytes, short_duration};
use crate::probe::HealthReport;
use crate::say;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub area: String,
    pub item: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it (empty when OK).
    pub action: String,
}

pub fn finding(
    area: &str,
    item: &str,
    status: Status,
    detail: impl Into<String>,
    action: impl Into<String>,
) -> Finding {
    let action = if status == Status::Ok {
        String::new()
    } else {
        action.into()
    };
    Finding {
        area: area.into(),
        item: item.into(),
        status,
        detail: detail.into(),
        action,
    }
}

/// A part that could not be checked: UNKNOWN, saying why.
pub fn unknown(area: &str, item: &str, err: &anyhow::Error) -> Finding {
    let (message, hint) = crate::error::describe(err);
    finding(
        area,
        item,
        Status::Unknown,
        message,
        hint.unwrap_or_else(|| say!("fix what stops the check, then run it again")),
    )
}

/// The `health --check` group of a probe kind.
fn group_of(kind: &str) -> &str {
    match kind {
        "docker" | "container" => "containers",
        other => other,
    }
}

/// Services and health (daily 1-2): every probe but a Docker daemon that is fine.
pub fn health(report: HealthReport) -> Vec<Finding> {
    report
        .checks
        .into_iter()
        .filter(|c| c.check != crate::probe::CheckKind::Docker || c.status != Status::Ok)
        .map(|check| {
            let kind = check.check.label();
            let action = check
                .hint
                .clone()
                .unwrap_or_else(|| say!("look closer: `gymops health --check {}`", group_of(kind)));
            finding(
                "health",
                &format!("{kind} {}", check.name),
                check.status,
                check.summary,
                action,
            )
        })
        .collect()
}

/// A container's CPU or memory use (daily 3), as `monitor` judged it.
pub fn resource(check: &str, target: &str, status: Status, detail: String) -> Finding {
    finding(
        "resources",
        &format!("{check} {target}"),
        status,
        detail,
        say!("see what uses it: `gymops perf stats {target}`, `gymops logs {target} --since 1h`"),
    )
}

/// A file system's use (daily 4).
pub fn disk(name: &str, fs: &crate::hostfs::FileSystem) -> Finding {
    let detail = match fs.used_percent {
        Some(percent) => say!(
            "{} used {percent:.1}%",
            fs.measured.clone().unwrap_or(fs.path.clone())
        ),
        None => fs.note.clone(),
    };
    finding(
        "disk",
        name,
        fs.status,
        detail,
        say!("free space: `gymops disk`, `gymops logs clean`, `docker system prune`"),
    )
}

/// ERROR events of a service's last 24 hours (daily 5): none is OK, any a warning with the
/// commonest.
pub fn errors(service: &str, stats: &LogStats) -> Finding {
    let item = format!("errors in 24h ({service})");
    if stats.levels.error == 0 {
        return finding(
            "logs",
            &item,
            Status::Ok,
            say!("no ERROR in {} events", stats.events),
            "",
        );
    }
    let top: Vec<String> = stats
        .top_errors
        .iter()
        .map(|g| format!("{}x {}", g.count, g.example))
        .collect();
    finding(
        "logs",
        &item,
        Status::Warning,
        say!("{} ERROR events: {}", stats.levels.error, top.join("; ")),
        say!("`gymops logs stats {service} --since 24h`, then `gymops logs {service} --since 24h --level error`"),
    )
}

/// Rotated log files older than a week (weekly): (count, bytes) of them.
pub fn old_logs(item: &str, count: usize, bytes: u64) -> Finding {
    finding(
        "logs",
        item,
        if count == 0 {
            Status::Ok
        } else {
            Status::Warning
        },
        say!("{count} files, {}", human_bytes(bytes)),
        "`gymops logs clean --dry-run`, then `gymops logs clean`",
    )
}

/// The write-heavy tables (weekly), for the record: always OK.
pub fn write_heavy(top: &[String]) -> Finding {
    finding(
        "database",
        "write-heavy tables",
        Status::Ok,
        if top.is_empty() {
            say!("no tables")
        } else {
            top.join(", ")
        },
        "",
    )
}

/// Roles whose password expires within 7 days (weekly): (role, valid until, days left);
/// expired is critical, expiring a warning, none OK.
pub fn roles(expiring: &[(String, String, f64)]) -> Vec<Finding> {
    if expiring.is_empty() {
        return vec![finding(
            "database",
            "roles expiring in 7 days",
            Status::Ok,
            say!("none"),
            "",
        )];
    }
    expiring
        .iter()
        .map(|(role, valid_until, days)| {
            finding(
                "database",
                &format!("role {role}"),
                if *days < 0.0 {
                    Status::Critical
                } else {
                    Status::Warning
                },
                expiry_detail(valid_until, *days),
                say!(
                    "renew it: ALTER ROLE \"{}\" VALID UNTIL '<date>' (or rotate the password)",
                    role.replace('"', "\"\"")
                ),
            )
        })
        .collect()
}

/// `password valid until DATE (expires in 3.5 days)` / `(expired 2 days ago)`.
pub fn expiry_detail(valid_until: &str, days_left: f64) -> String {
    if days_left < 0.0 {
        say!(
            "password valid until {valid_until} (expired {:.0} day(s) ago)",
            (-days_left).ceil()
        )
    } else {
        say!("password valid until {valid_until} (expires in {days_left:.1} days)")
    }
}

/// What the backup directory showed.
pub enum BackupDir {
    Missing,
    Unreadable(String),
    /// The newest backup: name, size, age in seconds; None: no backup files.
    Newest(Option<(String, u64, i64)>),
}

/// The newest backup (weekly): fresh within 26 h is OK, within 7 days a warning, older or
/// none critical.
pub fn backups(item: &str, dir: BackupDir) -> Finding {
    let action = say!("check the nightly backup job and its log; run a backup now");
    match dir {
        BackupDir::Missing => finding(
            "backups",
            item,
            Status::Critical,
            say!("the backup directory does not exist: no backup was ever taken here (check backup.dir)"),
            action,
        ),
        BackupDir::Unreadable(why) => finding(
            "backups",
            item,
            Status::Critical,
            say!("cannot read the directory: {why}"),
            action,
        ),
        BackupDir::Newest(None) => {
            finding("backups", item, Status::Critical, say!("no backup files"), action)
        }
        BackupDir::Newest(Some((name, size, age))) => {
            let status = if age <= 26 * 3600 {
                Status::Ok
            } else if age <= 7 * 86_400 {
                Status::Warning
            } else {
                Status::Critical
            };
            let detail = say!(
                "newest {name}: {} old, {}",
                short_duration(age),
                human_bytes(size)
            );
            finding("backups", item, status, detail, action)
        }
    }
}

/// A service's log rotation (daily and weekly). The engine keeps what a container writes in
/// the json-file driver's file, which grows until the disk is full unless `max-size` caps it
/// (`-1` is no cap); the local driver rotates by default (20m × 5); the others send the log
/// away (journald, syslog, fluentd...) or keep none.
pub fn log_rotation(service: &str, driver: &str, options: &BTreeMap<String, String>) -> Finding {
    let item = say!("log rotation ({service})");
    let cap = options
        .get("max-size")
        .map(String::as_str)
        .filter(|size| !size.is_empty() && *size != "-1");
    let files = options.get("max-file").map(String::as_str).unwrap_or("1");
    let (status, detail) = match (driver, cap) {
        ("json-file", None) => (
            Status::Warning,
            say!("json-file with no max-size: the log grows until the disk is full"),
        ),
        ("json-file", Some(size)) => (Status::Ok, say!("json-file, at most {files} × {size}")),
        ("local", _) => (
            Status::Ok,
            say!(
                "local, at most {} × {}",
                options.get("max-file").map(String::as_str).unwrap_or("5"),
                cap.unwrap_or("20m")
            ),
        ),
        ("none", _) => (Status::Ok, say!("none: no log is kept")),
        (other, _) => (
            Status::Ok,
            say!("{other}: the log is sent away, rotated where it lands"),
        ),
    };
    finding(
        "logs",
        &item,
        status,
        detail,
        say!("add to services.{service} in the compose file: `logging: {{driver: json-file, options: {{max-size: \"10m\", max-file: \"3\"}}}}`, then `gymops up` (the container is created again)"),
    )
}

/// The engine's default log rotation, from its daemon.json (daily and weekly): what a
/// container gets when its compose file says nothing.
pub fn daemon_log_rotation(driver: &str, options: &BTreeMap<String, String>) -> Finding {
    let mut finding = log_rotation("docker", driver, options);
    finding.item = say!("log rotation (Docker's default)");
    if finding.status != Status::Ok {
        finding.action = say!("add `\"log-opts\": {{\"max-size\": \"10m\", \"max-file\": \"3\"}}` to /etc/docker/daemon.json and restart Docker (it applies to containers created after)");
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_file_without_a_size_cap_is_flagged_with_the_compose_snippet() {
        let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let bare = log_rotation("backend", "json-file", &opts(&[]));
        assert_eq!(bare.status, Status::Warning);
        assert!(
            bare.action.contains("services.backend") && bare.action.contains("max-size"),
            "{}",
            bare.action
        );
        let unlimited = log_rotation("backend", "json-file", &opts(&[("max-size", "-1")]));
        assert_eq!(unlimited.status, Status::Warning);
        let capped = log_rotation(
            "backend",
            "json-file",
            &opts(&[("max-size", "10m"), ("max-file", "3")]),
        );
        assert_eq!(
            (
                capped.status,
                capped.detail.as_str(),
                capped.action.as_str()
            ),
            (Status::Ok, "json-file, at most 3 × 10m", "")
        );
        assert_eq!(
            log_rotation("db", "local", &opts(&[])).detail,
            "local, at most 5 × 20m"
        );
        assert_eq!(
            log_rotation("db", "journald", &opts(&[])).status,
            Status::Ok
        );
        let daemon = daemon_log_rotation("json-file", &opts(&[]));
        assert_eq!(
            (daemon.item.as_str(), daemon.status),
            ("log rotation (Docker's default)", Status::Warning)
        );
        assert!(daemon.action.contains("daemon.json"), "{}", daemon.action);
    }

    #[test]
    fn an_expired_role_is_critical_and_says_how_long_ago() {
        assert_eq!(
            expiry_detail("2026-11-20", -8.2),
            "password valid until 2026-11-20 (expired 9 day(s) ago)"
        );
        let found = roles(&[
            ("app".into(), "2026-11-20".into(), -8.2),
            ("re\"port".into(), "2026-12-01".into(), 3.5),
        ]);
        assert_eq!(found[0].status, Status::Critical);
        assert_eq!(found[1].status, Status::Warning);
        assert_eq!(
            found[1].detail,
            "password valid until 2026-12-01 (expires in 3.5 days)"
        );
        assert!(found[1].action.contains("ALTER ROLE \"re\"\"port\""));
        assert_eq!(roles(&[])[0].status, Status::Ok);
    }

    #[test]
    fn backups_are_judged_by_the_age_of_the_newest() {
        let at = |hours: i64| {
            backups(
                "backups",
                BackupDir::Newest(Some(("gym_db_backup_x".into(), 1 << 20, hours * 3600))),
            )
        };
        assert_eq!(at(25).status, Status::Ok);
        assert!(at(25).action.is_empty());
        assert_eq!(at(27).status, Status::Warning);
        assert_eq!(at(24 * 8).status, Status::Critical);
        let missing = backups("backups", BackupDir::Missing);
        assert_eq!(missing.status, Status::Critical);
        assert!(missing.detail.contains("does not exist"));
        assert_eq!(
            backups("backups", BackupDir::Newest(None)).detail,
            "no backup files"
        );
    }

    #[test]
    fn old_logs_and_errors_warn_with_what_to_run() {
        assert_eq!(old_logs("x", 0, 0).status, Status::Ok);
        let old = old_logs("x", 3, 3 << 20);
        assert_eq!(old.status, Status::Warning);
        assert_eq!(old.detail, "3 files, 3.0 MiB");
        assert!(old.action.contains("logs clean --dry-run"));
    }
}
