//! Continuous WAL archiving: a receiver sidecar (`pg_receivewal` in the PostgreSQL
//! container's image, on a replication slot) streams the write-ahead log into
//! `backup.dir/wal/receiver/incoming/`; each closed segment is then compressed, encrypted
//! and signed into `backup.dir/wal/` (and S3). With the base backups this is what makes
//! backups incremental and a restore possible to any second.
//!
//! This file: the pure part — LSNs, segment names, the WAL page header.

pub mod archive;
pub mod receiver;
pub mod status;

use std::fmt;

use anyhow::{anyhow, Result};

/// PostgreSQL's default WAL segment size (`--wal-segsize`, 16 MiB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// A position in the write-ahead log, `0/16B3748` as PostgreSQL prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

impl std::str::FromStr for Lsn {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Lsn> {
        let bad = || anyhow!("`{text}` is not an LSN (like 0/16B3748)");
        let (high, low) = text.trim().split_once('/').ok_or_else(bad)?;
        let high = u32::from_str_radix(high, 16).map_err(|_| bad())?;
        let low = u32::from_str_radix(low, 16).map_err(|_| bad())?;
        Ok(Lsn((u64::from(high) << 32) | u64::from(low)))
    }
}

impl serde::Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A WAL segment: timeline and segment number (`TTTTTTTTXXXXXXXXYYYYYYYY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment {
    pub timeline: u32,
    pub number: u64,
}

impl Segment {
    /// The segment holding `lsn`.
    pub fn of(timeline: u32, lsn: Lsn, segment_bytes: u64) -> Segment {
        Segment {
            timeline,
            number: lsn.0 / segment_bytes,
        }
    }

    /// Its file name, as in pg_wal.
    pub fn name(&self, segment_bytes: u64) -> String {
        let per_id = 0x1_0000_0000 / segment_bytes;
        format!(
            "{:08X}{:08X}{:08X}",
            self.timeline,
            self.number / per_id,
            self.number % per_id
        )
    }

    /// A segment file name (24 hex digits), or None.
    pub fn parse(name: &str, segment_bytes: u64) -> Option<Segment> {
        if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let timeline = u32::from_str_radix(&name[0..8], 16).ok()?;
        let log = u64::from_str_radix(&name[8..16], 16).ok()?;
        let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
        let per_id = 0x1_0000_0000 / segment_bytes;
        if seg >= per_id || timeline == 0 {
            return None;
        }
        Some(Segment {
            timeline,
            number: log * per_id + seg,
        })
    }

    /// The first LSN of the segment.
    pub fn start(&self, segment_bytes: u64) -> Lsn {
        Lsn(self.number * segment_bytes)
    }
}

/// A timeline history file name (`00000002.history`).
pub fn is_history_name(name: &str) -> bool {
    name.len() == 16
        && name.ends_with(".history")
        && name[..8].bytes().all(|b| b.is_ascii_hexdigit())
}

/// What the first page of a segment says: its system identifier, timeline, where it
/// starts and the segment size (the long page header, `XLogLongPageHeaderData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub timeline: u32,
    pub page_address: Lsn,
    pub system_identifier: u64,
    pub segment_bytes: u32,
}

/// `XLP_LONG_HEADER` in `xlp_info`.
const XLP_LONG_HEADER: u16 = 0x0002;

