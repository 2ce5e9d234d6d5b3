//! `docker system df`, computed as the docker CLI does, from either shape of `/system/df`
//! (API ≤ 1.51: `LayersSize` + `Images` / `Containers` / `Volumes` / `BuildCache` lists;
//! newer: `ImageUsage` / `ContainerUsage` / `VolumeUsage` / `BuildCacheUsage` summaries). Pure.

use serde::Serialize;
use serde_json::Value;

use super::labels::{LABEL_PROJECT, LABEL_SERVICE};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// images, containers, local volumes, build cache
    pub kind: String,
    pub total: u64,
    pub active: u64,
    pub size_bytes: u64,
    pub reclaimable_bytes: u64,
}

pub(super) fn int(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

pub(super) fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// A label of a container or network in the engine's lists.
pub(super) fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.get("Labels")?.get(key)?.as_str()
}

/// A container's name in the engine's lists (its first, without the `/`), else its ID.
pub(super) fn container_name(container: &Value) -> String {
    list(container, "Names")
        .first()
        .and_then(Value::as_str)
        .or_else(|| container.get("Id").and_then(Value::as_str))
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string()
}

pub(super) fn positive(n: i64) -> u64 {
    n.max(0) as u64
}

pub fn usage(df: &Value) -> Vec<UsageRow> {
    if df.get("ImageUsage").is_some() || df.get("ContainerUsage").is_some() {
        return [
            ("images", "ImageUsage"),
            ("containers", "ContainerUsage"),
            ("local volumes", "VolumeUsage"),
            ("build cache", "BuildCacheUsage"),
        ]
        .into_iter()
        .map(|(kind, key)| {
            let summary = df.get(key).cloned().unwrap_or(Value::Null);
            UsageRow {
                kind: kind.into(),
                total: positive(int(&summary, "TotalCount")),
                active: positive(int(&summary, "ActiveCount")),
                size_bytes: positive(int(&summary, "TotalSize")),
                reclaimable_bytes: positive(int(&summary, "Reclaimable")),
            }
        })
        .collect();
    }
    let images = list(df, "Images");
    let layers_size = int(df, "LayersSize");
    let used_by_containers: i64 = images
        .iter()
        .filter(|i| int(i, "Containers") > 0 && int(i, "Size") >= 0 && int(i, "SharedSize") >= 0)
        .map(|i| int(i, "Size") - int(i, "SharedSize"))
        .sum();
    let containers = list(df, "Containers");
    let running = |c: &Value| c.get("State").and_then(Value::as_str) == Some("running");
    let volumes = list(df, "Volumes");
    let volume_size = |v: &Value| {
        v.get("UsageData")
            .map(|u| int(u, "Size"))
            .unwrap_or(-1)
            .max(0)
    };
    let volume_used = |v: &Value| v.get("UsageData").map(|u| int(u, "RefCount")).unwrap_or(0) > 0;
    let cache = list(df, "BuildCache");
    let in_use = |b: &Value| b.get("InUse").and_then(Value::as_bool).unwrap_or(false);
    let shared = |b: &Value| b.get("Shared").and_then(Value::as_bool).unwrap_or(false);
    vec![
        UsageRow {
            kind: "images".into(),
            total: images.len() as u64,
            active: images.iter().filter(|i| int(i, "Containers") > 0).count() as u64,
            size_bytes: positive(layers_size),
            reclaimable_bytes: positive(layers_size - used_by_containers),
        },
        UsageRow {
            kind: "containers".into(),
            total: containers.len() as u64,
            active: containers.iter().filter(|c| running(c)).count() as u64,
            size_bytes: containers.iter().map(|c| positive(int(c, "SizeRw"))).sum(),
            reclaimable_bytes: containers
                .iter()
                .filter(|c| !running(c))
                .map(|c| positive(int(c, "SizeRw")))
                .sum(),
        },
        UsageRow {
            kind: "local volumes".into(),
            total: volumes.len() as u64,
            active: volumes.iter().filter(|v| volume_used(v)).count() as u64,
            size_bytes: volumes.iter().map(|v| positive(volume_size(v))).sum(),
            reclaimable_bytes: volumes
                .iter()
                .filter(|v| !volume_used(v))
                .map(|v| positive(volume_size(v)))
                .sum(),
        },
        UsageRow {
            kind: "build cache".into(),
            total: cache.len() as u64,
            active: cache.iter().filter(|b| in_use(b)).count() as u64,
            size_bytes: cache
                .iter()
                .filter(|b| !shared(b))
                .map(|b| positive(int(b, "Size")))
                .sum(),
            reclaimable_bytes: cache
                .iter()
                .filter(|b| !in_use(b) && !shared(b))
                .map(|b| positive(int(b, "Size")))
                .sum(),
        },
    ]
}

/// A volume, as `docker system df -v` lists it, with what uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeRow {
    pub name: String,
    pub driver: String,
    /// Bytes on disk (null when the engine does not measure it: a driver other than local).
    pub size_bytes: Option<u64>,
    /// Containers that mount it (running or not).
    pub links: u64,
    /// The deployment's services that mount it (by the compose service label).
    pub services: Vec<String>,
    /// Containers of other projects (or none) that mount it.
    pub other_containers: Vec<String>,
}

