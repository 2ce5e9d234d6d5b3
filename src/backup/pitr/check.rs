//! The checks of a point-in-time restore's WAL before anything is made.

use std::io::Read;

use anyhow::{anyhow, Context, Result};
use sha2::{Digest, Sha256};

use super::WalPiece;
use crate::backup::manifest::EncryptionMethod;
use crate::backup::pipeline::{self, Decrypt};
use crate::backup::restore::Key;
use crate::backup::wal::archive::SegmentRecord;
use crate::backup::wal::header_problem;
use crate::error::HintExt;
use crate::random::hex;
use crate::settings::{Compression, SigningPublicKey};

/// The decryption of an archived segment with the restore's key.
pub(super) fn decrypt_for_record(record: &SegmentRecord, key: &Key) -> Result<Decrypt> {
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
        // A history file has no page header; a segment must be the base backup's system's.
        let problem = crate::backup::wal::Segment::parse(&name, segment_bytes)
            .and_then(|segment| header_problem(segment, &head, system_identifier, segment_bytes));
        if let Some(problem) = problem {
            return Err(anyhow!(
                "WAL segment {name} {problem} (the base backup's system); nothing was restored"
            ));
        }
    }
    Ok(())
}
