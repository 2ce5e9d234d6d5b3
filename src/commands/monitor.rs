//! `gymops monitor`: the guide's monitor.sh (section 4.3) done properly — every service's
//! container and the host disks against thresholds, in one round or every interval.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::MonitorArgs;
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};
use crate::hostfs::measure;
use crate::notify::changes::{digest, StateChange};
use crate::notify::{severity_of, Event, Notifier};
use crate::output::{OutputFormat, Printer};
use crate::settings::Settings;
use crate::watch::{Frame, Screen};

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// cpu, memory, disk, container
    pub check: String,
    pub target: String,
    pub value_percent: Option<f64>,
    pub threshold_percent: Option<f64>,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    pub cpu_percent: f64,
    pub memory_percent: f64,
    pub disk_percent: f64,
}

#[derive(Debug, Serialize)]
pub struct MonitorRound {
    pub status: Status,
    pub checked_at: String,
    pub thresholds: Thresholds,
    pub findings: Vec<Finding>,
}

/// Above (or at) the threshold is a warning.
pub fn against(value: f64, threshold: f64) -> Status {
    if value >= threshold {
        Status::Warning
    } else {
        Status::Ok
    }
}

pub async fn run(ctx: &Context, args: &MonitorArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let thresholds = Thresholds {
        cpu_percent: args.cpu.unwrap_or(settings.monitor.cpu_percent),
        memory_percent: args.memory.unwrap_or(settings.monitor.memory_percent),
        disk_percent: args.disk.unwrap_or(settings.monitor.disk_percent),
    };
    for (flag, value) in [
        ("--cpu", thresholds.cpu_percent),
        ("--memory", thresholds.memory_percent),
        ("--disk", thresholds.disk_percent),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(anyhow!("{flag} {value} is not a positive percentage"));
        }
    }
    let engine = ctx.engine().await?;
    let notifier = Notifier::new(&settings.notify, ctx.http()?);
    let notify = !args.no_notify && !notifier.command_channels().is_empty();
    let mut previous: BTreeMap<(String, String), Status> = BTreeMap::new();
    // Ctrl-C or SIGTERM stops the loop at once, also in the middle of a round or of a
    // notification's retries (not only while it sleeps).
    let stop = crate::signals::terminated();
    tokio::pin!(stop);
    let mut last = Status::Ok;
    // Rounds every interval are laid out like every --watch: redrawn in place on a terminal.
    let mut screen = args.interval.map(|every| Screen::new(&ctx.printer, every));
    loop {
        let round = tokio::select! {
            round = round(ctx, engine, &thresholds) => round?,
            _ = &mut stop => return Ok(last),
        };
        last = round.status;
        if notify {
            // One message per round: a single change as its own alert, several as a digest.
            let changed = changes(&previous, &round.findings);
            let event = match changed.as_slice() {
                [] => None,
                [one] => Some(one.clone().into_event(settings)),
                many => {
                    let many: Vec<StateChange> = many.iter().map(Change::as_state_change).collect();
                    digest(settings, "monitor", &many)
                }
            };
            if let Some(event) = event {
                let deliveries = tokio::select! {
                    deliveries = notifier.notify(&event) => deliveries,
                    _ = &mut stop => return Ok(last),
                };
                super::warn_undelivered(&ctx.printer, &deliveries);
            }
        }
        previous = round
            .findings
            .iter()
            .map(|f| ((f.check.clone(), f.target.clone()), f.status))
            .collect();
        // A screen redrawn in place has the findings in its table; lines on stderr would
        // scroll it.
        if !screen.as_ref().is_some_and(Screen::in_place) {
            for finding in round.findings.iter().filter(|f| f.status != Status::Ok) {
                ctx.printer.warn(&format!(
                    "{} of {}: {}",
                    finding.check, finding.target, finding.detail
                ));
            }
        }
        let text = match (&mut screen, ctx.printer.format) {
            _ if !ctx.printer.shows(round.status) => String::new(),
            (Some(screen), _) => screen.show(
                &Frame::new(round.status, &round, render(&ctx.printer, &round))?,
                chrono::Local::now(),
            ),
            (None, OutputFormat::Json) => Printer::json(&round)?,
            (None, _) => render(&ctx.printer, &round),
        };
        ctx.printer.emit(&text, None)?;
        let Some(interval) = args.interval else {
            return Ok(round.status);
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => return Ok(round.status),
        }
    }
}

