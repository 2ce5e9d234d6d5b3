//! What `gymops prune` removes, decided from the engine's own lists (`/system/df`,
//! `/networks`) before anything is removed, so `--dry-run` shows exactly what a run removes:
//! stopped containers that are not the deployment's, dangling images (with `--images all`
//! every image no remaining container uses), unused networks, build cache. Never a volume,
//! never a container or network of the deployment, never an image a kept release pins
//! (`gymops-release/...`). The plan is pure; the removals are the engine calls below.

use std::collections::BTreeSet;

use anyhow::Result;
use bollard::query_parameters::{
    PruneBuildOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
};
use serde::Serialize;
use serde_json::Value;

use super::df::{container_name, label, list, positive};
use super::labels::LABEL_PROJECT;
use super::Engine;

/// What kind of thing is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Container,
    Image,
    Network,
    BuildCache,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::BuildCache => "build cache",
        }
    }
}

/// One thing to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    pub kind: Kind,
    /// The engine's ID (empty for the build cache).
    pub id: String,
    /// Name, tags, or a short ID for people.
    pub name: String,
    /// Bytes it frees, as `docker system df` counts them.
    pub bytes: u64,
}

/// Which images go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    /// Untagged images no remaining container uses.
    Dangling,
    /// Every image no remaining container uses (never one a release pins).
    All,
}

/// What the deployment keeps whatever it looks like.
pub struct Keep<'a> {
    /// The compose projects (the deployment's, its monitoring stack's): their containers and
    /// networks stay.
    pub projects: &'a [String],
    /// IDs of the deployment's containers found by name (a service with an explicit
    /// container name, without compose labels).
    pub containers: &'a BTreeSet<String>,
}

impl Keep<'_> {
    /// Whether a container or network carries one of the projects' label.
    fn owns(&self, object: &Value) -> bool {
        label(object, LABEL_PROJECT).is_some_and(|p| self.projects.iter().any(|k| k == p))
    }
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A count or size of the engine's answer, never negative.
fn int(value: &Value, key: &str) -> u64 {
    positive(super::df::int(value, key))
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// The plan: items in removal order (containers, then images they alone used, networks,
/// build cache).
pub fn plan(df: &Value, networks: &Value, keep: &Keep, images: Images) -> Vec<Item> {
    let mut items = Vec::new();
    let mut staying_images = BTreeSet::new();
    let mut staying_networks = BTreeSet::new();
    for container in list(df, "Containers") {
        let id = text(container, "Id");
        let state = text(container, "State");
        let ours = keep.containers.contains(id) || keep.owns(container);
        let stopped = matches!(state, "exited" | "created" | "dead");
        if stopped && !ours {
            items.push(Item {
                kind: Kind::Container,
                id: id.to_string(),
                name: container_name(container),
                bytes: int(container, "SizeRw"),
            });
            continue;
        }
        staying_images.insert(text(container, "ImageID").to_string());
        if let Some(attached) = container
            .get("NetworkSettings")
            .and_then(|n| n.get("Networks"))
            .and_then(Value::as_object)
        {
            for (name, endpoint) in attached {
                staying_networks.insert(name.clone());
                let id = text(endpoint, "NetworkID");
                if !id.is_empty() {
                    staying_networks.insert(id.to_string());
                }
            }
        }
    }
    for image in list(df, "Images") {
        let id = text(image, "Id");
        if staying_images.contains(id) {
            continue;
        }
        let tags: Vec<&str> = list(image, "RepoTags")
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "<none>:<none>")
            .collect();
        if tags.iter().any(|t| t.starts_with("gymops-release/")) {
            continue;
        }
        if !tags.is_empty() && images == Images::Dangling {
            continue;
        }
        let size = int(image, "Size");
        let shared = int(image, "SharedSize");
        items.push(Item {
            kind: Kind::Image,
            id: id.to_string(),
            name: if tags.is_empty() {
                format!("<none> ({})", short(id))
            } else {
                tags.join(", ")
            },
            bytes: size.saturating_sub(shared),
        });
    }
    for network in networks.as_array().map(Vec::as_slice).unwrap_or_default() {
        let (id, name) = (text(network, "Id"), text(network, "Name"));
        let predefined = matches!(name, "bridge" | "host" | "none")
            || network.get("Ingress").and_then(Value::as_bool) == Some(true)
            || text(network, "Scope") != "local";
        let ours = keep.owns(network);
        let attached = network
            .get("Containers")
            .and_then(Value::as_object)
            .is_some_and(|c| !c.is_empty());
        if predefined
            || ours
            || attached
            || staying_networks.contains(name)
            || staying_networks.contains(id)
        {
            continue;
        }
        items.push(Item {
            kind: Kind::Network,
            id: id.to_string(),
            name: name.to_string(),
            bytes: 0,
        });
    }
    let cache: u64 = list(df, "BuildCache")
        .iter()
        .filter(|b| b.get("InUse").and_then(Value::as_bool) != Some(true))
        .filter(|b| b.get("Shared").and_then(Value::as_bool) != Some(true))
        .map(|b| int(b, "Size"))
        .sum();
    let entries = list(df, "BuildCache")
        .iter()
        .filter(|b| b.get("InUse").and_then(Value::as_bool) != Some(true))
        .count();
    if entries > 0 {
        items.push(Item {
            kind: Kind::BuildCache,
            id: String::new(),
            name: crate::say!("{entries} unused build cache entries"),
            bytes: cache,
        });
    }
    items
}

