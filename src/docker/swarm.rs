//! Swarm services of the deployment's stack, as `docker stack deploy` names and labels them
//! (`PROJECT_SERVICE`, `com.docker.stack.namespace=PROJECT`): what `health` and `ps` show for
//! a service that runs as a swarm service rather than as containers of this engine.

use std::collections::HashMap;

use anyhow::Result;
use bollard::query_parameters::ListServicesOptionsBuilder;
use serde::Serialize;

use super::{within, Engine};
use crate::exit::Status;

/// The stack label `docker stack deploy` puts on every service it makes.
pub const STACK_NAMESPACE: &str = "com.docker.stack.namespace";

/// One swarm service of the stack.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SwarmService {
    /// The compose service (the swarm service's name without `PROJECT_`).
    pub service: String,
    /// The swarm service's name.
    pub name: String,
    pub image: Option<String>,
    /// `replicated` or `global`.
    pub mode: String,
    pub running_tasks: u64,
    pub desired_tasks: u64,
    /// The rolling update's state when one ran (`updating`, `completed`, `paused`,
    /// `rollback_started`, `rollback_completed`, ...).
    pub update_state: Option<String>,
}

impl SwarmService {
    /// Critical below the desired count; a paused update, or a rollback under way, is a
    /// warning. A finished rollback is not: the service runs its previous spec, as asked
    /// (`gymops rollback`) or as its update_config said (the failed deploy said so itself).
    pub fn verdict(&self) -> (Status, String) {
        let tasks = format!(
            "swarm service {}: {} of {} tasks running",
            self.name, self.running_tasks, self.desired_tasks
        );
        let update = self
            .update_state
            .as_deref()
            .map(|s| format!(", update {s}"))
            .unwrap_or_default();
        if self.running_tasks < self.desired_tasks {
            return (Status::Critical, format!("{tasks}{update}"));
        }
        match self.update_state.as_deref() {
            Some("paused" | "rollback_paused" | "rollback_started") => {
                (Status::Warning, format!("{tasks}{update}"))
            }
            _ => (Status::Ok, format!("{tasks}{update}")),
        }
    }
}

impl Engine {
    /// The stack's swarm services by compose service name; empty when the engine is not a
    /// swarm manager (plain engines answer 503 to the services list).
    pub async fn stack_services(&self, project: &str) -> Result<HashMap<String, SwarmService>> {
        Ok(self.managed_stack(project).await?.unwrap_or_default())
    }

    /// The stack's swarm services, or None when the engine is not a swarm manager.
    async fn managed_stack(&self, project: &str) -> Result<Option<HashMap<String, SwarmService>>> {
        let filters = HashMap::from([("label", vec![format!("{STACK_NAMESPACE}={project}")])]);
        let options = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .status(true)
            .build();
        let services = match within(self.timeout, self.docker.list_services(Some(options))).await {
            Ok(services) => services,
            Err(err) if not_a_manager(&err) => return Ok(None),
            Err(err) => return Err(err.context("cannot list the swarm services")),
        };
        let prefix = format!("{project}_");
        Ok(Some(
            services
                .into_iter()
                .filter_map(|service| {
                    let spec = service.spec?;
                    let name = spec.name.clone()?;
                    let short = name.strip_prefix(&prefix)?.to_string();
                    let mode = match spec.mode.as_ref() {
                        Some(mode) if mode.global.is_some() => "global",
                        _ => "replicated",
                    };
                    let status = service.service_status.unwrap_or_default();
                    let image = spec
                        .task_template
                        .and_then(|t| t.container_spec)
                        .and_then(|c| c.image)
                        .map(|i| i.split('@').next().unwrap_or(&i).to_string());
                    Some((
                        short.clone(),
                        SwarmService {
                            service: short,
                            name,
                            image,
                            mode: mode.into(),
                            running_tasks: status.running_tasks.unwrap_or(0),
                            desired_tasks: status.desired_tasks.unwrap_or(0),
                            update_state: service
                                .update_status
                                .and_then(|u| u.state)
                                .map(|s| s.to_string()),
                        },
                    ))
                })
                .collect(),
        ))
    }
}

/// What `down` removes of a stack, as `docker stack rm` does: its services (then waits for
/// their tasks to go), then its secrets, configs and networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackPart {
    Service,
    Secret,
    Config,
    Network,
}

