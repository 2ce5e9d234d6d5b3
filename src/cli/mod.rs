//! The whole command tree. Doc comments here are the `--help` text; what the flags
//! override in the settings is [`overrides`].

mod backup;
pub mod complete;
mod deploy;
mod fleet;
mod incident;
mod logs;
mod ops;
mod overrides;
mod perf;

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::output::OutputFormat;
use crate::probe::CheckGroup;

pub use backup::*;
pub use deploy::*;
pub use fleet::*;
pub use incident::*;
pub use logs::*;
pub use ops::*;
pub use perf::*;

/// Service names, completed from the deployment.
pub(crate) fn services() -> clap_complete::ArgValueCompleter {
    clap_complete::ArgValueCompleter::new(complete::services)
}

/// Incident IDs, completed from incident.dir.
pub(crate) fn incident_ids() -> clap_complete::ArgValueCompleter {
    clap_complete::ArgValueCompleter::new(complete::incident_ids)
}

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
    /// Site (a branch under `sites:` in gymops.yaml) to run the command against
    #[arg(long, global = true, env = "GYMOPS_SITE", value_name = "NAME")]
    pub site: Option<String>,
    /// Docker context to use, as `docker --context` (also DOCKER_CONTEXT, docker.context);
    /// `gymops context ls` lists them
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
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
    /// Language of what people read: tables, summaries, errors, reports, help (JSON, exit
    /// codes and metrics never change) [default: GYMOPS_LANG, lang in gymops.yaml, the
    /// locale (LANG=zh_CN.UTF-8 is Chinese), else en]
    #[arg(long, global = true, value_enum, value_name = "LANG")]
    pub lang: Option<crate::i18n::Lang>,
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
    Disk(DiskArgs),
    /// The whole deployment on one screen, live: services with CPU and memory history,
    /// probes, PostgreSQL sessions, errors per minute, backups, incidents (keys: ? for help)
    Dashboard(DashboardArgs),
    /// Free disk like `docker system prune`, safely: stopped containers that are not the
    /// deployment's, dangling images, unused networks, build cache; never a volume, never
    /// what a kept release pins
    Prune(PruneArgs),
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
    /// Disaster recovery: `drill` restores the newest backup into a scratch stack and
    /// proves it (guide 8.6)
    #[command(subcommand)]
    Dr(DrCommand),
    /// Send notifications: Slack, a JSON webhook, email, DingTalk, WeCom or Feishu
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
    /// The docker CLI's contexts: which engines there are and which one gymops uses
    #[command(subcommand)]
    Context(ContextCommand),
    /// One command across every site (`sites:` in gymops.yaml), concurrently, each site
    /// under its own timeout; exit code the worst site's
    Fleet(FleetArgs),
    /// Print the shell completion script (bash, zsh, fish, powershell, elvish); it completes
    /// commands, flags, service names and incident IDs
    Completions(CompletionsArgs),
    /// Write the man pages, one per command (gymops.1, gymops-backup-create.1, ...)
    Man(ManArgs),
}

/// A shell gymops completes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: CompletionShell,
    /// A script that needs no gymops at completion time: commands and flags only (no
    /// service names or incident IDs)
    #[arg(long = "static")]
    pub static_script: bool,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages to (made when missing)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// List the Docker contexts (the docker CLI's store) and mark the one in use
    Ls,
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

/// `--output-file PATH`: a command's report or output to a file instead of stdout.
#[derive(Debug, Args)]
pub struct OutputFileArg {
    /// Write the output to this file instead of stdout (a report or export atomically: a
    /// reader never sees half of it; name a metrics export *.prom for the textfile collector)
    #[arg(long = "output-file", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

/// `--db-connection URL`: the PostgreSQL to use instead of the settings'.
#[derive(Debug, Args)]
pub struct DbConnectionArg {
    /// PostgreSQL to use, as postgres://USER@HOST:PORT/DATABASE[?sslmode=...] (password:
    /// GYMOPS_POSTGRES_PASSWORD)
    #[arg(long = "db-connection", value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Only this service's checks (repeatable): its container and its endpoints
    #[arg(long, value_name = "NAME", add = services())]
    pub service: Vec<String>,
    /// Only these groups of checks (repeatable)
    #[arg(long, value_enum, value_name = "GROUP")]
    pub check: Vec<CheckGroup>,
    /// Probe this URL instead of the configured backend endpoints (repeatable)
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub endpoint: Vec<String>,
    #[command(flatten)]
    pub db_connection: DbConnectionArg,
    /// Timeout of each probe, e.g. 5s, 1500ms [default: health.timeout, 5s] (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", value_parser = wait_duration)]
    pub timeout: Option<std::time::Duration>,
    /// Tell notify.channels about the checks that changed since the last `--notify` run, in
    /// one message (for cron: nothing is sent while nothing changes; a check told about
    /// less than health.notify_quiet ago waits, so a flapping one is not sent every run)
    #[arg(long)]
    pub notify: bool,
    #[command(flatten)]
    pub watch: WatchArgs,
    #[command(flatten)]
    pub output_file: OutputFileArg,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Only these services
    #[arg(value_name = "SERVICE", add = services())]
    pub services: Vec<String>,
    #[command(flatten)]
    pub watch: WatchArgs,
}

#[derive(Debug, Args)]
pub struct DiskArgs {
    /// Also each volume: its size and the services (or other containers) that mount it, as
    /// `docker system df -v`
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Time between refreshes (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = wait_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// List what would be removed and the bytes it frees; remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Which images: dangling (untagged, the default) or all (every image no remaining
    /// container uses, but never a `gymops-release/...` one; needs --yes)
    #[arg(long, value_enum, default_value_t = PruneImages::Dangling, value_name = "WHICH")]
    pub images: PruneImages,
    /// Confirm `--images all` (tagged images are pulled or built again when needed)
    #[arg(long)]
    pub yes: bool,
    /// Remove a deploy lock whose holder is gone (or on another host)
    #[arg(long)]
    pub break_lock: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PruneImages {
    /// Untagged images no remaining container uses
    Dangling,
    /// Every image no remaining container uses
    All,
}

/// `--watch [--interval D]`: the result again every interval.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Keep refreshing until Ctrl+C: in place on a terminal, a block per round when piped
    /// (a JSON line per round with --output json); exits with the last round's status
    #[arg(long)]
    pub watch: bool,
    /// Time between refreshes with --watch (more than 0, at most 1h)
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = wait_duration, requires = "watch")]
    pub interval: std::time::Duration,
}

impl WatchArgs {
    /// The interval when watching.
    pub fn every(&self) -> Option<std::time::Duration> {
        self.watch.then_some(self.interval)
    }
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
