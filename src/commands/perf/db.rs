//! `gymops perf db <view>`: PostgreSQL insight, read-only.

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde_json::Value;

use crate::cli::PerfDbArgs;
use crate::commands::Context;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};
use crate::pg::insight::{read_only, run_view, DbView, ViewResult};

pub async fn run(ctx: &Context, args: &PerfDbArgs) -> Result<ExitStatus> {
    let view = match (&args.bench, args.view) {
        (Some(crate::cli::PerfDbCommand::Bench(bench)), _) => {
            return super::bench::run(ctx, bench).await
        }
        (None, Some(view)) => view,
        (None, None) => return Err(anyhow!("name a view or `bench`")),
    };
    if args.top.is_some() && !view.takes_top() {
        return Err(anyhow!("--top does not apply to the {:?} view", view))
            .hint("--top applies to slow-queries, tables, indexes and writes");
    }
    if args.within_days.is_some() && view != DbView::Roles {
        return Err(anyhow!("--within-days applies to the roles view only"))
            .hint("use it with `gymops perf db roles`");
    }
    let settings = ctx.settings();
    let timeout = settings.postgres.connect_timeout;
    let client = crate::pg::connect(&settings.postgres, timeout)
        .await
        .map_err(|err| err.context(format!("cannot connect to PostgreSQL at {}", crate::pg::describe_target(&settings.postgres))))
        .hint("check postgres.host/port/user/database and the password (GYMOPS_POSTGRES_PASSWORD), or pass --db-connection")?;
    read_only(&client, std::time::Duration::from_secs(30)).await?;
    let result = run_view(
        &client,
        view,
        args.top.unwrap_or(20),
        args.within_days.unwrap_or(7),
    )
    .await?;
    ctx.printer
        .emit_result(&result, None, |printer| render(printer, &result))?;
    Ok(Status::Ok)
}

fn render(printer: &Printer, result: &ViewResult) -> String {
    let headers: Vec<String> = result
        .columns
        .iter()
        .map(|c| c.to_uppercase().replace('_', " "))
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows = result
        .rows
        .iter()
        .map(|row| {
            result
                .columns
                .iter()
                .map(|column| {
                    let value = row.get(column).unwrap_or(&Value::Null);
                    match value {
                        Value::Null => Cell::new("-"),
                        Value::Number(n) if column.ends_with("bytes") => {
                            Printer::number_cell(human_bytes(n.as_u64().unwrap_or(0)))
                        }
                        Value::Number(n) => Printer::number_cell(n),
                        Value::Bool(b) => Cell::new(if *b { "yes" } else { "no" }),
                        Value::String(s) => Cell::new(s),
                        other => Cell::new(other.to_string()),
                    }
                })
                .collect()
        })
        .collect();
    let mut text = printer.table(&headers, rows);
    if result.rows.is_empty() {
        text.push_str("(no rows)\n");
    }
    if let Some(note) = &result.note {
        text.push_str(note);
        text.push('\n');
    }
    text
}
