//! The steps of `up` (preflight, images, networks and volumes, containers in dependency
//! order, health waits, the health gate), `down`, and `stop`/`start`/`restart`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;

use super::create;
use super::spec::{self, LABEL_IMAGE, LABEL_NETWORK, LABEL_PROJECT, LABEL_VERSION, LABEL_VOLUME};
use crate::compose::{Condition, Project};
use crate::docker::labels::FileCopy;
use crate::docker::lifecycle::ProjectContainer;
use crate::docker::Engine;
use crate::error::HintExt;

/// When to pull an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pull {
    /// Every time
    Always,
    /// When the engine does not have it (and the service has no build)
    Missing,
    /// Never: a missing image is an error
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Recreated,
    Started,
    Unchanged,
    /// Scaled down.
    Removed,
    /// A Swarm service given a new spec (its tasks roll).
    Updated,
}

/// What `up` did to one container of a service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceOutcome {
    pub service: String,
    /// compose's container number (replica).
    pub number: u32,
    pub container: String,
    pub action: Action,
    /// The image as deployed (`fitness-gym-api:v1.1.5`), also after a rollback.
    pub image: String,
    /// The `gymops-release/...` tag a rollback ran it from, which keeps that image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    pub image_id: String,
    /// The container this one replaced.
    pub replaced: Option<String>,
    /// What ran before: image reference and ID (none for a new service).
    pub previous_image: Option<String>,
    pub previous_image_id: Option<String>,
    pub config_hash: String,
    pub state: String,
    pub health: Option<String>,
    pub elapsed_ms: u64,
    /// The container's environment, for the release record; never printed.
    #[serde(skip)]
    pub environment: BTreeMap<String, String>,
}

/// The services to act on: the named ones and what they depend on (all services without a
/// profile when none is named), in start order.
pub fn selection(project: &Project, named: &[String]) -> Result<Vec<String>> {
    for name in named {
        if !project.model.services.contains_key(name) {
            return Err(anyhow!("no service `{name}` in the compose files"))
                .hint(format!("services are: {}", project.start_order.join(", ")));
        }
    }
    let mut wanted: BTreeSet<String> = if named.is_empty() {
        project
            .model
            .services
            .iter()
            .filter(|(_, s)| s.profiles.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    } else {
        named.iter().cloned().collect()
    };
    let mut queue: Vec<String> = wanted.iter().cloned().collect();
    while let Some(name) = queue.pop() {
        for dependency in project.model.services[&name].depends_on.keys() {
            if wanted.insert(dependency.clone()) {
                queue.push(dependency.clone());
            }
        }
    }
    Ok(project
        .start_order
        .iter()
        .filter(|n| wanted.contains(*n))
        .cloned()
        .collect())
}

/// Read a service's env files (compose syntax) in order.
pub(crate) fn env_files(files: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for path in files {
        for item in dotenvy::from_path_iter(path)
            .with_context(|| format!("cannot read env_file {}", path.display()))
            .hint("check the service's env_file entries (paths are relative to the compose file)")?
        {
            out.push(item.map_err(|err| anyhow!("env_file {}: {err}", path.display()))?);
        }
    }
    Ok(out)
}

/// Wait until `id` meets `condition` (or is healthy/running), or fail with why.
pub async fn wait_for(
    engine: &Engine,
    id: &str,
    name: &str,
    condition: Condition,
    deadline: Instant,
) -> Result<(String, Option<String>)> {
    loop {
        let (state, health, exit_code) = engine.container_status(id).await?;
        let done = match condition {
            Condition::ServiceStarted => state == "running",
            Condition::ServiceHealthy => match health.as_deref() {
                Some("healthy") => true,
                Some("unhealthy") => {
                    return Err(anyhow!("{name} is unhealthy"));
                }
                // No healthcheck: running is all there is to wait for.
                None => state == "running",
                _ => false,
            },
            Condition::ServiceCompletedSuccessfully => match (state.as_str(), exit_code) {
                ("exited", Some(0)) => true,
                ("exited", Some(code)) => return Err(anyhow!("{name} exited with code {code}")),
                _ => false,
            },
        };
        if done {
            return Ok((state, health));
        }
        if matches!(state.as_str(), "exited" | "dead")
            && condition != Condition::ServiceCompletedSuccessfully
        {
            return Err(anyhow!(
                "{name} stopped (exit code {})",
                exit_code.unwrap_or(-1)
            ));
        }
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "{name} is {}{} after the wait timeout",
                state,
                health.map(|h| format!(" ({h})")).unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A service run on a kept image instead of its configured one (a rollback).
#[derive(Debug, Clone)]
pub struct Pin {
    /// The reference the container is created with (the kept tag, or the image ID).
    pub reference: String,
    pub image_id: String,
    /// The name the image was deployed as (`fitness-gym-api:v1.1.5`), for ps and reports.
    pub deployed_as: Option<String>,
    /// The environment the container had then (when the release recorded it).
    pub environment: Option<BTreeMap<String, String>>,
}

pub struct UpPlan<'a> {
    pub project_name: &'a str,
    pub project: &'a Project,
    pub services: &'a [String],
    pub pull: Pull,
    pub build: bool,
    pub wait_timeout: Duration,
    pub stop_timeout: Duration,
    pub working_dir: &'a Path,
    pub environment: &'a BTreeMap<String, String>,
    /// Services to run on a given image instead of their configured one (a rollback).
    pub pins: &'a HashMap<String, Pin>,
    /// `--scale SERVICE=N`: over the files' replicas.
    pub scale: &'a BTreeMap<String, u32>,
}

impl UpPlan<'_> {
    /// How many containers `service` runs in this plan.
    pub fn replicas(&self, name: &str) -> u32 {
        self.scale.get(name).copied().unwrap_or_else(|| {
            self.project
                .model
                .services
                .get(name)
                .map(|s| s.replica_count())
                .unwrap_or(1)
        })
    }

    /// A service's stop grace period: its stop_grace_period, else deploy.stop_timeout.
    pub fn grace(&self, name: &str) -> Duration {
        self.project
            .model
            .services
            .get(name)
            .and_then(|s| s.stop_grace_period)
            .unwrap_or(self.stop_timeout)
    }
}

/// What `up` did: per container, a dependency that blocked it, and the time of each phase.
#[derive(Debug, Default)]
pub struct UpRun {
    pub outcomes: Vec<ServiceOutcome>,
    pub blocked: Option<Blocked>,
    pub phases: Vec<(String, u64)>,
}

/// A dependency that did not reach its condition: the services after it were not started.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub dependency: String,
    pub container: String,
    pub dependent: String,
    pub error: String,
}

