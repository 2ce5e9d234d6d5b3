//! `gymops rollback`, and putting a release back after a failed `up`: the services are
//! recreated from the spec the release recorded (image, environment, command, mounts...),
//! not only its image.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Result};

use super::releases::list_releases;
use super::report::finish;
use super::{attempt, lock_path, project_name, record, refuse, releases_path, succeeded, Context};
use crate::compose::Project;
use crate::deploy::releases::{pinned, Release, ReleaseKind};
use crate::deploy::report::{DeployKind, DeployReport};
use crate::deploy::run::{self, Pin, UpPlan};
use crate::docker::Engine;
use crate::error::HintExt;
use crate::exit::ExitStatus;

/// The project as `release` ran it: the recorded spec of each of `services` over the
/// current files (a release recorded before gymops kept specs contributes its images only),
/// its networks and volumes, and its secrets and configs with the values they take now.
pub(super) fn release_project(
    ctx: &Context,
    current: &Project,
    release: &Release,
    services: &[String],
) -> Result<Project> {
    let mut model = current.model.clone();
    for service in services {
        if let Some(spec) = release.services.get(service).and_then(|s| s.spec.clone()) {
            model.services.insert(service.clone(), spec);
        }
    }
    model.networks.extend(release.networks.clone());
    model.volumes.extend(release.volumes.clone());
    // The variables `environment:` sources take their value from, as `compose::load` reads
    // them: the environment over the env file (read once, and only when one is needed).
    let needs_vars = release
        .secrets
        .values()
        .chain(release.configs.values())
        .any(|s| s.environment.is_some());
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    if needs_vars && ctx.loaded.env_file.exists() {
        vars.extend(crate::compose::env_file_vars(&ctx.loaded.env_file)?);
    }
    vars.extend(ctx.environment.clone());
    for (kind, recorded, out) in [
        ("secret", &release.secrets, &mut model.secrets),
        ("config", &release.configs, &mut model.configs),
    ] {
        for (name, source) in recorded {
            let mut source = source.clone();
            if let Some(variable) = &source.environment {
                source.value = Some(
                    vars.get(variable)
                        .cloned()
                        .ok_or_else(|| {
                            anyhow!("the {kind} {name} of release {} takes its value from {variable}, which is not set", release.id)
                        })
                        .hint(format!("set {variable} in the environment or the env file"))?,
                );
            }
            out.insert(name.clone(), source);
        }
    }
    let start_order = crate::compose::start_order(&model).map_err(|cycle| {
        anyhow!(
            "release {}: dependency cycle: {}",
            release.id,
            cycle.join(" -> ")
        )
    })?;
    Ok(Project {
        files: current.files.clone(),
        model,
        start_order,
        missing_variables: BTreeMap::new(),
    })
}

/// Put `release` back for `services` (after a failed `up`): recreate them from its specs on
/// its kept images, gate, and record it when it passes.
pub(super) async fn put_back(
    ctx: &Context,
    engine: &Engine,
    plan: &UpPlan<'_>,
    name: &str,
    release: &Release,
    services: &[String],
    kind: DeployKind,
) -> Result<DeployReport> {
    let mut pins = HashMap::new();
    let mut scale = BTreeMap::new();
    let mut back: Vec<String> = Vec::new();
    for service in services {
        if let Some(pin) = pinned(engine, name, service, release).await? {
            pins.insert(service.clone(), pin);
            scale.insert(service.clone(), release.services[service].replicas);
            back.push(service.clone());
        }
    }
    let project = release_project(ctx, plan.project, release, &back)?;
    let selected: Vec<String> = project
        .start_order
        .iter()
        .filter(|s| back.contains(s))
        .cloned()
        .collect();
    let back_plan = UpPlan {
        project: &project,
        services: &selected,
        pins: &pins,
        scale: &scale,
        pull: run::Pull::Never,
        build: false,
        ..*plan
    };
    let mut report = attempt(ctx, &back_plan, kind, &ctx.settings().deploy.gate).await?;
    report.target = Some(release.id.clone());
    if succeeded(report.status) {
        report.release = Some(
            record(
                ctx,
                engine,
                name,
                &project,
                ReleaseKind::Rollback,
                &report.services,
                true,
            )
            .await?,
        );
    }
    Ok(report)
}

