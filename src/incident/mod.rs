//! Incident records (the guide's sections 7.7 and 8): one directory per incident holding
//! `incident.json` (state, severity, timeline, action items), `report.md` rendered from it,
//! and the evidence captured when it was opened. The model and its rules are pure; [`store`]
//! does the file work (IDs claimed with `mkdir`, updates under a lock, atomic writes).

pub mod evidence;
pub mod render;
pub mod store;

use anyhow::{anyhow, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::HintExt;
use crate::settings::Severity;

/// Where an incident is in the guide's response flow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Opened; nobody has responded yet
    #[value(skip)]
    Open,
    /// Looking for the cause
    Investigating,
    /// Applying a fix or a rollback
    Fixing,
    /// Fix in place, watching that it holds
    Monitoring,
    /// Service fully restored; the incident is closed
    Resolved,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Investigating => "investigating",
            State::Fixing => "fixing",
            State::Monitoring => "monitoring",
            State::Resolved => "resolved",
        }
    }

    pub fn is_open(self) -> bool {
        self != State::Resolved
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub time: DateTime<Utc>,
    /// The state after this entry.
    pub state: State,
    /// What happened: opened, update, resolved, notified, action...
    pub kind: String,
    pub note: String,
    pub by: String,
    /// The status update's fields (the guide's internal update template), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateDetails>,
}

/// The guide's internal status update: impact, expected recovery, next steps, support needed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UpdateDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_impact: Option<UserImpact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_impact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
}

/// The guide's user-impact scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum UserImpact {
    None,
    Minor,
    Moderate,
    Severe,
}

/// What one piece of evidence came to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evidence {
    /// health, ps, stats, logs:<service>, postgres-connections
    pub name: String,
    /// The file under `evidence/`, when captured.
    pub file: Option<String>,
    pub captured: bool,
    /// A one-line summary, or why it is unavailable.
    pub detail: String,
    pub elapsed_ms: u64,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    Todo,
    InProgress,
    Done,
}

/// An improvement item (the guide's tracking table).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Action {
    /// A1, A2... within the incident.
    pub id: String,
    pub item: String,
    pub owner: String,
    pub priority: Priority,
    pub status: ActionStatus,
    pub due: Option<NaiveDate>,
    /// How to tell it is done.
    pub verification: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<DateTime<Utc>>,
}

impl Action {
    pub fn is_open(&self) -> bool {
        self.status != ActionStatus::Done
    }

    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.is_open() && self.due.is_some_and(|due| due < today)
    }
}

/// A notice sent (or printed) for the incident.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notice {
    pub time: DateTime<Utc>,
    pub audience: String,
    pub channel: String,
    pub delivered: bool,
}

impl Notice {
    /// One notice per delivery of a message to `audience`.
    pub fn from_deliveries(audience: &str, deliveries: &[crate::notify::Delivery]) -> Vec<Notice> {
        deliveries
            .iter()
            .map(|d| Notice {
                time: Utc::now(),
                audience: audience.to_string(),
                channel: d.channel.label().into(),
                delivered: d.delivered,
            })
            .collect()
    }
}

/// The whole record, as `incident.json` holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Incident {
    pub id: String,
    pub severity: Severity,
    pub summary: String,
    pub impact: Option<String>,
    pub state: State,
    pub project: String,
    pub environment: String,
    pub host: String,
    /// When the problem began (`--started-at`; the opening time when not known).
    pub started_at: DateTime<Utc>,
    /// When the alert fired (`--alerted-at`; the opening time when not known).
    pub alerted_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    /// The response target in force when it was opened, in seconds.
    pub response_target_seconds: u64,
    /// The first update: when somebody took it on.
    pub responded_at: Option<DateTime<Utc>>,
    /// The first move to `monitoring`: the fix is in.
    pub fixed_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub root_cause: Option<String>,
    pub fix: Option<String>,
    /// Data lost or damaged, as assessed at resolution.
    #[serde(default)]
    pub data_impact: Option<String>,
    pub timeline: Vec<Entry>,
    pub evidence: Vec<Evidence>,
    pub actions: Vec<Action>,
    #[serde(default)]
    pub notices: Vec<Notice>,
}

/// How the response compares with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Responded within the target.
    InTime,
    /// Responded, after the target.
    Late,
    /// Nobody yet, and the target has not passed.
    Waiting,
    /// Nobody yet, and the target has passed.
    Overdue,
}

/// What an incident is opened with; the rest starts empty.
pub struct Opening {
    pub id: String,
    pub severity: Severity,
    pub summary: String,
    pub impact: Option<String>,
    pub project: String,
    pub environment: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub alerted_at: DateTime<Utc>,
    pub opened_at: DateTime<Utc>,
    pub opened_by: String,
    pub response_target_seconds: u64,
}

