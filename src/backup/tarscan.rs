//! A base backup's tar read as it streams past (no buffering of the data): the
//! `backup_label` PostgreSQL puts first (start WAL location and timeline) and the end of
//! the `backup_manifest` pg_basebackup adds last (its WAL range's end). Pure.

use super::wal::Lsn;

const BLOCK: usize = 512;
/// Of the manifest only its end is kept: the WAL range and checksum close it.
const MANIFEST_TAIL: usize = 16 * 1024;

#[derive(Debug, Default)]
pub struct TarScan {
    header: Vec<u8>,
    /// Bytes of the current entry still to come, then its padding.
    remaining: u64,
    padding: u64,
    current: Option<Capture>,
    pub label: Vec<u8>,
    pub manifest_tail: Vec<u8>,
    pub entries: u64,
    /// The stream did not parse as tar.
    pub broken: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Capture {
    Label,
    Manifest,
    Skip,
}

fn octal(field: &[u8]) -> Option<u64> {
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

impl TarScan {
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.broken {
            if self.remaining > 0 {
                let take = (self.remaining as usize).min(bytes.len());
                let piece = &bytes[..take];
                match self.current {
                    Some(Capture::Label) if self.label.len() < 64 * 1024 => {
                        self.label.extend_from_slice(piece)
                    }
                    Some(Capture::Manifest) => {
                        self.manifest_tail.extend_from_slice(piece);
                        if self.manifest_tail.len() > 2 * MANIFEST_TAIL {
                            let cut = self.manifest_tail.len() - MANIFEST_TAIL;
                            self.manifest_tail.drain(..cut);
                        }
                    }
                    _ => {}
                }
                self.remaining -= take as u64;
                bytes = &bytes[take..];
                continue;
            }
            if self.padding > 0 {
                let take = (self.padding as usize).min(bytes.len());
                self.padding -= take as u64;
                bytes = &bytes[take..];
                continue;
            }
            let take = (BLOCK - self.header.len()).min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() < BLOCK {
                continue;
            }
            let header = std::mem::take(&mut self.header);
            if header.iter().all(|&b| b == 0) {
                continue;
            }
            let Some(size) = octal(&header[124..136]) else {
                self.broken = true;
                return;
            };
            let name: String = header[..100]
                .iter()
                .take_while(|&&b| b != 0)
                .map(|&b| b as char)
                .collect();
            self.entries += 1;
            self.current = Some(match name.trim_start_matches("./") {
                "backup_label" => Capture::Label,
                "backup_manifest" => {
                    self.manifest_tail.clear();
                    Capture::Manifest
                }
                _ => Capture::Skip,
            });
            self.remaining = size;
            self.padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        }
    }

    /// `START WAL LOCATION: 0/2000028 (file ...)` and `START TIMELINE: 1` of backup_label.
    pub fn start(&self) -> Option<(Lsn, u32)> {
        let text = String::from_utf8_lossy(&self.label);
        let mut lsn = None;
        let mut timeline = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("START WAL LOCATION: ") {
                lsn = rest.split_whitespace().next().and_then(|v| v.parse().ok());
            } else if let Some(rest) = line.strip_prefix("START TIMELINE: ") {
                timeline = rest.trim().parse().ok();
            }
        }
        Some((lsn?, timeline?))
    }

    /// The `End-LSN` of the manifest's last WAL range.
    pub fn end(&self) -> Option<Lsn> {
        let text = String::from_utf8_lossy(&self.manifest_tail);
        let at = text.rfind("\"End-LSN\"")?;
        let rest = &text[at + "\"End-LSN\"".len()..];
        let value = rest.split('"').nth(1)?;
        value.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, content) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(content.len() as u64);
            header.set_mode(0o600);
            header.set_cksum();
            builder.append_data(&mut header, name, *content).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn the_label_and_the_manifest_end_are_read_in_any_chunking() {
        let label = b"START WAL LOCATION: 0/5000028 (file 000000010000000000000005)\nCHECKPOINT LOCATION: 0/5000060\nBACKUP METHOD: streamed\nSTART TIMELINE: 1\n";
        let mut manifest = b"{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [".to_vec();
        manifest.extend(std::iter::repeat_n(b'x', 40_000));
        manifest.extend_from_slice(b"],\n\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/5000028\", \"End-LSN\": \"0/5000100\" }\n],\n\"Manifest-Checksum\": \"ab\"}\n");
        let big = vec![7u8; 100_000];
        let stream = tar_of(&[
            ("backup_label", label),
            ("base/1/1259", &big),
            ("backup_manifest", &manifest),
        ]);
        for chunk in [1usize, 7, 511, 512, 4096, stream.len()] {
            let mut scan = TarScan::default();
            for piece in stream.chunks(chunk) {
                scan.feed(piece);
            }
            assert!(!scan.broken);
            assert_eq!(scan.entries, 3);
            let (start, timeline) = scan.start().unwrap();
            assert_eq!(start.to_string(), "0/5000028");
            assert_eq!(timeline, 1);
            assert_eq!(scan.end().unwrap().to_string(), "0/5000100");
        }
        let mut none = TarScan::default();
        none.feed(&tar_of(&[("PG_VERSION", b"15\n")]));
        assert!(none.start().is_none() && none.end().is_none());
    }
}
