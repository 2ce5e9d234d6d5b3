//! The WAL archive in `backup.dir/wal/`: `archive.json` (which database system it holds),
//! each closed segment as `NAME.zst[.age]` with a signed record `NAME.zst[.age].json`
//! (SHA-256, system identifier, when it closed), and the receiver's directory
//! `receiver/incoming/` where pg_receivewal writes. [`archive_pass`] moves closed segments
//! from the receiver into the archive: checked, compressed, encrypted, signed, uploaded.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{header_problem, is_history_name, Segment};
use crate::backup::manifest::{Encryption, EncryptionMethod, ManifestSignature};
use crate::backup::pipeline::{self, Encrypt};
use crate::backup::s3::S3;
use crate::backup::signing::{self, SigningKey, Trust};
use crate::random::hex;
use crate::settings::{Compression, SigningPublicKey};

pub const RECORD_VERSION: u32 = 1;
const LOCK_FILE: &str = ".gymops-wal.lock";

/// The places of one WAL archive.
#[derive(Debug, Clone)]
pub struct WalDir {
    pub root: PathBuf,
}

impl WalDir {
    /// The archive of a backup directory.
    pub fn of(backup_dir: &Path) -> WalDir {
        WalDir {
            root: backup_dir.join("wal"),
        }
    }

    /// Bound into the receiver container: its password file and `incoming/`.
    pub fn receiver(&self) -> PathBuf {
        self.root.join("receiver")
    }

    /// Where pg_receivewal writes segments.
    pub fn incoming(&self) -> PathBuf {
        self.receiver().join("incoming")
    }

    pub fn identity_path(&self) -> PathBuf {
        self.root.join("archive.json")
    }

    /// Make the directories (0700: the receiver's directory holds a password file and WAL
    /// in plaintext until it is archived).
    pub fn create(&self) -> Result<()> {
        use crate::fsutil::DirBuilderExt;
        for dir in [self.root.clone(), self.receiver(), self.incoming()] {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(())
    }

    /// Move what the receiver's directory holds aside, to `receiver/replaced-TIME/`: after
    /// `restore --force` it continues a history the restored server has left, and the next
    /// receiver starts from its new slot. Where it went; None when it held nothing.
    pub fn set_aside_incoming(&self, now: DateTime<Utc>) -> Result<Option<PathBuf>> {
        let incoming = self.incoming();
        let empty = match std::fs::read_dir(&incoming) {
            Ok(mut entries) => entries.next().is_none(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => true,
            Err(err) => {
                return Err(err).with_context(|| format!("cannot read {}", incoming.display()))
            }
        };
        if empty {
            return Ok(None);
        }
        let aside = self
            .receiver()
            .join(format!("replaced-{}", now.format("%Y%m%dT%H%M%S%.3fZ")));
        std::fs::rename(&incoming, &aside).with_context(|| {
            format!(
                "cannot move {} aside to {}",
                incoming.display(),
                aside.display()
            )
        })?;
        self.create()?;
        Ok(Some(aside))
    }
}

/// `archive.json`: the database system the archive holds WAL of.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveIdentity {
    /// `pg_control_system().system_identifier`, as text (it does not fit a JSON double).
    pub system_identifier: String,
    pub database: String,
    pub slot: String,
    pub segment_bytes: u64,
    /// Segments are age-encrypted (`backup wal start` refused to archive in plaintext
    /// unless told to).
    pub encrypted: bool,
    pub created_at: DateTime<Utc>,
}

pub fn read_identity(dir: &WalDir) -> Result<Option<ArchiveIdentity>> {
    let path = dir.identity_path();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a gymops WAL archive file", path.display()))
            .map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn write_identity(dir: &WalDir, identity: &ArchiveIdentity) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(identity)?;
    bytes.push(b'\n');
    crate::fsutil::write_atomic(&dir.identity_path(), &bytes, Some(0o600))
}

/// The signed record beside each archived segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRecord {
    pub record_version: u32,
    /// The segment's (or history file's) name in pg_wal.
    pub segment: String,
    pub system_identifier: String,
    pub timeline: u32,
    /// Its size before compression.
    pub wal_bytes: u64,
    pub stored_bytes: u64,
    /// SHA-256 of the stored file.
    pub sha256: String,
    pub compression: Compression,
    pub encryption: Encryption,
    /// When pg_receivewal finished it (its file's modification time): every commit in it
    /// happened before this.
    pub closed_at: DateTime<Utc>,
    pub archived_at: DateTime<Utc>,
    pub signature: Option<ManifestSignature>,
    /// `s3://bucket/key` once uploaded (not signed: it is written later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded: Option<String>,
}

