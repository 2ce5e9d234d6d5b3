//! The containers, volume and network of a restore: the restored PostgreSQL made in the
//! live one's likeness, a companion (the drill's backend copy), and their removal.

use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig, PortBinding};

use super::{Request, DATA, ROLE, ROLE_LABEL, ROOT};
use crate::docker::labels::{Creation, LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE};
use crate::docker::Engine;
use anyhow::Result;

/// The labels of a container a restore makes: compose's, for `service` of `project`
/// (so gymops and compose see it as that project's), and gymops's role.
pub(super) fn container_labels(
    project: &str,
    service: &str,
) -> std::collections::HashMap<String, String> {
    [
        (LABEL_PROJECT, project),
        (LABEL_SERVICE, service),
        (LABEL_NUMBER, "1"),
        (LABEL_ONEOFF, "False"),
        (ROLE_LABEL, ROLE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Names of what a restore into `project` makes.
pub fn names(project: &str) -> (String, String, String) {
    (
        format!("{project}-postgres-1"),
        format!("{project}_postgres_data"),
        format!("{project}_default"),
    )
}

pub(super) fn creation(
    request: &Request,
    owner: (u64, u64),
    container: &str,
    volume: &str,
    network: &str,
) -> Creation {
    let template = request.template;
    let image = crate::docker::template_image(template);
    let mut binds = crate::docker::read_only_binds(template);
    binds.push(format!("{volume}:{ROOT}"));
    let program = match &request.bin_dir {
        Some(dir) => format!("{}/postgres", dir.trim_end_matches('/')),
        None => "postgres".into(),
    };
    let labels = container_labels(&request.project, "postgres");
    Creation {
        name: container.to_string(),
        body: ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(Vec::new()),
            cmd: Some(vec![
                program,
                "-D".into(),
                DATA.into(),
                "-c".into(),
                "listen_addresses=*".into(),
                "-c".into(),
                "port=5432".into(),
                "-c".into(),
                "unix_socket_directories=/tmp".into(),
            ]),
            user: Some(format!("{}:{}", owner.0, owner.1)),
            labels: Some(labels),
            exposed_ports: Some(vec!["5432/tcp".to_string()]),
            networking_config: Some(bollard::models::NetworkingConfig {
                endpoints_config: Some(
                    [(
                        network.to_string(),
                        bollard::models::EndpointSettings {
                            aliases: Some(request.aliases.clone()),
                            ..Default::default()
                        },
                    )]
                    .into_iter()
                    .collect(),
                ),
            }),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(network.to_string()),
                port_bindings: Some(
                    [(
                        "5432/tcp".to_string(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(String::new()),
                        }]),
                    )]
                    .into_iter()
                    .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        },
        more_networks: Vec::new(),
        platform: None,
        files: Vec::new(),
    }
}

/// The last log lines of a container, for an error.
pub(super) async fn last_lines(engine: &Engine, container: &str) -> String {
    let lines = engine.log_tail(container, 30).await;
    let important = lines
        .iter()
        .rev()
        .find(|l| l.contains("FATAL") || l.contains("PANIC") || l.contains("ERROR"));
    important
        .or(lines.last())
        .map(|line| line.trim_end().to_string())
        .unwrap_or_default()
}

/// Start a copy of another service's container (the backend) in a restore's project: its
/// image, command, environment and read-only mounts, on the project's network (where the
/// restored PostgreSQL answers to the live names), every exposed port published on
/// 127.0.0.1. Its name and the host port of `container_port`.
pub async fn start_companion(
    engine: &Engine,
    project: &str,
    service: &str,
    template: &ContainerInspectResponse,
    container_port: &str,
) -> Result<(String, Option<u16>)> {
    let (_, _, network) = names(project);
    let name = format!("{project}-{service}-1");
    let config = template.config.clone().unwrap_or_default();
    let image = crate::docker::template_image(template);
    let binds = crate::docker::read_only_binds(template);
    let ports: Vec<String> = config.exposed_ports.clone().unwrap_or_default();
    let labels = container_labels(project, service);
    let creation = Creation {
        name: name.clone(),
        body: ContainerCreateBody {
            image: Some(image),
            cmd: config.cmd.clone(),
            entrypoint: config.entrypoint.clone(),
            env: config.env.clone(),
            user: config.user.clone(),
            working_dir: config.working_dir.clone(),
            labels: Some(labels),
            exposed_ports: Some(ports.clone()),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(network),
                port_bindings: Some(
                    ports
                        .iter()
                        .map(|port| {
                            (
                                port.clone(),
                                Some(vec![PortBinding {
                                    host_ip: Some("127.0.0.1".into()),
                                    host_port: Some(String::new()),
                                }]),
                            )
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        },
        more_networks: Vec::new(),
        platform: None,
        files: Vec::new(),
    };
    engine.create(&creation).await?;
    engine.start(&name).await?;
    let inspected = engine.inspect(&name).await?;
    Ok((
        name,
        crate::docker::published_host_port(&inspected, container_port),
    ))
}

/// Remove what a restore made (a failed one, or a drill's scratch stack with its
/// companions).
pub async fn remove(engine: &Engine, project: &str) {
    let (container, volume, network) = names(project);
    if let Ok(containers) = engine.project_containers(project).await {
        for companion in containers {
            let _ = engine.remove(&companion.id).await;
        }
    }
    let _ = engine.remove(&container).await;
    let _ = engine.remove_volume(&volume).await;
    let _ = engine.remove_network(&network).await;
}
