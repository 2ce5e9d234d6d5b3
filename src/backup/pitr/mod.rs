//! Point-in-time restore: a base backup and the archived WAL after it become a new
//! PostgreSQL — a new volume and a new container of the live container's image, never the
//! live one — that replays to the target and promotes. Everything is checked before a
//! container exists: the WAL chain (see [`plan`]), each segment's signed record, checksum,
//! key and system identifier. The data directory, the WAL and the recovery settings go in
//! as one tar stream through the Engine API (owners and modes kept; nothing on this host's
//! disk in plaintext), built on a blocking thread while the engine unpacks it.

mod check;
mod containers;
mod pack;
pub mod plan;
pub mod replace;

pub use check::check_wal;
use check::decrypt_for_record;
use containers::{creation, last_lines};
pub use containers::{names, remove, start_companion};
pub use pack::recovery_settings;
use pack::{pack, put_back_settings, Original, Packing};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use bollard::models::{ContainerInspectResponse, NetworkCreateRequest, VolumeCreateRequest};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use self::plan::Target;
use super::manifest::Manifest;
use super::pipeline::Decrypt;
use super::restore::Key;
use super::wal::archive::SegmentRecord;
use crate::docker::labels::{LABEL_PROJECT, LABEL_VOLUME};
use crate::docker::Engine;
use crate::error::HintExt;
use crate::settings::{PostgresSettings, SigningPublicKey};

/// The volume's mount point in the restored container; the data directory and the WAL to
/// replay live under it.
pub const ROOT: &str = "/var/lib/gymops-restore";
pub const DATA: &str = "/var/lib/gymops-restore/data";
pub const WAL: &str = "/var/lib/gymops-restore/wal";
/// What marks what a restore made.
pub const ROLE_LABEL: &str = "io.gymops.role";
pub const ROLE: &str = "pitr-restore";

/// A WAL segment to replay.
#[derive(Debug, Clone)]
pub enum WalPiece {
    /// Sealed in the archive, with its signed record.
    Archived {
        path: PathBuf,
        record: Box<SegmentRecord>,
    },
    /// Still in the receiver's directory (closed, or the segment being written, whose
    /// unwritten rest is zeros: the end of WAL for recovery).
    Received { name: String, path: PathBuf },
}

impl WalPiece {
    pub fn name(&self) -> &str {
        match self {
            WalPiece::Archived { record, .. } => &record.segment,
            WalPiece::Received { name, .. } => name,
        }
    }
}

/// Everything a restore is given.
pub struct Request<'a> {
    pub engine: &'a Engine,
    /// The project of the new stack: `PROJECT-postgres-1`, volume `PROJECT_postgres_data`.
    pub project: String,
    pub base_path: PathBuf,
    pub base: &'a Manifest,
    pub key: &'a Key,
    pub wal: Vec<WalPiece>,
    pub target: Target,
    /// The live PostgreSQL container: its image and read-only mounts.
    pub template: &'a ContainerInspectResponse,
    pub bin_dir: Option<String>,
    /// Names the restored PostgreSQL answers to on its network besides its own (the
    /// service name and the live container's name, so a copy of the backend finds it).
    pub aliases: Vec<String>,
    pub pg: &'a PostgresSettings,
    pub trusted: &'a [SigningPublicKey],
    /// Recovery may take this long.
    pub wait: Duration,
}

/// What a restore made and found.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub project: String,
    pub container: String,
    pub volume: String,
    pub network: String,
    /// 127.0.0.1:PORT of the restored server.
    pub address: String,
    pub port: u16,
    pub base_backup: String,
    pub segments: usize,
    pub target: Target,
    /// The time of the last transaction replayed (None: none was).
    pub recovery_point: Option<DateTime<Utc>>,
    pub lsn: String,
    pub tables: BTreeMap<String, u64>,
    pub rows: u64,
    pub seconds: f64,
}

