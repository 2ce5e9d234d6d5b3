//! Incident records: severities, response targets, language, operator.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How bad an event is (the guide's section 7.7), least to most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// Incident records (the guide's sections 7.7 and 8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentSettings {
    /// Where incident records live, one directory per incident (relative to gymops.yaml).
    pub dir: PathBuf,
    /// How soon someone must respond, per severity (the guide: warning 15 min, error 5 min,
    /// critical 1 min).
    pub response_targets: ResponseTargets,
    /// The longest any one piece of evidence may take to capture when an incident is opened.
    #[serde(with = "humantime_serde")]
    pub evidence_timeout: Duration,
    /// Error lines kept per service in the evidence.
    pub error_lines: usize,
    /// Language of reports, reviews and notices: zh (the guide's templates) or en.
    pub lang: Lang,
    /// Who members contact, in the member notice.
    pub support_contact: String,
    /// Who signs the member notice.
    pub team_name: String,
    /// Who the timeline records as acting (GYMOPS_INCIDENT_OPERATOR) [default: the login name].
    pub operator: Option<String>,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        IncidentSettings {
            dir: PathBuf::from("incidents"),
            response_targets: ResponseTargets::default(),
            evidence_timeout: Duration::from_secs(10),
            error_lines: 200,
            lang: Lang::Zh,
            support_contact: "support@fitness-gym.com".into(),
            team_name: "健身房技术团队".into(),
            operator: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseTargets {
    #[serde(with = "humantime_serde")]
    pub info: Duration,
    #[serde(with = "humantime_serde")]
    pub warning: Duration,
    #[serde(with = "humantime_serde")]
    pub error: Duration,
    #[serde(with = "humantime_serde")]
    pub critical: Duration,
}

impl ResponseTargets {
    pub fn of(&self, severity: Severity) -> Duration {
        match severity {
            Severity::Info => self.info,
            Severity::Warning => self.warning,
            Severity::Error => self.error,
            Severity::Critical => self.critical,
        }
    }
}

impl Default for ResponseTargets {
    fn default() -> Self {
        ResponseTargets {
            // The guide gives info no target ("needs attention, not urgent"): working hours.
            info: Duration::from_secs(4 * 3600),
            warning: Duration::from_secs(15 * 60),
            error: Duration::from_secs(5 * 60),
            critical: Duration::from_secs(60),
        }
    }
}

/// Language of rendered templates: the one language type of gymops (incidents default to
/// Chinese, the guide's templates).
pub use crate::i18n::Lang;
