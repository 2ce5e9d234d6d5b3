//! `gymops prune`: the guide's `docker system prune -f` done safely. The plan comes from the
//! engine's lists first (so `--dry-run` is exactly what a run removes); then each item is
//! removed on its own, without force, and one that cannot go stays and says why.

use std::collections::BTreeSet;

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::{PruneArgs, PruneImages};
use crate::docker::prune::{plan, Images, Item, Keep, Kind};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};

#[derive(Debug, Serialize)]
pub struct PruneOutput {
    pub dry_run: bool,
    pub items: Vec<Outcome>,
    /// Bytes freed (with --dry-run: that would be freed).
    pub reclaimed_bytes: u64,
    /// Items that could not be removed.
    pub failed: usize,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub item: Item,
    pub removed: bool,
    pub error: Option<String>,
}

pub async fn run(ctx: &Context, args: &PruneArgs) -> Result<ExitStatus> {
    if args.images == PruneImages::All && !args.yes && !args.dry_run {
        return Err(anyhow::anyhow!(
            "--images all removes every tagged image no container uses; nothing was removed"
        ))
        .hint("look first with `gymops prune --images all --dry-run`, then add --yes");
    }
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
    // Not while `gymops up` or a rollback builds, tags and creates on the same engine.
    let _lock = if args.dry_run {
        None
    } else {
        Some(crate::deploy::lock::acquire(
            &super::deploy::lock_path(ctx),
            "gymops prune",
            args.break_lock,
        )?)
    };
    let ours: BTreeSet<String> = engine
        .service_states(settings, &[])
        .await?
        .into_iter()
        .filter_map(|s| s.container.map(|c| c.full_id))
        .collect();
    let projects = [
        super::deploy::project_name(ctx),
        super::deploy::monitoring_project(ctx),
    ];
    let df = engine.get_json(&settings.docker, "/system/df").await?;
    let networks = engine.get_json(&settings.docker, "/networks").await?;
    let items = plan(
        &df,
        &networks,
        &Keep {
            projects: &projects,
            containers: &ours,
        },
        match args.images {
            PruneImages::Dangling => Images::Dangling,
            PruneImages::All => Images::All,
        },
    );
    let mut outcomes = Vec::new();
    let progress = ctx.printer.progress();
    for item in items {
        if args.dry_run {
            outcomes.push(Outcome {
                item,
                removed: false,
                error: None,
            });
            continue;
        }
        progress.transient(&format!("removing {} {}", item.kind.label(), item.name));
        let result = match item.kind {
            Kind::Container => engine.remove_stopped(&item.id).await.map(|_| None),
            Kind::Image => engine.remove_image_id(&item.id).await.map(|_| None),
            Kind::Network => engine.remove_network(&item.id).await.map(|_| None),
            Kind::BuildCache => engine.prune_build_cache().await.map(Some),
        };
        outcomes.push(match result {
            Ok(freed) => Outcome {
                item: Item {
                    bytes: freed.unwrap_or(item.bytes),
                    ..item
                },
                removed: true,
                error: None,
            },
            Err(err) => Outcome {
                item,
                removed: false,
                error: Some(crate::error::describe(&err).0),
            },
        });
    }
    drop(progress);
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    let output = PruneOutput {
        dry_run: args.dry_run,
        reclaimed_bytes: outcomes
            .iter()
            .filter(|o| o.removed || args.dry_run)
            .map(|o| o.item.bytes)
            .sum(),
        failed,
        items: outcomes,
    };
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    if failed > 0 {
        ctx.printer.warn(&format!(
            "{failed} item(s) could not be removed and were kept (see RESULT)"
        ));
        return Ok(Status::Warning);
    }
    Ok(Status::Ok)
}

fn render(printer: &Printer, output: &PruneOutput) -> String {
    if output.items.is_empty() {
        return crate::i18n::text(&crate::say!("nothing to prune")) + "\n";
    }
    let mut text = printer.table(
        &["KIND", "NAME", "ID", "SIZE", "RESULT"],
        output
            .items
            .iter()
            .map(|o| {
                let result = match (&o.error, o.removed) {
                    (Some(error), _) => {
                        printer.paint(Cell::new(crate::say!("kept: {error}")), Status::Warning)
                    }
                    (None, true) => Cell::new(crate::say!("removed")),
                    (None, false) => Cell::new(crate::say!("would remove")),
                };
                vec![
                    Cell::new(o.item.kind.label()),
                    Cell::new(&o.item.name),
                    Cell::new(
                        o.item
                            .id
                            .trim_start_matches("sha256:")
                            .chars()
                            .take(12)
                            .collect::<String>(),
                    ),
                    Printer::number_cell(human_bytes(o.item.bytes)),
                    result,
                ]
            })
            .collect(),
    );
    text.push_str(&crate::i18n::text(&if output.dry_run {
        crate::say!(
            "Would reclaim: {} ({} item(s)); run without --dry-run to remove them",
            human_bytes(output.reclaimed_bytes),
            output.items.len()
        )
    } else {
        crate::say!(
            "Total reclaimed space: {}",
            human_bytes(output.reclaimed_bytes)
        )
    }));
    text.push('\n');
    text
}
