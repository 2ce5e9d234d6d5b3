//! `gymops perf jvm [--threads] [--source auto|actuator|jcmd]`: the guide's section 4.3
//! (`jstat -gc`, `jcmd GC.heap_info`, `jcmd Thread.print` in the backend container) and
//! what Spring Boot's actuator publishes.

use std::time::Duration;

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde_json::Value;

mod diagnose;

use super::super::Context;
use crate::cli::{JvmSource, PerfJvmArgs};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::jvm::{
    parse_jstat_gc, parse_max_heap, parse_metaspace, parse_thread_print, parse_threaddump_json,
    statistic, tag_values, Gc, JvmReport, Memory, Threads,
};
use crate::netutil::Http;
use crate::output::{human_bytes, Printer};
use crate::settings::join_url;

pub async fn run(ctx: &Context, args: &PerfJvmArgs) -> Result<ExitStatus> {
    if diagnose::asked(args) {
        return diagnose::run(ctx, args).await;
    }
    if args.top.is_some() {
        return Err(anyhow!(
            "--top applies to --hot-threads and --heap-histogram only"
        ));
    }
    let report = match args.source {
        JvmSource::Actuator => actuator(ctx, args.threads).await?,
        JvmSource::Jcmd => jcmd(ctx, args.threads).await?,
        JvmSource::Auto => match actuator(ctx, args.threads).await {
            Ok(report) => report,
            Err(actuator_err) => {
                let why = crate::error::describe(&actuator_err).0;
                tracing::info!("actuator metrics unavailable ({why}); trying jcmd");
                jcmd(ctx, args.threads)
                    .await
                    .map_err(|err| err.context(format!("actuator: {why}")))?
            }
        },
    };
    let status = verdict(&report);
    ctx.printer
        .emit_result(&report, None, |printer| render(printer, &report))?;
    Ok(status)
}

/// A warning when the heap is at least 90% of its maximum, or threads are blocked.
fn verdict(report: &JvmReport) -> Status {
    let heap_full = report
        .heap
        .max_bytes
        .is_some_and(|max| max > 0 && report.heap.used_bytes * 10 >= max * 9);
    let blocked = report.threads.states.get("BLOCKED").copied().unwrap_or(0) > 0;
    if heap_full || blocked {
        Status::Warning
    } else {
        Status::Ok
    }
}

struct Actuator<'a> {
    http: &'a Http,
    timeout: Duration,
    base: String,
}

impl Actuator<'_> {
    async fn get(&self, url: &str) -> Result<Value> {
        let response = self
            .http
            .get_following(url, Some("application/json"), self.timeout)
            .await
            .map_err(|err| anyhow!("{url}: {err}"))?;
        let status = response.status();
        if status.as_u16() == 404 {
            return Err(anyhow!("{url} answers 404: the endpoint is not exposed"));
        }
        if !status.is_success() {
            return Err(anyhow!("{url} answers HTTP {}", status.as_u16()));
        }
        response
            .json()
            .await
            .map_err(|err| anyhow!("{url} did not answer JSON: {}", err.without_url()))
    }

    async fn metric(&self, name: &str, tag: Option<(&str, &str)>) -> Result<Value> {
        let mut url = format!("{}/{name}", self.base);
        if let Some((key, value)) = tag {
            let value: String =
                url::form_urlencoded::byte_serialize(format!("{key}:{value}").as_bytes()).collect();
            url.push_str(&format!("?tag={value}"));
        }
        self.get(&url).await
    }

    async fn value(&self, name: &str, tag: Option<(&str, &str)>) -> Result<f64> {
        let metric = self.metric(name, tag).await?;
        statistic(&metric, "VALUE").ok_or_else(|| anyhow!("{name} has no VALUE"))
    }

    async fn memory(&self, area: &str) -> Result<Memory> {
        let (used, committed, max) = tokio::join!(
            self.value("jvm.memory.used", Some(("area", area))),
            self.value("jvm.memory.committed", Some(("area", area))),
            self.value("jvm.memory.max", Some(("area", area))),
        );
        Ok(Memory {
            used_bytes: used? as u64,
            committed_bytes: committed? as u64,
            // -1 (no limit) in any pool makes the sum meaningless.
            max_bytes: max.ok().filter(|m| *m > 0.0).map(|m| m as u64),
        })
    }
}

