//! Evidence captured when an incident is opened, into `<incident>/evidence/`: the health
//! report, `ps`, a `perf stats` sample, the newest error lines of each service, and
//! PostgreSQL's connection states. Everything runs at once and each capture has its own
//! deadline, so a dead engine or a hung database costs at most that deadline; what could not
//! be captured says why, and the incident is opened regardless.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::Evidence;
use crate::clients::Clients;
use crate::deadline::bounded as bounded_by;
use crate::docker::logs::LogRequest;
use crate::docker::Engine;
use crate::fsutil::write_atomic;
use crate::logs::parse::{parse_line, Level, Line};
use crate::probe::{self, HealthPlan};
use crate::settings::Settings;

/// Log lines read per service to find the newest error lines.
const LOG_LINES_READ: u64 = 20_000;

/// What a capture produced: the file's bytes and a one-line summary.
struct Captured {
    bytes: Vec<u8>,
    detail: String,
}

pub async fn capture(settings: &Settings, clients: &Clients, incident_dir: &Path) -> Vec<Evidence> {
    let dir = incident_dir.join("evidence");
    if let Err(err) = std::fs::create_dir_all(&dir) {
        return vec![Evidence {
            name: "evidence".into(),
            file: None,
            captured: false,
            detail: format!("cannot create {}: {err}", dir.display()),
            elapsed_ms: 0,
        }];
    }
    let timeout = settings.incident.evidence_timeout;
    let (health, docker, postgres) = tokio::join!(
        bounded(
            &dir,
            "health",
            "health.json",
            timeout,
            health(settings, clients)
        ),
        docker(settings, clients, &dir, timeout),
        bounded(
            &dir,
            "postgres-connections",
            "postgres-connections.json",
            timeout,
            postgres(settings, timeout),
        ),
    );
    let mut all = vec![health];
    all.extend(docker);
    all.push(postgres);
    all
}

/// Run one capture under its deadline and write its file.
async fn bounded(
    dir: &Path,
    name: &str,
    file: &str,
    timeout: Duration,
    work: impl Future<Output = Result<Captured>>,
) -> Evidence {
    let started = Instant::now();
    let outcome = bounded_by(timeout, "no answer", work).await;
    let outcome = outcome.and_then(|captured| {
        write_atomic(&dir.join(file), &captured.bytes, Some(0o640))?;
        Ok(captured.detail)
    });
    let elapsed_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(detail) => Evidence {
            name: name.to_string(),
            file: Some(format!("evidence/{file}")),
            captured: true,
            detail,
            elapsed_ms,
        },
        Err(err) => unavailable(name, &err, elapsed_ms),
    }
}

fn unavailable(name: &str, err: &anyhow::Error, elapsed_ms: u64) -> Evidence {
    Evidence {
        name: name.to_string(),
        file: None,
        captured: false,
        detail: format!("unavailable: {}", crate::error::describe(err).0),
        elapsed_ms,
    }
}

async fn health(settings: &Settings, clients: &Clients) -> Result<Captured> {
    let plan = HealthPlan {
        groups: Vec::new(),
        services: Vec::new(),
        endpoints: Vec::new(),
    };
    let report = probe::run(settings, clients, &plan).await?;
    Ok(Captured {
        bytes: serde_json::to_vec_pretty(&report)?,
        detail: crate::probe::summary_line(&report).trim_end().to_string(),
    })
}

/// `ps`, `perf stats` and the error lines: one engine connection, captures in parallel.
async fn docker(
    settings: &Settings,
    clients: &Clients,
    dir: &Path,
    timeout: Duration,
) -> Vec<Evidence> {
    let started = Instant::now();
    let connected = bounded_by(timeout, "Docker did not answer", clients.engine()).await;
    let engine = match connected {
        Ok(engine) => engine,
        Err(err) => {
            let elapsed = started.elapsed().as_millis() as u64;
            return ["ps", "stats", "logs"]
                .iter()
                .map(|name| unavailable(name, &err, elapsed))
                .collect();
        }
    };
    let ps = bounded(dir, "ps", "ps.json", timeout, async {
        let output = crate::docker::overview::collect(settings, engine, &[]).await?;
        let running = output
            .services
            .iter()
            .filter(|s| s.state == "running")
            .count();
        let detail = format!(
            "{} services, {running} running{}",
            output.services.len(),
            not_running(&output)
        );
        Ok(Captured {
            bytes: serde_json::to_vec_pretty(&output)?,
            detail,
        })
    });
    let stats = bounded(dir, "stats", "stats.json", timeout, async {
        let services: Vec<String> = settings.services.keys().cloned().collect();
        let output = crate::docker::sampling::sample(settings, engine, &services).await?;
        let sampled = output.services.iter().filter(|s| s.usage.is_some()).count();
        Ok(Captured {
            bytes: serde_json::to_vec_pretty(&output)?,
            detail: format!("{sampled} of {} containers sampled", output.services.len()),
        })
    });
    let logs = logs(settings, engine, dir, timeout);
    let (ps, stats, mut logs) = tokio::join!(ps, stats, logs);
    let mut all = vec![ps, stats];
    all.append(&mut logs);
    all
}

fn not_running(output: &crate::docker::overview::PsOutput) -> String {
    let others: Vec<String> = output
        .services
        .iter()
        .filter(|s| s.state != "running")
        .map(|s| format!("{} {}", s.service, s.state))
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(" ({})", others.join(", "))
    }
}

