//! The steps of a stack deploy: images, overlay networks, secrets and configs as swarm
//! objects, each service created or updated (or left alone when its spec is unchanged), and
//! the wait until every service has converged; and Swarm's own rollback of what it updated.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::spec::{self, ObjectRef, Objects, ServiceInput, LABEL_CONTENT_DIGEST};
use crate::compose::model::Source;
use crate::deploy::report::{Phase, WaitFailure};
use crate::deploy::run::{Action, ServiceOutcome, UpPlan};
use crate::docker::logs::LogRequest;
use crate::docker::stack::{Convergence, ObjectKind};
use crate::docker::Engine;
use crate::error::HintExt;

/// What a stack deploy did.
pub struct StackRun {
    pub outcomes: Vec<ServiceOutcome>,
    pub phases: Vec<Phase>,
}

/// The swarm object holding `data`: the stack's name for it when that holds the same
/// content (or is free), else a name with the content's digest (swarm objects never change).
async fn ensure_object(
    engine: &Engine,
    kind: ObjectKind,
    project: &str,
    key: &str,
    source: &Source,
    data: &[u8],
    progress: &mut impl FnMut(&str),
) -> Result<ObjectRef> {
    let digest = spec::digest(data);
    for name in [
        spec::object_name(project, key, source, None),
        spec::object_name(project, key, source, Some(&digest)),
    ] {
        match engine.swarm_object(kind, &name).await? {
            Some((id, labels))
                if labels.get(LABEL_CONTENT_DIGEST).map(String::as_str) == Some(&digest) =>
            {
                return Ok(ObjectRef { id, name });
            }
            Some(_) => continue,
            None => {
                progress(&format!("creating {} {name}", kind.label()));
                let mut labels = spec::stack_labels(project);
                labels.insert(LABEL_CONTENT_DIGEST.into(), digest.clone());
                let id = engine
                    .create_swarm_object(kind, &name, data, labels)
                    .await?;
                return Ok(ObjectRef { id, name });
            }
        }
    }
    Err(anyhow!(
        "{} {key}: the swarm has other content under both of its names",
        kind.label()
    ))
    .hint("remove the stale object with `docker secret rm` / `docker config rm`")
}

