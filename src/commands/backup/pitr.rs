//! `gymops backup restore` of base backups: point-in-time restore into a new PostgreSQL
//! container (`--at`, `--lsn`, `--before-xid`, `--latest --type base`, or a base backup
//! FILE). The work is [`crate::backup::pitr`]; this chooses the base backup and the WAL.

use std::path::Path;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use comfy_table::Cell;

use super::super::Context;
use crate::backup::manifest::{self, Manifest};
use crate::backup::pitr::plan::{self, Available, BaseCandidate, Target};
use crate::backup::pitr::{self, Restored, WalPiece};
use crate::backup::wal::archive;
use crate::backup::wal::Segment;
use crate::cli::{BackupRestoreArgs, BackupType};
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::Printer;
use crate::settings::DumpFormat;

/// Whether this restore is a point-in-time one.
pub fn wanted(ctx: &Context, args: &BackupRestoreArgs) -> Result<bool> {
    if args.at.is_some() || args.lsn.is_some() || args.before_xid.is_some() {
        return Ok(true);
    }
    if args.kind == Some(BackupType::Base) {
        return Ok(true);
    }
    if let Some(file) = &args.file {
        // The manifest beside a local file says; else (S3, none) its name does.
        let manifest = if file.starts_with("s3://") {
            None
        } else {
            manifest::read(Path::new(file)).ok().flatten()
        };
        return Ok(
            crate::backup::restore::shape(file, manifest.as_ref()).format == DumpFormat::Tar,
        );
    }
    let _ = ctx;
    Ok(false)
}

/// A project name compose would accept.
fn check_project(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 60
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(anyhow!("`{name}` is not a project name"))
            .hint("use lower-case letters, digits, `-` and `_`, starting with a letter or digit")
    }
}

/// The restore's target from the flags.
pub(super) fn target(args: &BackupRestoreArgs) -> Result<Target> {
    if let Some(text) = &args.at {
        return plan::parse_time(text)
            .map(Target::Time)
            .map_err(|e| anyhow!(e))
            .hint("for example --at \"2026-11-28 14:03:27\"");
    }
    if let Some(text) = &args.lsn {
        return Ok(Target::Lsn(
            text.parse().hint("for example --lsn 0/16B3748")?,
        ));
    }
    if let Some(xid) = args.before_xid {
        return Ok(Target::BeforeXid(xid));
    }
    Ok(if args.file.is_some() {
        Target::Immediate
    } else {
        Target::Latest
    })
}

/// The base backups of the backup directory gymops vouches for.
pub fn base_candidates(
    ctx: &Context,
    trust_unsigned: bool,
) -> Result<Vec<(BaseCandidate, Manifest, String)>> {
    let mut out = Vec::new();
    for entry in super::list::local_entries(ctx)? {
        let Some(manifest) = entry.manifest else {
            continue;
        };
        let Some(info) = manifest.base.clone() else {
            continue;
        };
        if let Some(problem) = super::untrusted(ctx, Some(&manifest))? {
            if !trust_unsigned {
                ctx.printer
                    .warn(&crate::say!("{} is left out: {problem}", entry.name));
                continue;
            }
        }
        out.push((
            BaseCandidate {
                name: entry.name.clone(),
                finished_at: manifest.finished_at,
                info,
            },
            manifest,
            entry.location,
        ));
    }
    Ok(out)
}

/// The WAL segments there are: archived ones with a record, and what the receiver holds.
fn available_wal(
    dir: &archive::WalDir,
    segment_bytes: u64,
) -> Result<(Vec<Available>, Vec<WalPiece>)> {
    let mut available = Vec::new();
    let mut pieces = Vec::new();
    for archived in archive::list_archived(dir, segment_bytes)? {
        let (Some(segment), Some(record)) = (archived.segment, archived.record) else {
            continue;
        };
        available.push(Available {
            segment,
            written_at: record.closed_at,
            partial: false,
        });
        pieces.push(WalPiece::Archived {
            path: archived.path,
            record: Box::new(record),
        });
    }
    let incoming = archive::list_incoming(dir, segment_bytes)?;
    for (name, path) in incoming.closed {
        let Some(segment) = Segment::parse(&name, segment_bytes) else {
            continue;
        };
        if available.iter().any(|a| a.segment == segment) {
            continue;
        }
        available.push(Available {
            segment,
            written_at: archive::written_at(&path).unwrap_or_else(Utc::now),
            partial: false,
        });
        pieces.push(WalPiece::Received { name, path });
    }
    if let Some((segment, path)) = incoming.partial {
        if !available.iter().any(|a| a.segment == segment) {
            available.push(Available {
                segment,
                written_at: archive::written_at(&path).unwrap_or_else(Utc::now),
                partial: true,
            });
            pieces.push(WalPiece::Received {
                name: segment.name(segment_bytes),
                path,
            });
        }
    }
    Ok((available, pieces))
}

