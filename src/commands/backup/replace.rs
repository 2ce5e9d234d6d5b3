//! `gymops backup restore --at ... --force` (any base backup restore with `--force`): the
//! live PostgreSQL replaced by a point-in-time restore. In this order, so that nothing
//! live is touched until what replaces it has proven itself:
//! 1. where the live data directory is (data in the container's own layer is refused);
//! 2. the restore, made, replayed, promoted and counted in a scratch container;
//! 3. a safety base backup of the live server (`pre-restore`), its end segment archived;
//! 4. the WAL receiver stopped, what it held sealed or set aside;
//! 5. the live container stopped, its data directory refilled from the restore
//!    ([`crate::backup::pitr::replace`]), started, waited for and counted;
//! 6. the receiver started again on a new slot; the scratch stack removed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use chrono::Utc;
use serde::Serialize;

use super::super::Context;
use crate::backup::create::{create, Options};
use crate::backup::pitr::replace::{self, LiveData, Swap, SwapFailed};
use crate::backup::pitr::{self, Restored};
use crate::backup::wal::Lsn;
use crate::cli::BackupRestoreArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::settings::DumpFormat;

/// What replacing the live PostgreSQL did.
#[derive(Debug, Serialize)]
pub struct Replaced {
    #[serde(flatten)]
    pub restored: Restored,
    /// The live container, now on the restored data.
    pub live_container: String,
    /// Where its data directory is (`volume NAME` or a host path, and below it).
    pub live_data: String,
    /// The live server's base backup taken before it was replaced.
    pub safety_backup: Option<String>,
    /// Rows per table of the live server after the replacement.
    pub live_tables: BTreeMap<String, u64>,
    /// The WAL receiver started again (its name), when one ran before.
    pub receiver: Option<String>,
    /// Where the receiver's unsealed WAL of the replaced history was moved.
    pub set_aside: Option<String>,
    /// Tables whose rows differ between the restore and the live server after it.
    pub problems: Vec<String>,
}

pub async fn run(ctx: &Context, args: &BackupRestoreArgs) -> Result<ExitStatus> {
    let started = Instant::now();
    let settings = ctx.settings();
    let engine = ctx.engine().await?;

    // 1. The live data directory: asked of the live server, else the container's PGDATA.
    let live_name = super::super::found_container(ctx, engine, &settings.postgres.service)
        .await
        .hint("--force replaces the data of the PostgreSQL service's container")?
        .name;
    let inspected = engine.inspect(&live_name).await?;
    let client = crate::pg::connect(&settings.postgres, settings.postgres.connect_timeout).await;
    let data_directory = match &client {
        Ok(client) => client
            .query_one("SHOW data_directory", &[])
            .await
            .map(|row| row.get::<_, String>(0))
            .unwrap_or_else(|_| replace::default_data_directory(&inspected)),
        Err(_) => replace::default_data_directory(&inspected),
    };
    let live = replace::locate(&inspected, &data_directory)
        .map_err(|problem| anyhow!("{problem}; nothing was restored"))
        .hint("keep the data directory on a named volume (like the guide's postgres_data), or restore --into a new project and point the deployment at it")?;

    // 2. The safety backup must be possible before anything is made.
    let key = super::key(ctx, &args.key)?;
    let safety = if args.no_safety_backup {
        ctx.printer.warn(&crate::say!(
            "no safety backup (--no-safety-backup): what {} holds now is lost",
            live.describe()
        ));
        None
    } else {
        if let Err(err) = &client {
            return Err(anyhow!(
                "the live PostgreSQL does not answer, so no safety base backup of it can be taken: {}; nothing was restored",
                crate::error::describe(err).0
            ))
            .hint("start it and try again; when its data is beyond saving, add --no-safety-backup");
        }
        Some(super::create::safety_options(ctx, &key, DumpFormat::Tar)?)
    };
    drop(client);

    // 3. The restore in its own scratch project.
    let project = super::pitr::project(args);
    let restored = super::pitr::restore_with(
        ctx,
        args.file.as_deref(),
        super::pitr::target(args)?,
        project.clone(),
        args.timeout,
        &args.key,
    )
    .await?;
    ctx.printer.note(&crate::say!(
        "restored and checked in {}; replacing the data of {} now",
        restored.container,
        live.container
    ));

    let replaced = replace_live(ctx, args, &live, &inspected, restored, safety, started).await;
    let replaced = match replaced {
        Ok(replaced) => replaced,
        Err(failure) => {
            if !failure.live_touched {
                pitr::remove(engine, &project).await;
            }
            return Err(failure.error);
        }
    };
    pitr::remove(engine, &project).await;
    let status = if replaced.problems.is_empty() {
        Status::Ok
    } else {
        Status::Critical
    };
    ctx.printer
        .emit_result(&replaced, None, |printer| render(printer, &replaced))?;
    ctx.printer.note(&crate::say!(
        "{} runs on the restored data, on a new timeline: take a base backup now (`gymops backup create --type base`) so the next point-in-time restore starts from it",
        replaced.live_container
    ));
    Ok(status)
}