async fn actuator(ctx: &Context, with_dump: bool) -> Result<JvmReport> {
    let settings = ctx.settings();
    let base = join_url(&settings.backend.url, &settings.backend.endpoints.metrics);
    let actuator = Actuator {
        http: ctx.http()?,
        timeout: settings.backend.request_timeout,
        base: base.clone(),
    };
    // One call first: when the actuator is not there, say so once.
    actuator
        .metric("jvm.memory.used", None)
        .await
        .hint("expose it in the backend: management.endpoints.web.exposure.include=health,metrics,threaddump (or use --source jcmd)")?;
    let (heap, non_heap, pause, live, daemon, peak, states) = tokio::join!(
        actuator.memory("heap"),
        actuator.memory("nonheap"),
        actuator.metric("jvm.gc.pause", None),
        actuator.value("jvm.threads.live", None),
        actuator.value("jvm.threads.daemon", None),
        actuator.value("jvm.threads.peak", None),
        actuator.metric("jvm.threads.states", None),
    );
    let mut gc = Vec::new();
    // No pause metric yet: no collection has happened.
    if let Ok(pause) = pause {
        let actions = tag_values(&pause, "action");
        let per_action = futures_util::future::join_all(
            actions
                .iter()
                .map(|action| actuator.metric("jvm.gc.pause", Some(("action", action.as_str())))),
        )
        .await;
        for (action, metric) in actions.iter().zip(per_action) {
            if let Ok(metric) = metric {
                gc.push(Gc {
                    name: action.clone(),
                    count: statistic(&metric, "COUNT").unwrap_or(0.0) as u64,
                    seconds: statistic(&metric, "TOTAL_TIME").unwrap_or(0.0),
                    max_pause_seconds: statistic(&metric, "MAX"),
                });
            }
        }
        if gc.is_empty() {
            gc.push(Gc {
                name: "all".into(),
                count: statistic(&pause, "COUNT").unwrap_or(0.0) as u64,
                seconds: statistic(&pause, "TOTAL_TIME").unwrap_or(0.0),
                max_pause_seconds: statistic(&pause, "MAX"),
            });
        }
    }
    let mut threads = Threads {
        live: live? as u64,
        daemon: daemon.unwrap_or(0.0) as u64,
        peak: peak.ok().map(|p| p as u64),
        ..Threads::default()
    };
    if let Ok(states) = states {
        let names = tag_values(&states, "state");
        let counts =
            futures_util::future::join_all(names.iter().map(|state| {
                actuator.value("jvm.threads.states", Some(("state", state.as_str())))
            }))
            .await;
        for (state, count) in names.iter().zip(counts) {
            if let Ok(count) = count {
                threads
                    .states
                    .insert(state.to_uppercase().replace('-', "_"), count as u64);
            }
        }
    }
    let thread_dump = if with_dump {
        let url = join_url(
            &settings.backend.url,
            &settings.backend.endpoints.threaddump,
        );
        let dump = actuator.get(&url).await.hint(
            "expose threaddump in management.endpoints.web.exposure.include, or use --source jcmd",
        )?;
        Some(parse_threaddump_json(&dump))
    } else {
        None
    };
    Ok(JvmReport {
        source: format!("actuator ({base})"),
        heap: heap?,
        non_heap: non_heap?,
        gc,
        threads,
        thread_dump,
    })
}

