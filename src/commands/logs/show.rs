//! `gymops logs [SERVICE...]`: container logs from the Engine API, each line prefixed by its
//! service, optionally merged by time, filtered, and followed across restarts.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use regex::Regex;
use tokio::sync::mpsc;

use super::parse_window;
use crate::cli::LogsShowArgs;
use crate::commands::Context;
use crate::docker::logs::{LogRequest, RawLine};
use crate::docker::Engine;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::logs::parse::{parse_line, Level, Line};
use crate::settings::Settings;

/// Compose's palette for service prefixes.
const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "96"];

/// A line with the index of its service.
struct Tagged {
    service: usize,
    line: RawLine,
}

/// Which lines to show: `--grep` and `--level`, with the level of the current event kept
/// per service so that stack traces go with their event.
struct LineFilter {
    grep: Option<Regex>,
    level: Option<Level>,
    current: HashMap<usize, Option<Level>>,
}

impl LineFilter {
    /// Whether lines are filtered at all (then `--tail` counts matching lines).
    fn active(&self) -> bool {
        self.grep.is_some() || self.level.is_some()
    }

    fn keep(&mut self, tagged: &Tagged) -> bool {
        let text = String::from_utf8_lossy(&tagged.line.text);
        if let Some(min) = self.level {
            let current = self.current.entry(tagged.service).or_insert(None);
            match parse_line(&tagged.line.text) {
                Line::Event(event) => *current = event.level,
                // Not part of the event before it: shown only without --level.
                Line::Unparsed => *current = None,
                _ => {}
            }
            if !current.is_some_and(|level| level <= min) {
                return false;
            }
        }
        self.grep.as_ref().is_none_or(|grep| grep.is_match(&text))
    }
}

struct Renderer {
    names: Vec<String>,
    width: usize,
    color: bool,
    timestamps: bool,
    /// One JSON object per line (`--output json`).
    json: bool,
}

/// A line as `logs --output json` prints it: one object per line (JSON Lines).
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    service: &'a str,
    stream: crate::docker::logs::StreamKind,
    time: Option<&'a str>,
    text: std::borrow::Cow<'a, str>,
}

impl Renderer {
    fn render(&self, tagged: &Tagged) -> String {
        let name = &self.names[tagged.service];
        if self.json {
            let line = JsonLine {
                service: name,
                stream: tagged.line.stream,
                time: tagged.line.time.as_deref(),
                text: String::from_utf8_lossy(&tagged.line.text),
            };
            return serde_json::to_string(&line).unwrap_or_default() + "\n";
        }
        let prefix = format!("{name:<width$} |", width = self.width);
        let prefix = if self.color {
            format!(
                "\u{1b}[{}m{prefix}\u{1b}[0m",
                COLORS[tagged.service % COLORS.len()]
            )
        } else {
            prefix
        };
        let time = match (&tagged.line.time, self.timestamps) {
            (Some(time), true) => format!(" {time}"),
            _ => String::new(),
        };
        format!(
            "{prefix}{time} {}\n",
            String::from_utf8_lossy(&tagged.line.text)
        )
    }
}

enum Sink {
    Stdout(std::io::Stdout),
    /// A file written whole at the end (atomically).
    Buffer(std::path::PathBuf, Vec<u8>),
    /// A file written as lines arrive (--follow).
    Stream(std::io::BufWriter<std::fs::File>),
}

impl Sink {
    fn write(&mut self, text: &str) -> Result<()> {
        match self {
            Sink::Stdout(stdout) => {
                let mut lock = stdout.lock();
                match lock.write_all(text.as_bytes()).and_then(|_| lock.flush()) {
                    Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {
                        Err(anyhow!(BrokenPipe))
                    }
                    other => other.context("cannot write to stdout"),
                }
            }
            Sink::Buffer(_, buffer) => {
                buffer.extend_from_slice(text.as_bytes());
                Ok(())
            }
            Sink::Stream(file) => file
                .write_all(text.as_bytes())
                .and_then(|_| file.flush())
                .context("cannot write the output file"),
        }
    }

    fn finish(self) -> Result<()> {
        if let Sink::Buffer(path, buffer) = self {
            crate::fsutil::write_output(&path, &buffer)
                .with_context(|| format!("cannot write the output file {}", path.display()))?;
        }
        Ok(())
    }
}

/// The reader went away (`gymops logs | head`): stop quietly.
#[derive(Debug)]
struct BrokenPipe;

impl std::fmt::Display for BrokenPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("broken pipe")
    }
}

impl std::error::Error for BrokenPipe {}

pub async fn run(ctx: &Context, args: &LogsShowArgs) -> Result<ExitStatus> {
    match show(ctx, args).await {
        Err(err) if err.downcast_ref::<BrokenPipe>().is_some() => Ok(Status::Ok),
        other => other,
    }
}

