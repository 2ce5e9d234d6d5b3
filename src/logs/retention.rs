//! Which in-container log files `logs clean` compresses or deletes. Pure: a listing and the
//! rules in, a plan out. The live log (`*.log`) is never touched.

use serde::Serialize;

/// A file in the log directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogFile {
    pub name: String,
    pub size: u64,
    /// Modification time, Unix seconds.
    pub modified: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// The file being written (`app.log`).
    Active,
    /// A rotated plain file (`app.log.2024-01-15.0`, `app.log.1`).
    Rotated,
    /// A rotated, compressed file (`app.log.2024-01-15.0.gz`).
    Compressed,
    /// Not a log file; left alone.
    Other,
}

pub fn kind(name: &str) -> FileKind {
    if name.ends_with(".log") {
        FileKind::Active
    } else if name.ends_with(".gz") && name.contains(".log") {
        FileKind::Compressed
    } else if name.contains(".log.") {
        FileKind::Rotated
    } else {
        FileKind::Other
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Keep,
    Compress,
    Delete,
}

/// Ages in seconds; `None` switches a rule off.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub compress_older_than: Option<u64>,
    pub delete_older_than: Option<u64>,
    pub delete_compressed_older_than: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub file: LogFile,
    pub kind: FileKind,
    pub age_seconds: i64,
    pub action: Action,
    pub reason: String,
}

fn older(age: i64, limit: Option<u64>) -> bool {
    limit.is_some_and(|limit| age > limit as i64)
}

pub fn plan(files: &[LogFile], now: i64, rules: &Rules) -> Vec<Planned> {
    let mut out: Vec<Planned> = files
        .iter()
        .map(|file| {
            let age = now - file.modified;
            let kind = kind(&file.name);
            let days = |limit: Option<u64>| {
                humantime::format_duration(std::time::Duration::from_secs(limit.unwrap_or(0)))
                    .to_string()
            };
            let (action, reason) = match kind {
                FileKind::Active => (Action::Keep, "live log".to_string()),
                FileKind::Other => (Action::Keep, "not a log file".to_string()),
                FileKind::Compressed if older(age, rules.delete_compressed_older_than) => (
                    Action::Delete,
                    format!(
                        "compressed, older than {}",
                        days(rules.delete_compressed_older_than)
                    ),
                ),
                FileKind::Rotated if older(age, rules.delete_older_than) => (
                    Action::Delete,
                    format!("rotated, older than {}", days(rules.delete_older_than)),
                ),
                FileKind::Rotated if older(age, rules.compress_older_than) => (
                    Action::Compress,
                    format!("rotated, older than {}", days(rules.compress_older_than)),
                ),
                _ => (Action::Keep, "within retention".to_string()),
            };
            Planned {
                file: file.clone(),
                kind,
                age_seconds: age,
                action,
                reason,
            }
        })
        .collect();
    out.sort_by(|a, b| a.file.name.cmp(&b.file.name));
    out
}

/// Parse one line of `find -printf '%s %T@ %f\n'` or `stat -c '%s %Y %n'`: size, mtime, name
/// (the name may hold spaces; a path is cut to its last part).
pub fn parse_listing_line(line: &str) -> Option<LogFile> {
    let mut parts = line.splitn(3, ' ');
    let size = parts.next()?.parse().ok()?;
    let modified = parts.next()?.split('.').next()?.parse().ok()?;
    let name = parts.next()?.rsplit('/').next()?.to_string();
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    Some(LogFile {
        name,
        size,
        modified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const NOW: i64 = 1_705_314_645;

    fn file(name: &str, days_old: i64) -> LogFile {
        LogFile {
            name: name.into(),
            size: 1000,
            modified: NOW - days_old * DAY,
        }
    }

    fn rules() -> Rules {
        Rules {
            compress_older_than: Some(DAY as u64),
            delete_older_than: Some(7 * DAY as u64),
            delete_compressed_older_than: Some(30 * DAY as u64),
        }
    }

    #[test]
    fn files_are_told_apart_by_name() {
        assert_eq!(kind("springboot-schema.log"), FileKind::Active);
        assert_eq!(
            kind("springboot-schema.log.2024-01-15.0"),
            FileKind::Rotated
        );
        assert_eq!(kind("app.log.1"), FileKind::Rotated);
        assert_eq!(
            kind("springboot-schema.log.2024-01-15.0.gz"),
            FileKind::Compressed
        );
        assert_eq!(kind("heapdump.hprof"), FileKind::Other);
    }

    #[test]
    fn the_plan_compresses_deletes_and_never_touches_the_live_log() {
        let files = [
            file("app.log", 400),
            file("app.log.2024-01-14.0", 0),
            file("app.log.2024-01-12.0", 3),
            file("app.log.2024-01-01.0", 14),
            file("app.log.2023-12-20.0.gz", 26),
            file("app.log.2023-11-01.0.gz", 75),
            file("notes.txt", 400),
        ];
        let actions: Vec<(String, Action)> = plan(&files, NOW, &rules())
            .into_iter()
            .map(|p| (p.file.name, p.action))
            .collect();
        assert_eq!(
            actions,
            vec![
                ("app.log".into(), Action::Keep),
                ("app.log.2023-11-01.0.gz".into(), Action::Delete),
                ("app.log.2023-12-20.0.gz".into(), Action::Keep),
                ("app.log.2024-01-01.0".into(), Action::Delete),
                ("app.log.2024-01-12.0".into(), Action::Compress),
                ("app.log.2024-01-14.0".into(), Action::Keep),
                ("notes.txt".into(), Action::Keep),
            ]
        );
    }

    #[test]
    fn a_rule_switched_off_keeps_files() {
        let off = Rules {
            compress_older_than: None,
            delete_older_than: None,
            delete_compressed_older_than: None,
        };
        assert!(plan(&[file("a.log.1", 900)], NOW, &off)
            .iter()
            .all(|p| p.action == Action::Keep));
    }

    #[test]
    fn listing_lines_from_gnu_find_and_busybox_stat() {
        assert_eq!(
            parse_listing_line("1234 1705314645.5730000000 app log.log.1"),
            Some(LogFile {
                name: "app log.log.1".into(),
                size: 1234,
                modified: 1_705_314_645
            })
        );
        assert_eq!(
            parse_listing_line("99 1705314645 /app/logs/app.log")
                .unwrap()
                .name,
            "app.log"
        );
        assert_eq!(parse_listing_line("garbage"), None);
    }
}
