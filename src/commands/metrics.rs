//! `gymops metrics serve` / `metrics export`: the deployment as Prometheus metrics.

use std::net::SocketAddr;

use anyhow::{anyhow, Context as _, Result};

use super::Context;
use crate::cli::{MetricsExportArgs, MetricsServeArgs};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::metrics::serve::{Cache, Relay, State};
use crate::metrics::{collect::collect, render};
use crate::notify::Notifier;

pub async fn serve(ctx: &Context, args: &MetricsServeArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let listen = args.listen.as_deref().unwrap_or(&settings.metrics.listen);
    let address: SocketAddr = listen
        .parse()
        .map_err(|err| anyhow!("listen address `{listen}` is not IP:PORT ({err})"))
        .hint(
            "for example --listen 127.0.0.1:9464, or 0.0.0.0:9464 for Prometheus in a container",
        )?;
    let interval = args.interval.unwrap_or(settings.metrics.interval);
    if interval.is_zero() {
        return Err(anyhow!("the collection interval must be more than 0"))
            .hint("for example --interval 15s");
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
        .hint("pick a free port with --listen, or stop what holds it")?;
    let cache = Cache::default();
    let collector = {
        let cache = cache.clone();
        let loaded = ctx.loaded.clone();
        let clients = ctx.clients.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let snapshot = collect(&loaded, &clients).await;
                for (source, why) in &snapshot.errors {
                    tracing::info!(source, %why, "metrics source unavailable");
                }
                cache.store(render(&snapshot)).await;
            }
        })
    };
    ctx.printer.note(&format!(
        "serving metrics on http://{}/metrics, collecting every {}",
        listener.local_addr().unwrap_or(address),
        humantime::format_duration(interval)
    ));
    let relay = Relay::start(settings, Notifier::new(&settings.notify, ctx.http()?));
    if relay.is_none() {
        match &settings.metrics.relay_token_file {
            Some(path) if settings.metrics.relay_token.is_none() => ctx.printer.warn(&format!(
                "the Alertmanager relay (POST /alertmanager) is off: metrics.relay_token_file {} does not exist (monitoring init writes it)",
                ctx.loaded.resolve_path(path).display()
            )),
            _ => ctx.printer.note("the Alertmanager relay (POST /alertmanager) is off: it needs metrics.relay_token_file (monitoring init writes one) and a webhook URL"),
        }
    }
    let (relay, deliveries) = match relay {
        Some((relay, task)) => (Some(relay), Some(task)),
        None => (None, None),
    };
    let state = std::sync::Arc::new(State {
        cache,
        settings: settings.clone(),
        relay,
    });
    let result = crate::metrics::serve::serve(listener, state.clone(), async {
        crate::signals::terminated().await;
    })
    .await;
    collector.abort();
    if let Some(deliveries) = deliveries {
        // Alerts already accepted get a few seconds to go out.
        drop(state);
        if tokio::time::timeout(std::time::Duration::from_secs(10), deliveries)
            .await
            .is_err()
        {
            ctx.printer
                .warn("stopped with relayed alerts still undelivered after 10 s");
        }
    }
    result?;
    Ok(Status::Ok)
}

pub async fn export(ctx: &Context, args: &MetricsExportArgs) -> Result<ExitStatus> {
    let snapshot = collect(&ctx.loaded, &ctx.clients).await;
    for (source, why) in &snapshot.errors {
        ctx.printer.warn(&format!("{source}: {why}"));
    }
    // JSON (-o json) is the snapshot itself; otherwise the Prometheus text.
    ctx.printer
        .emit_result(&snapshot, args.output_file.path.as_deref(), |_| {
            render(&snapshot)
        })?;
    Ok(if snapshot.errors.is_empty() {
        Status::Ok
    } else {
        Status::Warning
    })
}
