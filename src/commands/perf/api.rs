//! `gymops perf api`: the guide's curl timing (section 4.3) over N requests, by phase.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde::Serialize;

use crate::cli::{BackendEndpoint, PerfApiArgs};
use crate::commands::Context;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::probe::timing::{summarize, time_request, tls_config, Phases, Summary};
use crate::settings::join_url;

#[derive(Debug, Serialize)]
pub struct PhaseSummaries {
    pub dns: Option<Summary>,
    pub connect: Option<Summary>,
    pub tls: Option<Summary>,
    pub first_byte: Option<Summary>,
    pub total: Option<Summary>,
}

#[derive(Debug, Serialize)]
pub struct ApiOutput {
    pub url: String,
    pub requests: u32,
    /// Requests answered with a status below 400.
    pub succeeded: u32,
    pub failed: u32,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u32>,
    /// Requests that got no answer, by what went wrong.
    pub errors: BTreeMap<String, u32>,
    /// Milliseconds from the start of each request, over the requests that were answered.
    pub phases_ms: PhaseSummaries,
}

pub async fn run(ctx: &Context, args: &PerfApiArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let url = match (&args.url, args.endpoint) {
        (Some(url), _) => url.clone(),
        (None, endpoint) => {
            let backend = &settings.backend;
            let path = match endpoint.unwrap_or(BackendEndpoint::Login) {
                BackendEndpoint::Login => &backend.endpoints.login,
                BackendEndpoint::Health => &backend.endpoints.health,
                BackendEndpoint::HealthDb => &backend.endpoints.health_db,
            };
            join_url(&backend.url, path)
        }
    };
    let parsed = url::Url::parse(&url).map_err(|err| anyhow!("not a URL: {url} ({err})"))?;
    let tls = tls_config(args.ca_file.as_deref())
        .hint("--ca-file takes a PEM file of CA certificates")?;
    let timeout = settings.backend.request_timeout;
    let mut answered: Vec<Phases> = Vec::new();
    let mut errors: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..args.requests {
        match crate::deadline::bounded(timeout, "no answer", time_request(&parsed, &tls)).await {
            Ok(phases) => answered.push(phases),
            Err(err) => *errors.entry(crate::error::describe(&err).0).or_default() += 1,
        }
    }
    let mut statuses: BTreeMap<u16, u32> = BTreeMap::new();
    for phases in &answered {
        *statuses.entry(phases.status).or_default() += 1;
    }
    let succeeded = answered.iter().filter(|p| p.status < 400).count() as u32;
    let collect = |pick: fn(&Phases) -> Option<f64>| {
        summarize(&answered.iter().filter_map(pick).collect::<Vec<_>>())
    };
    let output = ApiOutput {
        url: crate::settings::mask_url(&url),
        requests: args.requests,
        succeeded,
        failed: args.requests - succeeded,
        statuses,
        errors,
        phases_ms: PhaseSummaries {
            dns: collect(|p| Some(p.dns_ms)),
            connect: collect(|p| Some(p.connect_ms)),
            tls: collect(|p| p.tls_ms),
            first_byte: collect(|p| Some(p.first_byte_ms)),
            total: collect(|p| Some(p.total_ms)),
        },
    };
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(match (output.succeeded, output.failed) {
        (_, 0) => Status::Ok,
        (0, _) => Status::Critical,
        _ => Status::Warning,
    })
}

fn render(printer: &Printer, output: &ApiOutput) -> String {
    let phases = &output.phases_ms;
    let rows = [
        ("dns", phases.dns),
        ("connect", phases.connect),
        ("tls", phases.tls),
        ("first byte", phases.first_byte),
        ("total", phases.total),
    ]
    .into_iter()
    .filter_map(|(name, summary)| summary.map(|s| (name, s)))
    .map(|(name, s)| {
        let mut row = vec![Cell::new(name)];
        row.extend(
            [s.min, s.p50, s.p95, s.p99, s.max].map(|v| Printer::number_cell(format!("{v:.3}"))),
        );
        row
    })
    .collect();
    let mut text = printer.table(
        &["PHASE (ms from start)", "MIN", "P50", "P95", "P99", "MAX"],
        rows,
    );
    let statuses: Vec<String> = output
        .statuses
        .iter()
        .map(|(code, n)| format!("{n}x HTTP {code}"))
        .collect();
    text.push_str(&format!(
        "{}: {} requests, {} succeeded{}{}\n",
        output.url,
        output.requests,
        output.succeeded,
        if statuses.is_empty() {
            String::new()
        } else {
            format!(" ({})", statuses.join(", "))
        },
        output
            .errors
            .iter()
            .map(|(e, n)| format!("; {n}x {e}"))
            .collect::<String>()
    ));
    text
}
