//! `gymops incident update` and `incident resolve`: a timeline entry under the incident's
//! lock, then the guide's internal status update.

use anyhow::Result;
use chrono::Utc;
use serde::Serialize;

use super::{store, Context};
use crate::cli::{IncidentResolveArgs, IncidentUpdateArgs};
use crate::exit::{ExitStatus, Status};
use crate::incident::render::{self, span};
use crate::incident::{operator, Entry, UpdateDetails};

#[derive(Serialize)]
struct Updated<'a> {
    id: &'a str,
    state: crate::incident::State,
    entry: Option<&'a Entry>,
    /// The rendered internal status update.
    status_update: String,
}

pub async fn update(ctx: &Context, args: &IncidentUpdateArgs) -> Result<ExitStatus> {
    let details = UpdateDetails {
        user_impact: args.user_impact,
        business_impact: args.business_impact.clone(),
        eta: args.eta.clone(),
        next: args.next.clone(),
        support: args.support.clone(),
    };
    let (incident, ()) = store(ctx, &args.dir)
        .modify(&args.id, "gymops incident update", |incident| {
            incident.update(
                args.status,
                &args.note,
                &operator(&ctx.settings().incident),
                Some(details),
                Utc::now(),
            )
        })
        .await?;
    let entry = incident.timeline.last();
    let text = render::status_update(&incident, entry, ctx.settings().incident.lang);
    let output = Updated {
        id: &incident.id,
        state: incident.state,
        entry,
        status_update: text.clone(),
    };
    ctx.printer.emit_result(&output, None, |_| text)?;
    Ok(Status::Ok)
}

pub async fn resolve(ctx: &Context, args: &IncidentResolveArgs) -> Result<ExitStatus> {
    let store = store(ctx, &args.dir);
    let (incident, ()) = store
        .modify(&args.id, "gymops incident resolve", |incident| {
            incident.resolve(
                &args.root_cause,
                &args.fix,
                &operator(&ctx.settings().incident),
                Utc::now(),
            )?;
            if let Some(data) = args.data_impact.as_deref().map(str::trim) {
                incident.data_impact = Some(data.to_string()).filter(|d| !d.is_empty());
            }
            Ok(())
        })
        .await?;
    let report = store
        .path_of(&incident.id)
        .join(crate::incident::store::REPORT);
    ctx.printer.emit_result(&incident, None, |_| {
        format!(
            "{} resolved {} after the start ({} after opening); report: {}\nnext: `gymops incident review {}` for the post-incident review\n",
            incident.id,
            span(incident.resolved_at.unwrap_or(incident.opened_at).signed_duration_since(incident.started_at).num_seconds()),
            span(incident.age_seconds(Utc::now())),
            report.display(),
            incident.id
        )
    })?;
    Ok(Status::Ok)
}
