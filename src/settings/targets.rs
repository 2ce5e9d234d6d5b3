//! What gymops checks and talks to: the Docker engine, the services and their containers,
//! the backend, PostgreSQL, MinIO, and health probing.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::*;

/// Groups of checks, for `--check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckGroup {
    /// The Docker daemon and every service's container.
    Containers,
    /// The backend's endpoints (login, actuator health, actuator db health).
    Api,
    /// PostgreSQL: connect, SELECT 1, connections, database size.
    Db,
    /// MinIO live and ready endpoints, and its console.
    Minio,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerSettings {
    /// Engine address (`unix:///var/run/docker.sock`, `tcp://host:2376`); unset: `DOCKER_HOST`
    /// or the local socket.
    pub host: Option<String>,
    /// Use TLS for a tcp:// host (`DOCKER_TLS_VERIFY`).
    pub tls_verify: bool,
    /// Directory holding ca.pem, cert.pem and key.pem (`DOCKER_CERT_PATH`, default ~/.docker).
    pub cert_path: Option<PathBuf>,
    /// Timeout for one Engine API call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A Docker context of the docker CLI (`docker context ls`) to take the engine from
    /// (`DOCKER_CONTEXT`, `--context`); unset: the docker CLI's current context.
    pub context: Option<String>,
    /// What gymops adds to ssh's own configuration for `ssh://` engines.
    pub ssh: DockerSshSettings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerSshSettings {
    /// A private key for ssh (`-i`), beside the agent's and ~/.ssh's.
    pub identity_file: Option<PathBuf>,
    /// A known_hosts file to check the engine host's key against instead of the user's.
    pub known_hosts_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSettings {
    /// Explicit container name (compose `container_name`); tried before compose labels and names.
    pub container: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendSettings {
    /// The compose service that runs the Spring Boot backend.
    pub service: String,
    /// Base URL of the backend, including the servlet context path.
    pub url: Url,
    pub endpoints: BackendEndpoints,
    /// Directory of jcmd and jstat inside the backend container; unset: on its PATH.
    pub jdk_bin_dir: Option<String>,
    /// How long one request of `perf api`, `perf jvm` and `perf load` may take (`health`'s
    /// probes keep `health.timeout`).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendEndpoints {
    pub login: String,
    pub health: String,
    pub health_db: String,
    /// Spring Boot actuator metrics (`perf jvm`).
    pub metrics: String,
    /// Spring Boot actuator thread dump (`perf jvm --threads`).
    pub threaddump: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresSettings {
    /// The compose service that runs PostgreSQL.
    pub service: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    /// File holding the password (Docker secret style); the password itself comes from
    /// `GYMOPS_POSTGRES_PASSWORD`, the env file's `POSTGRES_PASSWORD`, or this file.
    pub password_file: Option<PathBuf>,
    /// Resolved password; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub password: Option<Secret>,
    /// Directory of pg_dump, pg_restore and psql inside the PostgreSQL container; unset:
    /// found on its PATH (the official image).
    pub bin_dir: Option<String>,
    /// TLS to PostgreSQL, as libpq's sslmode (also `?sslmode=` in --db-connection).
    pub sslmode: SslMode,
    /// CA certificates (PEM) that verify the server for verify-ca / verify-full; unset: the
    /// system's roots.
    pub sslrootcert: Option<PathBuf>,
    /// How long connecting may take, for every command but `health` (whose probes keep
    /// `health.timeout`): backups, restores, db, perf db, check, the metrics exporter.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

/// libpq's sslmode values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, without checking its certificate (libpq's default).
    #[default]
    Prefer,
    /// Always TLS, without checking the certificate.
    Require,
    /// Always TLS, the certificate signed by a trusted CA.
    VerifyCa,
    /// Always TLS, the certificate signed by a trusted CA and naming the host.
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinioSettings {
    /// The compose service that runs MinIO.
    pub service: String,
    /// MinIO S3 API base URL.
    pub url: Url,
    /// MinIO console base URL.
    pub console_url: Url,
    pub live_path: String,
    pub ready_path: String,
    pub console_path: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthSettings {
    /// Timeout of each probe of `health` (and the deploy gate); a hung service never stalls
    /// it past this. Other commands have their own: `postgres.connect_timeout`,
    /// `backend.request_timeout`, `docker.timeout`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// An HTTP probe slower than this is a warning.
    #[serde(with = "humantime_serde")]
    pub slow_threshold: Duration,
    /// Connections at or above this percentage of max_connections is a warning.
    pub db_connections_warning_percent: u8,
    /// What `health --notify` last told about each check (relative to gymops.yaml).
    pub notify_state_file: PathBuf,
    /// `health --notify` tells about a check at most once per this period (a check that
    /// flaps); the state it settles in goes out after it.
    #[serde(with = "humantime_serde")]
    pub notify_quiet: Duration,
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            host: None,
            tls_verify: false,
            cert_path: None,
            timeout: Duration::from_secs(5),
            context: None,
            ssh: DockerSshSettings::default(),
        }
    }
}

impl Default for BackendSettings {
    fn default() -> Self {
        BackendSettings {
            service: "backend".into(),
            url: Url::parse("http://localhost:8080/springboot1ngh61a2").expect("valid default URL"),
            endpoints: BackendEndpoints::default(),
            jdk_bin_dir: None,
            request_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for BackendEndpoints {
    fn default() -> Self {
        BackendEndpoints {
            login: "/user/login".into(),
            health: "/actuator/health".into(),
            health_db: "/actuator/health/db".into(),
            metrics: "/actuator/metrics".into(),
            threaddump: "/actuator/threaddump".into(),
        }
    }
}

impl Default for PostgresSettings {
    fn default() -> Self {
        PostgresSettings {
            service: "postgres".into(),
            host: "localhost".into(),
            port: 5432,
            user: "postgres".into(),
            database: "fitness_gym".into(),
            password_file: None,
            password: None,
            bin_dir: None,
            sslmode: SslMode::default(),
            sslrootcert: None,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl Default for MinioSettings {
    fn default() -> Self {
        MinioSettings {
            service: "minio".into(),
            url: Url::parse("http://localhost:9000").expect("valid default URL"),
            console_url: Url::parse("http://localhost:9001").expect("valid default URL"),
            live_path: "/minio/health/live".into(),
            ready_path: "/minio/health/ready".into(),
            console_path: "/login".into(),
        }
    }
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            timeout: Duration::from_secs(5),
            slow_threshold: Duration::from_secs(1),
            db_connections_warning_percent: 80,
            notify_state_file: PathBuf::from(".gymops/health-notify.json"),
            notify_quiet: Duration::from_secs(30 * 60),
        }
    }
}

/// Join a base URL (which may carry a context path) and an endpoint path.
pub fn join_url(base: &Url, path: &str) -> String {
    format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

impl BackendSettings {
    /// The backend endpoints as (name, full URL), in a stable order.
    pub fn endpoint_urls(&self) -> Vec<(String, String)> {
        [
            ("login", &self.endpoints.login),
            ("health", &self.endpoints.health),
            ("health_db", &self.endpoints.health_db),
        ]
        .into_iter()
        .map(|(name, path)| (name.to_string(), join_url(&self.url, path)))
        .collect()
    }
}
