//! Loading a backup into a database: psql or pg_restore fed the checked stream in one
//! transaction that commits only when every byte matched the manifest, with psql's
//! meta-commands refused and turned off, lock waits bounded, and a stalled loader ended.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::inspect::{Inspector, MetaGuard, OwnerFilter};
use super::manifest::Manifest;
use super::pipeline::{self, Decrypt};
use super::process::Runner;
use super::restore::{Shape, Source};
use super::sql;
use crate::error::HintExt;
use crate::settings::{DumpFormat, PostgresSettings, Secret};

/// How to load the backup into a database.
pub struct Load<'a> {
    pub runner: &'a Runner,
    pub pg: &'a PostgresSettings,
    pub password: Option<&'a Secret>,
    pub database: &'a str,
    pub no_owner: bool,
    /// The manifest the stored bytes must match (checked in the very pass that loads).
    pub manifest: Option<&'a Manifest>,
    /// How long a plain restore waits for a lock before it fails (and rolls back).
    pub lock_timeout: std::time::Duration,
    /// The loader taking no input this long while its PostgreSQL session is not working on
    /// a statement (or PostgreSQL does not answer) ends the restore, rolled back.
    pub stall_timeout: std::time::Duration,
}

fn loader_args(load: &Load, format: DumpFormat) -> Result<(&'static str, Vec<String>)> {
    let local = matches!(load.runner, Runner::Local);
    let mut args = vec![
        "--no-password".to_string(),
        "--username".into(),
        load.pg.user.clone(),
        "--dbname".into(),
        load.database.to_string(),
    ];
    if local {
        args.extend([
            "--host".into(),
            load.pg.host.clone(),
            "--port".into(),
            load.pg.port.to_string(),
        ]);
    }
    match format {
        DumpFormat::Plain => {
            // Not --quiet: psql's `COPY n` tags are the server's own row counts. Not
            // --single-transaction: the stream opens the transaction itself and commits it
            // only after every byte was checked (see `load`).
            args.extend([
                "--no-psqlrc".into(),
                "--set".into(),
                "ON_ERROR_STOP=1".into(),
                "--file".into(),
                "-".into(),
            ]);
            Ok(("psql", args))
        }
        DumpFormat::Custom => {
            args.extend(["--exit-on-error".into(), "--single-transaction".into()]);
            if load.no_owner {
                args.extend(["--no-owner".into(), "--no-privileges".into()]);
            }
            Ok(("pg_restore", args))
        }
        DumpFormat::Tar => Err(anyhow::anyhow!(
            "a base backup is not loaded into a database: it becomes a new PostgreSQL data directory"
        ))
        .hint("restore it with `gymops backup restore FILE` (a new container), or to a time with --at"),
    }
}

