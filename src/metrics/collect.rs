//! One collection: every source concurrently, each under its own deadline, so a hung Docker
//! or PostgreSQL costs one source's samples, never the whole scrape.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};

use super::{BackupSample, ContainerSample, PostgresSample, ProbeSample, ReleaseSample, Snapshot};
use crate::clients::Clients;
use crate::probe::{self, HealthPlan};
use crate::settings::{Loaded, Settings};

/// Run `work` under `deadline`; a timeout is an error naming the deadline.
async fn bounded<T>(deadline: Duration, work: impl Future<Output = Result<T>>) -> Result<T> {
    crate::deadline::bounded(deadline, "no answer", work).await
}

fn unix_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Collect a snapshot. Never fails: a source that cannot be read is recorded in `errors`.
pub async fn collect(loaded: &Loaded, clients: &Clients) -> Snapshot {
    let settings = &loaded.settings;
    let started = Instant::now();
    // Docker stats sample twice, a second apart: give them room beyond the probe timeout.
    let deadline = settings
        .health
        .timeout
        .max(settings.docker.timeout)
        .max(settings.postgres.connect_timeout)
        + Duration::from_secs(3);
    let (probes, containers, postgres, backups, release) = tokio::join!(
        bounded(deadline, probes(settings, clients)),
        bounded(deadline, containers(settings, clients)),
        bounded(deadline, postgres(settings)),
        bounded(deadline, async { backups(loaded) }),
        bounded(deadline, async { release(loaded) }),
    );
    let mut snapshot = Snapshot::default();
    let mut record = |source: &str, err: anyhow::Error| {
        let (message, _) = crate::error::describe(&err);
        tracing::debug!(source, %message, "metrics source failed");
        snapshot.errors.push((source.to_string(), message));
    };
    let probes = probes.unwrap_or_else(|err| {
        record("probes", err);
        Vec::new()
    });
    let containers = containers.unwrap_or_else(|err| {
        record("docker", err);
        Vec::new()
    });
    let postgres = postgres.map_err(|err| record("postgres", err)).ok();
    let backups = backups.map_err(|err| record("backups", err)).ok();
    let release = release
        .map_err(|err| record("releases", err))
        .ok()
        .flatten();
    snapshot.probes = probes;
    snapshot.containers = containers;
    snapshot.postgres = postgres;
    snapshot.backups = backups;
    snapshot.release = release;
    snapshot.collect_duration_seconds = started.elapsed().as_secs_f64();
    snapshot.collected_at_seconds = unix_seconds(SystemTime::now());
    snapshot
}

async fn probes(settings: &Settings, clients: &Clients) -> Result<Vec<ProbeSample>> {
    let plan = HealthPlan {
        groups: Vec::new(),
        services: Vec::new(),
        endpoints: Vec::new(),
    };
    let report = probe::run(settings, clients, &plan).await?;
    Ok(report
        .checks
        .into_iter()
        .map(|check| ProbeSample {
            check: check.check.label().to_string(),
            name: check.name,
            service: check.service,
            status: check.status,
            latency_seconds: check.latency_ms.map(|ms| ms / 1000.0),
        })
        .collect())
}

async fn containers(settings: &Settings, clients: &Clients) -> Result<Vec<ContainerSample>> {
    let engine = clients.engine().await?;
    let services: Vec<String> = settings.services.keys().cloned().collect();
    let states = engine.service_states(settings, &services).await?;
    let mut readings = engine.running_usages(&states).await.into_iter();
    Ok(states
        .into_iter()
        .map(|state| {
            let container = state.container;
            let running = container.as_ref().is_some_and(|c| c.state == "running");
            let mut sample = ContainerSample {
                service: state.service,
                container: container.as_ref().map(|c| c.name.clone()),
                running,
                health: container
                    .as_ref()
                    .and_then(|c| c.health.clone())
                    .unwrap_or_else(|| "none".into()),
                restart_count: container.as_ref().map(|c| c.restart_count).unwrap_or(0),
                cpu_percent: None,
                memory_used_bytes: None,
                memory_limit_bytes: None,
            };
            if running {
                if let Some(Ok(used)) = readings.next() {
                    sample.cpu_percent = Some(used.cpu_percent);
                    sample.memory_used_bytes = Some(used.memory_used_bytes);
                    sample.memory_limit_bytes = Some(used.memory_limit_bytes);
                }
            }
            sample
        })
        .collect())
}

async fn postgres(settings: &Settings) -> Result<PostgresSample> {
    let client = crate::pg::connect(&settings.postgres, settings.postgres.connect_timeout).await?;
    let text = |e: tokio_postgres::Error| anyhow!("{}", crate::pg::postgres_error_text(&e));
    let rows = client
        .query(
            "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .map_err(text)?;
    let connections = rows
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
        .collect();
    let row = client
        .query_one(
            "SELECT current_setting('max_connections')::bigint, \
             pg_database_size(current_database()), current_database()::text",
            &[],
        )
        .await
        .map_err(text)?;
    Ok(PostgresSample {
        connections,
        max_connections: row.get(0),
        database_size_bytes: row.get(1),
        database: row.get(2),
    })
}

fn backups(loaded: &Loaded) -> Result<BackupSample> {
    let dir = loaded.resolve_path(&loaded.settings.backup.dir);
    let files = crate::backup::catalog::list_local(&dir)
        .map_err(|err| anyhow!("cannot read {}: {err}", dir.display()))?;
    let newest = files.first();
    Ok(BackupSample {
        count: files.len(),
        newest_timestamp_seconds: newest.map(|f| unix_seconds(f.modified)),
        newest_age_seconds: newest.map(|f| f.modified.elapsed().unwrap_or_default().as_secs_f64()),
        newest_size_bytes: newest.map(|f| f.size),
    })
}

fn release(loaded: &Loaded) -> Result<Option<ReleaseSample>> {
    let path = loaded.resolve_path(&loaded.settings.metrics.releases_file);
    let history = crate::deploy::releases::load(&path)?;
    Ok(history.newest().map(|release| ReleaseSample {
        id: release.id.clone(),
        environment: release.environment.clone(),
        timestamp_seconds: release.time.timestamp() as f64,
    }))
}
