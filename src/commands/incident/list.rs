//! `gymops incident list` and `incident show`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::Cell;
use serde::Serialize;

use super::{store, Context};
use crate::cli::{IncidentIdArgs, IncidentListArgs};
use crate::exit::{ExitStatus, Status};
use crate::incident::render::{self, span, utc};
use crate::incident::{Incident, Response, State};
use crate::output::{OutputFormat, Printer};
use crate::settings::Severity;

/// One incident, as `incident list --output json` prints it.
#[derive(Debug, Serialize)]
pub struct ListRow {
    pub id: String,
    pub severity: Severity,
    pub state: State,
    pub summary: String,
    pub opened_at: DateTime<Utc>,
    /// The response target counts from here.
    pub alerted_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub age_seconds: i64,
    pub response_target_seconds: u64,
    /// in_time, late, waiting, overdue
    pub response: Response,
    /// Seconds from the alert to the first update, once there is one.
    pub responded_in_seconds: Option<i64>,
    pub overdue: bool,
    pub open_actions: usize,
}

fn row(incident: &Incident, now: DateTime<Utc>) -> ListRow {
    let response = incident.response(now);
    ListRow {
        id: incident.id.clone(),
        severity: incident.severity,
        state: incident.state,
        summary: incident.summary.clone(),
        opened_at: incident.opened_at,
        alerted_at: incident.alerted_at,
        resolved_at: incident.resolved_at,
        age_seconds: incident.age_seconds(now),
        response_target_seconds: incident.response_target_seconds,
        response,
        responded_in_seconds: incident
            .responded_at
            .map(|at| at.signed_duration_since(incident.alerted_at).num_seconds()),
        overdue: response == Response::Overdue,
        open_actions: incident.actions.iter().filter(|a| a.is_open()).count(),
    }
}

pub fn list(ctx: &Context, args: &IncidentListArgs) -> Result<ExitStatus> {
    let store = store(ctx, &args.dir);
    let (incidents, problems) = store.list()?;
    for problem in &problems {
        ctx.printer.warn(problem);
    }
    let now = Utc::now();
    let rows: Vec<ListRow> = incidents
        .iter()
        .rev()
        .filter(|i| !args.open || i.state.is_open())
        .map(|i| row(i, now))
        .collect();
    let place = store.dir.display().to_string();
    ctx.printer.emit_result(&rows, None, |printer| {
        render_list(printer, &rows, now, &place)
    })?;
    let overdue = rows.iter().filter(|r| r.overdue).count();
    if overdue > 0 {
        ctx.printer.note(&format!(
            "{overdue} incident(s) past their response target with no response: `gymops incident update ID --status investigating --note ...`"
        ));
        return Ok(Status::Warning);
    }
    Ok(if problems.is_empty() {
        Status::Ok
    } else {
        Status::Unknown
    })
}

fn response_text(row: &ListRow, now: DateTime<Utc>) -> (String, Status) {
    let target = row.response_target_seconds as i64;
    match row.response {
        Response::InTime => (
            format!(
                "in {} (target {})",
                span(row.responded_in_seconds.unwrap_or(0)),
                span(target)
            ),
            Status::Ok,
        ),
        Response::Late => (
            format!(
                "late: {} (target {})",
                span(row.responded_in_seconds.unwrap_or(0)),
                span(target)
            ),
            Status::Warning,
        ),
        Response::Waiting => {
            let waited = now.signed_duration_since(row.alerted_at).num_seconds();
            (
                format!("waiting, {} left", span((target - waited).max(0))),
                Status::Warning,
            )
        }
        Response::Overdue => (
            format!(
                "OVERDUE by {} (target {})",
                span(now.signed_duration_since(row.alerted_at).num_seconds() - target),
                span(target)
            ),
            Status::Critical,
        ),
    }
}

fn render_list(printer: &Printer, rows: &[ListRow], now: DateTime<Utc>, place: &str) -> String {
    if rows.is_empty() {
        return crate::i18n::text(&crate::say!("no incidents in {place}")) + "\n";
    }
    let table_rows = rows
        .iter()
        .map(|row| {
            let (response, status) = response_text(row, now);
            vec![
                Cell::new(&row.id),
                Cell::new(row.severity.label()),
                Cell::new(row.state.label()),
                Cell::new(utc(row.opened_at)),
                Printer::number_cell(span(row.age_seconds)),
                printer.paint(Cell::new(response), status),
                Printer::number_cell(row.open_actions),
                Cell::new(&row.summary),
            ]
        })
        .collect();
    printer.table(
        &[
            "ID", "SEVERITY", "STATE", "OPENED", "AGE", "RESPONSE", "ACTIONS", "SUMMARY",
        ],
        table_rows,
    )
}

pub fn show(ctx: &Context, args: &IncidentIdArgs) -> Result<ExitStatus> {
    let store = store(ctx, &args.dir);
    let incident = store.load(&args.id)?;
    let settings = &ctx.settings().incident;
    if ctx.printer.format == OutputFormat::Markdown {
        ctx.printer
            .emit(&render::report(&incident, settings), None)?;
        return Ok(Status::Ok);
    }
    let now = Utc::now();
    ctx.printer.emit_result(&incident, None, |printer| {
        let summary = row(&incident, now);
        let (response, _) = response_text(&summary, now);
        let mut text = format!(
            "{}  {} ({})  {}\n{}\n\nopened    {} by {} on {}\nstarted   {}\nalerted   {}\nresponse  {}\n",
            incident.id,
            incident.state.label(),
            incident.severity.label(),
            span(summary.age_seconds),
            incident.summary,
            utc(incident.opened_at),
            incident.opened_by,
            incident.host,
            utc(incident.started_at),
            utc(incident.alerted_at),
            response
        );
        for (label, value) in [
            ("impact", incident.impact.clone()),
            ("fixed", incident.fixed_at.map(utc)),
            ("resolved", incident.resolved_at.map(utc)),
            ("cause", incident.root_cause.clone()),
            ("fix", incident.fix.clone()),
        ] {
            if let Some(value) = value {
                text.push_str(&format!("{label:<9} {value}\n"));
            }
        }
        text.push_str(&format!(
            "record    {}\n\n",
            store.path_of(&incident.id).display()
        ));
        let timeline = incident
            .timeline
            .iter()
            .map(|e| {
                vec![
                    Cell::new(utc(e.time)),
                    Cell::new(e.state.label()),
                    Cell::new(&e.by),
                    Cell::new(&e.note),
                ]
            })
            .collect();
        text.push_str(&printer.table(&["TIME", "STATE", "BY", "NOTE"], timeline));
        if !incident.evidence.is_empty() {
            text.push('\n');
            text.push_str(&super::new::evidence_table(printer, &incident.evidence));
        }
        if !incident.actions.is_empty() {
            text.push('\n');
            let rows: Vec<_> = incident.actions.iter().map(|a| (&incident.id, a)).collect();
            text.push_str(&super::actions::table(printer, &rows, settings.lang, now));
        }
        text
    })?;
    Ok(Status::Ok)
}