async fn show(ctx: &Context, args: &LogsShowArgs) -> Result<ExitStatus> {
    if ctx.printer.format == crate::output::OutputFormat::Markdown {
        return Err(anyhow!("--output markdown does not apply to log lines"))
            .hint("use --output table (prefixed lines) or --output json (JSON Lines)");
    }
    let settings = ctx.settings();
    ctx.check_services(&args.services)?;
    let grep = args
        .grep
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|err| anyhow!("--grep: invalid regular expression: {err}"))
        .hint("use Rust regex syntax, e.g. --grep 'timeout|refused' (escape special characters with \\\\)")?;
    let (since, until) = parse_window(args.since.as_deref(), args.until.as_deref())?;
    let services: Vec<String> = if args.services.is_empty() {
        settings.services.keys().cloned().collect()
    } else {
        args.services.clone()
    };
    let engine = ctx.engine().await?;
    // (service, container or swarm service, whether it is a swarm service)
    let mut targets: Vec<(String, String, bool)> = Vec::new();
    let mut missing = Vec::new();
    for state in engine.service_states(settings, &services).await? {
        match state.container {
            Some(container) => targets.push((state.service, container.name, false)),
            None => missing.push(state.service),
        }
    }
    // A service with no container may run as a swarm service of the stack: every task's
    // lines, as `docker service logs` shows them.
    if !missing.is_empty() {
        let stack = engine
            .stack_services(&crate::deploy::spec::project_name(&settings.project))
            .await?;
        missing.retain(|service| match stack.get(service) {
            Some(swarm) => {
                targets.push((service.clone(), swarm.name.clone(), true));
                false
            }
            None => true,
        });
    }
    if targets.is_empty() {
        return Err(anyhow!("no container found for {}", missing.join(", ")))
            .hint("start the services (`docker-compose up -d`), or check `gymops ps`");
    }
    for service in &missing {
        ctx.printer.warn(&format!(
            "no container for service `{service}`; its logs are skipped"
        ));
    }
    let renderer = Renderer {
        width: targets
            .iter()
            .map(|(service, ..)| service.len())
            .max()
            .unwrap_or(0),
        names: targets
            .iter()
            .map(|(service, ..)| service.clone())
            .collect(),
        color: ctx.printer.colors() && !args.no_color && args.output_file.path.is_none(),
        timestamps: args.timestamps,
        json: ctx.printer.format == crate::output::OutputFormat::Json,
    };
    let mut filter = LineFilter {
        grep,
        level: args.level,
        current: HashMap::new(),
    };
    let mut sink = match (&args.output_file.path, args.follow) {
        (None, _) => Sink::Stdout(std::io::stdout()),
        (Some(path), false) => Sink::Buffer(path.clone(), Vec::new()),
        (Some(path), true) => {
            // Followed lines are appended as they come (no atomic write), but to a regular
            // file only, as every --output-file.
            if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
                return Err(anyhow!(
                    "{} exists and is not a regular file",
                    path.display()
                ))
                .hint("name a regular file (or a new one) for the output");
            }
            Sink::Stream(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create the output file {}", path.display()))?,
            ))
        }
    };

    // What is there already. Without --merge each service's lines stream straight out, one
    // service after the other, so a large log is never held in memory; --merge has to read
    // every service's lines before it can order them.
    // With --level/--grep, --tail means the last N *matching* lines (filter, then tail, as
    // `grep | tail` does): the engine sends everything and the last N matches are kept.
    let tail_matches = args.tail.filter(|_| filter.active());
    let request = LogRequest {
        follow: false,
        since: since.unwrap_or(0),
        until: until.unwrap_or(0),
        tail: if tail_matches.is_some() {
            None
        } else {
            args.tail
        },
    };
    let keep_last = |lines: &mut std::collections::VecDeque<String>, line: String| {
        if let Some(n) = tail_matches {
            if lines.len() as u64 >= n {
                lines.pop_front();
            }
            if n > 0 {
                lines.push_back(line);
            }
        }
    };
    let mut last_seen: Vec<Option<i64>> = vec![None; targets.len()];
    if args.merge {
        let backlogs =
            futures_util::future::join_all(targets.iter().map(|(_, container, swarm)| async {
                let mut lines = Vec::new();
                read_lines(engine, container, *swarm, &request, |line| lines.push(line))
                    .await
                    .map(|_| lines)
            }))
            .await;
        let mut backlog: Vec<Tagged> = Vec::new();
        for (service, lines) in backlogs.into_iter().enumerate() {
            for line in lines? {
                // The newest time, not the last line's: stdout and stderr interleave out of order.
                last_seen[service] = last_seen[service].max(line.nanos);
                backlog.push(Tagged { service, line });
            }
        }
        // Stable: lines of one service with the same time keep their order.
        backlog.sort_by_key(|tagged| tagged.line.nanos.unwrap_or(i64::MIN));
        let mut last = std::collections::VecDeque::new();
        for tagged in &backlog {
            if filter.keep(tagged) {
                if tail_matches.is_some() {
                    keep_last(&mut last, renderer.render(tagged));
                } else {
                    sink.write(&renderer.render(tagged))?;
                }
            }
        }
        for line in last {
            sink.write(&line)?;
        }
    } else {
        for (service, (_, container, swarm)) in targets.iter().enumerate() {
            let mut written = Ok(());
            let mut last = std::collections::VecDeque::new();
            read_lines(engine, container, *swarm, &request, |line| {
                last_seen[service] = last_seen[service].max(line.nanos);
                let tagged = Tagged { service, line };
                if written.is_ok() && filter.keep(&tagged) {
                    if tail_matches.is_some() {
                        keep_last(&mut last, renderer.render(&tagged));
                    } else {
                        written = sink.write(&renderer.render(&tagged));
                    }
                }
            })
            .await?;
            written?;
            for line in last {
                sink.write(&line)?;
            }
        }
    }
    if !args.follow || until.is_some() {
        sink.finish()?;
        return Ok(Status::Ok);
    }

    // Following: one task per service; each re-attaches when its container comes back.
    // Unbounded: a line is never dropped; the printer (a local pipe or file) keeps up.
    let (sender, mut receiver) = mpsc::unbounded_channel::<Tagged>();
    let engine = ctx.engine().await?;
    for (index, (service, name, swarm)) in targets.iter().enumerate() {
        let sender = sender.clone();
        let engine = engine.clone();
        let settings = settings.clone();
        let service = service.clone();
        let after = last_seen[index];
        let swarm = swarm.then(|| name.clone());
        tokio::spawn(async move {
            let followed = match swarm {
                Some(name) => follow_swarm_service(&engine, index, &name, after, sender).await,
                None => follow_service(&engine, &settings, index, &service, after, sender).await,
            };
            if let Err(err) = followed {
                tracing::warn!(
                    "following {service} stopped: {}",
                    crate::error::describe(&err).0
                );
            }
        });
    }
    drop(sender);
    loop {
        tokio::select! {
            line = receiver.recv() => match line {
                Some(tagged) => {
                    if filter.keep(&tagged) {
                        sink.write(&renderer.render(&tagged))?;
                    }
                }
                None => break,
            },
            _ = crate::signals::terminated() => break,
        }
    }
    sink.finish()?;
    Ok(Status::Ok)
}

