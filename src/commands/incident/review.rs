//! `gymops incident review`: the post-incident review, prefilled, as `<ID>/review.md`.

use anyhow::{anyhow, Result};
use chrono::Utc;
use serde::Serialize;

use super::{store, Context};
use crate::cli::IncidentReviewArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::fsutil::write_atomic;
use crate::incident::render;

#[derive(Serialize)]
struct Written<'a> {
    id: &'a str,
    file: String,
    review: &'a str,
}

pub fn run(ctx: &Context, args: &IncidentReviewArgs) -> Result<ExitStatus> {
    let store = store(ctx, &args.dir);
    let incident = store.load(&args.id)?;
    let path = store.review_path(&incident.id);
    if path.exists() && !args.force {
        return Err(anyhow!("{} exists", path.display()))
            .hint("it may hold the meeting's notes; pass --force to write a fresh one over it");
    }
    let text = render::review(&incident, &ctx.settings().incident, Utc::now());
    write_atomic(&path, text.as_bytes(), Some(0o640))?;
    let output = Written {
        id: &incident.id,
        file: path.display().to_string(),
        review: &text,
    };
    ctx.printer.emit_result(&output, None, |_| text.clone())?;
    ctx.printer.note(&format!("wrote {}", path.display()));
    if incident.state.is_open() {
        ctx.printer.warn(&format!(
            "{} is not resolved yet: the review has blanks for what has not happened",
            incident.id
        ));
    }
    Ok(Status::Ok)
}
