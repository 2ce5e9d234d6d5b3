//! `docker stats` for the deployment's services: every running container sampled at once.
//! Used by `perf stats` and by incident evidence.

use anyhow::Result;
use serde::Serialize;

use super::stats::Usage;
use super::Engine;

#[derive(Debug, Serialize)]
pub struct StatsRow {
    pub service: String,
    pub container: Option<String>,
    /// running, exited, missing, ...
    pub state: String,
    #[serde(flatten)]
    pub usage: Option<Usage>,
    /// Why there are no numbers, when there are none.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatsOutput {
    pub read_at: String,
    pub services: Vec<StatsRow>,
}

/// Every running container sampled at once (see [`Engine::usages`]).
pub async fn sample(
    settings: &crate::settings::Settings,
    engine: &Engine,
    services: &[String],
) -> Result<StatsOutput> {
    let mut states = Vec::new();
    // A service with no container of its own may run as a swarm service of the stack: its
    // tasks' containers on this engine are sampled (one row each).
    let project = super::resolve::normalize_project(&settings.project);
    for state in engine.service_states(settings, services).await? {
        if state.container.is_none() {
            let swarm_name = format!("{project}_{}", state.service);
            let tasks = engine.task_states(&state.service, &swarm_name).await?;
            if !tasks.is_empty() {
                states.extend(tasks);
                continue;
            }
        }
        states.push(state);
    }
    let read_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut readings = engine.running_usages(&states).await.into_iter();
    let rows = states
        .iter()
        .map(|state| {
            let (container, state_word, reading) = match &state.container {
                None => (
                    None,
                    crate::say!("missing"),
                    Err(crate::say!("no container")),
                ),
                Some(container) if container.state != "running" => (
                    Some(container.name.clone()),
                    container.state.clone(),
                    Err("not running".to_string()),
                ),
                Some(container) => {
                    let reading = readings
                        .next()
                        .unwrap_or_else(|| Err(anyhow::anyhow!("no reading")))
                        .map_err(|err| crate::error::describe(&err).0);
                    (
                        Some(container.name.clone()),
                        container.state.clone(),
                        reading,
                    )
                }
            };
            StatsRow {
                service: state.service.clone(),
                container,
                state: state_word,
                usage: reading.as_ref().ok().cloned(),
                error: reading.err(),
            }
        })
        .collect();
    Ok(StatsOutput {
        read_at,
        services: rows,
    })
}
