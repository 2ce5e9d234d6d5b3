//! Backups: format, compression, encryption, signing keys, retention, S3.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::*;

/// pg_dump's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// SQL text, restored with psql (the guide's .sql backups)
    Plain,
    /// pg_dump's custom archive, restored with pg_restore
    Custom,
    /// A physical base backup: pg_basebackup's tar (`backup create --type base`)
    #[value(skip)]
    Tar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Zstd,
    Gzip,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupSettings {
    /// Where backups are kept on this host (relative to gymops.yaml's directory).
    pub dir: PathBuf,
    pub format: DumpFormat,
    pub compression: Compression,
    /// Compression level; unset: zstd 1, gzip 6.
    pub level: Option<i32>,
    /// age X25519 recipients (public keys, `age1...`): only public keys on the backup host.
    pub recipients: Vec<String>,
    /// File of age recipients, one per line (`#` comments), like `age -R`.
    pub recipients_file: Option<PathBuf>,
    /// File holding an encryption passphrase; or `GYMOPS_BACKUP_PASSPHRASE`.
    pub passphrase_file: Option<PathBuf>,
    /// Resolved passphrase; never read from gymops.yaml, never serialized.
    #[serde(skip)]
    pub passphrase: Option<Secret>,
    /// age identity file (`AGE-SECRET-KEY-1...`) for verify and restore.
    pub identity_file: Option<PathBuf>,
    /// With no recipients or passphrase set, `backup create` refuses unless this is false
    /// (plaintext backups on purpose).
    pub encrypt: bool,
    /// The Ed25519 key that signs backup manifests (created on first use, mode 0600);
    /// unset: `~/.config/gymops/backup-signing.key`. Keep it off the backup directory.
    pub signing_key_file: Option<PathBuf>,
    /// Public keys (`ed25519:...`) whose signed backups verify and restore accept, besides
    /// this host's own signing key: another site's, or the production host's on a DR host.
    pub trusted_keys: Vec<SigningPublicKey>,
    /// `backup create` stops (and keeps nothing) when pg_dump sends no byte for this long;
    /// pg_dump also gives up waiting for a table lock after it.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// `backup monitor`: the newest backup must be younger than this.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// `backup monitor`: a newest backup smaller than this share of the median of the
    /// previous five is a warning (a sudden drop).
    pub size_drop_percent: u8,
    /// Defaults of `backup prune` (restic's policy).
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub s3: S3Settings,
    /// Continuous WAL archiving (`backup wal start`) and point-in-time restore.
    pub wal: WalSettings,
}

/// `backup.wal`: the receiver's replication slot, when its lag is a warning, uploads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalSettings {
    /// The physical replication slot the receiver streams from (kept by PostgreSQL while
    /// the receiver is down, so no segment is lost).
    pub slot: String,
    /// `backup wal status`: the slot's lag behind the server's current WAL position.
    pub max_lag: WalLagLimits,
    /// Upload each archived segment to S3 (backup.s3.*) as well.
    pub upload_s3: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalLagLimits {
    /// Lag in MiB that is a warning.
    pub warning_mib: u64,
    /// Lag in MiB that is critical.
    pub critical_mib: u64,
}

impl Default for WalLagLimits {
    fn default() -> Self {
        WalLagLimits {
            warning_mib: 64,
            critical_mib: 1024,
        }
    }
}

impl Default for WalSettings {
    fn default() -> Self {
        WalSettings {
            slot: "gymops_wal".into(),
            max_lag: WalLagLimits::default(),
            upload_s3: false,
        }
    }
}

/// An Ed25519 public key as settings spell it: `ed25519:` + the base64 of its 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningPublicKey(pub [u8; 32]);

impl std::fmt::Display for SigningPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine as _;
        write!(
            f,
            "ed25519:{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl std::str::FromStr for SigningPublicKey {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        use base64::Engine as _;
        let expected = "expected ed25519: and the base64 of 32 bytes, as `backup create` prints it";
        let encoded = text
            .trim()
            .strip_prefix("ed25519:")
            .ok_or_else(|| format!("`{text}` is not a signing public key: {expected}"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| format!("`{text}` is not a signing public key: {expected}"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("`{text}` is not a signing public key: {expected}"))?;
        Ok(SigningPublicKey(bytes))
    }
}

impl Serialize for SigningPublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SigningPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// S3 endpoint, e.g. http://localhost:9000 for the deployment's MinIO; unset: AWS.
    pub endpoint: Option<Url>,
    pub region: String,
    pub bucket: Option<String>,
    /// Key prefix of the backups in the bucket.
    pub prefix: String,
    /// Path-style URLs (http://host/bucket/key), as MinIO wants.
    pub path_style: bool,
    /// Files holding the credentials; or `GYMOPS_S3_ACCESS_KEY_ID` / `GYMOPS_S3_SECRET_ACCESS_KEY`.
    pub access_key_id_file: Option<PathBuf>,
    pub secret_access_key_file: Option<PathBuf>,
    #[serde(skip)]
    pub access_key_id: Option<Secret>,
    #[serde(skip)]
    pub secret_access_key: Option<Secret>,
    /// Multipart part size in MiB (at least 5).
    pub part_size_mib: u32,
    /// Timeout of one S3 request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Further attempts of a failed request.
    pub retries: u32,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            region: "us-east-1".into(),
            bucket: None,
            prefix: "backups/".into(),
            path_style: true,
            access_key_id_file: None,
            secret_access_key_file: None,
            access_key_id: None,
            secret_access_key: None,
            part_size_mib: 8,
            timeout: Duration::from_secs(60),
            retries: 3,
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            dir: PathBuf::from("backups"),
            format: DumpFormat::Plain,
            compression: Compression::Zstd,
            level: None,
            recipients: Vec::new(),
            recipients_file: None,
            passphrase_file: None,
            passphrase: None,
            identity_file: None,
            encrypt: true,
            signing_key_file: None,
            trusted_keys: Vec::new(),
            stall_timeout: Duration::from_secs(300),
            max_age: Duration::from_secs(26 * 3600),
            size_drop_percent: 50,
            keep_last: 7,
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 6,
            s3: S3Settings::default(),
            wal: WalSettings::default(),
        }
    }
}
