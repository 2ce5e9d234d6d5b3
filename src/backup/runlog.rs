//! The run log of `backup create` (`.gymops-backup-runs.jsonl` in the backup directory):
//! a `started` line when a run begins and a result line when it ends, read by `backup
//! monitor`. It must tell the truth after a full disk or a killed run: a torn line is never
//! glued to the next record (a write starts on a fresh line and is undone when it fails),
//! an unreadable line counts as a failed run, and a run that started but never recorded its
//! end (killed, or the disk was full) counts as failed once its process is gone.

use crate::fsutil::OpenOptionsExt;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const RUNS_FILE: &str = ".gymops-backup-runs.jsonl";
/// The run log is read with this cap (its tail is what matters).
const READ_CAP: u64 = 4 * 1024 * 1024;

/// One line of the run log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub time: DateTime<Utc>,
    pub ok: bool,
    pub file: Option<String>,
    pub error: Option<String>,
    pub seconds: f64,
    /// A run's first line: it began (its result follows in a later line).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub started: bool,
    /// The process of a started run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

impl Run {
    pub fn started(time: DateTime<Utc>) -> Run {
        Run {
            time,
            ok: false,
            file: None,
            error: None,
            seconds: 0.0,
            started: true,
            pid: Some(std::process::id()),
        }
    }
}

/// Append a record. Starts on a fresh line when the last write was torn; a failed write
/// (ENOSPC) is cut back off so no partial line stays. Never fails the backup: a warning.
pub fn record(dir: &Path, run: &Run) {
    if let Err(err) = append(dir, run) {
        tracing::warn!("cannot record the backup run in {RUNS_FILE}: {err}");
    }
}

fn append(dir: &Path, run: &Run) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(run).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .custom_flags(crate::fsutil::no_follow())
        .open(dir.join(RUNS_FILE))?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let length = file.seek(SeekFrom::End(0))?;
    if length > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(length - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.insert(0, b'\n');
        }
    }
    let written = file.write_all(&line).and_then(|_| file.sync_data());
    if let Err(err) = written {
        let _ = file.set_len(length);
        return Err(err);
    }
    Ok(())
}

/// A line of the log as read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Record(Run),
    /// A line that is not a record (torn by a full disk, or damaged), by line number.
    Unreadable(usize),
}

pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| match serde_json::from_str::<Run>(line) {
            Ok(run) => Entry::Record(run),
            Err(_) => Entry::Unreadable(index + 1),
        })
        .collect()
}

/// The log's entries; empty when there is none. A log that cannot be read is one
/// unreadable entry (it hides the truth about the last run).
pub fn read(dir: &Path) -> Vec<Entry> {
    let path = dir.join(RUNS_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(_) => return vec![Entry::Unreadable(0)],
    };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut file = file;
    let mut skipped_partial = false;
    if length > READ_CAP {
        if file.seek(SeekFrom::Start(length - READ_CAP)).is_err() {
            return vec![Entry::Unreadable(0)];
        }
        skipped_partial = true;
    }
    let mut bytes = Vec::new();
    if file.take(READ_CAP).read_to_end(&mut bytes).is_err() {
        return vec![Entry::Unreadable(0)];
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if skipped_partial {
        // The first line was cut by the cap, not by a full disk.
        text = text
            .split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default();
    }
    parse(&text)
}

/// What the log says about the last run.
#[derive(Debug, Clone, PartialEq)]
pub enum LastRun {
    None,
    Succeeded(DateTime<Utc>),
    Failed {
        time: Option<DateTime<Utc>>,
        why: String,
    },
}

/// The last run's outcome. `alive` says whether a started run's process still runs (then
/// that run is in progress and the one before it counts).
pub fn last_run(entries: &[Entry], alive: impl Fn(u32) -> bool) -> LastRun {
    for (index, entry) in entries.iter().enumerate().rev() {
        match entry {
            Entry::Unreadable(line) => {
                return LastRun::Failed {
                    time: None,
                    why: format!(
                        "line {line} of {RUNS_FILE} is not a run record (a write was cut off: was the disk full?)"
                    ),
                }
            }
            Entry::Record(run) if run.started => {
                // A start with no later result line: killed, or its result could not be written.
                let finished_later = entries[index + 1..]
                    .iter()
                    .any(|e| matches!(e, Entry::Record(r) if !r.started));
                if finished_later {
                    continue;
                }
                if run.pid.is_some_and(&alive) {
                    continue;
                }
                return LastRun::Failed {
                    time: Some(run.time),
                    why: "it never recorded its end (killed, or the disk was full)".into(),
                };
            }
            Entry::Record(run) if run.ok => return LastRun::Succeeded(run.time),
            Entry::Record(run) => {
                return LastRun::Failed {
                    time: Some(run.time),
                    why: run.error.clone().unwrap_or_else(|| "no reason recorded".into()),
                }
            }
        }
    }
    LastRun::None
}

/// Whether a process of this host runs with this pid.
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-11-28T02:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn done(minute: u32, ok: bool) -> Run {
        Run {
            time: at(minute),
            ok,
            file: None,
            error: (!ok).then(|| "pg_dump exited with 1".into()),
            seconds: 1.0,
            started: false,
            pid: None,
        }
    }

    fn lines(runs: &[Run]) -> String {
        runs.iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect()
    }

    #[test]
    fn a_torn_line_is_a_failed_run_and_not_glued_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), &done(0, true));
        // A full disk cut the next line short.
        let path = dir.path().join(RUNS_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"time\":\"2026-11-28T02:05:00Z\",\"ok\":tr");
        std::fs::write(&path, &text).unwrap();
        let entries = read(dir.path());
        assert_eq!(entries.len(), 2);
        assert!(matches!(
            last_run(&entries, |_| false),
            LastRun::Failed { time: None, .. }
        ));
        // The next record starts on a line of its own and is read whole.
        record(dir.path(), &done(10, true));
        let entries = read(dir.path());
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2], Entry::Record(done(10, true)));
        assert_eq!(last_run(&entries, |_| false), LastRun::Succeeded(at(10)));
    }

    #[test]
    fn a_start_without_an_end_fails_once_its_process_is_gone() {
        let mut start = Run::started(at(20));
        start.pid = Some(4242);
        let text = lines(&[done(0, true), start]);
        let entries = parse(&text);
        assert!(matches!(
            last_run(&entries, |_| false),
            LastRun::Failed { time: Some(t), .. } if t == at(20)
        ));
        // Still running: the previous run is the last finished one.
        assert_eq!(
            last_run(&entries, |pid| pid == 4242),
            LastRun::Succeeded(at(0))
        );
        // A start followed by its result is that result.
        let text = lines(&[done(0, true), Run::started(at(20)), done(21, false)]);
        assert!(matches!(
            last_run(&parse(&text), |_| false),
            LastRun::Failed { why, .. } if why.contains("pg_dump")
        ));
        // The log of older gymops versions (no start lines) reads as before.
        assert_eq!(
            last_run(&parse(&lines(&[done(3, true)])), |_| false),
            LastRun::Succeeded(at(3))
        );
        assert_eq!(last_run(&[], |_| false), LastRun::None);
    }

    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "keep me\n").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join(RUNS_FILE)).unwrap();
        record(dir.path(), &done(0, true));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    }
}
