//! One refresh of the dashboard: the services' containers and their CPU and memory, the
//! probes of `gymops health` (backend, PostgreSQL, MinIO), PostgreSQL's sessions by state,
//! the ERROR events logged since the last refresh (the `logs stats` engine, fed only the
//! new lines), the newest backup and the open incidents. A part that cannot be read is a
//! line in `problems`, never the end of the dashboard.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::clients::Clients;
use crate::docker::logs::LogRequest;
use crate::docker::Engine;
use crate::logs::stats::{Collector as LogCollector, StatsOptions};
use crate::probe::{self, HealthPlan};
use crate::settings::{CheckGroup, Settings};

use super::model::{Probe, ServiceSample, Snapshot, HISTORY};

pub struct Collector<'a> {
    pub settings: &'a Settings,
    pub clients: &'a Clients,
    pub engine: &'a Engine,
    pub backup_dir: PathBuf,
    pub incident_dir: PathBuf,
    /// Log lines up to this time (ns) were counted.
    seen_until: Option<i64>,
    database: Option<tokio_postgres::Client>,
}

impl<'a> Collector<'a> {
    pub fn new(
        settings: &'a Settings,
        clients: &'a Clients,
        engine: &'a Engine,
        backup_dir: PathBuf,
        incident_dir: PathBuf,
    ) -> Self {
        Collector {
            settings,
            clients,
            engine,
            backup_dir,
            incident_dir,
            seen_until: None,
            database: None,
        }
    }

    pub async fn snapshot(&mut self, log_of: Option<String>) -> Snapshot {
        let at = chrono::Utc::now().timestamp();
        let mut problems = Vec::new();
        let states = match self.engine.service_states(self.settings, &[]).await {
            Ok(states) => states,
            Err(err) => {
                problems.push(crate::error::describe(&err).0);
                Vec::new()
            }
        };
        let plan = HealthPlan {
            groups: vec![CheckGroup::Api, CheckGroup::Db, CheckGroup::Minio],
            services: Vec::new(),
            endpoints: Vec::new(),
        };
        let (usages, probes) = tokio::join!(
            self.engine.running_usages(&states),
            probe::run(self.settings, self.clients, &plan)
        );
        let mut usages = usages.into_iter();
        let mut services = Vec::new();
        for state in &states {
            let (status, summary) = probe::container::verdict(state);
            let running = state
                .container
                .as_ref()
                .is_some_and(|c| c.state == "running");
            let usage = if running {
                usages.next().and_then(Result::ok)
            } else {
                None
            };
            let container = state.container.as_ref();
            services.push(ServiceSample {
                name: state.label(),
                container: container.map(|c| c.name.clone()),
                state: container
                    .map(|c| c.state.clone())
                    .unwrap_or_else(|| crate::say!("missing")),
                health: container.and_then(|c| c.health.clone()),
                restarts: container.map(|c| c.restart_count).unwrap_or(0),
                status,
                summary,
                cpu_percent: usage.as_ref().map(|u| u.cpu_percent),
                memory_used: usage.as_ref().map(|u| u.memory_used_bytes),
                memory_limit: usage.as_ref().map(|u| u.memory_limit_bytes),
                net_rx: usage.as_ref().map(|u| u.net_rx_bytes),
                net_tx: usage.as_ref().map(|u| u.net_tx_bytes),
                pids: usage.as_ref().map(|u| u.pids),
            });
        }
        let probes = match probes {
            Ok(report) => report
                .checks
                .into_iter()
                .map(|c| Probe {
                    kind: c.check.label().to_string(),
                    name: c.name,
                    status: c.status,
                    latency_ms: c.latency_ms,
                    summary: crate::i18n::text(&c.summary),
                })
                .collect(),
            Err(err) => {
                problems.push(crate::error::describe(&err).0);
                Vec::new()
            }
        };
        let connections = match self.connections().await {
            Ok(connections) => connections,
            Err(err) => {
                self.database = None;
                problems.push(crate::say!(
                    "PostgreSQL sessions: {}",
                    crate::error::describe(&err).0
                ));
                Vec::new()
            }
        };
        let containers: Vec<String> = states
            .iter()
            .filter_map(|s| s.container.as_ref())
            .filter(|c| c.state == "running")
            .map(|c| c.name.clone())
            .collect();
        let errors = self.errors(&containers, at).await;
        let backup = match crate::backup::catalog::newest_local(&self.backup_dir) {
            Ok(newest) => Ok(newest.map(|(name, _, age)| (name, age))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err.to_string()),
        };
        let store =
            crate::incident::store::Store::new(self.incident_dir.clone(), &self.settings.incident);
        let incidents = if self.incident_dir.exists() {
            store
                .list()
                .map(|(list, _)| list.iter().filter(|i| i.state.is_open()).count())
                .map_err(|err| crate::error::describe(&err).0)
        } else {
            Ok(0)
        };
        let log = match log_of {
            Some(service) => Some((service.clone(), self.log_tail(&states, &service).await)),
            None => None,
        };
        Snapshot {
            at,
            services,
            probes,
            connections,
            errors,
            backup,
            incidents,
            problems,
            log,
        }
    }

