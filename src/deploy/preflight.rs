//! Everything wrong before `up` or `rollback` changes anything, all at once: unset
//! variables, external networks, busy host ports, keys this engine cannot honour, a full
//! disk.

use std::path::Path;

use super::spec;
use crate::compose::Project;
use crate::docker::Engine;

/// The problems found without the engine: variables, the env file, and replicas one engine
/// cannot run (a fixed host port or container_name past one).
pub fn file_problems(project: &Project, env_file: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, files) in &project.missing_variables {
        problems.push(format!(
            "variable {name} is not set (used in {})",
            files.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !project.missing_variables.is_empty() && !env_file.exists() {
        problems.push(format!("env file {} not found", env_file.display()));
    }
    for (kind, sources) in [
        ("secrets", &project.model.secrets),
        ("configs", &project.model.configs),
    ] {
        for (key, source) in sources {
            if source.external {
                problems.push(format!(
                    "{kind}.{key}: an external secret or config lives in a Swarm; a single engine has none: give it a `file:` or `environment:` source instead (or deploy with deploy.orchestrator: swarm)"
                ));
            }
        }
    }
    // Containers of one engine, that is: a Swarm's routing mesh publishes one port for any
    // number of tasks.
    for (name, service) in &project.model.services {
        if let Some(problem) = crate::compose::scale_problem(name, service, service.replica_count())
        {
            problems.push(problem);
        }
    }
    problems
}

pub async fn preflight(
    engine: &Engine,
    project_name: &str,
    project: &Project,
    services: &[String],
    env_file: &Path,
) -> Vec<String> {
    let mut problems = file_problems(project, env_file);
    for (key, network) in &project.model.networks {
        if network.external {
            let name = spec::resource_name(project_name, key, Some(network));
            if !engine.network_exists(&name).await.unwrap_or(false) {
                problems.push(format!("external network `{name}` does not exist"));
            }
        }
    }
    let published = match engine.published_ports().await {
        Ok(list) => list,
        Err(err) => {
            problems.push(crate::error::describe(&err).0);
            Vec::new()
        }
    };
    let api = engine.api_version.split('.').collect::<Vec<_>>();
    let api_minor: u32 = api.get(1).and_then(|m| m.parse().ok()).unwrap_or(0);
    for service_name in services {
        let service = &project.model.services[service_name];
        if service
            .healthcheck
            .as_ref()
            .is_some_and(|h| h.start_interval.is_some())
            && api.first() == Some(&"1")
            && api_minor < 44
        {
            problems.push(format!(
                "service {service_name}: healthcheck.start_interval needs Docker Engine 25 or later (API 1.44); this engine speaks API {}: remove start_interval (start_period still works) or upgrade the engine",
                engine.api_version
            ));
        }
        if let Some(platform) = &service.platform {
            let ours = format!("linux/{}", docker_arch());
            if !platform.starts_with(&ours) && !platform.starts_with("linux/") {
                problems.push(format!(
                    "service {service_name}: platform {platform} is not a Linux platform this engine runs (it runs {ours})"
                ));
            }
        }
        for port in &service.ports {
            let Some(number) = port
                .published
                .as_deref()
                .and_then(|p| p.parse::<u16>().ok())
            else {
                continue;
            };
            let holders: Vec<&(u16, String, Option<String>, Option<String>)> =
                published.iter().filter(|(p, ..)| *p == number).collect();
            let ours = holders.iter().any(|(_, _, project, service)| {
                project.as_deref() == Some(project_name) && service.as_deref() == Some(service_name)
            });
            if let Some((_, holder, ..)) = holders.iter().find(|(_, _, project, service)| {
                !(project.as_deref() == Some(project_name)
                    && service.as_deref() == Some(service_name.as_str()))
            }) {
                problems.push(format!(
                    "host port {number} (service {service_name}) is published by container {holder}"
                ));
            } else if !ours && engine.is_local() && port.protocol == "tcp" {
                let ip = port.host_ip.as_deref().unwrap_or("0.0.0.0");
                if std::net::TcpListener::bind((ip, number)).is_err() {
                    problems.push(format!(
                        "host port {ip}:{number} (service {service_name}) is in use by another process on this host"
                    ));
                }
            }
        }
    }
    if engine.is_local() {
        let root = Path::new("/var/lib/docker");
        if root.exists() {
            let fs = crate::hostfs::measure("docker data", root, 90, 97);
            if fs.status == crate::exit::Status::Critical {
                problems.push(format!(
                    "the file system of {} is {:.0}% full",
                    root.display(),
                    fs.used_percent.unwrap_or(100.0)
                ));
            }
        }
    }
    problems
}

/// The engine's name of this machine's architecture (`amd64`, `arm64`).
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    }
}
