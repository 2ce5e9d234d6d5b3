//! The image each service runs: a kept image (a rollback), or built, pulled or found by
//! `up --pull` and the service's own `pull_policy`.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use super::run::{Pull, UpPlan};
use super::spec;
use crate::docker::Engine;
use crate::error::HintExt;

/// The name a `dockerfile_inline` Dockerfile gets in the build context.
const INLINE_DOCKERFILE: &str = ".gymops-inline.Dockerfile";

/// Build a service's image through the Engine API (the context sent as a tar stream).
pub async fn build(
    engine: &Engine,
    reference: &str,
    build: &crate::compose::model::Build,
    limit: Duration,
    progress: &mut impl FnMut(&str),
) -> Result<()> {
    let context = build
        .context
        .clone()
        .ok_or_else(|| anyhow!("the build of {reference} has no context"))?;
    let inline = build.dockerfile_inline.clone();
    let tar = tokio::task::spawn_blocking({
        let context = context.clone();
        move || -> Result<Vec<u8>> {
            let mut archive = tar::Builder::new(Vec::new());
            archive.follow_symlinks(false);
            archive
                .append_dir_all(".", &context)
                .with_context(|| format!("cannot read the build context {}", context.display()))?;
            // dockerfile_inline: the Dockerfile goes into the context under a name of its own.
            if let Some(text) = &inline {
                let mut header = tar::Header::new_gnu();
                header.set_size(text.len() as u64);
                header.set_mode(0o644);
                archive.append_data(&mut header, INLINE_DOCKERFILE, text.as_bytes())?;
            }
            Ok(archive.into_inner()?)
        }
    })
    .await??;
    let mut build = build.clone();
    if build.dockerfile_inline.is_some() {
        build.dockerfile = Some(INLINE_DOCKERFILE.to_string());
    }
    let build = &build;
    engine
        .build_image(reference, build, tar, limit, progress)
        .await
}

/// The image a service's containers are created from: (reference, ID).
pub(super) async fn resolve(
    engine: &Engine,
    plan: &UpPlan<'_>,
    name: &str,
    progress: &mut impl FnMut(&str),
) -> Result<(String, String)> {
    if let Some(pin) = plan.pins.get(name) {
        if engine.image_id(&pin.image_id).await?.is_none() {
            return Err(anyhow!(
                "image {} ({}) of service {name} is no longer on this engine",
                pin.deployed_as.as_deref().unwrap_or(&pin.reference),
                pin.image_id
            ))
            .hint("it was removed outside gymops; pull or build that version again");
        }
        return Ok((pin.reference.clone(), pin.image_id.clone()));
    }
    let service = &plan.project.model.services[name];
    let reference = spec::image_ref(plan.project_name, name, service);
    let mut id = engine.image_id(&reference).await?;
    // The service's own pull_policy over `up --pull`.
    let (pull, build_policy) = match service.pull_policy.as_deref() {
        Some("always") => (Pull::Always, false),
        Some("never") => (Pull::Never, false),
        Some("missing" | "if_not_present") => (Pull::Missing, false),
        Some("build") => (Pull::Never, true),
        _ => (plan.pull, false),
    };
    let must_build = service.build.is_some() && (plan.build || build_policy || id.is_none());
    if must_build {
        progress(&format!("building {reference} for {name}"));
        build(
            engine,
            &reference,
            service.build.as_ref().expect("checked"),
            plan.wait_timeout.max(Duration::from_secs(600)),
            progress,
        )
        .await?;
    } else if pull == Pull::Always || (id.is_none() && pull == Pull::Missing) {
        progress(&format!("pulling {reference} for {name}"));
        engine
            .pull(&reference, Duration::from_secs(600), |line| progress(line))
            .await?;
    } else if id.is_none() {
        return Err(anyhow!("image {reference} (service {name}) is not on this engine"))
            .hint("pull it (--pull missing), build it (a build section and --build), or load it with docker load");
    }
    if must_build || id.is_none() || pull == Pull::Always {
        id = engine.image_id(&reference).await?;
    }
    let id = id.ok_or_else(|| anyhow!("image {reference} is still missing after pull/build"))?;
    Ok((reference, id))
}
