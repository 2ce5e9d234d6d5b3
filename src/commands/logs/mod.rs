//! `gymops logs` and its subcommands.

pub mod clean;
pub mod files;
pub mod show;
pub mod stats;

use anyhow::{anyhow, Context as _, Result};
use chrono::Utc;

use super::Context;
use crate::cli::{LogsArgs, LogsCommand};
use crate::error::HintExt;
use crate::exit::ExitStatus;

pub async fn run(ctx: &Context, args: &LogsArgs) -> Result<ExitStatus> {
    match &args.command {
        None => show::run(ctx, &args.show).await,
        Some(LogsCommand::Stats(stats_args)) => stats::run(ctx, stats_args).await,
        Some(LogsCommand::Files(files_args)) => files::run(ctx, files_args).await,
        Some(LogsCommand::Clean(clean_args)) => clean::run(ctx, clean_args).await,
    }
}

/// `--since` / `--until` as Unix seconds.
pub fn parse_window(
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(Option<i64>, Option<i64>)> {
    let now = Utc::now();
    let parse = |flag: &str, text: Option<&str>| -> Result<Option<i64>> {
        text.map(|t| crate::logs::time::parse_time(t, now).map(|t| t.timestamp()))
            .transpose()
            .with_context(|| format!("bad {flag}"))
    };
    let since = parse("--since", since)?;
    let until = parse("--until", until)?;
    if let (Some(s), Some(u)) = (since, until) {
        if s > u {
            return Err(anyhow!("--since is after --until")).hint("swap them, or leave one out");
        }
    }
    Ok((since, until))
}
