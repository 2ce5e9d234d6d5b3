//! Exit codes: the monitoring-plugin convention (Nagios, Icinga, Sensu).
//!
//! | code | meaning                                                              |
//! |------|----------------------------------------------------------------------|
//! | 0    | OK: everything checked is healthy                                    |
//! | 1    | WARNING: degraded but serving (slow, starting, console down, ...)    |
//! | 2    | CRITICAL: something is down                                          |
//! | 3    | UNKNOWN: could not check (Docker unreachable, bad config or usage)   |

use serde::{Deserialize, Serialize};

/// The verdict of one check, and of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    /// How bad a status is when several are combined: critical > unknown > warning > ok.
    /// "Could not check" ranks above "degraded" because an unchecked service may be down.
    fn severity_rank(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Unknown => 2,
            Status::Critical => 3,
        }
    }

    /// The worse of two statuses.
    pub fn worst(self, other: Status) -> Status {
        if other.severity_rank() > self.severity_rank() {
            other
        } else {
            self
        }
    }

    /// The combined status of many checks; `Ok` for none.
    pub fn combine(statuses: impl IntoIterator<Item = Status>) -> Status {
        statuses.into_iter().fold(Status::Ok, Status::worst)
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// The status as people read it, in the run's language (`label` is the fixed English
    /// word of reports and machine-facing text).
    pub fn display(self) -> String {
        crate::i18n::tr(match self {
            Status::Ok => "status-ok",
            Status::Warning => "status-warning",
            Status::Critical => "status-critical",
            Status::Unknown => "status-unknown",
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// What a command hands back to `main` to turn into the process exit code.
pub type ExitStatus = Status;

/// Exit code for an error that reached `main` (bad usage, bad config, unreachable dependency).
pub const ERROR_EXIT_CODE: u8 = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_picks_the_worst_with_critical_above_unknown_above_warning() {
        assert_eq!(Status::combine([]), Status::Ok);
        assert_eq!(
            Status::combine([Status::Ok, Status::Warning]),
            Status::Warning
        );
        assert_eq!(
            Status::combine([Status::Warning, Status::Unknown]),
            Status::Unknown
        );
        assert_eq!(
            Status::combine([Status::Unknown, Status::Critical, Status::Warning]),
            Status::Critical
        );
    }

    #[test]
    fn exit_codes_follow_the_monitoring_plugin_convention() {
        let codes: Vec<u8> = [
            Status::Ok,
            Status::Warning,
            Status::Critical,
            Status::Unknown,
        ]
        .iter()
        .map(|s| s.exit_code())
        .collect();
        assert_eq!(codes, vec![0, 1, 2, 3]);
    }
}
