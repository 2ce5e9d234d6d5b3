//! The PostgreSQL tools' argument vectors for a backup: pg_dump's and pg_basebackup's.
//! Never a password (that goes in PGPASSWORD or a passfile), never a prompt. Pure.

use std::time::Duration;

use crate::settings::{Compression, DumpFormat, PostgresSettings};

/// pg_dump's arguments: never a password (that goes in PGPASSWORD), never a prompt (-w).
pub fn dump_args(
    pg: &PostgresSettings,
    format: DumpFormat,
    compression: Compression,
    local: bool,
    snapshot: Option<&str>,
    lock_wait: Duration,
) -> Vec<String> {
    let mut args = vec![
        "--no-password".to_string(),
        // A table locked by a long migration must not hang the nightly backup.
        format!("--lock-wait-timeout={}", lock_wait.as_millis().max(1)),
        "--username".into(),
        pg.user.clone(),
        "--dbname".into(),
        pg.database.clone(),
    ];
    if local {
        args.extend(host_args(pg));
    }
    match format {
        DumpFormat::Plain => args.push("--format=plain".into()),
        DumpFormat::Custom => {
            args.push("--format=custom".into());
            if compression != Compression::None {
                // gymops compresses; pg_dump's own compression would only cost time.
                args.push("--compress=0".into());
            }
        }
        // Base backups are pg_basebackup's (see `base_args`), never pg_dump's.
        DumpFormat::Tar => {}
    }
    if let Some(snapshot) = snapshot {
        args.push(format!("--snapshot={snapshot}"));
    }
    args
}

/// pg_basebackup's arguments: the data directory as one tar on standard output, no WAL in
/// it (WAL comes from the archive), a fast checkpoint. The tar's backup_label and
/// backup_manifest give the WAL start and end (see [`super::tarscan`]).
pub fn base_args(pg: &PostgresSettings, local: bool) -> Vec<String> {
    let mut args = vec![
        "--no-password".to_string(),
        "--username".into(),
        pg.user.clone(),
        "--pgdata=-".into(),
        "--format=tar".into(),
        "--wal-method=none".into(),
        "--checkpoint=fast".into(),
        "--label=gymops base backup".into(),
    ];
    if local {
        args.extend(host_args(pg));
    }
    args
}

/// `--host H --port P`: where a tool on this host (`--local`) connects.
fn host_args(pg: &PostgresSettings) -> [String; 4] {
    [
        "--host".into(),
        pg.host.clone(),
        "--port".into(),
        pg.port.to_string(),
    ]
}
