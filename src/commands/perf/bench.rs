//! `gymops perf db bench`: pgbench in the PostgreSQL container (the guide's 7.6) against a
//! scratch database created for the run and dropped after it, whatever happens (an error,
//! Ctrl-C); an existing database only with `--yes`, and then only pgbench's own tables are
//! made and removed. The figures are pgbench's summary and, from its per-transaction log,
//! the latency percentiles.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _, Result};
use comfy_table::Cell;
use serde::Serialize;

use crate::backup::process::Runner;
use crate::backup::sql::{create_database, database_exists, drop_database};
use crate::cli::PerfDbBenchArgs;
use crate::commands::Context;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::pg::bench::{parse_summary, Latencies, LogLatencies, Plan, Summary};
use crate::pg::maintain::quote_identifier;

const PGBENCH_TABLES: [&str; 4] = [
    "pgbench_accounts",
    "pgbench_branches",
    "pgbench_history",
    "pgbench_tellers",
];

#[derive(Debug, Serialize)]
pub struct BenchOutput {
    pub database: String,
    /// Created for the run and dropped after it.
    pub scratch: bool,
    pub scale: u32,
    pub clients: u32,
    pub threads: u32,
    pub seconds: u32,
    /// pgbench's own summary.
    pub pgbench: Summary,
    /// From pgbench's per-transaction log.
    pub latency: Latencies,
}

pub async fn run(ctx: &Context, args: &PerfDbBenchArgs) -> Result<ExitStatus> {
    if args.threads > args.clients {
        bail!(
            "-j {} is more threads than the {} clients; pgbench needs at most one thread per client",
            args.threads,
            args.clients
        );
    }
    let settings = ctx.settings();
    let pg = &settings.postgres;
    let admin = crate::pg::connect(pg, pg.connect_timeout)
        .await
        .map_err(|err| {
            err.context(format!(
                "cannot connect to PostgreSQL at {}",
                crate::pg::describe_target(pg)
            ))
        })
        .hint(
            "check postgres.host/port/user/database and the password (GYMOPS_POSTGRES_PASSWORD)",
        )?;
    let id = crate::random::hex_string::<6>()?;
    let (database, scratch) = match &args.database {
        None => (format!("gymops_bench_{id}"), true),
        Some(name) if database_exists(&admin, name).await? => {
            if !args.yes {
                return Err(anyhow!(
                    "the database {name} exists: pgbench would add its tables to it and write to them; nothing was changed"
                ))
                .hint("leave out --database for a scratch database, or add --yes to run in this one");
            }
            let existing = pgbench_tables(pg, name).await?;
            if !existing.is_empty() {
                return Err(anyhow!(
                    "{name} already has {}: pgbench would replace them; nothing was changed",
                    existing.join(", ")
                ))
                .hint("drop them if they are an old benchmark's, or use a scratch database (leave out --database)");
            }
            (name.clone(), false)
        }
        Some(name) => (name.clone(), true),
    };
    let engine = ctx.engine().await?;
    let container = crate::commands::container_of(ctx, engine, &pg.service).await?;
    let plan = Plan {
        user: pg.user.clone(),
        database: database.clone(),
        scale: args.scale,
        clients: args.clients,
        threads: args.threads,
        seconds: args.time,
        log_prefix: format!("/tmp/gymops-pgbench-{id}"),
    };
    let tools = Runner::Container {
        engine: Arc::new(engine.clone()),
        container: container.clone(),
        bin_dir: pg.bin_dir.clone(),
    };
    // find and cat are the system's, on the container's PATH.
    let system = Runner::Container {
        engine: Arc::new(engine.clone()),
        container,
        bin_dir: None,
    };
    if scratch {
        create_database(&admin, &database).await?;
    }
    let progress = ctx.printer.progress();
    let outcome = tokio::select! {
        outcome = bench(ctx, &tools, &system, &plan, &progress) => outcome,
        signal = crate::signals::terminated() => Err(anyhow!("interrupted by {signal}")),
    };
    drop(progress);
    // Whatever happened: the scratch database, or pgbench's tables, and the log files go.
    let cleanup = async {
        // Waited for: the log files are gone when the command ends.
        if let Ok(running) = system
            .spawn("find", &log_files(&plan, &["-delete"]), &[], false)
            .await
        {
            let _ = running.finish().await;
        }
        if scratch {
            drop_database(&admin, &database).await
        } else {
            let tables: Vec<String> = PGBENCH_TABLES.iter().map(|t| quote_identifier(t)).collect();
            let client = crate::backup::sql::connect_to(pg, &database, pg.connect_timeout).await?;
            client
                .batch_execute(&format!("DROP TABLE IF EXISTS {}", tables.join(", ")))
                .await
                .map_err(|err| anyhow!("{err}"))
        }
    };
    if let Err(err) = cleanup.await {
        ctx.printer.warn(&format!(
            "could not clean up after the benchmark ({}); drop {} by hand",
            crate::error::describe(&err).0,
            if scratch {
                format!("the database {database}")
            } else {
                format!("the pgbench_* tables of {database}")
            }
        ));
    }
    let (pgbench, latency) = outcome?;
    let output = BenchOutput {
        database,
        scratch,
        scale: args.scale,
        clients: args.clients,
        threads: args.threads,
        seconds: args.time,
        pgbench,
        latency,
    };
    ctx.printer
        .emit_result(&output, None, |printer| render(printer, &output))?;
    Ok(Status::Ok)
}

