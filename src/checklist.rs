//! The verdicts of the guide's daily and weekly checklists (section 5.1), from what
//! `check` gathered: each a finding with a status and, when it is not OK, what to do. Pure:
//! gathering (probes, the engine, the log, PostgreSQL, the backup directory) is the
//! command's.

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

#[cfg(test)]
mod tests {
    use super::*;

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
