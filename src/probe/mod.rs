//! Health probes. Each probe returns data (a [`CheckResult`]) and never prints; [`run`]
//! runs them all at once, each under the probe timeout, so one hung service costs at most
//! that timeout.

pub mod container;
pub mod http;
pub mod postgres;
pub mod timing;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::clients::Clients;
use crate::docker;
use crate::exit::Status;
use crate::say;
use crate::settings::{join_url, Settings};

/// What kind of thing a check looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// The Docker daemon.
    Docker,
    /// A service's container.
    Container,
    /// A backend HTTP endpoint.
    Api,
    /// PostgreSQL.
    Db,
    /// MinIO health endpoints and console.
    Minio,
}

impl CheckKind {
    /// The name in JSON and tables: docker, container, api, db, minio.
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Docker => "docker",
            CheckKind::Container => "container",
            CheckKind::Api => "api",
            CheckKind::Db => "db",
            CheckKind::Minio => "minio",
        }
    }
}

/// `status: CRITICAL (1 critical, 7 ok) in 0.52s`
pub fn summary_line(report: &HealthReport) -> String {
    let count = |status: Status| report.checks.iter().filter(|c| c.status == status).count();
    let parts: Vec<String> = [
        Status::Critical,
        Status::Unknown,
        Status::Warning,
        Status::Ok,
    ]
    .into_iter()
    .filter(|s| count(*s) > 0)
    .map(|s| {
        let status = if crate::i18n::current() == crate::i18n::Lang::En {
            s.label().to_lowercase()
        } else {
            s.display()
        };
        crate::i18n::tr_args(
            "count-of-status",
            &[("count", count(s).to_string()), ("status", status)],
        )
    })
    .collect();
    let separator = if crate::i18n::current() == crate::i18n::Lang::En {
        ", "
    } else {
        "，"
    };
    crate::i18n::tr_args(
        "health-summary",
        &[
            ("status", report.status.display()),
            ("counts", parts.join(separator)),
            (
                "seconds",
                format!("{:.2}", report.elapsed_ms as f64 / 1000.0),
            ),
        ],
    ) + "\n"
}

#[cfg(test)]
mod label_tests {
    use super::CheckKind;

    #[test]
    fn labels_are_the_json_names() {
        for kind in [
            CheckKind::Docker,
            CheckKind::Container,
            CheckKind::Api,
            CheckKind::Db,
            CheckKind::Minio,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.label());
        }
    }
}

pub use crate::settings::CheckGroup;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub check: CheckKind,
    pub name: String,
    pub service: Option<String>,
    /// What was checked: a URL, a container, `host:port/db as user`. Never a secret.
    pub target: String,
    pub status: Status,
    pub latency_ms: Option<f64>,
    pub summary: String,
    /// What to do about a failure, when gymops knows.
    pub hint: Option<String>,
    pub details: Map<String, Value>,
}

impl CheckResult {
    pub fn new(check: CheckKind, name: &str, service: Option<String>, target: &str) -> Self {
        CheckResult {
            check,
            name: name.to_string(),
            service,
            target: crate::settings::mask_url(target),
            status: Status::Unknown,
            latency_ms: None,
            summary: String::new(),
            hint: None,
            details: Map::new(),
        }
    }

    fn timed_out(mut self, timeout: Duration, status: Status) -> Self {
        self.status = status;
        self.latency_ms = Some(timeout.as_secs_f64() * 1000.0);
        let timeout = humantime::format_duration(timeout);
        self.summary = say!("no answer within {timeout}");
        self
    }
}

/// The whole health run.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub status: Status,
    pub exit_code: u8,
    pub checked_at: String,
    pub elapsed_ms: u64,
    pub timeout_ms: u64,
    pub checks: Vec<CheckResult>,
}

/// What to check.
#[derive(Debug, Clone)]
pub struct HealthPlan {
    pub groups: Vec<CheckGroup>,
    /// Only these services (empty: all).
    pub services: Vec<String>,
    /// Probe these URLs instead of the configured backend endpoints.
    pub endpoints: Vec<String>,
}