/// A finding worth a notification: it turned bad, changed, or recovered.
#[derive(Debug, Clone)]
pub struct Change {
    pub finding: Finding,
    /// The status before (Ok for a new problem).
    pub was: Status,
}

impl Change {
    /// The change as a line of a digest.
    fn as_state_change(&self) -> StateChange {
        StateChange {
            key: format!("{} of {}", self.finding.check, self.finding.target),
            was: self.was,
            now: self.finding.status,
            detail: self.finding.detail.clone(),
        }
    }

    fn into_event(self, settings: &Settings) -> Event {
        let finding = &self.finding;
        let recovered = finding.status == Status::Ok;
        // A recovery goes out at the severity of the problem it ends, so whoever got the
        // problem also gets its end.
        let what = crate::i18n::tr_args(
            "notify-finding",
            &[
                ("check", finding.check.clone()),
                ("target", finding.target.clone()),
                ("detail", finding.detail.clone()),
            ],
        );
        let (severity, message) = if recovered {
            (
                severity_of(self.was),
                crate::i18n::tr_args("notify-resolved", &[("what", what)]),
            )
        } else {
            (severity_of(finding.status), what)
        };
        let alert_type = match finding.check.as_str() {
            "cpu" => "HighCPUUsage",
            "memory" => "HighMemoryUsage",
            "disk" => "DiskSpaceLow",
            _ => "ServiceDown",
        };
        let mut event = Event::new(settings, alert_type, severity, message)
            .detail("check", finding.check.clone())
            .detail("target", finding.target.clone())
            .detail("status", finding.status.label());
        if let Some(value) = finding.value_percent {
            event = event.detail("value", format!("{value:.1}%"));
        }
        if let Some(threshold) = finding.threshold_percent {
            event = event.detail("threshold", format!("{threshold}%"));
        }
        event
    }
}

/// Findings that changed since the previous round: a new problem, a problem whose status
/// changed, or a recovery. A problem that stays the same is not sent again.
pub fn changes(previous: &BTreeMap<(String, String), Status>, findings: &[Finding]) -> Vec<Change> {
    findings
        .iter()
        .filter_map(|finding| {
            let was = previous
                .get(&(finding.check.clone(), finding.target.clone()))
                .copied()
                .unwrap_or(Status::Ok);
            (finding.status != was).then(|| Change {
                finding: finding.clone(),
                was,
            })
        })
        .collect()
}

pub async fn round(
    ctx: &Context,
    engine: &Engine,
    thresholds: &Thresholds,
) -> Result<MonitorRound> {
    let settings = ctx.settings();
    let services: Vec<String> = settings.services.keys().cloned().collect();
    let states = engine.service_states(settings, &services).await?;
    let checked_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut readings = engine.running_usages(&states).await.into_iter();
    let per_container = states.into_iter().map(|state| {
        let service = state.service;
        let container = match state.container {
            Some(container) if container.state == "running" => container,
            stopped => {
                let detail = match stopped {
                    Some(container) => format!("{} is {}", container.name, container.state),
                    None => crate::say!("no container"),
                };
                return vec![Finding {
                    check: "container".into(),
                    target: service,
                    value_percent: None,
                    threshold_percent: None,
                    status: Status::Critical,
                    detail,
                }];
            }
        };
        let reading = readings
            .next()
            .unwrap_or_else(|| Err(anyhow::anyhow!("no reading for {}", container.name)));
        match reading {
            Ok(used) => {
                let cpu = (used.cpu_percent * 100.0).round() / 100.0;
                let memory = (used.memory_percent * 100.0).round() / 100.0;
                vec![
                    Finding {
                        check: "cpu".into(),
                        target: service.clone(),
                        value_percent: Some(cpu),
                        threshold_percent: Some(thresholds.cpu_percent),
                        status: against(cpu, thresholds.cpu_percent),
                        detail: format!("CPU {cpu:.1}% (threshold {}%)", thresholds.cpu_percent),
                    },
                    Finding {
                        check: "memory".into(),
                        target: service,
                        value_percent: Some(memory),
                        threshold_percent: Some(thresholds.memory_percent),
                        status: against(memory, thresholds.memory_percent),
                        detail: format!(
                            "memory {memory:.1}% of its limit (threshold {}%)",
                            thresholds.memory_percent
                        ),
                    },
                ]
            }
            Err(err) => vec![Finding {
                check: "container".into(),
                target: service,
                value_percent: None,
                threshold_percent: None,
                status: Status::Unknown,
                detail: crate::error::describe(&err).0,
            }],
        }
    });
    let mut findings: Vec<Finding> = per_container.flatten().collect();
    let mut disks = vec![("host /".to_string(), Path::new("/").to_path_buf())];
    disks.push((
        "backups".into(),
        ctx.loaded.resolve_path(&settings.backup.dir),
    ));
    for (name, path) in disks {
        let measured = measure(&name, &path, 101, 101);
        let finding = match measured.used_percent {
            Some(percent) => Finding {
                check: "disk".into(),
                target: name,
                value_percent: Some(percent),
                threshold_percent: Some(thresholds.disk_percent),
                status: against(percent, thresholds.disk_percent),
                detail: format!(
                    "{} used {percent:.1}% (threshold {}%)",
                    measured.measured.unwrap_or(measured.path),
                    thresholds.disk_percent
                ),
            },
            None => Finding {
                check: "disk".into(),
                target: name,
                value_percent: None,
                threshold_percent: Some(thresholds.disk_percent),
                status: Status::Unknown,
                detail: measured.note,
            },
        };
        findings.push(finding);
    }
    let status = Status::combine(findings.iter().map(|f| f.status));
    Ok(MonitorRound {
        status,
        checked_at,
        thresholds: *thresholds,
        findings,
    })
}

