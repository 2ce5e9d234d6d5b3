//! From a compose service to a Swarm service spec, as `docker stack deploy` makes it: names
//! `PROJECT_SERVICE`, the `com.docker.stack.namespace` label on the service, its containers,
//! networks, secrets and configs; overlay networks; secrets and configs as swarm objects.
//! Pure: the objects' IDs and the image are looked up by the caller.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    EndpointPortConfig, EndpointSpec, Limit, NetworkAttachmentConfig, NetworkCreateRequest,
    ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecRollbackConfig, ServiceSpecUpdateConfig, TaskSpec, TaskSpecContainerSpec,
    TaskSpecContainerSpecConfigs, TaskSpecContainerSpecDnsConfig, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets, TaskSpecLogDriver, TaskSpecPlacement,
    TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy,
};
use sha2::{Digest, Sha256};

use super::super::create::{
    self, expand, grant_target, health_config, nanos, ulimits, volume_mounts,
};
use crate::compose::model::swarm::UpdateConfig;
use crate::compose::model::{Network, Source};
use crate::compose::{File, Service};
use crate::docker::swarm::STACK_NAMESPACE;

/// `docker stack deploy`'s label of the image a service was deployed with.
pub const LABEL_STACK_IMAGE: &str = "com.docker.stack.image";
/// gymops' digest of a service's spec (with the image ID): unchanged means no update.
pub const LABEL_SPEC_DIGEST: &str = "io.gymops.spec-digest";
/// gymops' digest of a secret's or config's content (swarm objects cannot be read back).
pub const LABEL_CONTENT_DIGEST: &str = "io.gymops.content-digest";

/// The swarm service of a compose service.
pub fn service_name(project: &str, service: &str) -> String {
    format!("{project}_{service}")
}

/// The swarm network of a compose network key (`default`: `PROJECT_default`).
pub fn network_name(project: &str, key: &str, model: &File) -> String {
    if key == "default" {
        format!("{project}_default")
    } else {
        crate::deploy::spec::resource_name(project, key, model.networks.get(key))
    }
}

/// The stack's label, on everything it makes.
pub fn stack_labels(project: &str) -> HashMap<String, String> {
    HashMap::from([(STACK_NAMESPACE.to_string(), project.to_string())])
}

/// An overlay network of the stack (a declared driver wins; attachable so that one-off
/// containers can join, as `docker stack deploy` leaves it to the file).
pub fn network_request(
    project: &str,
    name: String,
    network: Option<&Network>,
) -> NetworkCreateRequest {
    let mut request = create::network_request(name, network, stack_labels(project));
    if network.and_then(|n| n.driver.as_ref()).is_none() {
        request.driver = Some("overlay".into());
    }
    request
}

/// The networks the selected services join that the stack makes: (key, engine name).
pub fn stack_networks<'a>(
    project: &str,
    model: &'a File,
    services: &[String],
) -> Vec<(String, String, Option<&'a Network>)> {
    let mut out: Vec<(String, String, Option<&'a Network>)> = Vec::new();
    for name in services {
        let service = &model.services[name];
        let keys: Vec<String> = if service.networks.is_empty() {
            vec!["default".to_string()]
        } else {
            service.networks.keys().cloned().collect()
        };
        for key in keys {
            let declared = model.networks.get(&key);
            if declared.is_some_and(|n| n.external) || out.iter().any(|(k, ..)| *k == key) {
                continue;
            }
            out.push((key.clone(), network_name(project, &key, model), declared));
        }
    }
    out
}

/// The name of a secret or config of the stack: its `name:`, else `PROJECT_KEY`; with a
/// digest suffix when an object of that name already holds other content (swarm objects
/// cannot change).
pub fn object_name(project: &str, key: &str, source: &Source, digest: Option<&str>) -> String {
    let base = source
        .name
        .clone()
        .unwrap_or_else(|| format!("{project}_{key}"));
    match digest {
        Some(digest) => format!("{base}-{}", &digest[..12.min(digest.len())]),
        None => base,
    }
}

/// The hex SHA-256 of bytes.
pub fn digest(bytes: &[u8]) -> String {
    crate::random::hex(&Sha256::digest(bytes))
}

/// A swarm secret or config a service refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub id: String,
    pub name: String,
}

