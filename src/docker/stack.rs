//! Deploying a stack on a Swarm manager through the Engine API: whether the engine is one,
//! secrets and configs as swarm objects, services created, updated and rolled back with
//! Swarm's own service rollback, and how far a service has converged.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use base64::Engine as _;
use bollard::models::{ConfigSpec, SecretSpec, ServiceSpec, TaskState};
use bollard::query_parameters::{
    InspectServiceOptions, ListConfigsOptionsBuilder, ListSecretsOptionsBuilder,
    ListServicesOptionsBuilder, ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};

use super::{within, Engine};
use crate::error::HintExt;

/// A service of the swarm as it is now.
#[derive(Debug, Clone)]
pub struct DeployedService {
    pub id: String,
    pub version: u64,
    pub spec: ServiceSpec,
}

/// How far a service has converged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Convergence {
    pub running: u64,
    pub desired: u64,
    /// The rolling update's state and message, when one ran.
    pub update_state: Option<String>,
    pub update_message: Option<String>,
    /// The newest failures of its tasks: (state, error).
    pub task_errors: Vec<(String, String)>,
}

impl Convergence {
    /// Every task running (healthy, for a service with a healthcheck: a Swarm keeps a task
    /// `starting` until then) and no update under way.
    pub fn converged(&self) -> bool {
        self.running >= self.desired
            && self.desired > 0
            && matches!(self.update_state.as_deref(), None | Some("completed"))
    }

    /// Every task running on the previous spec after a rollback.
    pub fn rolled_back(&self) -> bool {
        self.running >= self.desired
            && self.desired > 0
            && self.update_state.as_deref() == Some("rollback_completed")
    }

    /// Swarm itself gave up on the update: it rolled back or paused.
    pub fn update_failed(&self) -> bool {
        matches!(
            self.update_state.as_deref(),
            Some("paused" | "rollback_started" | "rollback_paused" | "rollback_completed")
        )
    }
}

/// A secret or config as listed: ID, name, labels.
type Listed = (
    Option<String>,
    Option<String>,
    Option<HashMap<String, String>>,
);

/// A secret or a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Secret,
    Config,
}

impl ObjectKind {
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::Secret => "secret",
            ObjectKind::Config => "config",
        }
    }
}

/// The label Swarm puts on a task's container: its service's name.
pub const LABEL_SWARM_SERVICE: &str = "com.docker.swarm.service.name";
/// ... and the task's name, `SERVICE.SLOT.ID` (`SERVICE.NODE.ID` for a global service).
pub const LABEL_SWARM_TASK: &str = "com.docker.swarm.task.name";

/// A task's slot from its name (`gym_web.2.x7k...` -> 2).
pub fn task_slot(task_name: &str) -> Option<u32> {
    task_name.rsplit('.').nth(1)?.parse().ok()
}

impl Engine {
    /// The containers of a swarm service's tasks that run on this engine, as service states
    /// (lowest slot first); empty when there are none here.
    pub async fn task_states(
        &self,
        service: &str,
        swarm_name: &str,
    ) -> Result<Vec<super::ServiceState>> {
        let containers = self.containers().await?;
        let mut out = Vec::new();
        for summary in containers.iter().filter(|c| {
            c.reference
                .labels
                .get(LABEL_SWARM_SERVICE)
                .map(String::as_str)
                == Some(swarm_name)
        }) {
            let inspect = self.inspect(&summary.reference.id).await?;
            out.push(super::ServiceState {
                service: service.to_string(),
                resolution: Some(super::resolve::Resolution::SwarmTask),
                replica: summary
                    .reference
                    .labels
                    .get(LABEL_SWARM_TASK)
                    .and_then(|t| task_slot(t)),
                looked_for: Vec::new(),
                container: Some(super::ContainerFacts::from_inspect(&inspect, summary)),
            });
        }
        // Running ones first, then by slot.
        out.sort_by_key(|s| {
            (
                s.container.as_ref().is_none_or(|c| c.state != "running"),
                s.replica,
            )
        });
        Ok(out)
    }