impl Incident {
    /// A new, open incident: no response, fix, timeline, evidence, actions or notices yet.
    pub fn open(opening: Opening) -> Incident {
        Incident {
            id: opening.id,
            severity: opening.severity,
            summary: opening.summary,
            impact: opening.impact,
            state: State::Open,
            project: opening.project,
            environment: opening.environment,
            host: opening.host,
            started_at: opening.started_at,
            alerted_at: opening.alerted_at,
            opened_at: opening.opened_at,
            opened_by: opening.opened_by,
            response_target_seconds: opening.response_target_seconds,
            responded_at: None,
            fixed_at: None,
            resolved_at: None,
            root_cause: None,
            fix: None,
            data_impact: None,
            timeline: Vec::new(),
            evidence: Vec::new(),
            actions: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// Seconds from opening to `now` (open) or to resolution.
    pub fn age_seconds(&self, now: DateTime<Utc>) -> i64 {
        self.resolved_at
            .unwrap_or(now)
            .signed_duration_since(self.opened_at)
            .num_seconds()
            .max(0)
    }

    pub fn response(&self, now: DateTime<Utc>) -> Response {
        let target = self.response_target_seconds as i64;
        match self.responded_at {
            Some(at) if at.signed_duration_since(self.alerted_at).num_seconds() <= target => {
                Response::InTime
            }
            Some(_) => Response::Late,
            None if now.signed_duration_since(self.alerted_at).num_seconds() > target => {
                Response::Overdue
            }
            None => Response::Waiting,
        }
    }

    /// Record a status update: a timeline entry, and the response / fix / resolution times
    /// the first time they happen.
    pub fn update(
        &mut self,
        to: State,
        note: &str,
        by: &str,
        details: Option<UpdateDetails>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        check_transition(&self.id, self.state, to)?;
        if note.trim().is_empty() {
            return Err(anyhow!("the note of an update must not be empty"))
                .hint("say what was found or done, e.g. --note \"connection pool exhausted\"");
        }
        self.responded_at.get_or_insert(now);
        if to == State::Monitoring {
            self.fixed_at.get_or_insert(now);
        }
        if to == State::Resolved {
            self.resolved_at = Some(now);
        }
        self.state = to;
        self.timeline.push(Entry {
            time: now,
            state: to,
            kind: if to == State::Resolved {
                "resolved".into()
            } else {
                "update".into()
            },
            note: note.trim().to_string(),
            by: by.to_string(),
            update: details.filter(|d| *d != UpdateDetails::default()),
        });
        Ok(())
    }

    /// Close the incident with its root cause and fix. An incident already resolved by an
    /// update without them gets them filled in; one that has them is closed.
    pub fn resolve(
        &mut self,
        root_cause: &str,
        fix: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if root_cause.trim().is_empty() || fix.trim().is_empty() {
            return Err(anyhow!("--root-cause and --fix must not be empty"))
                .hint("the report and the review are built from them");
        }
        let note = format!("root cause: {}; fix: {}", root_cause.trim(), fix.trim());
        if self.state == State::Resolved {
            if self.root_cause.is_some() {
                check_transition(&self.id, self.state, State::Resolved)?;
            }
            self.timeline.push(Entry {
                time: now,
                state: State::Resolved,
                kind: "root-cause".into(),
                note,
                by: by.to_string(),
                update: None,
            });
        } else {
            self.update(State::Resolved, &note, by, None, now)?;
        }
        self.root_cause = Some(root_cause.trim().to_string());
        self.fix = Some(fix.trim().to_string());
        Ok(())
    }

    /// The next action ID: A1, A2...
    pub fn next_action_id(&self) -> String {
        let highest = self
            .actions
            .iter()
            .filter_map(|a| a.id.strip_prefix('A')?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        format!("A{}", highest + 1)
    }

    pub fn action_mut(&mut self, id: &str) -> Result<&mut Action> {
        let known: Vec<String> = self.actions.iter().map(|a| a.id.clone()).collect();
        let incident = self.id.clone();
        self.actions
            .iter_mut()
            .find(|a| a.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| anyhow!("{incident} has no action item `{id}`"))
            .hint(if known.is_empty() {
                format!("add one with `gymops incident action add {incident} --item ...`")
            } else {
                format!("its action items are {}", known.join(", "))
            })
    }

    /// The status update in force: the newest entry with update fields, or the newest update.
    pub fn latest_update(&self) -> Option<&Entry> {
        self.timeline.iter().rev().find(|e| e.kind != "notified")
    }
}

/// The guide's flow: investigating -> fixing -> monitoring -> resolved, with steps back
/// allowed (a fix that did not hold), `resolved` reachable from any open state, and
/// `monitoring` only after a fix.
pub fn check_transition(id: &str, from: State, to: State) -> Result<()> {
    if from == State::Resolved {
        return Err(anyhow!("{id} is resolved and closed to updates")).hint(
            "open a new incident for a new problem (`gymops incident new`); action items can still be added and updated",
        );
    }
    if to == State::Open {
        return Err(anyhow!("an incident cannot go back to `open`"))
            .hint("use --status investigating, fixing, monitoring or resolved");
    }
    if to == State::Monitoring && !matches!(from, State::Fixing | State::Monitoring) {
        return Err(anyhow!(
            "{id} cannot go from {} to monitoring: nothing has been fixed yet",
            from.label()
        ))
        .hint("record the fix or rollback first with --status fixing, then --status monitoring");
    }
    Ok(())
}

/// `INC-2026-1127-003`
pub fn format_id(date: NaiveDate, number: u32) -> String {
    format!("INC-{}-{:03}", date.format("%Y-%m%d"), number)
}

/// (date, number) of a well-formed ID; anything else (a path, a typo) is `None`.
pub fn parse_id(id: &str) -> Option<(NaiveDate, u32)> {
    let rest = id.strip_prefix("INC-")?;
    let (year, rest) = rest.split_once('-')?;
    let (monthday, number) = rest.split_once('-')?;
    if year.len() != 4
        || monthday.len() != 4
        || number.len() < 3
        || !number.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let date = NaiveDate::parse_from_str(&format!("{year}{monthday}"), "%Y%m%d").ok()?;
    Some((date, number.parse().ok()?))
}

/// Who is running gymops, for the timeline: incident.operator, else the login name.
pub fn operator(settings: &crate::settings::IncidentSettings) -> String {
    settings
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .or_else(login_name)
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The name of this process's user from /etc/passwd (cron and CI often set no USER).
fn login_name() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.get(2) == Some(&uid.as_str())).then(|| fields[0].to_string())
    })
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
