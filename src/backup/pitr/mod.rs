//! Point-in-time restore: a base backup and the archived WAL after it become a new
//! PostgreSQL — a new volume and a new container of the live container's image, never the
//! live one — that replays to the target and promotes. Everything is checked before a
//! container exists: the WAL chain (see [`plan`]), each segment's signed record, checksum,
//! key and system identifier. The data directory, the WAL and the recovery settings go in
//! as one tar stream through the Engine API (owners and modes kept; nothing on this host's
//! disk in plaintext), built on a blocking thread while the engine unpacks it.

pub mod plan;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, NetworkCreateRequest, PortBinding,
    VolumeCreateRequest,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use self::plan::Target;
use super::manifest::{EncryptionMethod, Manifest};
use super::pipeline::{self, Decrypt};
use super::restore::Key;
use super::wal::archive::SegmentRecord;
use super::wal::read_header;
use crate::docker::labels::{
    Creation, LABEL_NUMBER, LABEL_ONEOFF, LABEL_PROJECT, LABEL_SERVICE, LABEL_VOLUME,
};
use crate::docker::Engine;
use crate::error::HintExt;
use crate::random::hex;
use crate::settings::{Compression, PostgresSettings, SigningPublicKey};

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

/// The decryption of an archived segment with the restore's key.
fn decrypt_for_record(record: &SegmentRecord, key: &Key) -> Result<Decrypt> {
    match (record.encryption.method, key) {
        (EncryptionMethod::None, _) => Ok(Decrypt::None),
        (_, Key::Identities(ids)) => Ok(Decrypt::Identities(ids.clone())),
        (_, Key::Passphrase(p)) => Ok(Decrypt::Passphrase(p.clone())),
        (_, Key::None) => Err(anyhow!("the WAL archive is encrypted and no key was given"))
            .hint("give --identity FILE (the age key of the backups), or set backup.identity_file"),
    }
}

