//! `gymops monitoring init`: write the monitoring stack's files (guide section 7).

use anyhow::{anyhow, Context as _, Result};

use super::Context;
use crate::cli::MonitoringInitArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::monitoring;

pub fn init(ctx: &Context, args: &MonitoringInitArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    // The relay's token: the configured one; else the one a previous init wrote; else new.
    let token_path = args.dir.join(monitoring::RELAY_TOKEN_FILE);
    let (relay_token, token_is_new) = match &settings.metrics.relay_token {
        Some(token) => (token.expose().to_string(), false),
        None => match std::fs::read_to_string(&token_path)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| t.len() >= 32)
        {
            Some(token) => (token, false),
            None => (new_token()?, true),
        },
    };
    let files = monitoring::files(settings, &relay_token);
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
    if settings
        .notify
        .channels
        .contains(&crate::settings::Channel::Webhook)
        && settings.metrics.relay_token.is_none()
        && settings
            .metrics
            .relay_token_file
            .as_ref()
            .map(|path| ctx.loaded.resolve_path(path))
            != Some(std::path::absolute(&token_path).unwrap_or(token_path.clone()))
    {
        ctx.printer.warn(&format!(
            "{} the relay's bearer token in {}: point metrics.relay_token_file at it (gymops.yaml) so `gymops metrics serve` accepts Alertmanager's calls",
            if token_is_new { "made" } else { "kept" },
            token_path.display()
        ));
        status = status.worst(Status::Warning);
    }
    if let Some(why) = monitoring::unreachable_listener(settings) {
        ctx.printer.warn(&why);
        status = status.worst(Status::Warning);
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

/// 32 random bytes, hex: the relay's bearer token.
fn new_token() -> Result<String> {
    crate::random::hex_string::<32>()
}