/// Rows the server reported for each `COPY` (psql's command tags), in order.
pub fn copy_tags(output: &str) -> Vec<u64> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("COPY "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// Whether this psql has `\restrict` (which turns off every other meta-command): 13.22,
/// 14.19, 15.14, 16.10, 17.6 and later, from `psql --version`.
pub fn restrict_supported(version: &str) -> bool {
    let Some(number) = version
        .split_whitespace()
        .find(|word| word.starts_with(|c: char| c.is_ascii_digit()))
    else {
        return false;
    };
    let mut parts = number
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    match major {
        18.. => true,
        17 => minor >= 6,
        16 => minor >= 10,
        15 => minor >= 14,
        14 => minor >= 19,
        13 => minor >= 22,
        _ => false,
    }
}

async fn psql_has_restrict(runner: &Runner) -> bool {
    let Ok(running) = runner
        .spawn("psql", &["--version".into()], &[], false)
        .await
    else {
        return false;
    };
    running.output(4096).await.is_ok_and(|(out, finished)| {
        finished.success() && restrict_supported(&String::from_utf8_lossy(&out))
    })
}

/// A key for `\restrict` nobody can guess: the stream cannot `\unrestrict` it.
fn restrict_key() -> Result<String> {
    crate::random::hex_string::<24>()
}

/// Stream the backup into the database (psql or pg_restore), in one transaction, checking
/// the stored bytes against the manifest in the same pass: the transaction commits only
/// when every byte was read, matched the manifest's size and SHA-256, and (for SQL dumps)
/// held no psql meta-command. A plain dump goes to psql as `\restrict KEY` (where psql has
/// it), `BEGIN;`, the checked dump, and `COMMIT;` last; anything wrong and psql gets the end
/// of its input without the COMMIT, so PostgreSQL rolls everything back. A custom archive's
/// last chunk is held back until the checks pass, so pg_restore never sees a whole archive
/// that was not the manifest's. For a plain dump, the rows the server reported per COPY.
pub async fn load(
    source: &Source,
    shape: &Shape,
    decrypt: Decrypt,
    load: &Load<'_>,
) -> Result<Option<Loaded>> {
    let (program, args) = loader_args(load, shape.format)?;
    let tls_env = load.runner.tls_env(load.pg);
    // The loader's session, to tell a long statement from a stall (see `stalled`).
    let application = format!("gymops-restore-{}", std::process::id());
    let app_env = [("PGAPPNAME", Secret::new(application.clone()))];
    let mut env = load.runner.password_env(load.pg, load.password).await;
    env.extend(tls_env.iter().map(|(key, value)| (*key, value)));
    env.extend(app_env.iter().map(|(key, value)| (*key, value)));
    let plain = shape.format == DumpFormat::Plain;
    let mut preamble = Vec::new();
    if plain {
        if psql_has_restrict(load.runner).await {
            preamble.extend_from_slice(format!("\\restrict {}\n", restrict_key()?).as_bytes());
        } else {
            tracing::info!("this psql has no \\restrict: meta-commands are refused by line only");
        }
        preamble.extend_from_slice(b"BEGIN;\n");
    }
    let expected = load.manifest.map(|m| (m.sha256.clone(), m.stored_bytes));
    let raw = source.open_raw().await?;
    let mut running = load.runner.spawn(program, &args, &env, true).await?;
    let stdin = running
        .stdin
        .take()
        .ok_or_else(|| anyhow!("{program} has no input"))?;
    // Read what the loader prints (so it never blocks on a full pipe): psql's command tags.
    let mut stdout = std::mem::replace(&mut running.stdout, mpsc::channel::<Bytes>(1).1);
    let drain = tokio::spawn(async move {
        let mut tags = Vec::new();
        let mut partial = Vec::new();
        while let Some(chunk) = stdout.recv().await {
            partial.extend_from_slice(&chunk);
            if let Some(end) = partial.iter().rposition(|b| *b == b'\n') {
                tags.extend(copy_tags(&String::from_utf8_lossy(&partial[..end])));
                partial.drain(..=end);
            }
        }
        tags.extend(copy_tags(&String::from_utf8_lossy(&partial)));
        tags
    });
    let compression = shape.compression;
    let filter_owner = load.no_owner && plain;
    let lock_timeout = load.lock_timeout;
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent_by_feeder = sent.clone();
    let feeder = tokio::task::spawn_blocking(move || {
        let (mut reader, hash) = pipeline::open(raw, compression, &decrypt)?;
        let send = |chunk: Vec<u8>| -> bool {
            // False: the loader stopped reading; its exit status says why.
            let length = chunk.len() as u64;
            let delivered = chunk.is_empty() || stdin.blocking_send(Bytes::from(chunk)).is_ok();
            sent_by_feeder.fetch_add(length, std::sync::atomic::Ordering::Relaxed);
            delivered
        };
        let mut filter = filter_owner.then(OwnerFilter::default);
        let mut guard = plain.then(|| MetaGuard::with_lock_timeout(lock_timeout));
        // The COPY order, to match psql's COPY tags with tables.
        let mut inspector = plain.then(Inspector::default);
        // A custom archive's newest chunk waits until the next one (or the checks) come.
        let mut held: Option<Vec<u8>> = None;
        if !send(preamble) {
            return Ok(Fed::Stopped);
        }
        let mut buffer = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buffer).map_err(pipeline::read_error)?;
            let data = &buffer[..n];
            let mut chunk = Vec::with_capacity(n);
            match &mut guard {
                Some(guard) => {
                    let checked = if n == 0 {
                        guard.finish(&mut chunk)
                    } else {
                        guard.push(data, &mut chunk)
                    };
                    checked.map_err(|why| anyhow!("the dump is refused: {why}"))?;
                }
                None => chunk.extend_from_slice(data),
            }
            if let Some(inspector) = &mut inspector {
                inspector.feed(&chunk);
            }
            if let Some(filter) = &mut filter {
                let mut out = Vec::with_capacity(chunk.len());
                filter.push(&chunk, &mut out);
                if n == 0 {
                    filter.finish(&mut out);
                }
                chunk = out;
            }
            if plain {
                if !send(chunk) {
                    return Ok(Fed::Stopped);
                }
            } else if let Some(previous) = held.replace(chunk) {
                if !send(previous) {
                    return Ok(Fed::Stopped);
                }
            }
            if n == 0 {
                break;
            }
        }
        drop(reader);
        // Every byte is in: the checks that decide the commit.
        let digest = hash.finish().map_err(pipeline::read_error)?;
        if let Some((sha256, bytes)) = &expected {
            if digest.bytes != *bytes || digest.sha256 != *sha256 {
                return Err(anyhow!(
                    "the bytes loaded are not the ones the manifest describes ({} bytes read, {} expected; the file changed after it was checked)",
                    digest.bytes,
                    bytes
                ));
            }
        }
        if let Some(inspector) = &mut inspector {
            inspector.finish();
            if inspector.inside_copy() || !inspector.complete {
                return Err(anyhow!("the dump ends early (no end-of-dump marker)"));
            }
        }
        let last = if plain {
            b"\nCOMMIT;\n".to_vec()
        } else {
            held.take().unwrap_or_default()
        };
        if !send(last) {
            return Ok(Fed::Stopped);
        }
        Ok::<_, anyhow::Error>(Fed::All(inspector.map(|i| i.order).unwrap_or_default()))
    });
    let fed = tokio::select! {
        fed = feeder => fed.map_err(|err| anyhow!("the restore pipeline failed: {err}"))?,
        why = stalled(load, &application, &sent) => {
            return Err(anyhow!("{program} {why} (backup.stall_timeout)"))
                .context(format!("restore into {} failed and was rolled back", load.database))
                .hint("nothing of this attempt was committed; check PostgreSQL (`gymops health --check db`) and run the restore again");
        }
    };
    let finished = running.finish().await?;
    let tags = drain.await.unwrap_or_default();
    let rolled_back = || format!("restore into {} failed and was rolled back", load.database);
    let order = match fed {
        Err(err) => {
            return Err(err)
                .context(rolled_back())
                .hint("nothing of this attempt was committed; restore a backup that reads back whole (`gymops backup verify`)")
        }
        Ok(Fed::Stopped) | Ok(Fed::All(_)) if !finished.success() => {
            return Err(anyhow!("{}", finished.describe(program)))
                .context(rolled_back())
                .hint("fix the cause shown and run the restore again; nothing of this attempt was committed");
        }
        Ok(Fed::Stopped) => {
            return Err(anyhow!("{program} stopped reading its input")).context(rolled_back())
        }
        Ok(Fed::All(order)) => order,
    };
    Ok(plain.then_some(Loaded { order, tags }))
}