/// The newest error lines (with their stack traces) of each service's container.
async fn logs(
    settings: &Settings,
    engine: &Engine,
    dir: &Path,
    timeout: Duration,
) -> Vec<Evidence> {
    let started = Instant::now();
    let services: Vec<String> = settings.services.keys().cloned().collect();
    let listed = bounded_by(
        timeout,
        "no container list",
        engine.service_states(settings, &services),
    )
    .await;
    let states = match listed {
        Ok(states) => states,
        Err(err) => {
            return vec![unavailable(
                "logs",
                &err,
                started.elapsed().as_millis() as u64,
            )]
        }
    };
    let _ = std::fs::create_dir_all(dir.join("logs"));
    let keep = settings.incident.error_lines;
    let captures = states.into_iter().map(|state| {
        let name = format!("logs:{}", state.service);
        let file = format!("logs/{}.errors.log", state.service);
        async move {
            bounded(dir, &name, &file, timeout, async move {
                let container = state
                    .container
                    .ok_or_else(|| anyhow!("no container for {}", state.service))?;
                let request = LogRequest {
                    tail: Some(LOG_LINES_READ),
                    ..LogRequest::default()
                };
                let mut errors = ErrorLines::new(keep);
                let mut read = 0u64;
                engine
                    .log_lines(&container.name, &request, |line| {
                        read += 1;
                        let mut text = line.time.unwrap_or_default();
                        if !text.is_empty() {
                            text.push(' ');
                        }
                        text.push_str(&String::from_utf8_lossy(&line.text));
                        errors.push(&line.text, text);
                    })
                    .await?;
                let (kept, events) = (errors.lines.len(), errors.events);
                let mut bytes = errors.lines.into_iter().collect::<Vec<_>>().join("\n");
                if !bytes.is_empty() {
                    bytes.push('\n');
                }
                Ok(Captured {
                    bytes: bytes.into_bytes(),
                    detail: format!(
                        "{events} error events in the last {read} lines of {} ({kept} lines kept)",
                        container.name
                    ),
                })
            })
            .await
        }
    });
    futures_util::future::join_all(captures).await
}

/// The newest `keep` lines that belong to error events: an ERROR (FATAL, SEVERE...) line and
/// the stack trace lines that follow it.
pub struct ErrorLines {
    keep: usize,
    in_error: bool,
    pub lines: VecDeque<String>,
    /// Error events seen (not only kept).
    pub events: usize,
}

impl ErrorLines {
    pub fn new(keep: usize) -> ErrorLines {
        ErrorLines {
            keep,
            in_error: false,
            lines: VecDeque::new(),
            events: 0,
        }
    }

    /// `raw` is the line as the service wrote it; `shown` what to keep (with the time).
    pub fn push(&mut self, raw: &[u8], shown: String) {
        match parse_line(raw) {
            Line::Event(event) => {
                self.in_error = event.level == Some(Level::Error);
                if self.in_error {
                    self.events += 1;
                }
            }
            Line::Blank => return,
            Line::Continuation => {}
            // An unparsed line is not part of the error before it.
            Line::Unparsed => self.in_error = false,
        }
        if self.in_error && self.keep > 0 {
            if self.lines.len() == self.keep {
                self.lines.pop_front();
            }
            self.lines.push_back(shown);
        }
    }
}

async fn postgres(settings: &Settings, timeout: Duration) -> Result<Captured> {
    use crate::pg::insight::{read_only, run_view, DbView};
    let client = crate::pg::connect(&settings.postgres, timeout)
        .await
        .map_err(|err| {
            err.context(format!(
                "cannot connect to PostgreSQL at {}",
                crate::pg::describe_target(&settings.postgres)
            ))
        })?;
    read_only(&client, timeout).await?;
    let result = run_view(&client, DbView::Connections, 50, 7).await?;
    let detail = result
        .note
        .clone()
        .unwrap_or_else(|| format!("{} connection groups", result.rows.len()));
    Ok(Captured {
        bytes: serde_json::to_vec_pretty(&result)?,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_events_are_kept_with_their_stack_traces_newest_last() {
        let mut errors = ErrorLines::new(3);
        let log = [
            "2026-11-27 10:00:00.000 ERROR 1 --- [main] c.g.Api : first failure",
            "\tat com.gym.Api.call(Api.java:10)",
            "2026-11-27 10:00:01.000 INFO 1 --- [main] c.g.Api : fine",
            "\tat not.an.error(Trace.java:1)",
            "2026-11-27 10:00:02.000 ERROR 1 --- [main] c.g.Api : second failure",
            "\tat com.gym.Api.call(Api.java:20)",
            "",
        ];
        for line in log {
            errors.push(line.as_bytes(), line.to_string());
        }
        assert_eq!(errors.events, 2);
        assert_eq!(
            errors.lines.iter().cloned().collect::<Vec<_>>(),
            vec![
                "\tat com.gym.Api.call(Api.java:10)".to_string(),
                "2026-11-27 10:00:02.000 ERROR 1 --- [main] c.g.Api : second failure".into(),
                "\tat com.gym.Api.call(Api.java:20)".into(),
            ],
            "the newest three error lines, INFO and its trace left out"
        );
    }
}