/// pgbench_* tables that exist in `database`.
async fn pgbench_tables(
    pg: &crate::settings::PostgresSettings,
    database: &str,
) -> Result<Vec<String>> {
    let client = crate::backup::sql::connect_to(pg, database, pg.connect_timeout).await?;
    let rows = client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = ANY($1) AND n.nspname = ANY(current_schemas(false)) ORDER BY 1",
            &[&PGBENCH_TABLES.to_vec()],
        )
        .await
        .map_err(|err| anyhow!("{err}"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// `find` arguments for the run's log files, then `action`.
fn log_files(plan: &Plan, action: &[&str]) -> Vec<String> {
    let (dir, name) = plan
        .log_prefix
        .rsplit_once('/')
        .unwrap_or(("/tmp", &plan.log_prefix));
    let mut args: Vec<String> = [dir, "-maxdepth", "1", "-type", "f", "-name"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(format!("{name}.*"));
    args.extend(action.iter().map(|s| s.to_string()));
    args
}

/// Run `program` to its end; its standard output as text (at most 1 MiB kept: pgbench's
/// summary, its progress goes to standard error).
async fn all_output(
    runner: &Runner,
    program: &str,
    args: &[String],
    env: &[(&str, &crate::settings::Secret)],
) -> Result<String> {
    let (text, finished) = runner
        .spawn(program, args, env, false)
        .await?
        .output(1 << 20)
        .await?;
    if !finished.success() {
        bail!("{}", finished.describe(program));
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

async fn bench(
    ctx: &Context,
    tools: &Runner,
    system: &Runner,
    plan: &Plan,
    progress: &crate::output::Progress,
) -> Result<(Summary, Latencies)> {
    let pg = &ctx.settings().postgres;
    let env = tools.password_env(pg, pg.password.as_ref()).await;
    progress.step(&crate::say!(
        "pgbench: creating the tables at scale {} in {}",
        plan.scale,
        plan.database
    ));
    all_output(tools, "pgbench", &plan.init_args(), &env)
        .await
        .context("pgbench could not create its tables")
        .hint("pgbench comes with PostgreSQL's server image; set postgres.bin_dir when it is not on the container's PATH")?;
    progress.step(&crate::say!(
        "pgbench: {} clients, {} threads, {} s",
        plan.clients,
        plan.threads,
        plan.seconds
    ));
    let stdout = all_output(tools, "pgbench", &plan.run_args(), &env)
        .await
        .context("the pgbench run failed")?;
    let summary = parse_summary(&stdout);
    if summary.transactions.is_none() {
        bail!(
            "pgbench's summary has no transaction count: {}",
            stdout.trim()
        );
    }
    // The per-transaction log, streamed: a line per transaction, never held whole.
    let mut running = system
        .spawn(
            "find",
            &log_files(plan, &["-exec", "cat", "{}", "+"]),
            &[],
            false,
        )
        .await?;
    let mut latencies = LogLatencies::default();
    let mut carry = Vec::new();
    while let Some(chunk) = running.stdout.recv().await {
        carry.extend_from_slice(&chunk);
        let last = carry.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        for line in carry[..last].split(|b| *b == b'\n') {
            latencies.line(&String::from_utf8_lossy(line));
        }
        carry.drain(..last);
    }
    latencies.line(&String::from_utf8_lossy(&carry));
    let finished = running.finish().await?;
    if !finished.success() {
        bail!("cannot read pgbench's log: {}", finished.describe("find"));
    }
    Ok((summary, latencies.finish()))
}

fn render(printer: &Printer, output: &BenchOutput) -> String {
    let l = &output.latency;
    let ms = |v: f64| format!("{v:.3} ms");
    let mut text = printer.table(
        &["METRIC", "VALUE"],
        vec![
            vec![
                Cell::new("tps"),
                Printer::number_cell(
                    output
                        .pgbench
                        .tps
                        .map(|t| format!("{t:.1}"))
                        .unwrap_or_else(|| "-".into()),
                ),
            ],
            vec![
                Cell::new("transactions"),
                Printer::number_cell(l.transactions),
            ],
            vec![Cell::new("failed"), Printer::number_cell(l.failed)],
            vec![
                Cell::new("latency average"),
                Printer::number_cell(ms(l.average_ms)),
            ],
            vec![
                Cell::new("latency stddev"),
                Printer::number_cell(ms(l.stddev_ms)),
            ],
            vec![Cell::new("latency p50"), Printer::number_cell(ms(l.p50_ms))],
            vec![Cell::new("latency p90"), Printer::number_cell(ms(l.p90_ms))],
            vec![Cell::new("latency p95"), Printer::number_cell(ms(l.p95_ms))],
            vec![Cell::new("latency p99"), Printer::number_cell(ms(l.p99_ms))],
            vec![Cell::new("latency max"), Printer::number_cell(ms(l.max_ms))],
        ],
    );
    text.push_str(&crate::i18n::text(&crate::say!(
        "pgbench in {} ({}), scale {}, {} clients, {} threads, {} s",
        output.database,
        if output.scratch {
            crate::say!("scratch, dropped")
        } else {
            crate::say!("existing; its pgbench tables dropped")
        },
        output.scale,
        output.clients,
        output.threads,
        output.seconds
    )));
    text.push('\n');
    text
}
