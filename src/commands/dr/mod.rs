//! `gymops dr`: disaster recovery.

pub mod drill;

use anyhow::Result;

use super::Context;
use crate::cli::DrCommand;
use crate::exit::ExitStatus;

pub async fn run(ctx: &Context, command: &DrCommand) -> Result<ExitStatus> {
    match command {
        DrCommand::Drill(args) => drill::run(ctx, args).await,
    }
}
