//! `gymops config check`: the settings parsed (or this command would not run); now the
//! values that parse but cannot work, and the files they name.

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use crate::commands::Context;
use crate::exit::{ExitStatus, Status};
use crate::output::{OutputFormat, Printer};
use crate::settings::Loaded;

#[derive(Debug, Clone, Serialize)]
pub struct ConfigFinding {
    pub item: String,
    pub status: Status,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct ConfigCheckOutput {
    pub status: Status,
    pub findings: Vec<ConfigFinding>,
}

pub fn run(ctx: &Context) -> Result<ExitStatus> {
    let findings = findings(&ctx.loaded);
    let status = Status::combine(findings.iter().map(|f| f.status));
    let output = ConfigCheckOutput { status, findings };
    let text = match ctx.printer.format {
        OutputFormat::Json => Printer::json(&output)?,
        OutputFormat::Table | OutputFormat::Markdown => {
            let rows = output
                .findings
                .iter()
                .map(|f| {
                    vec![
                        Cell::new(&f.item),
                        ctx.printer.status_cell(f.status),
                        Cell::new(&f.detail),
                    ]
                })
                .collect();
            ctx.printer.table(&["ITEM", "STATUS", "DETAIL"], rows)
        }
    };
    ctx.printer.emit(&text, None)?;
    Ok(status)
}

/// Everything worth saying about loaded settings. Pure: reads files only to see they exist.
pub fn findings(loaded: &Loaded) -> Vec<ConfigFinding> {
    let settings = &loaded.settings;
    let mut out = Vec::new();
    let mut add = |item: &str, status: Status, detail: String| {
        out.push(ConfigFinding {
            item: item.to_string(),
            status,
            detail,
        });
    };
    match &loaded.config_file {
        Some(path) => add(
            "config file",
            Status::Ok,
            crate::say!("parsed {}", path.display()),
        ),
        None => add(
            "config file",
            Status::Ok,
            crate::say!("none: embedded defaults (the guide's deployment)"),
        ),
    }
    if loaded.env_file_found {
        add(
            "env file",
            Status::Ok,
            crate::say!("read {}", loaded.env_file.display()),
        );
    } else {
        add(
            "env file",
            Status::Warning,
            crate::say!(
                "{} not found: compose will not find its variables either (environment `{}`)",
                loaded.env_file.display(),
                settings.environment
            ),
        );
    }
    if let Some(environment) = settings.environments.get(&settings.environment) {
        for file in &environment.compose_files {
            let path = loaded.resolve_path(file);
            if path.is_file() {
                add(
                    "compose file",
                    Status::Ok,
                    crate::say!("found {}", path.display()),
                );
            } else {
                add(
                    "compose file",
                    Status::Warning,
                    crate::say!("not found: {}", path.display()),
                );
            }
        }
    }
    for (role, service) in [
        ("backend.service", &settings.backend.service),
        ("postgres.service", &settings.postgres.service),
        ("minio.service", &settings.minio.service),
    ] {
        if !settings.services.contains_key(service) {
            add(
                role,
                Status::Critical,
                crate::say!("`{service}` is not under `services:`"),
            );
        }
    }
    // Values that cannot work (ranges, URL schemes, paths) are refused when the settings
    // load (settings::validate), for every command: here they are all valid.
    add(
        "values",
        Status::Ok,
        crate::say!("every value is in range (checked when settings load)"),
    );
    if settings.postgres.password.is_none() {
        add(
            "postgres.password",
            Status::Warning,
            crate::say!("not set: only trust or peer authentication will work (set GYMOPS_POSTGRES_PASSWORD, POSTGRES_PASSWORD in the env file, or postgres.password_file)"),
        );
    } else {
        add("postgres.password", Status::Ok, crate::say!("set (masked)"));
    }
    out
}