/// A secret's or config's content: its file (a regular file of at most `cap` bytes), its
/// variable's value, or its inline content; None when it has no source here (external).
pub(crate) fn source_content(
    source: &crate::compose::model::Source,
    cap: u64,
) -> Result<Option<Vec<u8>>> {
    Ok(match (&source.file, &source.value, &source.content) {
        (Some(file), ..) => Some(crate::fsutil::read_regular_file(
            file,
            "secret or config file",
            cap,
        )?),
        (None, Some(value), _) => Some(value.clone().into_bytes()),
        (None, None, Some(content)) => Some(content.clone().into_bytes()),
        _ => None,
    })
}

/// The files a service's containers get copied in (secrets and configs that are not plain
/// binds), read now; and their digests for the config hash.
fn service_files(
    project: &Project,
    service: &crate::compose::Service,
) -> Result<(Vec<FileCopy>, BTreeMap<String, String>)> {
    let mut files = Vec::new();
    let mut digests = BTreeMap::new();
    for (secret, grant, source) in create::copied_grants(&project.model, service) {
        let Some(content) = source_content(source, 1 << 20)
            .hint("a secret or config file must be a readable file of at most 1 MiB")?
        else {
            continue;
        };
        let path = create::grant_target(secret, grant);
        digests.insert(
            path.clone(),
            crate::random::hex(&<sha2::Sha256 as sha2::Digest>::digest(&content)),
        );
        files.push(FileCopy {
            path,
            content,
            uid: grant.uid.unwrap_or(0),
            gid: grant.gid.unwrap_or(0),
            mode: grant.mode.unwrap_or(0o444),
        });
    }
    Ok((files, digests))
}

