//! `gymops monitoring init`: write the monitoring stack's files (guide section 7).

use anyhow::{anyhow, Context as _, Result};

use super::Context;
use crate::cli::MonitoringInitArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::monitoring;

pub fn init(ctx: &Context, args: &MonitoringInitArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let files = monitoring::files(settings);
    let existing: Vec<String> = files
        .iter()
        .filter(|file| args.dir.join(file.path).exists())
        .map(|file| file.path.to_string())
        .collect();
    if !existing.is_empty() && !args.force {
        return Err(anyhow!(
            "{} already has {}; nothing was written",
            args.dir.display(),
            existing.join(", ")
        ))
        .hint("pass --force to overwrite them, or choose another --dir");
    }
    for file in &files {
        let path = args.dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let mode = if file.secret { 0o600 } else { 0o644 };
        crate::fsutil::write_atomic(&path, file.contents.as_bytes(), Some(mode))
            .with_context(|| format!("cannot write {}", path.display()))?;
        ctx.printer.note(&format!("wrote {}", path.display()));
    }
    let mut status = Status::Ok;
    for (path, source) in monitoring::missing_secrets(settings) {
        ctx.printer.warn(&format!(
            "{} was not written: no secret; set {source} and run again with --force, or create it (mode 0600)",
            args.dir.join(path).display()
        ));
        status = Status::Warning;
    }
    if settings.notify.channels.is_empty() {
        ctx.printer.warn(
            "notify.channels is empty: Alertmanager has a receiver that sends nowhere; list channels in gymops.yaml and run again with --force",
        );
    }
    ctx.printer.note(&format!(
        "start the stack with `docker-compose -f {} up -d`; Prometheus scrapes `gymops metrics serve` at {}",
        args.dir.join("docker-compose.yml").display(),
        settings.metrics.scrape_target
    ));
    Ok(status)
}
