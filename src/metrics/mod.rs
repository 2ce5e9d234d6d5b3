//! Prometheus metrics: a [`Snapshot`] of the deployment (collected by [`collect`], every
//! source under its own timeout) rendered as the text exposition format by [`render`].
//! `metrics serve` collects on an interval and answers scrapes from the newest rendering.

pub mod collect;
pub mod serve;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::sync::atomic::AtomicU64;

use crate::exit::Status;

type Labels = Vec<(String, String)>;
type FloatFamily = Family<Labels, Gauge<f64, AtomicU64>>;

/// One health probe's result.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeSample {
    pub check: String,
    pub name: String,
    pub service: Option<String>,
    pub status: Status,
    pub latency_seconds: Option<f64>,
}

/// One service's container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerSample {
    pub service: String,
    pub container: Option<String>,
    pub running: bool,
    /// healthy, unhealthy, starting, or none (no healthcheck / no container).
    pub health: String,
    pub restart_count: i64,
    pub cpu_percent: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PostgresSample {
    pub database: String,
    /// Client connections by pg_stat_activity state (active, idle, idle in transaction...).
    pub connections: Vec<(String, i64)>,
    pub max_connections: i64,
    pub database_size_bytes: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupSample {
    pub count: usize,
    pub newest_timestamp_seconds: Option<f64>,
    pub newest_age_seconds: Option<f64>,
    pub newest_size_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSample {
    pub id: String,
    pub environment: String,
    pub timestamp_seconds: f64,
}

/// Everything one collection found. A source that failed has `None` and an entry in `errors`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    pub collected_at_seconds: f64,
    pub collect_duration_seconds: f64,
    pub probes: Vec<ProbeSample>,
    pub containers: Vec<ContainerSample>,
    pub postgres: Option<PostgresSample>,
    pub backups: Option<BackupSample>,
    pub release: Option<ReleaseSample>,
    /// Source (docker, postgres, backups, releases, probes) -> why it failed.
    pub errors: Vec<(String, String)>,
}

const SOURCES: [&str; 5] = ["probes", "docker", "postgres", "backups", "releases"];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Families<'a> {
    registry: &'a mut Registry,
}

impl Families<'_> {
    fn family(&mut self, name: &str, help: &str) -> FloatFamily {
        let family = FloatFamily::default();
        self.registry.register(name, help, family.clone());
        family
    }
}

fn set(family: &FloatFamily, pairs: &[(&str, &str)], value: f64) {
    family.get_or_create(&labels(pairs)).set(value);
}

fn status_value(status: Status) -> f64 {
    match status {
        Status::Ok => 0.0,
        Status::Warning => 1.0,
        Status::Critical => 2.0,
        Status::Unknown => 3.0,
    }
}

