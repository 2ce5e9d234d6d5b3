//! `logs`: its subcommands and their arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::OutputFileArg;

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
    #[arg(value_name = "SERVICE", add = super::services())]
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
    #[command(flatten)]
    pub output_file: OutputFileArg,
}

#[derive(Debug, Args)]
pub struct LogsStatsArgs {
    /// Services whose container logs to read [default: logs.service, the backend]
    #[arg(value_name = "SERVICE", conflicts_with = "file", add = super::services())]
    pub services: Vec<String>,
    /// Events since: RFC 3339, a date, or a duration ago (24h, 30m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Events until
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Read log files (plain or .gz) instead of container logs (repeatable): a path here
    /// (exported or rotated files), or SERVICE:/PATH for a file inside the service's
    /// container, read through the Engine API (e.g. backend:/app/logs/app.log)
    #[arg(long, value_name = "PATH")]
    pub file: Vec<PathBuf>,
    /// How many error fingerprints to list
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// A keyword view from the guide: slow (slow/timeout/performance), pool (hikari/connection),
    /// memory (memory/gc/heap); repeatable, each counted on its own
    #[arg(long, value_enum)]
    pub topic: Vec<crate::logs::stats::Topic>,
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
