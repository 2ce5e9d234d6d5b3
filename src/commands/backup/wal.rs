//! `gymops backup wal start|stop|status|archive`: continuous WAL archiving.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use chrono::{DateTime, Utc};
use comfy_table::Cell;

use super::super::Context;
use crate::backup::manifest::EncryptionMethod;
use crate::backup::wal::archive::{self, ArchiveIdentity, Sealer, WalDir};
use crate::backup::wal::receiver;
use crate::backup::wal::status::{chain_gaps, verdict, WalStatus};
use crate::cli::{BackupWalCommand, BackupWalStartArgs, BackupWalStopArgs};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};
use crate::pg::replication;

pub async fn run(ctx: &Context, command: &BackupWalCommand) -> Result<ExitStatus> {
    match command {
        BackupWalCommand::Start(args) => start(ctx, args).await,
        BackupWalCommand::Stop(args) => stop(ctx, args).await,
        // The directory of `--dir` is backup.dir already (cli::overrides).
        BackupWalCommand::Status(_) => status(ctx).await,
        BackupWalCommand::Archive(_) => archive_now(ctx).await,
    }
}

/// The WAL archive of backup.dir.
pub fn wal_dir(ctx: &Context) -> WalDir {
    WalDir::of(&ctx.loaded.resolve_path(&ctx.settings().backup.dir))
}

async fn connect(ctx: &Context) -> Result<tokio_postgres::Client> {
    let pg = &ctx.settings().postgres;
    crate::pg::connect(pg, pg.connect_timeout).await
}

/// The archive's identity, or the error that there is none.
pub fn identity(dir: &WalDir) -> Result<ArchiveIdentity> {
    archive::read_identity(dir)?
        .ok_or_else(|| anyhow!("there is no WAL archive in {}", dir.root.display()))
        .hint("start archiving with `gymops backup wal start`")
}

/// How the archive's segments are sealed: its encryption as `start` chose it.
pub fn sealer(ctx: &Context, identity: &ArchiveIdentity) -> Result<Sealer> {
    let settings = &ctx.settings().backup;
    let (encrypt, encryption) = if identity.encrypted {
        super::create::from_settings(ctx)?
    } else {
        super::create::plaintext()
    };
    if identity.encrypted && encryption.method == EncryptionMethod::None {
        return Err(anyhow!(
            "the WAL archive is encrypted, but no encryption key is set up now; nothing was archived"
        ))
        .hint("set backup.recipients (or GYMOPS_BACKUP_PASSPHRASE) as when `backup wal start` ran");
    }
    let level = match (settings.compression, settings.level) {
        (crate::settings::Compression::Zstd, Some(level)) => level,
        _ => 1,
    };
    // An S3 client that cannot be made costs no local segment: the upload error is told.
    let (s3, s3_unavailable) = match settings.wal.upload_s3.then(|| super::s3(ctx)) {
        Some(Ok(s3)) => (Some(s3), None),
        Some(Err(err)) => (None, Some(crate::error::describe(&err).0)),
        None => (None, None),
    };
    Ok(Sealer {
        level,
        encrypt,
        encryption,
        signing: super::signing_key(ctx)?,
        s3,
        s3_unavailable,
    })
}

async fn start(ctx: &Context, args: &BackupWalStartArgs) -> Result<ExitStatus> {
    if let Some(name) = start_receiver(ctx, args.no_encryption, args.wait).await? {
        ctx.printer.note(&crate::say!(
            "WAL archiving runs: {} streams into {}; schedule `gymops backup wal archive` every few minutes (schedule job wal-archive) to seal closed segments",
            name,
            wal_dir(ctx).incoming().display()
        ));
    }
    status(ctx).await
}

