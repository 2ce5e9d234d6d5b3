//! `perf jvm --hot-threads | --heap-histogram | --gc-run --yes | --native-memory`: the
//! guide's `jstack | grep`, `jmap -histo`, `jcmd GC.run` done properly, through jcmd in the
//! backend container.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use comfy_table::Cell;
use serde::Serialize;

use crate::cli::{JvmSource, PerfJvmArgs};
use crate::commands::Context;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::jvm::diagnose::{
    hot_threads, parse_class_histogram, parse_native_memory, timed_threads, window_seconds,
    ClassRow, HotThread, NativeArea, NMT_OFF,
};
use crate::jvm::{parse_jstat_gc, Memory};
use crate::output::{human_bytes, Printer};

#[derive(Debug, Serialize)]
#[serde(tag = "diagnosis", rename_all = "kebab-case")]
pub enum Diagnosis {
    HotThreads {
        source: String,
        window_seconds: f64,
        threads: Vec<HotThread>,
    },
    HeapHistogram {
        source: String,
        total_instances: u64,
        total_bytes: u64,
        classes: Vec<ClassRow>,
    },
    GcRun {
        source: String,
        heap_before: Memory,
        heap_after: Memory,
        seconds: f64,
    },
    NativeMemory {
        source: String,
        total: NativeArea,
        categories: Vec<NativeArea>,
    },
}

/// Whether the arguments ask for one of the diagnoses.
pub fn asked(args: &PerfJvmArgs) -> bool {
    args.hot_threads || args.heap_histogram || args.gc_run || args.native_memory
}

pub async fn run(ctx: &Context, args: &PerfJvmArgs) -> Result<ExitStatus> {
    if args.source == JvmSource::Actuator {
        bail!("--hot-threads, --heap-histogram, --gc-run and --native-memory need jcmd in the container, not the actuator; leave out --source actuator");
    }
    if args.top.is_some() && !(args.hot_threads || args.heap_histogram) {
        bail!("--top applies to --hot-threads and --heap-histogram only");
    }
    if args.gc_run && !args.yes {
        return Err(anyhow!(
            "--gc-run makes the JVM stop the application for a full collection; nothing was run"
        ))
        .hint("add --yes to run it (at a quiet time: every request waits while it runs)");
    }
    let jcmd = super::backend_jcmd(ctx, Duration::from_secs(30)).await?;
    let container = jcmd.container.clone();
    let pid = jcmd.pid().await?;
    let source = crate::say!("jcmd in {container} (pid {pid})");
    let top = args.top.unwrap_or(10) as usize;
    let diagnosis = if args.hot_threads {
        let first = jcmd.run("jcmd", &[&pid, "Thread.print"]).await?;
        let started = Instant::now();
        tokio::time::sleep(args.window).await;
        let second = jcmd.run("jcmd", &[&pid, "Thread.print"]).await?;
        let (first, second) = (timed_threads(&first, 12), timed_threads(&second, 12));
        if second.is_empty() {
            return Err(anyhow!("the thread dump has no CPU times (cpu=)"))
                .hint("per-thread CPU times in thread dumps need JDK 11 or later");
        }
        // The JVM's own clock for the window; ours when no thread lived through it.
        let window = window_seconds(&first, &second).unwrap_or(started.elapsed().as_secs_f64());
        Diagnosis::HotThreads {
            source,
            window_seconds: window,
            threads: hot_threads(&first, &second, window, top),
        }
    } else if args.heap_histogram {
        let text = jcmd.run("jcmd", &[&pid, "GC.class_histogram"]).await?;
        let (classes, total_instances, total_bytes) = parse_class_histogram(&text, top)
            .ok_or_else(|| anyhow!("cannot read jcmd GC.class_histogram's output"))?;
        Diagnosis::HeapHistogram {
            source,
            total_instances,
            total_bytes,
            classes,
        }
    } else if args.gc_run {
        let heap = |text: String| {
            parse_jstat_gc(&text)
                .map(|(heap, _, _)| heap)
                .ok_or_else(|| anyhow!("cannot read jstat -gc output"))
        };
        let heap_before = heap(jcmd.run("jstat", &["-gc", &pid]).await?)?;
        let started = Instant::now();
        jcmd.run("jcmd", &[&pid, "GC.run"]).await?;
        let seconds = started.elapsed().as_secs_f64();
        let heap_after = heap(jcmd.run("jstat", &["-gc", &pid]).await?)?;
        Diagnosis::GcRun {
            source,
            heap_before,
            heap_after,
            seconds,
        }
    } else {
        let text = jcmd
            .run("jcmd", &[&pid, "VM.native_memory", "summary"])
            .await?;
        if text.contains(NMT_OFF) {
            return Err(anyhow!("native memory tracking is off in the backend's JVM"))
                .hint("start the JVM with -XX:NativeMemoryTracking=summary (in JAVA_TOOL_OPTIONS or the service's command); it costs a little memory and CPU");
        }
        let (total, categories) = parse_native_memory(&text)
            .ok_or_else(|| anyhow!("cannot read jcmd VM.native_memory summary's output"))?;
        Diagnosis::NativeMemory {
            source,
            total,
            categories,
        }
    };
    ctx.printer
        .emit_result(&diagnosis, None, |printer| render(printer, &diagnosis))?;
    Ok(Status::Ok)
}

