//! `gymops incident notify`: the internal update or the member notice, printed, or sent
//! through the notifier and recorded on the incident.

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::{store, Context};
use crate::cli::{Audience, IncidentNotifyArgs};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::incident::render::{self, NoticeFields};
use crate::incident::Notice;
use crate::notify::{Delivery, Event, Notifier};

#[derive(Serialize)]
struct Notified<'a> {
    id: &'a str,
    audience: &'static str,
    text: &'a str,
    deliveries: &'a [Delivery],
}

pub async fn run(ctx: &Context, args: &IncidentNotifyArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let store = store(ctx, &args.dir);
    let incident = store.load(&args.id)?;
    // The run's --lang when given, else incident.lang (Chinese by default: the guide's
    // templates), whatever the locale.
    let lang = crate::i18n::flag().unwrap_or(settings.incident.lang);
    let (audience, text) = match args.audience {
        Audience::Internal => {
            if args.problem.is_some() || args.eta.is_some() || args.workaround.is_some() {
                return Err(anyhow!(
                    "--problem, --eta and --workaround are for the member notice"
                ))
                .hint("use them with --audience members; the internal update takes its fields from `incident update`");
            }
            ("internal", render::status_update(&incident, None, lang))
        }
        Audience::Members => {
            let fields = NoticeFields {
                problem: args.problem.clone(),
                eta: args.eta.clone(),
                workaround: args.workaround.clone(),
            };
            (
                "members",
                render::member_notice(&incident, &settings.incident, lang, &fields),
            )
        }
    };
    let mut deliveries = Vec::new();
    if !args.channel.is_empty() {
        let notifier = Notifier::new(&settings.notify, ctx.http()?);
        for channel in &args.channel {
            notifier.check_channel(*channel)?;
        }
        let event = Event::new(settings, "Incident", incident.severity, text.clone())
            .detail("incident", &incident.id)
            .detail("audience", audience)
            .detail("state", incident.state.label());
        deliveries = notifier.send_all(&event, &args.channel).await;
        let sent = Notice::from_deliveries(audience, &deliveries);
        store
            .modify(&incident.id, "gymops incident notify", |record| {
                record.notices.extend(sent);
                Ok(())
            })
            .await?;
    }
    let output = Notified {
        id: &incident.id,
        audience,
        text: &text,
        deliveries: &deliveries,
    };
    ctx.printer.emit_result(&output, None, |_| text.clone())?;
    for delivery in &deliveries {
        if delivery.delivered {
            ctx.printer.note(&format!(
                "sent to {} ({}) in {} attempt(s)",
                delivery.channel.label(),
                delivery.target,
                delivery.attempts
            ));
        }
    }
    crate::notify::delivered_or_error("notice", &deliveries)?;
    Ok(Status::Ok)
}
