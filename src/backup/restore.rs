//! Reading backups back: verification (checksum, decryption, decompression, the dump's own
//! completeness and row counts) and restore (psql or pg_restore, streaming, in one
//! transaction). A restore reads the whole backup once before it touches the target, so a
//! wrong key, a checksum mismatch or a truncated file never leaves a half-restored database.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use chrono::Utc;
use serde::Serialize;

use super::inspect::{Inspector, MetaGuard};
use super::manifest::{self, EncryptionMethod, Manifest};
use super::pipeline::{self, Decrypt};
use super::s3::S3;
use super::sql;
use crate::chunks::ChannelReader;
use crate::error::{Hint, HintExt};
use crate::settings::{Compression, DumpFormat, PostgresSettings, Secret};

/// Where a backup is read from.
#[derive(Clone)]
pub enum Source {
    Local(PathBuf),
    S3 { s3: Arc<S3>, key: String },
}

impl Source {
    pub fn name(&self) -> String {
        match self {
            Source::Local(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Source::S3 { key, .. } => key.rsplit('/').next().unwrap_or(key).to_string(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Local(path) => path.display().to_string(),
            Source::S3 { s3, key } => format!("s3://{}/{key}", s3.bucket()),
        }
    }

    pub async fn manifest(&self) -> Result<Option<Manifest>> {
        match self {
            Source::Local(path) => manifest::read(path),
            Source::S3 { s3, key } => match s3.get_small(&format!("{key}.json")).await? {
                Some(bytes) => manifest::parse(&bytes)
                    .map(Some)
                    .context("the S3 manifest is not a gymops backup manifest"),
                None => Ok(None),
            },
        }
    }

    pub async fn save_manifest(&self, manifest: &Manifest) -> Result<()> {
        match self {
            Source::Local(path) => manifest::write(path, manifest),
            Source::S3 { s3, key } => {
                s3.put(&format!("{key}.json"), manifest::to_json(manifest))
                    .await
            }
        }
    }

    /// The stored bytes, as a blocking reader.
    pub(super) async fn open_raw(&self) -> Result<Box<dyn Read + Send>> {
        match self {
            Source::Local(path) => {
                Ok(Box::new(std::fs::File::open(path).with_context(|| {
                    format!("cannot open {}", path.display())
                })?))
            }
            Source::S3 { s3, key } => Ok(Box::new(ChannelReader::new(s3.get_stream(key).await?))),
        }
    }
}

/// What the backup needs to be read: from its manifest, or guessed from its name.
#[derive(Debug, Clone)]
pub struct Shape {
    pub format: DumpFormat,
    pub compression: Compression,
    pub encrypted: bool,
}

pub fn shape(name: &str, manifest: Option<&Manifest>) -> Shape {
    match manifest {
        Some(m) => Shape {
            format: m.format,
            compression: m.compression,
            encrypted: m.encryption.method != EncryptionMethod::None,
        },
        None => {
            let (format, compression, encrypted, _) = manifest::guess_from_name(name);
            Shape {
                format,
                compression,
                encrypted,
            }
        }
    }
}

/// The key material for reading: an identity file's keys, or a passphrase.
pub enum Key {
    Identities(Vec<age::x25519::Identity>),
    Passphrase(Secret),
    None,
}

/// Read an age identity file (`age-keygen` output): `AGE-SECRET-KEY-1...` lines, `#` comments.
pub fn read_identities(path: &std::path::Path) -> Result<Vec<age::x25519::Identity>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the identity file {}", path.display()))?;
    let mut identities = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let identity: age::x25519::Identity = line.parse().map_err(|_| {
            anyhow!(
                "{}: line {}: not an age X25519 identity (AGE-SECRET-KEY-1...)",
                path.display(),
                number + 1
            )
        })?;
        identities.push(identity);
    }
    if identities.is_empty() {
        return Err(anyhow!("{} holds no age identity", path.display())).hint(
            "make one with `age-keygen -o key.txt`; back up with its public key (`age1...`)",
        );
    }
    Ok(identities)
}