/// Bring the selected services to their configuration, in order. Engine errors stop it with
/// an error; a dependency that does not become healthy (or complete) stops it with what was
/// done so far and [`Blocked`].
pub async fn up(
    engine: &Engine,
    plan: &UpPlan<'_>,
    progress: &mut impl FnMut(&str),
) -> Result<UpRun> {
    let model = &plan.project.model;
    let deadline = Instant::now() + plan.wait_timeout;
    let mut phases = Vec::new();
    let mut phase_started = Instant::now();
    let mut phase = |name: &str, started: &mut Instant| {
        phases.push((name.to_string(), started.elapsed().as_millis() as u64));
        *started = Instant::now();
    };
    // Images first: a missing image fails before anything is touched.
    let mut images: HashMap<String, (String, String)> = HashMap::new();
    for name in plan.services {
        images.insert(
            name.clone(),
            super::images::resolve(engine, plan, name, progress).await?,
        );
    }
    phase("images", &mut phase_started);
    // Networks and volumes.
    let base_labels = |kind: &str, key: &str| {
        HashMap::from([
            (LABEL_PROJECT.to_string(), plan.project_name.to_string()),
            (kind.to_string(), key.to_string()),
            (LABEL_VERSION.to_string(), spec::COMPOSE_VERSION.to_string()),
        ])
    };
    engine
        .ensure_network(create::network_request(
            format!("{}_default", plan.project_name),
            model.networks.get("default"),
            base_labels(LABEL_NETWORK, "default"),
        ))
        .await?;
    for (key, network) in &model.networks {
        if !network.external && key != "default" {
            engine
                .ensure_network(create::network_request(
                    spec::resource_name(plan.project_name, key, Some(network)),
                    Some(network),
                    base_labels(LABEL_NETWORK, key),
                ))
                .await?;
        }
    }
    for (key, volume) in &model.volumes {
        if !volume.external {
            engine
                .ensure_volume(create::volume_request(
                    spec::resource_name(plan.project_name, key, Some(volume)),
                    volume,
                    base_labels(LABEL_VOLUME, key),
                ))
                .await?;
        }
    }
    phase("networks and volumes", &mut phase_started);
    // Containers in dependency order.
    let existing = engine.project_containers(plan.project_name).await?;
    let ctx = create::Context {
        project: plan.project_name,
        model,
    };
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    let mut outcomes: Vec<ServiceOutcome> = Vec::new();
    for name in plan.services {
        let service = &model.services[name];
        for (dependency, condition) in &service.depends_on {
            for id in ids.get(dependency).cloned().unwrap_or_default() {
                progress(&format!("{name}: waiting for {dependency} ({condition:?})"));
                if let Err(err) = wait_for(engine, &id, dependency, *condition, deadline).await {
                    let container = outcomes
                        .iter()
                        .find(|o| o.service == *dependency)
                        .map(|o| o.container.clone())
                        .unwrap_or_default();
                    phase("containers", &mut phase_started);
                    return Ok(UpRun {
                        outcomes,
                        blocked: Some(Blocked {
                            dependency: dependency.clone(),
                            container,
                            dependent: name.clone(),
                            error: crate::error::describe(&err).0,
                        }),
                        phases,
                    });
                }
            }
        }
        let (reference, image_id) = images[name].clone();
        let pin = plan.pins.get(name);
        let environment = match pin.and_then(|p| p.environment.clone()) {
            Some(environment) => environment,
            None => spec::container_environment(
                service,
                &env_files(&service.env_file)?,
                plan.environment,
            ),
        };
        let (files, digests) = service_files(plan.project, service)?;
        let hash = spec::config_hash(service, &image_id, &environment, &digests);
        let replicas = plan.replicas(name);
        let mut mine: Vec<&ProjectContainer> =
            existing.iter().filter(|c| c.service == *name).collect();
        mine.sort_by_key(|c| (c.number, c.state != "running"));
        // Scale down first: the highest numbers go, each with its grace period.
        for extra in mine.iter().rev().filter(|c| c.number > replicas) {
            let started = Instant::now();
            progress(&format!(
                "removing {} (scale {name}={replicas})",
                extra.name
            ));
            engine.stop(&extra.id, plan.grace(name)).await?;
            engine.remove(&extra.id).await?;
            outcomes.push(ServiceOutcome {
                service: name.clone(),
                number: extra.number,
                container: extra.name.clone(),
                action: Action::Removed,
                image: extra.deployed_image.clone().unwrap_or(extra.image.clone()),
                pin: None,
                image_id: extra.image_id.clone(),
                replaced: None,
                previous_image: Some(extra.image.clone()),
                previous_image_id: Some(extra.image_id.clone()),
                config_hash: extra.hash.clone().unwrap_or_default(),
                state: "removed".into(),
                health: None,
                elapsed_ms: started.elapsed().as_millis() as u64,
                environment: BTreeMap::new(),
            });
        }
        let mut service_ids = Vec::new();
        for number in 1..=replicas {
            let started = Instant::now();
            let current = mine.iter().find(|c| c.number == number).copied();
            let mut labels = spec::labels(
                plan.project_name,
                name,
                service,
                number,
                &hash,
                &plan.project.files,
                plan.working_dir,
            );
            if let Some(deployed) = pin.and_then(|p| p.deployed_as.clone()) {
                labels.insert(LABEL_IMAGE.to_string(), deployed);
            }
            let creation = create::creation(
                &ctx,
                create::Instance {
                    service_name: name,
                    service,
                    number,
                    image: &reference,
                    environment: &environment,
                    labels,
                    files: files.clone(),
                },
            );
            let (id, action, replaced) = match current {
                Some(c) if c.hash.as_deref() == Some(hash.as_str()) && c.state == "running" => {
                    (c.id.clone(), Action::Unchanged, None)
                }
                Some(c) if c.hash.as_deref() == Some(hash.as_str()) => {
                    progress(&format!("starting {}", c.name));
                    engine.start(&c.id).await?;
                    (c.id.clone(), Action::Started, None)
                }
                Some(old) => {
                    progress(&format!("recreating {}", old.name));
                    let id = replace(engine, old, &creation, plan.grace(name)).await?;
                    (id, Action::Recreated, Some(old.name.clone()))
                }
                None => {
                    progress(&format!("creating {}", creation.name));
                    let id = engine.create(&creation).await?;
                    if let Err(err) = engine.start(&id).await {
                        let _ = engine.remove(&id).await;
                        return Err(err);
                    }
                    (id, Action::Created, None)
                }
            };
            service_ids.push(id.clone());
            let (state, health, _) = engine.container_status(&id).await?;
            let deployed_as = pin.and_then(|p| p.deployed_as.clone());
            outcomes.push(ServiceOutcome {
                service: name.clone(),
                number,
                container: creation.name.clone(),
                action,
                pin: deployed_as.as_ref().map(|_| reference.clone()),
                image: deployed_as.unwrap_or_else(|| reference.clone()),
                image_id: image_id.clone(),
                replaced,
                previous_image: current
                    .map(|c| c.deployed_image.clone().unwrap_or(c.image.clone())),
                previous_image_id: current.map(|c| c.image_id.clone()),
                config_hash: hash.clone(),
                state,
                health,
                elapsed_ms: started.elapsed().as_millis() as u64,
                environment: environment.clone(),
            });
        }
        ids.insert(name.clone(), service_ids);
    }
    phase("containers", &mut phase_started);
    Ok(UpRun {
        outcomes,
        blocked: None,
        phases,
    })
}

/// Replace `old` with a new container: stop it and move it aside, create and start the new
/// one, then remove the old. If the new one cannot be created or started, the old one is
/// put back and started.
async fn replace(
    engine: &Engine,
    old: &ProjectContainer,
    creation: &spec::Creation,
    stop_timeout: Duration,
) -> Result<String> {
    engine.stop(&old.id, stop_timeout).await?;
    let aside = format!("{}_{}", &old.id[..12.min(old.id.len())], old.name);
    engine.rename(&old.id, &aside).await?;
    let attempt = async {
        let id = engine.create(creation).await?;
        if let Err(err) = engine.start(&id).await {
            let _ = engine.remove(&id).await;
            return Err(err);
        }
        Ok::<_, anyhow::Error>(id)
    }
    .await;
    match attempt {
        Ok(id) => {
            engine.remove(&old.id).await?;
            Ok(id)
        }
        Err(err) => {
            let _ = engine.rename(&old.id, &old.name).await;
            let _ = engine.start(&old.id).await;
            Err(err.context(format!("the previous {} was put back", old.name)))
        }
    }
}
