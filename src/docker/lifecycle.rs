//! Creating, starting, stopping and removing a compose project's containers, networks and
//! volumes through the Engine API, every call under the Docker timeout (stops get theirs
//! plus the grace period).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bollard::models::{NetworkConnectRequest, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::labels::{
    Creation, FileCopy, LABEL_HASH, LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE,
};
use super::Engine;

/// A container of the project, whoever started it.
#[derive(Debug, Clone)]
pub struct ProjectContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub hash: Option<String>,
    /// running, exited, created...
    pub state: String,
    pub image: String,
    pub image_id: String,
    /// compose's container number (1 when the label is missing).
    pub number: u32,
    /// The image name it was deployed as (gymops' label), when it runs on a pinned tag.
    pub deployed_image: Option<String>,
}

fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl Engine {
    pub(super) async fn call<T>(
        &self,
        what: impl Fn() -> String,
        work: impl std::future::Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T> {
        crate::deadline::limit(
            self.timeout.max(Duration::from_secs(10)),
            || format!("{}: no answer from the engine", what()),
            work,
        )
        .await?
        .with_context(what)
    }

    /// The project's containers (not one-off runs), by compose labels.
    pub async fn project_containers(&self, project: &str) -> Result<Vec<ProjectContainer>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_PROJECT}={project}")],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .call(
                || "cannot list the project's containers".into(),
                self.docker.list_containers(Some(options)),
            )
            .await?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                if labels.get(LABEL_ONEOFF).is_some_and(|v| v == "True") {
                    return None;
                }
                Some(ProjectContainer {
                    id: c.id?,
                    name: c
                        .names
                        .and_then(|n| n.first().cloned())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    service: labels.get(LABEL_SERVICE)?.clone(),
                    hash: labels.get(LABEL_HASH).cloned(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    image_id: c.image_id.unwrap_or_default(),
                    number: labels
                        .get(LABEL_NUMBER)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(1),
                    deployed_image: labels.get(super::labels::LABEL_IMAGE).cloned(),
                })
            })
            .collect())
    }

    /// The ID of a local image, or None when the engine does not have it.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>> {
        match crate::deadline::limit(
            self.timeout.max(Duration::from_secs(10)),
            || format!("cannot inspect image {reference}: no answer from the engine"),
            self.docker.inspect_image(reference),
        )
        .await?
        {
            Ok(image) => Ok(image.id),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("cannot inspect image {reference}")),
        }
    }

    /// Pull an image, calling `progress` with each status line; bounded by `limit`.
    pub async fn pull(
        &self,
        reference: &str,
        limit: Duration,
        mut progress: impl FnMut(&str),
    ) -> Result<()> {
        let (name, tag) = match reference.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (reference, "latest"),
        };
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        let work = async {
            while let Some(item) = stream.next().await {
                let info = item.with_context(|| format!("cannot pull {reference}"))?;
                if let Some(error) = info.error_detail.and_then(|e| e.message) {
                    return Err(anyhow!("cannot pull {reference}: {error}"));
                }
                // `a1b2c3 Downloading 12.0 MiB / 40.0 MiB (30%)`
                let bytes = info
                    .progress_detail
                    .and_then(|d| match (d.current, d.total) {
                        (Some(current), Some(total)) if total > 0 => Some(format!(
                            "{} / {} ({}%)",
                            crate::output::human_bytes(current.max(0) as u64),
                            crate::output::human_bytes(total as u64),
                            current.max(0) * 100 / total
                        )),
                        _ => None,
                    });
                let line = [
                    info.id.unwrap_or_default(),
                    info.status.unwrap_or_default(),
                    bytes.unwrap_or_default(),
                ]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
                progress(&line);
            }
            Ok(())
        };
        crate::deadline::limit(
            limit,
            || format!("pulling {reference} did not finish"),
            work,
        )
        .await?
    }

    pub async fn network_exists(&self, name: &str) -> Result<bool> {
        match crate::deadline::limit(
            self.timeout.max(Duration::from_secs(10)),
            || format!("cannot inspect network {name}: no answer from the engine"),
            self.docker.inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            ),
        )
        .await?
        {
            Ok(_) => Ok(true),
            Err(err) if is_not_found(&err) => Ok(false),
            Err(err) => Err(err).with_context(|| format!("cannot inspect network {name}")),
        }
    }

    /// Build `reference` from a tar of the build context, calling `progress` per output line.
    pub async fn build_image(
        &self,
        reference: &str,
        build: &crate::compose::model::Build,
        tar: Vec<u8>,
        limit: Duration,
        progress: &mut impl FnMut(&str),
    ) -> Result<()> {
        let args: HashMap<String, String> = build
            .args
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        let mut options = bollard::query_parameters::BuildImageOptionsBuilder::default()
            .dockerfile(build.dockerfile.as_deref().unwrap_or("Dockerfile"))
            .t(reference)
            .rm(true)
            .buildargs(&args);
        if let Some(target) = &build.target {
            options = options.target(target);
        }
        let mut stream = self.docker.build_image(
            options.build(),
            None,
            Some(bollard::body_full(bytes::Bytes::from(tar))),
        );
        let work = async {
            while let Some(item) = stream.next().await {
                let info = item.with_context(|| format!("cannot build {reference}"))?;
                if let Some(error) = info.error_detail.and_then(|e| e.message) {
                    return Err(anyhow!("building {reference} failed: {}", error.trim()));
                }
                if let Some(line) = info.stream {
                    let line = line.trim_end();
                    if !line.is_empty() {
                        progress(line);
                    }
                }
            }
            Ok(())
        };
        crate::deadline::limit(
            limit,
            || format!("building {reference} did not finish"),
            work,
        )
        .await?
    }

    /// Tag an image (by ID or reference) as `repo:tag`.
    pub async fn tag(&self, image: &str, repo: &str, tag: &str) -> Result<()> {
        let options = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        self.call(
            || format!("cannot tag {image} as {repo}:{tag}"),
            self.docker.tag_image(image, Some(options)),
        )
        .await
    }

    /// Remove a tag (the image goes too when nothing else refers to it). A missing tag is fine.
    pub async fn untag(&self, reference: &str) -> Result<()> {
        match crate::deadline::limit(
            self.timeout.max(Duration::from_secs(10)),
            || format!("cannot remove the tag {reference}: no answer from the engine"),
            self.docker.remove_image(
                reference,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            ),
        )
        .await?
        {
            Ok(_) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            // 409: a container still uses the image; the tag stays, which is harmless.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(err) => Err(err).with_context(|| format!("cannot remove the tag {reference}")),
        }
    }

    /// Create a network unless one of that name exists; true when created.
    pub async fn ensure_network(&self, request: NetworkCreateRequest) -> Result<bool> {
        let name = request.name.clone();
        if self
            .docker
            .inspect_network(
                &name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .is_ok()
        {
            return Ok(false);
        }
        self.call(
            || format!("cannot create network {name}"),
            self.docker.create_network(request),
        )
        .await?;
        Ok(true)
    }

    /// Create a volume unless one of that name exists; true when created.
    pub async fn ensure_volume(&self, request: VolumeCreateRequest) -> Result<bool> {
        let name = request.name.clone().unwrap_or_default();
        if self.docker.inspect_volume(&name).await.is_ok() {
            return Ok(false);
        }
        self.call(
            || format!("cannot create volume {name}"),
            self.docker.create_volume(request),
        )
        .await?;
        Ok(true)
    }

    /// Create a container, join its further networks and put its files in; its ID. A
    /// container that cannot be completed is removed again.
    pub async fn create(&self, creation: &Creation) -> Result<String> {
        let mut options = CreateContainerOptionsBuilder::default().name(&creation.name);
        if let Some(platform) = &creation.platform {
            options = options.platform(platform);
        }
        let created = self
            .call(
                || format!("cannot create container {}", creation.name),
                self.docker
                    .create_container(Some(options.build()), creation.body.clone()),
            )
            .await?;
        let completed = async {
            for (network, endpoint) in &creation.more_networks {
                self.call(
                    || format!("cannot connect {} to {network}", creation.name),
                    self.docker.connect_network(
                        network,
                        NetworkConnectRequest {
                            container: created.id.clone(),
                            endpoint_config: Some(endpoint.clone()),
                        },
                    ),
                )
                .await?;
            }
            if !creation.files.is_empty() {
                self.copy_files(&created.id, &creation.name, &creation.files)
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if let Err(err) = completed {
            let _ = self.remove(&created.id).await;
            return Err(err);
        }
        Ok(created.id)
    }

    /// Put files into a (created, not yet started) container as one tar archive at `/`;
    /// missing parent directories are made by the engine (0755).
    async fn copy_files(&self, id: &str, name: &str, files: &[FileCopy]) -> Result<()> {
        let mut archive = tar::Builder::new(Vec::new());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        for file in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(file.content.len() as u64);
            header.set_mode(file.mode);
            header.set_uid(u64::from(file.uid));
            header.set_gid(u64::from(file.gid));
            header.set_mtime(now);
            header.set_entry_type(tar::EntryType::Regular);
            archive
                .append_data(
                    &mut header,
                    file.path.trim_start_matches('/'),
                    file.content.as_slice(),
                )
                .with_context(|| format!("cannot pack {} for {name}", file.path))?;
        }
        let tar = archive.into_inner()?;
        let options = bollard::query_parameters::UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        self.call(
            || {
                format!(
                    "cannot put {} into container {name} (a read_only container cannot take them: mount a tmpfs at their directory)",
                    files
                        .iter()
                        .map(|f| f.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
            self.docker
                .upload_to_container(id, Some(options), bollard::body_full(tar.into())),
        )
        .await
    }

    /// Start a container; one that is running already (the engine's 304) is not an error.
    pub async fn start(&self, id: &str) -> Result<()> {
        let started = self
            .call(
                || format!("cannot start container {id}"),
                self.docker
                    .start_container(id, None::<bollard::query_parameters::StartContainerOptions>),
            )
            .await;
        match started {
            Err(err)
                if matches!(
                    err.downcast_ref::<bollard::errors::Error>(),
                    Some(bollard::errors::Error::DockerResponseServerError {
                        status_code: 304,
                        ..
                    })
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Stop with a grace period of `timeout` before the engine kills it.
    pub async fn stop(&self, id: &str, timeout: Duration) -> Result<()> {
        let options = StopContainerOptionsBuilder::default()
            .t(timeout.as_secs() as i32)
            .build();
        let limit = timeout + self.timeout.max(Duration::from_secs(10));
        // The client's own timeout must outlast the grace period.
        let docker = self.docker.clone().with_timeout(limit);
        match crate::deadline::limit(
            limit,
            || format!("container {id} did not stop"),
            docker.stop_container(id, Some(options)),
        )
        .await?
        {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(err) => Err(err).with_context(|| format!("cannot stop container {id}")),
        }
    }

    pub async fn remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        self.call(
            || format!("cannot remove container {id}"),
            self.docker.remove_container(id, Some(options)),
        )
        .await
    }

    pub async fn rename(&self, id: &str, name: &str) -> Result<()> {
        let options = RenameContainerOptionsBuilder::default().name(name).build();
        self.call(
            || format!("cannot rename container {id} to {name}"),
            self.docker.rename_container(id, options),
        )
        .await
    }

    /// (state, health, exit code) of a container now.
    pub async fn container_status(
        &self,
        id: &str,
    ) -> Result<(String, Option<String>, Option<i64>)> {
        let inspect = self.inspect(id).await?;
        let state = inspect.state.unwrap_or_default();
        Ok((
            state.status.map(|s| s.to_string()).unwrap_or_default(),
            state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            state.exit_code,
        ))
    }

    /// Names of the networks carrying the project's label.
    pub async fn project_networks(&self, project: &str) -> Result<Vec<String>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_PROJECT}={project}")],
        )]);
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .call(
                || "cannot list networks".into(),
                self.docker.list_networks(Some(options)),
            )
            .await?;
        Ok(list.into_iter().filter_map(|n| n.name).collect())
    }

    /// Names of the volumes carrying the project's label.
    pub async fn project_volumes(&self, project: &str) -> Result<Vec<String>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_PROJECT}={project}")],
        )]);
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .call(
                || "cannot list volumes".into(),
                self.docker.list_volumes(Some(options)),
            )
            .await?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    pub async fn remove_network(&self, name: &str) -> Result<()> {
        self.call(
            || format!("cannot remove network {name}"),
            self.docker.remove_network(name),
        )
        .await
    }

    pub async fn remove_volume(&self, name: &str) -> Result<()> {
        self.call(
            || format!("cannot remove volume {name}"),
            self.docker
                .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>),
        )
        .await
    }

    /// Host ports published by containers: (host port, container name, project, service).
    pub async fn published_ports(
        &self,
    ) -> Result<Vec<(u16, String, Option<String>, Option<String>)>> {
        let options = ListContainersOptionsBuilder::default().all(false).build();
        let list = self
            .call(
                || "cannot list containers".into(),
                self.docker.list_containers(Some(options)),
            )
            .await?;
        let mut out = Vec::new();
        for container in list {
            let labels = container.labels.unwrap_or_default();
            let name = container
                .names
                .and_then(|n| n.first().cloned())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default();
            for port in container.ports.unwrap_or_default() {
                if let Some(public) = port.public_port {
                    out.push((
                        public,
                        name.clone(),
                        labels.get(LABEL_PROJECT).cloned(),
                        labels.get(LABEL_SERVICE).cloned(),
                    ));
                }
            }
        }
        Ok(out)
    }
}
