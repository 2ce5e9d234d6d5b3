//! `incident`: its subcommands and their arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident: record, report and evidence (health, ps, stats, error logs,
    /// PostgreSQL connections) captured now
    New(IncidentNewArgs),
    /// Add a status update to the timeline and print the guide's internal update
    Update(IncidentUpdateArgs),
    /// Close an incident with its root cause and fix
    Resolve(IncidentResolveArgs),
    /// Incidents, with their age against the response target (overdue flagged; exit 1 when
    /// one is)
    List(IncidentListArgs),
    /// One incident: overview, timeline, evidence, action items (--output markdown: the report)
    Show(IncidentIdArgs),
    /// Render the internal update or the member notice, and send it (or print it without
    /// --channel)
    Notify(IncidentNotifyArgs),
    /// Write the post-incident review, prefilled from the timeline, as <ID>/review.md
    Review(IncidentReviewArgs),
    /// Improvement items across incidents, as the guide's tracking table (exit 1 when one is
    /// overdue)
    Actions(IncidentActionsArgs),
    /// Add or change an improvement item
    #[command(subcommand)]
    Action(IncidentActionCommand),
}

#[derive(Debug, Args)]
pub struct IncidentDirArg {
    /// Incident directory [default: incident.dir]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IncidentNewArgs {
    /// info, warning (respond within 15 min), error (5 min), critical (1 min)
    #[arg(long, value_enum)]
    pub severity: crate::settings::Severity,
    /// What is wrong, in a line
    #[arg(long, value_name = "TEXT")]
    pub summary: String,
    /// Who or what is affected
    #[arg(long, value_name = "TEXT")]
    pub impact: Option<String>,
    /// When the problem began, if before now (RFC 3339, `2026-11-27 14:30`, or `20m` ago)
    #[arg(long, value_name = "TIME")]
    pub started_at: Option<String>,
    /// When the alert fired, if before now (same forms); the response target counts from it
    #[arg(long, value_name = "TIME")]
    pub alerted_at: Option<String>,
    /// Do not capture evidence
    #[arg(long)]
    pub no_evidence: bool,
    /// Do not send the opening update to the configured notification channels
    #[arg(long)]
    pub no_notify: bool,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Args)]
pub struct IncidentUpdateArgs {
    /// Incident ID (INC-YYYY-MMDD-NNN)
    #[arg(add = super::incident_ids())]
    pub id: String,
    #[arg(long, value_enum)]
    pub status: crate::incident::State,
    /// The latest progress
    #[arg(long, value_name = "TEXT")]
    pub note: String,
    /// User impact now
    #[arg(long, value_enum)]
    pub user_impact: Option<crate::incident::UserImpact>,
    /// Business impact now
    #[arg(long, value_name = "TEXT")]
    pub business_impact: Option<String>,
    /// Expected recovery time
    #[arg(long, value_name = "TEXT")]
    pub eta: Option<String>,
    /// Next steps
    #[arg(long, value_name = "TEXT")]
    pub next: Option<String>,
    /// Support needed from other teams
    #[arg(long, value_name = "TEXT")]
    pub support: Option<String>,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Args)]
pub struct IncidentResolveArgs {
    /// Incident ID (INC-YYYY-MMDD-NNN)
    #[arg(add = super::incident_ids())]
    pub id: String,
    #[arg(long, value_name = "TEXT")]
    pub root_cause: String,
    /// What fixed it
    #[arg(long, value_name = "TEXT")]
    pub fix: String,
    /// Data lost or damaged (the report's data impact)
    #[arg(long, value_name = "TEXT")]
    pub data_impact: Option<String>,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Args)]
pub struct IncidentListArgs {
    /// Only incidents not yet resolved
    #[arg(long)]
    pub open: bool,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Args)]
pub struct IncidentIdArgs {
    /// Incident ID (INC-YYYY-MMDD-NNN)
    #[arg(add = super::incident_ids())]
    pub id: String,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Audience {
    /// The team: the guide's internal status update
    Internal,
    /// Gym members: the guide's service notice
    Members,
}

#[derive(Debug, Args)]
pub struct IncidentNotifyArgs {
    /// Incident ID (INC-YYYY-MMDD-NNN)
    #[arg(add = super::incident_ids())]
    pub id: String,
    #[arg(long, value_enum)]
    pub audience: Audience,
    /// Send through this channel (repeatable); without it the text is printed only
    #[arg(long, value_enum)]
    pub channel: Vec<crate::settings::Channel>,
    /// Members: the problem as members see it [default: the summary]
    #[arg(long, value_name = "TEXT")]
    pub problem: Option<String>,
    /// Members: expected resolution [default: the newest update's --eta]
    #[arg(long, value_name = "TEXT")]
    pub eta: Option<String>,
    /// Members: another way to get things done meanwhile
    #[arg(long, value_name = "TEXT")]
    pub workaround: Option<String>,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Args)]
pub struct IncidentReviewArgs {
    /// Incident ID (INC-YYYY-MMDD-NNN)
    #[arg(add = super::incident_ids())]
    pub id: String,
    /// Replace a review.md written before (and perhaps edited since)
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Args)]
pub struct IncidentActionsArgs {
    /// Only items not done
    #[arg(long)]
    pub open: bool,
    /// Only this owner's items
    #[arg(long, value_name = "OWNER")]
    pub owner: Option<String>,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Subcommand)]
pub enum IncidentActionCommand {
    /// Add an improvement item to an incident
    Add(IncidentActionAddArgs),
    /// Change an item's status, owner, priority or due date
    Set(IncidentActionSetArgs),
}

#[derive(Debug, Args)]
pub struct IncidentActionAddArgs {
    /// Incident ID (INC-YYYY-MMDD-NNN)
    #[arg(add = super::incident_ids())]
    pub id: String,
    /// What to do
    #[arg(long, value_name = "TEXT")]
    pub item: String,
    /// Who does it
    #[arg(long, value_name = "OWNER")]
    pub owner: String,
    #[arg(long, value_enum, default_value_t = crate::incident::Priority::Medium)]
    pub priority: crate::incident::Priority,
    /// Due date (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub due: Option<chrono::NaiveDate>,
    /// How to tell it is done
    #[arg(long, value_name = "TEXT")]
    pub verify: String,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}

#[derive(Debug, Args)]
pub struct IncidentActionSetArgs {
    /// Incident ID (INC-YYYY-MMDD-NNN)
    #[arg(add = super::incident_ids())]
    pub id: String,
    /// Item ID (A1, A2...)
    pub action: String,
    #[arg(long, value_enum)]
    pub status: Option<crate::incident::ActionStatus>,
    #[arg(long, value_name = "OWNER")]
    pub owner: Option<String>,
    #[arg(long, value_enum)]
    pub priority: Option<crate::incident::Priority>,
    /// Due date (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub due: Option<chrono::NaiveDate>,
    #[command(flatten)]
    pub dir: IncidentDirArg,
}