/// What a stack's services need that the swarm holds: secrets and configs by compose key.
#[derive(Debug, Default)]
pub struct Objects {
    pub secrets: BTreeMap<String, ObjectRef>,
    pub configs: BTreeMap<String, ObjectRef>,
}

/// The keys of a service a Swarm service cannot have, as `docker stack deploy` ignores
/// them (each named in a warning, with what to do).
pub fn unsupported(name: &str, service: &Service) -> Vec<String> {
    let mut keys: Vec<&str> = Vec::new();
    for (key, given) in [
        ("container_name", service.container_name.is_some()),
        ("privileged", service.privileged.is_some()),
        ("devices", !service.devices.is_empty()),
        ("network_mode", service.network_mode.is_some()),
        ("pid", service.pid.is_some()),
        ("ipc", service.ipc.is_some()),
        ("links", !service.links.is_empty()),
        ("external_links", !service.external_links.is_empty()),
        ("volumes_from", !service.volumes_from.is_empty()),
        ("security_opt", !service.security_opt.is_empty()),
        ("cgroup_parent", service.cgroup_parent.is_some()),
        ("userns_mode", service.userns_mode.is_some()),
        ("shm_size", service.shm_size.is_some()),
        ("tmpfs", !service.tmpfs.is_empty()),
        (
            "restart",
            service.restart.is_some()
                && service
                    .swarm
                    .as_ref()
                    .and_then(|s| s.restart_policy.as_ref())
                    .is_none(),
        ),
        ("depends_on", !service.depends_on.is_empty()),
        ("expose", !service.expose.is_empty()),
        ("domainname", service.domainname.is_some()),
        ("runtime", service.runtime.is_some()),
        ("storage_opt", !service.storage_opt.is_empty()),
        ("oom_kill_disable", service.oom_kill_disable.is_some()),
        (
            "cpuset",
            service
                .resources
                .as_ref()
                .is_some_and(|r| r.cpuset.is_some()),
        ),
        (
            "cpu_shares",
            service
                .resources
                .as_ref()
                .is_some_and(|r| r.cpu_shares.is_some()),
        ),
        (
            "memswap_limit",
            service
                .resources
                .as_ref()
                .is_some_and(|r| r.memory_swap.is_some()),
        ),
        (
            "cpu_quota",
            service
                .resources
                .as_ref()
                .is_some_and(|r| r.cpu_quota.is_some() || r.cpu_period.is_some()),
        ),
        ("group_add", !service.group_add.is_empty()),
    ] {
        if given {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "services.{name}: a Swarm service has no {} (docker stack deploy ignores them too); they are not applied",
        keys.join(", ")
    )];
    if !service.depends_on.is_empty() {
        out.push(format!(
            "services.{name}.depends_on: a Swarm starts services in no order; gymops waits for every service to converge and then runs the gate"
        ));
    }
    out
}

fn update_config(config: &UpdateConfig) -> ServiceSpecUpdateConfig {
    ServiceSpecUpdateConfig {
        parallelism: config.parallelism.map(|p| p as i64),
        delay: config.delay.map(nanos),
        failure_action: config
            .failure_action
            .as_deref()
            .and_then(|a| a.parse().ok()),
        monitor: config.monitor.map(nanos),
        max_failure_ratio: config.max_failure_ratio,
        order: config.order.as_deref().and_then(|o| o.parse().ok()),
    }
}

fn rollback_config(config: &UpdateConfig) -> ServiceSpecRollbackConfig {
    ServiceSpecRollbackConfig {
        parallelism: config.parallelism.map(|p| p as i64),
        delay: config.delay.map(nanos),
        failure_action: config
            .failure_action
            .as_deref()
            .and_then(|a| a.parse().ok()),
        monitor: config.monitor.map(nanos),
        max_failure_ratio: config.max_failure_ratio,
        order: config.order.as_deref().and_then(|o| o.parse().ok()),
    }
}