/// Deploy the selected services as the stack: images, networks, objects, services. Does not
/// wait: see [`wait`].
pub async fn deploy(
    engine: &Engine,
    plan: &UpPlan<'_>,
    progress: &mut impl FnMut(&str),
) -> Result<StackRun> {
    let model = &plan.project.model;
    let project = plan.project_name;
    let mut phases = Vec::new();
    let mut started = Instant::now();
    let mut images: HashMap<String, (String, String)> = HashMap::new();
    for name in plan.services {
        images.insert(
            name.clone(),
            crate::deploy::images::resolve(engine, plan, name, progress).await?,
        );
    }
    phases.push(Phase {
        name: "images".into(),
        ms: started.elapsed().as_millis() as u64,
    });
    started = Instant::now();
    for (_, name, declared) in spec::stack_networks(project, model, plan.services) {
        if engine
            .ensure_network(spec::network_request(project, name.clone(), declared))
            .await?
        {
            progress(&format!("creating network {name}"));
        }
    }
    let mut objects = Objects::default();
    for name in plan.services {
        let service = &model.services[name];
        for (kind, grants, sources, out) in [
            (
                ObjectKind::Secret,
                &service.secrets,
                &model.secrets,
                &mut objects.secrets,
            ),
            (
                ObjectKind::Config,
                &service.configs,
                &model.configs,
                &mut objects.configs,
            ),
        ] {
            for grant in grants {
                if out.contains_key(&grant.source) {
                    continue;
                }
                let Some(source) = sources.get(&grant.source) else {
                    continue;
                };
                if source.external {
                    // Made outside the stack (`docker secret create`): referred to as it is.
                    let name = source.name.clone().unwrap_or_else(|| grant.source.clone());
                    let (id, _) = engine.swarm_object(kind, &name).await?.ok_or_else(|| {
                        anyhow!("external {} {name} is not on this swarm", kind.label())
                    })
                    .hint(format!(
                        "create it first (`docker {} create {name} FILE`), or give it a file: source",
                        kind.label()
                    ))?;
                    out.insert(grant.source.clone(), ObjectRef { id, name });
                    continue;
                }
                // Swarm takes at most 500 KiB.
                let read = crate::deploy::run::source_content(source, 500 * 1024)
                    .hint("a Swarm secret or config is a readable file of at most 500 KiB")
                    .map_err(|err| err.context(format!("secret or config {}", grant.source)))?;
                let Some(data) = read else {
                    continue;
                };
                let object = ensure_object(
                    engine,
                    kind,
                    project,
                    &grant.source,
                    source,
                    &data,
                    progress,
                )
                .await?;
                out.insert(grant.source.clone(), object);
            }
        }
    }
    phases.push(Phase {
        name: "networks, secrets and configs".into(),
        ms: started.elapsed().as_millis() as u64,
    });
    started = Instant::now();
    let mut outcomes = Vec::new();
    for name in plan.services {
        let service_started = Instant::now();
        let service = &model.services[name];
        let (image, image_id) = images[name].clone();
        let environment = crate::deploy::spec::container_environment(
            service,
            &crate::deploy::run::env_files(&service.env_file)?,
            plan.environment,
        );
        let replicas = plan.replicas(name);
        let wanted = spec::service_spec(&ServiceInput {
            project,
            model,
            name,
            service,
            image: &image,
            image_id: &image_id,
            environment: &environment,
            replicas,
            objects: &objects,
        });
        let swarm_name = spec::service_name(project, name);
        let existing = engine.deployed_service(&swarm_name).await?;
        let (action, previous_image) = match &existing {
            None => {
                progress(&format!("creating swarm service {swarm_name}"));
                engine.create_swarm_service(wanted.clone()).await?;
                (Action::Created, None)
            }
            Some(current) => {
                let before = spec::deployed_image(&current.spec);
                let same_replicas = current.spec.mode == wanted.mode;
                if spec::deployed_digest(&current.spec) == spec::deployed_digest(&wanted)
                    && same_replicas
                {
                    (Action::Unchanged, before)
                } else {
                    progress(&format!("updating swarm service {swarm_name}"));
                    for warning in engine.update_swarm_service(current, wanted.clone()).await? {
                        progress(&format!("{swarm_name}: {warning}"));
                    }
                    (Action::Updated, before)
                }
            }
        };
        outcomes.push(ServiceOutcome {
            service: name.clone(),
            number: replicas,
            container: swarm_name,
            action,
            image: image.clone(),
            pin: None,
            image_id,
            replaced: None,
            previous_image,
            previous_image_id: None,
            config_hash: spec::deployed_digest(&wanted)
                .unwrap_or_default()
                .to_string(),
            state: "deploying".into(),
            health: None,
            elapsed_ms: service_started.elapsed().as_millis() as u64,
            environment,
        });
    }
    phases.push(Phase {
        name: "services".into(),
        ms: started.elapsed().as_millis() as u64,
    });
    Ok(StackRun { outcomes, phases })
}

/// `2/2 tasks running`, and the update's state when one ran.
fn state_of(c: &Convergence) -> String {
    let mut state = format!("{}/{} tasks running", c.running, c.desired);
    if let Some(update) = &c.update_state {
        state.push_str(&format!(", update {update}"));
    }
    state
}

