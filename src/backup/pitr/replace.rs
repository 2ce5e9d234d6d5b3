//! `restore --force`: the live PostgreSQL's data directory replaced by a restore's, once
//! that restore has replayed, promoted and been counted in its own container. The live
//! container stays the one compose made (its name, command, mounts, network, the
//! backend's connection string): it is stopped, its data directory emptied and refilled
//! from the restored volume by a helper container of its own image, and started again.

use std::time::Duration;

use anyhow::anyhow;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, HostConfig};

use super::containers::container_labels;
use super::{DATA, ROOT};
use crate::docker::labels::Creation;
use crate::docker::Engine;

/// Where the live PostgreSQL keeps its data: the mount (a named volume or a host
/// directory) holding the data directory, and the data directory's place below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveData {
    pub container: String,
    /// The volume's name, or the host directory of a bind mount.
    pub source: String,
    pub is_volume: bool,
    /// The data directory, as the live container sees it.
    pub data_directory: String,
    /// The data directory relative to the mount ("" when it is the mount itself).
    pub below: String,
}

impl LiveData {
    /// How the operator would name it: `volume fitness_gym_postgres_data` or a path.
    pub fn describe(&self) -> String {
        let place = if self.is_volume {
            crate::say!("volume {}", self.source)
        } else {
            self.source.clone()
        };
        if self.below.is_empty() {
            place
        } else {
            format!("{place}/{}", self.below)
        }
    }
}

/// The data directory of the container's PostgreSQL when it cannot be asked: `PGDATA` of
/// its environment, else the official image's `/var/lib/postgresql/data`.
pub fn default_data_directory(live: &ContainerInspectResponse) -> String {
    live.config
        .as_ref()
        .and_then(|c| c.env.as_ref())
        .and_then(|env| {
            env.iter()
                .find_map(|e| e.strip_prefix("PGDATA="))
                .map(str::to_string)
        })
        .filter(|d| d.starts_with('/'))
        .unwrap_or_else(|| "/var/lib/postgresql/data".into())
}

/// Find the writable mount holding `data_directory` in the live container. Data in the
/// container's own layer cannot be replaced from outside it (and is lost when compose
/// recreates the container): that is refused with what to change.
pub fn locate(
    live: &ContainerInspectResponse,
    data_directory: &str,
) -> std::result::Result<LiveData, String> {
    let container = crate::docker::inspected_name(live);
    let data = data_directory.trim_end_matches('/');
    let mut best: Option<(usize, LiveData, bool)> = None;
    for mount in live.mounts.iter().flatten() {
        let Some(destination) = mount.destination.as_deref() else {
            continue;
        };
        let destination = destination.trim_end_matches('/');
        let below = if data == destination {
            ""
        } else if let Some(rest) = data
            .strip_prefix(destination)
            .and_then(|r| r.strip_prefix('/'))
        {
            rest
        } else {
            continue;
        };
        let is_volume = mount.typ.as_deref() == Some("volume");
        let source = if is_volume {
            mount.name.clone()
        } else if mount.typ.as_deref() == Some("bind") {
            mount.source.clone()
        } else {
            None
        };
        let Some(source) = source else { continue };
        if best
            .as_ref()
            .is_some_and(|(len, _, _)| *len >= destination.len())
        {
            continue;
        }
        best = Some((
            destination.len(),
            LiveData {
                container: container.clone(),
                source,
                is_volume,
                data_directory: data.to_string(),
                below: below.to_string(),
            },
            mount.rw.unwrap_or(true),
        ));
    }
    match best {
        Some((_, data, true)) => Ok(data),
        Some((_, data, false)) => Err(crate::say!(
            "PostgreSQL's data directory {} is on a read-only mount of container {}",
            data.data_directory,
            container
        )),
        None => Err(crate::say!(
            "PostgreSQL's data directory {data} is in container {container}'s own layer, not on a volume: it cannot be replaced from outside (and compose loses it when it recreates the container)"
        )),
    }
}

