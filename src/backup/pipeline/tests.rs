//! Tests of the store and read pipelines.
use super::*;

/// A store of opaque bytes: neither inspected as a dump nor scanned as a tar.
fn spec(compression: Compression, level: i32, encrypt: &Encrypt) -> StoreSpec<'_> {
    StoreSpec {
        compression,
        level,
        encrypt,
        inspect: false,
        scan_tar: false,
    }
}

fn round_trip(compression: Compression, encrypt: Encrypt, decrypt: Decrypt) {
    let data: Vec<u8> = (0..100_000u32)
        .flat_map(|i| format!("{i}\trow {}\n", i * 7).into_bytes())
        .collect();
    let (tx, mut rx) = mpsc::channel(4);
    let chunks: Vec<Bytes> = data.chunks(70_000).map(Bytes::copy_from_slice).collect();
    let producer = std::thread::spawn(move || {
        for chunk in chunks {
            tx.blocking_send(chunk).unwrap();
        }
    });
    let progress = Arc::new(AtomicU64::new(0));
    let spec = spec(compression, default_level(compression), &encrypt);
    let (stored_bytes, stored) = store(&mut rx, Vec::new(), &spec, None, progress.clone()).unwrap();
    producer.join().unwrap();
    assert_eq!(stored.dump_bytes, data.len() as u64);
    assert_eq!(stored.stored_bytes, stored_bytes.len() as u64);
    assert_eq!(progress.load(Ordering::Relaxed), stored.stored_bytes);
    let (mut reader, handle) =
        open(io::Cursor::new(stored_bytes.clone()), compression, &decrypt).unwrap();
    let mut back = Vec::new();
    reader.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    let digest = handle.finish().unwrap();
    assert_eq!(digest.sha256, stored.sha256);
    assert_eq!(digest.bytes, stored.stored_bytes);

    // A flipped bit in the middle never reads back as the same data.
    let mut flipped = stored_bytes;
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    if let Ok((mut reader, _)) = open(io::Cursor::new(flipped), compression, &decrypt) {
        let mut back = Vec::new();
        let result = reader.read_to_end(&mut back);
        assert!(
            result.is_err() || back != data,
            "a flipped bit went unnoticed with {compression:?}"
        );
    }
}

#[test]
fn every_compression_and_encryption_round_trips() {
    let identity = age::x25519::Identity::generate();
    for compression in [Compression::Zstd, Compression::Gzip, Compression::None] {
        round_trip(compression, Encrypt::None, Decrypt::None);
        round_trip(
            compression,
            Encrypt::Recipients(vec![identity.to_public()]),
            Decrypt::Identities(vec![identity.clone()]),
        );
    }
}

#[test]
fn the_wrong_key_fails_at_the_header() {
    let identity = age::x25519::Identity::generate();
    let other = age::x25519::Identity::generate();
    let (tx, mut rx) = mpsc::channel(1);
    drop(tx);
    let encrypt = Encrypt::Recipients(vec![identity.to_public()]);
    let spec = spec(Compression::Zstd, 3, &encrypt);
    let (bytes, _) = store(&mut rx, Vec::new(), &spec, None, Arc::default()).unwrap();
    let err = open(
        io::Cursor::new(bytes),
        Compression::Zstd,
        &Decrypt::Identities(vec![other]),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string().contains("not encrypted to this key"),
        "{err}"
    );
}

#[test]
fn a_planted_huge_scrypt_work_factor_is_refused_at_once() {
    // An age header asking for 2^21 scrypt work: 2 GiB and seconds if obeyed (age's own
    // bound is about 2^22 on this kind of machine); above SCRYPT_MAX_WORK_FACTOR.
    let file = format!(
        "age-encryption.org/v1\n-> scrypt {} 21\n{}\n--- {}\n",
        "A".repeat(22),
        "A".repeat(43),
        "A".repeat(43)
    );
    let started = std::time::Instant::now();
    let result = open(
        std::io::Cursor::new(file.into_bytes()),
        Compression::None,
        &Decrypt::Passphrase(crate::settings::Secret::new(String::from("x"))),
    );
    assert!(result.is_err());
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
}

/// A disk that fills after `room` bytes.
struct FullDisk {
    room: usize,
}

impl Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.room {
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        self.room -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_disk_is_the_error_not_the_stopped_writing_thread() {
    // Incompressible bytes, far more than the disk holds and than the threads' channels.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..(16 << 20))
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let (tx, mut rx) = mpsc::channel(4);
    let producer = std::thread::spawn(move || {
        for chunk in data.chunks(256 * 1024) {
            if tx.blocking_send(Bytes::copy_from_slice(chunk)).is_err() {
                break;
            }
        }
    });
    let identity = age::x25519::Identity::generate();
    let encrypt = Encrypt::Recipients(vec![identity.to_public()]);
    let spec = spec(Compression::Zstd, 1, &encrypt);
    let err = store(
        &mut rx,
        FullDisk { room: 3 << 20 },
        &spec,
        None,
        Arc::default(),
    )
    .err()
    .expect("a full disk fails the backup");
    drop(rx);
    producer.join().unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(!text.contains("writing thread"), "{text}");
}