/// Decryption for a backup, checking first that the key is one of its recipients.
pub fn decrypt_for(shape: &Shape, manifest: Option<&Manifest>, key: &Key) -> Result<Decrypt> {
    if !shape.encrypted {
        return Ok(Decrypt::None);
    }
    match key {
        Key::None => {
            let hint = match manifest.map(|m| m.encryption.method) {
                Some(EncryptionMethod::Passphrase) => {
                    "give --passphrase-file FILE or set GYMOPS_BACKUP_PASSPHRASE"
                }
                _ => "give --identity FILE (the age key whose public key the backup was made for), or set backup.identity_file",
            };
            Err(anyhow!("the backup is encrypted and no key was given")).hint(hint)
        }
        Key::Passphrase(passphrase) => Ok(Decrypt::Passphrase(passphrase.clone())),
        Key::Identities(identities) => {
            if let Some(manifest) = manifest {
                if manifest.encryption.method == EncryptionMethod::X25519 {
                    let ours: Vec<String> = identities
                        .iter()
                        .map(|i| manifest::fingerprint(&i.to_public().to_string()))
                        .collect();
                    if !ours
                        .iter()
                        .any(|f| manifest.encryption.recipients.contains(f))
                    {
                        return Err(anyhow!(
                            "the identity ({}) is not a recipient of this backup ({})",
                            ours.join(", "),
                            manifest.encryption.recipients.join(", ")
                        ))
                        .hint("use the key file whose public key was given to backup create");
                    }
                }
            }
            Ok(Decrypt::Identities(identities.clone()))
        }
    }
}

/// What reading a backup through found.
#[derive(Debug, Clone, Serialize)]
pub struct ReadReport {
    pub sha256: String,
    pub stored_bytes: u64,
    pub dump_bytes: u64,
    /// Rows per table found in a plain dump.
    pub tables: BTreeMap<String, u64>,
    pub roles: Vec<String>,
    /// Problems found; empty when the backup reads back as written.
    pub problems: Vec<String>,
}

/// Compare a read with the manifest: checksum, size, completeness, rows.
pub fn check_read(
    manifest: Option<&Manifest>,
    format: DumpFormat,
    inspector: Option<&Inspector>,
    report: &mut ReadReport,
) {
    if let Some(m) = manifest {
        if report.stored_bytes != m.stored_bytes {
            report.problems.push(format!(
                "size: {} bytes read, the manifest says {} (truncated or appended to)",
                report.stored_bytes, m.stored_bytes
            ));
        } else if report.sha256 != m.sha256 {
            report.problems.push(
                "checksum mismatch: the file is not the one backup create wrote (damaged or replaced)"
                    .into(),
            );
        }
        if report.dump_bytes != m.dump_bytes {
            report.problems.push(format!(
                "the dump inside is {} bytes, the manifest says {}",
                report.dump_bytes, m.dump_bytes
            ));
        }
    }
    if format == DumpFormat::Plain {
        if let Some(inspector) = inspector {
            if inspector.inside_copy() || !inspector.complete {
                report
                    .problems
                    .push("the dump inside ends early (no end-of-dump marker)".into());
            }
            if let Some(m) = manifest.filter(|m| m.row_counts == "dump") {
                for (table, rows) in &m.tables {
                    let found = inspector.tables.get(table).copied().unwrap_or(0);
                    if found != *rows {
                        report.problems.push(format!(
                            "table {table}: {found} rows in the file, {rows} in the manifest"
                        ));
                    }
                }
            }
        }
    }
}