fn record_signed_bytes(record: &SegmentRecord) -> Vec<u8> {
    let mut copy = record.clone();
    copy.signature = None;
    copy.uploaded = None;
    let mut bytes = b"gymops wal segment v1\n".to_vec();
    bytes.extend(serde_json::to_vec(&copy).unwrap_or_default());
    bytes
}

impl SegmentRecord {
    pub fn trust(&self, trusted: &[SigningPublicKey]) -> Trust {
        signing::check_bytes(&record_signed_bytes(self), self.signature.as_ref(), trusted)
    }
}

/// `NAME.zst.age` (or `NAME.zst` when the archive is not encrypted).
pub fn stored_name(segment: &str, encrypted: bool) -> String {
    if encrypted {
        format!("{segment}.zst.age")
    } else {
        format!("{segment}.zst")
    }
}

/// The segment (or history file) name of a stored file's name: [`stored_name`] undone.
pub fn unstored_name(file_name: &str) -> Option<&str> {
    file_name
        .strip_suffix(".zst.age")
        .or_else(|| file_name.strip_suffix(".zst"))
}

fn record_path(stored: &Path) -> PathBuf {
    crate::backup::manifest::manifest_path(stored)
}

fn write_record(stored: &Path, record: &SegmentRecord) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(record)?;
    bytes.push(b'\n');
    crate::fsutil::write_atomic(&record_path(stored), &bytes, Some(0o600))
}

/// A segment in the archive.
#[derive(Debug, Clone)]
pub struct Archived {
    pub name: String,
    /// None for a history file.
    pub segment: Option<Segment>,
    pub path: PathBuf,
    /// None when the record is missing or unreadable (a file without one is not used).
    pub record: Option<SegmentRecord>,
}

/// The archived segments and history files, in name order (which is WAL order on a
/// timeline).
pub fn list_archived(dir: &WalDir, segment_bytes: u64) -> Result<Vec<Archived>> {
    let entries = match std::fs::read_dir(&dir.root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", dir.root.display())),
    };
    let mut out = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some(base) = unstored_name(&file_name) else {
            continue;
        };
        let segment = Segment::parse(base, segment_bytes);
        if segment.is_none() && !is_history_name(base) {
            continue;
        }
        let path = entry.path();
        let record = std::fs::read(record_path(&path))
            .ok()
            .filter(|bytes| bytes.len() < 64 * 1024)
            .and_then(|bytes| serde_json::from_slice::<SegmentRecord>(&bytes).ok())
            .filter(|record| record.segment == base);
        out.push(Archived {
            name: base.to_string(),
            segment,
            path,
            record,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// When a file was last written (a received segment's close time, the partial's last
/// write).
pub fn written_at(path: &Path) -> Option<DateTime<Utc>> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from)
}

/// What pg_receivewal has written and not yet handed on.
#[derive(Debug, Default)]
pub struct Incoming {
    /// Closed segments and history files, in name order.
    pub closed: Vec<(String, PathBuf)>,
    /// The segment being written (`NAME.partial`).
    pub partial: Option<(Segment, PathBuf)>,
}

pub fn list_incoming(dir: &WalDir, segment_bytes: u64) -> Result<Incoming> {
    let mut incoming = Incoming::default();
    let entries = match std::fs::read_dir(dir.incoming()) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(incoming),
        Err(err) => {
            return Err(err).with_context(|| format!("cannot read {}", dir.incoming().display()))
        }
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if let Some(base) = name.strip_suffix(".partial") {
            if let Some(segment) = Segment::parse(base, segment_bytes) {
                if incoming.partial.as_ref().is_none_or(|(s, _)| segment > *s) {
                    incoming.partial = Some((segment, entry.path()));
                }
            }
        } else if Segment::parse(&name, segment_bytes).is_some() || is_history_name(&name) {
            incoming.closed.push((name, entry.path()));
        }
    }
    incoming.closed.sort();
    Ok(incoming)
}

/// How segments are stored.
pub struct Sealer {
    pub level: i32,
    pub encrypt: Encrypt,
    pub encryption: Encryption,
    pub signing: Arc<SigningKey>,
    pub s3: Option<Arc<S3>>,
    /// The upload was asked for but its client could not be made (settings, credentials):
    /// segments are still sealed here, and this is the upload's error.
    pub s3_unavailable: Option<String>,
}

/// What one pass did.
#[derive(Debug, Default, Serialize)]
pub struct Pass {
    pub archived: Vec<String>,
    pub uploaded: usize,
    pub upload_errors: Vec<String>,
    /// Segments left in the receiver's directory, and why (another database system's).
    pub refused: Vec<String>,
    /// Another pass holds the archive's lock (a cron overlap): nothing was done.
    pub busy: bool,
}

