//! `gymops logs clean`: the guide's log rotation chores (section 3.3) — gzip old rotated
//! files, delete what is past retention — through exec with argument vectors.

use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use comfy_table::Cell;
use serde::Serialize;

use super::files::{list, target};
use crate::cli::LogsCleanArgs;
use crate::commands::Context;
use crate::docker::Engine;
use crate::exit::{ExitStatus, Status};
use crate::logs::retention::{plan, Action, Rules};
use crate::output::{human_bytes, Printer};

#[derive(Debug, Serialize)]
pub struct Touched {
    pub name: String,
    pub action: Action,
    pub reason: String,
    pub size_bytes: u64,
    /// Bytes freed (for a compressed file: the size before minus the .gz size).
    pub freed_bytes: u64,
    /// What went wrong, when the action failed.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CleanOutput {
    pub container: String,
    pub dir: String,
    pub dry_run: bool,
    pub freed_bytes: u64,
    pub kept: usize,
    pub touched: Vec<Touched>,
}

pub async fn run(ctx: &Context, args: &LogsCleanArgs) -> Result<ExitStatus> {
    let settings = &ctx.settings().logs;
    let engine = ctx.engine().await?;
    let target = target(ctx, engine, &args.target).await?;
    let secs = |d: Duration| Some(d.as_secs());
    let rules = Rules {
        compress_older_than: secs(
            args.compress_older_than
                .unwrap_or(settings.compress_older_than),
        ),
        delete_older_than: secs(args.delete_older_than.unwrap_or(settings.delete_older_than)),
        delete_compressed_older_than: secs(
            args.delete_compressed_older_than
                .unwrap_or(settings.delete_compressed_older_than),
        ),
    };
    let files = list(engine, &target).await?;
    let planned = plan(&files, Utc::now().timestamp(), &rules);
    let kept = planned.iter().filter(|p| p.action == Action::Keep).count();
    let mut touched = Vec::new();
    for item in planned.into_iter().filter(|p| p.action != Action::Keep) {
        let path = format!("{}/{}", target.dir.trim_end_matches('/'), item.file.name);
        let mut result = Touched {
            name: item.file.name.clone(),
            action: item.action,
            reason: item.reason,
            size_bytes: item.file.size,
            freed_bytes: 0,
            error: None,
        };
        if args.dry_run {
            result.freed_bytes = if item.action == Action::Delete {
                item.file.size
            } else {
                0
            };
        } else {
            match apply(
                engine,
                &target.container,
                &path,
                item.action,
                item.file.size,
            )
            .await
            {
                Ok(freed) => result.freed_bytes = freed,
                Err(err) => result.error = Some(crate::error::describe(&err).0),
            }
        }
        touched.push(result);
    }
    let failed = touched.iter().filter(|t| t.error.is_some()).count();
    let output = CleanOutput {
        freed_bytes: touched.iter().map(|t| t.freed_bytes).sum(),
        container: target.container,
        dir: target.dir,
        dry_run: args.dry_run,
        kept,
        touched,
    };
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(if failed > 0 {
        Status::Warning
    } else {
        Status::Ok
    })
}

/// Compress or delete one file; the bytes freed.
async fn apply(
    engine: &Engine,
    container: &str,
    path: &str,
    action: Action,
    size: u64,
) -> Result<u64> {
    let timeout = Duration::from_secs(300);
    let argv = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let checked = |output: crate::docker::logs::ExecOutput,
                   what: &str|
     -> Result<crate::docker::logs::ExecOutput> {
        if output.exit_code == 0 {
            Ok(output)
        } else {
            Err(anyhow::anyhow!(
                "{what} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    match action {
        Action::Keep => Ok(0),
        Action::Delete => {
            checked(
                engine
                    .exec(
                        container,
                        &argv(&["rm", "-f", "--", path]),
                        64 << 10,
                        timeout,
                    )
                    .await?,
                "rm",
            )?;
            Ok(size)
        }
        Action::Compress => {
            checked(
                engine
                    .exec(container, &argv(&["gzip", "--", path]), 64 << 10, timeout)
                    .await?,
                "gzip",
            )?;
            let gz = format!("{path}.gz");
            let stat = checked(
                engine
                    .exec(
                        container,
                        &argv(&["stat", "-c", "%s", "--", &gz]),
                        64 << 10,
                        timeout,
                    )
                    .await?,
                "stat",
            )?;
            let compressed: u64 = String::from_utf8_lossy(&stat.stdout)
                .trim()
                .parse()
                .unwrap_or(size);
            Ok(size.saturating_sub(compressed))
        }
    }
}

fn render(printer: &Printer, output: &CleanOutput) -> String {
    let mut text = printer.table(
        &["FILE", "ACTION", "SIZE", "FREED", "WHY"],
        output
            .touched
            .iter()
            .map(|t| {
                let action = match (&t.error, output.dry_run) {
                    (Some(_), _) => format!("{:?} FAILED", t.action).to_lowercase(),
                    (None, true) => format!("would {:?}", t.action).to_lowercase(),
                    (None, false) => format!("{:?}", t.action).to_lowercase(),
                };
                let why = t.error.clone().unwrap_or_else(|| t.reason.clone());
                vec![
                    Cell::new(&t.name),
                    Cell::new(action),
                    Printer::number_cell(human_bytes(t.size_bytes)),
                    Printer::number_cell(human_bytes(t.freed_bytes)),
                    Cell::new(why),
                ]
            })
            .collect(),
    );
    let verb = if output.dry_run {
        "would free"
    } else {
        "freed"
    };
    text.push_str(&format!(
        "{} files touched, {} kept; {verb} {} in {}:{}\n",
        output.touched.len(),
        output.kept,
        human_bytes(output.freed_bytes),
        output.container,
        output.dir
    ));
    text
}
