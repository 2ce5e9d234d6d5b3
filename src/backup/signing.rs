//! Backups that cannot be swapped: every manifest is signed with an Ed25519 key of gymops's
//! own, kept off the backup directory (created on first use, mode 0600 in a 0700
//! directory). The manifest binds the stored file's SHA-256 and size, its encryption and
//! the database, so a signed manifest vouches for exactly one file. Verify and restore
//! accept a backup only when its manifest is signed by this host's key or one of
//! `backup.trusted_keys`, unless the operator says `--trust-unsigned`.
//!
//! Why Ed25519 and not an HMAC: the verifying half is public, so a DR host or another site
//! can check a backup with a public key in its settings and no secret to guard.

use crate::fsutil::{DirBuilderExt, OpenOptionsExt};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use ed25519_dalek::{Signer, Verifier};

use super::manifest::{Manifest, ManifestSignature};
use crate::error::HintExt;
use crate::settings::SigningPublicKey;

const KEY_LINE_PREFIX: &str = "GYMOPS-BACKUP-SIGNING-KEY-1 ";
/// A key file is a few hundred bytes.
const KEY_FILE_CAP: u64 = 4096;

fn base64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Where the signing key lives: the setting, or `$XDG_CONFIG_HOME/gymops/` /
/// `$HOME/.config/gymops/backup-signing.key`.
pub fn key_path(
    setting: Option<&Path>,
    environment: &std::collections::BTreeMap<String, String>,
) -> Result<PathBuf> {
    if let Some(path) = setting {
        return Ok(path.to_path_buf());
    }
    let config_home = environment
        .get("XDG_CONFIG_HOME")
        .filter(|v| v.starts_with('/'))
        .map(PathBuf::from)
        .or_else(|| {
            environment
                .get("HOME")
                .filter(|v| v.starts_with('/'))
                .map(|home| Path::new(home).join(".config"))
        })
        .ok_or_else(|| anyhow!("no place for the backup signing key: HOME is not set"))
        .hint("set backup.signing_key_file in gymops.yaml (a path outside the backup directory)")?;
    Ok(config_home.join("gymops").join("backup-signing.key"))
}

/// This host's signing key.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
    pub path: PathBuf,
}

impl SigningKey {
    pub fn public(&self) -> SigningPublicKey {
        SigningPublicKey(self.key.verifying_key().to_bytes())
    }

    /// Sign a manifest (replacing any signature it had).
    pub fn sign(&self, manifest: &mut Manifest) {
        manifest.signature = Some(self.sign_bytes(&signed_bytes(manifest)));
    }

    /// Sign any bytes (a WAL segment's record: see [`super::wal::archive`]).
    pub fn sign_bytes(&self, bytes: &[u8]) -> ManifestSignature {
        let signature = self.key.sign(bytes);
        ManifestSignature {
            key: self.public().to_string(),
            value: base64().encode(signature.to_bytes()),
        }
    }
}

/// Read the key file; None when it does not exist.
pub fn load(path: &Path) -> Result<Option<SigningKey>> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(crate::fsutil::no_follow())
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("cannot read the backup signing key {}", path.display()))
                .hint("it must be a regular file (not a symlink) readable by this user")
        }
    };
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(anyhow!(
            "the backup signing key {} is not a regular file",
            path.display()
        ));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, KEY_FILE_CAP), &mut text)
        .with_context(|| format!("cannot read the backup signing key {}", path.display()))?;
    let seed = text
        .lines()
        .find_map(|line| line.trim().strip_prefix(KEY_LINE_PREFIX))
        .and_then(|encoded| base64().decode(encoded.trim()).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| anyhow!("{} is not a gymops backup signing key", path.display()))
        .hint("restore the key file from where you keep its copy, or point backup.signing_key_file at it")?;
    Ok(Some(SigningKey {
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
        path: path.to_path_buf(),
    }))
}

/// Read the key, or create it (first use). The bool says it was created now.
pub fn load_or_create(path: &Path) -> Result<(SigningKey, bool)> {
    if let Some(key) = load(path)? {
        return Ok((key, false));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let seed = crate::random::bytes::<32>()?;
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = SigningPublicKey(key.verifying_key().to_bytes());
    let text = format!(
        "# gymops backup signing key (Ed25519): it signs every backup manifest of this host.\n\
         # Keep it secret and off the backup directory; keep a copy where you keep the age key.\n\
         # Its public half, for backup.trusted_keys on other hosts: {public}\n\
         {KEY_LINE_PREFIX}{}\n",
        base64().encode(seed)
    );
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(crate::fsutil::no_follow())
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|_| file.sync_all())
                .with_context(|| {
                    format!("cannot write the backup signing key {}", path.display())
                })?;
            Ok((
                SigningKey {
                    key,
                    path: path.to_path_buf(),
                },
                true,
            ))
        }
        // Another gymops created it meanwhile: use that one.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let key = load(path)?
                .ok_or_else(|| anyhow!("the backup signing key {} vanished", path.display()))?;
            Ok((key, false))
        }
        Err(err) => Err(err)
            .with_context(|| format!("cannot create the backup signing key {}", path.display())),
    }
}

/// The bytes a signature covers: the manifest as JSON without `signature` and `verified`
/// (verify records its result in the manifest later; that record is advisory).
pub fn signed_bytes(manifest: &Manifest) -> Vec<u8> {
    let mut copy = manifest.clone();
    copy.signature = None;
    copy.verified = None;
    let mut bytes = b"gymops backup manifest v1\n".to_vec();
    bytes.extend(serde_json::to_vec(&copy).unwrap_or_default());
    bytes
}

