//! `backup create`: pg_dump (in the PostgreSQL container, or local) streamed through
//! compression and encryption into a temporary file that is fsynced and renamed only when
//! pg_dump succeeded and its output is complete; then the manifest; the S3 upload runs
//! alongside and is completed, or aborted, at the end.

use crate::fsutil::OpenOptionsExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;
use tokio::sync::mpsc;

use super::manifest::{self, Encryption, EncryptionMethod, Manifest};
use super::pipeline::{self, Encrypt};
use super::process::{Runner, Running};
use super::runlog::{self, Run};
use super::s3::S3;
use super::signing::SigningKey;
use super::sql;
pub use super::tool_args::{base_args, dump_args};
use crate::settings::{Compression, DumpFormat, PostgresSettings, Secret};

pub struct Options {
    pub format: DumpFormat,
    pub compression: Compression,
    pub level: i32,
    pub encrypt: Encrypt,
    pub encryption: Encryption,
    pub dir: PathBuf,
    pub label: Option<String>,
    /// Upload to S3 as well.
    pub s3: Option<Arc<S3>>,
    /// The upload was asked for but its client could not be made (settings): the local
    /// backup is still taken, and this is its upload error.
    pub s3_unavailable: Option<String>,
    /// Show a progress line (a terminal).
    pub progress: bool,
    /// Timeout for the side connection to PostgreSQL (row counts of custom dumps).
    pub connect_timeout: Duration,
    /// Signs the manifest (restore and verify accept only signed backups).
    pub signing: Arc<SigningKey>,
    /// No byte from pg_dump for this long ends the run as failed.
    pub stall_timeout: Duration,
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub seconds: f64,
    /// `s3://bucket/key` when uploaded.
    pub uploaded: Option<String>,
    /// Why the upload failed (the local backup is complete).
    pub upload_error: Option<String>,
}

/// For a custom-format dump, rows per table and owner roles counted in the very snapshot
/// pg_dump dumps (exported here, imported by pg_dump). Best effort: None when PostgreSQL
/// cannot be reached from here.
type CountsAndRoles = (BTreeMap<String, u64>, Vec<String>);

struct SnapshotCounts {
    id: String,
    done: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<CountsAndRoles>>,
}

async fn export_snapshot(pg: &PostgresSettings, timeout: Duration) -> Option<SnapshotCounts> {
    let client = match crate::pg::connect(pg, timeout).await {
        Ok(client) => client,
        Err(err) => {
            tracing::info!(
                "no row counts for the manifest: {}",
                crate::error::describe(&err).0
            );
            return None;
        }
    };
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .ok()?;
    let id: String = client
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .ok()?
        .get(0);
    let (done, wait) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let tables = sql::user_tables(&client).await?;
        let counts = sql::count_rows(&client, &tables).await?;
        let roles = sql::owner_roles(&client).await?.into_iter().collect();
        // Keep the snapshot alive until pg_dump is done with it.
        let _ = wait.await;
        let _ = client.batch_execute("COMMIT").await;
        Ok((counts, roles))
    });
    Some(SnapshotCounts { id, done, task })
}

fn remove_quietly(path: &Path) {
    if let Err(err) = std::fs::remove_file(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {err}", path.display());
        }
    }
}