impl HealthPlan {
    fn wants_group(&self, group: CheckGroup) -> bool {
        self.groups.is_empty() || self.groups.contains(&group)
    }

    fn wants_service(&self, service: &str) -> bool {
        self.services.is_empty() || self.services.iter().any(|s| s == service)
    }
}

type Probe<'a> = Pin<Box<dyn Future<Output = Vec<CheckResult>> + Send + 'a>>;

/// Run every planned probe concurrently; each is bounded by `settings.health.timeout`.
pub async fn run(
    settings: &Settings,
    clients: &Clients,
    plan: &HealthPlan,
) -> Result<HealthReport> {
    let started = Instant::now();
    let checked_at: DateTime<Utc> = Utc::now();
    let timeout = settings.health.timeout;
    let http = clients.http()?;

    let mut probes: Vec<Probe> = Vec::new();
    if plan.wants_group(CheckGroup::Containers) {
        let services: Vec<String> = settings
            .services
            .keys()
            .filter(|s| plan.wants_service(s))
            .cloned()
            .collect();
        probes.push(Box::pin(docker_checks(
            settings, clients, services, timeout,
        )));
    }
    for spec in http_probes(settings, plan) {
        probes.push(Box::pin(async move {
            let fallback =
                CheckResult::new(spec.check, &spec.name, spec.service.clone(), &spec.url);
            match tokio::time::timeout(timeout, http::probe(http, &spec, timeout)).await {
                Ok(result) => vec![result],
                Err(_) => vec![fallback.timed_out(timeout, spec.on_failure)],
            }
        }));
    }
    if plan.wants_group(CheckGroup::Db) && plan.wants_service(&settings.postgres.service) {
        let service = Some(settings.postgres.service.clone());
        let pg = &settings.postgres;
        let percent = settings.health.db_connections_warning_percent;
        probes.push(Box::pin(async move {
            let fallback = CheckResult::new(
                CheckKind::Db,
                "postgres",
                service.clone(),
                &crate::pg::describe_target(pg),
            );
            match tokio::time::timeout(timeout, postgres::probe(pg, timeout, percent, service))
                .await
            {
                Ok(result) => vec![result],
                Err(_) => vec![fallback.timed_out(timeout, Status::Critical)],
            }
        }));
    }

    let checks: Vec<CheckResult> = futures_util::future::join_all(probes)
        .await
        .into_iter()
        .flatten()
        .collect();
    let status = Status::combine(checks.iter().map(|c| c.status));
    Ok(HealthReport {
        status,
        exit_code: status.exit_code(),
        checked_at: checked_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        elapsed_ms: started.elapsed().as_millis() as u64,
        timeout_ms: timeout.as_millis() as u64,
        checks,
    })
}

/// The HTTP probes of the plan: backend endpoints (or `--endpoint` URLs) and MinIO.
fn http_probes(settings: &Settings, plan: &HealthPlan) -> Vec<http::HttpProbe> {
    let slow = settings.health.slow_threshold;
    let mut specs = Vec::new();
    let backend = &settings.backend.service;
    if plan.wants_group(CheckGroup::Api) && plan.wants_service(backend) {
        let endpoints: Vec<(String, String)> = if plan.endpoints.is_empty() {
            settings.backend.endpoint_urls()
        } else {
            plan.endpoints
                .iter()
                .map(|url| {
                    let name = url::Url::parse(url)
                        .map(|u| u.path().to_string())
                        .unwrap_or_else(|_| url.clone());
                    (name, url.clone())
                })
                .collect()
        };
        for (name, url) in endpoints {
            specs.push(http::HttpProbe {
                check: CheckKind::Api,
                name,
                service: Some(backend.clone()),
                url,
                on_failure: Status::Critical,
                slow_threshold: slow,
            });
        }
    }
    let minio = &settings.minio;
    if plan.wants_group(CheckGroup::Minio) && plan.wants_service(&minio.service) {
        for (name, base, path, on_failure) in [
            ("live", &minio.url, &minio.live_path, Status::Critical),
            ("ready", &minio.url, &minio.ready_path, Status::Critical),
            // The console is for people; the application does not need it.
            (
                "console",
                &minio.console_url,
                &minio.console_path,
                Status::Warning,
            ),
        ] {
            specs.push(http::HttpProbe {
                check: CheckKind::Minio,
                name: name.to_string(),
                service: Some(minio.service.clone()),
                url: join_url(base, path),
                on_failure,
                slow_threshold: slow,
            });
        }
    }
    specs
}