/// Where the helper sees the live data mount.
const LIVE: &str = "/var/lib/gymops-live";

/// The argument vectors of the two helper runs: empty the data directory (keeping the
/// directory itself, its owner and mode), then copy the restored one in with owners,
/// modes and times.
pub fn helper_commands(below: &str) -> [Vec<String>; 2] {
    let target = if below.is_empty() {
        LIVE.to_string()
    } else {
        format!("{LIVE}/{below}")
    };
    [
        vec![
            "find".into(),
            target.clone(),
            "-mindepth".into(),
            "1".into(),
            "-delete".into(),
        ],
        vec![
            "cp".into(),
            "-a".into(),
            format!("{DATA}/."),
            format!("{target}/"),
        ],
    ]
}

/// A failed swap: what it says, and whether the live data directory was touched (then the
/// restored volume is the copy to keep).
#[derive(Debug)]
pub struct SwapFailed {
    pub error: anyhow::Error,
    pub live_touched: bool,
}

/// Everything the swap needs.
pub struct Swap<'a> {
    pub engine: &'a Engine,
    pub project: &'a str,
    pub live: &'a LiveData,
    /// The restored PostgreSQL (promoted, counted) and its volume.
    pub restored_container: &'a str,
    pub restored_volume: &'a str,
    /// The live container as inspected: the helper takes its image and read-only mounts.
    pub template: &'a ContainerInspectResponse,
    /// How long a stop or one helper run may take.
    pub limit: Duration,
}

/// Stop the restored PostgreSQL cleanly, stop the live one, empty and refill its data
/// directory, start it. The caller waits for it to answer.
pub async fn swap(swap: &Swap<'_>) -> std::result::Result<(), SwapFailed> {
    let engine = swap.engine;
    let untouched = |error: anyhow::Error| SwapFailed {
        error,
        live_touched: false,
    };
    // A clean shutdown of the restored server: its data directory is consistent as copied.
    engine
        .stop(swap.restored_container, swap.limit)
        .await
        .map_err(untouched)?;
    let (_, _, code) = engine
        .container_status(swap.restored_container)
        .await
        .map_err(untouched)?;
    if code != Some(0) {
        return Err(untouched(anyhow!(
            "the restored PostgreSQL did not shut down cleanly (exit code {}): {}",
            code.unwrap_or(-1),
            super::last_lines(engine, swap.restored_container).await
        )));
    }
    engine
        .stop(&swap.live.container, swap.limit)
        .await
        .map_err(untouched)?;
    let [empty, fill] = helper_commands(&swap.live.below);
    for (step, command) in [("empty", empty), ("fill", fill)] {
        let creation = helper(swap, command);
        let ended = engine.run_to_end(&creation, swap.limit).await;
        let failure = match ended {
            Ok(ended) if ended.exit_code == 0 => None,
            Ok(ended) => {
                let code = ended.exit_code;
                let line = ended
                    .tail
                    .last()
                    .map(|l| l.trim_end().to_string())
                    .unwrap_or_default();
                Some(if step == "empty" {
                    anyhow!("emptying the data directory failed (exit code {code}): {line}")
                } else {
                    anyhow!("refilling the data directory failed (exit code {code}): {line}")
                })
            }
            Err(err) => Some(err),
        };
        if let Some(error) = failure {
            return Err(SwapFailed {
                error,
                live_touched: true,
            });
        }
    }
    engine
        .start(&swap.live.container)
        .await
        .map_err(|error| SwapFailed {
            error,
            live_touched: true,
        })
}