/// Read a segment's long page header (its first 40 bytes); None when they are not one
/// (all zero: a segment pg_receivewal has not written yet; or not WAL at all). WAL is in
/// the server's byte order; PostgreSQL in the images gymops meets runs little-endian.
pub fn read_header(bytes: &[u8]) -> Option<SegmentHeader> {
    if bytes.len() < 40 {
        return None;
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let magic = u16_at(0);
    let info = u16_at(2);
    // XLOG_PAGE_MAGIC is 0xD0nn or 0xD1nn in every release since 9.0 (0xD110 in 15).
    if magic >> 12 != 0xd || info & XLP_LONG_HEADER == 0 {
        return None;
    }
    Some(SegmentHeader {
        timeline: u32_at(4),
        page_address: Lsn(u64_at(8)),
        system_identifier: u64_at(24),
        segment_bytes: u32_at(32),
    })
}

/// What is wrong with a segment's first page (`head`, at least 40 bytes) for the segment
/// its name says and the database system it must be of: not WAL, another system's, or not
/// where its name says. None when it is right. Archiving and restoring both ask.
pub fn header_problem(
    segment: Segment,
    head: &[u8],
    system_identifier: &str,
    segment_bytes: u64,
) -> Option<String> {
    let Some(header) = read_header(head) else {
        return Some(crate::say!("does not start with a WAL page header"));
    };
    if header.system_identifier.to_string() != system_identifier {
        let found = header.system_identifier;
        return Some(crate::say!(
            "is of database system {found}, not {system_identifier}"
        ));
    }
    if header.page_address != segment.start(segment_bytes) {
        let address = header.page_address;
        return Some(crate::say!("starts at {address}, not where its name says"));
    }
    None
}

/// The segments missing between consecutive ones of a sorted list on one timeline: the
/// first missing of each gap and how many.
pub fn gaps(segments: &[Segment]) -> Vec<(Segment, u64)> {
    let mut out = Vec::new();
    for pair in segments.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.timeline == b.timeline && b.number > a.number + 1 {
            out.push((
                Segment {
                    timeline: a.timeline,
                    number: a.number + 1,
                },
                b.number - a.number - 1,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEG: u64 = DEFAULT_SEGMENT_BYTES;

    #[test]
    fn lsns_print_and_parse_as_postgres_does() {
        let lsn: Lsn = "0/16B3748".parse().unwrap();
        assert_eq!(lsn.0, 0x16B3748);
        assert_eq!(lsn.to_string(), "0/16B3748");
        let high: Lsn = "1A/2F".parse().unwrap();
        assert_eq!(high.0, (0x1A << 32) | 0x2F);
        assert_eq!(high.to_string(), "1A/2F");
        assert!("16B3748".parse::<Lsn>().is_err());
        assert!("0/xyz".parse::<Lsn>().is_err());
    }

    #[test]
    fn segment_names_round_trip() {
        let lsn: Lsn = "0/3000028".parse().unwrap();
        let segment = Segment::of(1, lsn, SEG);
        assert_eq!(segment.name(SEG), "000000010000000000000003");
        assert_eq!(
            Segment::parse("000000010000000000000003", SEG),
            Some(segment)
        );
        let far = Segment::of(2, "1/FF000000".parse().unwrap(), SEG);
        assert_eq!(far.name(SEG), "0000000200000001000000FF");
        assert_eq!(Segment::parse(&far.name(SEG), SEG), Some(far));
        let next = Segment {
            timeline: 2,
            number: far.number + 1,
        };
        assert_eq!(next.name(SEG), "000000020000000200000000");
        assert_eq!(next.start(SEG).to_string(), "2/0");
        assert_eq!(
            Segment::parse("000000010000000000000003.partial", SEG),
            None
        );
        assert_eq!(Segment::parse("00000001000000000000010G", SEG), None);
        // Segment numbers past 0xFF do not exist with 16 MiB segments.
        assert_eq!(Segment::parse("000000010000000000000100", SEG), None);
        assert!(is_history_name("00000002.history"));
        assert!(!is_history_name("0000000X.history"));
    }

    #[test]
    fn the_long_page_header_names_the_system() {
        let mut page = vec![0u8; 64];
        page[0..2].copy_from_slice(&0xD110u16.to_le_bytes());
        page[2..4].copy_from_slice(&0x0006u16.to_le_bytes());
        page[4..8].copy_from_slice(&1u32.to_le_bytes());
        page[8..16].copy_from_slice(&0x3000000u64.to_le_bytes());
        page[24..32].copy_from_slice(&7_312_345_678_901_234_567u64.to_le_bytes());
        page[32..36].copy_from_slice(&(SEG as u32).to_le_bytes());
        let header = read_header(&page).unwrap();
        assert_eq!(header.system_identifier, 7_312_345_678_901_234_567);
        assert_eq!(header.timeline, 1);
        assert_eq!(header.page_address.to_string(), "0/3000000");
        assert_eq!(header.segment_bytes as u64, SEG);
        assert_eq!(read_header(&[0u8; 64]), None);
        assert_eq!(read_header(b"SELECT 1"), None);
    }

    #[test]
    fn gaps_name_the_first_missing_segment() {
        let list: Vec<Segment> = [1u64, 2, 3, 6, 7, 9]
            .iter()
            .map(|&number| Segment {
                timeline: 1,
                number,
            })
            .collect();
        let found = gaps(&list);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0.number, 4);
        assert_eq!(found[0].1, 2);
        assert_eq!(found[1].0.number, 8);
        assert_eq!(found[1].1, 1);
        assert!(gaps(&list[..3]).is_empty());
    }
}