/// Check every segment before anything is made: its record is signed by a trusted key and
/// of this system, the file is the one the record names, the key opens it, and its first
/// page is WAL of the base backup's system at the right place.
pub fn check_wal(
    pieces: &[WalPiece],
    key: &Key,
    system_identifier: &str,
    segment_bytes: u64,
    trusted: &[SigningPublicKey],
) -> Result<()> {
    for piece in pieces {
        let name = piece.name().to_string();
        let head: Vec<u8> = match piece {
            WalPiece::Archived { path, record } => {
                if let Some(problem) = record.trust(trusted).problem() {
                    return Err(anyhow!(
                        "WAL segment {name} is refused: {problem}; nothing was restored"
                    ))
                    .hint("the WAL archive must be this host's (or a key in backup.trusted_keys)");
                }
                if record.system_identifier != system_identifier {
                    return Err(anyhow!(
                        "WAL segment {name} is of database system {}, the base backup of system {}: the WAL archive is another database's; nothing was restored",
                        record.system_identifier,
                        system_identifier
                    ))
                    .hint("point backup.dir at the archive of the backed-up database");
                }
                let stored = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                if hex(&Sha256::digest(&stored)) != record.sha256 {
                    return Err(anyhow!(
                        "WAL segment {name} does not match its record (SHA-256): it was changed or damaged; nothing was restored"
                    ));
                }
                let decrypt = decrypt_for_record(record, key)?;
                let (mut reader, _) =
                    pipeline::open(std::io::Cursor::new(stored), Compression::Zstd, &decrypt)
                        .with_context(|| format!("cannot open WAL segment {name}"))?;
                let mut head = vec![0u8; 64];
                reader
                    .read_exact(&mut head)
                    .map_err(pipeline::read_error)
                    .with_context(|| format!("cannot read WAL segment {name}"))?;
                head
            }
            WalPiece::Received { path, .. } => {
                let mut head = vec![0u8; 64];
                std::fs::File::open(path)
                    .and_then(|mut f| f.read_exact(&mut head))
                    .with_context(|| format!("cannot read {}", path.display()))?;
                head
            }
        };
        let segment = crate::backup::wal::Segment::parse(&name, segment_bytes);
        let header = read_header(&head);
        match (segment, header) {
            (Some(segment), Some(header)) => {
                if header.system_identifier.to_string() != system_identifier {
                    return Err(anyhow!(
                        "WAL segment {name} is of database system {}, the base backup of system {}: the WAL archive is another database's; nothing was restored",
                        header.system_identifier,
                        system_identifier
                    ));
                }
                if header.page_address != segment.start(segment_bytes) {
                    return Err(anyhow!(
                        "WAL segment {name} starts at {}, not where its name says; nothing was restored",
                        header.page_address
                    ));
                }
            }
            (Some(_), None) => {
                return Err(anyhow!(
                    "WAL segment {name} does not start with a WAL page header; nothing was restored"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The lines added to `postgresql.auto.conf`: fetch WAL from the restore's directory,
/// stop at the target, promote.
pub fn recovery_settings(target: &Target) -> String {
    let mut lines = vec![
        String::new(),
        "# gymops backup restore: point-in-time recovery".to_string(),
        format!("restore_command = 'cp {WAL}/%f %p'"),
        "recovery_target_action = 'promote'".into(),
        "recovery_target_timeline = 'current'".into(),
        // The copy must not archive or stream as if it were the live server.
        "archive_mode = 'off'".into(),
        "primary_conninfo = ''".into(),
    ];
    match target {
        Target::Latest => {}
        Target::Immediate => lines.push("recovery_target = 'immediate'".into()),
        Target::Time(time) => lines.push(format!(
            "recovery_target_time = '{}'",
            time.format("%Y-%m-%d %H:%M:%S%.6f+00")
        )),
        Target::Lsn(lsn) => lines.push(format!("recovery_target_lsn = '{lsn}'")),
        Target::BeforeXid(xid) => {
            lines.push(format!("recovery_target_xid = '{xid}'"));
            lines.push("recovery_target_inclusive = 'off'".into());
        }
    }
    lines.push(String::new());
    lines.join("\n")
}

/// A path in the base backup's tar, checked: relative, no `..`, no odd bytes.
fn safe_entry_path(path: &std::path::Path) -> Result<String> {
    use std::path::Component;
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(
                part.to_str()
                    .ok_or_else(|| anyhow!("a file name in the base backup is not UTF-8"))?
                    .to_string(),
            ),
            Component::CurDir => {}
            _ => {
                return Err(anyhow!(
                    "the base backup holds the path {}, outside its data directory; nothing was restored",
                    path.display()
                ))
            }
        }
    }
    Ok(parts.join("/"))
}

fn directory(
    builder: &mut tar::Builder<crate::chunks::ChannelWriter>,
    path: &str,
    owner: (u64, u64),
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(0o700);
    header.set_uid(owner.0);
    header.set_gid(owner.1);
    header.set_size(0);
    header.set_mtime(Utc::now().timestamp().max(0) as u64);
    builder
        .append_data(&mut header, path.trim_start_matches('/'), std::io::empty())
        .context("cannot pack the restore")
}

fn file(
    builder: &mut tar::Builder<crate::chunks::ChannelWriter>,
    path: &str,
    owner: (u64, u64),
    size: u64,
    content: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_uid(owner.0);
    header.set_gid(owner.1);
    header.set_size(size);
    header.set_mtime(Utc::now().timestamp().max(0) as u64);
    builder
        .append_data(&mut header, path.trim_start_matches('/'), content)
        .context("cannot pack the restore")
}

/// Build the tar of the new data directory, the WAL and the recovery settings into
/// `output`; the data files' owner goes to `owner` as soon as the first entry shows it.
/// What [`pack`] puts in the tar.
struct Packing {
    base_path: PathBuf,
    base: Manifest,
    base_decrypt: Decrypt,
    wal: Vec<WalPiece>,
    /// The decryption of each WAL piece, in order.
    wal_decrypts: Vec<Decrypt>,
    /// The lines added to postgresql.auto.conf.
    settings: String,
}

/// The base backup's own `postgresql.auto.conf` (put back once recovery is over: the
/// restored server then runs with the live one's settings) and the data files' owner.
struct Original {
    auto_conf: Vec<u8>,
    owner: (u64, u64),
}

/// What a fresh `postgresql.auto.conf` holds (the base backup had none).
const EMPTY_AUTO_CONF: &[u8] =
    b"# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n";

fn pack(
    packing: Packing,
    output: crate::chunks::ChannelWriter,
    owner_tx: oneshot::Sender<(u64, u64)>,
) -> Result<Original> {
    let Packing {
        base_path,
        base,
        base_decrypt,
        wal,
        wal_decrypts: key_decrypts,
        settings,
    } = packing;
    let raw = std::fs::File::open(&base_path)
        .with_context(|| format!("cannot open {}", base_path.display()))?;
    let (reader, hash) = pipeline::open(raw, base.compression, &base_decrypt)?;
    let mut archive = tar::Archive::new(reader);
    let mut builder = tar::Builder::new(output);
    let mut owner_tx = Some(owner_tx);
    let mut owner = (0u64, 0u64);
    let mut auto_conf_seen = false;
    let mut original_auto_conf = EMPTY_AUTO_CONF.to_vec();
    for entry in archive.entries().map_err(pipeline::read_error)? {
        let mut entry = entry.map_err(pipeline::read_error)?;
        let path = safe_entry_path(&entry.path().map_err(pipeline::read_error)?)?;
        if path.is_empty() {
            continue;
        }
        let mut header = entry.header().clone();
        if let Some(tx) = owner_tx.take() {
            owner = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
            if owner.0 == 0 {
                return Err(anyhow!(
                    "the base backup's files belong to root; PostgreSQL does not run as root"
                ));
            }
            let _ = tx.send(owner);
            directory(&mut builder, ROOT, owner)?;
            directory(&mut builder, DATA, owner)?;
            directory(&mut builder, WAL, owner)?;
        }
        let kind = header.entry_type();
        let target = format!("{}/{path}", DATA.trim_start_matches('/'));
        match kind {
            tar::EntryType::Directory => {
                builder
                    .append_data(&mut header, &target, std::io::empty())
                    .context("cannot pack the restore")?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if path == "postgresql.auto.conf" {
                    let mut text = Vec::new();
                    entry.read_to_end(&mut text).map_err(pipeline::read_error)?;
                    original_auto_conf = text.clone();
                    text.extend_from_slice(settings.as_bytes());
                    header.set_size(text.len() as u64);
                    builder
                        .append_data(&mut header, &target, text.as_slice())
                        .context("cannot pack the restore")?;
                    auto_conf_seen = true;
                } else {
                    builder
                        .append_data(&mut header, &target, &mut entry)
                        .context("cannot pack the restore")?;
                }
            }
            other => {
                return Err(anyhow!(
                    "the base backup holds {path} of type {other:?} (a tablespace link?): only one data directory is restored; nothing was restored"
                ))
            }
        }
    }
    if owner_tx.is_some() {
        return Err(anyhow!("the base backup is empty; nothing was restored"));
    }
    // Its SHA-256 is the manifest's (the tar's end is read; the rest of the file too).
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(pipeline::read_error)?;
    let digest = hash.finish()?;
    if digest.sha256 != base.sha256 {
        return Err(anyhow!(
            "the base backup does not match its manifest (SHA-256): it was changed or damaged; nothing was restored"
        ));
    }
    if !auto_conf_seen {
        let path = format!("{DATA}/postgresql.auto.conf");
        file(
            &mut builder,
            &path,
            owner,
            settings.len() as u64,
            settings.as_bytes(),
        )?;
    }
    let signal = format!("{DATA}/recovery.signal");
    file(&mut builder, &signal, owner, 0, std::io::empty())?;
    for (piece, decrypt) in wal.iter().zip(key_decrypts) {
        let path = format!("{WAL}/{}", piece.name());
        match piece {
            WalPiece::Archived {
                path: stored,
                record,
            } => {
                let raw = std::fs::File::open(stored)
                    .with_context(|| format!("cannot open {}", stored.display()))?;
                let (reader, _) = pipeline::open(raw, Compression::Zstd, &decrypt)?;
                let mut counted = reader.take(record.wal_bytes + 1);
                let mut buffer = Vec::with_capacity(record.wal_bytes as usize);
                counted
                    .read_to_end(&mut buffer)
                    .map_err(pipeline::read_error)?;
                if buffer.len() as u64 != record.wal_bytes {
                    return Err(anyhow!(
                        "WAL segment {} is {} bytes, its record says {}; nothing was restored",
                        record.segment,
                        buffer.len(),
                        record.wal_bytes
                    ));
                }
                file(
                    &mut builder,
                    &path,
                    owner,
                    record.wal_bytes,
                    buffer.as_slice(),
                )?;
            }
            WalPiece::Received { path: received, .. } => {
                let data = std::fs::read(received)
                    .with_context(|| format!("cannot read {}", received.display()))?;
                file(
                    &mut builder,
                    &path,
                    owner,
                    data.len() as u64,
                    data.as_slice(),
                )?;
            }
        }
    }
    let mut output = builder.into_inner().context("cannot pack the restore")?;
    output.flush().context("cannot pack the restore")?;
    Ok(Original {
        auto_conf: original_auto_conf,
        owner,
    })
}

/// Put the base backup's own `postgresql.auto.conf` back into the restored (running)
/// server and reload: the recovery settings are gone, the live server's are in force.
async fn put_back_settings(
    engine: &Engine,
    container: &str,
    client: &tokio_postgres::Client,
    original: &Original,
) -> Result<()> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_uid(original.owner.0);
    header.set_gid(original.owner.1);
    header.set_size(original.auto_conf.len() as u64);
    header.set_mtime(Utc::now().timestamp().max(0) as u64);
    builder
        .append_data(
            &mut header,
            format!("{}/postgresql.auto.conf", DATA.trim_start_matches('/')),
            original.auto_conf.as_slice(),
        )
        .context("cannot pack the restore")?;
    let tar = builder.into_inner().context("cannot pack the restore")?;
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.send(bytes::Bytes::from(tar)).await;
    drop(tx);
    engine.upload_tar_stream(container, rx).await?;
    client
        .execute("SELECT pg_reload_conf()", &[])
        .await
        .context("cannot reload the restored server's settings")?;
    Ok(())
}

/// Names of what a restore into `project` makes.
pub fn names(project: &str) -> (String, String, String) {
    (
        format!("{project}-postgres-1"),
        format!("{project}_postgres_data"),
        format!("{project}_default"),
    )
}

fn creation(
    request: &Request,
    owner: (u64, u64),
    container: &str,
    volume: &str,
    network: &str,
) -> Creation {
    let template = request.template;
    let image = template
        .image
        .clone()
        .or_else(|| template.config.as_ref().and_then(|c| c.image.clone()))
        .unwrap_or_default();
    let mut binds: Vec<String> = template
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ.as_deref() == Some("bind") && m.rw == Some(false))
        .filter_map(|m| {
            Some(format!(
                "{}:{}:ro",
                m.source.as_ref()?,
                m.destination.as_ref()?
            ))
        })
        .collect();
    binds.push(format!("{volume}:{ROOT}"));
    let program = match &request.bin_dir {
        Some(dir) => format!("{}/postgres", dir.trim_end_matches('/')),
        None => "postgres".into(),
    };
    let labels = [
        (LABEL_PROJECT, request.project.clone()),
        (LABEL_SERVICE, "postgres".to_string()),
        (LABEL_NUMBER, "1".to_string()),
        (LABEL_ONEOFF, "False".to_string()),
        (ROLE_LABEL, ROLE.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Creation {
        name: container.to_string(),
        body: ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(Vec::new()),
            cmd: Some(vec![
                program,
                "-D".into(),
                DATA.into(),
                "-c".into(),
                "listen_addresses=*".into(),
                "-c".into(),
                "port=5432".into(),
                "-c".into(),
                "unix_socket_directories=/tmp".into(),
            ]),
            user: Some(format!("{}:{}", owner.0, owner.1)),
            labels: Some(labels),
            exposed_ports: Some(vec!["5432/tcp".to_string()]),
            networking_config: Some(bollard::models::NetworkingConfig {
                endpoints_config: Some(
                    [(
                        network.to_string(),
                        bollard::models::EndpointSettings {
                            aliases: Some(request.aliases.clone()),
                            ..Default::default()
                        },
                    )]
                    .into_iter()
                    .collect(),
                ),
            }),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(network.to_string()),
                port_bindings: Some(
                    [(
                        "5432/tcp".to_string(),
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(String::new()),
                        }]),
                    )]
                    .into_iter()
                    .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        },
        more_networks: Vec::new(),
        platform: None,
        files: Vec::new(),
    }
}

/// The last log lines of a container, for an error.
async fn last_lines(engine: &Engine, container: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let request = crate::docker::logs::LogRequest {
        follow: false,
        since: 0,
        until: 0,
        tail: Some(30),
    };
    let _ = engine
        .log_lines(container, &request, |line| {
            lines.push(String::from_utf8_lossy(&line.text).trim_end().to_string())
        })
        .await;
    let important: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("FATAL") || l.contains("PANIC") || l.contains("ERROR"))
        .collect();
    match important.last() {
        Some(line) => (*line).clone(),
        None => lines.last().cloned().unwrap_or_default(),
    }
}