    /// Whether this engine is a Swarm manager (one that can take services).
    pub async fn is_swarm_manager(&self) -> Result<bool> {
        let info = within(self.timeout, self.docker.info()).await?;
        Ok(info
            .swarm
            .and_then(|s| s.control_available)
            .unwrap_or(false))
    }

    /// A service by name, or None.
    pub async fn deployed_service(&self, name: &str) -> Result<Option<DeployedService>> {
        match within(
            self.timeout,
            self.docker
                .inspect_service(name, None::<InspectServiceOptions>),
        )
        .await
        {
            Ok(service) => Ok(Some(DeployedService {
                id: service.id.unwrap_or_default(),
                version: service.version.and_then(|v| v.index).unwrap_or(0),
                spec: service.spec.unwrap_or_default(),
            })),
            Err(err) if err.chain().any(|c| c.to_string().contains("404")) => Ok(None),
            Err(err) => Err(err.context(format!("cannot inspect swarm service {name}"))),
        }
    }

    pub async fn create_swarm_service(&self, spec: ServiceSpec) -> Result<String> {
        let name = spec.name.clone().unwrap_or_default();
        let created = self
            .call(
                || format!("cannot create swarm service {name}"),
                self.docker.create_service(spec, None),
            )
            .await?;
        Ok(created.id.unwrap_or_default())
    }

    /// Update a service to `spec` (from `version`); the engine's warnings.
    pub async fn update_swarm_service(
        &self,
        service: &DeployedService,
        spec: ServiceSpec,
    ) -> Result<Vec<String>> {
        let name = spec.name.clone().unwrap_or_default();
        let options = UpdateServiceOptionsBuilder::default()
            .version(service.version as i32)
            .build();
        let answer = self
            .call(
                || format!("cannot update swarm service {name}"),
                self.docker.update_service(&service.id, spec, options, None),
            )
            .await?;
        Ok(answer.warnings.unwrap_or_default())
    }

    /// Swarm's own rollback of a service to its previous spec (`docker service rollback`).
    pub async fn rollback_swarm_service(&self, service: &DeployedService) -> Result<()> {
        let name = service.spec.name.clone().unwrap_or_default();
        let options = UpdateServiceOptionsBuilder::default()
            .version(service.version as i32)
            .rollback("previous")
            .build();
        match self
            .call(
                || format!("cannot roll back swarm service {name}"),
                self.docker
                    .update_service(&service.id, service.spec.clone(), options, None),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.chain().any(|c| c.to_string().contains("previous spec")) => Err(
                anyhow!("swarm service {name} has no previous spec to roll back to"),
            )
            .hint("it has run one spec only; `gymops down` removes the stack"),
            Err(err) => Err(err),
        }
    }

