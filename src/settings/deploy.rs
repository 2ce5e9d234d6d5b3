//! Deploys: the gate, waits, grace periods, kept releases, reports, the monitoring and
//! failover stacks; environments and their compose files.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

/// `up`, `down` and the lifecycle commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeploySettings {
    /// The health checks a deploy must pass (`health --check` groups).
    pub gate: Vec<CheckGroup>,
    /// How long `up` waits for dependencies and healthchecks.
    #[serde(with = "humantime_serde")]
    pub wait_timeout: Duration,
    /// Grace period of a stop before the engine kills the container (compose's 10 s).
    #[serde(with = "humantime_serde")]
    pub stop_timeout: Duration,
    /// Releases whose images are kept tagged for rollback.
    pub keep_releases: usize,
    /// Where `up` and `rollback` write their report (relative to gymops.yaml).
    pub report_file: PathBuf,
    /// The monitoring stack's compose file, for `up --monitoring-only`.
    pub monitoring_compose_file: PathBuf,
    /// The failover stack's compose files, for `up --failover` (the guide's
    /// docker-compose.backup.yml over the main file; relative to gymops.yaml).
    pub failover_compose_files: Vec<PathBuf>,
    /// What runs the compose model: this engine's containers (`compose`), or a stack of
    /// services on a Swarm manager (`swarm`). An environment may say otherwise
    /// (`environments.NAME.orchestrator`), and a site.
    pub orchestrator: Orchestrator,
}

/// What `up`, `rollback` and `down` drive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orchestrator {
    /// Containers on one engine, as docker compose makes them.
    #[default]
    Compose,
    /// Services of a stack on a Swarm manager, as `docker stack deploy` makes them.
    Swarm,
}

impl Default for DeploySettings {
    fn default() -> Self {
        DeploySettings {
            gate: vec![
                CheckGroup::Containers,
                CheckGroup::Api,
                CheckGroup::Db,
                CheckGroup::Minio,
            ],
            wait_timeout: Duration::from_secs(120),
            stop_timeout: Duration::from_secs(10),
            keep_releases: 10,
            report_file: PathBuf::from("deployment_report.md"),
            monitoring_compose_file: PathBuf::from("monitoring/docker-compose.yml"),
            failover_compose_files: vec![
                PathBuf::from("docker-compose.yml"),
                PathBuf::from("docker-compose.backup.yml"),
            ],
            orchestrator: Orchestrator::Compose,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvironmentSettings {
    /// Compose files, merged in order (relative to the directory of gymops.yaml).
    pub compose_files: Vec<PathBuf>,
    /// The compose `.env` file for this environment.
    pub env_file: PathBuf,
    /// Over deploy.orchestrator for this environment.
    pub orchestrator: Option<Orchestrator>,
}

impl Default for EnvironmentSettings {
    fn default() -> Self {
        EnvironmentSettings {
            compose_files: vec![PathBuf::from("docker-compose.yml")],
            env_file: PathBuf::from(".env"),
            orchestrator: None,
        }
    }
}