impl Engine {
    /// Remove a container only if it is still stopped (no force: one that was started
    /// since the plan stays).
    pub async fn remove_stopped(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(false)
            .build();
        self.call(
            || crate::say!("cannot remove container {}", short(id)),
            self.docker.remove_container(id, Some(options)),
        )
        .await
    }

    /// Remove an image by ID, every tag of it (no force: one a container started using
    /// since the plan stays).
    pub async fn remove_image_id(&self, id: &str) -> Result<()> {
        let options = RemoveImageOptionsBuilder::default().force(false).build();
        self.call(
            || crate::say!("cannot remove image {}", short(id)),
            self.docker.remove_image(id, Some(options), None),
        )
        .await
        .map(|_| ())
    }

    /// Remove the unused build cache; the bytes the engine says it freed.
    pub async fn prune_build_cache(&self) -> Result<u64> {
        let options = PruneBuildOptionsBuilder::default().build();
        let answer = self
            .call(
                || crate::say!("cannot remove the build cache"),
                self.docker.prune_build(Some(options)),
            )
            .await?;
        Ok(answer.space_reclaimed.unwrap_or(0).max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn df() -> Value {
        json!({
            "Containers": [
                {"Id": "c-ours-stopped", "Names": ["/gym_backend_1"], "State": "exited", "ImageID": "sha256:app",
                 "Labels": {"com.docker.compose.project": "gym"}, "SizeRw": 5,
                 "NetworkSettings": {"Networks": {"gym_default": {"NetworkID": ""}}}},
                {"Id": "c-named", "Names": ["/minio"], "State": "exited", "ImageID": "sha256:minio", "Labels": {}},
                {"Id": "c-old", "Names": ["/old_job"], "State": "exited", "ImageID": "sha256:old", "Labels": {},
                 "SizeRw": 100, "NetworkSettings": {"Networks": {"jobs": {"NetworkID": ""}}}},
                {"Id": "c-other-running", "Names": ["/tool"], "State": "running", "ImageID": "sha256:tool", "Labels": {},
                 "NetworkSettings": {"Networks": {"tools": {"NetworkID": "n-tools"}}}},
                {"Id": "c-created", "Names": ["/never_started"], "State": "created", "ImageID": "sha256:tool", "Labels": {}}
            ],
            "Images": [
                {"Id": "sha256:app", "RepoTags": ["gym/app:2"], "Size": 1000, "SharedSize": 100},
                {"Id": "sha256:old", "RepoTags": [], "Size": 300, "SharedSize": 0},
                {"Id": "sha256:dangling", "RepoTags": ["<none>:<none>"], "Size": 50, "SharedSize": -1},
                {"Id": "sha256:release", "RepoTags": ["gymops-release/gym-app:20261128"], "Size": 900, "SharedSize": 0},
                {"Id": "sha256:unused", "RepoTags": ["redis:7"], "Size": 700, "SharedSize": 200},
                {"Id": "sha256:tool", "RepoTags": ["tool:1"], "Size": 10, "SharedSize": 0},
                {"Id": "sha256:minio", "RepoTags": ["minio:1"], "Size": 10, "SharedSize": 0}
            ],
            "BuildCache": [
                {"Size": 70, "InUse": false, "Shared": false},
                {"Size": 9, "InUse": false, "Shared": true},
                {"Size": 5, "InUse": true, "Shared": false}
            ]
        })
    }

    fn networks() -> Value {
        json!([
            {"Id": "n-bridge", "Name": "bridge", "Scope": "local", "Containers": {}},
            {"Id": "n-gym", "Name": "gym_default", "Scope": "local", "Labels": {"com.docker.compose.project": "gym"}},
            {"Id": "n-jobs", "Name": "jobs", "Scope": "local", "Containers": {}},
            {"Id": "n-tools", "Name": "tools", "Scope": "local", "Containers": {"c": {}}},
            {"Id": "n-empty", "Name": "leftover", "Scope": "local", "Containers": {}, "Labels": {}},
            {"Id": "n-overlay", "Name": "ingress", "Scope": "swarm", "Ingress": true}
        ])
    }

    fn names(items: &[Item], kind: Kind) -> Vec<String> {
        items
            .iter()
            .filter(|i| i.kind == kind)
            .map(|i| i.name.clone())
            .collect()
    }

    #[test]
    fn the_deployment_a_release_and_what_stays_in_use_are_never_in_the_plan() {
        let kept = BTreeSet::from(["c-named".to_string()]);
        let projects = ["gym".to_string(), "gym_monitoring".to_string()];
        let keep = Keep {
            projects: &projects,
            containers: &kept,
        };
        let items = plan(&df(), &networks(), &keep, Images::Dangling);
        assert_eq!(names(&items, Kind::Container), ["old_job", "never_started"]);
        // The removed job's untagged image goes with it; the dangling one too.
        assert_eq!(
            names(&items, Kind::Image),
            ["<none> (old)", "<none> (dangling)"]
        );
        // jobs was only the removed container's; leftover is attached to nothing.
        assert_eq!(names(&items, Kind::Network), ["jobs", "leftover"]);
        let cache = items.iter().find(|i| i.kind == Kind::BuildCache).unwrap();
        assert_eq!(
            (cache.bytes, cache.name.as_str()),
            (70, "2 unused build cache entries")
        );
        let bytes: u64 = items.iter().map(|i| i.bytes).sum();
        assert_eq!(bytes, 100 + 300 + 50 + 70);
    }

    #[test]
    fn all_images_adds_unused_tagged_ones_but_never_a_release_or_one_in_use() {
        let kept = BTreeSet::from(["c-named".to_string()]);
        let projects = ["gym".to_string(), "gym_monitoring".to_string()];
        let keep = Keep {
            projects: &projects,
            containers: &kept,
        };
        let items = plan(&df(), &networks(), &keep, Images::All);
        let images = names(&items, Kind::Image);
        assert_eq!(images, ["<none> (old)", "<none> (dangling)", "redis:7"]);
        let redis = items.iter().find(|i| i.name == "redis:7").unwrap();
        assert_eq!(redis.bytes, 500, "its own layers, not the shared ones");
    }

    #[test]
    fn an_empty_engine_has_nothing_to_remove() {
        let kept = BTreeSet::new();
        let projects = ["gym".to_string()];
        let keep = Keep {
            projects: &projects,
            containers: &kept,
        };
        assert!(plan(&json!({}), &json!([]), &keep, Images::All).is_empty());
    }
}
