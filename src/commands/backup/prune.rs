//! `gymops backup prune`: restic's retention for local backups or those in S3.

use anyhow::{anyhow, Context as _, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::super::Context;
use super::list::{local_entries, remote_entries, Entry};
use crate::backup::manifest::{manifest_path, plan, Candidate, Policy};
use crate::cli::BackupPruneArgs;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};

#[derive(Debug, Serialize)]
pub struct Decision {
    pub name: String,
    pub location: String,
    pub time: Option<String>,
    pub size: u64,
    pub keep: bool,
    /// The rules that keep it (last, daily, weekly, monthly, newest verified).
    pub reasons: Vec<String>,
    pub deleted: bool,
}

pub async fn run(ctx: &Context, args: &BackupPruneArgs) -> Result<ExitStatus> {
    let backup = &ctx.settings().backup;
    let policy = Policy {
        last: args.keep_last.unwrap_or(backup.keep_last),
        daily: args.keep_daily.unwrap_or(backup.keep_daily),
        weekly: args.keep_weekly.unwrap_or(backup.keep_weekly),
        monthly: args.keep_monthly.unwrap_or(backup.keep_monthly),
    };
    if policy.last + policy.daily + policy.weekly + policy.monthly == 0 {
        return Err(anyhow!("this policy keeps nothing")).map_err(|e| {
            e.context(crate::error::Hint(
                "give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly above 0".into(),
            ))
        });
    }
    let dir = ctx.loaded.resolve_path(&backup.dir);
    // Deleting while a backup is written could remove what the run is about to rely on.
    let _lock = if args.dry_run || args.remote {
        None
    } else {
        Some(crate::backup::lock(&dir, "gymops backup prune")?)
    };
    let entries: Vec<Entry> = if args.remote {
        remote_entries(ctx).await?
    } else {
        local_entries(ctx)?
    };
    // Logical and base backups each keep by the policy: a week of nightly dumps does not
    // push the base backups out, nor the other way round.
    let candidates = |base: bool| -> Vec<Candidate> {
        entries
            .iter()
            .filter(|e| e.is_base() == base)
            .filter_map(|e| {
                Some(Candidate {
                    name: e.location.clone(),
                    time: e.time?,
                    verified: e.verified(),
                })
            })
            .collect()
    };
    let mut planned = plan(&candidates(false), policy);
    planned.extend(plan(&candidates(true), policy));
    let s3 = if args.remote {
        Some(super::s3(ctx)?)
    } else {
        None
    };
    let mut decisions = Vec::new();
    let mut failures = Vec::new();
    for (candidate, reasons) in planned {
        let Some(entry) = entries.iter().find(|e| e.location == candidate.name) else {
            continue;
        };
        let keep = !reasons.is_empty();
        let mut deleted = false;
        if !keep && !args.dry_run {
            let result = match &s3 {
                Some(s3) => {
                    let key = entry
                        .location
                        .strip_prefix(&format!("s3://{}/", s3.bucket()))
                        .unwrap_or(&entry.location)
                        .to_string();
                    match s3.delete(&key).await {
                        Ok(()) => s3.delete(&format!("{key}.json")).await,
                        Err(err) => Err(err),
                    }
                }
                None => {
                    let path = std::path::Path::new(&entry.location);
                    std::fs::remove_file(path)
                        .map_err(anyhow::Error::from)
                        .and_then(|()| match std::fs::remove_file(manifest_path(path)) {
                            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                                Err(err.into())
                            }
                            _ => Ok(()),
                        })
                }
            };
            match result {
                Ok(()) => deleted = true,
                Err(err) => failures.push(format!(
                    "{}: {}",
                    entry.name,
                    crate::error::describe(&err).0
                )),
            }
        }
        decisions.push(Decision {
            name: entry.name.clone(),
            location: entry.location.clone(),
            time: entry.time.map(|t| t.to_rfc3339()),
            size: entry.size,
            keep,
            reasons,
            deleted,
        });
    }
    // The WAL no kept base backup needs: older than the oldest kept one's start — in the
    // local archive for local backups, among the WAL copies in S3 for those in S3.
    let kept_starts: Vec<(crate::backup::wal::Segment, u64)> = decisions
        .iter()
        .filter(|d| d.keep)
        .filter_map(|d| entries.iter().find(|e| e.location == d.location))
        .filter_map(|e| e.manifest.as_ref()?.base.clone())
        .map(|b| {
            (
                crate::backup::wal::Segment::of(b.timeline, b.start_lsn, b.segment_bytes),
                b.segment_bytes,
            )
        })
        .collect();
    if let Some((oldest, segment_bytes)) = kept_starts.iter().min() {
        let pruned = match &s3 {
            Some(s3) => prune_remote_wal(s3, *oldest, *segment_bytes, args.dry_run).await,
            None => prune_wal(&dir, *oldest, args.dry_run),
        };
        match pruned {
            Ok(Some(decision)) => decisions.push(decision),
            Ok(None) => {}
            Err(err) => failures.push(crate::error::describe(&err).0),
        }
    }
    ctx.printer.emit_result(&decisions, None, |printer| {
        render(printer, &decisions, args.dry_run)
    })?;
    if !failures.is_empty() {
        return Err(anyhow!(
            "some backups could not be deleted: {}",
            failures.join("; ")
        ));
    }
    Ok(Status::Ok)
}

