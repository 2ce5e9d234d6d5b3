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

/// Longest line a restore stream may have outside COPY data (statements are short; a
/// longer line is not pg_dump's).
pub const MAX_STATEMENT_LINE: usize = 16 * 1024 * 1024;

/// What a restore stream must not contain: a psql meta-command (`\! cmd`, `\copy ... to
/// program`, `\o |cmd`...) at the start of a line outside COPY data. pg_dump writes none but
/// the `\restrict` / `\unrestrict` pair of newer versions; those are taken out here (the
/// restore puts its own `\restrict` with a key nobody else knows in front of the stream).
/// Complete lines come out only after they were checked, so psql never sees a refused line
/// (a line's start decides: COPY data passes through as it comes).
#[derive(Debug, Default)]
pub struct MetaGuard {
    /// Replaces pg_dump's `SET lock_timeout = 0;` (wait for locks forever) with this value,
    /// so a restore cannot hang behind another session's lock (psql has no
    /// --lock-wait-timeout of its own).
    pub lock_timeout: Option<std::time::Duration>,
    in_copy: bool,
    /// The current line outside COPY data, kept until its end.
    line: Vec<u8>,
    /// Inside COPY data: the current line's first bytes (to find the `\.` marker).
    copy_head: Vec<u8>,
    copy_line_long: bool,
    line_number: u64,
}

impl MetaGuard {
    /// A guard that also bounds the restore's lock waits (see `lock_timeout`).
    pub fn with_lock_timeout(timeout: std::time::Duration) -> MetaGuard {
        MetaGuard {
            lock_timeout: Some(timeout),
            ..MetaGuard::default()
        }
    }

    /// Check a chunk; what may go to psql is appended to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let mut rest = data;
        while !rest.is_empty() {
            let newline = memchr::memchr(b'\n', rest);
            let (piece, ended) = match newline {
                Some(end) => (&rest[..=end], true),
                None => (rest, false),
            };
            rest = &rest[piece.len()..];
            if self.in_copy {
                out.extend_from_slice(piece);
                let content = piece.strip_suffix(b"\n").unwrap_or(piece);
                if self.copy_head.len() < 3 {
                    let room = 3 - self.copy_head.len();
                    self.copy_head
                        .extend_from_slice(&content[..content.len().min(room)]);
                }
                if content.len() >= 3 {
                    self.copy_line_long = true;
                }
                if ended {
                    self.line_number += 1;
                    let head = std::mem::take(&mut self.copy_head);
                    let long = std::mem::take(&mut self.copy_line_long);
                    if !long && (head == b"\\." || head == b"\\.\r") {
                        self.in_copy = false;
                    }
                }
                continue;
            }
            if self.line.len() + piece.len() > MAX_STATEMENT_LINE {
                return Err(format!(
                    "line {} is longer than {} MiB outside COPY data: not a pg_dump statement",
                    self.line_number + 1,
                    MAX_STATEMENT_LINE / 1024 / 1024
                ));
            }
            self.line.extend_from_slice(piece);
            if ended {
                self.line_number += 1;
                self.statement_line(out)?;
            }
        }
        Ok(())
    }

    /// The end of the stream: a last line without a newline is checked too.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if !self.line.is_empty() {
            self.line_number += 1;
            self.statement_line(out)?;
        }
        Ok(())
    }

    fn statement_line(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let line = std::mem::take(&mut self.line);
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content.first() == Some(&b'\\') {
            if content.starts_with(b"\\restrict ") || content.starts_with(b"\\unrestrict ") {
                return Ok(());
            }
            let shown: String = String::from_utf8_lossy(&content[..content.len().min(40)])
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            return Err(format!(
                "line {} is a psql meta-command (`{shown}`), which pg_dump never writes",
                self.line_number
            ));
        }
        if content.starts_with(b"COPY ") && content.ends_with(b" FROM stdin;") {
            self.in_copy = true;
        }
        if let (Some(timeout), b"SET lock_timeout = 0;") = (self.lock_timeout, content) {
            out.extend_from_slice(
                format!("SET lock_timeout = '{}ms';\n", timeout.as_millis().max(1)).as_bytes(),
            );
            return Ok(());
        }
        out.extend_from_slice(&line);
        Ok(())
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

    fn guard(text: &str, size: usize) -> Result<String, String> {
        let mut guard = MetaGuard::default();
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(size) {
            guard.push(chunk, &mut out)?;
        }
        guard.finish(&mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_meta_guard_passes_pg_dump_output_and_drops_its_restrict_pair() {
        let dump = format!("\\restrict AbC123\n{DUMP}\\unrestrict AbC123\n");
        for size in [1, 2, 5, 64, dump.len()] {
            assert_eq!(guard(&dump, size).unwrap(), DUMP, "chunk {size}");
        }
        // COPY data may start with a backslash (\N, escapes).
        let copy = "COPY public.t (a, b) FROM stdin;\n\\N\t\\\\x\n\\.\nSELECT 1;\n";
        assert_eq!(guard(copy, 3).unwrap(), copy);
    }

    #[test]
    fn a_restore_waits_for_locks_only_so_long() {
        let mut guard = MetaGuard::with_lock_timeout(std::time::Duration::from_secs(300));
        let mut out = Vec::new();
        guard
            .push(b"SET statement_timeout = 0;\nSET lock_timeout = 0;\nCOPY t (a) FROM stdin;\nSET lock_timeout = 0;\n\\.\n", &mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SET statement_timeout = 0;\nSET lock_timeout = '300000ms';\nCOPY t (a) FROM stdin;\nSET lock_timeout = 0;\n\\.\n",
            "data rows are never rewritten"
        );
    }

    #[test]
    fn the_meta_guard_refuses_meta_commands_before_psql_sees_them() {
        for (text, line) in [
            ("SET x = 1;\n\\! touch /tmp/owned\nSELECT 1;\n", 2),
            ("SELECT 1;\n\\copy t to program 'sh'", 2),
            ("COPY public.t (a) FROM stdin;\n1\n\\.\n\\o |sh\n", 4),
            ("\\setenv PAGER sh\r\n", 1),
        ] {
            for size in [1, 4, text.len()] {
                let mut guard = MetaGuard::default();
                let mut out = Vec::new();
                let result = text
                    .as_bytes()
                    .chunks(size)
                    .try_for_each(|chunk| guard.push(chunk, &mut out))
                    .and_then(|_| guard.finish(&mut out));
                let err = result.unwrap_err();
                assert!(
                    err.contains(&format!("line {line} is a psql meta-command")),
                    "{err}"
                );
                let sent = String::from_utf8(out).unwrap();
                assert!(
                    !sent.contains("owned") && !sent.contains("sh"),
                    "sent: {sent:?}"
                );
            }
        }
        // The data marker ends COPY data only as a line of its own.
        let sneaky = "COPY public.t (a) FROM stdin;\n\\.x\n\\! id\n";
        assert!(
            guard(sneaky, 7).is_ok(),
            "still COPY data: psql does not run it"
        );
    }
}
