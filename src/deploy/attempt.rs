//! One deploy attempt, shared by `up`, `rollback` and the automatic rollback: the
//! containers, the health waits, and the gate, into a [`DeployReport`].

use std::time::{Duration, Instant};

use anyhow::Result;

use super::report::{DeployKind, DeployReport, Phase, WaitFailure};
use super::run::{self, Action, UpPlan};
use crate::clients::Clients;
use crate::exit::Status;
use crate::output::Progress;
use crate::probe::{self, HealthPlan, HealthReport};
use crate::settings::Settings;

/// Who runs a deploy, where, for its report.
pub struct Who {
    pub environment: String,
    pub host: String,
    pub operator: String,
}

/// One deploy attempt: containers, waits, gate.
pub async fn attempt(
    clients: &Clients,
    settings: &Settings,
    who: &Who,
    plan: &UpPlan<'_>,
    kind: DeployKind,
    gate_groups: &[crate::probe::CheckGroup],
    progress: &Progress,
) -> Result<DeployReport> {
    let engine = clients.engine().await?;
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    // Pull and build output scrolls by on the spinner line; the steps stay.
    let mut report_line = |line: &str| {
        let step = [
            "creating ",
            "recreating ",
            "starting ",
            "removing ",
            "building ",
            "pulling ",
        ]
        .iter()
        .any(|p| line.starts_with(p))
            || line.contains(": waiting for ");
        if step {
            progress.step(line);
        } else {
            progress.status(line);
        }
    };
    let run = run::up(engine, plan, &mut report_line).await?;
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
            log_tail: engine.log_tail(&blocked.container, 20).await,
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
                let tail = engine.log_tail(&outcome.container, 20).await;
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
    let gate = if wait_failures.is_empty() {
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
        Gate {
            settings,
            clients,
            groups: gate_groups,
            progress,
        }
        .phase(fresh, deadline, &mut phases)
        .await?
    } else {
        None
    };
    Ok(report(
        kind,
        plan,
        who,
        (started, started_at),
        outcomes,
        phases,
        wait_failures,
        gate,
    ))
}

/// One deploy attempt of a Swarm stack: the stack deployed, every service waited for until
/// it converges, and the gate.
pub async fn attempt_stack(
    clients: &Clients,
    settings: &Settings,
    who: &Who,
    plan: &UpPlan<'_>,
    kind: DeployKind,
    gate_groups: &[crate::probe::CheckGroup],
    progress: &Progress,
) -> Result<DeployReport> {
    let engine = clients.engine().await?;
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let mut step = |line: &str| {
        if line.contains(": waiting for")
            || line.starts_with("creating ")
            || line.starts_with("updating ")
        {
            progress.step(line)
        } else {
            progress.status(line)
        }
    };
    let mut run = super::swarm::run::deploy(engine, plan, &mut step).await?;
    let mut phases = run.phases;
    let (wait_failures, gate) = converge_then_gate(
        Gate {
            settings,
            clients,
            groups: gate_groups,
            progress,
        },
        engine,
        &mut run.outcomes,
        false,
        plan.wait_timeout,
        &mut phases,
    )
    .await?;
    Ok(report(
        kind,
        plan,
        who,
        (started, started_at),
        run.outcomes,
        phases,
        wait_failures,
        gate,
    ))
}

/// Swarm's own rollback of `updated` (services a deploy gave a new spec), then the wait
/// until they converge on their previous spec, and the gate.
#[allow(clippy::too_many_arguments)]
pub async fn rollback_stack(
    clients: &Clients,
    settings: &Settings,
    who: &Who,
    plan: &UpPlan<'_>,
    kind: DeployKind,
    updated: &[super::run::ServiceOutcome],
    gate_groups: &[crate::probe::CheckGroup],
    progress: &Progress,
) -> Result<DeployReport> {
    let engine = clients.engine().await?;
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let mut step = |line: &str| progress.step(line);
    let mut outcomes = super::swarm::run::roll_back(engine, updated, &mut step).await?;
    let mut phases = Vec::new();
    let (wait_failures, gate) = converge_then_gate(
        Gate {
            settings,
            clients,
            groups: gate_groups,
            progress,
        },
        engine,
        &mut outcomes,
        true,
        plan.wait_timeout,
        &mut phases,
    )
    .await?;
    let mut report = report(
        kind,
        plan,
        who,
        (started, started_at),
        outcomes,
        phases,
        wait_failures,
        gate,
    );
    report.target = Some("each service's previous swarm spec".into());
    Ok(report)
}

