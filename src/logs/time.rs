//! Time arguments (`--since`, `--until`): RFC 3339, a date, or relative to now. Pure.

use anyhow::{anyhow, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parse `2024-01-15T10:00:00Z`, `2024-01-15T10:00:00` (UTC), `2024-01-15 10:00:00`,
/// `2024-01-15` (midnight UTC), or a relative duration back from `now` (`24h`, `30m`, `2d`,
/// `1h30m`).
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&naive));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        let ago =
            chrono::Duration::from_std(ago).map_err(|_| anyhow!("`{text}` is too long ago"))?;
        return now
            .checked_sub_signed(ago)
            .ok_or_else(|| anyhow!("`{text}` is too long ago"));
    }
    Err(anyhow!(
        "cannot read `{text}` as a time: use RFC 3339 (2024-01-15T10:00:00Z), a date (2024-01-15), or a duration ago (24h, 30m)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 0).unwrap()
    }

    #[test]
    fn absolute_forms() {
        let expected = Utc.with_ymd_and_hms(2024, 1, 15, 10, 0, 0).unwrap();
        for text in [
            "2024-01-15T10:00:00Z",
            "2024-01-15T18:00:00+08:00",
            "2024-01-15T10:00:00",
            "2024-01-15 10:00:00",
            "2024-01-15 10:00",
        ] {
            assert_eq!(parse_time(text, now()).unwrap(), expected, "{text}");
        }
        assert_eq!(
            parse_time("2024-01-15", now()).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 15, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn relative_forms_count_back_from_now() {
        assert_eq!(
            parse_time("24h", now()).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 14, 12, 0, 0).unwrap()
        );
        assert_eq!(
            parse_time("90m", now()).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap()
        );
        assert_eq!(
            parse_time("1h 30m", now()).unwrap(),
            Utc.with_ymd_and_hms(2024, 1, 15, 10, 30, 0).unwrap()
        );
    }

    #[test]
    fn nonsense_is_an_error_that_says_what_works() {
        let err = parse_time("yesterday-ish", now()).unwrap_err().to_string();
        assert!(err.contains("RFC 3339") && err.contains("24h"), "{err}");
    }
}
