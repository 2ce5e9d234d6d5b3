//! Which base backup and which WAL segments a point-in-time restore needs, and whether the
//! archive has them — decided before anything is restored. Pure.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backup::manifest::BaseInfo;
use crate::backup::wal::{Lsn, Segment};

/// Where recovery stops.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// The end of the archived WAL.
    Latest,
    /// The base backup's end point: the backup alone, consistent.
    Immediate,
    Time(DateTime<Utc>),
    Lsn(Lsn),
    /// Just before this transaction committed.
    BeforeXid(u32),
}

/// A base backup that may be restored.
#[derive(Debug, Clone)]
pub struct BaseCandidate {
    pub name: String,
    pub finished_at: DateTime<Utc>,
    pub info: BaseInfo,
}

/// A WAL segment the restore can read: archived (sealed, signed), or still in the
/// receiver's directory (closed, or the one being written).
#[derive(Debug, Clone, PartialEq)]
pub struct Available {
    pub segment: Segment,
    /// When its last byte was written (an archived segment's close time, a partial's
    /// modification time).
    pub written_at: DateTime<Utc>,
    pub partial: bool,
}

/// Choose the base backup for `target`: the newest that ended before it.
pub fn choose_base<'a>(
    bases: &'a [BaseCandidate],
    target: &Target,
    now: DateTime<Utc>,
) -> Result<&'a BaseCandidate, String> {
    if bases.is_empty() {
        return Err(crate::say!(
            "there is no base backup to restore from (take one with `gymops backup create --type base`)"
        ));
    }
    let fits = |base: &&BaseCandidate| match target {
        Target::Time(time) => base.finished_at <= *time,
        Target::Lsn(lsn) => base.info.stop_lsn <= *lsn,
        _ => true,
    };
    if let Target::Time(time) = target {
        if *time > now {
            return Err(crate::say!(
                "the target time {} is in the future",
                time.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
            ));
        }
    }
    bases
        .iter()
        .filter(fits)
        .max_by_key(|base| (base.finished_at, base.info.stop_lsn))
        .ok_or_else(|| {
            let oldest = bases.iter().min_by_key(|b| b.finished_at).map(|b| {
                (
                    b.name.clone(),
                    b.finished_at
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string(),
                    b.info.stop_lsn,
                )
            });
            let (name, at, stop) = oldest.unwrap_or_default();
            crate::say!(
                "the target is before the oldest base backup {name} (finished {at}, WAL end point {stop}): nothing can restore it"
            )
        })
}

/// The segments to restore `base` to `target`, in order, from what is available; an error
/// names the first missing segment. A time past the newest WAL ends at the newest (the
/// bool says so: nothing was written after it, or the receiver did not get it).
pub fn segments_for(
    base: &BaseCandidate,
    available: &[Available],
    target: &Target,
) -> Result<(Vec<Available>, bool), String> {
    let bytes = base.info.segment_bytes;
    let timeline = base.info.timeline;
    let first = Segment::of(timeline, base.info.start_lsn, bytes);
    let last_needed = Segment::of(timeline, base.info.stop_lsn, bytes);
    let mut on_timeline: Vec<&Available> = available
        .iter()
        .filter(|a| a.segment.timeline == timeline && a.segment.number >= first.number)
        .collect();
    on_timeline.sort_by_key(|a| (a.segment.number, a.partial));
    // A closed copy of a segment wins over its partial.
    on_timeline.dedup_by_key(|a| a.segment.number);
    let mut chosen: Vec<Available> = Vec::new();
    let mut expected = first.number;
    let mut past_end = false;
    for available in on_timeline {
        if available.segment.number != expected {
            break;
        }
        let enough_before = match target {
            Target::Immediate => available.segment.number > last_needed.number,
            Target::Lsn(lsn) => available.segment.start(bytes) > *lsn,
            // Recovery stops at the first commit after the time; every segment after it
            // is given (one written after the time may hold no commit yet).
            Target::Time(_) | Target::Latest | Target::BeforeXid(_) => false,
        };
        if enough_before {
            break;
        }
        chosen.push(available.clone());
        expected += 1;
    }
    let missing = |number: u64| Segment { timeline, number }.name(bytes);
    // The backup's own WAL: from its start to its end point, all of it.
    if expected <= last_needed.number {
        return Err(crate::say!(
            "WAL segment {} is missing from the archive: the base backup {} needs {} to {}",
            missing(expected),
            base.name,
            first.name(bytes),
            last_needed.name(bytes)
        ));
    }
    match target {
        Target::Lsn(lsn) => {
            let needed = Segment::of(timeline, *lsn, bytes);
            if expected <= needed.number {
                return Err(crate::say!(
                    "WAL segment {} is missing from the archive: the target {lsn} is in {}",
                    missing(expected),
                    needed.name(bytes)
                ));
            }
        }
        Target::Time(time) => {
            let newest = chosen.last().map(|a| a.written_at);
            if newest.is_some_and(|at| at < *time) {
                // Is there WAL after a gap? Then the target lies beyond a missing segment.
                let beyond = available
                    .iter()
                    .any(|a| a.segment.timeline == timeline && a.segment.number > expected);
                if beyond {
                    return Err(crate::say!(
                        "WAL segment {} is missing from the archive: the WAL up to the target cannot be replayed",
                        missing(expected)
                    ));
                }
                past_end = true;
            }
        }
        Target::Latest | Target::BeforeXid(_) => {
            let beyond = available
                .iter()
                .any(|a| a.segment.timeline == timeline && a.segment.number > expected);
            if beyond {
                return Err(crate::say!(
                    "WAL segment {} is missing from the archive: the WAL after it cannot be replayed",
                    missing(expected)
                ));
            }
        }
        Target::Immediate => {}
    }
    Ok((chosen, past_end))
}

