//! The whole command tree. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::output::OutputFormat;
use crate::probe::CheckGroup;

const EXIT_CODES: &str = "\
Exit codes (monitoring-plugin convention):
  0  OK        everything checked is healthy
  1  WARNING   degraded: slow, healthcheck starting, console down, connections high
  2  CRITICAL  something is down
  3  UNKNOWN   could not check: Docker unreachable, bad configuration or usage";

/// Operations CLI for the fitness-gym system's Docker deployment: service state, health
/// checks and more, talking to the Docker Engine API, the Spring backend, PostgreSQL and MinIO.
#[derive(Debug, Parser)]
#[command(name = "gymops", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Settings file [default: gymops.yaml in this directory or the nearest parent that has one]
    #[arg(long, global = true, env = "GYMOPS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Named environment: development, staging, production, or one from gymops.yaml
    /// (also GYMOPS_ENVIRONMENT)
    #[arg(short = 'e', long, global = true, value_name = "NAME")]
    pub environment: Option<String>,
    /// Output format
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// More logging on stderr: -v info, -vv debug, -vvv trace
    #[arg(short = 'v', long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Nothing on stderr but errors; checks (health, monitor, check, backup monitor) print
    /// nothing when all is OK and only the failing rows otherwise (cron mails only problems)
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every part of the deployment at once: Docker, containers, backend API,
    /// PostgreSQL, MinIO
    #[command(after_help = EXIT_CODES)]
    Health(HealthArgs),
    /// List the deployment's services: container, image, state, health, uptime, restarts, ports
    Ps(PsArgs),
    /// Manage the deployment's services
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Show and validate the effective settings
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show and follow service logs (like `docker-compose logs`); `logs stats`, `logs files`,
    /// `logs clean`
    Logs(LogsArgs),
    /// Disk use: Docker images, containers, volumes and build cache with what is reclaimable,
    /// and the host file systems of Docker's data and the backups
    Disk,
    /// Performance monitoring
    #[command(subcommand)]
    Perf(PerfCommand),
    /// Database maintenance
    #[command(subcommand)]
    Db(DbCommand),
    /// The guide's monitor.sh: CPU and memory of every container and the host disks against
    /// thresholds; exit codes as `health`
    #[command(after_help = EXIT_CODES)]
    Monitor(MonitorArgs),
    /// The guide's daily or weekly checklist as one report (table, json or markdown); exit
    /// code by the worst finding
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Database backups: create, list, verify, monitor, prune, restore
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Send notifications through Slack, a JSON webhook or email
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Prometheus metrics: `serve` an exporter, or `export` the text once
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// The monitoring stack's files: Prometheus, alert rules, Alertmanager, Grafana, compose
    #[command(subcommand)]
    Monitoring(MonitoringCommand),
    /// Scheduled jobs (backup, health, daily report) for cron, Task Scheduler or systemd
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Incident response: open with evidence, update, resolve, notify, review, and track
    /// improvement items
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Create or update the deployment from its compose files, in dependency order, then
    /// wait for health and pass the health gate (also `service up`)
    #[command(after_help = EXIT_CODES)]
    Up(UpArgs),
    /// Stop and remove the deployment's containers and networks (also `service down`)
    Down(DownArgs),
    /// Stop services (also `service stop`)
    Stop(LifecycleArgs),
    /// Start stopped services (also `service start`)
    Start(LifecycleArgs),
    /// Restart services (also `service restart`)
    Restart(LifecycleArgs),
    /// Put a previous release back: its images, health-gated, recorded as a release
    #[command(after_help = EXIT_CODES)]
    Rollback(RollbackArgs),
    /// The release history: every successful up and rollback
    Releases,
}