    /// Sessions by state, over one connection kept between refreshes.
    async fn connections(&mut self) -> anyhow::Result<Vec<(String, u64)>> {
        if self.database.is_none() {
            let pg = &self.settings.postgres;
            self.database = Some(crate::pg::connect(pg, pg.connect_timeout).await?);
        }
        let client = self.database.as_ref().expect("connected above");
        let rows = tokio::time::timeout(
            self.settings.postgres.connect_timeout,
            client.query(
                "SELECT coalesce(state, 'other'), count(*) FROM pg_stat_activity \
                 WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 2 DESC, 1",
                &[],
            ),
        )
        .await
        .map_err(|_| anyhow::anyhow!("PostgreSQL did not answer in time"))?
        .map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    /// ERROR events per minute in the containers' logs since the last refresh (the last
    /// hour on the first one).
    async fn errors(&mut self, containers: &[String], now: i64) -> Vec<(i64, u64)> {
        let since_ns = self
            .seen_until
            .unwrap_or((now - HISTORY as i64 * 60) * 1_000_000_000);
        let mut per_minute: BTreeMap<i64, LogCollector> = BTreeMap::new();
        let mut newest = since_ns;
        for container in containers {
            let request = LogRequest {
                follow: false,
                since: since_ns.div_euclid(1_000_000_000),
                until: 0,
                tail: None,
            };
            let _ = self
                .engine
                .log_lines(container, &request, |line| {
                    let Some(nanos) = line.nanos else {
                        return;
                    };
                    // The engine's `since` is in whole seconds: lines already counted come again.
                    if nanos <= since_ns {
                        return;
                    }
                    newest = newest.max(nanos);
                    let minute = nanos.div_euclid(60_000_000_000) * 60;
                    per_minute
                        .entry(minute)
                        .or_insert_with(|| {
                            LogCollector::new(StatsOptions {
                                since: None,
                                until: None,
                                top: 0,
                                topics: Vec::new(),
                                prefer_source_time: true,
                            })
                        })
                        .line(&line.text, Some(nanos.div_euclid(1_000_000_000)));
                })
                .await;
        }
        self.seen_until = Some(newest.max(since_ns));
        per_minute
            .into_iter()
            .map(|(minute, collector)| (minute, collector.finish().levels.error))
            .collect()
    }

    /// The last lines of a service's log.
    async fn log_tail(&self, states: &[crate::docker::ServiceState], service: &str) -> Vec<String> {
        let Some(container) = states
            .iter()
            .find(|s| s.label() == service)
            .and_then(|s| s.container.as_ref())
        else {
            return vec![crate::say!("no container")];
        };
        let request = LogRequest {
            follow: false,
            since: 0,
            until: 0,
            tail: Some(200),
        };
        let mut lines = Vec::new();
        if let Err(err) = self
            .engine
            .log_lines(&container.name, &request, |line| {
                lines.push(String::from_utf8_lossy(&line.text).into_owned());
            })
            .await
        {
            lines.push(crate::error::describe(&err).0);
        }
        lines
    }
}
