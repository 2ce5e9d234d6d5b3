//! Reading log files (plain or gzip, as logrotate leaves them) line by line in fixed memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};

/// Lines longer than this are cut (and still counted once); the rest of such a line is skipped.
pub const MAX_LINE: usize = 1 << 20;
const CHUNK: usize = 1 << 20;

/// Open a log file; `.gz` files (by name or by their magic bytes) are decompressed.
pub fn open(path: &Path) -> Result<Box<dyn Read>> {
    let mut file =
        File::open(path).with_context(|| format!("cannot open log file {}", path.display()))?;
    let mut magic = [0u8; 2];
    let read = file
        .read(&mut magic)
        .with_context(|| format!("cannot read log file {}", path.display()))?;
    let file =
        File::open(path).with_context(|| format!("cannot open log file {}", path.display()))?;
    if read == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(
            BufReader::with_capacity(CHUNK, file),
        )))
    } else {
        Ok(Box::new(file))
    }
}

/// Call `each` with every line of `reader` (without the newline), reading 1 MiB at a time.
pub fn for_each_line(mut reader: impl Read, mut each: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut buffer = vec![0u8; CHUNK];
    let mut filled = 0;
    // Inside a line longer than MAX_LINE: skip until its newline.
    let mut skipping = false;
    loop {
        let read = match reader.read(&mut buffer[filled..]) {
            Ok(read) => read,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if read == 0 {
            if filled > 0 && !skipping {
                each(&buffer[..filled]);
            }
            return Ok(());
        }
        let end = filled + read;
        let mut start = 0;
        for newline in memchr::memchr_iter(b'\n', &buffer[filled..end]) {
            let at = filled + newline;
            if skipping {
                skipping = false;
            } else {
                each(&buffer[start..at]);
            }
            start = at + 1;
        }
        if start == 0 && end == buffer.len() {
            // One line fills the whole buffer: count what we have, skip the rest of it.
            if !skipping {
                each(&buffer[..end.min(MAX_LINE)]);
            }
            skipping = true;
            filled = 0;
            continue;
        }
        buffer.copy_within(start..end, 0);
        filled = end - start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for_each_line(data, |line| out.push(line.to_vec())).unwrap();
        out
    }

    #[test]
    fn splits_lines_with_or_without_a_final_newline() {
        assert_eq!(
            lines(b"a\nbb\n\nccc"),
            vec![b"a".to_vec(), b"bb".to_vec(), b"".to_vec(), b"ccc".to_vec()]
        );
        assert_eq!(lines(b"a\n"), vec![b"a".to_vec()]);
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn lines_across_chunk_boundaries_are_whole() {
        let line = "x".repeat(1000);
        let data: String = (0..3000).map(|_| format!("{line}\n")).collect();
        let got = lines(data.as_bytes());
        assert_eq!(got.len(), 3000);
        assert!(got.iter().all(|l| l.len() == 1000));
    }

    #[test]
    fn an_endless_line_is_cut_and_counted_once() {
        let mut data = vec![b'y'; 3 * CHUNK];
        data.extend_from_slice(b"\nnext\n");
        let got = lines(&data);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], b"next");
    }

    #[test]
    fn gzip_files_are_read_transparently() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log.1.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        encoder.write_all(b"one\ntwo\n").unwrap();
        encoder.finish().unwrap();
        let mut out = Vec::new();
        for_each_line(open(&path).unwrap(), |l| out.push(l.to_vec())).unwrap();
        assert_eq!(out, vec![b"one".to_vec(), b"two".to_vec()]);
    }
}
