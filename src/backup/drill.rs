//! `dr drill`'s report: what was restored, the checks on it, the rows against the live
//! database, RTO and RPO, and the verdict; as JSON and as the Markdown record
//! `dr-drill-YYYYMMDD.md`. Pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::exit::Status;

#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    pub table: String,
    pub restored: Option<u64>,
    pub live: Option<u64>,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    pub status: Status,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `base+wal` or `logical`.
    pub method: String,
    pub backup: Option<String>,
    pub wal_segments: usize,
    /// Where it was restored (project, or the scratch database).
    pub restored_into: Option<String>,
    pub kept: bool,
    /// The moment of the live database the restore reproduces.
    pub recovery_point: Option<DateTime<Utc>>,
    /// Start of the drill to the restored database answering, checked.
    pub rto_seconds: Option<f64>,
    /// How much of the most recent work the backups would lose: the time between a commit
    /// on the live database and its WAL in the archive (measured), or the age of the
    /// newest backup.
    pub rpo_seconds: Option<f64>,
    pub checks: Vec<Check>,
    pub tables: Vec<TableRows>,
    pub error: Option<String>,
}

/// Compare rows per table: equal is OK, different or missing is critical.
pub fn compare(restored: &BTreeMap<String, u64>, live: &BTreeMap<String, u64>) -> Vec<TableRows> {
    let mut names: Vec<&String> = restored.keys().chain(live.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let (r, l) = (restored.get(name).copied(), live.get(name).copied());
            TableRows {
                table: name.clone(),
                restored: r,
                live: l,
                status: if r == l { Status::Ok } else { Status::Critical },
            }
        })
        .collect()
}

/// The drill's status: the worst of its checks and tables; critical when it failed.
pub fn verdict(report: &mut DrillReport) {
    report.status = if report.error.is_some() {
        Status::Critical
    } else {
        Status::combine(
            report
                .checks
                .iter()
                .map(|c| c.status)
                .chain(report.tables.iter().map(|t| t.status)),
        )
    };
}

/// A time in this host's zone, or `-`.
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

/// `12.5 s`, or `-`.
pub fn seconds(value: Option<f64>) -> String {
    value
        .map(|s| format!("{s:.1} s"))
        .unwrap_or_else(|| "-".into())
}

/// The Markdown record of a drill (guide 8.6's drill log).
pub fn markdown(report: &DrillReport) -> String {
    let mut out = String::new();
    out.push_str(&crate::say!(
        "# Disaster-recovery drill {}\n\n",
        report
            .started_at
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d")
    ));
    let rows = [
        ("Result", report.status.label().to_string()),
        ("Started", time(Some(report.started_at))),
        ("Finished", time(Some(report.finished_at))),
        ("Method", report.method.clone()),
        (
            "Backup",
            report.backup.clone().unwrap_or_else(|| "-".into()),
        ),
        ("WAL segments replayed", report.wal_segments.to_string()),
        (
            "Restored into",
            report.restored_into.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Recovery point", time(report.recovery_point)),
        ("RTO (start to healthy)", seconds(report.rto_seconds)),
        ("RPO (data at risk)", seconds(report.rpo_seconds)),
        (
            "Scratch stack",
            if report.kept {
                "kept (--keep)".into()
            } else {
                "removed".into()
            },
        ),
    ];
    out.push_str("| | |\n|---|---|\n");
    for (key, value) in rows {
        out.push_str(&format!("| {key} | {} |\n", value.replace('|', "\\|")));
    }
    if let Some(error) = &report.error {
        out.push_str(&format!("\n**Failed:** {}\n", error.replace('|', "\\|")));
    }
    if !report.checks.is_empty() {
        out.push_str("\n## Checks\n\n| Check | Status | Detail |\n|---|---|---|\n");
        for check in &report.checks {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                check.check,
                check.status.label(),
                check.detail.replace('|', "\\|")
            ));
        }
    }
    if !report.tables.is_empty() {
        out.push_str("\n## Rows: restored vs live at the recovery point\n\n| Table | Restored | Live | Status |\n|---|---:|---:|---|\n");
        for table in &report.tables {
            let number =
                |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "missing".into());
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                table.table.replace('|', "\\|"),
                number(table.restored),
                number(table.live),
                table.status.label()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_compare_table_by_table_and_a_difference_fails_the_drill() {
        let restored = BTreeMap::from([
            ("public.member".to_string(), 10),
            ("public.visit".to_string(), 5),
        ]);
        let live = BTreeMap::from([
            ("public.member".to_string(), 10),
            ("public.visit".to_string(), 6),
            ("public.new".to_string(), 1),
        ]);
        let tables = compare(&restored, &live);
        assert_eq!(tables.len(), 3);
        assert_eq!(tables.iter().filter(|t| t.status == Status::Ok).count(), 1);
        let mut report = DrillReport {
            status: Status::Ok,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            method: "base+wal".into(),
            backup: Some("b".into()),
            wal_segments: 2,
            restored_into: Some("p".into()),
            kept: false,
            recovery_point: Some(Utc::now()),
            rto_seconds: Some(12.5),
            rpo_seconds: Some(0.2),
            checks: vec![],
            tables,
            error: None,
        };
        verdict(&mut report);
        assert_eq!(report.status, Status::Critical);
        let text = markdown(&report);
        assert!(
            text.contains("| public.new | missing | 1 | CRITICAL |"),
            "{text}"
        );
        assert!(text.contains("RTO (start to healthy) | 12.5 s"), "{text}");
        report.tables = compare(&restored, &restored);
        verdict(&mut report);
        assert_eq!(report.status, Status::Ok);
    }
}
