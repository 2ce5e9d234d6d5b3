//! `up`, `down`, `stop`, `start`, `restart`, `rollback`: their arguments.

use std::path::PathBuf;

use clap::Args;

use super::*;

#[derive(Debug, Args)]
pub struct ComposeFilesArg {
    /// Compose file, repeatable, merged in order [default: the environment's compose_files]
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Only these services (and what they depend on) [default: every service without a profile]
    #[arg(add = super::services())]
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
    #[arg(long = "service", value_name = "NAME", add = super::services())]
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
    #[arg(add = super::services())]
    pub services: Vec<String>,
    /// Seconds to wait for a container to stop before it is killed [default: deploy.stop_timeout, 10]
    #[arg(short = 't', long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub files: ComposeFilesArg,
}
