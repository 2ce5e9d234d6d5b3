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
    let notes = match ctx.settings().orchestrator() {
        crate::settings::Orchestrator::Compose => project.model.single_engine_notes(),
        crate::settings::Orchestrator::Swarm => project.model.notes.clone(),
    };
    for note in &notes {
        ctx.printer.warn(note);
    }
    let shown = as_shown(&project, &ctx.environment)?;
    if ctx.printer.format == OutputFormat::Json {
        ctx.printer
            .emit(&crate::output::Printer::json(&shown)?, None)?;
    } else {
        ctx.printer.emit(&serde_yaml::to_string(&shown)?, None)?;
    }
    Ok(Status::Ok)
}

/// What a variable passed through from gymops' environment shows: that it is set, never
/// its value (it is often a password).
pub const PASSED_THROUGH: &str = "(set from the environment)";
/// ... and one the environment does not have (compose leaves it out of the container).
pub const NOT_PASSED: &str = "(not set: left out)";

/// The project as `docker-compose config` shows it: durations in compose's syntax
/// (`1m30s`), pass-through variables as set or not (never their values).
fn as_shown(
    project: &crate::compose::Project,
    environment: &std::collections::BTreeMap<String, String>,
) -> Result<serde_json::Value> {
    use crate::compose::model::values::compose_duration;
    let mut shown = serde_json::to_value(project)?;
    let compose_time = |value: &mut serde_json::Value| {
        if let Some(text) = value.as_str() {
            if let Ok(d) = humantime::parse_duration(text) {
                *value = serde_json::Value::String(compose_duration(d));
            }
        }
    };
    if let Some(services) = shown.get_mut("services").and_then(|s| s.as_object_mut()) {
        for (name, service) in services.iter_mut() {
            if let Some(value) = service.get_mut("stop_grace_period") {
                compose_time(value);
            }
            if let Some(health) = service.get_mut("healthcheck") {
                for key in ["interval", "timeout", "start_period", "start_interval"] {
                    if let Some(value) = health.get_mut(key) {
                        compose_time(value);
                    }
                }
            }
            let Some(variables) = service
                .get_mut("environment")
                .and_then(|e| e.as_object_mut())
            else {
                continue;
            };
            let spec = &project.model.services[name];
            for (key, value) in variables.iter_mut() {
                if spec.environment.get(key).is_some_and(|v| v.is_none()) {
                    *value = serde_json::Value::String(
                        if environment.contains_key(key) {
                            PASSED_THROUGH
                        } else {
                            NOT_PASSED
                        }
                        .to_string(),
                    );
                }
            }
        }
    }
    Ok(shown)
}