#[derive(Debug, Args)]
pub struct ComposeFilesArg {
    /// Compose file, repeatable, merged in order [default: the environment's compose_files]
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Only these services (and what they depend on) [default: every service without a profile]
    pub services: Vec<String>,
    /// Build images of services with a build section (else built only when missing)
    #[arg(long)]
    pub build: bool,
    /// When to pull images
    #[arg(long, value_enum, default_value_t = crate::deploy::run::Pull::Missing)]
    pub pull: crate::deploy::run::Pull,
    /// How long to wait for dependencies and healthchecks [default: deploy.wait_timeout, 2m] (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    pub wait_timeout: Option<std::time::Duration>,
    /// When the new release fails, leave it as it is for inspection instead of putting the
    /// previous release back
    #[arg(long)]
    pub no_rollback: bool,
    /// Start only the monitoring stack (deploy.monitoring_compose_file) as its own project
    #[arg(long, conflicts_with_all = ["services", "files"])]
    pub monitoring_only: bool,
    /// Deploy the failover stack (deploy.failover_compose_files: docker-compose.yml and
    /// docker-compose.backup.yml) as a release of its own
    #[arg(long, conflicts_with_all = ["files", "monitoring_only"])]
    pub failover: bool,
    /// Run N containers of SERVICE (over deploy.replicas; 0 removes them all), repeatable
    #[arg(long, value_name = "SERVICE=N", value_parser = scale_arg)]
    pub scale: Vec<(String, u32)>,
    /// Remove a deploy lock whose holder is gone (or on another host)
    #[arg(long)]
    pub break_lock: bool,
    #[command(flatten)]
    pub files: ComposeFilesArg,
}

/// `--scale SERVICE=N`.
fn scale_arg(text: &str) -> Result<(String, u32), String> {
    let (service, count) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not SERVICE=N (e.g. api=3)"))?;
    let count: u32 = count
        .parse()
        .ok()
        .filter(|n| *n <= 1000)
        .ok_or_else(|| format!("`{count}` is not a number of containers (0 to 1000)"))?;
    if service.is_empty() {
        return Err(format!("`{text}` names no service (SERVICE=N)"));
    }
    Ok((service.to_string(), count))
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// A release ID, or an image tag a previous release ran (e.g. v1.1.5) [default: the last
    /// release that passed its gate, other than the one running]
    #[arg(long, value_name = "RELEASE|TAG", conflicts_with = "image")]
    pub to: Option<String>,
    /// Run this image (it must be on the engine) for the --service services
    #[arg(long, value_name = "IMAGE", requires = "service")]
    pub image: Option<String>,
    /// Only these services [default: every service of the release]
    #[arg(long = "service", value_name = "NAME")]
    pub service: Vec<String>,
    /// Show the releases that can be rolled back to, and whether their images are kept
    #[arg(long, conflicts_with_all = ["to", "image", "service"])]
    pub list: bool,
    /// How long to wait for healthchecks [default: deploy.wait_timeout, 2m] (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    pub wait_timeout: Option<std::time::Duration>,
    /// Remove a deploy lock whose holder is gone (or on another host)
    #[arg(long)]
    pub break_lock: bool,
    #[command(flatten)]
    pub files: ComposeFilesArg,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Seconds to wait for each container to stop before it is killed [default: deploy.stop_timeout, 10]
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Also delete the project's volumes — their data is lost (needs --yes, or a typed
    /// confirmation on a terminal)
    #[arg(long)]
    pub volumes: bool,
    /// Confirm deleting the volumes without asking
    #[arg(long)]
    pub yes: bool,
    /// Take down the monitoring stack (`up --monitoring-only`) instead
    #[arg(long)]
    pub monitoring_only: bool,
    #[command(flatten)]
    pub files: ComposeFilesArg,
}

