//! Settings: embedded defaults (the operations guide's deployment), then `gymops.yaml`,
//! then the compose `.env` file of the selected environment, then `GYMOPS_*` environment
//! variables, then flags. [`load`] merges them once, before any command runs, and records
//! where every value came from.

mod flat;
mod load;
pub mod secret;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

pub use load::{check_nesting, load, Entry, Loaded, Overrides, Source};
pub use secret::{mask_url, Secret};

/// The whole typed configuration of gymops.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Compose project name (`com.docker.compose.project`).
    pub project: String,
    /// Selected named environment (a key of `environments`).
    pub environment: String,
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
}

/// How bad an event is (the guide's section 7.7), least to most severe.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// Where a notification goes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A Slack incoming webhook
    Slack,
    /// A generic JSON webhook (POST)
    Webhook,
    /// Email over SMTP
    Email,
}

impl Channel {
    pub fn label(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Channels that commands' notifications (`monitor`, `backup monitor --notify`, incidents)
    /// go to; empty: commands do not notify.
    pub channels: Vec<Channel>,
    /// Events below this severity are not sent by commands (`alert send` always sends).
    pub min_severity: Severity,
    /// Timeout of one delivery attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Further attempts after a failed one (network errors, HTTP 429/5xx, SMTP 4xx).
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    pub slack: SlackSettings,
    pub webhook: WebhookSettings,
    pub email: EmailSettings,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            channels: Vec::new(),
            min_severity: Severity::Warning,
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_secs(1),
            slack: SlackSettings::default(),
            webhook: WebhookSettings::default(),
            email: EmailSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackSettings {
    /// File holding the incoming-webhook URL; or `GYMOPS_SLACK_WEBHOOK_URL`.
    pub webhook_url_file: Option<PathBuf>,
    /// Resolved webhook URL; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub webhook_url: Option<Secret>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// File holding the webhook URL; or `GYMOPS_WEBHOOK_URL`.
    pub url_file: Option<PathBuf>,
    /// Resolved webhook URL; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub url: Option<Secret>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required; port 587)
    Starttls,
    /// TLS from the first byte (port 465)
    Tls,
    /// No encryption (only for a relay on this host)
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    /// SMTP server (the guide's Alertmanager uses smtp.gmail.com).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    /// Extra CA certificate (PEM) to trust for the SMTP server, e.g. a company CA.
    pub ca_file: Option<PathBuf>,
    /// SMTP user; no user: no authentication.
    pub username: Option<String>,
    /// File holding the SMTP password; or `GYMOPS_SMTP_PASSWORD`.
    pub password_file: Option<PathBuf>,
    /// Resolved password; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            smtp_host: None,
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            ca_file: None,
            username: None,
            password_file: None,
            password: None,
            from: "alerts@fitness-gym.com".into(),
            to: vec!["ops@fitness-gym.com".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address `gymops metrics serve` listens on.
    pub listen: String,
    /// Time between collections; scrapes read the newest collection.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Where Prometheus (in the monitoring stack's containers) reaches `gymops metrics serve`.
    pub scrape_target: String,
    /// The release history whose newest entry is published.
    pub releases_file: PathBuf,
    /// File holding the bearer token Alertmanager sends to the relay (`POST /alertmanager`);
    /// or `GYMOPS_METRICS_RELAY_TOKEN`. Without one the relay is off. `monitoring init`
    /// writes one to `secrets/relay_token`.
    pub relay_token_file: Option<PathBuf>,
    /// Resolved relay token; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub relay_token: Option<Secret>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            listen: "127.0.0.1:9464".into(),
            interval: Duration::from_secs(15),
            scrape_target: "host.docker.internal:9464".into(),
            releases_file: PathBuf::from(".gymops/releases.json"),
            relay_token_file: None,
            relay_token: None,
        }
    }
}

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
        }
    }
}