/// Start a copy of another service's container (the backend) in a restore's project: its
/// image, command, environment and read-only mounts, on the project's network (where the
/// restored PostgreSQL answers to the live names), every exposed port published on
/// 127.0.0.1. Its name and the host port of `container_port`.
pub async fn start_companion(
    engine: &Engine,
    project: &str,
    service: &str,
    template: &ContainerInspectResponse,
    container_port: &str,
) -> Result<(String, Option<u16>)> {
    let (_, _, network) = names(project);
    let name = format!("{project}-{service}-1");
    let config = template.config.clone().unwrap_or_default();
    let image = template
        .image
        .clone()
        .or_else(|| config.image.clone())
        .unwrap_or_default();
    let binds: Vec<String> = template
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ.as_deref() == Some("bind") && m.rw == Some(false))
        .filter_map(|m| {
            Some(format!(
                "{}:{}:ro",
                m.source.as_ref()?,
                m.destination.as_ref()?
            ))
        })
        .collect();
    let ports: Vec<String> = config.exposed_ports.clone().unwrap_or_default();
    let labels = [
        (LABEL_PROJECT, project.to_string()),
        (LABEL_SERVICE, service.to_string()),
        (LABEL_NUMBER, "1".to_string()),
        (LABEL_ONEOFF, "False".to_string()),
        (ROLE_LABEL, ROLE.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let creation = Creation {
        name: name.clone(),
        body: ContainerCreateBody {
            image: Some(image),
            cmd: config.cmd.clone(),
            entrypoint: config.entrypoint.clone(),
            env: config.env.clone(),
            user: config.user.clone(),
            working_dir: config.working_dir.clone(),
            labels: Some(labels),
            exposed_ports: Some(ports.clone()),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: Some(network),
                port_bindings: Some(
                    ports
                        .iter()
                        .map(|port| {
                            (
                                port.clone(),
                                Some(vec![PortBinding {
                                    host_ip: Some("127.0.0.1".into()),
                                    host_port: Some(String::new()),
                                }]),
                            )
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        },
        more_networks: Vec::new(),
        platform: None,
        files: Vec::new(),
    };
    engine.create(&creation).await?;
    engine.start(&name).await?;
    let inspected = engine.inspect(&name).await?;
    let port = inspected
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref())
        .and_then(|ports| ports.get(container_port).cloned().flatten())
        .and_then(|bindings| bindings.first().and_then(|b| b.host_port.clone()))
        .and_then(|port| port.parse().ok());
    Ok((name, port))
}

/// Remove what a restore made (a failed one, or a drill's scratch stack with its
/// companions).
pub async fn remove(engine: &Engine, project: &str) {
    let (container, volume, network) = names(project);
    if let Ok(containers) = engine.project_containers(project).await {
        for companion in containers {
            let _ = engine.remove(&companion.id).await;
        }
    }
    let _ = engine.remove(&container).await;
    let _ = engine.remove_volume(&volume).await;
    let _ = engine.remove_network(&network).await;
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
    let made = made(
        &request,
        &container,
        &volume,
        &network,
        base_decrypt,
        decrypts,
    )
    .await;
    let (port, original) = match made {
        Ok(made) => made,
        Err(err) => {
            remove(request.engine, &request.project).await;
            return Err(err);
        }
    };
    match recover(&request, &container, port, &original).await {
        Ok((recovery_point, lsn, tables)) => Ok(Restored {
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
    let port = inspected
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref())
        .and_then(|ports| ports.get("5432/tcp").cloned().flatten())
        .and_then(|bindings| bindings.first().and_then(|b| b.host_port.clone()))
        .and_then(|port| port.parse().ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_settings_name_the_target_and_promote() {
        let time = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 28, 14, 3, 27).unwrap();
        let text = recovery_settings(&Target::Time(time));
        assert!(
            text.contains("recovery_target_time = '2026-11-28 14:03:27.000000+00'"),
            "{text}"
        );
        assert!(text.contains("restore_command = 'cp /var/lib/gymops-restore/wal/%f %p'"));
        assert!(text.contains("recovery_target_action = 'promote'"));
        let text = recovery_settings(&Target::BeforeXid(1234));
        assert!(
            text.contains("recovery_target_xid = '1234'")
                && text.contains("recovery_target_inclusive = 'off'")
        );
        assert!(!recovery_settings(&Target::Latest).contains("recovery_target_time ="));
        assert!(recovery_settings(&Target::Immediate).contains("recovery_target = 'immediate'"));
    }

    #[test]
    fn base_backup_paths_stay_inside_the_data_directory() {
        assert_eq!(
            safe_entry_path(std::path::Path::new("base/1/123")).unwrap(),
            "base/1/123"
        );
        assert_eq!(
            safe_entry_path(std::path::Path::new("./global")).unwrap(),
            "global"
        );
        assert!(safe_entry_path(std::path::Path::new("../etc/passwd")).is_err());
        assert!(safe_entry_path(std::path::Path::new("/etc/passwd")).is_err());
    }
}