/// Leftovers of a backup that was killed: hidden `.NAME.partial` files and sidecar
/// directories (safe to remove while holding the lock: nobody else is writing).
fn remove_partials(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(|e| e.ok()) {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') && name.ends_with(".partial") {
                remove_quietly(&entry.path());
            } else if name.starts_with(super::sidecar::DIR_PREFIX) {
                // A base backup's sidecar directory (its FIFO): remove_dir_all removes a
                // symbolic link planted under such a name, never what it points at.
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

fn progress_bar(enabled: bool) -> Option<indicatif::ProgressBar> {
    if !enabled {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} {bytes} written, {binary_bytes_per_sec}, {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.set_message("backing up");
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

/// Stop a run that cannot finish (Ctrl-C, a stalled pg_dump, a tool that cannot start):
/// nothing is kept. pg_dump by exec stops when gymops exits and its output connection
/// closes; a base backup's sidecar is removed.
async fn abandon(
    err: anyhow::Error,
    temp_path: &Path,
    bar: Option<&indicatif::ProgressBar>,
    upload: Option<super::s3::Upload>,
    running: Option<Running>,
) -> anyhow::Error {
    if let Some(running) = running {
        running.abandon().await;
    }
    remove_quietly(temp_path);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(upload) = upload {
        let _ = tokio::time::timeout(Duration::from_secs(10), upload.abort()).await;
    }
    err
}

/// Take the lock, then back up. See [`create_locked`] for a caller that holds it already.
pub async fn create(
    runner: &Runner,
    pg: &PostgresSettings,
    password: Option<&Secret>,
    options: Options,
) -> Result<Created> {
    let _lock = super::lock(&options.dir, "gymops backup create")?;
    create_locked(runner, pg, password, options).await
}

/// Back up while the caller holds the backup lock (a restore's safety backup).
pub async fn create_locked(
    runner: &Runner,
    pg: &PostgresSettings,
    password: Option<&Secret>,
    options: Options,
) -> Result<Created> {
    let started_clock = Instant::now();
    let started_at = Utc::now();
    remove_partials(&options.dir);
    runlog::record(&options.dir, &Run::started(started_at));
    let result = run(runner, pg, password, &options, started_at).await;
    let seconds = started_clock.elapsed().as_secs_f64();
    match result {
        Ok(mut created) => {
            created.seconds = seconds;
            runlog::record(
                &options.dir,
                &Run {
                    time: started_at,
                    ok: created.upload_error.is_none(),
                    file: Some(created.manifest.file.clone()),
                    error: created.upload_error.clone(),
                    seconds,
                    started: false,
                    pid: None,
                },
            );
            Ok(created)
        }
        Err(err) => {
            runlog::record(
                &options.dir,
                &Run {
                    time: started_at,
                    ok: false,
                    file: None,
                    error: Some(crate::error::describe(&err).0),
                    seconds,
                    started: false,
                    pid: None,
                },
            );
            Err(err)
        }
    }
}

async fn run(
    runner: &Runner,
    pg: &PostgresSettings,
    password: Option<&Secret>,
    options: &Options,
    started_at: chrono::DateTime<Utc>,
) -> Result<Created> {
    let local = matches!(runner, Runner::Local);
    let name = manifest::file_name(
        &pg.database,
        started_at,
        options.label.as_deref(),
        options.format,
        options.compression,
        options.encryption.method != EncryptionMethod::None,
    );
    let final_path = options.dir.join(&name);
    if final_path.exists() {
        return Err(anyhow!("{} already exists", final_path.display())).map_err(|e| {
            e.context(crate::error::Hint(
                "wait a second, or give a --label".into(),
            ))
        });
    }
    let temp_path = options.dir.join(format!(".{name}.partial"));

    let base = options.format == DumpFormat::Tar;
    let snapshot = match options.format {
        DumpFormat::Custom => export_snapshot(pg, options.connect_timeout).await,
        DumpFormat::Plain | DumpFormat::Tar => None,
    };
    // A base backup names the database system it is of: restore checks the WAL against it.
    let system = if base {
        let client = crate::pg::connect(pg, options.connect_timeout).await?;
        Some((
            crate::pg::replication::system_identifier(&client).await?,
            crate::pg::replication::segment_bytes(&client).await?,
        ))
    } else {
        None
    };
    let (program, args) = if base {
        ("pg_basebackup", base_args(pg, local))
    } else {
        (
            "pg_dump",
            dump_args(
                pg,
                options.format,
                options.compression,
                local,
                snapshot.as_ref().map(|s| s.id.as_str()),
                options.stall_timeout,
            ),
        )
    };
    let tls_env = runner.tls_env(pg);
    let mut env = runner.password_env(pg, password).await;
    env.extend(tls_env.iter().map(|(key, value)| (*key, value)));

    // An upload that cannot start (server down or refusing, bad credentials) never costs
    // the local backup: it is taken anyway and the failure reported at the end.
    let mut upload_start_error = options.s3_unavailable.clone();
    let (upload_tx, upload) = match &options.s3 {
        Some(s3) => match s3.upload(&s3.key_for(&name)).await {
            Ok((tx, upload)) => (Some(tx), Some(upload)),
            Err(err) => {
                let why = crate::error::describe(&err).0;
                tracing::warn!("the S3 upload cannot start: {why}; backing up locally only");
                upload_start_error = Some(why);
                (None, None)
            }
        },
        None => (None, None),
    };

    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp_path)
        .with_context(|| format!("cannot create {}", temp_path.display()))?;

    let progress = Arc::new(AtomicU64::new(0));
    // Listening from here: a Ctrl-C while the tool starts is heard, not fatal at once.
    let signal = crate::signals::listen();
    let interrupted = async {
        let signal = signal.await;
        anyhow!("interrupted by {signal}; the partial backup was removed")
    };
    let stall_timeout = options.stall_timeout;
    let watched = progress.clone();
    let stalled = async move {
        let mut last = (watched.load(Ordering::Relaxed), Instant::now());
        loop {
            tokio::time::sleep(
                (stall_timeout / 10).clamp(Duration::from_millis(50), Duration::from_secs(5)),
            )
            .await;
            let now = watched.load(Ordering::Relaxed);
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() >= stall_timeout {
                return anyhow!(
                    "{program} sent nothing for {} (backup.stall_timeout); the run was stopped and the partial backup removed",
                    humantime::format_duration(stall_timeout)
                );
            }
        }
    };
    tokio::pin!(interrupted, stalled);
    let bar = progress_bar(options.progress);
    let spawned = if base {
        let stop = async {
            tokio::select! {
                err = &mut interrupted => err,
                err = &mut stalled => err,
            }
        };
        super::sidecar::spawn_base(runner, &args, &env, password, &options.dir, stop).await
    } else {
        runner.spawn(program, &args, &env, false).await
    };
    let mut running = match spawned {
        Ok(running) => running,
        Err(err) => return Err(abandon(err, &temp_path, bar.as_ref(), upload, None).await),
    };
    let mut stdout = std::mem::replace(&mut running.stdout, mpsc::channel::<Bytes>(1).1);
    let ticker = bar.clone().map(|bar| {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(progress.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    });
    let compression = options.compression;
    let level = options.level;
    let inspect = options.format == DumpFormat::Plain;
    let encrypt = options.encrypt.clone();
    let pipeline_progress = progress.clone();
    let pipeline = tokio::task::spawn_blocking(move || {
        let spec = pipeline::StoreSpec {
            compression,
            level,
            encrypt: &encrypt,
            inspect,
            scan_tar: base,
        };
        let (file, stored) =
            pipeline::store(&mut stdout, file, &spec, upload_tx, pipeline_progress)?;
        file.sync_all().context("cannot flush the backup to disk")?;
        Ok::<_, anyhow::Error>(stored)
    });

    let stored = tokio::select! {
        stored = pipeline => stored.map_err(|err| anyhow!("the backup pipeline failed: {err}")).and_then(|r| r),
        err = &mut interrupted => return Err(abandon(err, &temp_path, bar.as_ref(), upload, Some(running)).await),
        err = &mut stalled => return Err(abandon(err, &temp_path, bar.as_ref(), upload, Some(running)).await),
    };
    let finished = running.finish().await;
    if let Some(ticker) = ticker {
        ticker.abort();
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let snapshot_result = match snapshot {
        Some(snapshot) => {
            let _ = snapshot.done.send(());
            snapshot.task.await.ok().and_then(|r| r.ok())
        }
        None => None,
    };

    // Everything that says the dump is not whole: then no file that looks complete is left.
    let failure: Option<anyhow::Error> = match (&stored, &finished) {
        (Err(err), _) => Some(anyhow!("{}", crate::error::describe(err).0)),
        (_, Err(err)) => Some(anyhow!("{}", crate::error::describe(err).0)),
        (_, Ok(done)) if !done.success() => Some(anyhow!("{}", done.describe(program))),
        (Ok(stored), _)
            if base
                && stored
                    .tar
                    .as_ref()
                    .is_none_or(|t| t.broken || t.start().is_none() || t.end().is_none()) =>
        {
            Some(anyhow!(
                "pg_basebackup's tar has no backup_label or backup_manifest with the WAL start and end"
            ))
        }
        (Ok(stored), _) => match &stored.inspector {
            Some(inspector) if inspector.inside_copy() || !inspector.complete => Some(anyhow!(
                "pg_dump's output ended early (no end-of-dump marker)"
            )),
            _ if stored.dump_bytes == 0 => Some(anyhow!("{program} wrote nothing")),
            _ => None,
        },
    };
    if let Some(err) = failure {
        remove_quietly(&temp_path);
        if let Some(upload) = upload {
            if let Err(abort) = upload.abort().await {
                tracing::warn!("{}", crate::error::describe(&abort).0);
            }
        }
        return Err(err.context(format!(
            "backup of {} {} failed; nothing was kept",
            pg.database,
            runner.describe()
        )));
    }
    let stored = stored?;
    let base_info = match (&stored.tar, system) {
        (Some(tar), Some((system_identifier, segment_bytes))) => match (tar.start(), tar.end()) {
            (Some((start_lsn, timeline)), Some(stop_lsn)) => Some(manifest::BaseInfo {
                system_identifier,
                timeline,
                start_lsn,
                stop_lsn,
                segment_bytes,
            }),
            _ => None,
        },
        _ => None,
    };

    let (tables, row_counts, roles, server_version) = match (&stored.inspector, snapshot_result) {
        (Some(inspector), _) => (
            inspector.tables.clone(),
            "dump",
            inspector.roles.iter().cloned().collect(),
            inspector.server_version.clone(),
        ),
        (None, Some((counts, roles))) => (counts, "snapshot", roles, None),
        (None, None) => (BTreeMap::new(), "none", Vec::new(), None),
    };
    let manifest = Manifest {
        manifest_version: manifest::MANIFEST_VERSION,
        file: name.clone(),
        database: pg.database.clone(),
        server_version,
        format: options.format,
        compression: options.compression,
        level: (options.compression != Compression::None).then_some(options.level),
        encryption: options.encryption.clone(),
        dump_bytes: stored.dump_bytes,
        stored_bytes: stored.stored_bytes,
        sha256: stored.sha256.clone(),
        started_at,
        finished_at: Utc::now(),
        gymops_version: env!("CARGO_PKG_VERSION").into(),
        label: options.label.clone(),
        source: runner.describe(),
        tables,
        row_counts: row_counts.into(),
        roles,
        verified: None,
        base: base_info,
        signature: None,
    };
    let mut manifest = manifest;
    options.signing.sign(&mut manifest);
    // The manifest first, then the data file's final name: a file under a backup's name
    // always has its manifest beside it.
    if let Err(err) = manifest::write(&final_path, &manifest) {
        remove_quietly(&temp_path);
        if let Some(upload) = upload {
            let _ = upload.abort().await;
        }
        return Err(err.context("nothing was kept"));
    }
    if let Err(err) = std::fs::rename(&temp_path, &final_path) {
        remove_quietly(&manifest::manifest_path(&final_path));
        remove_quietly(&temp_path);
        if let Some(upload) = upload {
            let _ = upload.abort().await;
        }
        return Err(err).with_context(|| {
            format!(
                "cannot rename the backup to {}; nothing was kept",
                final_path.display()
            )
        });
    }
    if let Ok(dir) = std::fs::File::open(&options.dir) {
        let _ = dir.sync_all();
    }

    let (mut uploaded, mut upload_error) = (None, upload_start_error);
    if let (Some(upload), Some(s3)) = (upload, &options.s3) {
        match upload.commit().await {
            Ok(done) if !stored.upload_broken => {
                let manifest_key = format!("{}.json", done.key);
                match s3.put(&manifest_key, manifest::to_json(&manifest)).await {
                    Ok(()) => uploaded = Some(format!("s3://{}/{}", s3.bucket(), done.key)),
                    Err(err) => upload_error = Some(crate::error::describe(&err).0),
                }
            }
            Ok(_) => upload_error = Some("the upload stopped before the end".into()),
            Err(err) => upload_error = Some(crate::error::describe(&err).0),
        }
    }
    Ok(Created {
        path: final_path,
        manifest,
        seconds: 0.0,
        uploaded,
        upload_error,
    })
}