/// The snapshot in the Prometheus text exposition format (OpenMetrics-compatible, `# EOF`).
pub fn render(snapshot: &Snapshot) -> String {
    let mut registry = Registry::with_prefix("gymops");
    let mut f = Families {
        registry: &mut registry,
    };

    let build = f.family("build_info", "gymops version that produced these metrics");
    set(&build, &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    let collected = f.family(
        "collect_timestamp_seconds",
        "When the newest collection finished (Unix time)",
    );
    set(&collected, &[], snapshot.collected_at_seconds);
    let duration = f.family(
        "collect_duration_seconds",
        "How long the newest collection took",
    );
    set(&duration, &[], snapshot.collect_duration_seconds);
    let errors = f.family(
        "collect_error",
        "1 when the newest collection could not read this source",
    );
    for source in SOURCES {
        let failed = snapshot.errors.iter().any(|(s, _)| s == source);
        set(
            &errors,
            &[("source", source)],
            if failed { 1.0 } else { 0.0 },
        );
    }

    let up = f.family(
        "probe_up",
        "1 when the health probe passed (ok or warning), 0 when it failed",
    );
    let status = f.family(
        "probe_status",
        "Health probe status: 0 ok, 1 warning, 2 critical, 3 unknown",
    );
    let latency = f.family("probe_latency_seconds", "Health probe latency");
    for probe in &snapshot.probes {
        let service = probe.service.as_deref().unwrap_or("");
        let pairs = [
            ("check", probe.check.as_str()),
            ("name", probe.name.as_str()),
            ("service", service),
        ];
        let passed = matches!(probe.status, Status::Ok | Status::Warning);
        set(&up, &pairs, if passed { 1.0 } else { 0.0 });
        set(&status, &pairs, status_value(probe.status));
        if let Some(seconds) = probe.latency_seconds {
            set(&latency, &pairs, seconds);
        }
    }

    let running = f.family(
        "container_running",
        "1 when the service's container is running",
    );
    let healthy = f.family(
        "container_healthy",
        "1 when the container's healthcheck passes (or it has none and runs)",
    );
    let health = f.family(
        "container_health_status",
        "1 for the container's current healthcheck state",
    );
    let restarts = f.family(
        "container_restarts",
        "Restarts of the container since it was created",
    );
    let cpu = f.family(
        "container_cpu_percent",
        "Container CPU use, as docker stats computes it (100 = one CPU)",
    );
    let memory = f.family(
        "container_memory_usage_bytes",
        "Container memory in use, without inactive page cache",
    );
    let memory_limit = f.family(
        "container_memory_limit_bytes",
        "Container memory limit (the host's memory without a limit)",
    );
    for container in &snapshot.containers {
        let name = container.container.as_deref().unwrap_or("");
        let pairs = [("service", container.service.as_str()), ("container", name)];
        set(&running, &pairs, f64::from(u8::from(container.running)));
        let is_healthy =
            container.running && (container.health == "healthy" || container.health == "none");
        set(&healthy, &pairs, f64::from(u8::from(is_healthy)));
        set(
            &health,
            &[
                ("service", container.service.as_str()),
                ("container", name),
                ("health", container.health.as_str()),
            ],
            1.0,
        );
        set(&restarts, &pairs, container.restart_count as f64);
        if let Some(value) = container.cpu_percent {
            set(&cpu, &pairs, value);
        }
        if let Some(value) = container.memory_used_bytes {
            set(&memory, &pairs, value as f64);
        }
        if let Some(value) = container.memory_limit_bytes {
            set(&memory_limit, &pairs, value as f64);
        }
    }

    let pg_up = f.family(
        "postgres_up",
        "1 when PostgreSQL answered the collection's queries",
    );
    let connections = f.family(
        "postgres_connections",
        "Client connections by state (pg_stat_activity)",
    );
    let max_connections = f.family("postgres_max_connections", "max_connections");
    let size = f.family("postgres_database_size_bytes", "Size of the database");
    match &snapshot.postgres {
        Some(pg) => {
            set(&pg_up, &[], 1.0);
            for (state, count) in &pg.connections {
                set(&connections, &[("state", state.as_str())], *count as f64);
            }
            set(&max_connections, &[], pg.max_connections as f64);
            set(
                &size,
                &[("database", pg.database.as_str())],
                pg.database_size_bytes as f64,
            );
        }
        None => set(&pg_up, &[], 0.0),
    }

    let backup_count = f.family("backups", "Backups in the backup directory");
    let backup_time = f.family(
        "backup_newest_timestamp_seconds",
        "When the newest backup was written (Unix time)",
    );
    let backup_age = f.family(
        "backup_newest_age_seconds",
        "Age of the newest backup at collection time",
    );
    let backup_size = f.family("backup_newest_size_bytes", "Size of the newest backup");
    if let Some(backups) = &snapshot.backups {
        set(&backup_count, &[], backups.count as f64);
        if let Some(value) = backups.newest_timestamp_seconds {
            set(&backup_time, &[], value);
        }
        if let Some(value) = backups.newest_age_seconds {
            set(&backup_age, &[], value);
        }
        if let Some(value) = backups.newest_size_bytes {
            set(&backup_size, &[], value as f64);
        }
    }

    let release_time = f.family(
        "release_timestamp_seconds",
        "When the newest release was deployed (Unix time)",
    );
    let release_info = f.family("release_info", "The newest release");
    if let Some(release) = &snapshot.release {
        set(&release_time, &[], release.timestamp_seconds);
        set(
            &release_info,
            &[
                ("release", release.id.as_str()),
                ("environment", release.environment.as_str()),
            ],
            1.0,
        );
    }

    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            collected_at_seconds: 1_795_000_000.0,
            collect_duration_seconds: 0.25,
            probes: vec![ProbeSample {
                check: "api".into(),
                name: "health".into(),
                service: Some("backend".into()),
                status: Status::Ok,
                latency_seconds: Some(0.012),
            }],
            containers: vec![ContainerSample {
                service: "postgres".into(),
                container: Some("fitness_gym_postgres".into()),
                running: true,
                health: "healthy".into(),
                restart_count: 2,
                cpu_percent: Some(12.5),
                memory_used_bytes: Some(1024),
                memory_limit_bytes: Some(4096),
            }],
            postgres: Some(PostgresSample {
                database: "fitness_gym".into(),
                connections: vec![("active".into(), 3), ("idle".into(), 5)],
                max_connections: 100,
                database_size_bytes: 8_000_000,
            }),
            backups: None,
            release: None,
            errors: vec![("backups".into(), "no such directory".into())],
        }
    }

    #[test]
    fn the_text_carries_every_sample_with_labels() {
        let text = render(&snapshot());
        for line in [
            "gymops_probe_up{check=\"api\",name=\"health\",service=\"backend\"} 1.0",
            "gymops_probe_latency_seconds{check=\"api\",name=\"health\",service=\"backend\"} 0.012",
            "gymops_container_restarts{service=\"postgres\",container=\"fitness_gym_postgres\"} 2.0",
            "gymops_container_cpu_percent{service=\"postgres\",container=\"fitness_gym_postgres\"} 12.5",
            "gymops_postgres_connections{state=\"idle\"} 5.0",
            "gymops_postgres_database_size_bytes{database=\"fitness_gym\"} 8000000.0",
            "gymops_collect_error{source=\"backups\"} 1.0",
            "gymops_collect_error{source=\"docker\"} 0.0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.contains("# HELP gymops_probe_up "));
        assert!(text.contains("# TYPE gymops_probe_up gauge"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_missing_database_is_postgres_up_zero() {
        let mut snapshot = snapshot();
        snapshot.postgres = None;
        let text = render(&snapshot);
        assert!(text.contains("gymops_postgres_up 0.0"));
        assert!(!text.contains("gymops_postgres_connections{"));
    }
}
