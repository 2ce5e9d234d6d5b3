//! From a compose service to what identifies its containers: names, compose's labels (so
//! `docker-compose ps` lists what gymops starts and gymops manages what docker-compose
//! started), the config hash that decides whether a container is current, and the
//! environment it gets. The create body is [`super::create`]. Pure.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::compose::model::Network;
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

/// `container_name` (one container only), or compose v1's `PROJECT_SERVICE_N`.
pub fn container_name(project: &str, service_name: &str, service: &Service, number: u32) -> String {
    match &service.container_name {
        Some(name) if number <= 1 => name.clone(),
        _ => format!("{project}_{service_name}_{number}"),
    }
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

/// What decides whether a running container is current: the service as configured, the
/// image ID it runs (a new image under the same tag changes it), its environment, and the
/// digests of the files copied into it. Not the number of replicas (scaling leaves the
/// running containers alone), nor what only a Swarm reads.
pub fn config_hash(
    service: &Service,
    image_id: &str,
    environment: &BTreeMap<String, String>,
    file_digests: &BTreeMap<String, String>,
) -> String {
    let mut service = service.clone();
    service.replicas = None;
    // What only a Swarm reads changes nothing about a container.
    service.swarm = None;
    for port in &mut service.ports {
        port.mode = None;
    }
    let mut canonical = serde_json::json!({
        "service": service,
        "image_id": image_id,
        "environment": environment,
    });
    if !file_digests.is_empty() {
        canonical["files"] = serde_json::json!(file_digests);
    }
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    crate::random::hex(&digest)
}

/// The labels of a container, compose's way.
pub fn labels(
    project: &str,
    service_name: &str,
    service: &Service,
    number: u32,
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
        (LABEL_NUMBER, number.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_changes_with_the_config_and_the_image_and_nothing_else() {
        let service = Service {
            image: Some("gym/api:1".into()),
            command: Some(vec!["serve".into()]),
            ..Service::default()
        };
        let env = BTreeMap::new();
        let none = BTreeMap::new();
        let a = config_hash(&service, "sha256:1", &env, &none);
        assert_eq!(a, config_hash(&service.clone(), "sha256:1", &env, &none));
        assert_ne!(a, config_hash(&service, "sha256:2", &env, &none));
        let mut changed = service.clone();
        changed.command = Some(vec!["other".into()]);
        assert_ne!(a, config_hash(&changed, "sha256:1", &env, &none));
        let mut scaled = service.clone();
        scaled.replicas = Some(3);
        assert_eq!(
            a,
            config_hash(&scaled, "sha256:1", &env, &none),
            "scaling keeps containers"
        );
        let secret = BTreeMap::from([("/run/secrets/pw".to_string(), "abc".to_string())]);
        assert_ne!(a, config_hash(&service, "sha256:1", &env, &secret));
        // A file written before gymops knew a key hashes as it did then.
        assert_eq!(
            serde_json::to_string(&service).unwrap(),
            r#"{"image":"gym/api:1","command":["serve"]}"#
        );
        assert_eq!(project_name("Fitness Gym!"), "fitnessgym");
    }

    #[test]
    fn replicas_are_numbered_and_a_fixed_name_is_the_first_only() {
        let service = Service::default();
        assert_eq!(container_name("gym", "api", &service, 3), "gym_api_3");
        let named = Service {
            container_name: Some("fitness_api".into()),
            ..Service::default()
        };
        assert_eq!(container_name("gym", "api", &named, 1), "fitness_api");
    }
}