fn render(printer: &Printer, round: &MonitorRound) -> String {
    let dash = || "-".to_string();
    let mut text = printer.table(
        &["CHECK", "TARGET", "VALUE", "THRESHOLD", "STATUS", "DETAIL"],
        round
            .findings
            .iter()
            .filter(|f| printer.shows(f.status))
            .map(|f| {
                vec![
                    Cell::new(&f.check),
                    Cell::new(&f.target),
                    Printer::number_cell(
                        f.value_percent
                            .map(|v| format!("{v:.1}%"))
                            .unwrap_or_else(dash),
                    ),
                    Printer::number_cell(
                        f.threshold_percent
                            .map(|v| format!("{v}%"))
                            .unwrap_or_else(dash),
                    ),
                    printer.status_cell(f.status),
                    Cell::new(&f.detail),
                ]
            })
            .collect(),
    );
    text.push_str(&crate::i18n::tr_args(
        "monitor-summary",
        &[
            ("status", round.status.display()),
            ("at", round.checked_at.to_string()),
        ],
    ));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Severity;

    fn finding(check: &str, status: Status) -> Finding {
        Finding {
            check: check.into(),
            target: "backend".into(),
            value_percent: Some(91.0),
            threshold_percent: Some(80.0),
            status,
            detail: "CPU 91.0% (threshold 80%)".into(),
        }
    }

    #[test]
    fn only_changes_are_notified() {
        let mut previous = BTreeMap::new();
        let first = [
            finding("cpu", Status::Warning),
            finding("memory", Status::Ok),
        ];
        let changed = changes(&previous, &first);
        assert_eq!(changed.len(), 1, "a new problem; an OK finding is not news");
        assert_eq!(changed[0].finding.check, "cpu");
        previous.insert(("cpu".to_string(), "backend".to_string()), Status::Warning);
        previous.insert(("memory".to_string(), "backend".to_string()), Status::Ok);
        assert!(
            changes(&previous, &first).is_empty(),
            "the same problem again"
        );
        let recovered = changes(&previous, &[finding("cpu", Status::Ok)]);
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].was, Status::Warning);
        let event = recovered[0].clone().into_event(&Settings::default());
        assert_eq!(event.severity, Severity::Warning);
        assert!(event.message.starts_with("RESOLVED: cpu of backend"));
        assert_eq!(event.alert_type, "HighCPUUsage");
    }

    #[test]
    fn at_or_above_the_threshold_is_a_warning() {
        assert_eq!(against(79.9, 80.0), Status::Ok);
        assert_eq!(against(80.0, 80.0), Status::Warning);
        assert_eq!(against(250.0, 80.0), Status::Warning);
    }
}
