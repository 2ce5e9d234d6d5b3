//! `gymops fleet ...`: one command at every site of gymops.yaml (or `--sites`), the sites
//! concurrently with at most `--parallel` in flight, each under its own timeout, so one
//! unreachable or hung branch is an UNKNOWN row and never holds up the rest. One table with
//! a SITE column, or JSON with each site's own status and report; the exit code is the
//! worst site's.
//!
//! Each site runs with its own settings (its part of gymops.yaml over the rest), its own
//! engine and clients: nothing of one site, secrets included, reaches another's.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde::Serialize;

mod up;

use super::Context;
use crate::cli::{
    Checklist, FleetArgs, FleetBackupCommand, FleetCommand, FleetLogsCommand, FleetPerfCommand,
    LogsStatsArgs,
};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{OutputFormat, Printer};
use crate::settings::{Loaded, Source};

/// Settings for one site by name (the dispatch's loader: the same files, environment and
/// flags as this run, with `--site NAME`).
pub type SiteLoader = std::sync::Arc<dyn Fn(&str) -> Result<Loaded> + Send + Sync>;

#[derive(Debug, Serialize)]
pub struct FleetReport<T> {
    pub command: String,
    pub status: Status,
    pub elapsed_ms: u64,
    pub summary: Summary,
    pub sites: Vec<SiteResult<T>>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub sites: usize,
    pub ok: usize,
    pub warning: usize,
    pub critical: usize,
    pub unknown: usize,
}

#[derive(Debug, Serialize)]
pub struct SiteResult<T> {
    pub site: String,
    pub status: Status,
    pub elapsed_ms: u64,
    /// Why the site has no report (unreachable, timed out, bad site settings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// What the command reports at that site, as its own JSON.
    pub report: Option<T>,
}

/// What one fleet command collects at a site, and its status there (the command's own
/// arguments captured).
type Collect<T> = std::sync::Arc<
    dyn Fn(std::sync::Arc<Context>) -> BoxFuture<'static, Result<(Status, T)>> + Send + Sync,
>;
type Rows<T> = fn(&Printer, &T) -> Vec<Vec<Cell>>;

/// A collector from an async function of the site's context.
fn collector<T, F, Fut>(collect: F) -> Collect<T>
where
    F: Fn(std::sync::Arc<Context>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(Status, T)>> + Send + 'static,
{
    std::sync::Arc::new(move |site| Box::pin(collect(site)))
}

pub async fn run(ctx: &Context, args: &FleetArgs, load_site: SiteLoader) -> Result<ExitStatus> {
    let sites = chosen_sites(ctx, &args.sites)?;
    if ctx
        .loaded
        .entries
        .iter()
        .any(|e| e.key == "docker.context" && matches!(e.source, Source::Flag { .. }))
    {
        return Err(anyhow!(
            "--context names one engine; a fleet has one per site"
        ))
        .hint("name each site's engine in gymops.yaml (sites.NAME.docker.context or docker.host)");
    }
    let settings = ctx.settings();
    let fleet = Fleet {
        ctx,
        load_site: &load_site,
        plan: Plan {
            sites,
            parallel: usize::from(args.parallel.unwrap_or(settings.fleet.parallel)),
            timeout: args.site_timeout.unwrap_or(settings.fleet.site_timeout),
        },
    };
    use crate::commands as c;
    match &args.command {
        FleetCommand::Up { keep_going, up } => {
            let sites = fleet.plan.sites.clone();
            up::run(ctx, &load_site, args, sites, *keep_going, up).await
        }
        FleetCommand::Health { check } => {
            let check = check.clone();
            let collect = collector(move |site: std::sync::Arc<Context>| {
                let plan = crate::probe::HealthPlan {
                    groups: check.clone(),
                    services: Vec::new(),
                    endpoints: Vec::new(),
                };
                async move {
                    let report = crate::probe::run(site.settings(), &site.clients, &plan).await?;
                    Ok((report.status, report))
                }
            });
            fleet
                .across("health", c::health::HEADERS, collect, c::health::rows)
                .await
        }
        FleetCommand::Ps => {
            let collect = collector(|site: std::sync::Arc<Context>| async move {
                let engine = site.engine().await?;
                let output = crate::docker::overview::collect(site.settings(), engine, &[]).await?;
                Ok((Status::Ok, output))
            });
            fleet
                .across("ps", c::ps::HEADERS, collect, c::ps::rows)
                .await
        }
        FleetCommand::Check { checklist } => {
            let checklist = *checklist;
            let name = match checklist {
                Checklist::Daily => "check daily",
                Checklist::Weekly => "check weekly",
            };
            let collect = collector(move |site: std::sync::Arc<Context>| async move {
                let report = super::check::report(&site, checklist).await;
                Ok((report.status, report))
            });
            fleet
                .across(name, c::check::HEADERS, collect, c::check::rows)
                .await
        }
        FleetCommand::Backup(FleetBackupCommand::Monitor { max_age }) => {
            let max_age = *max_age;
            let collect = collector(move |site: std::sync::Arc<Context>| async move {
                let report = super::backup::monitor::report(&site, max_age, None)?;
                Ok((report.status, report))
            });
            let headers = c::backup::monitor::HEADERS;
            fleet
                .across("backup monitor", headers, collect, c::backup::monitor::rows)
                .await
        }
        FleetCommand::Logs(FleetLogsCommand::Stats { since, until }) => {
            let args = LogsStatsArgs {
                services: Vec::new(),
                since: since.clone(),
                until: until.clone(),
                file: Vec::new(),
                top: 3,
                topic: Vec::new(),
            };
            let args = std::sync::Arc::new(args);
            let collect = collector(move |site: std::sync::Arc<Context>| {
                let args = args.clone();
                async move {
                    let output = super::logs::stats::stats(&site, &args).await?;
                    Ok((Status::Ok, output))
                }
            });
            let headers = c::logs::stats::FLEET_HEADERS;
            fleet
                .across("logs stats", headers, collect, c::logs::stats::fleet_rows)
                .await
        }
        FleetCommand::Perf(FleetPerfCommand::Stats) => {
            let collect = collector(|site: std::sync::Arc<Context>| async move {
                let settings = site.settings();
                let services: Vec<String> = settings.services.keys().cloned().collect();
                let engine = site.engine().await?;
                let output = crate::docker::sampling::sample(settings, engine, &services).await?;
                Ok((Status::Ok, output))
            });
            fleet
                .across(
                    "perf stats",
                    c::perf::stats::HEADERS,
                    collect,
                    c::perf::stats::rows,
                )
                .await
        }
    }
}

/// The run's side of a fleet command: its context, how a site's settings load, the plan.
struct Fleet<'a> {
    ctx: &'a Context,
    load_site: &'a SiteLoader,
    plan: Plan,
}

