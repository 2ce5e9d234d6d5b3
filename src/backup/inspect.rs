//! Reading a plain-format dump as it streams past: rows per table (the lines of each
//! `COPY ... FROM stdin;` block), the roles objects belong to (`OWNER TO`), and the server
//! version. Cheap (memchr over the bytes), so it runs inside the backup and verify pipelines.

use std::collections::{BTreeMap, BTreeSet};

/// Longest line prefix kept across chunk boundaries; longer lines are only counted.
const KEEP: usize = 4096;

#[derive(Debug, Default, Clone)]
pub struct Inspector {
    /// `schema.table` (as pg_dump writes it) -> rows.
    pub tables: BTreeMap<String, u64>,
    /// The tables in the order their COPY blocks appear.
    pub order: Vec<String>,
    pub roles: BTreeSet<String>,
    pub server_version: Option<String>,
    pub bytes: u64,
    /// pg_dump's last line (`-- PostgreSQL database dump complete`) was seen.
    pub complete: bool,
    in_copy: Option<String>,
    partial: Vec<u8>,
    partial_long: bool,
}

impl Inspector {
    pub fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', data) {
            let piece = &data[start..end];
            if self.partial.is_empty() && !self.partial_long {
                self.line(piece, false);
            } else {
                let long = self.partial_long || self.partial.len() + piece.len() > KEEP;
                let mut line = std::mem::take(&mut self.partial);
                let room = KEEP.saturating_sub(line.len());
                line.extend_from_slice(&piece[..piece.len().min(room)]);
                self.partial_long = false;
                self.line(&line, long);
            }
            start = end + 1;
        }
        let rest = &data[start..];
        if !rest.is_empty() {
            let room = KEEP.saturating_sub(self.partial.len());
            if rest.len() > room {
                self.partial_long = true;
            }
            self.partial
                .extend_from_slice(&rest[..rest.len().min(room)]);
        }
    }

    /// Call at the end of the stream (a last line without a newline).
    pub fn finish(&mut self) {
        if !self.partial.is_empty() || self.partial_long {
            let line = std::mem::take(&mut self.partial);
            let long = self.partial_long;
            self.partial_long = false;
            self.line(&line, long);
        }
    }

    /// Whether the stream ended inside a COPY block (a cut-off dump).
    pub fn inside_copy(&self) -> bool {
        self.in_copy.is_some()
    }

    fn line(&mut self, line: &[u8], long: bool) {
        if let Some(table) = &self.in_copy {
            if !long && line == b"\\." {
                self.in_copy = None;
            } else if let Some(count) = self.tables.get_mut(table) {
                *count += 1;
            }
            return;
        }
        if long {
            return;
        }
        if let Some(rest) = line.strip_prefix(b"COPY ") {
            if line.ends_with(b" FROM stdin;") {
                let text = String::from_utf8_lossy(rest);
                let name = table_name(&text);
                self.tables.entry(name.clone()).or_insert(0);
                self.order.push(name.clone());
                self.in_copy = Some(name);
            }
        } else if line.starts_with(b"ALTER ") {
            let text = String::from_utf8_lossy(line);
            if let Some((_, role)) = text.rsplit_once(" OWNER TO ") {
                let role = role.trim_end_matches(';').trim();
                self.roles.insert(unquote(role));
            }
        } else if line == b"-- PostgreSQL database dump complete" {
            self.complete = true;
        } else if let Some(version) = line.strip_prefix(b"-- Dumped from database version ") {
            self.server_version = Some(String::from_utf8_lossy(version).trim().to_string());
        }
    }
}

/// `public.member (id, name) FROM stdin;` -> `public.member`, minding quoted names.
fn table_name(text: &str) -> String {
    let mut quoted = false;
    for (index, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => return text[..index].to_string(),
            _ => {}
        }
    }
    text.to_string()
}

/// `"Weird Role"` -> `Weird Role` (doubled quotes undone); bare names as they are.
pub fn unquote(name: &str) -> String {
    match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => name.to_string(),
    }
}

/// Drop `ALTER ... OWNER TO ...;` lines from a plain dump stream (restore `--no-owner`):
/// the statements that fail when the owner role does not exist on the target server.
#[derive(Debug, Default)]
pub struct OwnerFilter {
    partial: Vec<u8>,
    in_copy: bool,
}

