//! `gymops fleet up`: `up` at each site, one at a time unless `--parallel N`, each with its
//! health gate and automatic rollback. After a site fails no further site is started
//! (those already running finish) unless `--keep-going`. No site timeout: a deploy cut off
//! halfway would leave a site between releases; each site is bounded by its own
//! deploy.wait_timeout and engine timeouts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use futures_util::StreamExt;

use super::{emit, SiteLoader, SiteResult};
use crate::cli::{FleetArgs, UpArgs};
use crate::commands::Context;
use crate::deploy::report::DeployReport;
use crate::deploy::run::Action;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{OutputFormat, Printer};

const HEADERS: &[&str] = &["STATUS", "RELEASE", "CHANGED", "ROLLBACK", "DETAIL"];

pub(super) async fn run(
    ctx: &Context,
    load_site: &SiteLoader,
    args: &FleetArgs,
    sites: Vec<String>,
    keep_going: bool,
    up: &UpArgs,
) -> Result<ExitStatus> {
    if args.site_timeout.is_some() {
        return Err(anyhow!("--site-timeout does not apply to fleet up")).hint(
            "a deploy is never cut off halfway; bound each site with deploy.wait_timeout (or --wait-timeout)",
        );
    }
    let parallel = usize::from(args.parallel.unwrap_or(1));
    // Built once, before the sites: every site shares it.
    ctx.http()?;
    let started = Instant::now();
    let stopped = AtomicBool::new(false);
    let failed_first: Mutex<Option<String>> = Mutex::new(None);
    let one = |index: usize, site: String| {
        let (stopped, failed_first) = (&stopped, &failed_first);
        async move {
            if stopped.load(Ordering::SeqCst) {
                let after = failed_first
                    .lock()
                    .ok()
                    .and_then(|f| f.clone())
                    .unwrap_or_default();
                let result = SiteResult {
                    site,
                    status: Status::Unknown,
                    elapsed_ms: 0,
                    error: Some(crate::say!("not deployed: stopped after {after} failed")),
                    hint: Some("fix that site and run fleet up again (--keep-going deploys the others anyway)".into()),
                    report: None,
                };
                return (index, result);
            }
            let began = Instant::now();
            let outcome = async {
                let loaded = load_site(&site)?;
                let printer = Printer::new(OutputFormat::Json, true);
                let site_ctx =
                    Context::for_site(&ctx.clients, ctx.environment.clone(), printer, loaded);
                let (status, report) = crate::commands::deploy::deploy(&site_ctx, up).await?;
                crate::commands::deploy::write_report(&site_ctx, &report)?;
                Ok::<_, anyhow::Error>((status, report))
            }
            .await;
            let elapsed_ms = began.elapsed().as_millis() as u64;
            let result = match outcome {
                Ok((status, report)) => SiteResult {
                    site: site.clone(),
                    status,
                    elapsed_ms,
                    error: None,
                    hint: None,
                    report: Some(report),
                },
                Err(err) => {
                    let (message, hint) = crate::error::describe(&err);
                    SiteResult {
                        site: site.clone(),
                        status: Status::Critical,
                        elapsed_ms,
                        error: Some(message),
                        hint,
                        report: None,
                    }
                }
            };
            if !matches!(result.status, Status::Ok | Status::Warning) && !keep_going {
                stopped.store(true, Ordering::SeqCst);
                if let Ok(mut first) = failed_first.lock() {
                    first.get_or_insert(site);
                }
            }
            (index, result)
        }
    };
    let mut results: Vec<(usize, SiteResult<DeployReport>)> =
        futures_util::stream::iter(sites.into_iter().enumerate())
            .map(|(index, site)| one(index, site))
            .buffer_unordered(parallel.max(1))
            .collect()
            .await;
    results.sort_by_key(|(index, _)| *index);
    let sites = results.into_iter().map(|(_, r)| r).collect();
    emit(ctx, "up", started, sites, HEADERS, rows)
}

fn rows(printer: &Printer, report: &DeployReport) -> Vec<Vec<Cell>> {
    let changed: Vec<String> = report
        .services
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .map(|s| s.service.clone())
        .collect();
    let rollback = match &report.rollback {
        Some(back) => format!(
            "{} to {}",
            if matches!(back.status, Status::Ok | Status::Warning) {
                "rolled back"
            } else {
                "rollback FAILED"
            },
            back.target.as_deref().unwrap_or("the previous release")
        ),
        None => "-".into(),
    };
    let detail = report
        .wait_failures
        .first()
        .map(|f| format!("{}: {}", f.service, f.error))
        .or_else(|| {
            report.gate.as_ref().and_then(|gate| {
                gate.checks
                    .iter()
                    .find(|c| c.status != Status::Ok)
                    .map(|c| format!("gate: {} {}: {}", c.check.label(), c.name, c.summary))
            })
        })
        .unwrap_or_else(|| format!("{:.1} s", report.elapsed_ms as f64 / 1000.0));
    vec![vec![
        printer.status_cell(report.status),
        Cell::new(report.release.as_deref().unwrap_or("-")),
        Cell::new(if changed.is_empty() {
            "nothing".to_string()
        } else {
            changed.join(", ")
        }),
        Cell::new(rollback),
        Cell::new(detail),
    ]]
}