pub async fn run(ctx: &Context, args: &BackupRestoreArgs) -> Result<ExitStatus> {
    check_flags(args)?;
    if args.force {
        return super::replace::run(ctx, args).await;
    }
    let restored = restore(ctx, args).await?;
    ctx.printer
        .emit_result(&restored, None, |printer| render(printer, &restored))?;
    ctx.printer.note(&crate::say!(
        "the restored PostgreSQL runs as {} at {}; look at it, then `docker rm -f {}` and `docker volume rm {}` when done",
        restored.container,
        restored.address,
        restored.container,
        restored.volume
    ));
    Ok(Status::Ok)
}

/// The flags of a logical restore that a base backup's does not take.
fn check_flags(args: &BackupRestoreArgs) -> Result<()> {
    if args.database.is_some() || args.create || args.no_owner {
        return Err(anyhow!(
            "--database, --create and --no-owner are for logical backups; a base backup restores the whole server"
        ))
        .hint("leave them out, or restore a logical backup");
    }
    if args.target.local {
        return Err(anyhow!(
            "--local does not apply to a base backup: it is restored through the engine"
        ))
        .hint("leave out --local");
    }
    Ok(())
}

/// The project a restore is made in: `--into`, else `gymops-pitr-TIME`.
pub(super) fn project(args: &BackupRestoreArgs) -> String {
    args.into.clone().unwrap_or_else(|| {
        format!(
            "gymops-pitr-{}",
            chrono::Local::now().format("%Y%m%d%H%M%S")
        )
    })
}

/// Choose, check and restore; the restored stack is left running.
pub async fn restore(ctx: &Context, args: &BackupRestoreArgs) -> Result<Restored> {
    let target = target(args)?;
    let project = project(args);
    restore_with(
        ctx,
        args.file.as_deref(),
        target,
        project,
        args.timeout,
        &args.key,
    )
    .await
}

