//! The JSON manifest written beside every backup (`NAME.json`): what was dumped, how it is
//! stored, the SHA-256 of the stored bytes, rows per table and owner roles (to check a
//! restore against), and when it was last verified. Never a secret: recipients appear as
//! fingerprints. Also the backup file names and restic's retention policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Datelike, Local, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::random::hex;
use crate::settings::{Compression, DumpFormat};

pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncryptionMethod {
    None,
    /// age X25519 recipients
    X25519,
    /// age scrypt passphrase
    Passphrase,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    pub method: EncryptionMethod,
    /// Fingerprints of the recipients (`sha256:` + 16 hex digits of the `age1...` key).
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    pub at: DateTime<Utc>,
    /// Restored into a scratch database and row counts compared, or only read through.
    pub restore_test: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub manifest_version: u32,
    pub file: String,
    pub database: String,
    pub server_version: Option<String>,
    pub format: DumpFormat,
    pub compression: Compression,
    pub level: Option<i32>,
    pub encryption: Encryption,
    /// pg_dump's output size.
    pub dump_bytes: u64,
    /// Size of the stored file.
    pub stored_bytes: u64,
    /// SHA-256 of the stored file, hex.
    pub sha256: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub gymops_version: String,
    pub label: Option<String>,
    /// Where pg_dump ran: `in container fitness_gym_postgres` or `on this host`.
    pub source: String,
    /// Rows per table (`schema.table` as pg_dump names it) at dump time.
    pub tables: BTreeMap<String, u64>,
    /// Where the row counts come from: `dump` (the COPY blocks), `snapshot` (counted in the
    /// dump's snapshot), or `none`.
    pub row_counts: String,
    /// Roles that own objects in the dump (a restore needs them, or `--no-owner`).
    pub roles: Vec<String>,
    pub verified: Option<Verification>,
    /// What a base backup needs to be restored (None for pg_dump backups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseInfo>,
    /// gymops's Ed25519 signature over everything above but `verified` (see
    /// [`super::signing`]); None in manifests of gymops before 0.2, and when forged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ManifestSignature>,
}

/// A base backup's place in the write-ahead log: restoring it needs the archived WAL from
/// `start_lsn` through `stop_lsn` (then any further WAL to reach a later time).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BaseInfo {
    /// `pg_control_system().system_identifier` of the server backed up.
    pub system_identifier: String,
    pub timeline: u32,
    pub start_lsn: crate::backup::wal::Lsn,
    pub stop_lsn: crate::backup::wal::Lsn,
    pub segment_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    /// The signer's public key, `ed25519:...`.
    pub key: String,
    /// The signature, base64.
    pub value: String,
}

/// `NAME.json` beside `NAME`.
pub fn manifest_path(backup: &Path) -> PathBuf {
    let mut name = backup.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// A manifest is a few KiB (a few hundred bytes per table); anything past this is not one.
pub const MAX_MANIFEST_BYTES: u64 = 8 * 1024 * 1024;

pub fn read(backup: &Path) -> Result<Option<Manifest>> {
    let path = manifest_path(backup);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_MANIFEST_BYTES + 1),
        &mut bytes,
    )
    .with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes)
        .with_context(|| format!("{} is not a gymops backup manifest", path.display()))
        .map(Some)
}

/// A manifest's bytes, at most [`MAX_MANIFEST_BYTES`].
pub fn parse(bytes: &[u8]) -> Result<Manifest> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(anyhow!(
            "it is larger than {} MiB",
            MAX_MANIFEST_BYTES / 1024 / 1024
        ));
    }
    Ok(serde_json::from_slice(bytes)?)
}

pub fn to_json(manifest: &Manifest) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