/// Steps 3-6 after the restore: the restored stack is kept when the live data was
/// touched and the replacement did not finish.
async fn replace_live(
    ctx: &Context,
    args: &BackupRestoreArgs,
    live: &LiveData,
    inspected: &bollard::models::ContainerInspectResponse,
    restored: Restored,
    safety: Option<Options>,
    started: Instant,
) -> std::result::Result<Replaced, SwapFailed> {
    let untouched = |error: anyhow::Error| SwapFailed {
        error,
        live_touched: false,
    };
    let engine = ctx.engine().await.map_err(untouched)?;

    // 3-4, interruptible: nothing live is touched yet.
    let prepare = async {
        let safety_backup = match safety {
            Some(options) => Some(safety_backup(ctx, options).await?),
            None => None,
        };
        let had_receiver = super::wal::remove_receiver(ctx)
            .await
            .map(|(_, removed)| removed)
            .unwrap_or_else(|err| {
                ctx.printer.warn(&crate::say!(
                    "the WAL receiver could not be stopped: {}",
                    crate::error::describe(&err).0
                ));
                false
            });
        if let Err(err) = super::wal::archive_pending(ctx).await {
            ctx.printer.warn(&crate::say!(
                "closed WAL segments were not sealed before the replacement: {}",
                crate::error::describe(&err).0
            ));
        }
        let set_aside = super::wal::wal_dir(ctx).set_aside_incoming(Utc::now())?;
        Ok::<_, anyhow::Error>((safety_backup, had_receiver, set_aside))
    };
    let (safety_backup, had_receiver, set_aside) = tokio::select! {
        prepared = prepare => prepared.map_err(|err| untouched(err.context(crate::say!("the live PostgreSQL was not replaced"))))?,
        signal = crate::signals::terminated() => {
            return Err(untouched(anyhow!("interrupted by {signal}; nothing was replaced, the restore was removed")));
        }
    };

    // 5. The swap, not interrupted: stopping half-way would leave the data directory empty.
    let swapped = {
        let swap = Swap {
            engine,
            project: &restored.project,
            live,
            restored_container: &restored.container,
            restored_volume: &restored.volume,
            template: inspected,
            limit: args.timeout.max(Duration::from_secs(120)),
        };
        let swapping = replace::swap(&swap);
        tokio::pin!(swapping);
        loop {
            tokio::select! {
                swapped = &mut swapping => break swapped,
                signal = crate::signals::terminated() => ctx.printer.warn(&crate::say!(
                    "{signal}: the data directory of {} is being replaced; gymops finishes that first",
                    live.container
                )),
            }
        }
    };
    let restored_volume = restored.volume.clone();
    // Named in every error from here on: what the operator recovers with.
    let safety = safety_backup
        .clone()
        .unwrap_or_else(|| crate::say!("none was taken"));
    // WAL archiving was stopped for the swap: every error from here on says so, and how
    // to start it again (a later run of the restore cannot know it ran).
    let wal_stopped = |hint: String| -> String {
        if had_receiver {
            crate::say!(
                "{hint}; WAL archiving is stopped: start it with `gymops backup wal start` once the server answers"
            )
        } else {
            hint
        }
    };
    let keep = |failure: SwapFailed| -> SwapFailed {
        if !failure.live_touched {
            return failure;
        }
        SwapFailed {
            error: failure
                .error
                .context(crate::say!(
                    "{} is stopped and its data directory ({}) is incomplete; the restored data is kept in volume {}; the safety backup: {}",
                    live.container,
                    live.describe(),
                    restored_volume,
                    safety
                ))
                .context(crate::error::Hint(wal_stopped(match &args.into {
                    // That project holds the kept copy: the next restore goes elsewhere.
                    Some(project) => crate::say!(
                        "fix the cause (often disk space), then run this restore --force again with --no-safety-backup and another --into than {}",
                        project
                    ),
                    None => crate::say!(
                        "fix the cause (often disk space), then run this restore --force again with --no-safety-backup"
                    ),
                }))),
            live_touched: true,
        }
    };
    if let Err(failure) = swapped {
        if !failure.live_touched {
            // The live server was stopped at most: it runs again on its own data.
            let _ = engine.start(&live.container).await;
            if had_receiver {
                restart_receiver(ctx).await;
            }
            return Err(SwapFailed {
                error: failure
                    .error
                    .context(crate::say!("the live PostgreSQL was not replaced")),
                live_touched: false,
            });
        }
        return Err(keep(failure));
    }

    // The live server on the restored data: answering, out of recovery, counted. A
    // signal here stops the waiting, not the server (it already runs on the restored data).
    let counted = tokio::select! {
        counted = live_rows(ctx, live, inspected, args.timeout.min(LIVE_WAIT)) => counted,
        signal = crate::signals::terminated() => Err(anyhow!(
            "interrupted by {signal} while waiting for {} to answer: it was started on the restored data, its rows were not counted",
            live.container
        )),
    };
    let live_tables = counted.map_err(|error| {
        let hint = wal_stopped(crate::say!(
            "the restored copy is kept in volume {} until you remove it; the safety backup: {}",
            restored_volume,
            safety
        ));
        SwapFailed {
            error: error.context(crate::error::Hint(hint)),
            live_touched: true,
        }
    })?;
    let problems = compare(&restored.tables, &live_tables);
    let receiver = if had_receiver {
        restart_receiver(ctx).await
    } else {
        None
    };
    let mut restored = restored;
    restored.seconds = started.elapsed().as_secs_f64();
    Ok(Replaced {
        live_container: live.container.clone(),
        live_data: live.describe(),
        safety_backup,
        live_tables,
        receiver,
        set_aside: set_aside.map(|p| p.display().to_string()),
        problems,
        restored,
    })
}