/// Each volume of `/system/df` with its size and the services (of `project`) and other
/// containers that mount it, largest first.
pub fn volumes(df: &Value, project: &str) -> Vec<VolumeRow> {
    let mut listed = list(df, "Volumes");
    if listed.is_empty() {
        // The newer shape lists the volumes under VolumeUsage.Items (verbose answers).
        listed = df
            .get("VolumeUsage")
            .map(|u| list(u, "Items"))
            .unwrap_or_default();
    }
    let containers = list(df, "Containers");
    let mut rows: Vec<VolumeRow> = listed
        .iter()
        .map(|v| {
            let name = v
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let usage = v.get("UsageData");
            let size = usage.map(|u| int(u, "Size")).filter(|n| *n >= 0);
            let mut services = Vec::new();
            let mut other_containers = Vec::new();
            for c in containers {
                let mounts = list(c, "Mounts");
                let mounted = mounts.iter().any(|m| {
                    m.get("Type").and_then(Value::as_str) == Some("volume")
                        && m.get("Name").and_then(Value::as_str) == Some(name.as_str())
                });
                if !mounted {
                    continue;
                }
                let ours = label(c, LABEL_PROJECT) == Some(project);
                match (ours, label(c, LABEL_SERVICE)) {
                    (true, Some(service)) => services.push(service.to_string()),
                    _ => other_containers.push(container_name(c)),
                }
            }
            services.sort();
            services.dedup();
            other_containers.sort();
            VolumeRow {
                driver: v
                    .get("Driver")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                size_bytes: size.map(positive),
                links: usage.map(|u| positive(int(u, "RefCount"))).unwrap_or(0),
                services,
                other_containers,
                name,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.size_bytes.cmp(&a.size_bytes).then(a.name.cmp(&b.name)));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volumes_say_their_size_and_who_mounts_them_largest_first() {
        let df = json!({
            "Containers": [
                {"Names": ["/gym_postgres_1"], "Labels": {"com.docker.compose.project": "gym", "com.docker.compose.service": "postgres"},
                 "Mounts": [{"Type": "volume", "Name": "gym_pgdata"}, {"Type": "bind", "Name": ""}]},
                {"Names": ["/tooling"], "Labels": {},
                 "Mounts": [{"Type": "volume", "Name": "gym_pgdata"}]},
                {"Names": ["/other_db_1"], "Labels": {"com.docker.compose.project": "other", "com.docker.compose.service": "db"},
                 "Mounts": [{"Type": "volume", "Name": "other_data"}]}
            ],
            "Volumes": [
                {"Name": "other_data", "Driver": "local", "UsageData": {"Size": 10, "RefCount": 1}},
                {"Name": "gym_pgdata", "Driver": "local", "UsageData": {"Size": 5000, "RefCount": 2}},
                {"Name": "nfs", "Driver": "nfs", "UsageData": {"Size": -1, "RefCount": 0}}
            ]
        });
        let rows = volumes(&df, "gym");
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["gym_pgdata", "other_data", "nfs"]);
        assert_eq!(
            (
                rows[0].size_bytes,
                rows[0].links,
                rows[0].services.clone(),
                rows[0].other_containers.clone()
            ),
            (
                Some(5000),
                2,
                vec!["postgres".to_string()],
                vec!["tooling".to_string()]
            )
        );
        assert_eq!(rows[1].other_containers, ["other_db_1"]);
        assert_eq!((rows[2].size_bytes, rows[2].links), (None, 0));
    }

    #[test]
    fn the_api_1_41_shape_is_summed_like_the_docker_cli() {
        let df = json!({
            "LayersSize": 1000,
            "Images": [
                {"Size": 600, "SharedSize": 100, "Containers": 2},
                {"Size": 500, "SharedSize": 100, "Containers": 0}
            ],
            "Containers": [
                {"SizeRw": 10, "State": "running"},
                {"SizeRw": 30, "State": "exited"}
            ],
            "Volumes": [
                {"UsageData": {"Size": 200, "RefCount": 1}},
                {"UsageData": {"Size": 50, "RefCount": 0}},
                {"UsageData": {"Size": -1, "RefCount": 0}}
            ],
            "BuildCache": [
                {"Size": 70, "InUse": false, "Shared": false},
                {"Size": 5, "InUse": true, "Shared": false},
                {"Size": 9, "InUse": false, "Shared": true}
            ]
        });
        let rows = usage(&df);
        let summary: Vec<(u64, u64, u64, u64)> = rows
            .iter()
            .map(|r| (r.total, r.active, r.size_bytes, r.reclaimable_bytes))
            .collect();
        assert_eq!(
            summary,
            vec![
                (2, 1, 1000, 500),
                (2, 1, 40, 30),
                (3, 1, 250, 50),
                (3, 1, 75, 70)
            ]
        );
    }

    #[test]
    fn the_newer_summary_shape_is_read_as_it_is() {
        let df = json!({
            "ImageUsage": {"ActiveCount": 1, "TotalCount": 3, "TotalSize": 900, "Reclaimable": 400},
            "ContainerUsage": {"ActiveCount": 2, "TotalCount": 2, "TotalSize": 12, "Reclaimable": 0},
            "VolumeUsage": {"ActiveCount": 0, "TotalCount": 1, "TotalSize": 7, "Reclaimable": 7},
            "BuildCacheUsage": {"ActiveCount": 0, "TotalCount": 0, "TotalSize": 0, "Reclaimable": 0}
        });
        let rows = usage(&df);
        assert_eq!((rows[0].total, rows[0].reclaimable_bytes), (3, 400));
        assert_eq!(
            (rows[2].kind.as_str(), rows[2].size_bytes),
            ("local volumes", 7)
        );
    }

    #[test]
    fn an_empty_answer_is_all_zero() {
        assert!(usage(&json!({}))
            .iter()
            .all(|r| r.total == 0 && r.size_bytes == 0));
    }
}