pub fn write(backup: &Path, manifest: &Manifest) -> Result<()> {
    let path = manifest_path(backup);
    crate::fsutil::write_atomic(&path, &to_json(manifest), Some(0o600))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `sha256:` + 16 hex digits of an age recipient string: names it without spelling it out.
pub fn fingerprint(recipient: &str) -> String {
    let digest = Sha256::digest(recipient.trim().as_bytes());
    format!("sha256:{}", &hex(&digest)[..16])
}

/// `fitness_gym_db_backup_full_20261127_020000[_label].sql.zst.age`
pub fn file_name(
    database: &str,
    time: DateTime<Utc>,
    label: Option<&str>,
    format: DumpFormat,
    compression: Compression,
    encrypted: bool,
) -> String {
    let kind = if format == DumpFormat::Tar {
        "base"
    } else {
        "full"
    };
    let mut name = format!(
        "{database}_db_backup_{kind}_{}",
        time.with_timezone(&Local).format("%Y%m%d_%H%M%S")
    );
    if let Some(label) = label {
        name.push('_');
        name.push_str(label);
    }
    name.push_str(match format {
        DumpFormat::Plain => ".sql",
        DumpFormat::Custom => ".dump",
        DumpFormat::Tar => ".tar",
    });
    name.push_str(match compression {
        Compression::Zstd => ".zst",
        Compression::Gzip => ".gz",
        Compression::None => "",
    });
    if encrypted {
        name.push_str(".age");
    }
    name
}

/// A label must be usable in a file name.
pub fn check_label(label: &str) -> Result<()> {
    if label.is_empty()
        || label.len() > 40
        || !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(anyhow!(
            "label `{label}` must be 1-40 letters, digits, `-` or `_`"
        ));
    }
    Ok(())
}

/// What a file name says about a backup without its manifest: format, compression,
/// encryption, and the time in its name.
pub fn guess_from_name(name: &str) -> (DumpFormat, Compression, bool, Option<DateTime<Utc>>) {
    let encrypted = name.ends_with(".age");
    let stem = name.trim_end_matches(".age");
    let compression = if stem.ends_with(".zst") {
        Compression::Zstd
    } else if stem.ends_with(".gz") {
        Compression::Gzip
    } else {
        Compression::None
    };
    let stem = stem.trim_end_matches(".zst").trim_end_matches(".gz");
    let format = if stem.ends_with(".dump") {
        DumpFormat::Custom
    } else if stem.ends_with(".tar") {
        DumpFormat::Tar
    } else {
        DumpFormat::Plain
    };
    let time = name.split("_db_backup_").nth(1).and_then(|rest| {
        let rest = rest
            .strip_prefix("full_")
            .or_else(|| rest.strip_prefix("base_"))
            .unwrap_or(rest);
        let stamp = rest.get(..15)?;
        let naive = NaiveDateTime::parse_from_str(stamp, "%Y%m%d_%H%M%S").ok()?;
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    });
    (format, compression, encrypted, time)
}

/// A backup as retention sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub time: DateTime<Utc>,
    pub verified: bool,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

