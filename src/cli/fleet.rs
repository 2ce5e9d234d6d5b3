//! `gymops fleet`: one command across every site of gymops.yaml.

use clap::{Args, Subcommand};

use super::{Checklist, EXIT_CODES};
use crate::settings::CheckGroup;

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Only these sites (comma-separated) [default: every site under `sites:`]
    #[arg(long, value_delimiter = ',', value_name = "SITE,...", global = true)]
    pub sites: Vec<String>,
    /// How many sites at once [default: fleet.parallel, 8; for `fleet up`, 1]
    #[arg(long, value_name = "N", global = true, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallel: Option<u16>,
    /// The longest one site may take; a site that has not answered by then is UNKNOWN
    /// [default: fleet.site_timeout, 30s]
    #[arg(long, value_name = "DURATION", global = true, value_parser = super::wait_duration)]
    pub site_timeout: Option<std::time::Duration>,
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// `health` at every site: one table with a SITE column, exit code the worst site's
    #[command(after_help = EXIT_CODES)]
    Health {
        /// Only these groups of checks (comma-separated)
        #[arg(long, value_enum, value_delimiter = ',')]
        check: Vec<CheckGroup>,
    },
    /// `ps` at every site
    Ps,
    /// `check daily|weekly` at every site
    #[command(after_help = EXIT_CODES)]
    Check {
        #[arg(value_enum)]
        checklist: Checklist,
    },
    /// `backup monitor` at every site
    #[command(subcommand)]
    Backup(FleetBackupCommand),
    /// `logs stats` at every site
    #[command(subcommand)]
    Logs(FleetLogsCommand),
    /// `perf stats` at every site
    #[command(subcommand)]
    Perf(FleetPerfCommand),
    /// `up` site by site (--parallel N at once, 1 by default), each with its gate and
    /// automatic rollback; stops starting sites after the first that fails unless
    /// --keep-going. A deploy is never cut off halfway: each site is bounded by its own
    /// deploy.wait_timeout and engine timeouts, not --site-timeout
    #[command(after_help = EXIT_CODES)]
    Up {
        /// Go on with the other sites after one fails
        #[arg(long)]
        keep_going: bool,
        #[command(flatten)]
        up: super::UpArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum FleetBackupCommand {
    /// Each site's backups against its backup.max_age and the run log
    #[command(after_help = EXIT_CODES)]
    Monitor {
        /// The newest backup must be younger than this [default: each site's backup.max_age]
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        max_age: Option<std::time::Duration>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FleetLogsCommand {
    /// Error, warning and event counts of each site's logs.service container
    Stats {
        /// Events since: RFC 3339, a date, or a duration ago (24h, 30m)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Events until
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FleetPerfCommand {
    /// CPU, memory, network and block I/O of every site's containers
    Stats,
}
