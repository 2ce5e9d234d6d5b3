//! `docker system df`, computed as the docker CLI does, from either shape of `/system/df`
//! (API ≤ 1.51: `LayersSize` + `Images` / `Containers` / `Volumes` / `BuildCache` lists;
//! newer: `ImageUsage` / `ContainerUsage` / `VolumeUsage` / `BuildCacheUsage` summaries). Pure.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// images, containers, local volumes, build cache
    pub kind: String,
    pub total: u64,
    pub active: u64,
    pub size_bytes: u64,
    pub reclaimable_bytes: u64,
}

fn int(value: &Value, key: &str) -> i64 {
    value.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn positive(n: i64) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
