//! `gymops alert send`: the guide's alert-notifier.sh, through the notifier.

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::Context;
use crate::cli::AlertSendArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::notify::{Delivery, Event, Notifier};
use crate::output::Printer;

#[derive(Serialize)]
struct SendReport<'a> {
    event: &'a Event,
    deliveries: &'a [Delivery],
}

pub async fn send(ctx: &Context, args: &AlertSendArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    if args.webhook_url.is_some() {
        ctx.printer.warn(
            "a webhook URL on the command line is visible to other users in the process list; prefer GYMOPS_SLACK_WEBHOOK_URL / GYMOPS_WEBHOOK_URL",
        );
    }
    let channels = if args.channel.is_empty() {
        settings.notify.channels.clone()
    } else {
        args.channel.clone()
    };
    if channels.is_empty() {
        return Err(anyhow!("no channel to send to"))
            .hint("pass --channel slack|webhook|email, or list channels in notify.channels");
    }
    let notifier = Notifier::new(&settings.notify, ctx.http()?);
    for channel in &channels {
        notifier.check_channel(*channel)?;
    }
    if args.alert_type.trim().is_empty() || args.message.trim().is_empty() {
        return Err(anyhow!("--alert-type and --message must not be empty")).hint(
            "say what happened, e.g. --alert-type ServiceDown --message \"API service is down\"",
        );
    }
    let mut event = Event::new(
        settings,
        args.alert_type.trim(),
        args.severity,
        &args.message,
    );
    for detail in &args.details {
        let Some((name, value)) = detail.split_once('=') else {
            return Err(anyhow!("--detail `{detail}` is not NAME=VALUE"))
                .hint("for example --detail service=backend");
        };
        event = event.detail(name.trim(), value.trim());
    }
    let deliveries = notifier.send_all(&event, &channels).await;
    let report = SendReport {
        event: &event,
        deliveries: &deliveries,
    };
    ctx.printer
        .emit_result(&report, None, |printer| render(printer, &deliveries))?;
    crate::notify::delivered_or_error("alert", &deliveries)?;
    Ok(Status::Ok)
}

fn render(printer: &Printer, deliveries: &[Delivery]) -> String {
    let rows = deliveries
        .iter()
        .map(|d| {
            let status = if d.delivered {
                Status::Ok
            } else {
                Status::Critical
            };
            vec![
                Cell::new(d.channel.label()),
                Cell::new(&d.target),
                printer.paint(
                    Cell::new(if d.delivered { "sent" } else { "failed" }),
                    status,
                ),
                Printer::number_cell(d.attempts),
                Printer::number_cell(format!("{} ms", d.elapsed_ms)),
                Cell::new(d.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    printer.table(
        &["CHANNEL", "TARGET", "RESULT", "ATTEMPTS", "TIME", "ERROR"],
        rows,
    )
}
