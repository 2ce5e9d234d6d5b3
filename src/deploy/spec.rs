//! From a compose service to what the Engine API creates: names, compose's labels (so
//! `docker-compose ps` lists what gymops starts and gymops manages what docker-compose
//! started), the config hash that decides whether a container is current, and the create
//! body. Pure.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, Mount,
    MountType, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::compose::model::{MountKind, Network};
use crate::compose::Service;

pub use crate::docker::labels::*;
/// The compose version gymops' labels claim: the docker-compose v1 it interoperates with.
pub const COMPOSE_VERSION: &str = "1.29.2";

/// Compose's project name rules: lower case, letters, digits, `_` and `-`.
pub fn project_name(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// `container_name`, or compose v1's `PROJECT_SERVICE_1`.
pub fn container_name(project: &str, service_name: &str, service: &Service) -> String {
    service
        .container_name
        .clone()
        .unwrap_or_else(|| format!("{project}_{service_name}_1"))
}

/// The image a service runs: `image`, or compose v1's `PROJECT_SERVICE` for a build.
pub fn image_ref(project: &str, service_name: &str, service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{project}_{service_name}"))
}

/// The engine name of a compose network or volume: its `name`, else `PROJECT_KEY`.
pub fn resource_name(project: &str, key: &str, declared: Option<&Network>) -> String {
    match declared.and_then(|d| d.name.clone()) {
        Some(name) => name,
        None => format!("{project}_{key}"),
    }
}

/// What decides whether a running container is current: the service as configured and the
/// image ID it runs (a new image under the same tag changes it).
pub fn config_hash(
    service: &Service,
    image_id: &str,
    environment: &BTreeMap<String, String>,
) -> String {
    let canonical = serde_json::json!({
        "service": service,
        "image_id": image_id,
        "environment": environment,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    crate::random::hex(&digest)
}

/// The labels of a container, compose's way.
pub fn labels(
    project: &str,
    service_name: &str,
    service: &Service,
    hash: &str,
    files: &[std::path::PathBuf],
    working_dir: &Path,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = service
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, value) in [
        (LABEL_PROJECT, project.to_string()),
        (LABEL_SERVICE, service_name.to_string()),
        (LABEL_NUMBER, "1".to_string()),
        (LABEL_HASH, hash.to_string()),
        (LABEL_ONEOFF, "False".to_string()),
        (
            LABEL_FILES,
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        (LABEL_WORKDIR, working_dir.display().to_string()),
        (LABEL_VERSION, COMPOSE_VERSION.to_string()),
    ] {
        labels.insert(key.to_string(), value);
    }
    labels
}

/// The environment a container gets: env files in order, then `environment` (a key with no
/// value takes gymops' own environment's value, or is left out).
pub fn container_environment(
    service: &Service,
    env_files: &[(String, String)],
    outer: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = env_files.iter().cloned().collect();
    for (key, value) in &service.environment {
        match value {
            Some(value) => {
                out.insert(key.clone(), value.clone());
            }
            None => {
                if let Some(value) = outer.get(key) {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
    }
    out
}

fn nanos(d: std::time::Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

pub struct Context<'a> {
    pub project: &'a str,
    pub networks: &'a BTreeMap<String, Network>,
    pub volumes: &'a BTreeMap<String, Network>,
}

pub fn creation(
    ctx: &Context,
    service_name: &str,
    service: &Service,
    image: &str,
    environment: &BTreeMap<String, String>,
    labels: HashMap<String, String>,
) -> Creation {
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &service.ports {
        let key = format!("{}/{}", port.target, port.protocol);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: port.host_ip.clone(),
                host_port: port.published.clone(),
            });
    }
    let mounts: Vec<Mount> = service
        .volumes
        .iter()
        .map(|m| Mount {
            target: Some(m.target.clone()),
            source: match (m.kind, &m.source) {
                (MountKind::Volume, Some(volume)) => {
                    Some(resource_name(ctx.project, volume, ctx.volumes.get(volume)))
                }
                (_, source) => source.clone(),
            },
            typ: Some(match m.kind {
                MountKind::Volume => MountType::VOLUME,
                MountKind::Bind => MountType::BIND,
            }),
            read_only: Some(m.read_only),
            bind_options: m
                .propagation
                .as_deref()
                .map(|p| bollard::models::MountBindOptions {
                    propagation: Some(match p {
                        "rshared" => bollard::models::MountBindOptionsPropagationEnum::RSHARED,
                        "shared" => bollard::models::MountBindOptionsPropagationEnum::SHARED,
                        "rslave" => bollard::models::MountBindOptionsPropagationEnum::RSLAVE,
                        "slave" => bollard::models::MountBindOptionsPropagationEnum::SLAVE,
                        "private" => bollard::models::MountBindOptionsPropagationEnum::PRIVATE,
                        _ => bollard::models::MountBindOptionsPropagationEnum::RPRIVATE,
                    }),
                    ..Default::default()
                }),
            ..Mount::default()
        })
        .collect();
    let healthcheck = service.healthcheck.as_ref().map(|h| {
        if h.disable {
            HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..HealthConfig::default()
            }
        } else {
            HealthConfig {
                test: h.test.clone(),
                interval: h.interval.map(nanos),
                timeout: h.timeout.map(nanos),
                retries: h.retries.map(i64::from),
                start_period: h.start_period.map(nanos),
                ..HealthConfig::default()
            }
        }
    });
    let restart = service.restart.as_deref().map(|policy| {
        let (name, count) = match policy.split_once(':') {
            Some((name, count)) => (name, count.parse().ok()),
            None => (policy, None),
        };
        RestartPolicy {
            name: Some(match name {
                "always" => RestartPolicyNameEnum::ALWAYS,
                "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
                "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                _ => RestartPolicyNameEnum::NO,
            }),
            maximum_retry_count: count,
        }
    });
    // The service's networks, or the project's default network.
    let mut networks: Vec<(String, Vec<String>)> = if service.networks.is_empty() {
        vec![(format!("{}_default", ctx.project), Vec::new())]
    } else {
        service
            .networks
            .iter()
            .map(|(key, aliases)| {
                let name = if key == "default" {
                    format!("{}_default", ctx.project)
                } else {
                    resource_name(ctx.project, key, ctx.networks.get(key))
                };
                (name, aliases.clone())
            })
            .collect()
    };
    for (_, aliases) in &mut networks {
        if !aliases.iter().any(|a| a == service_name) {
            aliases.insert(0, service_name.to_string());
        }
    }
    let (first_network, first_aliases) = networks.remove(0);
    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        mounts: (!mounts.is_empty()).then_some(mounts),
        restart_policy: restart,
        network_mode: Some(first_network.clone()),
        extra_hosts: (!service.extra_hosts.is_empty()).then(|| service.extra_hosts.clone()),
        pid_mode: service.pid.clone(),
        privileged: service.privileged,
        log_config: service.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: Some(l.options.clone().into_iter().collect()),
        }),
        nano_cpus: service
            .resources
            .as_ref()
            .and_then(|r| r.cpus)
            .map(|c| (c * 1e9) as i64),
        memory: service
            .resources
            .as_ref()
            .and_then(|r| r.memory)
            .map(|m| m as i64),
        memory_reservation: service
            .resources
            .as_ref()
            .and_then(|r| r.memory_reservation)
            .map(|m| m as i64),
        ..HostConfig::default()
    };
    let body = ContainerCreateBody {
        image: Some(image.to_string()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: Some(
            environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                first_network,
                EndpointSettings {
                    aliases: Some(first_aliases),
                    ..EndpointSettings::default()
                },
            )])),
        }),
        ..ContainerCreateBody::default()
    };
    Creation {
        name: container_name(ctx.project, service_name, service),
        body,
        more_networks: networks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::model::{Healthcheck, Mount as ComposeMount, Port, Resources};
    use std::time::Duration;

    fn service() -> Service {
        Service {
            image: Some("gym/api:1".into()),
            command: Some(vec!["serve".into()]),
            environment: BTreeMap::from([
                ("A".into(), Some("1".into())),
                ("FROM_SHELL".into(), None),
                ("NOT_SET".into(), None),
            ]),
            ports: vec![Port {
                host_ip: Some("127.0.0.1".into()),
                published: Some("8080".into()),
                target: "80".into(),
                protocol: "tcp".into(),
            }],
            volumes: vec![
                ComposeMount {
                    kind: MountKind::Volume,
                    propagation: None,
                    source: Some("data".into()),
                    target: "/data".into(),
                    read_only: false,
                },
                ComposeMount {
                    kind: MountKind::Bind,
                    propagation: None,
                    source: Some("/srv/conf".into()),
                    target: "/conf".into(),
                    read_only: true,
                },
            ],
            networks: BTreeMap::from([
                ("default".into(), vec![]),
                ("monitoring".into(), vec!["api".into()]),
            ]),
            healthcheck: Some(Healthcheck {
                test: Some(vec!["CMD".into(), "true".into()]),
                interval: Some(Duration::from_secs(2)),
                retries: Some(3),
                ..Healthcheck::default()
            }),
            restart: Some("on-failure:3".into()),
            labels: BTreeMap::from([("team".into(), "gym".into())]),
            resources: Some(Resources {
                cpus: Some(0.5),
                memory: Some(64 << 20),
                memory_reservation: None,
            }),
            ..Service::default()
        }
    }

    #[test]
    fn the_create_body_carries_every_field_and_composes_labels() {
        let networks = BTreeMap::from([("monitoring".to_string(), Network::default())]);
        let volumes = BTreeMap::from([("data".to_string(), Network::default())]);
        let ctx = Context {
            project: "gym",
            networks: &networks,
            volumes: &volumes,
        };
        let service = service();
        let outer = BTreeMap::from([("FROM_SHELL".to_string(), "x".to_string())]);
        let environment = container_environment(&service, &[("FILE".into(), "f".into())], &outer);
        assert_eq!(
            environment,
            BTreeMap::from([
                ("A".to_string(), "1".to_string()),
                ("FILE".into(), "f".into()),
                ("FROM_SHELL".into(), "x".into())
            ])
        );
        let hash = config_hash(&service, "sha256:abc", &environment);
        let labels = labels("gym", "api", &service, &hash, &[], Path::new("/srv"));
        let made = creation(&ctx, "api", &service, "gym/api:1", &environment, labels);
        assert_eq!(made.name, "gym_api_1");
        let body = &made.body;
        let labels = body.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_PROJECT], "gym");
        assert_eq!(labels[LABEL_SERVICE], "api");
        assert_eq!(labels[LABEL_HASH], hash);
        assert_eq!(labels["team"], "gym");
        let host = body.host_config.as_ref().unwrap();
        let binding = &host.port_bindings.as_ref().unwrap()["80/tcp"]
            .as_ref()
            .unwrap()[0];
        assert_eq!(binding.host_port.as_deref(), Some("8080"));
        let mounts = host.mounts.as_ref().unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some("gym_data"));
        assert_eq!(mounts[1].read_only, Some(true));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.memory, Some(64 << 20));
        let restart = host.restart_policy.as_ref().unwrap();
        assert_eq!(restart.maximum_retry_count, Some(3));
        assert_eq!(host.network_mode.as_deref(), Some("gym_default"));
        assert_eq!(
            made.more_networks,
            vec![("gym_monitoring".to_string(), vec!["api".to_string()])]
        );
        assert_eq!(
            body.healthcheck.as_ref().unwrap().interval,
            Some(2_000_000_000)
        );
    }

    #[test]
    fn the_hash_changes_with_the_config_and_the_image_and_nothing_else() {
        let service = service();
        let env = BTreeMap::new();
        let a = config_hash(&service, "sha256:1", &env);
        assert_eq!(a, config_hash(&service.clone(), "sha256:1", &env));
        assert_ne!(a, config_hash(&service, "sha256:2", &env));
        let mut changed = service.clone();
        changed.command = Some(vec!["other".into()]);
        assert_ne!(a, config_hash(&changed, "sha256:1", &env));
        assert_eq!(project_name("Fitness Gym!"), "fitnessgym");
    }
}
