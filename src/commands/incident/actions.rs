//! `gymops incident actions` (the guide's improvement tracking table, across incidents) and
//! `incident action add|set`.

use anyhow::{anyhow, Result};
use chrono::{NaiveDate, Utc};
use comfy_table::Cell;
use serde::Serialize;

use super::{store, Context};
use crate::cli::{IncidentActionAddArgs, IncidentActionSetArgs, IncidentActionsArgs};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::incident::render::{action_status, priority};
use crate::incident::{Action, ActionStatus};
use crate::output::{OutputFormat, Printer};
use crate::settings::Lang;

#[derive(Serialize)]
struct Row<'a> {
    incident: &'a str,
    #[serde(flatten)]
    action: &'a Action,
    overdue: bool,
}

pub fn list(ctx: &Context, args: &IncidentActionsArgs) -> Result<ExitStatus> {
    let (incidents, problems) = store(ctx, &args.dir).list()?;
    for problem in &problems {
        ctx.printer.warn(problem);
    }
    let now = Utc::now();
    let today = now.date_naive();
    let mut rows: Vec<(&String, &Action)> = incidents
        .iter()
        .flat_map(|i| i.actions.iter().map(move |a| (&i.id, a)))
        .filter(|(_, a)| !args.open || a.is_open())
        .filter(|(_, a)| {
            args.owner
                .as_deref()
                .is_none_or(|owner| a.owner.eq_ignore_ascii_case(owner))
        })
        .collect();
    // Open before done, then by priority, then by due date (none last).
    rows.sort_by_key(|(_, a)| (!a.is_open(), a.priority, a.due.is_none(), a.due));
    let json: Vec<Row> = rows
        .iter()
        .map(|(incident, action)| Row {
            incident,
            action,
            overdue: action.overdue(today),
        })
        .collect();
    let lang = ctx.settings().incident.lang;
    ctx.printer
        .emit_result(&json, None, |printer| table(printer, &rows, lang, now))?;
    let overdue = json.iter().filter(|r| r.overdue).count();
    if overdue > 0 {
        ctx.printer
            .note(&format!("{overdue} action item(s) past their due date"));
        return Ok(Status::Warning);
    }
    Ok(Status::Ok)
}

/// The tracking table: the guide's columns (in its language for Markdown), with the incident.
pub fn table(
    printer: &Printer,
    rows: &[(&String, &Action)],
    lang: Lang,
    now: chrono::DateTime<Utc>,
) -> String {
    if rows.is_empty() {
        return "no action items\n".into();
    }
    let today = now.date_naive();
    let guide = printer.format == OutputFormat::Markdown && lang == Lang::Zh;
    let headers: &[&str] = if guide {
        &[
            "事件",
            "编号",
            "改进项",
            "负责人",
            "优先级",
            "状态",
            "截止日期",
            "验证标准",
        ]
    } else {
        &[
            "INCIDENT",
            "ID",
            "ITEM",
            "OWNER",
            "PRIORITY",
            "STATUS",
            "DUE",
            "VERIFICATION",
        ]
    };
    let lang = if guide { Lang::Zh } else { Lang::En };
    let table_rows = rows
        .iter()
        .map(|(incident, action)| {
            let due = action
                .due
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into());
            let due = if action.overdue(today) {
                printer.paint(Cell::new(format!("{due} (overdue)")), Status::Critical)
            } else {
                Cell::new(due)
            };
            vec![
                Cell::new(incident),
                Cell::new(&action.id),
                Cell::new(&action.item),
                Cell::new(&action.owner),
                Cell::new(priority(lang, action.priority)),
                Cell::new(action_status(lang, action.status)),
                due,
                Cell::new(&action.verification),
            ]
        })
        .collect();
    printer.table(headers, table_rows)
}

fn not_empty(text: &str, flag: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(anyhow!("{flag} must not be empty"))
            .hint("the tracking table needs the item, its owner and how to verify it");
    }
    Ok(text.to_string())
}

pub async fn add(ctx: &Context, args: &IncidentActionAddArgs) -> Result<ExitStatus> {
    let item = not_empty(&args.item, "--item")?;
    let owner = not_empty(&args.owner, "--owner")?;
    let verification = not_empty(&args.verify, "--verify")?;
    let (incident, action) = store(ctx, &args.dir)
        .modify(&args.id, "gymops incident action add", |incident| {
            let action = Action {
                id: incident.next_action_id(),
                item,
                owner,
                priority: args.priority,
                status: ActionStatus::Todo,
                due: args.due,
                verification,
                created_at: Utc::now(),
                done_at: None,
            };
            incident.actions.push(action.clone());
            Ok(action)
        })
        .await?;
    print_one(ctx, &incident.id, &action)
}

pub async fn set(ctx: &Context, args: &IncidentActionSetArgs) -> Result<ExitStatus> {
    if args.status.is_none()
        && args.owner.is_none()
        && args.priority.is_none()
        && args.due.is_none()
    {
        return Err(anyhow!("nothing to change"))
            .hint("pass --status, --owner, --priority or --due");
    }
    let owner = args
        .owner
        .as_deref()
        .map(|o| not_empty(o, "--owner"))
        .transpose()?;
    let (incident, action) = store(ctx, &args.dir)
        .modify(&args.id, "gymops incident action set", |incident| {
            let action = incident.action_mut(&args.action)?;
            if let Some(status) = args.status {
                action.status = status;
                action.done_at = (status == ActionStatus::Done).then(Utc::now);
            }
            if let Some(owner) = owner {
                action.owner = owner;
            }
            if let Some(priority) = args.priority {
                action.priority = priority;
            }
            if let Some(due) = args.due {
                action.due = Some(due);
            }
            Ok(action.clone())
        })
        .await?;
    print_one(ctx, &incident.id, &action)
}

fn print_one(ctx: &Context, incident: &String, action: &Action) -> Result<ExitStatus> {
    let today: NaiveDate = Utc::now().date_naive();
    let row = Row {
        incident,
        action,
        overdue: action.overdue(today),
    };
    let lang = ctx.settings().incident.lang;
    ctx.printer.emit_result(&row, None, |printer| {
        table(printer, &[(incident, action)], lang, Utc::now())
    })?;
    Ok(Status::Ok)
}
