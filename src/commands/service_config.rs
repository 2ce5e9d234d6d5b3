//! `gymops service config`: the compose files as gymops will deploy them.

use std::path::PathBuf;

use anyhow::Result;

use super::Context;
use crate::cli::ServiceConfigArgs;
use crate::exit::{ExitStatus, Status};
use crate::output::OutputFormat;

/// The compose files of `-f`, or of the selected environment (relative to gymops.yaml).
pub fn files(ctx: &Context, flags: &[PathBuf]) -> Vec<PathBuf> {
    if !flags.is_empty() {
        return flags
            .iter()
            .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
            .collect();
    }
    let settings = ctx.settings();
    settings
        .environments
        .get(&settings.environment)
        .map(|environment| {
            environment
                .compose_files
                .iter()
                .map(|file| ctx.loaded.resolve_path(file))
                .collect()
        })
        .unwrap_or_default()
}

/// The compose project of `-f` files or the selected environment, with the environment's
/// env file and the process environment.
pub fn load(ctx: &Context, flags: &[PathBuf]) -> Result<crate::compose::Project> {
    crate::compose::load(
        &files(ctx, flags),
        Some(&ctx.loaded.env_file),
        &ctx.environment,
    )
}

pub fn run(ctx: &Context, args: &ServiceConfigArgs) -> Result<ExitStatus> {
    let project = load(ctx, &args.files)?;
    for (name, files) in &project.missing_variables {
        ctx.printer.warn(&format!(
            "variable {name} is not set (used in {}); an empty string is used — set it in the environment or {}",
            files.iter().cloned().collect::<Vec<_>>().join(", "),
            ctx.loaded.env_file.display()
        ));
    }
    if args.services {
        ctx.printer.emit_result(&project.start_order, None, |_| {
            project
                .start_order
                .iter()
                .map(|name| format!("{name}\n"))
                .collect()
        })?;
        return Ok(Status::Ok);
    }
    if ctx.printer.format == OutputFormat::Json {
        ctx.printer
            .emit(&crate::output::Printer::json(&project)?, None)?;
    } else {
        ctx.printer.emit(&serde_yaml::to_string(&project)?, None)?;
    }
    Ok(Status::Ok)
}
