//! The streaming pipelines, run on a blocking thread with bounded buffers:
//!
//! - store: dump chunks -> (inspect) -> zstd | gzip | none -> age | none -> file (+ SHA-256,
//!   + the S3 uploader's channel);
//! - read: stored bytes (file or S3) -> SHA-256 -> age -> zstd | gzip -> the caller.
//!
//! Nothing is held whole in memory: the largest buffers are the compressor's window, a
//! 1 MiB file buffer and the channels' few chunks.

use std::io::{self, BufWriter, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use age::secrecy::SecretString;
use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::inspect::Inspector;
use crate::random::hex;
use crate::settings::{Compression, Secret};

/// How stored bytes are encrypted.
#[derive(Clone)]
pub enum Encrypt {
    None,
    Recipients(Vec<age::x25519::Recipient>),
    Passphrase(Secret),
}

/// How stored bytes are decrypted.
#[derive(Clone)]
pub enum Decrypt {
    None,
    Identities(Vec<age::x25519::Identity>),
    Passphrase(Secret),
}

pub fn default_level(compression: Compression) -> i32 {
    match compression {
        Compression::Zstd => 1,
        Compression::Gzip => 6,
        Compression::None => 0,
    }
}

/// Where stored bytes go: the file, a running hash and count, and the uploader.
pub struct Tee<W: Write> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
    upload: Option<mpsc::Sender<Bytes>>,
    pending: Vec<u8>,
    progress: Arc<AtomicU64>,
    /// The uploader stopped (it failed and aborted): the local file goes on without it.
    pub upload_broken: bool,
}

const UPLOAD_CHUNK: usize = 1 << 20;

impl<W: Write> Tee<W> {
    pub fn new(inner: W, upload: Option<mpsc::Sender<Bytes>>, progress: Arc<AtomicU64>) -> Self {
        Tee {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            upload,
            pending: Vec::new(),
            progress,
            upload_broken: false,
        }
    }

    fn send_pending(&mut self) {
        if let Some(upload) = &self.upload {
            if !self.pending.is_empty() {
                let chunk = Bytes::from(std::mem::take(&mut self.pending));
                if upload.blocking_send(chunk).is_err() {
                    self.upload = None;
                    self.upload_broken = true;
                    self.pending = Vec::new();
                }
            }
        }
    }

