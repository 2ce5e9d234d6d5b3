//! The streaming pipelines, on blocking threads with bounded buffers:
//!
//! - store: dump chunks -> (inspect) -> zstd | gzip | none, then on a second thread
//!   -> age | none -> file (+ SHA-256, + the S3 uploader's channel);
//! - read (`read.rs`): stored bytes (file or S3) -> SHA-256 -> age -> zstd | gzip -> the
//!   caller.
//!
//! Nothing is held whole in memory: the largest buffers are the compressor's window, a
//! 1 MiB file buffer and the channels' few chunks.

use std::io::{self, BufWriter, Write};
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
    /// What goes to the uploader next, gathered into parts of [`UPLOAD_CHUNK`].
    pending: super::process::Gather,
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
            pending: super::process::Gather::new(UPLOAD_CHUNK),
            progress,
            upload_broken: false,
        }
    }

    /// Hand a part to the uploader; one that stopped is dropped (the file goes on).
    fn send(&mut self, chunk: Bytes) {
        if let Some(upload) = &self.upload {
            if upload.blocking_send(chunk).is_err() {
                self.upload = None;
                self.upload_broken = true;
                drop(self.pending.take());
            }
        }
    }

    /// Flush everything; the inner writer, the SHA-256 (hex), the byte count, and whether
    /// the upload broke off.
    pub fn finish(mut self) -> io::Result<(W, String, u64, bool)> {
        if !self.pending.is_empty() {
            let rest = self.pending.take();
            self.send(rest);
        }
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
            if let Some(part) = self.pending.push(buf) {
                self.send(part);
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
///
/// Two threads: this one reads the dump (inspecting it or scanning its tar) and compresses;
/// a second encrypts, hashes and writes. Compression is the costliest step (zstd over a
/// base backup's 1.5 GB: seconds of CPU), and on the same thread as age, SHA-256 and the
/// writes it made one serial chain the whole backup waited on.
pub fn store<W: Write + Send>(
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
    let (stage_tx, stage_rx) = std::sync::mpsc::sync_channel::<Bytes>(STAGE_DEPTH);
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("backup-writer".into())
            .spawn_scoped(scope, move || {
                write_stage(stage_rx, output, encrypt, upload, progress)
            })
            .context("cannot start the backup's writing thread")?;
        let read = read_stage(input, stage_tx, compression, level, inspect, scan_tar);
        // The writing thread's own error (a full disk) says more than this side's "the
        // backup's writing thread stopped", so it comes first.
        let written = writer
            .join()
            .map_err(|_| anyhow!("the backup's writing thread panicked"))?;
        let (output, sha256, stored_bytes, upload_broken) = written?;
        let (dump_bytes, inspector, tar) = read?;
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
    })
}

/// Chunks between the compressing and the writing thread: a few, so neither waits on the
/// other's every chunk, and memory stays bounded (`STAGE_DEPTH` chunks of about 256 KiB,
/// the process output's size).
const STAGE_DEPTH: usize = 8;

type ReadStage = (u64, Option<Inspector>, Option<super::tarscan::TarScan>);

/// The first stage: the dump read (and inspected) as it passes, compressed, handed on.
fn read_stage(
    input: &mut mpsc::Receiver<Bytes>,
    stage: std::sync::mpsc::SyncSender<Bytes>,
    compression: Compression,
    level: i32,
    inspect: bool,
    scan_tar: bool,
) -> Result<ReadStage> {
    let mut compressed = Compressed::new(StageWriter::new(stage), compression, level)?;
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
    compressed
        .finish()
        .context("cannot finish compressing")?
        .close()
        .context("cannot write the backup")?;
    Ok((dump_bytes, inspector, tar))
}

/// The second stage: encrypted, hashed, written (and handed to the uploader).
fn write_stage<W: Write>(
    chunks: std::sync::mpsc::Receiver<Bytes>,
    output: W,
    encrypt: &Encrypt,
    upload: Option<mpsc::Sender<Bytes>>,
    progress: Arc<AtomicU64>,
) -> Result<(W, String, u64, bool)> {
    let tee = Tee::new(BufWriter::with_capacity(1 << 20, output), upload, progress);
    let mut encrypted = Encrypted::new(tee, encrypt)?;
    for chunk in chunks {
        encrypted
            .write_all(&chunk)
            .context("cannot write the backup")?;
    }
    let tee = encrypted.finish().context("cannot finish encrypting")?;
    let (buffered, sha256, stored_bytes, upload_broken) =
        tee.finish().context("cannot write the backup")?;
    let output = buffered
        .into_inner()
        .map_err(|err| anyhow!("cannot write the backup: {}", err.error()))?;
    Ok((output, sha256, stored_bytes, upload_broken))
}

/// The compressor's output, gathered into chunks (as a process's output is) for the
/// writing thread.
struct StageWriter {
    stage: std::sync::mpsc::SyncSender<Bytes>,
    gather: super::process::Gather,
}

impl StageWriter {
    fn new(stage: std::sync::mpsc::SyncSender<Bytes>) -> Self {
        StageWriter {
            stage,
            gather: Default::default(),
        }
    }

    fn send(&self, chunk: Bytes) -> io::Result<()> {
        self.stage
            .send(chunk)
            .map_err(|_| io::Error::other("the backup's writing thread stopped"))
    }

    /// Hand on what is left; the writing thread sees the end when this is dropped.
    fn close(mut self) -> io::Result<()> {
        self.flush()
    }
}

impl Write for StageWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(chunk) = self.gather.push(buf) {
            self.send(chunk)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.gather.is_empty() {
            return Ok(());
        }
        let chunk = self.gather.take();
        self.send(chunk)
    }
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

/// scrypt work factor of passphrase-encrypted backups: 2^18 (256 MiB, about a second), as
/// the age tool uses on common hardware.
pub const SCRYPT_WORK_FACTOR: u8 = 18;
/// The most a passphrase-encrypted backup may ask for when it is read: 2^20 (1 GiB).
pub const SCRYPT_MAX_WORK_FACTOR: u8 = 20;

mod read;
pub use read::{open, read_error, HashHandle, Hashing, StoredDigest};

#[cfg(test)]
mod tests;
