//! Reading log files (plain or gzip, as logrotate leaves them) line by line in fixed memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result};

use super::stats::{Collector, StatsOptions};

/// Lines longer than this are cut (and still counted once); the rest of such a line is skipped.
pub const MAX_LINE: usize = 1 << 20;
const CHUNK: usize = 1 << 20;

/// Open a log file; `.gz` files (by name or by their magic bytes) are decompressed.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>> {
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

/// `reader`, decompressed when it starts with gzip's magic bytes (a rotated `.gz` read
/// from a container).
pub fn decompressing<'a>(
    reader: impl Read + Send + 'a,
) -> std::io::Result<Box<dyn Read + Send + 'a>> {
    use std::io::BufRead;
    let mut buffered = BufReader::with_capacity(CHUNK, reader);
    let gzip = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    })
}

/// Feed a whole log into `collector`, on every core: a reader cuts the input into blocks at
/// line ends, workers count each block with a block collector, and the blocks are merged in
/// input order, so the counts are those of a single pass. Buffers go round a fixed pool, so
/// memory stays a few MiB whatever the input size. A keyword view (--topic) reads in one pass.
pub fn collect(
    reader: impl Read + Send,
    collector: &mut Collector,
    options: &StatsOptions,
) -> std::io::Result<()> {
    collect_in_blocks(reader, collector, options, 2 << 20)
}

fn collect_in_blocks(
    reader: impl Read + Send,
    collector: &mut Collector,
    options: &StatsOptions,
    block_size: usize,
) -> std::io::Result<()> {
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Mutex};

    if !options.topics.is_empty() {
        // The keyword view follows events across lines; one pass in order keeps it exact.
        let mut spare = Vec::new();
        return read_blocks(
            reader,
            block_size,
            || std::mem::take(&mut spare),
            |_, block, len| {
                for_each_line_of(&block[..len], |line| collector.line(line, None));
                true
            },
        );
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let pool_size = workers + 2;
    std::thread::scope(|scope| {
        let (work_sender, work_receiver) = sync_channel::<(u64, Vec<u8>, usize)>(workers);
        let work_receiver = Arc::new(Mutex::new(work_receiver));
        let (done_sender, done_receiver) = sync_channel::<(u64, Collector)>(workers);
        let (free_buffers, spare_buffers) = sync_channel::<Vec<u8>>(pool_size);
        for _ in 0..workers {
            let work_receiver = Arc::clone(&work_receiver);
            let done_sender = done_sender.clone();
            let free_buffers = free_buffers.clone();
            let options = options.clone();
            scope.spawn(move || loop {
                let job = work_receiver.lock().map(|receiver| receiver.recv());
                let Ok(Ok((sequence, block, len))) = job else {
                    break;
                };
                let mut counted = Collector::for_block(options.clone());
                for_each_line_of(&block[..len], |line| counted.line(line, None));
                // Back to the pool (dropped when the reader has finished).
                let _ = free_buffers.try_send(block);
                if done_sender.send((sequence, counted)).is_err() {
                    break;
                }
            });
        }
        drop(done_sender);
        drop(free_buffers);
        let reading = scope.spawn(move || {
            let mut allocated = 0;
            let result = read_blocks(
                reader,
                block_size,
                || match spare_buffers.try_recv() {
                    Ok(buffer) => buffer,
                    Err(_) if allocated < pool_size => {
                        allocated += 1;
                        Vec::new()
                    }
                    // Wait for a worker to hand a buffer back: this is what bounds memory.
                    Err(_) => spare_buffers.recv().unwrap_or_default(),
                },
                |sequence, block, len| work_sender.send((sequence, block, len)).is_ok(),
            );
            drop(work_sender);
            result
        });
        let mut next = 0u64;
        let mut waiting = std::collections::BTreeMap::new();
        for (sequence, block) in done_receiver {
            waiting.insert(sequence, block);
            while let Some(block) = waiting.remove(&next) {
                collector.merge(block);
                next += 1;
            }
        }
        reading
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the log reader stopped")))
    })
}

/// Each line of a block (the last one may lack its newline).
fn for_each_line_of(data: &[u8], mut each: impl FnMut(&[u8])) {
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', data) {
        each(&data[start..newline]);
        start = newline + 1;
    }
    if start < data.len() {
        each(&data[start..]);
    }
}