/// The safety base backup, then its end segment closed and (when a receiver streams)
/// waited for, so the archive holds all it needs.
async fn safety_backup(ctx: &Context, options: Options) -> Result<String> {
    let settings = ctx.settings();
    ctx.printer
        .note("taking a safety base backup of the live PostgreSQL first");
    let runner = super::runner(ctx, false).await?;
    let created = create(
        &runner,
        &settings.postgres,
        settings.postgres.password.as_ref(),
        options,
    )
    .await
    .map_err(|err| {
        err.context(crate::say!(
            "the safety base backup of the live PostgreSQL failed"
        ))
    })?;
    let client = crate::pg::connect(&settings.postgres, settings.postgres.connect_timeout).await?;
    crate::pg::replication::switch_wal(&client).await?;
    let end: String = client
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await?
        .get(0);
    let end: Lsn = end.parse()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let flushed = crate::pg::replication::streaming(&client)
            .await?
            .and_then(|s| s.flush_lsn)
            .and_then(|lsn| lsn.parse::<Lsn>().ok());
        match flushed {
            None => break,
            Some(flushed) if flushed >= end => break,
            Some(_) if Instant::now() >= deadline => {
                ctx.printer.warn(&crate::say!(
                    "the WAL receiver has not received the safety backup's end point {end} within 30 s; it is archived when the receiver catches up"
                ));
                break;
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    Ok(created.path.display().to_string())
}

/// How long the live server may take to answer on the restored data (it was shut down
/// cleanly: no crash recovery to wait for).
const LIVE_WAIT: Duration = Duration::from_secs(300);

/// Wait for the live server to answer out of recovery; its rows per table.
async fn live_rows(
    ctx: &Context,
    live: &LiveData,
    before: &bollard::models::ContainerInspectResponse,
    wait: Duration,
) -> Result<BTreeMap<String, u64>> {
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
    let container = &live.container;
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(client) = crate::pg::connect(&settings.postgres, Duration::from_secs(2)).await {
            if let Ok(row) = client.query_one("SELECT pg_is_in_recovery()", &[]).await {
                if !row.get::<_, bool>(0) {
                    let tables = crate::backup::sql::user_tables(&client).await?;
                    return crate::backup::sql::count_rows(&client, &tables).await;
                }
            }
        }
        if Instant::now() >= deadline {
            // A port the engine chose (`::5432`) is chosen again at a restart.
            let was = crate::docker::published_host_port(before, "5432/tcp");
            let now = match engine.inspect(container).await {
                Ok(inspected) => crate::docker::published_host_port(&inspected, "5432/tcp"),
                Err(_) => was,
            };
            if let (Some(was), Some(now)) = (was, now) {
                if was != now && settings.postgres.port == was {
                    return Err(anyhow!(
                        "{container} holds the restored data and runs, but its published port changed from {was} to {now} at the restart (postgres.port is {was})"
                    ))
                    .hint("publish a fixed port in the compose file (`127.0.0.1:5432:5432`) and set postgres.port to it");
                }
            }
            let line = engine.log_tail(container, 5).await.join(" | ");
            return Err(anyhow!(
                "{container} holds the restored data but did not answer within {}: {line}",
                humantime::format_duration(wait)
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The tables whose rows differ between two counts (one line each).
fn compare(restored: &BTreeMap<String, u64>, live: &BTreeMap<String, u64>) -> Vec<String> {
    crate::backup::drill::compare(restored, live)
        .into_iter()
        .filter(|t| t.status != Status::Ok)
        .map(|t| {
            let table = t.table;
            match (t.restored, t.live) {
                (Some(rows), Some(now)) => {
                    crate::say!("{table}: {now} rows live, {rows} restored")
                }
                (Some(_), None) => crate::say!("{table}: missing in the live database"),
                _ => crate::say!("{table}: not in the restore"),
            }
        })
        .collect()
}

/// Start the receiver again (a new slot on the restored server); its name, or a warning.
async fn restart_receiver(ctx: &Context) -> Option<String> {
    let dir = super::wal::wal_dir(ctx);
    let encrypted = crate::backup::wal::archive::read_identity(&dir)
        .ok()
        .flatten()
        .is_none_or(|identity| identity.encrypted);
    match super::wal::start_receiver(ctx, !encrypted, Duration::from_secs(30)).await {
        Ok(name) => name,
        Err(err) => {
            ctx.printer.warn(&crate::say!(
                "the WAL receiver did not start again: {}; start it with `gymops backup wal start`",
                crate::error::describe(&err).0
            ));
            None
        }
    }
}

fn render(printer: &Printer, replaced: &Replaced) -> String {
    let place = vec![
        ("container", replaced.live_container.clone()),
        ("data", replaced.live_data.clone()),
    ];
    let mut more = vec![(
        "safety backup",
        replaced
            .safety_backup
            .clone()
            .unwrap_or_else(|| crate::say!("none (--no-safety-backup)")),
    )];
    if let Some(receiver) = &replaced.receiver {
        more.push(("receiver", crate::say!("{receiver} streams on a new slot")));
    }
    if let Some(aside) = &replaced.set_aside {
        more.push(("set aside", aside.clone()));
    }
    if !replaced.problems.is_empty() {
        more.push(("problems", replaced.problems.join("\n")));
    }
    super::pitr::render_with(
        printer,
        &replaced.restored,
        place,
        more,
        &replaced.live_tables,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_compared_table_by_table_both_ways() {
        let restored: BTreeMap<String, u64> =
            [("public.a".to_string(), 3), ("public.b".to_string(), 1)].into();
        assert!(compare(&restored, &restored).is_empty());
        let live: BTreeMap<String, u64> =
            [("public.a".to_string(), 2), ("public.c".to_string(), 0)].into();
        assert_eq!(
            compare(&restored, &live),
            vec![
                "public.a: 2 rows live, 3 restored",
                "public.b: missing in the live database",
                "public.c: not in the restore",
            ]
        );
    }
}