/// Incident records (the guide's sections 7.7 and 8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentSettings {
    /// Where incident records live, one directory per incident (relative to gymops.yaml).
    pub dir: PathBuf,
    /// How soon someone must respond, per severity (the guide: warning 15 min, error 5 min,
    /// critical 1 min).
    pub response_targets: ResponseTargets,
    /// The longest any one piece of evidence may take to capture when an incident is opened.
    #[serde(with = "humantime_serde")]
    pub evidence_timeout: Duration,
    /// Error lines kept per service in the evidence.
    pub error_lines: usize,
    /// Language of reports, reviews and notices: zh (the guide's templates) or en.
    pub lang: Lang,
    /// Who members contact, in the member notice.
    pub support_contact: String,
    /// Who signs the member notice.
    pub team_name: String,
    /// Who the timeline records as acting (GYMOPS_INCIDENT_OPERATOR) [default: the login name].
    pub operator: Option<String>,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        IncidentSettings {
            dir: PathBuf::from("incidents"),
            response_targets: ResponseTargets::default(),
            evidence_timeout: Duration::from_secs(10),
            error_lines: 200,
            lang: Lang::Zh,
            support_contact: "support@fitness-gym.com".into(),
            team_name: "健身房技术团队".into(),
            operator: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseTargets {
    #[serde(with = "humantime_serde")]
    pub info: Duration,
    #[serde(with = "humantime_serde")]
    pub warning: Duration,
    #[serde(with = "humantime_serde")]
    pub error: Duration,
    #[serde(with = "humantime_serde")]
    pub critical: Duration,
}

impl ResponseTargets {
    pub fn of(&self, severity: Severity) -> Duration {
        match severity {
            Severity::Info => self.info,
            Severity::Warning => self.warning,
            Severity::Error => self.error,
            Severity::Critical => self.critical,
        }
    }
}

impl Default for ResponseTargets {
    fn default() -> Self {
        ResponseTargets {
            // The guide gives info no target ("needs attention, not urgent"): working hours.
            info: Duration::from_secs(4 * 3600),
            warning: Duration::from_secs(15 * 60),
            error: Duration::from_secs(5 * 60),
            critical: Duration::from_secs(60),
        }
    }
}

/// Language of rendered templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Chinese, the guide's templates
    #[default]
    Zh,
    /// English
    En,
}

/// One scheduled job: when, and which gymops command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduledJob {
    pub enabled: bool,
    /// hourly, daily or weekly
    pub every: Every,
    /// `HH:MM` for daily and weekly jobs, `:MM` (or `MM`) for hourly ones.
    pub at: String,
    /// Day of the week for weekly jobs (mon..sun).
    pub weekday: Option<String>,
    /// The gymops arguments (no program name).
    pub args: Vec<String>,
}