/// jcmd and jstat in the backend's container, each call allowed the backend's request
/// timeout or `at_least` when that is longer.
async fn backend_jcmd(ctx: &Context, at_least: Duration) -> Result<crate::jvm::jcmd::Jcmd<'_>> {
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
    let container = crate::commands::container_of(ctx, engine, &settings.backend.service).await?;
    Ok(crate::jvm::jcmd::Jcmd {
        engine,
        container,
        bin_dir: settings.backend.jdk_bin_dir.clone(),
        timeout: settings.backend.request_timeout.max(at_least),
    })
}

async fn jcmd(ctx: &Context, with_dump: bool) -> Result<JvmReport> {
    let jcmd = backend_jcmd(ctx, Duration::from_secs(10)).await?;
    let container = jcmd.container.clone();
    let pid = jcmd.pid().await?;
    let (jstat, flags, dump, heap_info) = tokio::join!(
        jcmd.run("jstat", &["-gc", &pid]),
        jcmd.run("jcmd", &[&pid, "VM.flags"]),
        jcmd.run("jcmd", &[&pid, "Thread.print"]),
        jcmd.run("jcmd", &[&pid, "GC.heap_info"]),
    );
    let (mut heap, mut non_heap, gc) =
        parse_jstat_gc(&jstat?).ok_or_else(|| anyhow!("cannot read jstat -gc output"))?;
    // jstat's metaspace columns are only updated by a collection: before the first one they
    // read 0, while GC.heap_info reads it live.
    if let Some(metaspace) = heap_info.ok().as_deref().and_then(parse_metaspace) {
        non_heap = metaspace;
    }
    heap.max_bytes = flags.ok().as_deref().and_then(parse_max_heap);
    let (threads, thread_dump) = parse_thread_print(&dump?);
    Ok(JvmReport {
        source: crate::say!("jcmd in {container} (pid {pid})"),
        heap,
        non_heap,
        gc,
        threads,
        thread_dump: with_dump.then_some(thread_dump),
    })
}

fn render(printer: &Printer, report: &JvmReport) -> String {
    let memory = |m: &Memory| {
        format!(
            "{} used, {} committed, max {}",
            human_bytes(m.used_bytes),
            human_bytes(m.committed_bytes),
            m.max_bytes.map(human_bytes).unwrap_or_else(|| "-".into())
        )
    };
    let mut rows = vec![
        vec![Cell::new("source"), Cell::new(&report.source)],
        vec![Cell::new("heap"), Cell::new(memory(&report.heap))],
        vec![Cell::new("non-heap"), Cell::new(memory(&report.non_heap))],
    ];
    for gc in &report.gc {
        rows.push(vec![
            Cell::new(format!("gc {}", gc.name)),
            Cell::new(format!(
                "{} collections, {:.3} s total{}",
                gc.count,
                gc.seconds,
                gc.max_pause_seconds
                    .map(|m| format!(", longest {:.3} s", m))
                    .unwrap_or_default()
            )),
        ]);
    }
    let states: Vec<String> = report
        .threads
        .states
        .iter()
        .map(|(state, count)| format!("{state} {count}"))
        .collect();
    rows.push(vec![
        Cell::new("threads"),
        Cell::new(format!(
            "{} live, {} daemon{}{}",
            report.threads.live,
            report.threads.daemon,
            report
                .threads
                .peak
                .map(|p| format!(", peak {p}"))
                .unwrap_or_default(),
            if states.is_empty() {
                String::new()
            } else {
                format!(" ({})", states.join(", "))
            }
        )),
    ]);
    let mut text = printer.table(&["JVM", ""], rows);
    if let Some(dump) = &report.thread_dump {
        text.push('\n');
        text.push_str(
            &printer.table(
                &["THREADS", "STATE", "TOP FRAMES", "E.G."],
                dump.top_stacks
                    .iter()
                    .map(|s| {
                        vec![
                            Printer::number_cell(s.threads),
                            Cell::new(&s.state),
                            Cell::new(s.frames.join("\n")),
                            Cell::new(s.examples.join(", ")),
                        ]
                    })
                    .collect(),
            ),
        );
        for blocked in &dump.blocked {
            text.push_str(&format!("blocked: {blocked}\n"));
        }
    }
    text
}