/// Resolves when the loader has taken no input for the stall timeout while its session
/// is not working on a statement: a long index build or COPY is not a stall (the server is
/// active); a frozen container, a hung engine connection or a PostgreSQL that does not
/// answer is. Says what was seen.
async fn stalled(
    load: &Load<'_>,
    application: &str,
    sent: &std::sync::atomic::AtomicU64,
) -> String {
    let stall = load.stall_timeout;
    let tick = (stall / 10).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut last = (
        sent.load(std::sync::atomic::Ordering::Relaxed),
        std::time::Instant::now(),
    );
    loop {
        tokio::time::sleep(tick).await;
        let now = sent.load(std::sync::atomic::Ordering::Relaxed);
        if now != last.0 {
            last = (now, std::time::Instant::now());
            continue;
        }
        if last.1.elapsed() < stall {
            continue;
        }
        let probe = stall.min(Duration::from_secs(10));
        let state = async {
            let client = sql::connect_to(load.pg, "postgres", probe).await?;
            let row = crate::deadline::bounded(probe, "no answer", async {
                client
                    .query_opt(
                        "SELECT state FROM pg_stat_activity WHERE application_name = $1 LIMIT 1",
                        &[&application],
                    )
                    .await
                    .map_err(|err| anyhow!("{}", crate::pg::postgres_error_text(&err)))
            })
            .await?;
            Ok::<_, anyhow::Error>(row.and_then(|r| r.get::<_, Option<String>>(0)))
        }
        .await;
        match state {
            // Working on a statement (a big index, a long COPY): not a stall.
            Ok(Some(state)) if state == "active" => {
                last.1 = std::time::Instant::now();
            }
            Ok(Some(state)) => {
                return format!(
                    "took no input for {} while its session was `{state}`",
                    humantime::format_duration(stall)
                )
            }
            Ok(None) => {
                return format!(
                    "took no input for {} and has no session in PostgreSQL",
                    humantime::format_duration(stall)
                )
            }
            Err(err) => {
                return format!(
                    "took no input for {} and PostgreSQL does not answer ({})",
                    humantime::format_duration(stall),
                    crate::error::describe(&err).0
                )
            }
        }
    }
}

/// How far the feeder got.
enum Fed {
    /// Everything was checked and handed over, with the tables in COPY order.
    All(Vec<String>),
    /// The loader stopped reading before the end.
    Stopped,
}

/// What a plain-format load saw: tables in COPY order, and psql's COPY counts.
pub struct Loaded {
    pub order: Vec<String>,
    pub tags: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrict_is_known_from_the_minor_releases_that_added_it() {
        for (version, has) in [
            ("psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", true),
            ("psql (PostgreSQL) 15.13", false),
            ("psql (PostgreSQL) 17.6", true),
            ("psql (PostgreSQL) 16.9", false),
            ("psql (PostgreSQL) 18beta1", true),
            ("psql (PostgreSQL) 13.22", true),
            ("psql (PostgreSQL) 12.22", false),
            ("garbage", false),
        ] {
            assert_eq!(restrict_supported(version), has, "{version}");
        }
    }
}
