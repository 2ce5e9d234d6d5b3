//! `alert`, `metrics`, `monitoring`, `schedule`, `check`, `monitor`: their arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::*;

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send one alert (the guide's alert-notifier.sh); retried with backoff when the
    /// receiver fails transiently, one message per alert
    Send(AlertSendArgs),
}

#[derive(Debug, Args)]
pub struct AlertSendArgs {
    /// What happened, as a short name: ServiceDown, HighCPU, BackupStale...
    #[arg(long, value_name = "TYPE")]
    pub alert_type: String,
    /// The message text
    #[arg(long, value_name = "TEXT")]
    pub message: String,
    /// How bad it is (the guide's levels; response targets: warning 15 min, error 5 min,
    /// critical 1 min)
    #[arg(long, value_enum, default_value_t = crate::settings::Severity::Warning)]
    pub severity: crate::settings::Severity,
    /// Channel to send to; repeat for several [default: notify.channels]
    #[arg(long, value_enum, value_name = "CHANNEL")]
    pub channel: Vec<crate::settings::Channel>,
    /// Webhook URL for the slack or webhook channel. Visible in the process list: prefer
    /// GYMOPS_SLACK_WEBHOOK_URL / GYMOPS_WEBHOOK_URL or the *_file settings
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
    /// Email recipient; repeat for several [default: notify.email.to]
    #[arg(long, value_name = "ADDRESS")]
    pub to: Vec<String>,
    /// An extra fact shown with the alert; repeat for several
    #[arg(long = "detail", value_name = "NAME=VALUE")]
    pub details: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Serve Prometheus metrics over HTTP; collection runs on an interval and scrapes read
    /// the newest result, so scrapes never load Docker or PostgreSQL
    Serve(MetricsServeArgs),
    /// Collect once and write the metrics text (for node-exporter's textfile collector)
    Export(MetricsExportArgs),
}

#[derive(Debug, Args)]
pub struct MetricsServeArgs {
    /// Address to listen on [default: metrics.listen, 127.0.0.1:9464]
    #[arg(long, value_name = "ADDRESS")]
    pub listen: Option<String>,
    /// Time between collections [default: metrics.interval, 15s] (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    pub interval: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct MetricsExportArgs {
    #[command(flatten)]
    pub output_file: OutputFileArg,
}

#[derive(Debug, Subcommand)]
pub enum MonitoringCommand {
    /// Write prometheus.yml, alerts.yml, alertmanager.yml, the Grafana dashboard and
    /// provisioning, and the monitoring docker-compose.yml
    Init(MonitoringInitArgs),
}

#[derive(Debug, Args)]
pub struct MonitoringInitArgs {
    /// Directory to write into
    #[arg(long, value_name = "DIR", default_value = "monitoring")]
    pub dir: PathBuf,
    /// Overwrite files that already exist
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScheduleTarget {
    /// crontab lines
    Cron,
    /// Register-ScheduledTask PowerShell and Task Scheduler XML
    Windows,
    /// systemd service and timer units
    Systemd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InstallTarget {
    /// The user's crontab (or --crontab-file)
    Cron,
    /// systemd units in --unit-dir
    Systemd,
    /// Windows Task Scheduler (schtasks /Create /XML), run from an elevated prompt
    Windows,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Print the schedule from settings for a scheduler
    Print(SchedulePrintArgs),
    /// Install the schedule: a marked block in the crontab, systemd units, or Task Scheduler tasks; idempotent
    Install(ScheduleInstallArgs),
    /// Take gymops's block out of the crontab, its units out of systemd, or its tasks out of Task Scheduler
    Remove(ScheduleInstallArgs),
}

#[derive(Debug, Args)]
pub struct SchedulePrintArgs {
    /// Which scheduler to render for
    #[arg(long, value_enum, default_value_t = ScheduleTarget::Cron)]
    pub target: ScheduleTarget,
}

#[derive(Debug, Args)]
pub struct ScheduleInstallArgs {
    /// Where the schedule lives
    #[arg(long, value_enum, default_value_t = InstallTarget::Cron)]
    pub target: InstallTarget,
    /// Edit this crontab file instead of the user's crontab (through `crontab`)
    #[arg(long, value_name = "PATH")]
    pub crontab_file: Option<PathBuf>,
    /// Directory for systemd units
    #[arg(long, value_name = "DIR", default_value = "/etc/systemd/system")]
    pub unit_dir: PathBuf,
    /// Do not run `systemctl daemon-reload` and `enable --now` / `disable --now`
    #[arg(long)]
    pub no_systemctl: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Checklist {
    /// Services, health, resource use, disk, errors in the last 24 h
    Daily,
    /// Backups present and fresh, old log files, write-heavy tables, roles expiring in 7 days
    Weekly,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Which checklist
    #[arg(value_enum)]
    pub checklist: Checklist,
    #[command(flatten)]
    pub output_file: OutputFileArg,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// CPU % threshold per container [default: monitor.cpu_percent, 80]
    #[arg(long, value_name = "PERCENT")]
    pub cpu: Option<f64>,
    /// Memory % (of the container's limit) threshold [default: monitor.memory_percent, 80]
    #[arg(long, value_name = "PERCENT")]
    pub memory: Option<f64>,
    /// Disk used % threshold [default: monitor.disk_percent, 90]
    #[arg(long, value_name = "PERCENT")]
    pub disk: Option<f64>,
    /// One round, then exit with its status (the default)
    #[arg(long, conflicts_with = "interval")]
    pub once: bool,
    /// Keep going, a round every DURATION, until Ctrl+C (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    pub interval: Option<std::time::Duration>,
    /// Do not send notifications even when notify.channels is set (they go out when a
    /// finding turns bad or changes, and when it recovers)
    #[arg(long)]
    pub no_notify: bool,
}