impl StackPart {
    pub fn label(self) -> &'static str {
        match self {
            StackPart::Service => "swarm service",
            StackPart::Secret => "swarm secret",
            StackPart::Config => "swarm config",
            StackPart::Network => "network",
        }
    }
}

impl Engine {
    /// Remove the stack: every service, secret, config and network labelled
    /// `com.docker.stack.namespace=PROJECT`; each part's name and how its removal went.
    /// Nothing on an engine that is not a swarm manager. Services go first, and their tasks
    /// are waited for (at most `wait`), so that the networks are free to go.
    pub async fn remove_stack(
        &self,
        project: &str,
        wait: std::time::Duration,
    ) -> Result<Vec<(StackPart, String, Result<()>)>> {
        let Some(services) = self.managed_stack(project).await? else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        let mut names: Vec<&String> = services.values().map(|s| &s.name).collect();
        names.sort();
        for name in &names {
            let result = within(self.timeout, self.docker.delete_service(name))
                .await
                .map(|_| ());
            removed.push((StackPart::Service, (*name).clone(), result));
        }
        let deadline = std::time::Instant::now() + wait;
        for name in &names {
            while std::time::Instant::now() < deadline {
                let filters = HashMap::from([("service", vec![(*name).clone()])]);
                let options = bollard::query_parameters::ListTasksOptionsBuilder::default()
                    .filters(&filters)
                    .build();
                match within(self.timeout, self.docker.list_tasks(Some(options))).await {
                    Ok(tasks) if !tasks.is_empty() => {
                        tokio::time::sleep(std::time::Duration::from_millis(250)).await
                    }
                    _ => break,
                }
            }
        }
        let label = HashMap::from([("label", vec![format!("{STACK_NAMESPACE}={project}")])]);
        let secrets = bollard::query_parameters::ListSecretsOptionsBuilder::default()
            .filters(&label)
            .build();
        let configs = bollard::query_parameters::ListConfigsOptionsBuilder::default()
            .filters(&label)
            .build();
        // (part, id, name) of each secret and config of the stack, then one removal loop.
        let mut objects: Vec<(StackPart, Option<String>, Option<String>)> = Vec::new();
        for secret in within(self.timeout, self.docker.list_secrets(Some(secrets))).await? {
            let name = secret.spec.and_then(|s| s.name);
            objects.push((StackPart::Secret, secret.id, name));
        }
        for config in within(self.timeout, self.docker.list_configs(Some(configs))).await? {
            let name = config.spec.and_then(|s| s.name);
            objects.push((StackPart::Config, config.id, name));
        }
        for (part, id, name) in objects {
            let (Some(id), Some(name)) = (id, name) else {
                continue;
            };
            let result = if part == StackPart::Secret {
                within(self.timeout, self.docker.delete_secret(&id)).await
            } else {
                within(self.timeout, self.docker.delete_config(&id)).await
            };
            removed.push((part, name, result));
        }
        let networks = bollard::query_parameters::ListNetworksOptionsBuilder::default()
            .filters(&label)
            .build();
        for network in within(self.timeout, self.docker.list_networks(Some(networks))).await? {
            let Some(name) = network.name else { continue };
            let result = self.remove_network(&name).await;
            removed.push((StackPart::Network, name, result));
        }
        Ok(removed)
    }
}

fn not_a_manager(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let text = cause.to_string();
        text.contains("not a swarm manager") || text.contains("503")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(running: u64, desired: u64, update: Option<&str>) -> SwarmService {
        SwarmService {
            service: "web".into(),
            name: "gym_web".into(),
            image: Some("gym/web:1".into()),
            mode: "replicated".into(),
            running_tasks: running,
            desired_tasks: desired,
            update_state: update.map(str::to_string),
        }
    }

    #[test]
    fn a_service_below_its_desired_count_is_critical() {
        assert_eq!(service(2, 2, None).verdict().0, Status::Ok);
        let (status, summary) = service(1, 2, Some("updating")).verdict();
        assert_eq!(status, Status::Critical);
        assert_eq!(
            summary,
            "swarm service gym_web: 1 of 2 tasks running, update updating"
        );
        assert_eq!(
            service(2, 2, Some("rollback_started")).verdict().0,
            Status::Warning
        );
        assert_eq!(
            service(2, 2, Some("rollback_completed")).verdict().0,
            Status::Ok
        );
        assert_eq!(service(2, 2, Some("completed")).verdict().0, Status::Ok);
    }
}
