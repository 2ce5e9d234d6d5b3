//! One deploy attempt, shared by `up`, `rollback` and the automatic rollback: the
//! containers, the health waits, and the gate.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::report::log_tail;
use super::{Context, DeployReport, Phase, WaitFailure};
use crate::deploy::run::{self, Action, UpPlan};
use crate::docker::Engine;
use crate::exit::Status;
use crate::probe::{self, HealthPlan, HealthReport};

/// One deploy attempt: containers, waits, gate.
pub(super) async fn attempt(
    ctx: &Context,
    engine: &Engine,
    plan: &UpPlan<'_>,
    kind: &str,
    gate_groups: &[crate::probe::CheckGroup],
) -> Result<DeployReport> {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let printer = &ctx.printer;
    // On a terminal, pull and build output scrolls by on a spinner line and the steps stay;
    // elsewhere (cron, CI) every line is logged.
    let bar = (std::io::IsTerminal::is_terminal(&std::io::stderr()) && !printer.quiet).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut progress = |line: &str| match &bar {
        Some(bar) => {
            let step = [
                "creating ",
                "recreating ",
                "starting ",
                "building ",
                "pulling ",
            ]
            .iter()
            .any(|p| line.starts_with(p))
                || line.contains(": waiting for ");
            if step {
                bar.println(line);
            }
            bar.set_message(line.to_string());
        }
        None => printer.note(line),
    };
    let run = run::up(engine, plan, &mut progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let run = run?;
    let mut phases: Vec<Phase> = run
        .phases
        .iter()
        .map(|(name, ms)| Phase {
            name: name.clone(),
            ms: *ms,
        })
        .collect();
    let mut outcomes = run.outcomes;
    let mut wait_failures = Vec::new();
    if let Some(blocked) = &run.blocked {
        wait_failures.push(WaitFailure {
            service: blocked.dependency.clone(),
            error: format!(
                "{} (so {} and what follows it were not started)",
                blocked.error, blocked.dependent
            ),
            log_tail: log_tail(engine, &blocked.container).await,
        });
    }
    // Every service with a healthcheck must become healthy within the wait timeout.
    let waits = Instant::now();
    let deadline = waits + plan.wait_timeout;
    for outcome in outcomes.iter_mut() {
        if run.blocked.is_some() {
            break;
        }
        if outcome.action == Action::Removed
            || (outcome.health.is_none() && outcome.state == "running")
        {
            continue;
        }
        match run::wait_for(
            engine,
            &outcome.container,
            &outcome.service,
            crate::compose::Condition::ServiceHealthy,
            deadline,
        )
        .await
        {
            Ok((state, health)) => {
                outcome.state = state;
                outcome.health = health;
            }
            Err(err) => {
                let tail = log_tail(engine, &outcome.container).await;
                if let Ok((state, health, _)) = engine.container_status(&outcome.container).await {
                    outcome.state = state;
                    outcome.health = health;
                }
                wait_failures.push(WaitFailure {
                    service: outcome.service.clone(),
                    error: crate::error::describe(&err).0,
                    log_tail: tail,
                });
            }
        }
    }
    phases.push(Phase {
        name: "health waits".into(),
        ms: waits.elapsed().as_millis() as u64,
    });
    let gate = if wait_failures.is_empty() && !gate_groups.is_empty() {
        let gate_started = Instant::now();
        // A service without a healthcheck that was just (re)started may refuse connections
        // for a moment (MinIO does): the gate asks again until the wait timeout, as a
        // person would, before it calls such a service down.
        let fresh = outcomes.iter().any(|o| {
            o.health.is_none()
                && matches!(
                    o.action,
                    Action::Created | Action::Recreated | Action::Started
                )
        });
        let report = gate_until(ctx, gate_groups, fresh, deadline).await?;
        phases.push(Phase {
            name: "health gate".into(),
            ms: gate_started.elapsed().as_millis() as u64,
        });
        Some(report)
    } else {
        None
    };
    let status = if !wait_failures.is_empty() {
        Status::Critical
    } else {
        gate.as_ref().map(|g| g.status).unwrap_or(Status::Ok)
    };
    Ok(DeployReport {
        kind: kind.to_string(),
        project: plan.project_name.to_string(),
        environment: ctx.settings().environment.clone(),
        host: crate::notify::hostname(),
        operator: crate::incident::operator(&ctx.settings().incident),
        started_at,
        release: None,
        target: None,
        services: outcomes,
        phases,
        wait_failures,
        gate,
        status,
        elapsed_ms: started.elapsed().as_millis() as u64,
        rollback: None,
    })
}

/// The gate's checks; when `retry`, asked again every second while they fail and the
/// deadline has not passed.
async fn gate_until(
    ctx: &Context,
    groups: &[crate::probe::CheckGroup],
    retry: bool,
    deadline: Instant,
) -> Result<HealthReport> {
    let plan = HealthPlan {
        groups: groups.to_vec(),
        services: Vec::new(),
        endpoints: Vec::new(),
    };
    loop {
        let report = probe::run(ctx.settings(), &plan).await?;
        if report.status == Status::Ok
            || !retry
            || Instant::now() + Duration::from_secs(1) > deadline
        {
            return Ok(report);
        }
        ctx.printer.note(&format!(
            "gate: {}; asking again (a service just started may still be coming up)",
            crate::probe::summary_line(&report).trim_end()
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