/// `restart:` of a service without `deploy.restart_policy`, as a Swarm reads it.
fn restart_from(restart: Option<&str>) -> Option<TaskSpecRestartPolicy> {
    let (condition, attempts) = match restart? {
        "no" => ("none", None),
        "always" | "unless-stopped" => ("any", None),
        other => match other.split_once(':') {
            Some(("on-failure", n)) => ("on-failure", n.parse::<i64>().ok()),
            _ => ("on-failure", None),
        },
    };
    Some(TaskSpecRestartPolicy {
        condition: condition.parse().ok(),
        max_attempts: attempts,
        ..Default::default()
    })
}

/// One service of the stack.
pub struct ServiceInput<'a> {
    pub project: &'a str,
    pub model: &'a File,
    pub name: &'a str,
    pub service: &'a Service,
    /// The image reference the tasks run.
    pub image: &'a str,
    /// Its ID here, part of the spec digest (a rebuilt image under the same tag updates).
    pub image_id: &'a str,
    pub environment: &'a BTreeMap<String, String>,
    pub replicas: u32,
    pub objects: &'a Objects,
}

/// The service spec, with gymops' digest of it in the task's labels (so that a change of
/// anything, the image ID included, rolls the tasks and nothing else does).
pub fn service_spec(input: &ServiceInput) -> ServiceSpec {
    let service = input.service;
    let swarm = service.swarm.clone().unwrap_or_default();
    let ctx = create::Context {
        project: input.project,
        model: input.model,
    };
    let mut container_labels: HashMap<String, String> = service
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    container_labels.extend(stack_labels(input.project));
    let grant = |secret: bool, grant: &crate::compose::model::Grant| {
        let target = grant_target(secret, grant);
        let file_name = if secret {
            target
                .strip_prefix("/run/secrets/")
                .unwrap_or(&target)
                .to_string()
        } else {
            target
        };
        (
            file_name,
            grant.uid.unwrap_or(0).to_string(),
            grant.gid.unwrap_or(0).to_string(),
            grant.mode.unwrap_or(0o444),
        )
    };
    let secrets: Vec<TaskSpecContainerSpecSecrets> = service
        .secrets
        .iter()
        .filter_map(|g| {
            let object = input.objects.secrets.get(&g.source)?;
            let (name, uid, gid, mode) = grant(true, g);
            Some(TaskSpecContainerSpecSecrets {
                file: Some(TaskSpecContainerSpecFile {
                    name: Some(name),
                    uid: Some(uid),
                    gid: Some(gid),
                    mode: Some(mode),
                }),
                secret_id: Some(object.id.clone()),
                secret_name: Some(object.name.clone()),
            })
        })
        .collect();
    let configs: Vec<TaskSpecContainerSpecConfigs> = service
        .configs
        .iter()
        .filter_map(|g| {
            let object = input.objects.configs.get(&g.source)?;
            let (name, uid, gid, mode) = grant(false, g);
            Some(TaskSpecContainerSpecConfigs {
                file: Some(TaskSpecContainerSpecFile1 {
                    name: Some(name),
                    uid: Some(uid),
                    gid: Some(gid),
                    mode: Some(mode),
                }),
                config_id: Some(object.id.clone()),
                config_name: Some(object.name.clone()),
                ..Default::default()
            })
        })
        .collect();
    let some_list = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
    let container = TaskSpecContainerSpec {
        image: Some(input.image.to_string()),
        labels: Some(container_labels),
        command: service.entrypoint.clone(),
        args: service.command.clone(),
        hostname: service.hostname.clone(),
        env: Some(
            input
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        dir: service.working_dir.clone(),
        user: service.user.clone(),
        tty: service.tty,
        open_stdin: service.stdin_open,
        read_only: service.read_only,
        mounts: Some(volume_mounts(&ctx, service)).filter(|m| !m.is_empty()),
        stop_signal: service.stop_signal.clone(),
        stop_grace_period: service.stop_grace_period.map(nanos),
        health_check: health_config(service),
        // compose's `host:ip` is the engine's `ip host`.
        hosts: some_list(
            &service
                .extra_hosts
                .iter()
                .map(|h| match h.split_once(':') {
                    Some((host, ip)) => format!("{ip} {host}"),
                    None => h.clone(),
                })
                .collect(),
        ),
        dns_config: (!service.dns.is_empty()
            || !service.dns_search.is_empty()
            || !service.dns_opt.is_empty())
        .then(|| TaskSpecContainerSpecDnsConfig {
            nameservers: some_list(&service.dns),
            search: some_list(&service.dns_search),
            options: some_list(&service.dns_opt),
        }),
        secrets: (!secrets.is_empty()).then_some(secrets),
        configs: (!configs.is_empty()).then_some(configs),
        init: service.init,
        sysctls: (!service.sysctls.is_empty())
            .then(|| service.sysctls.clone().into_iter().collect()),
        capability_add: some_list(&service.cap_add),
        capability_drop: some_list(&service.cap_drop),
        ulimits: ulimits(service),
        ..Default::default()
    };
    let limits = service.resources.clone().unwrap_or_default();
    let resources = TaskSpecResources {
        limits: (limits.cpus.is_some() || limits.memory.is_some() || limits.pids.is_some()).then(
            || Limit {
                nano_cpus: limits.cpus.map(|c| (c * 1e9) as i64),
                memory_bytes: limits.memory.map(|m| m as i64),
                pids: limits.pids,
            },
        ),
        reservations: (swarm.cpus_reservation.is_some() || limits.memory_reservation.is_some())
            .then(|| ResourceObject {
                nano_cpus: swarm.cpus_reservation.map(|c| (c * 1e9) as i64),
                memory_bytes: limits.memory_reservation.map(|m| m as i64),
                ..Default::default()
            }),
        ..Default::default()
    };
    let restart_policy = match &swarm.restart_policy {
        Some(policy) => Some(TaskSpecRestartPolicy {
            condition: policy.condition.parse().ok(),
            delay: policy.delay.map(nanos),
            max_attempts: policy.max_attempts.map(i64::from),
            window: policy.window.map(nanos),
        }),
        None => restart_from(service.restart.as_deref()),
    };
    let placement = (!swarm.constraints.is_empty()
        || !swarm.spread.is_empty()
        || swarm.max_replicas_per_node.is_some())
    .then(|| TaskSpecPlacement {
        constraints: some_list(&swarm.constraints),
        preferences: (!swarm.spread.is_empty()).then(|| {
            swarm
                .spread
                .iter()
                .map(|s| TaskSpecPlacementPreferences {
                    spread: Some(TaskSpecPlacementSpread {
                        spread_descriptor: Some(s.clone()),
                    }),
                })
                .collect()
        }),
        max_replicas: swarm.max_replicas_per_node.map(|m| m as i64),
        ..Default::default()
    });
    let network_keys: Vec<String> = if service.networks.is_empty() {
        vec!["default".into()]
    } else {
        service.networks.keys().cloned().collect()
    };
    let networks: Vec<NetworkAttachmentConfig> = network_keys
        .iter()
        .map(|key| {
            let target = network_name(input.project, key, input.model);
            // The host network takes no aliases.
            let aliases = (target != "host").then(|| {
                let mut aliases = vec![input.name.to_string()];
                aliases.extend(service.networks.get(key).cloned().unwrap_or_default());
                aliases
            });
            NetworkAttachmentConfig {
                target: Some(target),
                aliases,
                ..Default::default()
            }
        })
        .collect();
    let mut ports = Vec::new();
    for port in &service.ports {
        let targets = expand(&port.target);
        let published = port.published.as_deref().map(expand).unwrap_or_default();
        for (index, target) in targets.iter().enumerate() {
            ports.push(EndpointPortConfig {
                protocol: port.protocol.parse().ok(),
                target_port: target.parse().ok(),
                published_port: published.get(index).and_then(|p| p.parse().ok()),
                publish_mode: port.mode.as_deref().unwrap_or("ingress").parse().ok(),
                ..Default::default()
            });
        }
    }
    let mut task = TaskSpec {
        container_spec: Some(container),
        resources: Some(resources),
        restart_policy,
        placement,
        networks: Some(networks),
        log_driver: service.logging.as_ref().map(|l| TaskSpecLogDriver {
            name: l.driver.clone(),
            options: Some(l.options.clone().into_iter().collect()),
        }),
        ..Default::default()
    };
    let mut service_labels: HashMap<String, String> = swarm.labels.clone().into_iter().collect();
    service_labels.extend(stack_labels(input.project));
    service_labels.insert(LABEL_STACK_IMAGE.into(), input.image.to_string());
    let mut spec = ServiceSpec {
        name: Some(service_name(input.project, input.name)),
        labels: Some(service_labels),
        task_template: None,
        mode: Some(if swarm.global {
            ServiceSpecMode {
                global: Some(HashMap::new()),
                ..Default::default()
            }
        } else {
            ServiceSpecMode {
                replicated: Some(ServiceSpecModeReplicated {
                    replicas: Some(i64::from(input.replicas)),
                }),
                ..Default::default()
            }
        }),
        update_config: swarm.update_config.as_ref().map(update_config),
        rollback_config: swarm.rollback_config.as_ref().map(rollback_config),
        endpoint_spec: Some(EndpointSpec {
            mode: swarm.endpoint_mode.as_deref().and_then(|m| m.parse().ok()),
            ports: (!ports.is_empty()).then_some(ports),
        }),
        ..Default::default()
    };
    // The digest of everything but itself, with the image ID.
    let canonical = serde_json::json!({
        "task": task,
        "service": spec,
        "image_id": input.image_id,
    });
    let spec_digest = digest(canonical.to_string().as_bytes());
    if let Some(labels) = task.container_spec.as_mut().and_then(|c| c.labels.as_mut()) {
        labels.insert(LABEL_SPEC_DIGEST.into(), spec_digest.clone());
    }
    if let Some(labels) = spec.labels.as_mut() {
        labels.insert(LABEL_SPEC_DIGEST.into(), spec_digest);
    }
    spec.task_template = Some(task);
    spec
}

/// The spec digest a service was deployed with (None: not by gymops).
pub fn deployed_digest(spec: &ServiceSpec) -> Option<&str> {
    spec.labels
        .as_ref()
        .and_then(|l| l.get(LABEL_SPEC_DIGEST))
        .map(String::as_str)
}

/// The image a service runs as deployed: `docker stack deploy`'s label, else its task's
/// image without the digest the engine pinned.
pub fn deployed_image(spec: &ServiceSpec) -> Option<String> {
    spec.labels
        .as_ref()
        .and_then(|l| l.get(LABEL_STACK_IMAGE))
        .cloned()
        .or_else(|| {
            let image = spec
                .task_template
                .as_ref()?
                .container_spec
                .as_ref()?
                .image
                .clone()?;
            Some(image.split('@').next().unwrap_or(&image).to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> File {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker-compose.yml");
        std::fs::write(&path, text).unwrap();
        std::fs::write(dir.path().join("pw.txt"), "x").unwrap();
        crate::compose::load(&[path], None, &BTreeMap::new())
            .unwrap()
            .model
    }

    #[test]
    fn a_compose_service_becomes_a_stack_service() {
        let model = model(
            "services:\n  api:\n    image: gym/api:2\n    command: [serve]\n    environment: {A: '1'}\n    ports: ['8080:80', {target: 9090, published: 9090, mode: host}]\n    secrets: [{source: pw, target: db_pw, mode: 0400}]\n    deploy:\n      replicas: 3\n      labels: {tier: api}\n      update_config: {parallelism: 1, order: start-first, failure_action: rollback}\n      rollback_config: {parallelism: 2}\n      placement: {constraints: ['node.role==manager']}\n      resources: {limits: {cpus: '0.5', memory: 256M}, reservations: {cpus: '0.25'}}\nsecrets:\n  pw: {file: ./pw.txt}\n",
        );
        let objects = Objects {
            secrets: BTreeMap::from([(
                "pw".to_string(),
                ObjectRef {
                    id: "s1".into(),
                    name: "gym_pw".into(),
                },
            )]),
            configs: BTreeMap::new(),
        };
        let environment = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let input = ServiceInput {
            project: "gym",
            model: &model,
            name: "api",
            service: &model.services["api"],
            image: "gym/api:2",
            image_id: "sha256:1",
            environment: &environment,
            replicas: 3,
            objects: &objects,
        };
        let spec = service_spec(&input);
        assert_eq!(spec.name.as_deref(), Some("gym_api"));
        let labels = spec.labels.as_ref().unwrap();
        assert_eq!(labels[STACK_NAMESPACE], "gym");
        assert_eq!(labels["tier"], "api");
        assert_eq!(labels[LABEL_STACK_IMAGE], "gym/api:2");
        assert_eq!(
            spec.mode
                .as_ref()
                .unwrap()
                .replicated
                .as_ref()
                .unwrap()
                .replicas,
            Some(3)
        );
        let update = spec.update_config.as_ref().unwrap();
        assert_eq!(update.parallelism, Some(1));
        assert_eq!(update.order.unwrap().to_string(), "start-first");
        assert_eq!(update.failure_action.unwrap().to_string(), "rollback");
        assert_eq!(spec.rollback_config.as_ref().unwrap().parallelism, Some(2));
        let task = spec.task_template.as_ref().unwrap();
        let container = task.container_spec.as_ref().unwrap();
        assert_eq!(container.args, Some(vec!["serve".to_string()]));
        assert_eq!(container.env, Some(vec!["A=1".to_string()]));
        assert_eq!(container.labels.as_ref().unwrap()[STACK_NAMESPACE], "gym");
        let secret = &container.secrets.as_ref().unwrap()[0];
        assert_eq!(secret.secret_id.as_deref(), Some("s1"));
        let file = secret.file.as_ref().unwrap();
        assert_eq!(file.name.as_deref(), Some("db_pw"));
        assert_eq!(file.mode, Some(0o400));
        let resources = task.resources.as_ref().unwrap();
        assert_eq!(
            resources.limits.as_ref().unwrap().nano_cpus,
            Some(500_000_000)
        );
        assert_eq!(
            resources.limits.as_ref().unwrap().memory_bytes,
            Some(256 << 20)
        );
        assert_eq!(
            resources.reservations.as_ref().unwrap().nano_cpus,
            Some(250_000_000)
        );
        assert_eq!(
            task.placement.as_ref().unwrap().constraints,
            Some(vec!["node.role==manager".to_string()])
        );
        assert_eq!(
            task.networks.as_ref().unwrap()[0].target.as_deref(),
            Some("gym_default")
        );
        let ports = spec.endpoint_spec.as_ref().unwrap().ports.as_ref().unwrap();
        assert_eq!(ports[0].published_port, Some(8080));
        assert_eq!(ports[0].publish_mode.unwrap().to_string(), "ingress");
        assert_eq!(ports[1].publish_mode.unwrap().to_string(), "host");
        // The digest follows the spec and the image ID, nothing else.
        let digest = deployed_digest(&spec).unwrap().to_string();
        assert_eq!(
            deployed_digest(&service_spec(&input)),
            Some(digest.as_str())
        );
        let rebuilt = ServiceInput {
            image_id: "sha256:2",
            ..input
        };
        assert_ne!(
            deployed_digest(&service_spec(&rebuilt)),
            Some(digest.as_str())
        );
    }

    #[test]
    fn objects_keep_their_name_until_their_content_changes() {
        let source = Source::default();
        assert_eq!(object_name("gym", "pw", &source, None), "gym_pw");
        assert_eq!(
            object_name("gym", "pw", &source, Some("0123456789abcdef")),
            "gym_pw-0123456789ab"
        );
        let named = Source {
            name: Some("shared_pw".into()),
            ..Source::default()
        };
        assert_eq!(object_name("gym", "pw", &named, None), "shared_pw");
    }
}