/// Restore a base backup (`file`, or the one the target chooses) with the WAL it needs
/// into `project`; also `dr drill`'s restore.
pub async fn restore_with(
    ctx: &Context,
    file: Option<&str>,
    target: Target,
    project: String,
    timeout: std::time::Duration,
    key_args: &crate::cli::BackupKeyArgs,
) -> Result<Restored> {
    let settings = ctx.settings();
    check_project(&project)?;
    let dir = ctx.loaded.resolve_path(&settings.backup.dir);
    let _lock = if dir.is_dir() {
        Some(crate::backup::lock(&dir, "gymops backup restore")?)
    } else {
        None
    };
    // What the receiver closed is sealed first (when this host can: the same keys).
    if let Err(err) = super::wal::archive_pending(ctx).await {
        tracing::info!(
            "closed WAL segments not sealed before the restore: {}",
            crate::error::describe(&err).0
        );
    }

    // The base backup.
    let candidates = base_candidates(ctx, key_args.trust_unsigned)?;
    let (base, manifest, location) = match file {
        Some(file) => {
            let source = super::source(ctx, file)?;
            let crate::backup::restore::Source::Local(path) = &source else {
                return Err(anyhow!(
                    "a base backup is restored from this host's backup directory"
                ))
                .hint("download it next to its manifest first");
            };
            let manifest = source.manifest().await?;
            super::authenticate(ctx, &source, manifest.as_ref(), key_args.trust_unsigned)?;
            let manifest = manifest.ok_or_else(|| anyhow!("{file} has no manifest"))?;
            let info = manifest
                .base
                .clone()
                .ok_or_else(|| anyhow!("{file} is not a base backup"))?;
            let base = BaseCandidate {
                name: source.name(),
                finished_at: manifest.finished_at,
                info,
            };
            plan::choose_base(std::slice::from_ref(&base), &target, Utc::now())
                .map_err(|e| anyhow!("{e}; nothing was restored"))?;
            (base, manifest, path.display().to_string())
        }
        None => {
            let bases: Vec<BaseCandidate> = candidates.iter().map(|c| c.0.clone()).collect();
            let chosen = plan::choose_base(&bases, &target, Utc::now())
                .map_err(|e| anyhow!("{e}; nothing was restored"))?;
            let found = candidates
                .iter()
                .find(|c| c.0.name == chosen.name)
                .cloned()
                .ok_or_else(|| anyhow!("the chosen base backup vanished"))?;
            found
        }
    };

    // The WAL: the archive must be of the same database system.
    let wal_dir = archive::WalDir::of(&dir);
    let identity = archive::read_identity(&wal_dir)?;
    if let Some(identity) = &identity {
        if identity.system_identifier != base.info.system_identifier {
            return Err(anyhow!(
                "the WAL archive in {} is of database system {}, the base backup {} of system {}: they are of different databases; nothing was restored",
                wal_dir.root.display(),
                identity.system_identifier,
                base.name,
                base.info.system_identifier
            ))
            .hint("restore with the WAL archive of the backed-up database (its backup.dir)");
        }
    }
    let (available, pieces) = available_wal(&wal_dir, base.info.segment_bytes)?;
    let (chosen, past_end) = plan::segments_for(&base, &available, &target)
        .map_err(|e| anyhow!("{e}; nothing was restored"))
        .hint("`gymops backup wal status` shows the archive and its gaps")?;
    let effective = if past_end {
        let newest = chosen.last().map(|a| {
            a.written_at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        });
        ctx.printer.note(&crate::say!(
            "the newest archived WAL was written {}, before the target: restoring to the end of the archive",
            newest.unwrap_or_default()
        ));
        Target::Latest
    } else {
        target.clone()
    };
    let wal: Vec<WalPiece> = chosen
        .iter()
        .filter_map(|a| {
            let name = a.segment.name(base.info.segment_bytes);
            pieces.iter().find(|p| p.name() == name).cloned()
        })
        .collect();

    let engine = ctx.engine().await?;
    let template = super::super::found_container(ctx, engine, &settings.postgres.service)
        .await
        .hint("the restored container takes the image of the PostgreSQL service's container")?;
    let template = engine.inspect(&template.name).await?;
    let key = super::key(ctx, key_args)?;
    let trusted = super::trusted_keys(ctx)?;
    ctx.printer.note(&crate::say!(
        "restoring {} with {} WAL segment(s) into {}",
        base.name,
        wal.len(),
        project
    ));
    pitr::restore(pitr::Request {
        engine,
        project,
        base_path: location.into(),
        base: &manifest,
        key: &key,
        wal,
        target: effective,
        template: &template,
        bin_dir: settings.postgres.bin_dir.clone(),
        aliases: [
            settings.postgres.service.clone(),
            crate::docker::inspected_name(&template),
        ]
        .into_iter()
        .filter(|a| !a.is_empty())
        .collect(),
        pg: &settings.postgres,
        trusted: &trusted,
        wait: timeout,
    })
    .await
}

fn render(printer: &Printer, restored: &Restored) -> String {
    let place = vec![
        ("project", restored.project.clone()),
        (
            "container",
            crate::say!("{} at {}", restored.container, restored.address),
        ),
        ("volume", restored.volume.clone()),
    ];
    render_with(printer, restored, place, Vec::new(), &restored.tables)
}

/// A restore's table: where it is (`place`), the base backup, WAL, target and recovery
/// point, `more` rows, the time and the rows per table.
pub(super) fn render_with(
    printer: &Printer,
    restored: &Restored,
    place: Vec<(&str, String)>,
    more: Vec<(&str, String)>,
    tables: &std::collections::BTreeMap<String, u64>,
) -> String {
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_else(|| "-".into())
    };
    let target = match &restored.target {
        Target::Latest => crate::say!("end of the WAL archive"),
        Target::Immediate => crate::say!("the base backup's end point"),
        Target::Time(t) => time(Some(*t)),
        Target::Lsn(lsn) => lsn.to_string(),
        Target::BeforeXid(xid) => crate::say!("before transaction {xid}"),
    };
    let mut rows: Vec<Vec<Cell>> = place
        .into_iter()
        .chain([
            ("base backup", restored.base_backup.clone()),
            ("wal segments", restored.segments.to_string()),
            ("target", target),
            ("recovery point", time(restored.recovery_point)),
            ("wal position", restored.lsn.clone()),
        ])
        .chain(more)
        .chain([
            ("time", format!("{:.1} s", restored.seconds)),
            (
                "rows",
                crate::say!(
                    "{} tables, {} rows",
                    tables.len(),
                    tables.values().sum::<u64>()
                ),
            ),
        ])
        .map(|(k, v)| vec![Cell::new(crate::i18n::header(k)), Cell::new(v)])
        .collect();
    for (table, count) in tables {
        rows.push(vec![
            Cell::new(format!("  {table}")),
            Cell::new(count.to_string()),
        ]);
    }
    printer.table(&["RESTORE", ""], rows)
}