pub async fn rollback(ctx: &Context, args: &crate::cli::RollbackArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let history = crate::deploy::releases::load(&releases_path(ctx))?;
    let name = project_name(ctx);
    if settings.orchestrator() == crate::settings::Orchestrator::Swarm && !args.list {
        let report = super::stack::rollback(ctx, args).await?;
        let status = report.status;
        finish(ctx, &report)?;
        return Ok(status);
    }
    let engine = ctx.engine().await?;
    if args.list {
        return list_releases(ctx, Some(engine), &name, &history, true).await;
    }
    let current = crate::commands::service_config::load(ctx, &args.files.files)?;
    let mut pins: HashMap<String, Pin> = HashMap::new();
    let mut scale = BTreeMap::new();
    let (target, project) = if let Some(image) = &args.image {
        let id = engine
            .image_id(image)
            .await?
            .ok_or_else(|| anyhow!("image {image} is not on this engine"))
            .hint("pull or build it first, or roll back to a release (--to)")?;
        for service in &args.service {
            pins.insert(
                service.clone(),
                Pin {
                    reference: image.clone(),
                    image_id: id.clone(),
                    deployed_as: None,
                    environment: None,
                },
            );
        }
        (image.clone(), current)
    } else {
        let release = match &args.to {
            Some(to) => history
                .find(to)
                .or_else(|| history.with_tag(to))
                .ok_or_else(|| {
                    anyhow!("no release {to}, and no earlier release ran an image tagged {to}")
                }),
            None => history.rollback_target().ok_or_else(|| {
                anyhow!("there is no earlier release that passed its gate to roll back to")
            }),
        }
        .hint("`gymops rollback --list` shows the releases and their images")?;
        let services: Vec<String> = if args.service.is_empty() {
            release
                .services
                .iter()
                .filter(|(_, s)| s.replicas > 0)
                .map(|(name, _)| name.clone())
                .collect()
        } else {
            args.service.clone()
        };
        for service in &services {
            match pinned(engine, &name, service, release).await? {
                Some(pin) => {
                    pins.insert(service.clone(), pin);
                    scale.insert(service.clone(), release.services[service].replicas);
                }
                None => {
                    return Err(anyhow!("release {} has no service `{service}`", release.id))
                        .hint("`gymops rollback --list` shows each release's services")
                }
            }
        }
        let project = release_project(ctx, &current, release, &services)?;
        (release.id.clone(), project)
    };
    for service in pins.keys() {
        if !project.model.services.contains_key(service) {
            return Err(anyhow!("service `{service}` is not in the compose files"))
                .hint("roll back the services the deployment still has (--service)");
        }
    }
    let wanted: Vec<String> = pins.keys().cloned().collect();
    let services = run::selection(&project, &wanted)?;
    let _lock = crate::deploy::lock::acquire(&lock_path(ctx), "gymops rollback", args.break_lock)?;
    let problems = crate::deploy::preflight::preflight(
        engine,
        &name,
        &project,
        &services,
        &ctx.loaded.env_file,
    )
    .await;
    refuse(
        &problems,
        "fix them and run rollback again; nothing was changed",
    )?;
    let working_dir = ctx.loaded.resolve_path(std::path::Path::new("."));
    let plan = UpPlan {
        project_name: &name,
        project: &project,
        services: &services,
        pull: run::Pull::Never,
        build: false,
        wait_timeout: args.wait_timeout.unwrap_or(settings.deploy.wait_timeout),
        stop_timeout: settings.deploy.stop_timeout,
        working_dir: &working_dir,
        environment: &ctx.environment,
        pins: &pins,
        scale: &scale,
    };
    let mut report = attempt(ctx, &plan, DeployKind::Rollback, &settings.deploy.gate).await?;
    report.target = Some(target);
    if succeeded(report.status) {
        report.release = Some(
            record(
                ctx,
                engine,
                &name,
                &project,
                ReleaseKind::Rollback,
                &report.services,
                true,
            )
            .await?,
        );
    }
    let status = report.status;
    finish(ctx, &report)?;
    Ok(status)
}
