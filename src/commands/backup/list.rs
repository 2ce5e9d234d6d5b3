//! `gymops backup list [--remote]`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use comfy_table::Cell;

use super::super::Context;
pub use crate::backup::catalog::Entry;
use crate::backup::catalog::{is_backup_name, list_local};
use crate::backup::manifest::{self, EncryptionMethod, Manifest};
use crate::cli::BackupListArgs;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};

/// The local backups with their manifests, newest first.
pub fn local_entries(ctx: &Context) -> Result<Vec<Entry>> {
    let dir = ctx.loaded.resolve_path(&ctx.settings().backup.dir);
    let files = match list_local(&dir) {
        Ok(files) => files,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => {
            return Err(anyhow::anyhow!("cannot read {}: {err}", dir.display()));
        }
    };
    let mut entries: Vec<Entry> = files
        .into_iter()
        .map(|file| {
            let manifest = manifest::read(&file.path).ok().flatten();
            let time = manifest
                .as_ref()
                .map(|m| m.started_at)
                .or_else(|| manifest::guess_from_name(&file.name).3)
                .or_else(|| Some(DateTime::<Utc>::from(file.modified)));
            Entry {
                location: file.path.display().to_string(),
                name: file.name,
                time,
                size: file.size,
                manifest,
            }
        })
        .collect();
    entries.sort_by(|a, b| b.time.cmp(&a.time).then(b.name.cmp(&a.name)));
    Ok(entries)
}

/// The backups in S3 (under backup.s3.prefix) with their manifests, newest first.
pub async fn remote_entries(ctx: &Context) -> Result<Vec<Entry>> {
    let s3 = super::s3(ctx)?;
    let objects = s3.list().await?;
    let mut entries = Vec::new();
    for object in &objects {
        let name = object
            .key
            .rsplit('/')
            .next()
            .unwrap_or(&object.key)
            .to_string();
        if !is_backup_name(&name) {
            continue;
        }
        let manifest_key = format!("{}.json", object.key);
        let manifest: Option<Manifest> = if objects.iter().any(|o| o.key == manifest_key) {
            s3.get_small(&manifest_key)
                .await?
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        } else {
            None
        };
        let time = manifest
            .as_ref()
            .map(|m| m.started_at)
            .or_else(|| manifest::guess_from_name(&name).3);
        entries.push(Entry {
            location: format!("s3://{}/{}", s3.bucket(), object.key),
            name,
            time,
            size: object.size,
            manifest,
        });
    }
    entries.sort_by(|a, b| b.time.cmp(&a.time).then(b.name.cmp(&a.name)));
    Ok(entries)
}

pub async fn run(ctx: &Context, args: &BackupListArgs) -> Result<ExitStatus> {
    let entries = if args.remote {
        remote_entries(ctx).await?
    } else {
        local_entries(ctx)?
    };
    let place = if args.remote {
        let s3 = &ctx.settings().backup.s3;
        format!("s3://{}/{}", s3.bucket.as_deref().unwrap_or("?"), s3.prefix)
    } else {
        ctx.loaded
            .resolve_path(&ctx.settings().backup.dir)
            .display()
            .to_string()
    };
    ctx.printer
        .emit_result(&entries, None, |printer| render(printer, &entries, &place))?;
    Ok(Status::Ok)
}

fn render(printer: &Printer, entries: &[Entry], place: &str) -> String {
    if entries.is_empty() {
        return crate::i18n::text(&crate::say!("no backups in {place}")) + "\n";
    }
    let rows = entries
        .iter()
        .map(|e| {
            let m = e.manifest.as_ref();
            let encryption = match m.map(|m| m.encryption.method) {
                Some(EncryptionMethod::X25519) => "age (keys)",
                Some(EncryptionMethod::Passphrase) => "age (passphrase)",
                Some(EncryptionMethod::None) => "none",
                None if e.name.ends_with(".age") => "age",
                None => "none",
            };
            let verified = match m.and_then(|m| m.verified.as_ref()) {
                Some(v) if v.restore_test => format!("restored {}", v.at.format("%Y-%m-%d")),
                Some(v) => format!("read {}", v.at.format("%Y-%m-%d")),
                None if m.is_none() => crate::say!("no manifest"),
                None => "-".into(),
            };
            let kind = if e.is_base() {
                crate::say!("base")
            } else {
                crate::say!("logical")
            };
            vec![
                Cell::new(&e.name),
                Cell::new(kind),
                Cell::new(
                    e.time
                        .map(|t| {
                            t.with_timezone(&chrono::Local)
                                .format("%Y-%m-%d %H:%M")
                                .to_string()
                        })
                        .unwrap_or_else(|| "-".into()),
                ),
                Printer::number_cell(human_bytes(e.size)),
                Cell::new(encryption),
                Cell::new(verified),
                Cell::new(m.and_then(|m| m.label.clone()).unwrap_or_default()),
            ]
        })
        .collect();
    printer.table(
        &[
            "BACKUP",
            "TYPE",
            "TIME",
            "SIZE",
            "ENCRYPTION",
            "VERIFIED",
            "LABEL",
        ],
        rows,
    )
}