/// Hand every closed segment on: check it is this system's, compress, encrypt, write it
/// and its signed record atomically, then remove it from the receiver's directory; upload
/// what is not uploaded yet.
pub async fn archive_pass(
    dir: &WalDir,
    identity: &ArchiveIdentity,
    sealer: &Sealer,
) -> Result<Pass> {
    dir.create()?;
    let mut pass = Pass::default();
    let _lock =
        match crate::lock::try_acquire(&dir.root.join(LOCK_FILE), "gymops backup wal archive")? {
            Ok(lock) => lock,
            Err(_) => {
                pass.busy = true;
                return Ok(pass);
            }
        };
    let incoming = list_incoming(dir, identity.segment_bytes)?;
    for (name, path) in &incoming.closed {
        match archive_one(dir, identity, sealer, name, path).await {
            Ok(()) => pass.archived.push(name.clone()),
            Err(err) => pass.refused.push(crate::error::describe(&err).0),
        }
    }
    if let Some(why) = &sealer.s3_unavailable {
        pass.upload_errors.push(why.clone());
    }
    if let Some(s3) = &sealer.s3 {
        for archived in list_archived(dir, identity.segment_bytes)? {
            let Some(mut record) = archived.record else {
                continue;
            };
            if record.uploaded.is_some() {
                continue;
            }
            match upload_one(s3, &archived.path, &record).await {
                Ok(url) => {
                    record.uploaded = Some(url);
                    write_record(&archived.path, &record)?;
                    pass.uploaded += 1;
                }
                Err(err) => {
                    pass.upload_errors.push(crate::error::describe(&err).0);
                    // The endpoint is down or refusing: the rest would fail the same way.
                    break;
                }
            }
        }
    }
    Ok(pass)
}

async fn upload_one(s3: &S3, stored: &Path, record: &SegmentRecord) -> Result<String> {
    let file_name = stored
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let key = s3.key_for(&format!("wal/{file_name}"));
    let body =
        std::fs::read(stored).with_context(|| format!("cannot read {}", stored.display()))?;
    s3.put(&key, body).await?;
    let mut signed = record.clone();
    signed.uploaded = None;
    s3.put(&format!("{key}.json"), serde_json::to_vec_pretty(&signed)?)
        .await?;
    Ok(format!("s3://{}/{key}", s3.bucket()))
}