/// Restore: make the volume, the container (stopped), stream the files in, start it, wait
/// for recovery to reach the target and promote, count the rows. A failure removes what
/// was made.
pub async fn restore(request: Request<'_>) -> Result<Restored> {
    let started = Instant::now();
    let info = request
        .base
        .base
        .clone()
        .ok_or_else(|| anyhow!("{} is not a base backup", request.base.file))?;
    check_wal(
        &request.wal,
        request.key,
        &info.system_identifier,
        info.segment_bytes,
        request.trusted,
    )?;
    let base_decrypt = super::restore::decrypt_for(
        &super::restore::shape(&request.base.file, Some(request.base)),
        Some(request.base),
        request.key,
    )?;
    let mut decrypts = Vec::new();
    for piece in &request.wal {
        decrypts.push(match piece {
            WalPiece::Archived { record, .. } => decrypt_for_record(record, request.key)?,
            WalPiece::Received { .. } => Decrypt::None,
        });
    }
    let (container, volume, network) = names(&request.project);
    if request.engine.inspect(&container).await.is_ok() {
        return Err(anyhow!(
            "container {container} exists already; nothing was restored"
        ))
        .hint("restore --into another project, or remove that one first");
    }
    // Ctrl-C or SIGTERM at any point removes what the restore made: no half-restored
    // container or volume is left to look like a restore.
    let work = async {
        let (port, original) = made(
            &request,
            &container,
            &volume,
            &network,
            base_decrypt,
            decrypts,
        )
        .await?;
        let recovered = recover(&request, &container, port, &original).await?;
        Ok::<_, anyhow::Error>((port, recovered))
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        signal = crate::signals::terminated() => Err(anyhow!(
            "interrupted by {signal}; what the restore made was removed"
        )),
    };
    match outcome {
        Ok((port, (recovery_point, lsn, tables))) => Ok(Restored {
            project: request.project.clone(),
            container,
            volume,
            network,
            address: format!("127.0.0.1:{port}"),
            port,
            base_backup: request.base.file.clone(),
            segments: request.wal.len(),
            target: request.target.clone(),
            recovery_point,
            lsn,
            rows: tables.values().sum(),
            tables,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(err) => {
            remove(request.engine, &request.project).await;
            Err(err)
        }
    }
}

/// Make the network, volume and container, fill it, start it; its host port.
async fn made(
    request: &Request<'_>,
    container: &str,
    volume: &str,
    network: &str,
    base_decrypt: Decrypt,
    decrypts: Vec<Decrypt>,
) -> Result<(u16, Original)> {
    let engine = request.engine;
    let project_labels: std::collections::HashMap<String, String> = [
        (LABEL_PROJECT.to_string(), request.project.clone()),
        (ROLE_LABEL.to_string(), ROLE.to_string()),
    ]
    .into_iter()
    .collect();
    engine
        .ensure_network(NetworkCreateRequest {
            name: network.to_string(),
            labels: Some(project_labels.clone()),
            ..Default::default()
        })
        .await?;
    let mut volume_labels = project_labels.clone();
    volume_labels.insert(LABEL_VOLUME.to_string(), "postgres_data".into());
    engine
        .ensure_volume(VolumeCreateRequest {
            name: Some(volume.to_string()),
            labels: Some(volume_labels),
            ..Default::default()
        })
        .await?;
    let (chunks_tx, chunks_rx) = mpsc::channel::<bytes::Bytes>(8);
    let (owner_tx, owner_rx) = oneshot::channel();
    let settings = recovery_settings(&request.target);
    let (base_path, base, wal) = (
        request.base_path.clone(),
        request.base.clone(),
        request.wal.clone(),
    );
    let packer = tokio::task::spawn_blocking(move || {
        let writer = crate::chunks::ChannelWriter::new(chunks_tx, 256 * 1024);
        let packing = Packing {
            base_path,
            base,
            base_decrypt,
            wal,
            wal_decrypts: decrypts,
            settings,
        };
        pack(packing, writer, owner_tx)
    });
    let owner = match owner_rx.await {
        Ok(owner) => owner,
        Err(_) => {
            return Err(packer
                .await
                .map_err(|err| anyhow!("the restore pipeline failed: {err}"))?
                .err()
                .unwrap_or_else(|| anyhow!("the base backup is empty")))
        }
    };
    engine
        .create(&creation(request, owner, container, volume, network))
        .await?;
    let uploaded = engine.upload_tar_stream(container, chunks_rx).await;
    let packed = packer
        .await
        .map_err(|err| anyhow!("the restore pipeline failed: {err}"))?;
    let original = packed?;
    uploaded?;
    engine.start(container).await?;
    let inspected = engine.inspect(container).await?;
    let port = crate::docker::published_host_port(&inspected, "5432/tcp")
        .ok_or_else(|| anyhow!("container {container} has no published port"))?;
    Ok((port, original))
}

/// Wait for recovery to finish (promoted), then read the recovery point and the rows.
async fn recover(
    request: &Request<'_>,
    container: &str,
    port: u16,
    original: &Original,
) -> Result<(Option<DateTime<Utc>>, String, BTreeMap<String, u64>)> {
    let engine = request.engine;
    let mut pg = request.pg.clone();
    pg.host = "127.0.0.1".into();
    pg.port = port;
    let deadline = Instant::now() + request.wait;
    loop {
        let state = engine.inspect(container).await?;
        let running = state
            .state
            .as_ref()
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            let line = last_lines(engine, container).await;
            return Err(anyhow!(
                "the restored PostgreSQL stopped during recovery: {line}; what the restore made was removed"
            ))
            .hint(if line.contains("recovery ended before configured recovery target was reached") {
                "the archived WAL ends before the target: choose an earlier time, or restore to the end of the archive (without --at)"
            } else {
                "check that the base backup and the WAL archive are of this database"
            });
        }
        if let Ok(client) = crate::pg::connect(&pg, Duration::from_secs(2)).await {
            if let Ok(row) = client.query_one("SELECT pg_is_in_recovery()", &[]).await {
                if !row.get::<_, bool>(0) {
                    let row = client
                        .query_one(
                            "SELECT EXTRACT(epoch FROM pg_last_xact_replay_timestamp())::float8, pg_current_wal_lsn()::text",
                            &[],
                        )
                        .await?;
                    let point = row.get::<_, Option<f64>>(0).and_then(|seconds| {
                        DateTime::<Utc>::from_timestamp_micros((seconds * 1e6).round() as i64)
                    });
                    let lsn: String = row.get(1);
                    put_back_settings(engine, container, &client, original).await?;
                    let tables = super::sql::user_tables(&client).await?;
                    let counts = super::sql::count_rows(&client, &tables).await?;
                    return Ok((point, lsn, counts));
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "recovery did not finish within {}; what the restore made was removed",
                humantime::format_duration(request.wait)
            ))
            .hint("give it longer with --timeout");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