/// What the gate needs.
struct Gate<'a> {
    settings: &'a Settings,
    clients: &'a Clients,
    groups: &'a [crate::probe::CheckGroup],
    progress: &'a Progress,
}

/// Wait for the stack's services to converge (`rolling_back`: on their previous spec), then
/// gate (asking again while a fresh task still refuses): the convergence and gate phases.
async fn converge_then_gate(
    gate: Gate<'_>,
    engine: &crate::docker::Engine,
    outcomes: &mut [super::run::ServiceOutcome],
    rolling_back: bool,
    wait_timeout: Duration,
    phases: &mut Vec<Phase>,
) -> Result<(Vec<WaitFailure>, Option<HealthReport>)> {
    let waits = Instant::now();
    let deadline = waits + wait_timeout;
    // "waiting for" stays on the screen; the running counts replace each other.
    let mut step = |line: &str| {
        if line.contains(": waiting for") {
            gate.progress.step(line)
        } else {
            gate.progress.status(line)
        }
    };
    let wait_failures =
        super::swarm::run::wait(engine, outcomes, rolling_back, deadline, &mut step).await;
    phases.push(Phase {
        name: "convergence".into(),
        ms: waits.elapsed().as_millis() as u64,
    });
    let report = if wait_failures.is_empty() {
        gate.phase(true, deadline, phases).await?
    } else {
        None
    };
    Ok((wait_failures, report))
}

/// The report of an attempt: critical when a wait failed, else the gate's verdict.
#[allow(clippy::too_many_arguments)]
fn report(
    kind: DeployKind,
    plan: &UpPlan<'_>,
    who: &Who,
    (started, started_at): (Instant, chrono::DateTime<chrono::Utc>),
    outcomes: Vec<super::run::ServiceOutcome>,
    phases: Vec<Phase>,
    wait_failures: Vec<WaitFailure>,
    gate: Option<HealthReport>,
) -> DeployReport {
    let status = if !wait_failures.is_empty() {
        Status::Critical
    } else {
        gate.as_ref().map(|g| g.status).unwrap_or(Status::Ok)
    };
    DeployReport {
        kind,
        project: plan.project_name.to_string(),
        environment: who.environment.clone(),
        host: who.host.clone(),
        operator: who.operator.clone(),
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
    }
}

impl Gate<'_> {
    /// The gate as a phase of the attempt (none when it has no checks).
    async fn phase(
        &self,
        retry: bool,
        deadline: Instant,
        phases: &mut Vec<Phase>,
    ) -> Result<Option<HealthReport>> {
        if self.groups.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        let report = gate_until(
            self.settings,
            self.clients,
            self.groups,
            retry,
            deadline,
            self.progress,
        )
        .await?;
        phases.push(Phase {
            name: "health gate".into(),
            ms: started.elapsed().as_millis() as u64,
        });
        Ok(Some(report))
    }
}

/// The gate's checks; when `retry`, asked again every second while they fail and the
/// deadline has not passed.
async fn gate_until(
    settings: &Settings,
    clients: &Clients,
    groups: &[crate::probe::CheckGroup],
    retry: bool,
    deadline: Instant,
    progress: &Progress,
) -> Result<HealthReport> {
    let plan = HealthPlan {
        groups: groups.to_vec(),
        services: Vec::new(),
        endpoints: Vec::new(),
    };
    loop {
        let report = probe::run(settings, clients, &plan).await?;
        if report.status == Status::Ok
            || !retry
            || Instant::now() + Duration::from_secs(1) > deadline
        {
            return Ok(report);
        }
        progress.step(&format!(
            "gate: {}; asking again (a service just started may still be coming up)",
            crate::probe::summary_line(&report).trim_end()
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