    /// How far `name` has converged: running against desired tasks, the update's state, and
    /// why its newest tasks failed.
    pub async fn convergence(&self, name: &str) -> Result<Convergence> {
        let filters = HashMap::from([("name", vec![name.to_string()])]);
        let options = ListServicesOptionsBuilder::default()
            .filters(&filters)
            .status(true)
            .build();
        let services = within(self.timeout, self.docker.list_services(Some(options))).await?;
        let Some(service) = services
            .into_iter()
            .find(|s| s.spec.as_ref().and_then(|s| s.name.as_deref()) == Some(name))
        else {
            return Err(anyhow!("swarm service {name} is gone"));
        };
        let status = service.service_status.unwrap_or_default();
        let update = service.update_status.unwrap_or_default();
        let filters = HashMap::from([("service", vec![name.to_string()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let mut tasks = within(self.timeout, self.docker.list_tasks(Some(options))).await?;
        tasks.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        let task_errors = tasks
            .iter()
            .filter_map(|task| {
                let status = task.status.as_ref()?;
                let state = status.state?;
                matches!(
                    state,
                    TaskState::FAILED | TaskState::REJECTED | TaskState::ORPHANED
                )
                .then(|| {
                    (
                        state.to_string(),
                        status
                            .err
                            .clone()
                            .or_else(|| status.message.clone())
                            .unwrap_or_default(),
                    )
                })
            })
            .take(3)
            .collect();
        Ok(Convergence {
            running: status.running_tasks.unwrap_or(0),
            desired: status.desired_tasks.unwrap_or(0),
            update_state: update.state.map(|s| s.to_string()),
            update_message: update.message,
            task_errors,
        })
    }

    /// A secret or config by name: (ID, labels).
    pub async fn swarm_object(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<Option<(String, HashMap<String, String>)>> {
        let filters = HashMap::from([("name", vec![name.to_string()])]);
        let found: Vec<Listed> = match kind {
            ObjectKind::Secret => {
                let options = ListSecretsOptionsBuilder::default()
                    .filters(&filters)
                    .build();
                within(self.timeout, self.docker.list_secrets(Some(options)))
                    .await?
                    .into_iter()
                    .map(|s| {
                        let spec = s.spec.unwrap_or_default();
                        (s.id, spec.name, spec.labels)
                    })
                    .collect()
            }
            ObjectKind::Config => {
                let options = ListConfigsOptionsBuilder::default()
                    .filters(&filters)
                    .build();
                within(self.timeout, self.docker.list_configs(Some(options)))
                    .await?
                    .into_iter()
                    .map(|c| {
                        let spec = c.spec.unwrap_or_default();
                        (c.id, spec.name, spec.labels)
                    })
                    .collect()
            }
        };
        // The name filter matches prefixes: the exact one only.
        Ok(found.into_iter().find_map(|(id, found_name, labels)| {
            (found_name.as_deref() == Some(name))
                .then(|| (id.unwrap_or_default(), labels.unwrap_or_default()))
        }))
    }

    /// Create a secret or config holding `data`; its ID. The content never leaves this call
    /// but in the request body.
    pub async fn create_swarm_object(
        &self,
        kind: ObjectKind,
        name: &str,
        data: &[u8],
        labels: HashMap<String, String>,
    ) -> Result<String> {
        let data = base64::engine::general_purpose::STANDARD.encode(data);
        let what = || format!("cannot create swarm {} {name}", kind.label());
        let created = match kind {
            ObjectKind::Secret => {
                self.call(
                    what,
                    self.docker.create_secret(SecretSpec {
                        name: Some(name.to_string()),
                        labels: Some(labels),
                        data: Some(data),
                        ..Default::default()
                    }),
                )
                .await?
            }
            ObjectKind::Config => {
                self.call(
                    what,
                    self.docker.create_config(ConfigSpec {
                        name: Some(name.to_string()),
                        labels: Some(labels),
                        data: Some(data),
                        ..Default::default()
                    }),
                )
                .await?
            }
        };
        Ok(created.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tasks_slot_comes_from_its_name() {
        assert_eq!(task_slot("gym_web.2.x7kq0l3m"), Some(2));
        assert_eq!(task_slot("gym.web.v2.12.abc"), Some(12));
        assert_eq!(task_slot("gym_agent.n0d31d.abc"), None);
    }

    #[test]
    fn converged_means_every_task_running_and_no_update_under_way() {
        let mut c = Convergence {
            running: 2,
            desired: 2,
            ..Convergence::default()
        };
        assert!(c.converged());
        c.update_state = Some("updating".into());
        assert!(!c.converged() && !c.update_failed());
        c.update_state = Some("rollback_completed".into());
        assert!(
            c.update_failed(),
            "a deploy whose update Swarm rolled back failed"
        );
        assert!(
            !c.converged() && c.rolled_back(),
            "and the rollback itself is done"
        );
        c.update_state = Some("completed".into());
        c.running = 1;
        assert!(!c.converged());
    }
}