/// Read `reader` into blocks that end at a newline (or at the end of input), each in a
/// buffer from `buffer()` and handed to `send` with its valid length. A line longer than
/// MAX_LINE becomes a block of its own, cut, and the rest of it is skipped.
fn read_blocks(
    mut reader: impl Read,
    size: usize,
    mut buffer: impl FnMut() -> Vec<u8>,
    mut send: impl FnMut(u64, Vec<u8>, usize) -> bool,
) -> std::io::Result<()> {
    let mut sequence = 0u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut eof = false;
    // A buffer that held no whole line yet is used again, never dropped: the pool behind
    // `buffer()` is fixed, and a lost buffer would leave it waiting.
    let mut unused: Option<Vec<u8>> = None;
    while !eof {
        let mut block = unused.take().unwrap_or_else(&mut buffer);
        // Zeroed once per buffer: a recycled buffer keeps its length.
        if block.len() < carry.len() + size {
            block.resize(carry.len() + size, 0);
        }
        block[..carry.len()].copy_from_slice(&carry);
        let mut start = 0;
        let mut end = carry.len();
        carry.clear();
        let limit = end + size;
        while end < limit {
            match reader.read(&mut block[end..limit]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(read) => end += read,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        if skipping {
            match memchr::memchr(b'\n', &block[..end]) {
                Some(newline) => {
                    start = newline + 1;
                    skipping = false;
                }
                None => {
                    unused = Some(block);
                    continue;
                }
            }
        }
        let cut = if eof {
            Some(end)
        } else {
            memchr::memrchr(b'\n', &block[start..end]).map(|n| start + n + 1)
        };
        let cut = match cut {
            Some(cut) => cut,
            None if end - start >= MAX_LINE => {
                skipping = true;
                start + MAX_LINE
            }
            None => {
                carry.extend_from_slice(&block[start..end]);
                unused = Some(block);
                continue;
            }
        };
        carry.extend_from_slice(&block[cut..end]);
        if start > 0 {
            block.copy_within(start..cut, 0);
        }
        let len = cut - start;
        if len > 0 {
            if !send(sequence, block, len) {
                return Ok(());
            }
            sequence += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The lines of `data` as the reader cuts them, with blocks of `block` bytes.
    fn lines_with(data: &[u8], block: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        read_blocks(data, block, Vec::new, |_, bytes, len| {
            for_each_line_of(&bytes[..len], |line| out.push(line.to_vec()));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn splits_lines_with_or_without_a_final_newline() {
        let v = |items: &[&str]| {
            items
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            lines_with(b"a\nbb\n\nccc", 4096),
            v(&["a", "bb", "", "ccc"])
        );
        assert_eq!(lines_with(b"a\n", 4096), v(&["a"]));
        assert!(lines_with(b"", 4096).is_empty());
    }

    #[test]
    fn blocks_hold_whole_lines_whatever_the_block_size() {
        let data: String = (0..5000)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 97)))
            .collect();
        let expected: Vec<Vec<u8>> = data.lines().map(|l| l.as_bytes().to_vec()).collect();
        for block in [64, 1000, 4096, 1 << 20] {
            assert_eq!(
                lines_with(data.as_bytes(), block),
                expected,
                "block {block}"
            );
        }
        assert_eq!(
            lines_with(b"a\nb\nlast", 2),
            vec![b"a".to_vec(), b"b".to_vec(), b"last".to_vec()]
        );
    }

    #[test]
    fn an_endless_line_is_cut_and_counted_once() {
        let mut data = vec![b'y'; 3 * MAX_LINE];
        data.extend_from_slice(b"\nnext\n");
        let got = lines_with(&data, 1 << 20);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], b"next");
    }

    fn single_pass(data: &str, options: &StatsOptions) -> crate::logs::stats::LogStats {
        let mut single = Collector::new(options.clone());
        for line in data.lines() {
            single.line(line.as_bytes(), None);
        }
        single.finish()
    }

    const SAMPLE: &str = "\
2024-01-15 10:00:00.000 ERROR 1 --- [x] a.B : failed 42
\tat a.B.c(B.java:1)

2024-01-15 11:00:00.000  INFO 1 --- [x] a.B : ok
garbage?
2024-01-15 12:00:00.000 ERROR 1 --- [x] a.Pay :
java.net.SocketTimeoutException: Read timed out
\tat a.Pay.go(Pay.java:7)
2024-01-15 13:00:00.000 ERROR 1 --- [x] a.Pay :
2024-01-15 13:30:00.000  WARN 1 --- [x] a.B : slow
";

    #[test]
    fn block_collection_counts_exactly_as_a_single_pass_at_every_boundary() {
        use crate::logs::stats::StatsOptions;
        let data = format!("leading garbage\n\tat orphan.Frame\n{}", SAMPLE.repeat(40));
        let since = crate::logs::parse::parse_timestamp(b"2024-01-15 10:30:00").map(|t| t.0);
        for options in [
            StatsOptions {
                since: None,
                until: None,
                top: 5,
                topics: Vec::new(),
                prefer_source_time: false,
            },
            StatsOptions {
                since,
                until: None,
                top: 5,
                topics: Vec::new(),
                prefer_source_time: false,
            },
        ] {
            let expected = single_pass(&data, &options);
            // Tiny blocks put a boundary after every line some time or other.
            for block in [1, 7, 40, 64, 100, 333, 4096] {
                let mut blocks = Collector::new(options.clone());
                collect_in_blocks(data.as_bytes(), &mut blocks, &options, block).unwrap();
                assert_eq!(blocks.finish(), expected, "block size {block}");
            }
        }
        let counts = single_pass(
            &data,
            &StatsOptions {
                since: None,
                until: None,
                top: 5,
                topics: Vec::new(),
                prefer_source_time: false,
            },
        );
        // The two leading lines, and each `garbage?` (not part of the event before it).
        assert_eq!((counts.levels.error, counts.unparsed_lines), (120, 42));
        assert_eq!(counts.top_errors.len(), 3, "{:#?}", counts.top_errors);
    }

    #[test]
    fn the_topic_view_reads_in_one_pass_with_the_same_counts() {
        use crate::logs::stats::{StatsOptions, Topic};
        let data = SAMPLE.repeat(50);
        let options = StatsOptions {
            since: None,
            until: None,
            top: 5,
            topics: vec![Topic::Slow],
            prefer_source_time: false,
        };
        let mut blocks = Collector::new(options.clone());
        collect_in_blocks(data.as_bytes(), &mut blocks, &options, 100).unwrap();
        let (blocks, expected) = (blocks.finish(), single_pass(&data, &options));
        assert_eq!(blocks, expected);
        assert_eq!(blocks.topics[0].matches, 100);
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
        let mut text = String::new();
        open(&path).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "one\ntwo\n");
    }
}
