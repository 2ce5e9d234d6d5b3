//! `gymops incident new`: claim an ID, write the record, capture the evidence, tell the team.

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use serde::Serialize;

use super::{store, Context};
use crate::cli::IncidentNewArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::incident::render::{self, span};
use crate::incident::{evidence, operator, Evidence, Incident, Notice, Opening};
use crate::notify::{Delivery, Event, Notifier};
use crate::output::Printer;

#[derive(Serialize)]
struct Opened<'a> {
    #[serde(flatten)]
    incident: &'a Incident,
    dir: String,
    deliveries: &'a [Delivery],
}

pub async fn run(ctx: &Context, args: &IncidentNewArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    if args.summary.trim().is_empty() {
        return Err(anyhow!("--summary must not be empty"))
            .hint("say what is wrong in a line, e.g. --summary \"API returns 502\"");
    }
    let now = Utc::now();
    let started_at = time_arg(args.started_at.as_deref(), "--started-at", now)?;
    let alerted_at = time_arg(args.alerted_at.as_deref(), "--alerted-at", now)?;
    let alerted_at = alerted_at.unwrap_or(now);
    let started_at = started_at.unwrap_or(alerted_at);
    if alerted_at < started_at {
        return Err(anyhow!("--alerted-at is before --started-at"))
            .hint("the alert fires after the problem starts; check both times");
    }
    let store = store(ctx, &args.dir);
    let (id, path) = store.claim(now.date_naive())?;
    let mut incident = Incident::open(Opening {
        id: id.clone(),
        severity: args.severity,
        summary: args.summary.trim().to_string(),
        impact: args
            .impact
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        project: settings.project.clone(),
        environment: settings.environment.clone(),
        host: crate::notify::hostname(),
        started_at,
        alerted_at,
        opened_at: now,
        opened_by: operator(&ctx.settings().incident),
        response_target_seconds: settings
            .incident
            .response_targets
            .of(args.severity)
            .as_secs(),
    });
    // The record exists before any evidence is taken: an engine that hangs cannot keep the
    // incident from being opened.
    store.save(&incident)?;
    if !args.no_evidence {
        let captured = evidence::capture(settings, &ctx.clients, &path).await;
        incident = store
            .modify(&id, "gymops incident new", |record| {
                record.evidence = captured;
                Ok(())
            })
            .await?
            .0;
    }
    let mut deliveries = Vec::new();
    if !args.no_notify {
        let notifier = Notifier::new(&settings.notify, ctx.http()?);
        if notifier.wants(incident.severity) {
            let text = render::status_update(&incident, None, settings.incident.lang);
            let event = Event::new(settings, "Incident", incident.severity, text)
                .detail("incident", &incident.id)
                .detail("state", incident.state.label());
            deliveries = notifier.notify(&event).await;
            for delivery in deliveries.iter().filter(|d| !d.delivered) {
                ctx.printer.warn(&format!(
                    "the opening update was not delivered to {}: {}",
                    delivery.channel.label(),
                    delivery.error.as_deref().unwrap_or("failed")
                ));
            }
            let sent = Notice::from_deliveries("internal", &deliveries);
            if !sent.is_empty() {
                incident = store
                    .modify(&id, "gymops incident new", |record| {
                        record.notices.extend(sent);
                        Ok(())
                    })
                    .await?
                    .0;
            }
        }
    }
    let output = Opened {
        incident: &incident,
        dir: path.display().to_string(),
        deliveries: &deliveries,
    };
    ctx.printer.emit_result(&output, None, |printer| {
        let mut text = format!(
            "{} opened: {} ({}), respond within {} — {}\n",
            incident.id,
            incident.summary,
            incident.severity.label(),
            span(incident.response_target_seconds as i64),
            output.dir
        );
        if !incident.evidence.is_empty() {
            text.push_str(&evidence_table(printer, &incident.evidence));
        }
        text
    })?;
    Ok(Status::Ok)
}

fn time_arg(text: Option<&str>, flag: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let Some(text) = text else { return Ok(None) };
    let time = crate::logs::time::parse_time(text, now)
        .map_err(|err| anyhow!("{flag} `{text}`: {err}"))
        .hint("use RFC 3339 (2026-11-27T14:30:00Z), `2026-11-27 14:30` (UTC), or a time ago such as 20m")?;
    if time > now + chrono::Duration::minutes(1) {
        return Err(anyhow!("{flag} `{text}` is in the future"))
            .hint("give the time it happened, or leave the flag out for now");
    }
    Ok(Some(time))
}

pub fn evidence_table(printer: &Printer, evidence: &[Evidence]) -> String {
    let rows = evidence
        .iter()
        .map(|e| {
            let status = if e.captured {
                Status::Ok
            } else {
                Status::Warning
            };
            vec![
                Cell::new(&e.name),
                printer.paint(
                    Cell::new(if e.captured {
                        "captured"
                    } else {
                        "unavailable"
                    }),
                    status,
                ),
                Cell::new(e.file.as_deref().unwrap_or("-")),
                Printer::number_cell(format!("{} ms", e.elapsed_ms)),
                Cell::new(&e.detail),
            ]
        })
        .collect();
    printer.table(&["EVIDENCE", "RESULT", "FILE", "TIME", "DETAIL"], rows)
}
