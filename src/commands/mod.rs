//! One file per leaf command. Commands are thin: settings in, logic from the modules,
//! data out through the printer.

pub mod alert;
pub mod backup;
pub mod check;
pub mod completions;
pub mod config;
pub mod context;
pub mod dashboard;
pub mod db;
pub mod deploy;
pub mod disk;
pub mod dr;
pub mod fleet;
pub mod health;
pub mod incident;
pub mod logs;
pub mod man;
pub mod metrics;
pub mod monitor;
pub mod monitoring;
pub mod perf;
pub mod prune;
pub mod ps;
pub mod schedule;
pub mod service_config;

use anyhow::{anyhow, Result};

use crate::docker::Engine;
use crate::error::HintExt;
use crate::output::Printer;
use crate::settings::{Loaded, Settings};

/// What every command gets: the printer and the settings, built once before dispatch, and
/// the run's clients (the Docker engine, connected once when a command first needs it, and
/// the HTTP client).
pub struct Context {
    pub printer: Printer,
    pub loaded: Loaded,
    /// The process environment, read once (compose interpolation and containers' values).
    pub environment: std::collections::BTreeMap<String, String>,
    pub clients: crate::clients::Clients,
}

impl Context {
    pub fn new(
        printer: Printer,
        loaded: Loaded,
        environment: std::collections::BTreeMap<String, String>,
    ) -> Context {
        let clients = crate::clients::Clients::new(&loaded.settings.docker);
        Context {
            printer,
            loaded,
            environment,
            clients,
        }
    }

    /// A context for one site of a fleet: the site's settings and engine, the run's HTTP
    /// client (`clients`: the run's, with the client already built).
    pub fn for_site(
        clients: &crate::clients::Clients,
        environment: std::collections::BTreeMap<String, String>,
        printer: Printer,
        loaded: Loaded,
    ) -> Context {
        let clients = clients.for_engine(&loaded.settings.docker);
        Context {
            printer,
            loaded,
            environment,
            clients,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.loaded.settings
    }

    /// The Docker engine of the settings, connected on first use and shared by the rest of
    /// the run.
    pub async fn engine(&self) -> Result<&crate::docker::Engine> {
        self.clients.engine().await
    }

    /// The run's HTTP client.
    pub fn http(&self) -> Result<&crate::netutil::Http> {
        self.clients.http()
    }

    /// Check that each name is a service of the deployment.
    pub fn check_services(&self, names: &[String]) -> Result<()> {
        let settings = self.settings();
        let known: Vec<&str> = settings.services.keys().map(String::as_str).collect();
        for name in names {
            if !known.contains(&name.as_str()) {
                return Err(anyhow!("unknown service `{name}`")).hint(format!(
                    "services are: {} (add others under `services:` in gymops.yaml)",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// A dangerous operation's confirmation: refused off a terminal (the caller's `--yes` skips
/// this), else the operator types `expected`.
pub fn confirm_typed(ctx: &Context, warning: &str, expected: &str, hint: &str) -> Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(anyhow!("{warning}; refusing without --yes")).hint(hint.to_string());
    }
    ctx.printer.warn(warning);
    eprint!("type {expected} to go on: ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| anyhow!("cannot read the confirmation: {err}"))?;
    if answer.trim() != expected {
        return Err(anyhow!("not confirmed; nothing was done"))
            .hint(format!("type {expected} exactly, or pass --yes"));
    }
    Ok(())
}

/// A service's container in whatever state it is (a stopped one's files and facts can be
/// read too).
pub async fn found_container(
    ctx: &Context,
    engine: &Engine,
    service: &str,
) -> Result<crate::docker::ContainerFacts> {
    ctx.check_services(&[service.to_string()])?;
    let states = engine
        .service_states(ctx.settings(), &[service.to_string()])
        .await?;
    let state = states
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("unknown service `{service}`"))?;
    let looked_for = state.looked_for.join(", ");
    state
        .container
        .ok_or_else(|| {
            anyhow!("no container found for service `{service}` (looked for {looked_for})")
        })
        .hint(format!(
            "start it (`docker-compose up -d {service}`), or set services.{service}.container"
        ))
}

/// The running container of a service, by name, for exec.
pub async fn container_of(ctx: &Context, engine: &Engine, service: &str) -> Result<String> {
    let container = found_container(ctx, engine, service).await?;
    if container.state == "running" {
        return Ok(container.name);
    }
    Err(anyhow!(
        "the {service} container {} is {}",
        container.name,
        container.state
    ))
    .hint(format!("start it first (`docker-compose up -d {service}`)"))
}

/// Tell notify.channels that something went wrong (when channels are set and the severity
/// reaches notify.min_severity): a cron job's failure reaches people. A delivery that fails
/// is a warning, never the command's error.
pub(crate) async fn notify_event(ctx: &Context, event: crate::notify::Event) {
    let Ok(http) = ctx.http() else {
        return;
    };
    let notifier = crate::notify::Notifier::new(&ctx.settings().notify, http);
    if !notifier.wants(event.severity) {
        return;
    }
    warn_undelivered(&ctx.printer, &notifier.notify(&event).await);
}

/// A warning for each delivery that failed (a command goes on: its own result stands).
pub(crate) fn warn_undelivered(
    printer: &crate::output::Printer,
    deliveries: &[crate::notify::Delivery],
) {
    for delivery in deliveries.iter().filter(|d| !d.delivered) {
        printer.warn(&format!(
            "notification to {} failed: {}",
            delivery.channel.label(),
            delivery.error.as_deref().unwrap_or("unknown error")
        ));
    }
}
