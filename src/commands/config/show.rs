//! `gymops config show`: every effective setting, where it came from, secrets masked.

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use crate::commands::Context;
use crate::exit::{ExitStatus, Status};
use crate::output::{OutputFormat, Printer};
use crate::settings::Entry;

#[derive(Debug, Serialize)]
pub struct ConfigShowOutput<'a> {
    pub config_file: Option<String>,
    pub environment: &'a str,
    pub env_file: String,
    pub env_file_found: bool,
    pub settings: &'a [Entry],
}

pub fn run(ctx: &Context) -> Result<ExitStatus> {
    let loaded = &ctx.loaded;
    let output = ConfigShowOutput {
        config_file: loaded.config_file.as_ref().map(|p| p.display().to_string()),
        environment: &loaded.settings.environment,
        env_file: loaded.env_file.display().to_string(),
        env_file_found: loaded.env_file_found,
        settings: &loaded.entries,
    };
    let text = match ctx.printer.format {
        OutputFormat::Json => Printer::json(&output)?,
        OutputFormat::Table | OutputFormat::Markdown => {
            let rows = loaded
                .entries
                .iter()
                .map(|entry| {
                    vec![
                        Cell::new(&entry.key),
                        Cell::new(&entry.value),
                        Cell::new(entry.source.to_string()),
                    ]
                })
                .collect();
            ctx.printer.table(&["KEY", "VALUE", "SOURCE"], rows)
        }
    };
    ctx.printer.emit(&text, None)?;
    if ctx.printer.format == OutputFormat::Table {
        let config = output
            .config_file
            .as_deref()
            .unwrap_or("none (embedded defaults)");
        let found = if output.env_file_found {
            ""
        } else {
            " (not found)"
        };
        ctx.printer.note(&format!(
            "config file: {config}; environment: {}; env file: {}{found}",
            output.environment, output.env_file
        ));
    }
    Ok(Status::Ok)
}