/// Read the whole backup once: checksum, decryption, decompression, the dump's content.
pub async fn read_through(
    source: &Source,
    manifest: Option<&Manifest>,
    shape: &Shape,
    decrypt: Decrypt,
) -> Result<ReadReport> {
    let raw = source.open_raw().await?;
    let format = shape.format;
    let compression = shape.compression;
    let manifest = manifest.cloned();
    tokio::task::spawn_blocking(move || {
        let (mut reader, handle) = pipeline::open(raw, compression, &decrypt)?;
        let mut inspector = (format == DumpFormat::Plain).then(Inspector::default);
        // What a restore would refuse (psql meta-commands), found here already.
        let mut guard = (format == DumpFormat::Plain).then(MetaGuard::default);
        // A base backup's tar: it parses, and says where its WAL starts and ends.
        let mut tar = (format == DumpFormat::Tar).then(super::tarscan::TarScan::default);
        let mut refused: Option<String> = None;
        let mut scratch = Vec::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut dump_bytes = 0u64;
        let mut broken = None;
        loop {
            let n = match reader.read(&mut buffer) {
                Ok(n) => n,
                Err(err) => {
                    broken = Some(crate::error::describe(&pipeline::read_error(err)).0);
                    break;
                }
            };
            if n == 0 {
                break;
            }
            dump_bytes += n as u64;
            if let Some(inspector) = &mut inspector {
                inspector.feed(&buffer[..n]);
            }
            if let Some(tar) = &mut tar {
                tar.feed(&buffer[..n]);
            }
            if let (Some(checker), None) = (&mut guard, &refused) {
                scratch.clear();
                if let Err(why) = checker.push(&buffer[..n], &mut scratch) {
                    refused = Some(why);
                }
            }
        }
        if let Some(inspector) = &mut inspector {
            inspector.finish();
        }
        if let (Some(checker), None) = (&mut guard, &refused) {
            scratch.clear();
            if let Err(why) = checker.finish(&mut scratch) {
                refused = Some(why);
            }
        }
        drop(reader);
        let digest = handle.finish().ok();
        let mut report = ReadReport {
            sha256: digest
                .as_ref()
                .map(|d| d.sha256.clone())
                .unwrap_or_default(),
            stored_bytes: digest.as_ref().map(|d| d.bytes).unwrap_or_default(),
            dump_bytes,
            tables: inspector
                .as_ref()
                .map(|i| i.tables.clone())
                .unwrap_or_default(),
            roles: inspector
                .as_ref()
                .map(|i| i.roles.iter().cloned().collect())
                .unwrap_or_default(),
            problems: Vec::new(),
        };
        if let Some(broken) = broken {
            // The first failure says it all; what follows it would only repeat it.
            report.problems.push(broken);
            if let Some(m) = manifest.as_ref() {
                if report.stored_bytes != m.stored_bytes {
                    report.problems.push(format!(
                        "size: {} bytes, the manifest says {} (truncated or appended to)",
                        report.stored_bytes, m.stored_bytes
                    ));
                }
            }
            return Ok(report);
        }
        check_read(manifest.as_ref(), format, inspector.as_ref(), &mut report);
        if let Some(tar) = &tar {
            match (
                tar.broken,
                tar.start(),
                manifest.as_ref().and_then(|m| m.base.as_ref()),
            ) {
                (true, _, _) => report
                    .problems
                    .push("the base backup's tar is damaged".into()),
                (false, None, _) => report
                    .problems
                    .push("the base backup has no backup_label: it cannot be restored".into()),
                (false, Some((start, _)), Some(base)) if start != base.start_lsn => {
                    report.problems.push(format!(
                        "the base backup starts at {start}, its manifest says {}",
                        base.start_lsn
                    ))
                }
                _ => {}
            }
        }
        if let Some(why) = refused {
            report
                .problems
                .push(format!("a restore would refuse it: {why}"));
        }
        Ok(report)
    })
    .await
    .map_err(|err| anyhow!("the verify pipeline failed: {err}"))?
}

/// The check before a restore when the backup has a manifest: the stored bytes' size and
/// SHA-256 against it (exactly the bytes backup create wrote and checked complete), and the
/// key against the age header. Reading ciphertext once is much cheaper than decrypting and
/// decompressing everything first.
pub async fn check_stored(
    source: &Source,
    manifest: &Manifest,
    shape: &Shape,
    decrypt: &Decrypt,
) -> Result<Vec<String>> {
    let raw = source.open_raw().await?;
    let digest = tokio::task::spawn_blocking(move || {
        let mut hashing = pipeline::Hashing::new(raw);
        std::io::copy(&mut hashing, &mut std::io::sink()).map(|_| hashing.digest())
    })
    .await
    .map_err(|err| anyhow!("the checksum pass failed: {err}"))?;
    let mut problems = Vec::new();
    match digest {
        Err(err) => problems.push(crate::error::describe(&pipeline::read_error(err)).0),
        Ok((sha256, bytes)) => {
            if bytes != manifest.stored_bytes {
                problems.push(format!(
                    "size: {bytes} bytes, the manifest says {} (truncated or appended to)",
                    manifest.stored_bytes
                ));
            } else if sha256 != manifest.sha256 {
                problems.push(
                    "checksum mismatch: the file is not the one backup create wrote (damaged or replaced)"
                        .into(),
                );
            }
        }
    }
    if problems.is_empty() && shape.encrypted {
        // Open the header: a wrong key or passphrase fails here.
        let raw = source.open_raw().await?;
        let compression = shape.compression;
        let decrypt = decrypt.clone();
        tokio::task::spawn_blocking(move || pipeline::open(raw, compression, &decrypt).map(|_| ()))
            .await
            .map_err(|err| anyhow!("the key check failed: {err}"))??;
    }
    Ok(problems)
}