fn render(printer: &Printer, decisions: &[Decision], dry_run: bool) -> String {
    let rows = decisions
        .iter()
        .map(|d| {
            let action = match (d.keep, d.deleted, dry_run) {
                (true, _, _) => "keep",
                (false, true, _) => "deleted",
                (false, false, true) => "would delete",
                (false, false, false) => "FAILED",
            };
            vec![
                Cell::new(&d.name),
                Printer::number_cell(human_bytes(d.size)),
                Cell::new(action),
                Cell::new(d.reasons.join(", ")),
            ]
        })
        .collect();
    let freed: u64 = decisions.iter().filter(|d| !d.keep).map(|d| d.size).sum();
    let mut text = printer.table(&["BACKUP", "SIZE", "ACTION", "KEPT BY"], rows);
    text.push_str(&format!(
        "{} kept, {} {} ({})\n",
        decisions.iter().filter(|d| d.keep).count(),
        decisions.iter().filter(|d| !d.keep).count(),
        if dry_run {
            "would be deleted"
        } else {
            "deleted"
        },
        human_bytes(freed)
    ));
    text
}

/// Delete the WAL copies in S3 (`PREFIX/wal/SEGMENT.zst[.age]` and their `.json` records)
/// before `oldest`, the oldest base backup kept in S3; history files are kept. One
/// decision row for them all.
async fn prune_remote_wal(
    s3: &crate::backup::s3::S3,
    oldest: crate::backup::wal::Segment,
    segment_bytes: u64,
    dry_run: bool,
) -> Result<Option<Decision>> {
    let prefix = s3.key_for("wal/");
    let objects = s3.list().await?;
    let mut old: Vec<(String, &crate::backup::s3::Object)> = objects
        .iter()
        .filter_map(|object| {
            let name = object.key.strip_prefix(&prefix)?;
            let segment = crate::backup::wal::archive::unstored_name(name)?;
            let parsed = crate::backup::wal::Segment::parse(segment, segment_bytes)?;
            (parsed < oldest).then(|| (segment.to_string(), object))
        })
        .collect();
    old.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = old.iter().map(|(name, _)| name.as_str()).collect();
    let size = old.iter().map(|(_, object)| object.size).sum();
    let location = format!("s3://{}/{prefix}", s3.bucket());
    let Some(decision) = wal_decision(&names, location, size, !dry_run) else {
        return Ok(None);
    };
    if !dry_run {
        let keys: std::collections::HashSet<&str> =
            objects.iter().map(|o| o.key.as_str()).collect();
        for (_, object) in &old {
            s3.delete(&object.key).await?;
            let record = format!("{}.json", object.key);
            if keys.contains(record.as_str()) {
                s3.delete(&record).await?;
            }
        }
    }
    Ok(Some(decision))
}

/// The one decision row of the WAL segments `names` (in order) a prune deletes; None when
/// there are none.
fn wal_decision(names: &[&str], location: String, size: u64, deleted: bool) -> Option<Decision> {
    let (first, last) = (names.first()?, names.last()?);
    Some(Decision {
        name: crate::say!("WAL {}..{} ({} segments)", first, last, names.len()),
        location,
        time: None,
        size,
        keep: false,
        reasons: Vec::new(),
        deleted,
    })
}

/// Delete the archived WAL segments before `oldest` (the oldest kept base backup's first);
/// timeline history files are kept. One decision row for them all.
fn prune_wal(
    dir: &std::path::Path,
    oldest: crate::backup::wal::Segment,
    dry_run: bool,
) -> Result<Option<Decision>> {
    let wal = crate::backup::wal::archive::WalDir::of(dir);
    let Some(identity) = crate::backup::wal::archive::read_identity(&wal)? else {
        return Ok(None);
    };
    let old: Vec<_> = crate::backup::wal::archive::list_archived(&wal, identity.segment_bytes)?
        .into_iter()
        .filter(|a| a.segment.is_some_and(|s| s < oldest))
        .collect();
    let names: Vec<&str> = old.iter().map(|a| a.name.as_str()).collect();
    let size = old
        .iter()
        .filter_map(|a| std::fs::metadata(&a.path).ok().map(|m| m.len()))
        .sum();
    let location = wal.root.display().to_string();
    let Some(decision) = wal_decision(&names, location, size, !dry_run) else {
        return Ok(None);
    };
    if !dry_run {
        for archived in &old {
            std::fs::remove_file(&archived.path)
                .with_context(|| format!("cannot delete {}", archived.path.display()))?;
            match std::fs::remove_file(manifest_path(&archived.path)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err).with_context(|| {
                        format!("cannot delete the record of {}", archived.path.display())
                    })
                }
                _ => {}
            }
        }
    }
    Ok(Some(decision))
}