/// What a manifest's signature says.
#[derive(Debug, Clone, PartialEq)]
pub enum Trust {
    /// Signed by a trusted key.
    Signed(String),
    Unsigned,
    /// Signed by a key that is neither this host's nor in `backup.trusted_keys`.
    UntrustedKey(String),
    /// The signature does not match the manifest (it was changed after signing).
    BadSignature(String),
}

impl Trust {
    pub fn trusted(&self) -> bool {
        matches!(self, Trust::Signed(_))
    }

    /// Why a backup is not trusted, for an error line.
    pub fn problem(&self) -> Option<String> {
        match self {
            Trust::Signed(_) => None,
            Trust::Unsigned => Some("its manifest is not signed".into()),
            Trust::UntrustedKey(key) => Some(format!(
                "its manifest is signed by {key}, which is not this host's key nor in backup.trusted_keys"
            )),
            Trust::BadSignature(key) => Some(format!(
                "its manifest's signature (by {key}) does not match: the manifest was changed after it was written"
            )),
        }
    }
}

/// Check a manifest's signature against the trusted keys.
pub fn check(manifest: &Manifest, trusted: &[SigningPublicKey]) -> Trust {
    check_bytes(
        &signed_bytes(manifest),
        manifest.signature.as_ref(),
        trusted,
    )
}

/// Check a signature over `bytes` against the trusted keys.
pub fn check_bytes(
    bytes: &[u8],
    signature: Option<&ManifestSignature>,
    trusted: &[SigningPublicKey],
) -> Trust {
    let Some(signature) = signature else {
        return Trust::Unsigned;
    };
    let Ok(key) = signature.key.parse::<SigningPublicKey>() else {
        return Trust::BadSignature(signature.key.clone());
    };
    if !trusted.contains(&key) {
        return Trust::UntrustedKey(signature.key.clone());
    }
    let verified = (|| {
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key.0).ok()?;
        let raw: [u8; 64] = base64().decode(&signature.value).ok()?.try_into().ok()?;
        let value = ed25519_dalek::Signature::from_bytes(&raw);
        verifying.verify(bytes, &value).ok()
    })();
    match verified {
        Some(()) => Trust::Signed(signature.key.clone()),
        None => Trust::BadSignature(signature.key.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::manifest::{Encryption, EncryptionMethod};
    use crate::settings::{Compression, DumpFormat};

    fn manifest() -> Manifest {
        Manifest {
            manifest_version: 1,
            file: "fitness_gym_db_backup_full_20261128_020000.sql.zst.age".into(),
            database: "fitness_gym".into(),
            server_version: None,
            format: DumpFormat::Plain,
            compression: Compression::Zstd,
            level: Some(1),
            encryption: Encryption {
                method: EncryptionMethod::X25519,
                recipients: vec!["sha256:0011223344556677".into()],
            },
            dump_bytes: 1000,
            stored_bytes: 400,
            sha256: "ab".repeat(32),
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            gymops_version: "0.1.0".into(),
            label: None,
            source: "on this host".into(),
            tables: Default::default(),
            row_counts: "dump".into(),
            roles: Vec::new(),
            verified: None,
            base: None,
            signature: None,
        }
    }

    #[test]
    fn a_signed_manifest_verifies_and_any_change_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/backup-signing.key");
        let (key, created) = load_or_create(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&parent.permissions()) & 0o777,
            0o700
        );
        let (again, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again.public(), key.public());

        let trusted = [key.public()];
        let mut signed = manifest();
        assert_eq!(check(&signed, &trusted), Trust::Unsigned);
        key.sign(&mut signed);
        assert!(check(&signed, &trusted).trusted());
        // Recording a verification does not break the signature.
        signed.verified = Some(crate::backup::manifest::Verification {
            at: chrono::Utc::now(),
            restore_test: true,
        });
        assert!(check(&signed, &trusted).trusted());
        // Pointing the manifest at another file's hash, or claiming no encryption, does.
        let mut swapped = signed.clone();
        swapped.sha256 = "cd".repeat(32);
        assert!(matches!(check(&swapped, &trusted), Trust::BadSignature(_)));
        let mut plain = signed.clone();
        plain.encryption.method = EncryptionMethod::None;
        assert!(matches!(check(&plain, &trusted), Trust::BadSignature(_)));
        // A key nobody trusts, however valid its signature.
        let other = load_or_create(&dir.path().join("other.key")).unwrap().0;
        let mut forged = manifest();
        other.sign(&mut forged);
        assert!(matches!(check(&forged, &trusted), Trust::UntrustedKey(_)));
        assert!(check(&forged, &[key.public(), other.public()]).trusted());
    }

    #[test]
    fn the_key_path_follows_the_setting_then_xdg_then_home() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            key_path(Some(Path::new("/etc/gymops/sign.key")), &env(&[])).unwrap(),
            Path::new("/etc/gymops/sign.key")
        );
        assert_eq!(
            key_path(
                None,
                &env(&[("HOME", "/root"), ("XDG_CONFIG_HOME", "/cfg")])
            )
            .unwrap(),
            Path::new("/cfg/gymops/backup-signing.key")
        );
        assert_eq!(
            key_path(None, &env(&[("HOME", "/root")])).unwrap(),
            Path::new("/root/.config/gymops/backup-signing.key")
        );
        assert!(key_path(None, &env(&[])).is_err());
    }

    #[test]
    fn public_keys_round_trip_and_bad_ones_say_what_is_expected() {
        let key: SigningPublicKey = format!("ed25519:{}", base64().encode([7u8; 32]))
            .parse()
            .unwrap();
        assert_eq!(key.to_string().parse::<SigningPublicKey>().unwrap(), key);
        let err = "ed25519:short".parse::<SigningPublicKey>().unwrap_err();
        assert!(err.contains("base64 of 32 bytes"), "{err}");
        assert!("age1xyz".parse::<SigningPublicKey>().is_err());
    }
}