impl Default for ScheduledJob {
    fn default() -> Self {
        ScheduledJob {
            enabled: true,
            every: Every::Daily,
            at: "00:00".into(),
            weekday: None,
            args: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Every {
    Hourly,
    Daily,
    Weekly,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// The gymops binary the schedule runs; unset: the running binary's path.
    pub binary: Option<PathBuf>,
    /// Directory the jobs run in; unset: the directory of gymops.yaml.
    pub working_dir: Option<PathBuf>,
    /// Name prefix of Task Scheduler tasks and systemd units (letters, digits, `-`, `_`).
    pub name_prefix: String,
    /// The account systemd runs the jobs as (`User=`; one in the docker group). Required
    /// for `--target systemd`: `root` only when set on purpose.
    pub user: Option<String>,
    /// The jobs, by name (the guide's: daily 02:00 backup, hourly health, 09:00 daily report).
    pub jobs: BTreeMap<String, ScheduledJob>,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        let job = |every, at: &str, args: &[&str]| ScheduledJob {
            enabled: true,
            every,
            at: at.into(),
            weekday: None,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        ScheduleSettings {
            binary: None,
            working_dir: None,
            name_prefix: "FitnessGym".into(),
            user: None,
            jobs: BTreeMap::from([
                (
                    "backup".into(),
                    job(Every::Daily, "02:00", &["backup", "create", "--quiet"]),
                ),
                (
                    "health".into(),
                    job(Every::Hourly, ":00", &["health", "--quiet"]),
                ),
                (
                    "daily-report".into(),
                    job(
                        Every::Daily,
                        "09:00",
                        &[
                            "check",
                            "daily",
                            "--output",
                            "markdown",
                            "--output-file",
                            "reports/daily-check.md",
                        ],
                    ),
                ),
            ]),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorSettings {
    /// A container at or above this CPU % is a warning (100% = one CPU).
    pub cpu_percent: f64,
    /// A container at or above this share of its memory limit is a warning.
    pub memory_percent: f64,
    /// A file system at or above this share used is a warning.
    pub disk_percent: f64,
    /// Time between rounds with `monitor --interval` when no value is given.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            cpu_percent: 80.0,
            memory_percent: 80.0,
            disk_percent: 90.0,
            interval: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsSettings {
    /// The service whose log files `logs files` / `logs clean` look after.
    pub service: String,
    /// The log directory inside that service's container.
    pub dir: String,
    /// Rotated plain log files older than this are gzipped by `logs clean`.
    #[serde(with = "humantime_serde")]
    pub compress_older_than: Duration,
    /// Rotated plain log files older than this are deleted by `logs clean`.
    #[serde(with = "humantime_serde")]
    pub delete_older_than: Duration,
    /// Compressed log files older than this are deleted by `logs clean`.
    #[serde(with = "humantime_serde")]
    pub delete_compressed_older_than: Duration,
}

/// pg_dump's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// SQL text, restored with psql (the guide's .sql backups)
    Plain,
    /// pg_dump's custom archive, restored with pg_restore
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// Where backups are kept on this host (relative to gymops.yaml's directory).
    pub dir: PathBuf,
    pub format: DumpFormat,
    pub compression: Compression,
    /// Compression level; unset: zstd 1, gzip 6.
    pub level: Option<i32>,
    /// age X25519 recipients (public keys, `age1...`): only public keys on the backup host.
    pub recipients: Vec<String>,
    /// File of age recipients, one per line (`#` comments), like `age -R`.
    pub recipients_file: Option<PathBuf>,
    /// File holding an encryption passphrase; or `GYMOPS_BACKUP_PASSPHRASE`.
    pub passphrase_file: Option<PathBuf>,
    /// Resolved passphrase; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub passphrase: Option<Secret>,
    /// age identity file (`AGE-SECRET-KEY-1...`) for verify and restore.
    pub identity_file: Option<PathBuf>,
    /// With no recipients or passphrase set, `backup create` refuses unless this is false
    /// (plaintext backups on purpose).
    pub encrypt: bool,
    /// The Ed25519 key that signs backup manifests (created on first use, mode 0600);
    /// unset: `~/.config/gymops/backup-signing.key`. Keep it off the backup directory.
    pub signing_key_file: Option<PathBuf>,
    /// Public keys (`ed25519:...`) whose signed backups verify and restore accept, besides
    /// this host's own signing key: another site's, or the production host's on a DR host.
    pub trusted_keys: Vec<SigningPublicKey>,
    /// `backup create` stops (and keeps nothing) when pg_dump sends no byte for this long;
    /// pg_dump also gives up waiting for a table lock after it.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// `backup monitor`: the newest backup must be younger than this.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// `backup monitor`: a newest backup smaller than this share of the median of the
    /// previous five is a warning (a sudden drop).
    pub size_drop_percent: u8,
    /// Defaults of `backup prune` (restic's policy).
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub s3: S3Settings,
}

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

/// What the monitoring stack (`monitoring init`) scrapes and runs: only what the deployment
/// has, so no alert fires forever for a target that does not exist.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringSettings {
    /// The backend exposes Spring Boot's `/actuator/prometheus` (micrometer-registry-prometheus):
    /// scrape it and alert on its response times.
    pub backend_metrics: bool,
    /// Run and scrape node-exporter (host CPU, memory, disks) in the monitoring stack.
    pub node_exporter: bool,
    /// Run and scrape cAdvisor (per-container resource use) in the monitoring stack.
    pub cadvisor: bool,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            backend_metrics: false,
            node_exporter: true,
            cadvisor: true,
        }
    }
}

/// An Ed25519 public key as settings spell it: `ed25519:` + the base64 of its 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningPublicKey(pub [u8; 32]);

impl std::fmt::Display for SigningPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine as _;
        write!(
            f,
            "ed25519:{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl std::str::FromStr for SigningPublicKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use base64::Engine as _;
        let expected = "expected ed25519: and the base64 of 32 bytes, as `backup create` prints it";
        let encoded = text
            .trim()
            .strip_prefix("ed25519:")
            .ok_or_else(|| format!("`{text}` is not a signing public key: {expected}"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| format!("`{text}` is not a signing public key: {expected}"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("`{text}` is not a signing public key: {expected}"))?;
        Ok(SigningPublicKey(bytes))
    }
}

impl Serialize for SigningPublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SigningPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// S3 endpoint, e.g. http://localhost:9000 for the deployment's MinIO; unset: AWS.
    pub endpoint: Option<Url>,
    pub region: String,
    pub bucket: Option<String>,
    /// Key prefix of the backups in the bucket.
    pub prefix: String,
    /// Path-style URLs (http://host/bucket/key), as MinIO wants.
    pub path_style: bool,
    /// Files holding the credentials; or `GYMOPS_S3_ACCESS_KEY_ID` / `GYMOPS_S3_SECRET_ACCESS_KEY`.
    pub access_key_id_file: Option<PathBuf>,
    pub secret_access_key_file: Option<PathBuf>,
    #[serde(skip)]
    pub access_key_id: Option<Secret>,
    #[serde(skip)]
    pub secret_access_key: Option<Secret>,
    /// Multipart part size in MiB (at least 5).
    pub part_size_mib: u32,
    /// Timeout of one S3 request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Further attempts of a failed request.
    pub retries: u32,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: None,
            prefix: "backups/".into(),
            path_style: true,
            access_key_id_file: None,
            secret_access_key_file: None,
            access_key_id: None,
            secret_access_key: None,
            part_size_mib: 8,
            timeout: Duration::from_secs(60),
            retries: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiskSettings {
    /// Used space at or above this percentage is a warning.
    pub warning_percent: u8,
    /// Used space at or above this percentage is critical.
    pub critical_percent: u8,
}

impl Default for LogsSettings {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        LogsSettings {
            service: "backend".into(),
            dir: "/app/logs".into(),
            compress_older_than: Duration::from_secs(DAY),
            delete_older_than: Duration::from_secs(7 * DAY),
            delete_compressed_older_than: Duration::from_secs(7 * DAY),
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            dir: PathBuf::from("backups"),
            format: DumpFormat::Plain,
            compression: Compression::Zstd,
            level: None,
            recipients: Vec::new(),
            recipients_file: None,
            passphrase_file: None,
            passphrase: None,
            identity_file: None,
            encrypt: true,
            signing_key_file: None,
            trusted_keys: Vec::new(),
            stall_timeout: Duration::from_secs(300),
            max_age: Duration::from_secs(26 * 3600),
            size_drop_percent: 50,
            keep_last: 7,
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 6,
            s3: S3Settings::default(),
        }
    }
}

impl Default for DiskSettings {
    fn default() -> Self {
        DiskSettings {
            warning_percent: 80,
            critical_percent: 90,
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
    /// Timeout of each probe; a hung service never stalls `gymops health` past it.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// An HTTP probe slower than this is a warning.
    #[serde(with = "humantime_serde")]
    pub slow_threshold: Duration,
    /// Connections at or above this percentage of max_connections is a warning.
    pub db_connections_warning_percent: u8,
}

impl Default for Settings {
    fn default() -> Self {
        let environment = |files: &[&str], env_file: &str| EnvironmentSettings {
            compose_files: files.iter().map(PathBuf::from).collect(),
            env_file: PathBuf::from(env_file),
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
        }
    }
}

impl Default for EnvironmentSettings {
    fn default() -> Self {
        EnvironmentSettings {
            compose_files: vec![PathBuf::from("docker-compose.yml")],
            env_file: PathBuf::from(".env"),
        }
    }
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            host: None,
            tls_verify: false,
            cert_path: None,
            timeout: Duration::from_secs(5),
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
