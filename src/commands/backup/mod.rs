//! `gymops backup` and its subcommands; what they share: where the tools run, the keys, the
//! S3 client, where a backup is read from.

pub mod create;
pub mod list;
pub mod monitor;
pub mod pitr;
pub mod prune;
pub mod replace;
pub mod restore;
pub mod verify;
pub mod wal;

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Result};

use super::Context;
use crate::backup::manifest::{EncryptionMethod, Manifest};
use crate::backup::process::Runner;
use crate::backup::restore::{read_identities, Key, Source};
use crate::backup::s3::{parse_s3_url, S3};
use crate::backup::signing::{self, SigningKey};
use crate::cli::{BackupCommand, BackupKeyArgs};
use crate::error::HintExt;
use crate::exit::ExitStatus;
use crate::settings::SigningPublicKey;

pub async fn run(ctx: &Context, command: &BackupCommand) -> Result<ExitStatus> {
    match command {
        BackupCommand::Create(args) => create::run(ctx, args).await,
        BackupCommand::List(args) => list::run(ctx, args).await,
        BackupCommand::Verify(args) => verify::run(ctx, args).await,
        BackupCommand::Monitor(args) => monitor::run(ctx, args).await,
        BackupCommand::Prune(args) => prune::run(ctx, args).await,
        BackupCommand::Restore(args) => restore::run(ctx, args).await,
        BackupCommand::Wal(command) => wal::run(ctx, command).await,
    }
}

/// Where pg_dump / psql / pg_restore run: this host, or the running PostgreSQL container.
pub async fn runner(ctx: &Context, local: bool) -> Result<Runner> {
    if local {
        return Ok(Runner::Local);
    }
    let settings = ctx.settings();
    let engine = ctx.engine().await?;
    let container = super::container_of(ctx, engine, &settings.postgres.service).await?;
    Ok(Runner::Container {
        engine: Arc::new(engine.clone()),
        container,
        bin_dir: settings.postgres.bin_dir.clone(),
    })
}

/// The S3 client from settings.
pub fn s3(ctx: &Context) -> Result<Arc<S3>> {
    Ok(Arc::new(S3::new(&ctx.settings().backup.s3, ctx.http()?)?))
}

/// A backup named on the command line: a path, or s3://BUCKET/KEY.
pub fn source(ctx: &Context, text: &str) -> Result<Source> {
    if text.starts_with("s3://") {
        let (bucket, key) = parse_s3_url(text)
            .ok_or_else(|| anyhow!("`{text}` is not s3://BUCKET/KEY"))
            .hint("for example s3://gym-backups/backups/fitness_gym_db_backup_full_20261127_020000.sql.zst.age")?;
        let mut settings = ctx.settings().backup.s3.clone();
        settings.bucket = Some(bucket);
        return Ok(Source::S3 {
            s3: Arc::new(S3::new(&settings, ctx.http()?)?),
            key,
        });
    }
    let path = Path::new(text);
    if !path.is_file() {
        return Err(anyhow!("no backup file {text}"))
            .hint("`gymops backup list` shows the backups; give a path or s3://BUCKET/KEY");
    }
    Ok(Source::Local(path.to_path_buf()))
}

/// This host's backup signing key; created on first use, with a note saying where and
/// what its public half is.
pub fn signing_key(ctx: &Context) -> Result<Arc<SigningKey>> {
    let setting = ctx.settings().backup.signing_key_file.as_ref();
    let path = signing::key_path(
        setting.map(|p| ctx.loaded.resolve_path(p)).as_deref(),
        &ctx.environment,
    )?;
    let (key, created) = signing::load_or_create(&path)?;
    if created {
        ctx.printer.note(&format!(
            "created the backup signing key {} (keep a copy with the age key); hosts that restore these backups trust it with backup.trusted_keys: [\"{}\"]",
            path.display(),
            key.public()
        ));
    }
    Ok(Arc::new(key))
}

/// The keys whose signed backups are accepted: this host's own (when it has one) and
/// `backup.trusted_keys`.
pub fn trusted_keys(ctx: &Context) -> Result<Vec<SigningPublicKey>> {
    let settings = &ctx.settings().backup;
    let mut keys = settings.trusted_keys.clone();
    let setting = settings.signing_key_file.as_ref();
    if let Ok(path) = signing::key_path(
        setting.map(|p| ctx.loaded.resolve_path(p)).as_deref(),
        &ctx.environment,
    ) {
        if let Some(own) = signing::load(&path)? {
            keys.push(own.public());
        }
    }
    Ok(keys)
}

