//! `backup monitor`'s verdicts (the guide's backup-monitor.ps1): from the backups, newest
//! first, and the run log — the newest is fresh, not small, not a sudden drop, verified, and
//! the last scheduled run did not fail. Pure.

use chrono::Utc;
use serde::Serialize;

use super::catalog::Entry;
use super::runlog::LastRun;
use crate::exit::Status;
use crate::output::{human_bytes, short_duration};
use crate::say;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub detail: String,
    pub action: String,
}

fn finding(check: &str, status: Status, detail: String, action: &str) -> Finding {
    Finding {
        check: check.into(),
        status,
        detail,
        action: if status == Status::Ok {
            String::new()
        } else {
            action.into()
        },
    }
}

/// The median of the sizes (the middle one; the lower middle for an even count).
pub fn median(mut sizes: Vec<u64>) -> Option<u64> {
    if sizes.is_empty() {
        return None;
    }
    sizes.sort_unstable();
    Some(sizes[(sizes.len() - 1) / 2])
}

/// The checks, from the backups (newest first) and the run log: pure.
pub fn evaluate(
    entries: &[Entry],
    last_run: &LastRun,
    max_age_seconds: i64,
    min_size: Option<u64>,
    drop_percent: u8,
    now: chrono::DateTime<Utc>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let rerun = &say!(
        "run `gymops backup create` now and check the scheduled job (`gymops schedule print`)"
    );
    let last_run = match last_run {
        LastRun::None => None,
        LastRun::Succeeded(time) => Some((
            Status::Ok,
            say!(
                "the last run ({}) succeeded",
                time.format("%Y-%m-%d %H:%M UTC")
            ),
        )),
        LastRun::Failed { time, why } => Some((
            Status::Critical,
            match time {
                Some(time) => say!(
                    "the last run ({}) failed: {why}",
                    time.format("%Y-%m-%d %H:%M UTC")
                ),
                None => say!("the last run failed: {why}"),
            },
        )),
    }
    .map(|(status, detail)| {
        finding(
            "last run",
            status,
            detail,
            &say!("fix the error shown and run `gymops backup create`"),
        )
    });
    let Some(newest) = entries.first() else {
        findings.push(finding(
            "freshness",
            Status::Critical,
            say!("no backups at all"),
            rerun,
        ));
        findings.extend(last_run);
        return findings;
    };
    let age = newest
        .time
        .map(|t| now.signed_duration_since(t).num_seconds())
        .unwrap_or(i64::MAX);
    findings.push(finding(
        "freshness",
        if age <= max_age_seconds {
            Status::Ok
        } else {
            Status::Critical
        },
        say!(
            "newest {} is {} old (limit {})",
            newest.name,
            short_duration(age),
            short_duration(max_age_seconds)
        ),
        rerun,
    ));
    if let Some(min) = min_size {
        findings.push(finding(
            "size",
            if newest.size >= min {
                Status::Ok
            } else {
                Status::Critical
            },
            say!(
                "newest is {} (minimum {})",
                human_bytes(newest.size),
                human_bytes(min)
            ),
            &say!("look at the backup's log and the database: a dump this small has lost data or failed"),
        ));
    }
    let previous: Vec<u64> = entries.iter().skip(1).take(5).map(|e| e.size).collect();
    if let Some(median) = median(previous) {
        let floor = median * u64::from(drop_percent) / 100;
        findings.push(finding(
            "size drop",
            if newest.size >= floor {
                Status::Ok
            } else {
                Status::Warning
            },
            say!(
                "newest {} against {} (median of the previous {})",
                human_bytes(newest.size),
                human_bytes(median),
                entries.len().saturating_sub(1).min(5)
            ),
            &say!("compare the row counts of the newest manifest with the previous one: was data deleted, or was the dump cut short?"),
        ));
    }
    findings.extend(last_run);
    let unverified = entries.iter().take_while(|e| !e.verified()).count();
    findings.push(finding(
        "verified",
        if entries.iter().any(Entry::verified) {
            Status::Ok
        } else {
            Status::Warning
        },
        if unverified == 0 {
            say!("the newest backup is verified")
        } else if unverified == entries.len() {
            say!("no backup has been verified")
        } else {
            say!("{unverified} backup(s) newer than the newest verified one")
        },
        &say!("run `gymops backup verify --latest --restore-test` (a backup never restored is a hope, not a backup)"),
    ));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, hours_ago: i64, size: u64, now: chrono::DateTime<Utc>) -> Entry {
        Entry {
            name: name.into(),
            location: name.into(),
            time: Some(now - chrono::Duration::hours(hours_ago)),
            size,
            manifest: None,
        }
    }

    #[test]
    fn stale_small_dropped_and_failed_are_each_found() {
        let now = Utc::now();
        let entries = vec![
            entry("d", 30, 100, now),
            entry("c", 54, 1000, now),
            entry("b", 78, 1000, now),
            entry("a", 102, 1000, now),
        ];
        let last_run = LastRun::Failed {
            time: Some(now - chrono::Duration::hours(2)),
            why: "pg_dump exited with 1: connection refused".into(),
        };
        let findings = evaluate(&entries, &last_run, 26 * 3600, Some(500), 50, now);
        let status = |check: &str| findings.iter().find(|f| f.check == check).unwrap().status;
        assert_eq!(status("freshness"), Status::Critical);
        assert_eq!(status("size"), Status::Critical);
        assert_eq!(status("size drop"), Status::Warning);
        assert_eq!(status("last run"), Status::Critical);
        assert_eq!(status("verified"), Status::Warning);
        assert!(findings
            .iter()
            .find(|f| f.check == "last run")
            .unwrap()
            .detail
            .contains("connection refused"));
    }

    #[test]
    fn a_fresh_regular_backup_is_ok_and_none_is_critical() {
        let now = Utc::now();
        let entries = vec![entry("b", 1, 1000, now), entry("a", 25, 990, now)];
        let findings = evaluate(&entries, &LastRun::None, 26 * 3600, None, 50, now);
        assert_eq!(findings[0].status, Status::Ok);
        assert_eq!(findings[1].status, Status::Ok);
        let none = evaluate(&[], &LastRun::None, 26 * 3600, None, 50, now);
        assert_eq!(none[0].status, Status::Critical);
        assert_eq!(none[0].detail, "no backups at all");
    }
}
