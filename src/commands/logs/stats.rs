//! `gymops logs stats`: the guide's log analysis (section 3.2) as counts, from container
//! logs or from exported / rotated files.

use anyhow::{anyhow, Context as _, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::parse_window;
use crate::cli::LogsStatsArgs;
use crate::commands::Context;
use crate::docker::logs::LogRequest;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::logs::files;
use crate::logs::stats::{Collector, LogStats, StatsOptions};
use crate::output::Printer;

#[derive(Debug, Serialize)]
pub struct StatsOutput {
    /// Files read, or `service:container` for container logs.
    pub sources: Vec<String>,
    #[serde(flatten)]
    pub stats: LogStats,
}

pub async fn run(ctx: &Context, args: &LogsStatsArgs) -> Result<ExitStatus> {
    let output = stats(ctx, args).await?;
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(Status::Ok)
}

/// The counts of the files, or of the services' container logs.
pub(crate) async fn stats(ctx: &Context, args: &LogsStatsArgs) -> Result<StatsOutput> {
    let (since, until) = parse_window(args.since.as_deref(), args.until.as_deref())?;
    let from_files = !args.file.is_empty();
    let options = StatsOptions {
        since,
        until,
        top: args.top,
        topics: args.topic.clone(),
        prefer_source_time: !from_files,
    };
    let mut collector = Collector::new(options.clone());
    let mut sources = Vec::new();
    if from_files {
        for path in &args.file {
            let text = path.to_string_lossy();
            if let Some((service, inside)) = crate::docker::archive::container_path(&text) {
                collector = from_container(ctx, collector, &options, service, inside).await?;
                sources.push(text.into_owned());
                continue;
            }
            let reader =
                files::open(path).hint("check the path; --file takes plain or .gz log files")?;
            files::collect(reader, &mut collector, &options)
                .with_context(|| format!("cannot read log file {}", path.display()))
                .hint("a .gz file that is truncated or not gzip cannot be read; check it with `gzip -t`")?;
            sources.push(path.display().to_string());
        }
    } else {
        let settings = ctx.settings();
        let services = if args.services.is_empty() {
            vec![settings.logs.service.clone()]
        } else {
            args.services.clone()
        };
        ctx.check_services(&services)?;
        let engine = ctx.engine().await?;
        let request = LogRequest {
            follow: false,
            since: since.unwrap_or(0),
            until: until.unwrap_or(0),
            tail: None,
        };
        for state in engine.service_states(settings, &services).await? {
            let Some(container) = &state.container else {
                return Err(anyhow!(
                    "no container found for service `{}`",
                    state.service
                ))
                .hint("start it, or read exported files with --file");
            };
            engine
                .log_lines(&container.name, &request, |line| {
                    let seconds = line.nanos.map(|n| n.div_euclid(1_000_000_000));
                    collector.line(&line.text, seconds)
                })
                .await?;
            sources.push(format!("{}:{}", state.service, container.name));
        }
    }
    Ok(StatsOutput {
        sources,
        stats: collector.finish(),
    })
}

/// `--file SERVICE:/PATH`: the file in the service's container, through the Engine API (no
/// tool needed in the container, stopped or running), plain or gzip, in fixed memory.
async fn from_container(
    ctx: &Context,
    mut collector: Collector,
    options: &StatsOptions,
    service: &str,
    path: &str,
) -> Result<Collector> {
    crate::docker::archive::check_container_path(path)
        .hint("--file takes SERVICE:/absolute/path/to/file, e.g. backend:/app/logs/app.log")?;
    let engine = ctx.engine().await?;
    // Any container of the service, running or stopped: the archive endpoint reads both.
    let container = crate::commands::found_container(ctx, engine, service)
        .await?
        .name;
    let options = options.clone();
    let (collector, result) = engine
        .read_container_file(&container, path, move |reader| {
            let result = files::decompressing(reader)
                .and_then(|reader| files::collect(reader, &mut collector, &options));
            Ok((collector, result))
        })
        .await
        .hint("`gymops logs files` lists the log files in the container")?;
    result
        .with_context(|| format!("cannot read {path} in {service}'s container"))
        .hint("a .gz file that is truncated or not gzip cannot be read")?;
    Ok(collector)
}

/// The fleet's columns: one row of counts per site.
pub(crate) const FLEET_HEADERS: &[&str] =
    &["ERROR", "WARN", "INFO", "EVENTS", "LINES", "TOP ERROR"];

pub(crate) fn fleet_rows(_: &Printer, output: &StatsOutput) -> Vec<Vec<Cell>> {
    let stats = &output.stats;
    let top = stats
        .top_errors
        .first()
        .map(|g| {
            let example: String = g.example.chars().take(80).collect();
            format!("{} x {example}", g.count)
        })
        .unwrap_or_default();
    vec![vec![
        Printer::number_cell(stats.levels.error),
        Printer::number_cell(stats.levels.warn),
        Printer::number_cell(stats.levels.info),
        Printer::number_cell(stats.events),
        Printer::number_cell(stats.lines),
        Cell::new(top),
    ]]
}

fn render(printer: &Printer, output: &StatsOutput) -> String {
    let stats = &output.stats;
    let levels = &stats.levels;
    let mut text = printer.table(
        &["LEVEL", "EVENTS"],
        [
            ("ERROR", levels.error),
            ("WARN", levels.warn),
            ("INFO", levels.info),
            ("DEBUG", levels.debug),
            ("TRACE", levels.trace),
        ]
        .into_iter()
        .map(|(level, count)| vec![Cell::new(level), Printer::number_cell(count)])
        .collect(),
    );
    text.push_str(&crate::i18n::text(&crate::say!(
        "{} lines: {} events, {} stack-trace/continuation lines, {} blank, {} unparsed, {} events without a level, {} outside the window",
        stats.lines, stats.events, stats.continuation_lines, stats.blank_lines, stats.unparsed_lines, stats.events_without_level, stats.outside_window
    )));
    text.push('\n');
    if let (Some(first), Some(last)) = (&stats.first_event, &stats.last_event) {
        text.push_str(&crate::i18n::text(&crate::say!("from {first} to {last}")));
        text.push('\n');
    }
    if !stats.errors_per_hour.is_empty() {
        text.push('\n');
        text.push_str(
            &printer.table(
                &["HOUR", "ERRORS"],
                stats
                    .errors_per_hour
                    .iter()
                    .map(|h| vec![Cell::new(&h.hour), Printer::number_cell(h.count)])
                    .collect(),
            ),
        );
    }
    if !stats.top_errors.is_empty() {
        text.push('\n');
        text.push_str(&groups_table(printer, &stats.top_errors));
        if stats.untracked_errors > 0 {
            text.push_str(&crate::i18n::text(&crate::say!(
                "{} more errors were not grouped (over {} distinct messages)",
                stats.untracked_errors,
                crate::logs::stats::MAX_GROUPS
            )));
            text.push('\n');
        }
    }
    for topic in &stats.topics {
        text.push_str(
            &format!(
                "\ntopic {:?} ({}): {} matching lines\n",
                topic.topic,
                topic.keywords.join(", "),
                topic.matches
            )
            .to_lowercase(),
        );
        if !topic.per_hour.is_empty() {
            text.push_str(
                &printer.table(
                    &["HOUR", "MATCHES"],
                    topic
                        .per_hour
                        .iter()
                        .map(|h| vec![Cell::new(&h.hour), Printer::number_cell(h.count)])
                        .collect(),
                ),
            );
        }
        if !topic.top.is_empty() {
            text.push_str(&groups_table(printer, &topic.top));
        }
    }
    text
}

fn groups_table(printer: &Printer, groups: &[crate::logs::stats::MessageGroup]) -> String {
    let dash = || "-".to_string();
    printer.table(
        &["COUNT", "FIRST SEEN", "LAST SEEN", "MESSAGE (example)"],
        groups
            .iter()
            .map(|g| {
                vec![
                    Printer::number_cell(g.count),
                    Cell::new(g.first_seen.clone().unwrap_or_else(dash)),
                    Cell::new(g.last_seen.clone().unwrap_or_else(dash)),
                    Cell::new(&g.example),
                ]
            })
            .collect(),
    )
}