struct Plan {
    sites: Vec<String>,
    parallel: usize,
    timeout: Duration,
}

/// The sites asked for, in gymops.yaml's order; an unknown one is an error before anything
/// runs.
fn chosen_sites(ctx: &Context, asked: &[String]) -> Result<Vec<String>> {
    let known = &ctx.loaded.sites;
    let file = ctx
        .loaded
        .config_file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "gymops.yaml (none found)".into());
    if known.is_empty() {
        return Err(anyhow!("{file} names no sites")).hint(
            "add the branches under `sites:` (each with the settings that differ: docker.context, backend.url, ...); docs/scale-out.md",
        );
    }
    if asked.is_empty() {
        return Ok(known.clone());
    }
    let mut chosen = Vec::new();
    for name in asked {
        if !known.contains(name) {
            return Err(anyhow!("unknown site `{name}`"))
                .hint(format!("sites in {file}: {}", known.join(", ")));
        }
        if !chosen.contains(name) {
            chosen.push(name.clone());
        }
    }
    Ok(chosen)
}

impl Fleet<'_> {
    /// The command at every site of the plan, each a task of its own; the report printed.
    async fn across<T: Serialize + Send + 'static>(
        &self,
        name: &str,
        headers: &[&str],
        collect: Collect<T>,
        rows: Rows<T>,
    ) -> Result<ExitStatus> {
        let (ctx, plan) = (self.ctx, &self.plan);
        let started = Instant::now();
        // Built once, before the sites: every site shares it.
        ctx.http()?;
        let timeout = plan.timeout;
        // Each site a task of its own, so their work spreads over the runtime's threads; at
        // most `parallel` at once (the stream starts the next when one ends).
        let one = |index: usize, site: String| {
            let (load_site, collect) = (self.load_site.clone(), collect.clone());
            let (clients, environment) = (ctx.clients.clone(), ctx.environment.clone());
            let task = tokio::spawn(async move {
                let began = Instant::now();
                let outcome = tokio::time::timeout(timeout, async {
                    let loaded = load_site(&site)?;
                    let printer = Printer::new(OutputFormat::Json, true);
                    let site_ctx = Context::for_site(&clients, environment, printer, loaded);
                    collect(std::sync::Arc::new(site_ctx)).await
                })
                .await;
                (site, began.elapsed().as_millis() as u64, outcome)
            });
            async move { (index, task.await) }
        };
        let mut results: Vec<(usize, SiteResult<T>)> =
            futures_util::stream::iter(plan.sites.iter().cloned().enumerate())
                .map(|(index, site)| one(index, site))
                .buffer_unordered(plan.parallel.max(1))
                .map(|(index, joined)| (index, site_result(joined, &plan.sites[index], timeout)))
                .collect()
                .await;
        results.sort_by_key(|(index, _)| *index);
        let sites: Vec<SiteResult<T>> = results.into_iter().map(|(_, r)| r).collect();
        emit(ctx, name, started, sites, headers, rows)
    }
}

type Joined<T> = Result<
    (
        String,
        u64,
        Result<Result<(Status, T)>, tokio::time::error::Elapsed>,
    ),
    tokio::task::JoinError,
>;

