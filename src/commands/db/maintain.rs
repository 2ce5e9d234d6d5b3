//! `gymops db maintain vacuum|analyze|reindex`: the guide's maintenance statements with
//! progress, elapsed time, and a confirmation before anything that locks tables.

use anyhow::Result;
use comfy_table::Cell;

use crate::cli::{MaintainCommand, MaintainTarget};
use crate::commands::Context;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::pg::maintain::{resolve_table, run as run_maintenance, Operation, Outcome};

pub async fn run(ctx: &Context, command: &MaintainCommand) -> Result<ExitStatus> {
    let (operation, target, yes) = match command {
        MaintainCommand::Vacuum(args) => {
            let operation = match (args.full, args.analyze) {
                (false, false) => Operation::Vacuum,
                (false, true) => Operation::VacuumAnalyze,
                (true, false) => Operation::VacuumFull,
                (true, true) => Operation::VacuumFullAnalyze,
            };
            (operation, &args.target, args.yes)
        }
        MaintainCommand::Analyze(target) => (Operation::Analyze, target, false),
        MaintainCommand::Reindex(args) => (Operation::Reindex, &args.target, args.yes),
    };
    let settings = ctx.settings();
    let database = settings.postgres.database.clone();
    let connect = || async {
        crate::pg::connect(&settings.postgres, settings.postgres.connect_timeout)
            .await
            .map_err(|err| err.context(format!("cannot connect to PostgreSQL at {}", crate::pg::describe_target(&settings.postgres))))
            .hint("check postgres.host/port/user/database and the password (GYMOPS_POSTGRES_PASSWORD), or pass --db-connection")
    };
    let worker = connect().await?;
    let tables = resolve_tables(&worker, target).await?;
    if operation.locks_tables() && !yes {
        confirm(ctx, operation, &database, &tables)?;
    }
    let watcher = connect().await?;
    let show_progress = ctx.printer.shows_progress();
    let outcome = run_maintenance(
        &worker,
        &watcher,
        operation,
        &database,
        tables,
        |progress, elapsed| {
            if show_progress {
                let percent = if progress.blocks_total > 0 {
                    progress.blocks_done * 100 / progress.blocks_total
                } else {
                    0
                };
                eprint!(
                    "\r\u{1b}[2K{} {}: {} {}/{} blocks ({percent}%) {:.0}s",
                    operation_label(operation),
                    progress.relation.as_deref().unwrap_or("-"),
                    progress.phase,
                    progress.blocks_done,
                    progress.blocks_total,
                    elapsed.as_secs_f64()
                );
            }
        },
    )
    .await;
    if show_progress {
        eprint!("\r\u{1b}[2K");
    }
    let outcome = outcome?;
    ctx.printer
        .emit_result(&outcome, None, |printer| render(printer, &outcome))?;
    Ok(Status::Ok)
}

async fn resolve_tables(
    client: &tokio_postgres::Client,
    target: &MaintainTarget,
) -> Result<Vec<String>> {
    let mut tables = Vec::new();
    for name in &target.table {
        tables.push(resolve_table(client, name).await?);
    }
    Ok(tables)
}

fn operation_label(operation: Operation) -> String {
    serde_json::to_value(operation)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Tables will be locked: ask for the database name on a terminal; refuse otherwise.
fn confirm(ctx: &Context, operation: Operation, database: &str, tables: &[String]) -> Result<()> {
    let what = if tables.is_empty() {
        crate::say!("every table of {database}")
    } else {
        tables.join(", ")
    };
    let warning = crate::say!(
        "{} locks {what} exclusively while it runs: the application cannot read or write them",
        operation_label(operation)
    );
    super::super::confirm_typed(
        ctx,
        &warning,
        database,
        "run it in a maintenance window and add --yes (or run it on a terminal to confirm)",
    )
}

fn render(printer: &Printer, outcome: &Outcome) -> String {
    let target = if outcome.tables.is_empty() {
        format!("database {}", outcome.database)
    } else {
        outcome.tables.join(", ")
    };
    printer.table(
        &["OPERATION", "TARGET", "ELAPSED", "STATEMENT"],
        vec![vec![
            Cell::new(operation_label(outcome.operation)),
            Cell::new(target),
            Printer::number_cell(format!("{:.2} s", outcome.elapsed_ms as f64 / 1000.0)),
            Cell::new(&outcome.statement),
        ]],
    )
}