/// A helper container of the live one's image, as root (owners are copied as they are),
/// without a network, with the live data mount and the restored volume (read-only).
fn helper(swap: &Swap<'_>, command: Vec<String>) -> Creation {
    let mut binds = crate::docker::read_only_binds(swap.template);
    binds.push(format!("{}:{LIVE}", swap.live.source));
    binds.push(format!("{}:{ROOT}:ro", swap.restored_volume));
    Creation {
        name: format!("{}-replace-1", swap.project),
        body: ContainerCreateBody {
            image: Some(crate::docker::template_image(swap.template)),
            entrypoint: Some(Vec::new()),
            cmd: Some(command),
            user: Some("0:0".into()),
            labels: Some(container_labels(swap.project, "replace")),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        more_networks: Vec::new(),
        platform: None,
        files: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, MountPoint};

    fn live(mounts: Vec<MountPoint>, env: Vec<&str>) -> ContainerInspectResponse {
        ContainerInspectResponse {
            name: Some("/fitness_gym_postgres".into()),
            mounts: Some(mounts),
            config: Some(ContainerConfig {
                env: Some(env.into_iter().map(str::to_string).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn mount(typ: &str, name: Option<&str>, source: &str, dest: &str, rw: bool) -> MountPoint {
        MountPoint {
            typ: Some(typ.into()),
            name: name.map(str::to_string),
            source: Some(source.into()),
            destination: Some(dest.into()),
            rw: Some(rw),
            ..Default::default()
        }
    }

    #[test]
    fn the_official_images_volume_is_the_data_directory_itself() {
        let c = live(
            vec![
                mount("bind", None, "/usr", "/usr", false),
                mount(
                    "volume",
                    Some("fitness_gym_postgres_data"),
                    "/var/lib/docker/volumes/fitness_gym_postgres_data/_data",
                    "/var/lib/postgresql/data",
                    true,
                ),
            ],
            vec!["PATH=/usr/bin"],
        );
        let dir = default_data_directory(&c);
        assert_eq!(dir, "/var/lib/postgresql/data");
        let found = locate(&c, &dir).unwrap();
        assert_eq!(found.source, "fitness_gym_postgres_data");
        assert!(found.is_volume);
        assert_eq!(found.below, "");
        assert_eq!(found.container, "fitness_gym_postgres");
        assert_eq!(found.describe(), "volume fitness_gym_postgres_data");
        assert_eq!(
            helper_commands(&found.below),
            [
                vec!["find", LIVE, "-mindepth", "1", "-delete"],
                vec![
                    "cp",
                    "-a",
                    "/var/lib/gymops-restore/data/.",
                    "/var/lib/gymops-live/"
                ],
            ]
            .map(|v| v.into_iter().map(str::to_string).collect::<Vec<_>>())
        );
    }

    #[test]
    fn pgdata_below_a_bind_mount_takes_the_deepest_mount() {
        let c = live(
            vec![
                mount("bind", None, "/srv", "/data", true),
                mount("bind", None, "/srv/pg", "/data/pg/", true),
            ],
            vec!["PGDATA=/data/pg/15/main"],
        );
        let found = locate(&c, &default_data_directory(&c)).unwrap();
        assert_eq!(found.source, "/srv/pg");
        assert!(!found.is_volume);
        assert_eq!(found.below, "15/main");
        assert_eq!(
            helper_commands(&found.below)[0][1],
            format!("{LIVE}/15/main")
        );
        assert_eq!(found.describe(), "/srv/pg/15/main");
    }

    #[test]
    fn data_in_the_container_layer_or_read_only_is_refused() {
        // /data/pgdatax is not below /data/pgdata: component-wise, not by text.
        let c = live(
            vec![mount("volume", Some("v"), "/x", "/data/pgdata", true)],
            vec![],
        );
        let err = locate(&c, "/data/pgdatax").unwrap_err();
        assert!(err.contains("own layer"), "{err}");
        let c = live(
            vec![mount(
                "volume",
                Some("v"),
                "/x",
                "/var/lib/postgresql/data",
                false,
            )],
            vec![],
        );
        let err = locate(&c, "/var/lib/postgresql/data").unwrap_err();
        assert!(err.contains("read-only"), "{err}");
    }
}
