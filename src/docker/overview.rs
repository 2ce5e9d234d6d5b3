//! The deployment's services as `ps` shows them: a row per service with its container,
//! image, state, health, uptime, restarts and ports. Used by `ps` and by incident evidence.

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::resolve::Resolution;
use super::{split_image, Engine, ServiceState};

/// One service, as `ps --output json` prints it.
#[derive(Debug, Serialize)]
pub struct PsRow {
    pub service: String,
    /// compose's container number, when the service runs more than one container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
    /// Container name; null when no container was found.
    pub container: Option<String>,
    pub id: Option<String>,
    pub image: Option<String>,
    pub tag: Option<String>,
    /// Container state, or `missing`.
    pub state: String,
    /// starting / healthy / unhealthy; null without a healthcheck.
    pub health: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// Seconds since start, while running.
    pub uptime_seconds: Option<i64>,
    pub restart_count: Option<i64>,
    pub ports: Vec<String>,
    pub resolution: Option<Resolution>,
    /// The stack's swarm service, when the service runs as one (no container of its own on
    /// this engine): its tasks running and desired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm: Option<super::swarm::SwarmService>,
}

#[derive(Debug, Serialize)]
pub struct PsOutput {
    pub project: String,
    pub docker_host: String,
    pub services: Vec<PsRow>,
}

/// The rows of `ps` for these services (empty: all).
pub async fn collect(
    settings: &crate::settings::Settings,
    engine: &Engine,
    services: &[String],
) -> Result<PsOutput> {
    let states = engine.service_states(settings, services).await?;
    let swarm = if states.iter().any(|s| s.container.is_none()) {
        engine.stack_services(&settings.project).await?
    } else {
        Default::default()
    };
    let now = Utc::now();
    Ok(PsOutput {
        project: settings.project.clone(),
        docker_host: engine.address.clone(),
        services: states
            .iter()
            .map(|state| {
                let mut row = row(state, now);
                if let Some(service) = swarm
                    .get(&state.service)
                    .filter(|_| row.container.is_none())
                {
                    let (image, tag) = service
                        .image
                        .as_deref()
                        .map(split_image)
                        .map(|(i, t)| (Some(i), Some(t)))
                        .unwrap_or((None, None));
                    row.image = image;
                    row.tag = tag;
                    row.state = format!(
                        "{}/{} tasks running",
                        service.running_tasks, service.desired_tasks
                    );
                    row.swarm = Some(service.clone());
                }
                row
            })
            .collect(),
    })
}

fn row(state: &ServiceState, now: DateTime<Utc>) -> PsRow {
    match &state.container {
        None => PsRow {
            service: state.service.clone(),
            replica: None,
            container: None,
            id: None,
            image: None,
            tag: None,
            state: crate::say!("missing"),
            health: None,
            started_at: None,
            uptime_seconds: None,
            restart_count: None,
            ports: Vec::new(),
            resolution: None,
            swarm: None,
        },
        Some(container) => {
            let (image, tag) = split_image(&container.image);
            let running = matches!(container.state.as_str(), "running" | "paused");
            PsRow {
                service: state.service.clone(),
                replica: state.replica,
                container: Some(container.name.clone()),
                id: Some(container.id.clone()),
                image: Some(image),
                tag: Some(tag),
                state: container.state.clone(),
                health: container.health.clone(),
                started_at: container.started_at,
                uptime_seconds: container
                    .started_at
                    .filter(|_| running)
                    .map(|started| (now - started).num_seconds().max(0)),
                restart_count: Some(container.restart_count),
                ports: container.ports.clone(),
                resolution: state.resolution,
                swarm: None,
            }
        }
    }
}