/// Start the receiver on its slot (made when missing) and wait until it streams; its name,
/// or None when it was running already. `backup wal start`, and `restore --force` after it
/// replaced the data the slot lived in.
pub async fn start_receiver(
    ctx: &Context,
    no_encryption: bool,
    wait: Duration,
) -> Result<Option<String>> {
    let settings = ctx.settings();
    let dir = wal_dir(ctx);
    let password = settings
        .postgres
        .password
        .as_ref()
        .ok_or_else(|| anyhow!("the receiver needs the database password, and none is set"))
        .hint("set GYMOPS_POSTGRES_PASSWORD, POSTGRES_PASSWORD in the env file, or postgres.password_file")?;
    let encrypted = if no_encryption {
        ctx.printer
            .note("the WAL archive is not encrypted (--no-encrypt)");
        false
    } else {
        super::create::from_settings(ctx)?.1.method != EncryptionMethod::None
    };
    let client = connect(ctx).await?;
    let system_identifier = replication::system_identifier(&client).await?;
    let segment_bytes = replication::segment_bytes(&client).await?;
    dir.create()?;
    match archive::read_identity(&dir)? {
        Some(existing) if existing.system_identifier != system_identifier => {
            return Err(anyhow!(
                "the WAL archive in {} is of database system {}, but this PostgreSQL is system {}; nothing was started",
                dir.root.display(),
                existing.system_identifier,
                system_identifier
            ))
            .hint("the database was re-created: move the old archive aside (it restores the old system) or use another backup.dir");
        }
        Some(existing) if existing.encrypted != encrypted => {
            return Err(anyhow!(
                "the WAL archive in {} is {}encrypted; this start would archive {}encrypted",
                dir.root.display(),
                if existing.encrypted { "" } else { "not " },
                if encrypted { "" } else { "not " }
            ))
            .hint("keep one way for one archive: set up the same keys, or use another backup.dir");
        }
        Some(_) => {}
        None => archive::write_identity(
            &dir,
            &ArchiveIdentity {
                system_identifier: system_identifier.clone(),
                database: settings.postgres.database.clone(),
                slot: settings.backup.wal.slot.clone(),
                segment_bytes,
                encrypted,
                created_at: Utc::now(),
            },
        )?,
    }
    let engine = ctx.engine().await?;
    let postgres = super::super::container_of(ctx, engine, &settings.postgres.service).await?;
    let inspected = engine.inspect(&postgres).await?;
    let spec = receiver::spec(
        &inspected,
        &settings.postgres.user,
        &settings.backup.wal.slot,
        settings.postgres.bin_dir.as_deref(),
        &dir.receiver(),
        // The receiver writes as the owner of its directory.
        crate::fsutil::owner_of(&dir.receiver()),
    );
    if let Ok(existing) = engine.inspect(&spec.name).await {
        let running = existing
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false);
        if running {
            ctx.printer.note(&crate::say!(
                "the WAL receiver {} is running already",
                spec.name
            ));
            return Ok(None);
        }
        engine.remove(&spec.name).await?;
    }
    let created_slot = replication::ensure_slot(&client, &spec.slot).await?;
    crate::fsutil::write_atomic(
        &dir.receiver().join("pgpass"),
        receiver::passfile(&settings.postgres.user, password.expose()).as_bytes(),
        Some(0o600),
    )
    .context("cannot write the receiver's password file")?;
    engine.create(&receiver::creation(&spec)).await?;
    engine.start(&spec.name).await?;

    // Streaming: the slot is active. Or the receiver's log says why not.
    let deadline = Instant::now() + wait;
    loop {
        let active = replication::slot_state(&client, &spec.slot)
            .await?
            .is_some_and(|s| s.active);
        if active {
            break;
        }
        if Instant::now() >= deadline {
            let log = engine.log_tail(&spec.name, 40).await.join("\n");
            let _ = engine.remove(&spec.name).await;
            if created_slot {
                let _ = replication::drop_slot(&client, &spec.slot).await;
            }
            let advice = receiver::diagnose(&log, &settings.postgres.user).unwrap_or_else(|| {
                let last = log
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("no output")
                    .to_string();
                crate::say!("its last line: {last}")
            });
            return Err(anyhow!(
                "the WAL receiver did not stream within {}; it was removed",
                humantime::format_duration(wait)
            ))
            .hint(advice);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(Some(spec.name))
}

/// Stop and remove the receiver container (the slot and the archive stay); its name and
/// whether there was one.
pub async fn remove_receiver(ctx: &Context) -> Result<(String, bool)> {
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
    let postgres = super::super::found_container(ctx, engine, &settings.postgres.service)
        .await?
        .name;
    let name = receiver::name_for(&postgres);
    let removed = match engine.inspect(&name).await {
        Ok(_) => {
            engine.stop(&name, Duration::from_secs(10)).await?;
            engine.remove(&name).await?;
            true
        }
        Err(_) => false,
    };
    Ok((name, removed))
}

async fn stop(ctx: &Context, args: &BackupWalStopArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    let (name, removed) = remove_receiver(ctx).await?;
    // What it received and closed is archived now.
    let pass = archive_pending(ctx).await?;
    let slot = &settings.backup.wal.slot;
    let dropped = if args.keep_slot {
        false
    } else {
        let client = connect(ctx).await?;
        replication::drop_slot(&client, slot).await?
    };
    let rows = vec![
        vec![
            Cell::new(crate::i18n::header("receiver")),
            Cell::new(if removed {
                crate::say!("{name} removed")
            } else {
                crate::say!("{name} was not running")
            }),
        ],
        vec![
            Cell::new(crate::i18n::header("slot")),
            Cell::new(if args.keep_slot {
                crate::say!("{slot} kept: PostgreSQL keeps WAL for it until the receiver is back")
            } else if dropped {
                crate::say!("{slot} dropped")
            } else {
                crate::say!("{slot} did not exist")
            }),
        ],
        vec![
            Cell::new(crate::i18n::header("archived")),
            Cell::new(
                pass.as_ref()
                    .map(|p| p.archived.len().to_string())
                    .unwrap_or_else(|| "-".into()),
            ),
        ],
    ];
    let report = serde_json::json!({
        "receiver": name,
        "removed": removed,
        "slot": slot,
        "slot_dropped": dropped,
        "archived": pass.as_ref().map(|p| p.archived.clone()).unwrap_or_default(),
    });
    ctx.printer
        .emit_checked(Status::Ok, &report, None, |printer| {
            printer.table(&["WAL", ""], rows.clone())
        })?;
    Ok(Status::Ok)
}

async fn archive_now(ctx: &Context) -> Result<ExitStatus> {
    let dir = wal_dir(ctx);
    let identity = identity(&dir)?;
    let pass = archive::archive_pass(&dir, &identity, &sealer(ctx, &identity)?).await?;
    if pass.busy {
        ctx.printer
            .note("another `backup wal archive` is running; this one did nothing");
    }
    let status = if !pass.refused.is_empty() {
        Status::Critical
    } else if !pass.upload_errors.is_empty() {
        Status::Warning
    } else {
        Status::Ok
    };
    for refused in &pass.refused {
        ctx.printer.warn(refused);
    }
    for error in &pass.upload_errors {
        ctx.printer.warn(&crate::say!(
            "S3 upload failed (retried on the next pass): {error}"
        ));
    }
    ctx.printer.emit_checked(status, &pass, None, |printer| {
        let rows = vec![
            vec![
                Cell::new(crate::i18n::header("archived")),
                Cell::new(pass.archived.len().to_string()),
            ],
            vec![
                Cell::new(crate::i18n::header("newest")),
                Cell::new(pass.archived.last().cloned().unwrap_or_else(|| "-".into())),
            ],
            vec![
                Cell::new(crate::i18n::header("uploaded")),
                Cell::new(pass.uploaded.to_string()),
            ],
            vec![
                Cell::new(crate::i18n::header("refused")),
                Cell::new(pass.refused.len().to_string()),
            ],
        ];
        printer.table(&["WAL", ""], rows)
    })?;
    Ok(status)
}

/// Gather the facts of `backup wal status`.
pub async fn gather(ctx: &Context) -> Result<WalStatus> {
    let settings = ctx.settings();
    let dir = wal_dir(ctx);
    let identity = archive::read_identity(&dir)?;
    let segment_bytes = identity
        .as_ref()
        .map(|i| i.segment_bytes)
        .unwrap_or(crate::backup::wal::DEFAULT_SEGMENT_BYTES);
    let engine = ctx.engine().await?;
    let postgres = super::super::found_container(ctx, engine, &settings.postgres.service)
        .await?
        .name;
    let name = receiver::name_for(&postgres);
    let (receiver_state, restarts) = match engine.inspect(&name).await {
        Ok(inspected) => (
            inspected
                .state
                .as_ref()
                .and_then(|s| s.status.map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".into()),
            inspected.restart_count.unwrap_or(0),
        ),
        Err(_) => ("absent".to_string(), 0),
    };
    // PostgreSQL not answering is a finding (critical: nothing is streamed), not an error.
    let slot = settings.backup.wal.slot.clone();
    let (slot_state, streaming, unreachable) = match connect(ctx).await {
        Ok(client) => (
            replication::slot_state(&client, &slot).await?,
            replication::streaming(&client).await?,
            None,
        ),
        Err(err) => (None, None, Some(crate::error::describe(&err).0)),
    };
    let archived = archive::list_archived(&dir, segment_bytes)?;
    let incoming = archive::list_incoming(&dir, segment_bytes)?;
    let segments: Vec<&archive::Archived> =
        archived.iter().filter(|a| a.segment.is_some()).collect();
    let gaps = chain_gaps(&archived, &incoming, segment_bytes)
        .into_iter()
        .map(|(first, count)| {
            crate::say!("{} ({count} segment(s) from it)", first.name(segment_bytes))
        })
        .collect();
    let mut status = WalStatus {
        status: Status::Ok,
        receiver: name,
        receiver_state,
        restarts,
        slot,
        slot_state,
        streaming,
        system_identifier: identity.as_ref().map(|i| i.system_identifier.clone()),
        archived_segments: segments.len(),
        archived_bytes: archived
            .iter()
            .filter_map(|a| a.record.as_ref().map(|r| r.stored_bytes))
            .sum(),
        oldest_archived: segments.first().map(|a| a.name.clone()),
        newest_archived: segments.last().map(|a| a.name.clone()),
        newest_archived_closed_at: segments
            .last()
            .and_then(|a| a.record.as_ref().map(|r| r.closed_at)),
        receiving: incoming
            .partial
            .as_ref()
            .map(|(segment, _)| segment.name(segment_bytes)),
        received_at: incoming
            .partial
            .as_ref()
            .and_then(|(_, path)| archive::written_at(path)),
        pending: incoming.closed.len(),
        gaps,
        problems: Vec::new(),
    };
    verdict(&mut status, &settings.backup.wal.max_lag);
    if let Some(why) = unreachable {
        status.status = Status::Critical;
        status
            .problems
            .insert(0, crate::say!("PostgreSQL does not answer: {why}"));
    }
    Ok(status)
}

async fn status(ctx: &Context) -> Result<ExitStatus> {
    let report = gather(ctx).await?;
    ctx.printer
        .emit_checked(report.status, &report, None, |printer| {
            render(printer, &report)
        })?;
    for problem in &report.problems {
        ctx.printer.warn(problem);
    }
    Ok(report.status)
}

fn render(printer: &Printer, report: &WalStatus) -> String {
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
    };
    let slot = match &report.slot_state {
        Some(slot) => crate::say!(
            "{} ({}), lag {}",
            report.slot,
            if slot.active {
                crate::say!("active")
            } else {
                crate::say!("inactive")
            },
            slot.lag_bytes
                .map(human_bytes)
                .unwrap_or_else(|| "-".into())
        ),
        None => crate::say!("{} (missing)", report.slot),
    };
    let rows: Vec<Vec<Cell>> = [
        ("status", report.status.display()),
        (
            "receiver",
            crate::say!(
                "{} ({}, {} restarts)",
                report.receiver,
                report.receiver_state,
                report.restarts
            ),
        ),
        ("slot", slot),
        (
            "flush lag",
            report
                .streaming
                .as_ref()
                .and_then(|s| s.flush_lag_seconds)
                .map(|s| format!("{s:.3} s"))
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "receiving",
            crate::say!(
                "{} (written {})",
                report.receiving.clone().unwrap_or_else(|| "-".into()),
                time(report.received_at)
            ),
        ),
        (
            "archived",
            crate::say!(
                "{} segment(s), {}",
                report.archived_segments,
                human_bytes(report.archived_bytes)
            ),
        ),
        (
            "newest",
            crate::say!(
                "{} (closed {})",
                report.newest_archived.clone().unwrap_or_else(|| "-".into()),
                time(report.newest_archived_closed_at)
            ),
        ),
        ("pending", report.pending.to_string()),
        (
            "gaps",
            if report.gaps.is_empty() {
                "-".into()
            } else {
                report.gaps.join(", ")
            },
        ),
    ]
    .into_iter()
    .map(|(k, v)| vec![Cell::new(crate::i18n::header(k)), Cell::new(v)])
    .collect();
    printer.table(&["WAL", ""], rows)
}

/// Seal what the receiver closed (when it stops, before a restore reads the archive);
/// nothing when there is no archive.
pub async fn archive_pending(ctx: &Context) -> Result<Option<archive::Pass>> {
    let dir = wal_dir(ctx);
    let Some(identity) = archive::read_identity(&dir)? else {
        return Ok(None);
    };
    let sealer = sealer(ctx, &identity)?;
    Ok(Some(archive::archive_pass(&dir, &identity, &sealer).await?))
}
