//! `gymops perf top [SERVICE]`: the processes inside a service's container by CPU and
//! memory, once or `--watch`.

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use crate::cli::{PerfTopArgs, TopSort};
use crate::commands::Context;
use crate::docker::procs::{sort, CpuBasis, Process};
use crate::docker::stats::LOCAL_WINDOW;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};
use crate::watch::Frame;

#[derive(Debug, Serialize)]
pub struct TopOutput {
    pub service: String,
    pub container: String,
    /// `window`: CPU over the sampling window, as top; `lifetime`: over each process's life,
    /// as ps (through the Engine API).
    pub cpu_basis: CpuBasis,
    /// Processes in the container (before --limit).
    pub total: usize,
    pub processes: Vec<Process>,
}

pub async fn run(ctx: &Context, args: &PerfTopArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let service = args
        .service
        .clone()
        .unwrap_or_else(|| settings.logs.service.clone());
    ctx.check_services(std::slice::from_ref(&service))?;
    let engine = ctx.engine().await?;
    // One lookup per round: the container may be recreated while --watch runs.
    let round = || async {
        let container = crate::commands::found_container(ctx, engine, &service).await?;
        let (cpu_basis, mut processes) = engine
            .processes(&container, LOCAL_WINDOW)
            .await
            .hint("start it (`gymops start SERVICE`); a stopped container runs no process")?;
        sort(&mut processes, args.sort == TopSort::Mem);
        let total = processes.len();
        if args.limit > 0 {
            processes.truncate(args.limit);
        }
        Ok::<_, anyhow::Error>(TopOutput {
            service: service.clone(),
            container: container.name,
            cpu_basis,
            total,
            processes,
        })
    };
    if let Some(interval) = args.watch.every() {
        let printer = &ctx.printer;
        return crate::watch::every(printer, interval, || async {
            let output = round().await?;
            Frame::new(Status::Ok, &output, render(printer, &output))
        })
        .await;
    }
    let output = round().await?;
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(Status::Ok)
}

fn render(printer: &Printer, output: &TopOutput) -> String {
    let mut text = printer.table(
        &["PID", "USER", "CPU %", "MEM %", "RSS", "THREADS", "COMMAND"],
        output
            .processes
            .iter()
            .map(|p| {
                let command: String = p.command.chars().take(120).collect();
                vec![
                    Printer::number_cell(p.pid),
                    Cell::new(&p.user),
                    Printer::number_cell(format!("{:.1}", p.cpu_percent)),
                    Printer::number_cell(format!("{:.1}", p.memory_percent)),
                    Printer::number_cell(human_bytes(p.rss_bytes)),
                    Printer::number_cell(
                        p.threads
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Cell::new(command),
                ]
            })
            .collect(),
    );
    text.push_str(&crate::i18n::text(&match output.cpu_basis {
        CpuBasis::Window => crate::say!(
            "{} of {} processes in {}; CPU over the last {} ms (100 = one core)",
            output.processes.len(),
            output.total,
            output.container,
            LOCAL_WINDOW.as_millis()
        ),
        CpuBasis::Lifetime => crate::say!(
            "{} of {} processes in {}; CPU averaged over each process's life, as ps (the engine is not on this host)",
            output.processes.len(),
            output.total,
            output.container
        ),
    }));
    text.push('\n');
    text
}