/// `--at`: `2026-11-28 14:03:27` (this host's local time, seconds and fractions
/// optional) or RFC 3339 with an offset.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    use chrono::{Local, NaiveDateTime, TimeZone};
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| crate::say!("`{text}` does not exist in this host's time zone"));
        }
    }
    Err(crate::say!(
        "`{text}` is not a time: write it as 2026-11-28 14:03:27 (local time) or 2026-11-28T06:03:27Z"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::wal::DEFAULT_SEGMENT_BYTES as SEG;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 14, minute, 0).unwrap()
    }

    fn base(name: &str, finished: u32, start: u64, stop: u64) -> BaseCandidate {
        BaseCandidate {
            name: name.into(),
            finished_at: at(finished),
            info: BaseInfo {
                system_identifier: "1".into(),
                timeline: 1,
                start_lsn: Lsn(start * SEG + 40),
                stop_lsn: Lsn(stop * SEG + 200),
                segment_bytes: SEG,
            },
        }
    }

    fn wal(numbers: &[(u64, u32)]) -> Vec<Available> {
        numbers
            .iter()
            .map(|&(number, minute)| Available {
                segment: Segment {
                    timeline: 1,
                    number,
                },
                written_at: at(minute),
                partial: false,
            })
            .collect()
    }

    #[test]
    fn times_parse_in_local_time_or_with_an_offset() {
        let utc = parse_time("2026-11-28T06:03:27Z").unwrap();
        assert_eq!(utc, Utc.with_ymd_and_hms(2026, 11, 28, 6, 3, 27).unwrap());
        let local = parse_time("2026-11-28 14:03:27").unwrap();
        let expected = chrono::Local
            .with_ymd_and_hms(2026, 11, 28, 14, 3, 27)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(local, expected);
        assert!(parse_time("2026-11-28 14:03:27.250").is_ok());
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn the_newest_base_before_the_target_is_chosen_and_bad_targets_say_why() {
        let bases = [base("a", 10, 2, 2), base("b", 30, 6, 6)];
        let now = at(50);
        assert_eq!(
            choose_base(&bases, &Target::Time(at(20)), now)
                .unwrap()
                .name,
            "a"
        );
        assert_eq!(
            choose_base(&bases, &Target::Time(at(40)), now)
                .unwrap()
                .name,
            "b"
        );
        assert_eq!(choose_base(&bases, &Target::Latest, now).unwrap().name, "b");
        let early = choose_base(&bases, &Target::Time(at(5)), now).unwrap_err();
        assert!(early.contains("before the oldest base backup a"), "{early}");
        let future = choose_base(&bases, &Target::Time(at(55)), now).unwrap_err();
        assert!(future.contains("in the future"), "{future}");
        assert!(choose_base(&[], &Target::Latest, now).is_err());
    }

    #[test]
    fn segments_run_from_the_base_start_to_the_target_and_a_gap_is_named() {
        let base = base("a", 10, 2, 3);
        let available = wal(&[(1, 5), (2, 9), (3, 11), (4, 15), (5, 25), (6, 35)]);
        let (chosen, past) = segments_for(&base, &available, &Target::Time(at(20))).unwrap();
        let numbers: Vec<u64> = chosen.iter().map(|a| a.segment.number).collect();
        assert_eq!(numbers, [2, 3, 4, 5, 6], "from the base's start on");
        assert!(!past);
        let (chosen, _) = segments_for(&base, &available, &Target::Immediate).unwrap();
        assert_eq!(chosen.len(), 2);
        let (chosen, _) = segments_for(&base, &available, &Target::Latest).unwrap();
        assert_eq!(chosen.len(), 5);
        let (_, past) = segments_for(&base, &available, &Target::Time(at(45))).unwrap();
        assert!(past, "a time after the newest WAL ends at the newest");

        let holed = wal(&[(2, 9), (3, 11), (5, 25), (6, 35)]);
        let err = segments_for(&base, &holed, &Target::Time(at(30))).unwrap_err();
        assert!(err.contains("000000010000000000000004"), "{err}");
        let err = segments_for(&base, &holed, &Target::Latest).unwrap_err();
        assert!(err.contains("000000010000000000000004"), "{err}");
        // Before the gap is fine.
        assert!(segments_for(&base, &holed, &Target::Time(at(10))).is_ok());
        let own = wal(&[(2, 9)]);
        let err = segments_for(&base, &own, &Target::Immediate).unwrap_err();
        assert!(
            err.contains("000000010000000000000003") && err.contains("needs"),
            "{err}"
        );
    }
}