/// Compare the server's COPY counts (in dump order) with the manifest; None when they
/// cannot be matched up (then count with SQL).
pub fn compare_copy_tags(
    order: &[String],
    tags: &[u64],
    expected: &BTreeMap<String, u64>,
) -> Option<Vec<String>> {
    if order.len() != tags.len() || order.is_empty() {
        return None;
    }
    let mut problems = Vec::new();
    for (table, want) in expected {
        match order.iter().position(|t| t == table) {
            Some(index) if tags[index] != *want => problems.push(format!(
                "table {table}: {} rows restored, {want} in the backup",
                tags[index]
            )),
            Some(_) => {}
            None => problems.push(format!("table {table} was not restored")),
        }
    }
    Some(problems)
}

/// Compare the rows of the restored tables with the manifest; the differences.
pub async fn compare_rows(
    pg: &PostgresSettings,
    database: &str,
    expected: &BTreeMap<String, u64>,
    timeout: std::time::Duration,
) -> Result<Vec<String>> {
    let client = sql::connect_to(pg, database, timeout).await?;
    let mut problems = Vec::new();
    let mut tables = Vec::new();
    for name in expected.keys() {
        match sql::split_qualified(name) {
            Some(pair) => tables.push((name.clone(), pair)),
            None => problems.push(format!("cannot read the table name {name} in the manifest")),
        }
    }
    let pairs: Vec<(String, String)> = tables.iter().map(|(_, pair)| pair.clone()).collect();
    let present: Vec<(String, String)> = sql::user_tables(&client).await?;
    for (name, pair) in &tables {
        if !present.contains(pair) {
            problems.push(format!("table {name} is missing after the restore"));
        }
    }
    let existing: Vec<(String, String)> =
        pairs.into_iter().filter(|p| present.contains(p)).collect();
    let counts = sql::count_rows(&client, &existing).await?;
    for (name, (schema, table)) in &tables {
        let Some(found) = counts.get(&sql::dump_name(schema, table)) else {
            continue;
        };
        let want = expected[name];
        if *found != want {
            problems.push(format!(
                "table {name}: {found} rows restored, {want} in the backup"
            ));
        }
    }
    Ok(problems)
}

/// Record a successful verification in the manifest.
pub async fn mark_verified(source: &Source, manifest: &Manifest, restore_test: bool) -> Result<()> {
    let mut manifest = manifest.clone();
    manifest.verified = Some(manifest::Verification {
        at: Utc::now(),
        restore_test,
    });
    source.save_manifest(&manifest).await
}

/// The error for a backup that does not read back as written, listing the problems.
pub fn problems_error(source: &Source, problems: &[String]) -> anyhow::Error {
    anyhow!("{} does not read back as written: {}", source.describe(), problems.join("; "))
        .context(Hint(
            "do not rely on this backup: take a new one (gymops backup create) and restore an older verified one if needed".into(),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::load::copy_tags;

    #[test]
    fn psql_copy_tags_are_matched_to_the_dump_order() {
        let output =
            "SET\nSET\nCREATE TABLE\nALTER TABLE\nCOPY 3000\nCOPY 0\nCOPY 2\nCREATE INDEX\n";
        let tags = copy_tags(output);
        assert_eq!(tags, [3000, 0, 2]);
        let order = vec![
            "public.member".to_string(),
            "public.empty".to_string(),
            "\"Reports\".\"Monthly Sum\"".to_string(),
        ];
        let expected = BTreeMap::from([
            ("public.member".to_string(), 3000),
            ("public.empty".to_string(), 0),
            ("\"Reports\".\"Monthly Sum\"".to_string(), 2),
        ]);
        assert_eq!(compare_copy_tags(&order, &tags, &expected), Some(vec![]));
        let short = BTreeMap::from([("public.member".to_string(), 2999)]);
        assert_eq!(
            compare_copy_tags(&order, &tags, &short),
            Some(vec![
                "table public.member: 3000 rows restored, 2999 in the backup".to_string()
            ])
        );
        assert_eq!(compare_copy_tags(&order, &tags[..2], &expected), None);
    }
}
