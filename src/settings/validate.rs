//! Values that parse but cannot work, checked when settings load — for every command, so a
//! bad value is one error naming its key (and where it came from) before anything runs.
//! Pure: settings in, problems out.

use std::time::Duration;

use super::Settings;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Each problem: the dotted key and what is wrong with its value.
pub fn problems(settings: &Settings) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |key: &str, why: String| out.push((key.to_string(), why));

    // Timeouts and intervals: zero means "never wait" (or a busy loop); too long hangs cron.
    for (key, value, max) in [
        ("health.timeout", settings.health.timeout, HOUR),
        (
            "health.slow_threshold",
            settings.health.slow_threshold,
            HOUR,
        ),
        ("docker.timeout", settings.docker.timeout, HOUR),
        ("notify.timeout", settings.notify.timeout, HOUR),
        ("backup.s3.timeout", settings.backup.s3.timeout, HOUR),
        ("metrics.interval", settings.metrics.interval, HOUR),
        ("monitor.interval", settings.monitor.interval, HOUR),
        ("deploy.wait_timeout", settings.deploy.wait_timeout, HOUR),
        ("backup.stall_timeout", settings.backup.stall_timeout, DAY),
        ("fleet.site_timeout", settings.fleet.site_timeout, HOUR),
    ] {
        if value.is_zero() {
            add(key, "must be more than 0".into());
        } else if value > max {
            add(
                key,
                format!(
                    "{} is more than the {} it may be",
                    humantime::format_duration(value),
                    humantime::format_duration(max)
                ),
            );
        }
    }
    if settings.backup.format == super::DumpFormat::Tar {
        add(
            "backup.format",
            "tar is the format of base backups (`backup create --type base`); use plain or custom"
                .into(),
        );
    }
    let wal = &settings.backup.wal;
    if wal.slot.is_empty()
        || wal.slot.len() > 63
        || !wal
            .slot
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        add(
            "backup.wal.slot",
            format!(
                "`{}` is not a replication slot name (1-63 lower-case letters, digits, `_`)",
                wal.slot
            ),
        );
    }
    if wal.max_lag.warning_mib == 0 || wal.max_lag.warning_mib >= wal.max_lag.critical_mib {
        add(
            "backup.wal.max_lag",
            format!(
                "warning_mib ({}) must be more than 0 and less than critical_mib ({})",
                wal.max_lag.warning_mib, wal.max_lag.critical_mib
            ),
        );
    }
    if !(1..=256).contains(&settings.fleet.parallel) {
        add("fleet.parallel", "must be from 1 to 256".into());
    }
    for (key, value) in [
        (
            "health.db_connections_warning_percent",
            f64::from(settings.health.db_connections_warning_percent),
        ),
        (
            "disk.warning_percent",
            f64::from(settings.disk.warning_percent),
        ),
        (
            "disk.critical_percent",
            f64::from(settings.disk.critical_percent),
        ),
        (
            "backup.size_drop_percent",
            f64::from(settings.backup.size_drop_percent),
        ),
        ("monitor.memory_percent", settings.monitor.memory_percent),
        ("monitor.disk_percent", settings.monitor.disk_percent),
    ] {
        if !(value > 0.0 && value <= 100.0) {
            add(key, format!("{value} is not a percentage in 1..=100"));
        }
    }
    if !(settings.monitor.cpu_percent > 0.0 && settings.monitor.cpu_percent.is_finite()) {
        add(
            "monitor.cpu_percent",
            format!(
                "{} is not a positive percentage",
                settings.monitor.cpu_percent
            ),
        );
    }
    if settings.disk.warning_percent > settings.disk.critical_percent {
        add(
            "disk.warning_percent",
            format!(
                "{} is above disk.critical_percent {}",
                settings.disk.warning_percent, settings.disk.critical_percent
            ),
        );
    }
    for (key, url) in [
        ("backend.url", &settings.backend.url),
        ("minio.url", &settings.minio.url),
        ("minio.console_url", &settings.minio.console_url),
    ] {
        if !matches!(url.scheme(), "http" | "https") {
            add(key, format!("`{url}` is not an http(s) URL"));
        }
    }
    if let Some(endpoint) = &settings.backup.s3.endpoint {
        if !matches!(endpoint.scheme(), "http" | "https") {
            add(
                "backup.s3.endpoint",
                format!("`{endpoint}` is not an http(s) URL"),
            );
        }
    }
    for (key, path) in [
        ("backend.endpoints.login", &settings.backend.endpoints.login),
        (
            "backend.endpoints.health",
            &settings.backend.endpoints.health,
        ),
        (
            "backend.endpoints.health_db",
            &settings.backend.endpoints.health_db,
        ),
        ("minio.live_path", &settings.minio.live_path),
        ("minio.ready_path", &settings.minio.ready_path),
        ("minio.console_path", &settings.minio.console_path),
    ] {
        if !path.starts_with('/') {
            add(key, format!("`{path}` must start with /"));
        }
    }
    if settings.postgres.port == 0 {
        add("postgres.port", "0 is not a port".into());
    }
    if let Some(level) = settings.backup.level {
        let ok = match settings.backup.compression {
            super::Compression::Zstd => (1..=22).contains(&level),
            super::Compression::Gzip => (1..=9).contains(&level),
            super::Compression::None => true,
        };
        if !ok {
            add(
                "backup.level",
                format!(
                    "{level} is not a level of {:?} (zstd 1-22, gzip 1-9)",
                    settings.backup.compression
                )
                .to_lowercase(),
            );
        }
    }
    if settings.backup.s3.part_size_mib < 5 {
        add(
            "backup.s3.part_size_mib",
            format!(
                "{} is below S3's 5 MiB minimum part",
                settings.backup.s3.part_size_mib
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_values_are_named() {
        assert_eq!(problems(&Settings::default()), vec![]);
        let mut settings = Settings::default();
        settings.health.timeout = Duration::ZERO;
        settings.monitor.interval = Duration::from_secs(5 * 3600);
        settings.disk.critical_percent = 0;
        settings.backup.s3.part_size_mib = 1;
        let keys: Vec<String> = problems(&settings).into_iter().map(|(k, _)| k).collect();
        for key in [
            "health.timeout",
            "monitor.interval",
            "disk.critical_percent",
            "disk.warning_percent",
            "backup.s3.part_size_mib",
        ] {
            assert!(keys.contains(&key.to_string()), "{key} in {keys:?}");
        }
    }
}
