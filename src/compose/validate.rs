//! Whole-model checks after merging: every problem at once, nothing started. Pure.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};

use super::model::{mount_target_key_of, MountKind};
use super::{Condition, File, Service};
use crate::error::HintExt;

/// Compose's service name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_service_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Why `service` cannot run `replicas` containers, if it cannot.
pub fn scale_problem(name: &str, service: &Service, replicas: u32) -> Option<String> {
    if replicas <= 1 {
        return None;
    }
    if let Some(container) = &service.container_name {
        return Some(format!(
            "service `{name}` has container_name `{container}`, so it cannot run {replicas} containers: remove container_name to scale it"
        ));
    }
    if let Some(port) = service.ports.iter().find_map(|p| p.fixed_host_port()) {
        return Some(format!(
            "service `{name}` publishes the fixed host port {port}, which only one of {replicas} containers can hold: publish a range (8080-8082:80) or only the container port to scale it"
        ));
    }
    None
}

/// What compose adds by itself: a service that shares another's network stack or links to
/// it starts after it.
pub fn implicit_dependencies(model: &mut File) {
    for service in model.services.values_mut() {
        let mut implied: Vec<String> = service
            .links
            .iter()
            .filter_map(|l| l.split(':').next())
            .map(str::to_string)
            .collect();
        implied.extend(service.network_service().map(str::to_string));
        implied.extend(service.volumes_from.iter().filter_map(|entry| {
            let source = entry
                .strip_suffix(":ro")
                .or_else(|| entry.strip_suffix(":rw"))
                .unwrap_or(entry);
            (!source.starts_with("container:")).then(|| {
                source
                    .strip_prefix("service:")
                    .unwrap_or(source)
                    .to_string()
            })
        }));
        for name in implied {
            service
                .depends_on
                .entry(name)
                .or_insert(Condition::ServiceStarted);
        }
    }
}

/// Whole-model checks, all problems at once.
pub fn validate(model: &File, files: &str) -> Result<()> {
    if model.services.is_empty() {
        return Err(anyhow!("{files}: no services are defined"))
            .hint("a compose file lists its services under `services:` (docker-compose refuses an empty one too)");
    }
    let mut problems = Vec::new();
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, service) in &model.services {
        // Keys are not interpolated: `${SVC}:` is a name, and not a valid one.
        if !valid_service_name(name) {
            problems.push(format!(
                "service name `{}` is not valid: letters, digits, `.`, `_` and `-`, starting with a letter or digit (keys are not interpolated)",
                name.escape_debug()
            ));
        }
        if service.image.is_none() && service.build.is_none() {
            problems.push(format!("service `{name}` has neither image nor build"));
        }
        if let Some(context) = service.build.as_ref().and_then(|b| b.context.as_ref()) {
            if !context.is_dir() {
                problems.push(format!(
                    "service `{name}`: the build context {} is not a directory",
                    context.display()
                ));
            }
        }
        for dependency in service.depends_on.keys() {
            if !model.services.contains_key(dependency) {
                problems.push(format!(
                    "service `{name}` depends on `{dependency}`, which is not a service"
                ));
            }
        }
        let mut targets: BTreeMap<String, &str> = BTreeMap::new();
        let mut target = |path: &str, what: &'static str, problems: &mut Vec<String>| {
            if let Some(first) = targets.insert(mount_target_key_of(path), what) {
                problems.push(format!(
                    "service `{name}` mounts two things at {path} ({first} and {what})"
                ));
            }
        };
        for mount in &service.volumes {
            target(&mount.target, "a volume", &mut problems);
            if let (MountKind::Volume, Some(volume)) = (mount.kind, &mount.source) {
                if !model.volumes.contains_key(volume) {
                    problems.push(format!(
                        "service `{name}` uses the named volume `{volume}`, which is not declared under top-level `volumes:`"
                    ));
                }
            }
        }
        for entry in &service.tmpfs {
            target(
                entry.split(':').next().unwrap_or(entry),
                "a tmpfs",
                &mut problems,
            );
        }
        for (kind, grants, declared) in [
            ("secret", &service.secrets, &model.secrets),
            ("config", &service.configs, &model.configs),
        ] {
            for grant in grants {
                if !declared.contains_key(&grant.source) {
                    problems.push(format!(
                        "service `{name}` uses the {kind} `{}`, which is not declared under top-level `{kind}s:`",
                        grant.source
                    ));
                }
            }
        }
        for network in service.networks.keys() {
            if network != "default" && !model.networks.contains_key(network) {
                problems.push(format!(
                    "service `{name}` joins the network `{network}`, which is not declared under top-level `networks:`"
                ));
            }
        }
        for network in service.addresses.keys() {
            if !service.networks.contains_key(network) {
                problems.push(format!(
                    "service `{name}` has an address on `{network}` but does not join it"
                ));
            }
        }
        if let Some(mode) = &service.network_mode {
            if !service.networks.is_empty() {
                problems.push(format!(
                    "service `{name}` has both network_mode ({mode}) and networks: a container shares another's network stack or joins networks, not both"
                ));
            }
            if mode == "host" && !service.ports.is_empty() {
                problems.push(format!(
                    "service `{name}` uses the host's network (network_mode: host), so its ports are the host's already: remove ports"
                ));
            }
            if let Some(other) = service.network_service() {
                if !model.services.contains_key(other) {
                    problems.push(format!(
                        "service `{name}` shares the network of `{other}`, which is not a service"
                    ));
                }
            }
        }
        for entry in &service.volumes_from {
            let source = entry
                .strip_suffix(":ro")
                .or_else(|| entry.strip_suffix(":rw"))
                .unwrap_or(entry);
            if source.starts_with("container:") {
                continue;
            }
            let other = source.strip_prefix("service:").unwrap_or(source);
            if !model.services.contains_key(other) {
                problems.push(format!(
                    "service `{name}` takes volumes from `{other}`, which is not a service (write container:NAME for a container outside the project)"
                ));
            }
        }
        for link in &service.links {
            let other = link.split(':').next().unwrap_or_default();
            if !model.services.contains_key(other) {
                problems.push(format!(
                    "service `{name}` links to `{other}`, which is not a service"
                ));
            }
        }
        if let Some(container) = &service.container_name {
            if let Some(other) = names.insert(container, name) {
                problems.push(format!(
                    "services `{other}` and `{name}` both use container_name `{container}`"
                ));
            }
        }
    }
    for (kind, sources) in [("secrets", &model.secrets), ("configs", &model.configs)] {
        for (name, source) in sources {
            if let Some(file) = &source.file {
                if !file.is_file() {
                    problems.push(format!(
                        "{kind}.{name}: the file {} does not exist",
                        file.display()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow!("{files}: {}", problems.join("; ")))
        .hint("fix the compose files; nothing was started")
}