#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// Only these services [default: all of the deployment's]
    pub services: Vec<String>,
    /// Seconds to wait for a container to stop before it is killed [default: deploy.stop_timeout, 10]
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub files: ComposeFilesArg,
}

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
    pub id: String,
    #[arg(long, value_enum)]
    pub audience: Audience,
    /// Send through this channel (repeatable); without it the text is printed only
    #[arg(long, value_enum)]
    pub channel: Vec<crate::settings::Channel>,
    /// Language [default: incident.lang]
    #[arg(long, value_enum)]
    pub lang: Option<crate::settings::Lang>,
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

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Dump the database (pg_dump in the PostgreSQL container, or --local) streamed through
    /// compression and age encryption to a file (and S3), with a manifest
    Create(BackupCreateArgs),
    /// The backups here (or in S3 with --remote): time, size, format, encryption, verified
    List(BackupListArgs),
    /// Read a backup through: checksum against its manifest, decryption, decompression,
    /// row counts; --restore-test restores it into a scratch database
    #[command(after_help = EXIT_CODES)]
    Verify(BackupVerifyArgs),
    /// Is the newest backup fresh, big enough, and did the last run succeed? Exit codes as
    /// `health`
    #[command(after_help = EXIT_CODES)]
    Monitor(BackupMonitorArgs),
    /// Delete old backups by restic's keep-last/daily/weekly/monthly policy (never the
    /// newest verified one)
    Prune(BackupPruneArgs),
    /// Restore a backup (a file or s3://BUCKET/KEY) into a database, in one transaction,
    /// after reading it through once
    Restore(BackupRestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupDirArg {
    /// Backup directory [default: backup.dir]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupTargetArgs {
    /// Run pg_dump / psql / pg_restore on this host against the server in the settings or
    /// --db-connection, instead of inside the PostgreSQL container
    #[arg(long)]
    pub local: bool,
    /// postgres://USER@HOST:PORT/DATABASE (password in GYMOPS_POSTGRES_PASSWORD)
    #[arg(long, value_name = "URL")]
    pub db_connection: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupKeyArgs {
    /// age identity file (AGE-SECRET-KEY-1...) for backups encrypted to recipients
    /// [default: backup.identity_file]
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// File holding the passphrase of a passphrase-encrypted backup [default:
    /// GYMOPS_BACKUP_PASSPHRASE, backup.passphrase_file]
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Accept a backup whose manifest is missing, unsigned or signed by an unknown key, or
    /// that is unencrypted while encryption is set up: only after you checked where it
    /// came from (a restore runs it as the database superuser)
    #[arg(long)]
    pub trust_unsigned: bool,
}

#[derive(Debug, Args)]
pub struct BackupCreateArgs {
    /// Dump format [default: backup.format, plain]
    #[arg(long, value_enum)]
    pub format: Option<crate::settings::DumpFormat>,
    /// Compression [default: backup.compression, zstd]
    #[arg(long = "compress", value_enum, value_name = "ALGORITHM")]
    pub compression: Option<crate::settings::Compression>,
    /// Compression level [default: zstd 1, gzip 6]
    #[arg(long, value_name = "N")]
    pub level: Option<i32>,
    /// Encrypt to this age public key (age1...); repeat for several [default: backup.recipients]
    #[arg(long, value_name = "AGE_PUBKEY")]
    pub recipient: Vec<String>,
    /// File of age public keys, one per line [default: backup.recipients_file]
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,
    /// Encrypt with the passphrase in this file [default: GYMOPS_BACKUP_PASSPHRASE]
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Refused: a passphrase on the command line is visible to every user of the machine
    #[arg(long, hide = true, value_name = "TEXT")]
    pub passphrase: Option<String>,
    /// Write a plaintext backup on purpose (without it, a backup with no key set up is
    /// refused: the database holds members' personal data)
    #[arg(long, visible_alias = "no-encrypt", conflicts_with_all = ["recipient", "recipients_file", "passphrase_file"])]
    pub no_encryption: bool,
    /// Also upload to S3 / MinIO (backup.s3.*), streaming, multipart
    #[arg(long)]
    pub upload_s3: bool,
    /// Upload over plain http:// to an S3 endpoint that is not on this host (the backup
    /// and the credentials' signatures cross the network unencrypted)
    #[arg(long, requires = "upload_s3")]
    pub allow_insecure: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
    /// A label in the file name and manifest (letters, digits, - and _)
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    #[command(flatten)]
    pub target: BackupTargetArgs,
}

#[derive(Debug, Args)]
pub struct BackupListArgs {
    /// List the backups in S3 instead of the local directory
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

/// Which backup `verify` and `restore` read.
#[derive(Debug, Args)]
pub struct BackupChoiceArgs {
    /// The backup: a file, or s3://BUCKET/KEY
    #[arg(
        value_name = "FILE",
        required_unless_present = "latest",
        conflicts_with = "latest"
    )]
    pub file: Option<String>,
    /// The newest backup in the backup directory
    #[arg(long)]
    pub latest: bool,
}

#[derive(Debug, Args)]
pub struct BackupVerifyArgs {
    #[command(flatten)]
    pub backup: BackupChoiceArgs,
    /// Also restore it into a scratch database, compare rows per table, then drop it
    #[arg(long)]
    pub restore_test: bool,
    #[command(flatten)]
    pub key: BackupKeyArgs,
    #[command(flatten)]
    pub dir: BackupDirArg,
    #[command(flatten)]
    pub target: BackupTargetArgs,
}

#[derive(Debug, Args)]
pub struct BackupMonitorArgs {
    /// The newest backup must be younger than this [default: backup.max_age, 26h]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_age: Option<std::time::Duration>,
    /// The newest backup must be at least this big (e.g. 50MiB, 1G)
    #[arg(long, value_name = "SIZE")]
    pub min_size: Option<String>,
    /// Also write the report to this file (markdown for .md, else JSON), atomically
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Send a notification through notify.channels when something is wrong
    #[arg(long)]
    pub notify: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

#[derive(Debug, Args)]
pub struct BackupPruneArgs {
    /// Keep the newest N backups [default: backup.keep_last, 7]
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N days with backups [default: 7]
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// ... of each of the last N weeks [default: 4]
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// ... of each of the last N months [default: 6]
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Show what would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Prune the backups in S3 instead of the local directory
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    #[command(flatten)]
    pub backup: BackupChoiceArgs,
    /// Database to restore into [default: postgres.database]
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Create the database (it must not exist)
    #[arg(long)]
    pub create: bool,
    /// Restore over a database that has tables: take a safety backup, drop and recreate it
    #[arg(long)]
    pub force: bool,
    /// With --force, skip the safety backup
    #[arg(long, requires = "force")]
    pub no_safety_backup: bool,
    /// Leave out ownership (and, for custom dumps, privileges): for servers without the
    /// backup's roles
    #[arg(long)]
    pub no_owner: bool,
    #[command(flatten)]
    pub key: BackupKeyArgs,
    #[command(flatten)]
    pub dir: BackupDirArg,
    #[command(flatten)]
    pub target: BackupTargetArgs,
}

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
    /// Write to this file (atomically; name it *.prom for the textfile collector) instead of
    /// stdout
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
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
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Print the schedule from settings for a scheduler
    Print(SchedulePrintArgs),
    /// Install the schedule: a marked block in the crontab, or systemd units; idempotent
    Install(ScheduleInstallArgs),
    /// Take gymops's block out of the crontab, or its units out of systemd
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
    /// Write the report to this file (atomically) instead of stdout
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
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

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// VACUUM, ANALYZE or REINDEX, with progress and elapsed time
    #[command(subcommand)]
    Maintain(MaintainCommand),
}

#[derive(Debug, Subcommand)]
pub enum MaintainCommand {
    /// VACUUM the database or tables (reclaims dead rows; --full rewrites and locks tables)
    Vacuum(VacuumArgs),
    /// ANALYZE the database or tables (refreshes planner statistics)
    Analyze(MaintainTarget),
    /// REINDEX the database or tables (locks them: needs --yes)
    Reindex(ReindexArgs),
}

#[derive(Debug, Args)]
pub struct MaintainTarget {
    /// Only this table, as `table` or `schema.table` (repeatable) [default: the whole database]
    #[arg(long, value_name = "TABLE")]
    pub table: Vec<String>,
    /// PostgreSQL to maintain, as postgres://USER@HOST:PORT/DATABASE (password: GYMOPS_POSTGRES_PASSWORD)
    #[arg(long, value_name = "URL")]
    pub db_connection: Option<String>,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    #[command(flatten)]
    pub target: MaintainTarget,
    /// VACUUM FULL: rewrites tables to return space to the OS; locks each table exclusively
    /// while it runs, so it needs --yes
    #[arg(long)]
    pub full: bool,
    /// Also ANALYZE
    #[arg(long)]
    pub analyze: bool,
    /// Confirm that tables may be locked (with --full)
    #[arg(long, requires = "full")]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ReindexArgs {
    #[command(flatten)]
    pub target: MaintainTarget,
    /// Confirm that tables may be locked while their indexes are rebuilt
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// CPU %, memory used / limit / %, network and block I/O, PIDs per service container,
    /// computed as `docker stats` does
    Stats(PerfStatsArgs),
    /// PostgreSQL insight, read-only: connections, activity, locks, slow-queries, tables,
    /// indexes, size, writes, roles
    Db(PerfDbArgs),
    /// Time an HTTP endpoint by phase (DNS, connect, TLS, first byte, total) over N requests,
    /// like the guide's curl -w timing; min / p50 / p95 / p99 / max
    Api(PerfApiArgs),
    /// HTTP load: keep-alive connections, requests/s, status codes, errors by kind, latency
    /// percentiles (HDR histogram). Only loopback or the deployment's URLs without --allow-remote
    Load(PerfLoadArgs),
    /// The backend's JVM: heap / non-heap, GC counts and pause time, threads — from Spring
    /// Boot's actuator metrics, or jstat / jcmd in the backend container
    Jvm(PerfJvmArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JvmSource {
    /// The actuator when it answers, else jcmd / jstat in the container
    Auto,
    /// Spring Boot actuator metrics (and /actuator/threaddump)
    Actuator,
    /// jstat and jcmd run in the backend container (a JDK image)
    Jcmd,
}

#[derive(Debug, Args)]
pub struct PerfJvmArgs {
    /// Also take a thread dump and summarize it: states, the most common stacks, blocked
    /// threads and their locks
    #[arg(long)]
    pub threads: bool,
    /// Where to read the JVM from
    #[arg(long, value_enum, default_value_t = JvmSource::Auto)]
    pub source: JvmSource,
}

#[derive(Debug, Args)]
pub struct PerfLoadArgs {
    /// The URL to load
    #[arg(value_name = "URL", value_parser = parse_http_url)]
    pub url: String,
    /// Concurrent connections
    #[arg(short = 'c', long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// How long to run (at most 1h) [default: 10s, or until -n requests]
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// How many requests to send (the run still stops after --duration or 1h)
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub requests: Option<u64>,
    /// Requests per second over all connections [default: as fast as the server answers]
    #[arg(long, value_name = "RPS")]
    pub rate: Option<f64>,
    /// HTTP method
    #[arg(long, value_name = "METHOD", default_value = "GET")]
    pub method: String,
    /// Request body
    #[arg(long, value_name = "TEXT")]
    pub body: Option<String>,
    /// Extra header, `Name: value` (repeatable)
    #[arg(long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Allow a target that is neither loopback nor one of the deployment's configured URLs
    #[arg(long)]
    pub allow_remote: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendEndpoint {
    /// backend.endpoints.login
    Login,
    /// backend.endpoints.health
    Health,
    /// backend.endpoints.health_db
    HealthDb,
}

#[derive(Debug, Args)]
pub struct PerfApiArgs {
    /// The URL to time [default: the backend's login endpoint]
    #[arg(value_name = "URL", value_parser = parse_http_url, conflicts_with = "endpoint")]
    pub url: Option<String>,
    /// A configured backend endpoint instead of a URL
    #[arg(long, value_enum, value_name = "NAME")]
    pub endpoint: Option<BackendEndpoint>,
    /// Number of requests, each on a new connection
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub requests: u32,
    /// Also trust the CA certificates in this PEM file (an internal CA)
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PerfDbArgs {
    /// The view
    #[arg(value_enum)]
    pub view: crate::pg::insight::DbView,
    /// How many rows (slow-queries, tables, indexes, writes) [default: 20]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=10_000))]
    pub top: Option<i64>,
    /// Days ahead for the roles view [default: 7]
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(i32).range(0..=3650))]
    pub within_days: Option<i32>,
    /// PostgreSQL to read, as postgres://USER@HOST:PORT/DATABASE (password: GYMOPS_POSTGRES_PASSWORD)
    #[arg(long, value_name = "URL")]
    pub db_connection: Option<String>,
}

#[derive(Debug, Args)]
pub struct PerfStatsArgs {
    /// Services [default: all]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Keep refreshing (in place on a terminal; a JSON line per round with --output json)
    /// until Ctrl+C
    #[arg(long)]
    pub watch: bool,
    /// Time between refreshes with --watch (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = wait_duration, requires = "watch")]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogsArgs {
    #[command(subcommand)]
    pub command: Option<LogsCommand>,
    #[command(flatten)]
    pub show: LogsShowArgs,
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Counts per level, errors per hour, top errors by fingerprint, keyword views
    Stats(LogsStatsArgs),
    /// List the log files in the backend container's log directory
    Files(LogsFilesArgs),
    /// Compress and delete old rotated log files in the container's log directory
    Clean(LogsCleanArgs),
}

#[derive(Debug, Args)]
pub struct LogsShowArgs {
    /// Services to show [default: all]
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Only the last N lines of each service (with --level or --grep: the last N matching
    /// lines, like `grep | tail`)
    #[arg(long, value_name = "N")]
    pub tail: Option<u64>,
    /// Keep following new lines (re-attaches when a container restarts); Ctrl+C stops
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines since: RFC 3339, a date, or a duration ago (24h, 30m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Lines until: RFC 3339, a date, or a duration ago
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Show Docker's timestamp of each line
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Only lines matching this regular expression
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,
    /// Only events at this level or more severe (stack traces go with their event)
    #[arg(long, value_enum, ignore_case = true, value_name = "LEVEL")]
    pub level: Option<crate::logs::parse::Level>,
    /// Order the lines of several services by time
    #[arg(long)]
    pub merge: bool,
    /// No colors, even on a terminal
    #[arg(long)]
    pub no_color: bool,
    /// Write the lines to this file instead of stdout
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogsStatsArgs {
    /// Services whose container logs to read [default: logs.service, the backend]
    #[arg(value_name = "SERVICE", conflicts_with = "file")]
    pub services: Vec<String>,
    /// Events since: RFC 3339, a date, or a duration ago (24h, 30m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Events until
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Read exported or rotated log files (plain or .gz) instead of a container (repeatable)
    #[arg(long, value_name = "PATH")]
    pub file: Vec<PathBuf>,
    /// How many error fingerprints to list
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// A keyword view from the guide: slow (slow/timeout/performance), pool (hikari/connection),
    /// memory (memory/gc/heap)
    #[arg(long, value_enum)]
    pub topic: Option<crate::logs::stats::Topic>,
}

#[derive(Debug, Args)]
pub struct LogsFilesArgs {
    /// The service whose container holds the files [default: logs.service]
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// The directory [default: logs.dir, /app/logs]; must be inside logs.dir
    #[arg(long, value_name = "PATH")]
    pub dir: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsCleanArgs {
    #[command(flatten)]
    pub target: LogsFilesArgs,
    /// Delete rotated plain files older than this [default: logs.delete_older_than, 7d]
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub delete_older_than: Option<std::time::Duration>,
    /// Gzip rotated plain files older than this [default: logs.compress_older_than, 1d]
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub compress_older_than: Option<std::time::Duration>,
    /// Delete compressed files older than this [default: logs.delete_compressed_older_than, 7d]
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub delete_compressed_older_than: Option<std::time::Duration>,
    /// Say what would be done, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// List the deployment's services (same as `gymops ps`)
    Ps(PsArgs),
    /// The environment's compose files as gymops reads them: interpolated, checked, merged
    /// and validated (like `docker-compose config`)
    Config(ServiceConfigArgs),
    /// Same as `gymops up`
    #[command(after_help = EXIT_CODES)]
    Up(UpArgs),
    /// Same as `gymops down`
    Down(DownArgs),
    /// Same as `gymops stop`
    Stop(LifecycleArgs),
    /// Same as `gymops start`
    Start(LifecycleArgs),
    /// Same as `gymops restart`
    Restart(LifecycleArgs),
}

#[derive(Debug, Args)]
pub struct ServiceConfigArgs {
    /// Compose file, repeatable, merged in order [default: the environment's compose_files]
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// Only the service names, in start order (dependencies first)
    #[arg(long)]
    pub services: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every effective setting, where it came from, secrets masked
    Show,
    /// Validate the settings and the files they name
    Check,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Only this service's checks (repeatable): its container and its endpoints
    #[arg(long, value_name = "NAME")]
    pub service: Vec<String>,
    /// Only these groups of checks (repeatable)
    #[arg(long, value_enum, value_name = "GROUP")]
    pub check: Vec<CheckGroup>,
    /// Probe this URL instead of the configured backend endpoints (repeatable)
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub endpoint: Vec<String>,
    /// PostgreSQL to check, as postgres://USER@HOST:PORT/DATABASE (password: GYMOPS_POSTGRES_PASSWORD)
    #[arg(long, value_name = "URL")]
    pub db_connection: Option<String>,
    /// Timeout of each probe, e.g. 5s, 1500ms [default: health.timeout, 5s] (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Write the report to this file (atomically) instead of stdout
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Only these services
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

fn parse_http_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text)
        .map_err(|err| format!("not a URL ({err}); use e.g. http://localhost:8080/path"))?;
    match url.scheme() {
        "http" | "https" => Ok(text.to_string()),
        other => Err(format!("scheme `{other}` is not http or https")),
    }
}

/// A timeout or interval: more than zero (zero would mean "never wait" or a busy loop) and at
/// most an hour (a typo like `5h` for `5s` must not hang a cron job for hours).
pub fn wait_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|err| format!("{err} (e.g. 5s, 1m)"))?;
    if duration.is_zero() {
        return Err("must be more than 0 (0 would never wait)".into());
    }
    if duration > std::time::Duration::from_secs(3600) {
        return Err("must be at most 1h".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