/// Whether settings set up encryption for backups.
fn encryption_configured(ctx: &Context) -> bool {
    let backup = &ctx.settings().backup;
    !backup.recipients.is_empty() || backup.recipients_file.is_some() || backup.passphrase.is_some()
}

/// Why this backup is not one gymops wrote and vouches for (None: it is): no manifest, an
/// unsigned or mis-signed one, a key nobody trusts, or plaintext while encryption is set up.
pub fn untrusted(ctx: &Context, manifest: Option<&Manifest>) -> Result<Option<String>> {
    let Some(manifest) = manifest else {
        return Ok(Some(crate::say!("it has no manifest")));
    };
    if let Some(problem) = signing::check(manifest, &trusted_keys(ctx)?).problem() {
        return Ok(Some(problem));
    }
    if manifest.encryption.method == EncryptionMethod::None && encryption_configured(ctx) {
        return Ok(Some(crate::say!(
            "it is not encrypted, while encryption is set up for this deployment"
        )));
    }
    Ok(None)
}

/// Refuse a backup gymops cannot vouch for (see [`untrusted`]) unless the operator said
/// `--trust-unsigned`; then a warning.
pub fn authenticate(
    ctx: &Context,
    source: &Source,
    manifest: Option<&Manifest>,
    trust_unsigned: bool,
) -> Result<()> {
    let Some(problem) = untrusted(ctx, manifest)? else {
        return Ok(());
    };
    if trust_unsigned {
        ctx.printer.warn(&format!(
            "{}: {problem}; accepted because of --trust-unsigned",
            source.describe()
        ));
        return Ok(());
    }
    Err(anyhow!(
        "{} is refused: {problem}; nothing was restored or run",
        source.describe()
    ))
    .hint("restore only backups this host (or a key in backup.trusted_keys) signed; if you checked where this file came from, add --trust-unsigned")
}

/// The backup `FILE` or `--latest` names.
pub fn chosen(ctx: &Context, choice: &crate::cli::BackupChoiceArgs) -> Result<Source> {
    match &choice.file {
        Some(file) => source(ctx, file),
        None => newest_local(ctx),
    }
}

/// The newest backup of the backup directory (`--latest`).
pub fn newest_local(ctx: &Context) -> Result<Source> {
    newest_local_where(ctx, |_| true)
}

/// The newest logical backup (`backup restore --latest` into a database: a base backup is
/// restored by `--type base`).
pub fn newest_logical(ctx: &Context) -> Result<Source> {
    newest_local_where(ctx, |entry| !entry.is_base())
}

fn newest_local_where(ctx: &Context, wanted: impl Fn(&list::Entry) -> bool) -> Result<Source> {
    let dir = ctx.loaded.resolve_path(&ctx.settings().backup.dir);
    let newest = list::local_entries(ctx)?
        .into_iter()
        .find(|entry| wanted(entry))
        .ok_or_else(|| anyhow!("no backups in {}", dir.display()))
        .hint("take one with `gymops backup create`, or name the file")?;
    Ok(Source::Local(newest.location.into()))
}

/// The key to read an encrypted backup: flags, then settings.
pub fn key(ctx: &Context, args: &BackupKeyArgs) -> Result<Key> {
    let backup = &ctx.settings().backup;
    if let Some(path) = &args.identity {
        return Ok(Key::Identities(read_identities(path)?));
    }
    if let Some(path) = &args.passphrase_file {
        return Ok(Key::Passphrase(read_passphrase(path)?));
    }
    if let Some(path) = &backup.identity_file {
        return Ok(Key::Identities(read_identities(
            &ctx.loaded.resolve_path(path),
        )?));
    }
    if let Some(passphrase) = &backup.passphrase {
        return Ok(Key::Passphrase(passphrase.clone()));
    }
    Ok(Key::None)
}

pub fn read_passphrase(path: &Path) -> Result<crate::settings::Secret> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| anyhow!("cannot read the passphrase file {}: {err}", path.display()))?;
    let passphrase = text.trim_end_matches(['\n', '\r']).to_string();
    if passphrase.is_empty() {
        return Err(anyhow!("the passphrase file {} is empty", path.display()));
    }
    Ok(crate::settings::Secret::new(passphrase))
}

/// `50MiB`, `1G`, `500MB`, `1024` -> bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| anyhow!("`{text}` is not a size"))
        .hint("write a size like 500MB, 50MiB or 1G")?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(anyhow!("`{other}` in `{text}` is not a size unit"))
                .hint("use B, KB, KiB, MB, MiB, GB or GiB")
        }
    };
    Ok((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("50MiB").unwrap(), 50 * 1024 * 1024);
        assert_eq!(parse_size("1.5G").unwrap(), 1_500_000_000);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
