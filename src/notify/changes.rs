//! Notifying on changes only: what was last told about each check, the changes worth a
//! message now (a check told about less than a quiet period ago is held back, so a check
//! that flaps is not sent on every run; the state it settles in goes out afterwards), and
//! one digest message for all the changes of a run. Pure: the caller keeps the state (a
//! small file for `health --notify`, memory for `monitor`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{severity_of, Event};
use crate::exit::Status;
use crate::i18n::tr_args;
use crate::settings::{Settings, Severity};

/// What was last told about one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Told {
    pub status: Status,
    pub at: DateTime<Utc>,
}

/// What was last told about each check, by key (`kind name target`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToldState {
    pub checks: BTreeMap<String, Told>,
}

/// One check as a run saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub key: String,
    pub status: Status,
    pub detail: String,
}

/// A change worth telling.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub key: String,
    pub was: Status,
    pub now: Status,
    pub detail: String,
}

impl StateChange {
    pub fn recovered(&self) -> bool {
        self.now == Status::Ok
    }

    /// A recovery goes out at the severity of the problem it ends, so whoever got the
    /// problem also gets its end.
    pub fn severity(&self) -> Severity {
        severity_of(if self.recovered() { self.was } else { self.now })
    }
}

impl ToldState {
    /// The changes to tell now, recorded as told: each check whose status differs from the
    /// last one told (a check never told about counts as OK), unless it was told about less
    /// than `quiet` ago. Checks no longer seen are forgotten.
    pub fn take_changes(
        &mut self,
        seen: &[Seen],
        now: DateTime<Utc>,
        quiet: Duration,
    ) -> Vec<StateChange> {
        let mut changes = Vec::new();
        let quiet = chrono::Duration::from_std(quiet).unwrap_or(chrono::Duration::zero());
        for check in seen {
            let told = self.checks.get(&check.key);
            let was = told.map(|t| t.status).unwrap_or(Status::Ok);
            if was == check.status {
                continue;
            }
            if told.is_some_and(|t| now - t.at < quiet) {
                continue;
            }
            changes.push(StateChange {
                key: check.key.clone(),
                was,
                now: check.status,
                detail: check.detail.clone(),
            });
            self.checks.insert(
                check.key.clone(),
                Told {
                    status: check.status,
                    at: now,
                },
            );
        }
        self.checks
            .retain(|key, _| seen.iter().any(|check| check.key == *key));
        changes
    }
}

/// One message for all the changes of a run: the worst severity, a line per change.
pub fn digest(settings: &Settings, source: &str, changes: &[StateChange]) -> Option<Event> {
    let severity = changes.iter().map(StateChange::severity).max()?;
    let line = |c: &StateChange| {
        if c.recovered() {
            format!("RESOLVED: {} ({})", c.key, c.detail)
        } else {
            format!(
                "{}: {} (was {}): {}",
                c.now.label(),
                c.key,
                c.was.label(),
                c.detail
            )
        }
    };
    let (alert_type, message) = match changes {
        [one] if one.recovered() => ("Resolved", line(one)),
        [one] => ("CheckChanged", line(one)),
        many => {
            let bad = many.iter().filter(|c| !c.recovered()).count();
            (
                "ChecksChanged",
                tr_args(
                    "notify-digest",
                    &[
                        ("source", source.to_string()),
                        ("count", many.len().to_string()),
                        ("bad", bad.to_string()),
                        ("recovered", (many.len() - bad).to_string()),
                    ],
                ),
            )
        }
    };
    let mut event = Event::new(settings, alert_type, severity, message).detail("source", source);
    if changes.len() > 1 {
        for change in changes {
            event = event.detail(&change.key, line(change));
        }
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(key: &str, status: Status) -> Seen {
        Seen {
            key: key.into(),
            status,
            detail: format!("{key} is {}", status.label()),
        }
    }

    #[test]
    fn only_changes_are_told_and_a_flapping_check_once_per_quiet_period() {
        let mut told = ToldState::default();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let quiet = Duration::from_secs(1800);
        let minutes = |m: i64| t0 + chrono::Duration::minutes(m);
        // First run: the bad one is told, the good one not.
        let changes = told.take_changes(
            &[seen("api", Status::Critical), seen("db", Status::Ok)],
            t0,
            quiet,
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].was, changes[0].now),
            (Status::Ok, Status::Critical)
        );
        // The same again: nothing.
        assert!(told
            .take_changes(
                &[seen("api", Status::Critical), seen("db", Status::Ok)],
                minutes(5),
                quiet
            )
            .is_empty());
        // It recovers 10 minutes later: held back (told 10 minutes ago) ...
        assert!(told
            .take_changes(
                &[seen("api", Status::Ok), seen("db", Status::Ok)],
                minutes(10),
                quiet
            )
            .is_empty());
        // ... flaps back: still the told state, nothing to tell.
        assert!(told
            .take_changes(
                &[seen("api", Status::Critical), seen("db", Status::Ok)],
                minutes(15),
                quiet
            )
            .is_empty());
        // Settles OK; after the quiet period the recovery goes out, once.
        let changes = told.take_changes(
            &[seen("api", Status::Ok), seen("db", Status::Ok)],
            minutes(31),
            quiet,
        );
        assert_eq!(changes.len(), 1);
        assert!(changes[0].recovered());
        assert_eq!(changes[0].severity(), Severity::Critical);
        assert!(told
            .take_changes(
                &[seen("api", Status::Ok), seen("db", Status::Ok)],
                minutes(40),
                quiet
            )
            .is_empty());
        // A check that is gone is forgotten.
        told.take_changes(&[seen("db", Status::Ok)], minutes(50), quiet);
        assert!(!told.checks.contains_key("api"));
    }

    #[test]
    fn a_run_with_several_changes_is_one_message_at_the_worst_severity() {
        let settings = Settings::default();
        let changes = vec![
            StateChange {
                key: "api backend".into(),
                was: Status::Ok,
                now: Status::Critical,
                detail: "HTTP 503".into(),
            },
            StateChange {
                key: "minio".into(),
                was: Status::Warning,
                now: Status::Ok,
                detail: "ok".into(),
            },
        ];
        let event = digest(&settings, "health", &changes).unwrap();
        assert_eq!(event.severity, Severity::Critical);
        assert_eq!(event.alert_type, "ChecksChanged");
        assert_eq!(
            event.message,
            "health: 2 checks changed (1 bad, 1 recovered)"
        );
        assert!(event
            .details
            .iter()
            .any(|(k, v)| k == "api backend" && v == "CRITICAL: api backend (was OK): HTTP 503"));
        let one = digest(&settings, "health", &changes[1..]).unwrap();
        assert_eq!(one.alert_type, "Resolved");
        assert_eq!(one.severity, Severity::Warning);
        assert!(digest(&settings, "health", &[]).is_none());
    }
}
