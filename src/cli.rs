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
    /// Settings file [default: ./gymops.yaml when it exists]
    #[arg(
        short = 'c',
        long,
        global = true,
        env = "GYMOPS_CONFIG",
        value_name = "PATH"
    )]
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
    /// Nothing on stderr but errors
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
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// List the deployment's services (same as `gymops ps`)
    Ps(PsArgs),
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
    /// Timeout of each probe, e.g. 5s, 1500ms [default: health.timeout, 5s]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
