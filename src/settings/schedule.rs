//! Scheduled jobs (cron, systemd timers, Task Scheduler).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One scheduled job: when, and which gymops command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduledJob {
    pub enabled: bool,
    /// minutely, hourly, daily, weekly or monthly
    pub every: Every,
    /// `HH:MM` for daily, weekly and monthly jobs, `:MM` (or `MM`) for hourly ones; not
    /// set for minutely ones.
    pub at: String,
    /// Day of the week for weekly jobs (mon..sun).
    pub weekday: Option<String>,
    /// Day of the month for monthly jobs (1-28: every month has it).
    pub day: Option<u8>,
    /// The gymops arguments (no program name).
    pub args: Vec<String>,
}

impl Default for ScheduledJob {
    fn default() -> Self {
        ScheduledJob {
            enabled: true,
            every: Every::Daily,
            at: "00:00".into(),
            weekday: None,
            day: None,
            args: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    /// Every minute (WAL archiving: closed segments sealed and sent off promptly).
    Minutely,
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// The gymops binary the schedule runs; unset: the running binary's path.
    pub binary: Option<PathBuf>,
    /// Directory the jobs run in; unset: the directory of gymops.yaml.
    pub working_dir: Option<PathBuf>,
    /// Name prefix of Task Scheduler tasks and systemd units (letters, digits, `-`, `_`).
    pub name_prefix: String,
    /// The account systemd runs the jobs as (`User=`; one in the docker group). Required
    /// for `--target systemd`: `root` only when set on purpose.
    pub user: Option<String>,
    /// The jobs, by name (the guide's: daily 02:00 backup, hourly health, 09:00 daily report).
    pub jobs: BTreeMap<String, ScheduledJob>,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        let job = |every, at: &str, args: &[&str]| ScheduledJob {
            enabled: true,
            every,
            at: at.into(),
            weekday: None,
            day: None,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        ScheduleSettings {
            binary: None,
            working_dir: None,
            name_prefix: "FitnessGym".into(),
            user: None,
            jobs: BTreeMap::from([
                (
                    "backup".into(),
                    job(Every::Daily, "02:00", &["backup", "create", "--quiet"]),
                ),
                (
                    "health".into(),
                    job(Every::Hourly, ":00", &["health", "--quiet"]),
                ),
                (
                    // Off until `backup wal start` set WAL archiving up.
                    "wal-archive".into(),
                    ScheduledJob {
                        enabled: false,
                        at: String::new(),
                        ..job(
                            Every::Minutely,
                            "",
                            &["backup", "wal", "archive", "--quiet"],
                        )
                    },
                ),
                (
                    // The guide's 8.6: restore the newest backup somewhere else, monthly.
                    "dr-drill".into(),
                    ScheduledJob {
                        day: Some(1),
                        ..job(Every::Monthly, "04:00", &["dr", "drill", "--quiet"])
                    },
                ),
                (
                    "daily-report".into(),
                    job(
                        Every::Daily,
                        "09:00",
                        &[
                            "check",
                            "daily",
                            "--output",
                            "markdown",
                            "--output-file",
                            "reports/daily-check.md",
                        ],
                    ),
                ),
            ]),
        }
    }
}
