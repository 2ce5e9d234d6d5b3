//! The read pipeline: stored bytes (file or S3) -> SHA-256 -> age -> zstd | gzip -> the
//! caller.

use std::io::{self, Read};
use std::sync::Arc;

use age::secrecy::SecretString;
use anyhow::{anyhow, Context, Result};
use sha2::{Digest, Sha256};

use super::{Decrypt, SCRYPT_MAX_WORK_FACTOR};
use crate::random::hex;
use crate::settings::Compression;

/// A reader that hashes and counts what passes through it.
pub struct Hashing<R: Read> {
    inner: R,
    hasher: Sha256,
    pub bytes: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
}

impl<R: Read> Hashing<R> {
    /// The SHA-256 (hex) and size of what was read.
    pub fn digest(&self) -> (String, u64) {
        (hex(&self.hasher.clone().finalize()), self.bytes)
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Shared view of a [`Hashing`] reader that sits under the decryptor.
pub struct StoredDigest {
    pub sha256: String,
    pub bytes: u64,
}

/// Wraps the hashing reader so the digest can be read after the decoders are done with it.
pub struct SharedHashing<R: Read> {
    inner: Arc<std::sync::Mutex<Hashing<R>>>,
}

impl<R: Read> Read for SharedHashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("hash state poisoned"))?
            .read(buf)
    }
}

/// The digest of everything read so far.
pub struct HashHandle<R: Read> {
    inner: Arc<std::sync::Mutex<Hashing<R>>>,
}

impl<R: Read> HashHandle<R> {
    /// Read what the decoders left (trailing bytes count too), then the SHA-256 and size.
    pub fn finish(&self) -> io::Result<StoredDigest> {
        let mut hashing = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("hash state poisoned"))?;
        io::copy(&mut *hashing, &mut io::sink())?;
        let (sha256, bytes) = hashing.digest();
        Ok(StoredDigest { sha256, bytes })
    }
}

/// Explain an age error the way an operator needs it.
fn decrypt_error(err: age::DecryptError) -> anyhow::Error {
    match err {
        age::DecryptError::NoMatchingKeys => {
            anyhow!("the backup is not encrypted to this key (no identity matches its recipients)")
        }
        age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
            anyhow!("wrong passphrase or key: the backup's header does not decrypt")
        }
        age::DecryptError::InvalidHeader | age::DecryptError::UnknownFormat => {
            anyhow!("not an age-encrypted file (or its header is damaged)")
        }
        age::DecryptError::InvalidMac => anyhow!("the backup's header is damaged or was altered"),
        other => anyhow!("cannot decrypt: {other}"),
    }
}

/// Open stored bytes for reading the dump: hash -> decrypt -> decompress. The handle gives
/// the SHA-256 of the stored bytes once the reader is drained.
pub fn open<R: Read + Send + 'static>(
    raw: R,
    compression: Compression,
    decrypt: &Decrypt,
) -> Result<(Box<dyn Read + Send>, HashHandle<R>)> {
    let shared = Arc::new(std::sync::Mutex::new(Hashing::new(raw)));
    let handle = HashHandle {
        inner: shared.clone(),
    };
    let hashed = io::BufReader::with_capacity(256 * 1024, SharedHashing { inner: shared });
    let decrypted: Box<dyn Read + Send> = match decrypt {
        Decrypt::None => Box::new(hashed),
        Decrypt::Identities(identities) => {
            let decryptor = age::Decryptor::new_buffered(hashed).map_err(decrypt_error)?;
            if decryptor.is_scrypt() {
                return Err(anyhow!(
                    "the backup is encrypted with a passphrase, not to a key"
                ))
                .map_err(|e| {
                    e.context(crate::error::Hint(
                        "give --passphrase-file or GYMOPS_BACKUP_PASSPHRASE".into(),
                    ))
                });
            }
            Box::new(
                decryptor
                    .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
                    .map_err(decrypt_error)?,
            )
        }
        Decrypt::Passphrase(passphrase) => {
            let decryptor = age::Decryptor::new_buffered(hashed).map_err(decrypt_error)?;
            if !decryptor.is_scrypt() {
                return Err(anyhow!(
                    "the backup is encrypted to keys, not with a passphrase"
                ))
                .map_err(|e| {
                    e.context(crate::error::Hint(
                        "give --identity FILE (the age key file)".into(),
                    ))
                });
            }
            let mut identity =
                age::scrypt::Identity::new(SecretString::from(passphrase.expose().to_string()));
            // A planted file with a huge work factor would take hours and gigabytes.
            identity.set_max_work_factor(SCRYPT_MAX_WORK_FACTOR);
            Box::new(
                decryptor
                    .decrypt(std::iter::once(&identity as &dyn age::Identity))
                    .map_err(decrypt_error)?,
            )
        }
    };
    let decompressed: Box<dyn Read + Send> = match compression {
        Compression::None => decrypted,
        Compression::Zstd => {
            Box::new(zstd::Decoder::new(decrypted).context("cannot start zstd decompression")?)
        }
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(decrypted)),
    };
    Ok((decompressed, handle))
}

/// Turn a read error from the decoders into what it means for a backup.
pub fn read_error(err: io::Error) -> anyhow::Error {
    let text = err.to_string();
    if err.kind() == io::ErrorKind::UnexpectedEof || text.contains("truncated") {
        anyhow!("the backup is truncated ({text})")
    } else {
        anyhow!("the backup is corrupted or was altered ({text})")
    }
}