/// restic's `forget` semantics: keep the newest `last`; for each of the newest `daily`
/// days (weeks, months) that have backups, the newest backup of that day. A backup any rule
/// keeps is kept, with the rules that keep it. The newest verified backup is always kept.
pub fn plan(candidates: &[Candidate], policy: Policy) -> Vec<(Candidate, Vec<String>)> {
    let mut sorted = candidates.to_vec();
    sorted.sort_by(|a, b| b.time.cmp(&a.time).then(b.name.cmp(&a.name)));
    let newest_verified = sorted.iter().position(|c| c.verified);
    type Bucket = fn(&DateTime<Local>) -> (i32, u32);
    let rules: [(&str, u32, Bucket); 3] = [
        ("daily", policy.daily, |t| (t.year(), t.ordinal())),
        ("weekly", policy.weekly, |t| {
            let week = t.iso_week();
            (week.year(), week.week())
        }),
        ("monthly", policy.monthly, |t| (t.year(), t.month())),
    ];
    let mut seen: Vec<(Option<(i32, u32)>, u32)> = vec![(None, 0); rules.len()];
    sorted
        .into_iter()
        .enumerate()
        .map(|(index, candidate)| {
            let mut reasons = Vec::new();
            if (index as u32) < policy.last {
                reasons.push("last".to_string());
            }
            let local = candidate.time.with_timezone(&Local);
            for (rule, (name, keep, bucket)) in rules.iter().enumerate() {
                let key = bucket(&local);
                let (last_key, kept) = &mut seen[rule];
                if *last_key != Some(key) {
                    *last_key = Some(key);
                    if *kept < *keep {
                        *kept += 1;
                        reasons.push((*name).to_string());
                    }
                }
            }
            if Some(index) == newest_verified {
                reasons.push("newest verified".to_string());
            }
            (candidate, reasons)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap();
        Local
            .from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn names_round_trip_through_the_guess() {
        let time = at("2026-11-27 02:00");
        let name = file_name(
            "fitness_gym",
            time,
            Some("pre-deploy"),
            DumpFormat::Plain,
            Compression::Zstd,
            true,
        );
        assert_eq!(
            name,
            "fitness_gym_db_backup_full_20261127_020000_pre-deploy.sql.zst.age"
        );
        let (format, compression, encrypted, guessed) = guess_from_name(&name);
        assert_eq!(format, DumpFormat::Plain);
        assert_eq!(compression, Compression::Zstd);
        assert!(encrypted);
        assert_eq!(guessed, Some(time));
        let name = file_name(
            "db",
            time,
            None,
            DumpFormat::Custom,
            Compression::None,
            false,
        );
        assert_eq!(name, "db_db_backup_full_20261127_020000.dump");
        assert!(check_label("pre-deploy_1").is_ok());
        assert!(check_label("../etc").is_err());
    }

    #[test]
    fn fingerprints_name_keys_without_spelling_them() {
        let key = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let print = fingerprint(key);
        assert!(print.starts_with("sha256:") && print.len() == 23);
        assert!(!print.contains("age1"));
        assert_eq!(print, fingerprint(&format!(" {key}\n")));
    }

    fn candidates(times: &[&str]) -> Vec<Candidate> {
        times
            .iter()
            .map(|t| Candidate {
                name: format!("b {t}"),
                time: at(t),
                verified: false,
            })
            .collect()
    }

    fn kept(plan: &[(Candidate, Vec<String>)]) -> Vec<String> {
        plan.iter()
            .filter(|(_, reasons)| !reasons.is_empty())
            .map(|(c, _)| c.name.clone())
            .collect()
    }

    #[test]
    fn retention_follows_restic() {
        let list = candidates(&[
            "2026-11-27 02:00",
            "2026-11-26 14:00",
            "2026-11-26 02:00",
            "2026-11-25 02:00",
            "2026-11-20 02:00",
            "2026-11-02 02:00",
            "2026-10-15 02:00",
            "2026-09-30 02:00",
        ]);
        let policy = Policy {
            last: 2,
            daily: 3,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(
            kept(&plan(&list, policy)),
            [
                "b 2026-11-27 02:00",
                "b 2026-11-26 14:00",
                "b 2026-11-25 02:00"
            ],
            "last 2, then the newest of each of 3 days (the 26th's newest is already kept)"
        );
        let policy = Policy {
            last: 0,
            daily: 0,
            weekly: 0,
            monthly: 3,
        };
        assert_eq!(
            kept(&plan(&list, policy)),
            [
                "b 2026-11-27 02:00",
                "b 2026-10-15 02:00",
                "b 2026-09-30 02:00"
            ]
        );
    }

    #[test]
    fn the_newest_verified_backup_survives_any_policy() {
        let mut list = candidates(&["2026-11-27 02:00", "2026-11-26 02:00", "2026-11-25 02:00"]);
        list[1].verified = true;
        list[2].verified = true;
        let plan = plan(
            &list,
            Policy {
                last: 1,
                ..Policy::default()
            },
        );
        assert_eq!(kept(&plan), ["b 2026-11-27 02:00", "b 2026-11-26 02:00"]);
        assert_eq!(plan[1].1, ["newest verified"]);
    }
}
