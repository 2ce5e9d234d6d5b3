//! `gymops incident ...`: the guide's incident response (sections 7.7 and 8).

mod actions;
mod list;
mod new;
mod notify;
mod review;
mod update;

use anyhow::Result;

use super::Context;
use crate::cli::{IncidentActionCommand, IncidentCommand, IncidentDirArg};
use crate::exit::ExitStatus;
use crate::incident::store::{dir_of, Store};

pub async fn run(ctx: &Context, command: &IncidentCommand) -> Result<ExitStatus> {
    match command {
        IncidentCommand::New(args) => new::run(ctx, args).await,
        IncidentCommand::Update(args) => update::update(ctx, args).await,
        IncidentCommand::Resolve(args) => update::resolve(ctx, args).await,
        IncidentCommand::List(args) => list::list(ctx, args),
        IncidentCommand::Show(args) => list::show(ctx, args),
        IncidentCommand::Notify(args) => notify::run(ctx, args).await,
        IncidentCommand::Review(args) => review::run(ctx, args),
        IncidentCommand::Actions(args) => actions::list(ctx, args),
        IncidentCommand::Action(IncidentActionCommand::Add(args)) => actions::add(ctx, args).await,
        IncidentCommand::Action(IncidentActionCommand::Set(args)) => actions::set(ctx, args).await,
    }
}

/// The incident store of `--dir` or incident.dir.
fn store(ctx: &Context, dir: &IncidentDirArg) -> Store {
    Store::new(
        dir_of(dir.dir.as_deref(), &ctx.loaded),
        &ctx.settings().incident,
    )
}
