//! `gymops backup create`.

use anyhow::{anyhow, Context as _, Result};
use comfy_table::Cell;

use super::super::Context;
use crate::backup::create::{create, Created, Options};
use crate::backup::manifest::{self, Encryption, EncryptionMethod};
use crate::backup::pipeline::{default_level, Encrypt};
use crate::cli::BackupCreateArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};
use crate::settings::{Compression, Secret, Settings};

/// age recipients from a file: one per line, `#` comments (like `age -R`). A file that
/// names no key is an error: it was asked for to encrypt, and must not yield a plaintext
/// backup.
fn recipients_from_file(path: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the recipients file {}", path.display()))?;
    let keys: Vec<String> = text
        .lines()
        .map(|l| l.trim().trim_start_matches('\u{feff}'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if keys.is_empty() {
        return Err(anyhow!(
            "the recipients file {} names no age public key; nothing was backed up",
            path.display()
        ))
        .hint("put one age1... key per line in it (`age-keygen -y key.txt` prints it)");
    }
    Ok(keys)
}

/// The encryption of a new backup: flags first, then settings.
pub fn encryption(ctx: &Context, args: &BackupCreateArgs) -> Result<(Encrypt, Encryption)> {
    if args.passphrase.is_some() {
        return Err(anyhow!(
            "--passphrase is refused: a passphrase on the command line is visible to every user of this machine"
        ))
        .hint("put it in a file (mode 0600) and use --passphrase-file FILE, or set GYMOPS_BACKUP_PASSPHRASE");
    }
    if args.no_encryption {
        return Ok(plaintext());
    }
    let mut keys = args.recipient.clone();
    if let Some(path) = &args.recipients_file {
        keys.extend(recipients_from_file(path)?);
    }
    let passphrase = match &args.passphrase_file {
        Some(path) => Some(super::read_passphrase(path)?),
        None => None,
    };
    // Settings only when no flag chose.
    if keys.is_empty() && passphrase.is_none() {
        return from_settings(ctx);
    }
    choose(keys, passphrase)
}

/// The encryption settings ask for (`backup.recipients`, `recipients_file`, passphrase):
/// regular backups without flags, and a restore's safety backup. With none of them set,
/// a backup is plaintext only when `backup.encrypt: false` says so.
pub fn from_settings(ctx: &Context) -> Result<(Encrypt, Encryption)> {
    let backup = &ctx.settings().backup;
    let mut keys = backup.recipients.clone();
    if let Some(path) = &backup.recipients_file {
        keys.extend(recipients_from_file(&ctx.loaded.resolve_path(path))?);
    }
    if keys.is_empty() && backup.passphrase.is_none() {
        if !backup.encrypt {
            return Ok(plaintext());
        }
        return Err(anyhow!(
            "no encryption key is set up, and the database holds members' personal data; nothing was backed up"
        ))
        .hint("set backup.recipients (age1... public keys) or GYMOPS_BACKUP_PASSPHRASE; or, for a plaintext backup on purpose, --no-encrypt or backup.encrypt: false");
    }
    choose(keys, backup.passphrase.clone())
}

/// A restore's safety backup: encrypted as settings say; with no encryption set up, to the
/// key the restore was given (its identities' public keys, or the same passphrase), so the
/// operator can read it back with what they hold.
pub fn for_safety_backup(
    ctx: &Context,
    key: &crate::backup::restore::Key,
) -> Result<(Encrypt, Encryption)> {
    use crate::backup::restore::Key;
    let backup = &ctx.settings().backup;
    let configured = !backup.recipients.is_empty()
        || backup.recipients_file.is_some()
        || backup.passphrase.is_some()
        || !backup.encrypt;
    match key {
        Key::Identities(identities) if !configured => choose(
            identities
                .iter()
                .map(|i| i.to_public().to_string())
                .collect(),
            None,
        ),
        Key::Passphrase(passphrase) if !configured => choose(Vec::new(), Some(passphrase.clone())),
        _ => from_settings(ctx).map_err(|err| {
            err.context(crate::error::Hint(
                "set up backup encryption, give the restore --identity or --passphrase-file (the safety backup is encrypted to it), or skip the safety backup with --no-safety-backup".into(),
            ))
        }),
    }
}

/// The options of a restore's safety backup of what it replaces (label `pre-restore`):
/// logical (`format` of the settings) or a base backup (`DumpFormat::Tar`), compressed as
/// settings say, encrypted by [`for_safety_backup`], in backup.dir, never uploaded.
pub fn safety_options(
    ctx: &Context,
    key: &crate::backup::restore::Key,
    format: crate::settings::DumpFormat,
) -> Result<Options> {
    let settings = ctx.settings();
    let (encrypt, encryption) = for_safety_backup(ctx, key)?;
    Ok(Options {
        format,
        compression: settings.backup.compression,
        level: settings
            .backup
            .level
            .unwrap_or(default_level(settings.backup.compression)),
        encrypt,
        encryption,
        dir: ctx.loaded.resolve_path(&settings.backup.dir),
        label: Some("pre-restore".into()),
        s3: None,
        s3_unavailable: None,
        progress: false,
        connect_timeout: settings.postgres.connect_timeout,
        signing: super::signing_key(ctx)?,
        stall_timeout: settings.backup.stall_timeout,
    })
}

/// No encryption (`--no-encrypt`, `backup.encrypt: false`, a WAL archive started so).
pub fn plaintext() -> (Encrypt, Encryption) {
    (
        Encrypt::None,
        Encryption {
            method: EncryptionMethod::None,
            recipients: Vec::new(),
        },
    )
}

/// Recipients or a passphrase (not both); the caller made sure there is one of them.
fn choose(keys: Vec<String>, passphrase: Option<Secret>) -> Result<(Encrypt, Encryption)> {
    match (keys.is_empty(), passphrase) {
        (true, None) => Err(anyhow!("no encryption key was given; nothing was backed up"))
            .hint("give --recipient age1..., --recipients-file FILE or --passphrase-file FILE, or --no-encrypt for a plaintext backup"),
        (false, Some(_)) => Err(anyhow!(
            "both recipients and a passphrase are set; age encrypts to one or the other"
        ))
        .hint("use recipients (public keys: only they are needed on this host) or a passphrase, not both"),
        (true, Some(passphrase)) => Ok((
            Encrypt::Passphrase(passphrase),
            Encryption {
                method: EncryptionMethod::Passphrase,
                recipients: Vec::new(),
            },
        )),
        (false, None) => {
            let mut parsed = Vec::new();
            for key in &keys {
                let recipient: age::x25519::Recipient = key.parse().map_err(|_| {
                    anyhow!("`{key}` is not an age X25519 public key (age1...)")
                })
                .hint("give the public key from `age-keygen -y key.txt` (never the secret key)")?;
                parsed.push(recipient);
            }
            let fingerprints = keys.iter().map(|k| manifest::fingerprint(k)).collect();
            Ok((
                Encrypt::Recipients(parsed),
                Encryption {
                    method: EncryptionMethod::X25519,
                    recipients: fingerprints,
                },
            ))
        }
    }
}

pub fn options(ctx: &Context, args: &BackupCreateArgs, settings: &Settings) -> Result<Options> {
    let format = match args.kind {
        crate::cli::BackupType::Base => crate::settings::DumpFormat::Tar,
        crate::cli::BackupType::Logical => args.format.unwrap_or(settings.backup.format),
    };
    let compression = args.compression.unwrap_or(settings.backup.compression);
    let level = args
        .level
        .or(settings.backup.level)
        .unwrap_or(default_level(compression));
    match compression {
        Compression::Zstd if !(1..=22).contains(&level) => {
            return Err(anyhow!("zstd level {level} is not 1-22"))
                .hint("1 is the fastest, 19 is small");
        }
        Compression::Gzip if !(1..=9).contains(&level) => {
            return Err(anyhow!("gzip level {level} is not 1-9")).hint("6 is gzip's default");
        }
        _ => {}
    }
    let stall = settings.backup.stall_timeout;
    if stall.is_zero() || stall > std::time::Duration::from_secs(24 * 3600) {
        return Err(anyhow!(
            "backup.stall_timeout {} is not between 1s and 24h",
            humantime::format_duration(stall)
        ))
        .hint("set backup.stall_timeout to how long pg_dump may send nothing, e.g. 5m");
    }
    if let Some(label) = &args.label {
        manifest::check_label(label).hint("for example --label pre-deploy")?;
    }
    let (encrypt, encryption) = encryption(ctx, args)?;
    if let Some(endpoint) = settings
        .backup
        .s3
        .endpoint
        .as_ref()
        .filter(|_| args.upload_s3)
    {
        let host = endpoint.host_str().unwrap_or("");
        if endpoint.scheme() == "http"
            && !crate::netutil::is_loopback_host(host)
            && !args.allow_insecure
        {
            return Err(anyhow!(
                "backup.s3.endpoint {endpoint} is plain http to another host; nothing was backed up"
            ))
            .hint("use https, an endpoint on this host, or --allow-insecure if the network in between is yours");
        }
    }
    let (s3, s3_unavailable) = match args.upload_s3.then(|| super::s3(ctx)) {
        Some(Ok(s3)) => (Some(s3), None),
        Some(Err(err)) => (None, Some(crate::error::describe(&err).0)),
        None => (None, None),
    };
    Ok(Options {
        format,
        compression,
        level,
        encrypt,
        encryption,
        dir: ctx.loaded.resolve_path(&settings.backup.dir),
        label: args.label.clone(),
        s3,
        s3_unavailable,
        progress: ctx.printer.shows_progress(),
        connect_timeout: settings.postgres.connect_timeout,
        signing: super::signing_key(ctx)?,
        stall_timeout: settings.backup.stall_timeout,
    })
}

pub async fn run(ctx: &Context, args: &BackupCreateArgs) -> Result<ExitStatus> {
    let result = backup(ctx, args).await;
    // A failed backup (often a cron job nobody watches) is told through notify.channels.
    if let Err(err) = &result {
        let event = crate::notify::Event::new(
            ctx.settings(),
            "BackupFailed",
            crate::settings::Severity::Error,
            crate::i18n::tr_args(
                "notify-backup-failed",
                &[("error", crate::error::describe(err).0)],
            ),
        )
        .detail("database", ctx.settings().postgres.database.clone());
        crate::commands::notify_event(ctx, event).await;
    }
    result
}

async fn backup(ctx: &Context, args: &BackupCreateArgs) -> Result<ExitStatus> {
    let settings = ctx.settings();
    crate::backup::sql::check_database_name(&settings.postgres.database)?;
    let options = options(ctx, args, settings)?;
    if options.encryption.method == EncryptionMethod::None {
        ctx.printer.note(if args.no_encryption {
            "this backup is not encrypted (--no-encrypt)"
        } else {
            "this backup is not encrypted (backup.encrypt: false)"
        });
    }
    let runner = super::runner(ctx, args.target.local).await?;
    let created = create(
        &runner,
        &settings.postgres,
        settings.postgres.password.as_ref(),
        options,
    )
    .await?;
    if created.manifest.base.is_some() {
        // The segment holding the end point closes now, so the archive has all the
        // backup needs without waiting for the next 16 MiB of writes.
        if let Ok(client) =
            crate::pg::connect(&settings.postgres, settings.postgres.connect_timeout).await
        {
            let _ = crate::pg::replication::switch_wal(&client).await;
        }
        if crate::backup::wal::archive::read_identity(&super::wal::wal_dir(ctx))?.is_none() {
            ctx.printer.warn("no WAL archive is set up: this base backup cannot be restored without the WAL from its start to its end point; start archiving with `gymops backup wal start`");
        }
    }
    ctx.printer.emit_checked(
        if created.upload_error.is_some() {
            Status::Unknown
        } else {
            Status::Ok
        },
        &created,
        None,
        |printer| render(printer, &created),
    )?;
    if let Some(error) = &created.upload_error {
        return Err(anyhow!(
            "the backup {} is complete here, but the S3 upload failed: {error}",
            created.path.display()
        ))
        .hint("check backup.s3.* and the S3 endpoint, then upload again with a new backup create --upload-s3");
    }
    Ok(Status::Ok)
}

fn render(printer: &Printer, created: &Created) -> String {
    let m = &created.manifest;
    let rate = if created.seconds > 0.0 {
        format!(
            "{}/s",
            human_bytes((m.dump_bytes as f64 / created.seconds) as u64)
        )
    } else {
        "-".into()
    };
    let ratio = if m.stored_bytes > 0 {
        format!("{:.1}x", m.dump_bytes as f64 / m.stored_bytes as f64)
    } else {
        "-".into()
    };
    let encryption = match m.encryption.method {
        EncryptionMethod::None => crate::say!("none"),
        EncryptionMethod::Passphrase => crate::say!("age (passphrase)"),
        EncryptionMethod::X25519 => {
            let count = m.encryption.recipients.len();
            crate::say!("age ({count} recipient(s))")
        }
    };
    let rows: Vec<Vec<Cell>> = [
        ("file", created.path.display().to_string()),
        ("database", m.database.clone()),
        (
            "format",
            format!("{:?}, {:?}", m.format, m.compression).to_lowercase(),
        ),
        ("encryption", encryption),
        ("dump size", human_bytes(m.dump_bytes)),
        (
            "stored size",
            format!("{} ({ratio})", human_bytes(m.stored_bytes)),
        ),
        ("time", format!("{:.1} s ({rate})", created.seconds)),
        ("sha256", m.sha256.clone()),
        ("tables", {
            let (tables, rows, source) = (
                m.tables.len(),
                m.tables.values().sum::<u64>(),
                m.row_counts.to_string(),
            );
            crate::say!("{tables} ({rows} rows, counted from the {source})")
        }),
        (
            "s3",
            created
                .uploaded
                .clone()
                .or_else(|| {
                    created
                        .upload_error
                        .as_ref()
                        .map(|e| crate::say!("FAILED: {e}"))
                })
                .unwrap_or_else(|| "-".into()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| vec![Cell::new(crate::i18n::header(k)), Cell::new(v)])
    .collect();
    printer.table(&["BACKUP", ""], rows)
}
