//! `gymops perf load`: the guide's load testing (section 7.6), bounded and aimed only where
//! it is allowed.

use std::time::Duration;

use anyhow::{anyhow, Result};
use comfy_table::Cell;

use crate::cli::PerfLoadArgs;
use crate::commands::Context;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::load::{run as run_load, target_allowed, LoadPlan, LoadReport, MAX_DURATION};
use crate::output::Printer;

pub async fn run(ctx: &Context, args: &PerfLoadArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let url =
        url::Url::parse(&args.url).map_err(|err| anyhow!("not a URL: {} ({err})", args.url))?;
    let host = url.host_str().unwrap_or_default().to_string();
    let deployment: Vec<String> = [
        &settings.backend.url,
        &settings.minio.url,
        &settings.minio.console_url,
    ]
    .iter()
    .filter_map(|u| u.host_str().map(str::to_string))
    .collect();
    if !args.allow_remote && !target_allowed(&host, &deployment) {
        return Err(anyhow!("{host} is neither loopback nor a host of the deployment's configured URLs; no request was sent"))
            .hint("load only what you run: a loopback address, backend.url / minio.url in gymops.yaml, or pass --allow-remote");
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(anyhow!(
                "--rate must be a positive number of requests per second"
            ));
        }
    }
    let duration = match (args.duration, args.requests) {
        (Some(duration), _) if duration > MAX_DURATION => {
            return Err(anyhow!(
                "--duration {} is longer than the 1h bound",
                humantime::format_duration(duration)
            ))
            .hint("split long soak tests into runs of at most an hour");
        }
        (Some(duration), _) => duration,
        (None, Some(_)) => MAX_DURATION,
        (None, None) => Duration::from_secs(10),
    };
    let method = hyper::Method::from_bytes(args.method.to_uppercase().as_bytes())
        .map_err(|_| anyhow!("--method {} is not an HTTP method", args.method))?;
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| anyhow!("--header `{header}` is not `Name: value`"))?;
        let name = hyper::header::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| anyhow!("--header: `{}` is not a header name", name.trim()))?;
        let value = hyper::header::HeaderValue::from_str(value.trim())
            .map_err(|_| anyhow!("--header: the value of {name} is not valid in a header"))?;
        headers.push((name, value));
    }
    let plan = LoadPlan {
        url,
        connections: args.connections,
        duration,
        requests: args.requests,
        rate: args.rate,
        method,
        body: args.body.clone().unwrap_or_default().into(),
        headers,
        timeout: settings.backend.request_timeout,
    };
    let live = ctx.printer.shows_progress();
    let report = run_load(plan, |elapsed, done, errors| {
        if live {
            let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
            eprint!(
                "\r\u{1b}[2K{:.0}s  {done} requests  {rate:.0} req/s  {errors} errors",
                elapsed.as_secs_f64()
            );
        }
    })
    .await?;
    if live {
        eprint!("\r\u{1b}[2K");
    }
    ctx.printer
        .emit_result(&report, None, |printer| render(printer, &report))?;
    let server_errors = report.statuses.iter().any(|(code, _)| *code >= 500);
    Ok(if report.errors.is_empty() && !server_errors {
        Status::Ok
    } else {
        Status::Warning
    })
}

fn render(printer: &Printer, report: &LoadReport) -> String {
    let mut text = format!(
        "{}: {} requests in {:.2} s over {} connections = {:.1} requests/s\n",
        report.url,
        report.requests,
        report.duration_seconds,
        report.connections,
        report.requests_per_second
    );
    if let Some(latency) = &report.latency {
        text.push_str(&printer.table(
            &["LATENCY", "MEAN", "P50", "P90", "P99", "P99.9", "MAX"],
            vec![std::iter::once(Cell::new("ms"))
                    .chain(
                        [
                            latency.mean_ms,
                            latency.p50_ms,
                            latency.p90_ms,
                            latency.p99_ms,
                            latency.p999_ms,
                            latency.max_ms,
                        ]
                        .map(|v| Printer::number_cell(format!("{v:.3}"))),
                    )
                    .collect()],
        ));
    }
    let statuses: Vec<String> = report
        .statuses
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect();
    text.push_str(&format!(
        "status codes: {}\n",
        if statuses.is_empty() {
            "-".into()
        } else {
            statuses.join(", ")
        }
    ));
    if !report.errors.is_empty() {
        let errors: Vec<String> = report
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect();
        text.push_str(&format!("errors: {}\n", errors.join(", ")));
    }
    text
}