fn render(printer: &Printer, diagnosis: &Diagnosis) -> String {
    match diagnosis {
        Diagnosis::HotThreads {
            source,
            window_seconds,
            threads,
        } => {
            let mut text = printer.table(
                &["THREAD", "CPU %", "STATE", "STACK"],
                threads
                    .iter()
                    .map(|t| {
                        vec![
                            Cell::new(&t.name),
                            Printer::number_cell(format!("{:.1}", t.cpu_percent)),
                            Cell::new(&t.state),
                            Cell::new(
                                t.frames
                                    .iter()
                                    .take(6)
                                    .cloned()
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            ),
                        ]
                    })
                    .collect(),
            );
            text.push_str(&crate::i18n::text(&crate::say!(
                "{source}: CPU over {window_seconds:.2} s between two thread dumps (100 = one core)"
            )));
            text.push('\n');
            text
        }
        Diagnosis::HeapHistogram {
            source,
            total_instances,
            total_bytes,
            classes,
        } => {
            let mut text = printer.table(
                &["#", "CLASS", "INSTANCES", "BYTES"],
                classes
                    .iter()
                    .map(|c| {
                        vec![
                            Printer::number_cell(c.rank),
                            Cell::new(&c.class),
                            Printer::number_cell(c.instances),
                            Printer::number_cell(human_bytes(c.bytes)),
                        ]
                    })
                    .collect(),
            );
            text.push_str(&crate::i18n::text(&crate::say!(
                "{source}: {total_instances} objects, {} live on the heap",
                human_bytes(*total_bytes)
            )));
            text.push('\n');
            text
        }
        Diagnosis::GcRun {
            source,
            heap_before,
            heap_after,
            seconds,
        } => {
            crate::i18n::text(&crate::say!(
                "{source}: full GC in {seconds:.2} s; heap used {} -> {} (committed {} -> {})",
                human_bytes(heap_before.used_bytes),
                human_bytes(heap_after.used_bytes),
                human_bytes(heap_before.committed_bytes),
                human_bytes(heap_after.committed_bytes)
            )) + "\n"
        }
        Diagnosis::NativeMemory {
            source,
            total,
            categories,
        } => {
            let mut text = printer.table(
                &["CATEGORY", "COMMITTED", "RESERVED"],
                std::iter::once(total)
                    .chain(categories.iter())
                    .map(|a| {
                        vec![
                            Cell::new(&a.category),
                            Printer::number_cell(human_bytes(a.committed_bytes)),
                            Printer::number_cell(human_bytes(a.reserved_bytes)),
                        ]
                    })
                    .collect(),
            );
            text.push_str(&crate::i18n::text(&crate::say!(
                "{source}: native memory tracking"
            )));
            text.push('\n');
            text
        }
    }
}