/// Follow one service's log; when the stream ends (the container stopped), wait for the
/// service's container to run again and re-attach, skipping lines already shown.
async fn follow_service(
    engine: &Engine,
    settings: &Settings,
    index: usize,
    service: &str,
    mut after: Option<i64>,
    sender: mpsc::UnboundedSender<Tagged>,
) -> Result<()> {
    // A task of its own per followed service, over the run's engine (its connection pool
    // opens a connection per stream).
    loop {
        let container = wait_running(engine, settings, service).await?;
        // Docker's `since` has whole seconds; the nanosecond check below drops repeats.
        let since = after.map(|n| n.div_euclid(1_000_000_000)).unwrap_or(0);
        let request = LogRequest {
            follow: true,
            since,
            until: 0,
            tail: if after.is_some() { None } else { Some(0) },
        };
        // Lines up to the newest already shown are repeats; within one attachment nothing
        // is dropped, however stdout and stderr interleave.
        let shown_up_to = after;
        let result = engine
            .log_lines(&container, &request, |line| {
                if line
                    .nanos
                    .is_some_and(|n| shown_up_to.is_some_and(|a| n <= a))
                {
                    return;
                }
                after = after.max(line.nanos);
                // Fails only when the printer has stopped; the loop below then ends.
                let _ = sender.send(Tagged {
                    service: index,
                    line,
                });
            })
            .await;
        if sender.is_closed() {
            return Ok(());
        }
        if let Err(err) = result {
            tracing::debug!("log stream of {container} ended: {err:#}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Follow a swarm service's log: one stream over every task, the ones that start later too.
async fn follow_swarm_service(
    engine: &Engine,
    index: usize,
    name: &str,
    after: Option<i64>,
    sender: mpsc::UnboundedSender<Tagged>,
) -> Result<()> {
    let request = LogRequest {
        follow: true,
        since: after.map(|n| n.div_euclid(1_000_000_000)).unwrap_or(0),
        until: 0,
        tail: if after.is_some() { None } else { Some(0) },
    };
    engine
        .service_log_lines(name, &request, |line| {
            if line.nanos.is_some_and(|n| after.is_some_and(|a| n <= a)) {
                return;
            }
            let _ = sender.send(Tagged {
                service: index,
                line,
            });
        })
        .await
}

/// A container's log, or a swarm service's (every task's).
async fn read_lines(
    engine: &Engine,
    name: &str,
    swarm: bool,
    request: &LogRequest,
    each: impl FnMut(RawLine),
) -> Result<()> {
    if swarm {
        engine.service_log_lines(name, request, each).await
    } else {
        engine.log_lines(name, request, each).await
    }
}

/// The service's container once it is running (polling every half second).
async fn wait_running(engine: &Engine, settings: &Settings, service: &str) -> Result<String> {
    loop {
        let states = engine
            .service_states(settings, &[service.to_string()])
            .await?;
        if let Some(container) = states.into_iter().next().and_then(|s| s.container) {
            if container.state == "running" {
                return Ok(container.name);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