/// Wait until every outcome's service has converged (every task running and healthy, no
/// update under way; `rolling_back`: back on its previous spec) or `deadline`; a service that did not is a failure with why (Swarm
/// rolled it back, its tasks' errors) and the end of its log.
pub async fn wait(
    engine: &Engine,
    outcomes: &mut [ServiceOutcome],
    rolling_back: bool,
    deadline: Instant,
    progress: &mut impl FnMut(&str),
) -> Vec<WaitFailure> {
    let mut failures = Vec::new();
    // Swarm needs a moment to start an update: its state is read after it has begun.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for outcome in outcomes.iter_mut() {
        progress(&format!("{}: waiting for its tasks", outcome.container));
        let result = loop {
            match engine.convergence(&outcome.container).await {
                Ok(c) if c.converged() || (rolling_back && c.rolled_back()) => break Ok(c),
                Ok(c)
                    if c.update_failed()
                        && !(rolling_back
                            && c.update_state.as_deref() == Some("rollback_started")) =>
                {
                    let why = c.update_message.clone().unwrap_or_default();
                    break Err((c, format!("Swarm stopped the update: {why}")));
                }
                Ok(c) if Instant::now() >= deadline => {
                    let errors: Vec<String> = c
                        .task_errors
                        .iter()
                        .map(|(state, err)| format!("task {state}: {err}"))
                        .collect();
                    let why = format!(
                        "not converged within the wait timeout ({}){}",
                        state_of(&c),
                        if errors.is_empty() {
                            String::new()
                        } else {
                            format!("; {}", errors.join("; "))
                        }
                    );
                    break Err((c, why));
                }
                Ok(c) => progress(&format!("{}: {}", outcome.container, state_of(&c))),
                Err(err) => break Err((Convergence::default(), crate::error::describe(&err).0)),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        match result {
            Ok(c) => {
                outcome.state = state_of(&c);
                outcome.health = Some("healthy".into());
            }
            Err((c, error)) => {
                outcome.state = state_of(&c);
                failures.push(WaitFailure {
                    service: outcome.service.clone(),
                    error: format!("swarm service {}: {error}", outcome.container),
                    log_tail: log_tail(engine, &outcome.container).await,
                });
            }
        }
    }
    failures
}

/// Put every service this deploy updated back on its previous spec, Swarm's own way; the
/// services it only created stay (they have no previous spec). What was rolled back.
pub async fn roll_back(
    engine: &Engine,
    outcomes: &[ServiceOutcome],
    progress: &mut impl FnMut(&str),
) -> Result<Vec<ServiceOutcome>> {
    let mut out = Vec::new();
    for outcome in outcomes.iter().filter(|o| o.action == Action::Updated) {
        let started = Instant::now();
        let Some(current) = engine.deployed_service(&outcome.container).await? else {
            continue;
        };
        // A Swarm that rolled the update back itself (failure_action: rollback) is already
        // on the previous spec: rolling back again would put the failed one back.
        let state = engine.convergence(&outcome.container).await?.update_state;
        if state.as_deref().is_some_and(|s| s.starts_with("rollback")) {
            progress(&format!(
                "{}: Swarm already rolled it back ({})",
                outcome.container,
                state.unwrap_or_default()
            ));
        } else {
            progress(&format!("rolling back swarm service {}", outcome.container));
            engine.rollback_swarm_service(&current).await?;
        }
        // The spec it is back on, for the report.
        let image = engine
            .deployed_service(&outcome.container)
            .await?
            .and_then(|back| spec::deployed_image(&back.spec))
            .or_else(|| outcome.previous_image.clone())
            .unwrap_or_default();
        out.push(ServiceOutcome {
            action: Action::Updated,
            image,
            previous_image: Some(outcome.image.clone()).filter(|i| !i.is_empty()),
            state: "rolling back".into(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            environment: BTreeMap::new(),
            ..outcome.clone()
        });
    }
    Ok(out)
}

/// The last lines of a service's log (all its tasks), for a failure report.
async fn log_tail(engine: &Engine, service: &str) -> Vec<String> {
    let mut tail = Vec::new();
    let request = LogRequest {
        tail: Some(20),
        ..LogRequest::default()
    };
    let _ = engine
        .service_log_lines(service, &request, |line| {
            tail.push(String::from_utf8_lossy(&line.text).into_owned())
        })
        .await;
    tail
}