    /// Flush everything; the inner writer, the SHA-256 (hex), the byte count, and whether
    /// the upload broke off.
    pub fn finish(mut self) -> io::Result<(W, String, u64, bool)> {
        self.send_pending();
        self.inner.flush()?;
        Ok((
            self.inner,
            hex(&self.hasher.finalize()),
            self.bytes,
            self.upload_broken,
        ))
    }
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(buf)?;
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        self.progress.store(self.bytes, Ordering::Relaxed);
        if self.upload.is_some() {
            self.pending.extend_from_slice(buf);
            if self.pending.len() >= UPLOAD_CHUNK {
                self.send_pending();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Encrypted<W: Write> {
    None(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Write for Encrypted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encrypted::None(w) => w.write(buf),
            Encrypted::Age(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encrypted::None(w) => w.flush(),
            Encrypted::Age(w) => w.flush(),
        }
    }
}

impl<W: Write> Encrypted<W> {
    fn new(inner: W, encrypt: &Encrypt) -> Result<Self> {
        Ok(match encrypt {
            Encrypt::None => Encrypted::None(inner),
            Encrypt::Recipients(recipients) => {
                let encryptor = age::Encryptor::with_recipients(
                    recipients.iter().map(|r| r as &dyn age::Recipient),
                )
                .map_err(|err| anyhow!("cannot set up age encryption: {err}"))?;
                Encrypted::Age(encryptor.wrap_output(inner)?)
            }
            Encrypt::Passphrase(passphrase) => {
                // A fixed work factor (not one measured on this host): every host that
                // restores can decrypt within SCRYPT_MAX_WORK_FACTOR.
                let mut recipient = age::scrypt::Recipient::new(SecretString::from(
                    passphrase.expose().to_string(),
                ));
                recipient.set_work_factor(SCRYPT_WORK_FACTOR);
                let encryptor = age::Encryptor::with_recipients(std::iter::once(
                    &recipient as &dyn age::Recipient,
                ))
                .map_err(|err| io::Error::other(format!("cannot start age encryption: {err}")))?;
                Encrypted::Age(encryptor.wrap_output(inner)?)
            }
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encrypted::None(w) => Ok(w),
            Encrypted::Age(w) => w.finish(),
        }
    }
}

enum Compressed<W: Write> {
    None(W),
    Zstd(zstd::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
}

impl<W: Write> Write for Compressed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressed::None(w) => w.write(buf),
            Compressed::Zstd(w) => w.write(buf),
            Compressed::Gzip(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressed::None(w) => w.flush(),
            Compressed::Zstd(w) => w.flush(),
            Compressed::Gzip(w) => w.flush(),
        }
    }
}

impl<W: Write> Compressed<W> {
    fn new(inner: W, compression: Compression, level: i32) -> Result<Self> {
        Ok(match compression {
            Compression::None => Compressed::None(inner),
            Compression::Zstd => {
                let mut encoder = zstd::Encoder::new(inner, level)?;
                // A checksum in the frame: a flipped bit fails decompression, even unencrypted.
                encoder.include_checksum(true)?;
                Compressed::Zstd(encoder)
            }
            Compression::Gzip => Compressed::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(level.clamp(0, 9) as u32),
            )),
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Compressed::None(w) => Ok(w),
            Compressed::Zstd(w) => w.finish(),
            Compressed::Gzip(w) => w.finish(),
        }
    }
}

/// What the store pipeline measured.
pub struct Stored {
    /// The uploader stopped before the end (its own error says why).
    pub upload_broken: bool,
    pub dump_bytes: u64,
    pub stored_bytes: u64,
    pub sha256: String,
    pub inspector: Option<Inspector>,
    /// A base backup's tar, read as it passed.
    pub tar: Option<super::tarscan::TarScan>,
}

/// How the store pipeline treats the dump.
pub struct StoreSpec<'a> {
    pub compression: Compression,
    pub level: i32,
    pub encrypt: &'a Encrypt,
    /// Read a plain dump as it passes (rows, roles, completeness).
    pub inspect: bool,
    /// Read a base backup's tar as it passes (its WAL start and end).
    pub scan_tar: bool,
}

/// Run the store pipeline until `input` closes. `output` is the open temporary file (or any
/// writer).
pub fn store<W: Write>(
    input: &mut mpsc::Receiver<Bytes>,
    output: W,
    spec: &StoreSpec,
    upload: Option<mpsc::Sender<Bytes>>,
    progress: Arc<AtomicU64>,
) -> Result<(W, Stored)> {
    let StoreSpec {
        compression,
        level,
        encrypt,
        inspect,
        scan_tar,
    } = *spec;
    let tee = Tee::new(BufWriter::with_capacity(1 << 20, output), upload, progress);
    let encrypted = Encrypted::new(tee, encrypt)?;
    let mut compressed = Compressed::new(encrypted, compression, level)?;
    let mut inspector = inspect.then(Inspector::default);
    let mut tar = scan_tar.then(super::tarscan::TarScan::default);
    let mut dump_bytes = 0u64;
    while let Some(chunk) = input.blocking_recv() {
        dump_bytes += chunk.len() as u64;
        if let Some(inspector) = &mut inspector {
            inspector.feed(&chunk);
        }
        if let Some(tar) = &mut tar {
            tar.feed(&chunk);
        }
        compressed
            .write_all(&chunk)
            .context("cannot write the backup")?;
    }
    if let Some(inspector) = &mut inspector {
        inspector.finish();
    }
    let encrypted = compressed.finish().context("cannot finish compressing")?;
    let tee = encrypted.finish().context("cannot finish encrypting")?;
    let (buffered, sha256, stored_bytes, upload_broken) =
        tee.finish().context("cannot write the backup")?;
    let output = buffered
        .into_inner()
        .map_err(|err| anyhow!("cannot write the backup: {}", err.error()))?;
    Ok((
        output,
        Stored {
            upload_broken,
            dump_bytes,
            stored_bytes,
            sha256,
            inspector,
            tar,
        },
    ))
}

/// Compress and encrypt bytes held in memory (a WAL segment: 16 MiB) the way the store
/// pipeline does a dump: the same formats, readable with `age -d | zstd -d`.
pub fn seal(
    data: &[u8],
    compression: Compression,
    level: i32,
    encrypt: &Encrypt,
) -> Result<Vec<u8>> {
    let encrypted = Encrypted::new(Vec::with_capacity(data.len() / 2 + 1024), encrypt)?;
    let mut compressed = Compressed::new(encrypted, compression, level)?;
    compressed.write_all(data).context("cannot compress")?;
    let encrypted = compressed.finish().context("cannot finish compressing")?;
    encrypted.finish().context("cannot finish encrypting")
}

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

/// scrypt work factor of passphrase-encrypted backups: 2^18 (256 MiB, about a second), as
/// the age tool uses on common hardware.
pub const SCRYPT_WORK_FACTOR: u8 = 18;
/// The most a passphrase-encrypted backup may ask for when it is read: 2^20 (1 GiB).
pub const SCRYPT_MAX_WORK_FACTOR: u8 = 20;

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

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
