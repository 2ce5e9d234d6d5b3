//! Settings: embedded defaults (the operations guide's deployment), then `gymops.yaml`,
//! then the compose `.env` file of the selected environment, then `GYMOPS_*` environment
//! variables, then flags. [`load`] merges them once, before any command runs, and records
//! where every value came from.

mod backup;
pub mod contexts;
mod deploy;
mod env;
mod file;
mod flat;
mod fleet;
mod incident;
mod layers;
mod load;
mod logs;
mod metrics;
mod notify;
mod schedule;
pub mod secret;
mod targets;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use file::check_nesting;
pub use load::{load, Entry, FlagSecret, FlagValue, Loaded, Overrides, Source};
pub use secret::{mask_url, Secret};

pub use backup::*;
pub use deploy::*;
pub use fleet::*;
pub use incident::*;
pub use logs::*;
pub use metrics::*;
pub use notify::*;
pub use schedule::*;
pub use targets::*;

/// The whole typed configuration of gymops.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Compose project name (`com.docker.compose.project`).
    pub project: String,
    /// Selected named environment (a key of `environments`).
    pub environment: String,
    /// The language of what people read (`en` or `zh`); unset: the locale's.
    pub lang: Option<crate::i18n::Lang>,
    /// Named environments: which compose files and env file each one uses.
    pub environments: BTreeMap<String, EnvironmentSettings>,
    pub docker: DockerSettings,
    /// Services of the deployment, by compose service name.
    pub services: BTreeMap<String, ServiceSettings>,
    pub backend: BackendSettings,
    pub postgres: PostgresSettings,
    pub minio: MinioSettings,
    pub health: HealthSettings,
    pub logs: LogsSettings,
    pub backup: BackupSettings,
    pub disk: DiskSettings,
    pub monitor: MonitorSettings,
    pub notify: NotifySettings,
    pub metrics: MetricsSettings,
    pub monitoring: MonitoringSettings,
    pub schedule: ScheduleSettings,
    pub incident: IncidentSettings,
    pub deploy: DeploySettings,
    pub fleet: FleetSettings,
    /// Sites (a branch each): the settings that differ from the rest, by site name. Read
    /// here only to be checked; [`Loaded::sites`] holds them, `--site` applies one.
    #[serde(skip_serializing)]
    pub sites: BTreeMap<String, serde_yaml::Value>,
}

impl Settings {
    /// The orchestrator of the selected environment: its own, else deploy.orchestrator.
    pub fn orchestrator(&self) -> Orchestrator {
        self.environments
            .get(&self.environment)
            .and_then(|e| e.orchestrator)
            .unwrap_or(self.deploy.orchestrator)
    }
}

impl Default for Settings {
    fn default() -> Self {
        let environment = |files: &[&str], env_file: &str| EnvironmentSettings {
            compose_files: files.iter().map(PathBuf::from).collect(),
            env_file: PathBuf::from(env_file),
            orchestrator: None,
        };
        let services = [
            ("backend", "fitness_gym_backend"),
            ("postgres", "fitness_gym_postgres"),
            ("minio", "fitness_gym_minio"),
        ]
        .into_iter()
        .map(|(service, container)| {
            (
                service.to_string(),
                ServiceSettings {
                    container: Some(container.to_string()),
                },
            )
        })
        .collect();
        Settings {
            project: "fitness_gym".into(),
            environment: "development".into(),
            lang: None,
            environments: BTreeMap::from([
                (
                    "development".into(),
                    environment(&["docker-compose.yml"], ".env"),
                ),
                (
                    "staging".into(),
                    environment(
                        &["docker-compose.yml", "docker-compose.staging.yml"],
                        ".env.staging",
                    ),
                ),
                (
                    "production".into(),
                    environment(
                        &["docker-compose.yml", "docker-compose.prod.yml"],
                        ".env.production",
                    ),
                ),
            ]),
            docker: DockerSettings::default(),
            services,
            backend: BackendSettings::default(),
            postgres: PostgresSettings::default(),
            minio: MinioSettings::default(),
            health: HealthSettings::default(),
            logs: LogsSettings::default(),
            backup: BackupSettings::default(),
            disk: DiskSettings::default(),
            monitor: MonitorSettings::default(),
            notify: NotifySettings::default(),
            metrics: MetricsSettings::default(),
            monitoring: MonitoringSettings::default(),
            schedule: ScheduleSettings::default(),
            incident: IncidentSettings::default(),
            deploy: DeploySettings::default(),
            fleet: FleetSettings::default(),
            sites: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_guides_deployment() {
        let settings = Settings::default();
        assert_eq!(settings.project, "fitness_gym");
        assert_eq!(
            settings.services["backend"].container.as_deref(),
            Some("fitness_gym_backend")
        );
        assert_eq!(
            settings.services["postgres"].container.as_deref(),
            Some("fitness_gym_postgres")
        );
        assert_eq!(
            settings.services["minio"].container.as_deref(),
            Some("fitness_gym_minio")
        );
        let urls: Vec<String> = settings
            .backend
            .endpoint_urls()
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        assert_eq!(
            urls,
            vec![
                "http://localhost:8080/springboot1ngh61a2/user/login",
                "http://localhost:8080/springboot1ngh61a2/actuator/health",
                "http://localhost:8080/springboot1ngh61a2/actuator/health/db",
            ]
        );
        assert_eq!(
            (
                settings.postgres.user.as_str(),
                settings.postgres.database.as_str(),
                settings.postgres.port
            ),
            ("postgres", "fitness_gym", 5432)
        );
        assert_eq!(
            join_url(&settings.minio.url, &settings.minio.live_path),
            "http://localhost:9000/minio/health/live"
        );
        assert_eq!(
            join_url(&settings.minio.console_url, &settings.minio.console_path),
            "http://localhost:9001/login"
        );
    }
}