/// One site's row: its report, or why it has none.
fn site_result<T>(joined: Joined<T>, site: &str, timeout: Duration) -> SiteResult<T> {
    let failed = |elapsed_ms, status, message: String, hint: Option<String>| SiteResult {
        site: site.to_string(),
        status,
        elapsed_ms,
        error: Some(message),
        hint,
        report: None,
    };
    match joined {
        Ok((_, elapsed_ms, Ok(Ok((status, report))))) => SiteResult {
            site: site.to_string(),
            status,
            elapsed_ms,
            error: None,
            hint: None,
            report: Some(report),
        },
        Ok((_, elapsed_ms, Ok(Err(err)))) => {
            let (message, hint) = crate::error::describe(&err);
            failed(elapsed_ms, Status::Unknown, message, hint)
        }
        Ok((_, elapsed_ms, Err(_))) => failed(
            elapsed_ms,
            Status::Unknown,
            crate::say!(
                "no answer within {} (fleet.site_timeout)",
                humantime::format_duration(timeout)
            ),
            Some(crate::say!(
                "check the site's engine and services, or give slow sites more time with --site-timeout"
            )),
        ),
        Err(err) => failed(0, Status::Unknown, crate::say!("the site's check failed: {err}"), None),
    }
}

/// The fleet's report: printed (one table with SITE, or JSON), hints on stderr; the worst
/// site's status.
fn emit<T: Serialize>(
    ctx: &Context,
    name: &str,
    started: Instant,
    sites: Vec<SiteResult<T>>,
    headers: &[&str],
    rows: Rows<T>,
) -> Result<ExitStatus> {
    let mut summary = Summary {
        sites: sites.len(),
        ..Summary::default()
    };
    for site in &sites {
        match site.status {
            Status::Ok => summary.ok += 1,
            Status::Warning => summary.warning += 1,
            Status::Critical => summary.critical += 1,
            Status::Unknown => summary.unknown += 1,
        }
    }
    let status = Status::combine(sites.iter().map(|s| s.status));
    let report = FleetReport {
        command: name.to_string(),
        status,
        elapsed_ms: started.elapsed().as_millis() as u64,
        summary,
        sites,
    };
    ctx.printer.emit_checked(status, &report, None, |printer| {
        render(printer, &report, headers, rows)
    })?;
    for site in report.sites.iter().filter(|s| s.error.is_some()) {
        if let Some(hint) = &site.hint {
            ctx.printer.note(&format!("hint ({}): {hint}", site.site));
        }
    }
    Ok(status)
}

fn render<T>(
    printer: &Printer,
    report: &FleetReport<T>,
    headers: &[&str],
    rows: Rows<T>,
) -> String {
    let mut all_headers = vec!["SITE"];
    all_headers.extend_from_slice(headers);
    let status_column = headers.iter().position(|h| *h == "STATUS");
    let mut table_rows = Vec::new();
    for site in &report.sites {
        match &site.report {
            Some(found) => {
                for row in rows(printer, found) {
                    let mut cells = vec![Cell::new(&site.site)];
                    cells.extend(row);
                    table_rows.push(cells);
                }
            }
            None if printer.shows(site.status) => {
                let mut cells = vec![Cell::new(&site.site)];
                for (index, _) in headers.iter().enumerate() {
                    cells.push(if Some(index) == status_column {
                        printer.status_cell(site.status)
                    } else if index + 1 == headers.len() {
                        Cell::new(site.error.as_deref().unwrap_or(""))
                    } else {
                        Cell::new("-")
                    });
                }
                table_rows.push(cells);
            }
            None => {}
        }
    }
    let mut text = printer.table(&all_headers, table_rows);
    let s = &report.summary;
    let count = |count: usize, status: Status| {
        crate::i18n::tr_args(
            "count-of-status",
            &[("count", count.to_string()), ("status", status.display())],
        )
    };
    let mut parts = vec![count(s.ok, Status::Ok)];
    for (n, status) in [
        (s.warning, Status::Warning),
        (s.critical, Status::Critical),
        (s.unknown, Status::Unknown),
    ] {
        if n > 0 {
            parts.push(count(n, status));
        }
    }
    let per_site: Vec<String> = report
        .sites
        .iter()
        .filter(|site| site.status != Status::Ok)
        .map(|site| format!("{} {}", site.site, site.status.display()))
        .collect();
    text.push_str(&crate::i18n::tr_args(
        if s.sites == 1 {
            "fleet-summary-one"
        } else {
            "fleet-summary"
        },
        &[
            ("command", report.command.to_string()),
            ("status", report.status.display()),
            ("sites", s.sites.to_string()),
            ("counts", parts.join(", ")),
            (
                "failing",
                if per_site.is_empty() {
                    String::new()
                } else {
                    crate::i18n::tr_args("fleet-failing", &[("sites", per_site.join(", "))])
                },
            ),
            (
                "seconds",
                format!("{:.1}", report.elapsed_ms as f64 / 1000.0),
            ),
        ],
    ));
    text.push('\n');
    text
}