/// The daemon check and one check per service container, all under one timeout.
async fn docker_checks(
    settings: &Settings,
    clients: &Clients,
    services: Vec<String>,
    timeout: Duration,
) -> Vec<CheckResult> {
    let address = docker::address(&settings.docker);
    let mut daemon = CheckResult::new(CheckKind::Docker, "daemon", None, &address);
    let container_result = |service: &str| {
        CheckResult::new(
            CheckKind::Container,
            service,
            Some(service.to_string()),
            service,
        )
    };
    let started = Instant::now();
    let inspected = tokio::time::timeout(timeout, async {
        let engine = clients.engine().await?;
        // How long the daemon takes to answer, whether or not the run connected before;
        // asked together with the listing (against a remote engine, a round trip less).
        let (latency, states) =
            tokio::join!(engine.ping(), engine.service_states(settings, &services));
        let (latency, states) = (latency?, states?);
        // A service without a container here may run as a swarm service of the stack.
        let swarm = if states.iter().any(|s| s.container.is_none()) {
            engine.stack_services(&settings.project).await?
        } else {
            Default::default()
        };
        Ok::<_, anyhow::Error>((engine, latency, states, swarm))
    })
    .await;

    let unknown_containers = |summary: &str| -> Vec<CheckResult> {
        services
            .iter()
            .map(|service| {
                let mut result = container_result(service);
                result.status = Status::Unknown;
                result.summary = summary.to_string();
                result
            })
            .collect()
    };
    match inspected {
        Err(_) => {
            let mut out = vec![daemon.timed_out(timeout, Status::Unknown)];
            out.extend(unknown_containers(
                "not checked: Docker did not answer in time",
            ));
            out
        }
        Ok(Err(err)) => {
            let (message, hint) = crate::error::describe(&err);
            daemon.status = Status::Unknown;
            daemon.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            daemon.summary = message;
            daemon.hint = hint;
            let mut out = vec![daemon];
            out.extend(unknown_containers("not checked: Docker unreachable"));
            out
        }
        Ok(Ok((engine, latency, states, swarm))) => {
            daemon.status = Status::Ok;
            daemon.latency_ms = Some(latency.as_secs_f64() * 1000.0);
            let (version, api) = (&engine.server_version, &engine.api_version);
            daemon.summary = say!("Docker Engine {version} (API {api})");
            daemon
                .details
                .insert("server_version".into(), json!(engine.server_version));
            daemon
                .details
                .insert("api_version".into(), json!(engine.api_version));
            let mut out = vec![daemon];
            for state in states {
                if let Some(service) = swarm
                    .get(&state.service)
                    .filter(|_| state.container.is_none())
                {
                    let mut result = container_result(&state.service);
                    let (status, summary) = service.verdict();
                    result.status = status;
                    result.summary = summary;
                    result.target = service.name.clone();
                    result
                        .details
                        .insert("swarm_service".into(), json!(service));
                    out.push(result);
                    continue;
                }
                let (status, summary) = container::verdict(&state);
                let mut result = container_result(&state.service);
                // Each replica is a check of its own.
                result.name = state.label();
                result.status = status;
                result.summary = summary;
                if let Some(container) = &state.container {
                    result.target = container.name.clone();
                    result.details.insert("container".into(), json!(container));
                    result
                        .details
                        .insert("resolution".into(), json!(state.resolution));
                } else {
                    let service = &state.service;
                    result.hint = Some(say!(
                        "start it (`docker-compose up -d {service}`), or set services.{service}.container to its container name"
                    ));
                }
                out.push(result);
            }
            out
        }
    }
}