impl OwnerFilter {
    /// Filter a chunk; complete lines come out, an unfinished last line waits for the next.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', data) {
            if self.partial.is_empty() {
                self.line(&data[start..=end], out);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&data[start..=end]);
                self.line(&line, out);
            }
            start = end + 1;
        }
        self.partial.extend_from_slice(&data[start..]);
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let line = std::mem::take(&mut self.partial);
        if !line.is_empty() {
            self.line(&line, out);
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        if self.in_copy {
            if bare == b"\\." {
                self.in_copy = false;
            }
            out.extend_from_slice(line);
            return;
        }
        if bare.starts_with(b"COPY ") && bare.ends_with(b" FROM stdin;") {
            self.in_copy = true;
        }
        let owner = bare.starts_with(b"ALTER ")
            && memchr::memmem::find(bare, b" OWNER TO ").is_some()
            && bare.ends_with(b";");
        if !owner {
            out.extend_from_slice(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- Dumped from database version 15.14 (Debian 15.14-0+deb12u1)\n\
SET client_encoding = 'UTF8';\n\
CREATE TABLE public.member (id bigint);\n\
ALTER TABLE public.member OWNER TO gym_owner;\n\
ALTER SCHEMA \"Reports\" OWNER TO \"Report Role\";\n\
COPY public.member (id, name) FROM stdin;\n1\tann\n2\tbob\n3\tALTER TABLE x OWNER TO y;\n\\.\n\n\
COPY \"Reports\".\"Big Table\" (id) FROM stdin;\n\\.\n\n--\n-- PostgreSQL database dump complete\n--\n";

    #[test]
    fn rows_roles_and_version_whatever_the_chunking() {
        for size in [1, 2, 3, 7, 64, DUMP.len()] {
            let mut inspector = Inspector::default();
            for chunk in DUMP.as_bytes().chunks(size) {
                inspector.feed(chunk);
            }
            inspector.finish();
            assert_eq!(inspector.tables["public.member"], 3, "chunk {size}");
            assert_eq!(inspector.tables["\"Reports\".\"Big Table\""], 0);
            assert_eq!(
                inspector.order,
                ["public.member", "\"Reports\".\"Big Table\""]
            );
            assert_eq!(
                inspector.roles.iter().cloned().collect::<Vec<_>>(),
                ["Report Role", "gym_owner"]
            );
            assert_eq!(
                inspector.server_version.as_deref(),
                Some("15.14 (Debian 15.14-0+deb12u1)")
            );
            assert!(!inspector.inside_copy());
            assert!(inspector.complete);
            assert_eq!(inspector.bytes, DUMP.len() as u64);
        }
    }

    #[test]
    fn a_cut_off_dump_ends_inside_copy() {
        let mut inspector = Inspector::default();
        inspector.feed(b"COPY public.member (id) FROM stdin;\n1\n2\n");
        inspector.finish();
        assert!(inspector.inside_copy());
        assert_eq!(inspector.tables["public.member"], 2);
    }

    #[test]
    fn long_lines_are_counted_not_kept() {
        let mut inspector = Inspector::default();
        let long = "x".repeat(KEEP * 3);
        let text = format!("COPY public.t (v) FROM stdin;\n{long}\n{long}\n\\.\n");
        for chunk in text.as_bytes().chunks(1000) {
            inspector.feed(chunk);
        }
        inspector.finish();
        assert_eq!(inspector.tables["public.t"], 2);
        assert!(!inspector.inside_copy());
    }

    #[test]
    fn the_owner_filter_drops_owner_statements_but_not_data() {
        for size in [1, 5, DUMP.len()] {
            let mut filter = OwnerFilter::default();
            let mut out = Vec::new();
            for chunk in DUMP.as_bytes().chunks(size) {
                filter.push(chunk, &mut out);
            }
            filter.finish(&mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("OWNER TO gym_owner"));
            assert!(!text.contains("OWNER TO \"Report Role\""));
            assert!(
                text.contains("3\tALTER TABLE x OWNER TO y;\n"),
                "data rows stay"
            );
            assert!(text.contains("CREATE TABLE public.member"));
        }
    }
}