async fn archive_one(
    dir: &WalDir,
    identity: &ArchiveIdentity,
    sealer: &Sealer,
    name: &str,
    path: &Path,
) -> Result<()> {
    let metadata = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !metadata.is_file() || metadata.len() > identity.segment_bytes.max(1 << 20) {
        return Err(anyhow!(
            "{} is not a WAL segment (size {}); left where it is",
            path.display(),
            metadata.len()
        ));
    }
    let closed_at: DateTime<Utc> = metadata
        .modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let timeline = if let Some(segment) = Segment::parse(name, identity.segment_bytes) {
        if data.len() as u64 != identity.segment_bytes {
            return Err(anyhow!(
                "segment {name} is {} bytes, not {}: it is incomplete; left where it is",
                data.len(),
                identity.segment_bytes
            ));
        }
        if let Some(problem) = header_problem(
            segment,
            &data,
            &identity.system_identifier,
            identity.segment_bytes,
        ) {
            return Err(anyhow!(
                "segment {name} {problem} (the archive's system): left in {}",
                dir.incoming().display()
            ));
        }
        segment.timeline
    } else {
        u32::from_str_radix(&name[..8], 16).unwrap_or(0)
    };
    let encrypted = sealer.encryption.method != EncryptionMethod::None;
    let stored_path = dir.root.join(stored_name(name, encrypted));
    let (level, encrypt) = (sealer.level, sealer.encrypt.clone());
    let sealed = tokio::task::spawn_blocking(move || {
        pipeline::seal(&data, Compression::Zstd, level, &encrypt).map(|s| (s, data.len()))
    })
    .await
    .map_err(|err| anyhow!("the WAL pipeline failed: {err}"))??;
    let (sealed, wal_bytes) = sealed;
    let mut record = SegmentRecord {
        record_version: RECORD_VERSION,
        segment: name.to_string(),
        system_identifier: identity.system_identifier.clone(),
        timeline,
        wal_bytes: wal_bytes as u64,
        stored_bytes: sealed.len() as u64,
        sha256: hex(&Sha256::digest(&sealed)),
        compression: Compression::Zstd,
        encryption: sealer.encryption.clone(),
        closed_at,
        archived_at: Utc::now(),
        signature: None,
        uploaded: None,
    };
    record.signature = Some(sealer.signing.sign_bytes(&record_signed_bytes(&record)));
    crate::fsutil::write_atomic(&stored_path, &sealed, Some(0o600))
        .with_context(|| format!("cannot write {}", stored_path.display()))?;
    write_record(&stored_path, &record)
        .with_context(|| format!("cannot write the record of {}", stored_path.display()))?;
    if let Ok(root) = std::fs::File::open(&dir.root) {
        let _ = root.sync_all();
    }
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(system: u64, number: u64) -> Vec<u8> {
        let bytes = super::super::DEFAULT_SEGMENT_BYTES;
        let mut data = vec![0u8; bytes as usize];
        data[0..2].copy_from_slice(&0xD110u16.to_le_bytes());
        data[2..4].copy_from_slice(&0x0006u16.to_le_bytes());
        data[4..8].copy_from_slice(&1u32.to_le_bytes());
        data[8..16].copy_from_slice(&(number * bytes).to_le_bytes());
        data[24..32].copy_from_slice(&system.to_le_bytes());
        data[32..36].copy_from_slice(&(bytes as u32).to_le_bytes());
        data
    }

    fn key(dir: &Path) -> Arc<SigningKey> {
        Arc::new(signing::load_or_create(&dir.join("key")).unwrap().0)
    }

    #[test]
    fn what_the_receiver_held_is_set_aside_whole_and_the_directory_made_again() {
        let temp = tempfile::tempdir().unwrap();
        let dir = WalDir::of(temp.path());
        dir.create().unwrap();
        let now = Utc::now();
        assert_eq!(dir.set_aside_incoming(now).unwrap(), None);
        let partial = "000000010000000000000003.partial";
        std::fs::write(dir.incoming().join(partial), b"wal").unwrap();
        let aside = dir.set_aside_incoming(now).unwrap().unwrap();
        assert_eq!(std::fs::read(aside.join(partial)).unwrap(), b"wal");
        assert!(aside.starts_with(dir.receiver()));
        assert_eq!(std::fs::read_dir(dir.incoming()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn closed_segments_are_sealed_signed_and_removed_others_refused() {
        let temp = tempfile::tempdir().unwrap();
        let dir = WalDir::of(temp.path());
        dir.create().unwrap();
        let identity = ArchiveIdentity {
            system_identifier: "42".into(),
            database: "fitness_gym".into(),
            slot: "gymops_wal".into(),
            segment_bytes: super::super::DEFAULT_SEGMENT_BYTES,
            encrypted: false,
            created_at: Utc::now(),
        };
        std::fs::write(
            dir.incoming().join("000000010000000000000003"),
            segment(42, 3),
        )
        .unwrap();
        std::fs::write(
            dir.incoming().join("000000010000000000000004"),
            segment(99, 4),
        )
        .unwrap();
        std::fs::write(
            dir.incoming().join("000000010000000000000005.partial"),
            segment(42, 5),
        )
        .unwrap();
        let signing = key(temp.path());
        let sealer = Sealer {
            level: 1,
            encrypt: Encrypt::None,
            encryption: Encryption {
                method: EncryptionMethod::None,
                recipients: Vec::new(),
            },
            signing: signing.clone(),
            s3: None,
            s3_unavailable: None,
        };
        let pass = archive_pass(&dir, &identity, &sealer).await.unwrap();
        assert_eq!(pass.archived, ["000000010000000000000003"]);
        assert_eq!(pass.refused.len(), 1, "{:?}", pass.refused);
        assert!(
            pass.refused[0].contains("database system 99"),
            "{:?}",
            pass.refused
        );
        let archived = list_archived(&dir, identity.segment_bytes).unwrap();
        assert_eq!(archived.len(), 1);
        let record = archived[0].record.clone().unwrap();
        assert!(record.trust(&[signing.public()]).trusted());
        // A changed record no longer verifies.
        let mut forged = record.clone();
        forged.sha256 = "00".repeat(32);
        assert!(!forged.trust(&[signing.public()]).trusted());
        // The stored file is zstd of the segment.
        let stored = std::fs::read(&archived[0].path).unwrap();
        assert_eq!(zstd::decode_all(stored.as_slice()).unwrap(), segment(42, 3));
        let incoming = list_incoming(&dir, identity.segment_bytes).unwrap();
        assert_eq!(incoming.closed.len(), 1, "the foreign segment stays");
        assert_eq!(incoming.partial.unwrap().0.number, 5);
    }
}
