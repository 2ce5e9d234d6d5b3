//! `backup`: its subcommands and their arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::*;

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Dump the database (pg_dump in the PostgreSQL container, or --local) streamed through
    /// compression and age encryption to a file (and S3), with a manifest
    Create(BackupCreateArgs),
    /// The backups here (or in S3 with --remote): time, size, format, encryption, verified
    List(BackupListArgs),
    /// Read a backup through: checksum against its manifest, decryption, decompression,
    /// row counts; --restore-test restores it into a scratch database
    #[command(after_help = EXIT_CODES)]
    Verify(BackupVerifyArgs),
    /// Is the newest backup fresh, big enough, and did the last run succeed? Exit codes as
    /// `health`
    #[command(after_help = EXIT_CODES)]
    Monitor(BackupMonitorArgs),
    /// Delete old backups by restic's keep-last/daily/weekly/monthly policy (never the
    /// newest verified one)
    Prune(BackupPruneArgs),
    /// Restore a backup (a file or s3://BUCKET/KEY) into a database, in one transaction,
    /// after reading it through once
    Restore(BackupRestoreArgs),
    /// Continuous WAL archiving: a pg_receivewal sidecar on a replication slot, closed
    /// segments compressed, encrypted and signed into backup.dir/wal/ (and S3)
    #[command(subcommand)]
    Wal(BackupWalCommand),
}

/// What `backup create` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackupType {
    /// pg_dump of the database (plain SQL or custom archive)
    Logical,
    /// pg_basebackup of the server's data directory, as tar
    Base,
}

#[derive(Debug, Subcommand)]
pub enum BackupWalCommand {
    /// Start the WAL receiver (a container of the PostgreSQL image, restarted by the
    /// engine) on the replication slot backup.wal.slot; no PostgreSQL restart
    Start(BackupWalStartArgs),
    /// Stop the receiver, archive what it received, and drop the slot (--keep-slot keeps
    /// it, and PostgreSQL keeps the WAL for it, for a receiver that comes back)
    Stop(BackupWalStopArgs),
    /// Receiver state, slot lag, newest archived segment, gaps; exit codes as `health`
    #[command(after_help = EXIT_CODES)]
    Status(BackupWalDirArgs),
    /// Archive the closed segments: check, compress (zstd), encrypt (age), sign, upload
    /// (backup.wal.upload_s3); run every few minutes from the schedule
    #[command(after_help = EXIT_CODES)]
    Archive(BackupWalDirArgs),
}

#[derive(Debug, Args)]
pub struct BackupWalStartArgs {
    /// Archive WAL unencrypted on purpose (without it, no key set up is refused)
    #[arg(long, visible_alias = "no-encrypt")]
    pub no_encryption: bool,
    /// How long to wait for the receiver to stream
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s", value_name = "DURATION")]
    pub wait: std::time::Duration,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

#[derive(Debug, Args)]
pub struct BackupWalStopArgs {
    /// Keep the replication slot (PostgreSQL keeps WAL for it until the receiver is back:
    /// its disk fills if it never is)
    #[arg(long)]
    pub keep_slot: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

#[derive(Debug, Args)]
pub struct BackupWalDirArgs {
    #[command(flatten)]
    pub dir: BackupDirArg,
}

#[derive(Debug, Args)]
pub struct BackupDirArg {
    /// Backup directory [default: backup.dir]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupTargetArgs {
    /// Run pg_dump / psql / pg_restore on this host against the server in the settings or
    /// --db-connection, instead of inside the PostgreSQL container
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub db_connection: DbConnectionArg,
}

#[derive(Debug, Args)]
pub struct BackupKeyArgs {
    /// age identity file (AGE-SECRET-KEY-1...) for backups encrypted to recipients
    /// [default: backup.identity_file]
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// File holding the passphrase of a passphrase-encrypted backup [default:
    /// GYMOPS_BACKUP_PASSPHRASE, backup.passphrase_file]
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Accept a backup whose manifest is missing, unsigned or signed by an unknown key, or
    /// that is unencrypted while encryption is set up: only after you checked where it
    /// came from (a restore runs it as the database superuser)
    #[arg(long)]
    pub trust_unsigned: bool,
}

#[derive(Debug, Args)]
pub struct BackupCreateArgs {
    /// logical: pg_dump of the database; base: pg_basebackup of the whole server, restored
    /// with the WAL archive to any point in time (`backup wal start`)
    #[arg(
        long = "type",
        value_enum,
        default_value = "logical",
        value_name = "TYPE"
    )]
    pub kind: BackupType,
    /// Dump format [default: backup.format, plain]
    #[arg(long, value_enum, conflicts_with = "kind")]
    pub format: Option<crate::settings::DumpFormat>,
    /// Compression [default: backup.compression, zstd]
    #[arg(long = "compress", value_enum, value_name = "ALGORITHM")]
    pub compression: Option<crate::settings::Compression>,
    /// Compression level [default: zstd 1, gzip 6]
    #[arg(long, value_name = "N")]
    pub level: Option<i32>,
    /// Encrypt to this age public key (age1...); repeat for several [default: backup.recipients]
    #[arg(long, value_name = "AGE_PUBKEY")]
    pub recipient: Vec<String>,
    /// File of age public keys, one per line [default: backup.recipients_file]
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Option<PathBuf>,
    /// Encrypt with the passphrase in this file [default: GYMOPS_BACKUP_PASSPHRASE]
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Refused: a passphrase on the command line is visible to every user of the machine
    #[arg(long, hide = true, value_name = "TEXT")]
    pub passphrase: Option<String>,
    /// Write a plaintext backup on purpose (without it, a backup with no key set up is
    /// refused: the database holds members' personal data)
    #[arg(long, visible_alias = "no-encrypt", conflicts_with_all = ["recipient", "recipients_file", "passphrase_file"])]
    pub no_encryption: bool,
    /// Also upload to S3 / MinIO (backup.s3.*), streaming, multipart
    #[arg(long)]
    pub upload_s3: bool,
    /// Upload over plain http:// to an S3 endpoint that is not on this host (the backup
    /// and the credentials' signatures cross the network unencrypted)
    #[arg(long, requires = "upload_s3")]
    pub allow_insecure: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
    /// A label in the file name and manifest (letters, digits, - and _)
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    #[command(flatten)]
    pub target: BackupTargetArgs,
}

#[derive(Debug, Args)]
pub struct BackupListArgs {
    /// List the backups in S3 instead of the local directory
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

/// Which backup `verify` and `restore` read.
#[derive(Debug, Args)]
pub struct BackupChoiceArgs {
    /// The backup: a file, or s3://BUCKET/KEY
    #[arg(
        value_name = "FILE",
        required_unless_present = "latest",
        conflicts_with = "latest"
    )]
    pub file: Option<String>,
    /// The newest backup in the backup directory
    #[arg(long)]
    pub latest: bool,
}

#[derive(Debug, Args)]
pub struct BackupVerifyArgs {
    #[command(flatten)]
    pub backup: BackupChoiceArgs,
    /// Also restore it into a scratch database, compare rows per table, then drop it
    #[arg(long)]
    pub restore_test: bool,
    #[command(flatten)]
    pub key: BackupKeyArgs,
    #[command(flatten)]
    pub dir: BackupDirArg,
    #[command(flatten)]
    pub target: BackupTargetArgs,
}

#[derive(Debug, Args)]
pub struct BackupMonitorArgs {
    /// The newest backup must be younger than this [default: backup.max_age, 26h]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub max_age: Option<std::time::Duration>,
    /// The newest backup must be at least this big (e.g. 50MiB, 1G)
    #[arg(long, value_name = "SIZE")]
    pub min_size: Option<String>,
    /// Also write the report to this file (markdown for .md, else JSON), atomically
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Send a notification through notify.channels when something is wrong
    #[arg(long)]
    pub notify: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

#[derive(Debug, Args)]
pub struct BackupPruneArgs {
    /// Keep the newest N backups [default: backup.keep_last, 7]
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N days with backups [default: 7]
    #[arg(long, value_name = "N")]
    pub keep_daily: Option<u32>,
    /// ... of each of the last N weeks [default: 4]
    #[arg(long, value_name = "N")]
    pub keep_weekly: Option<u32>,
    /// ... of each of the last N months [default: 6]
    #[arg(long, value_name = "N")]
    pub keep_monthly: Option<u32>,
    /// Show what would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Prune the backups in S3 instead of the local directory
    #[arg(long)]
    pub remote: bool,
    #[command(flatten)]
    pub dir: BackupDirArg,
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    /// The backup: a file, or s3://BUCKET/KEY (a base backup restores to its end point
    /// alone, or with --at / --lsn / --before-xid, to that point)
    #[arg(
        value_name = "FILE",
        required_unless_present_any = ["latest", "at", "lsn", "before_xid", "kind"],
        conflicts_with = "latest"
    )]
    pub file: Option<String>,
    /// The newest backup in the backup directory
    #[arg(long)]
    pub latest: bool,
    /// Database to restore into [default: postgres.database]
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Create the database (it must not exist)
    #[arg(long)]
    pub create: bool,
    /// Restore over a database that has tables: take a safety backup, drop and recreate it.
    /// With a base backup: restore and check it in a scratch container, take a safety base
    /// backup, then replace the live PostgreSQL's data directory with it
    #[arg(long)]
    pub force: bool,
    /// With --force, skip the safety backup
    #[arg(long, requires = "force")]
    pub no_safety_backup: bool,
    /// Leave out ownership (and, for custom dumps, privileges): for servers without the
    /// backup's roles
    #[arg(long)]
    pub no_owner: bool,
    /// Point-in-time restore to this time (`2026-11-28 14:03:27`, local; or RFC 3339):
    /// the newest base backup before it and the archived WAL, into a new container
    #[arg(long, value_name = "TIME", group = "pitr_target")]
    pub at: Option<String>,
    /// Point-in-time restore to this WAL position (`0/16B3748`)
    #[arg(long, value_name = "LSN", group = "pitr_target")]
    pub lsn: Option<String>,
    /// Point-in-time restore to just before this transaction committed
    #[arg(long, value_name = "XID", group = "pitr_target")]
    pub before_xid: Option<u32>,
    /// Which backups --latest chooses from; base restores to the end of the WAL archive
    /// [default: logical, or base with --at / --lsn / --before-xid]
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: Option<BackupType>,
    /// The project of the restored PostgreSQL (container PROJECT-postgres-1, volume
    /// PROJECT_postgres_data) [default: gymops-pitr-YYYYMMDDHHMMSS]
    #[arg(long, value_name = "PROJECT")]
    pub into: Option<String>,
    /// How long recovery may take
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m", value_name = "DURATION")]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub key: BackupKeyArgs,
    #[command(flatten)]
    pub dir: BackupDirArg,
    #[command(flatten)]
    pub target: BackupTargetArgs,
}

#[derive(Debug, Subcommand)]
pub enum DrCommand {
    /// Restore the newest backup (base + WAL when there is one, else logical) into a
    /// scratch stack, check it, compare rows with the live database at the recovery point,
    /// measure RTO and RPO, write dr-drill-YYYYMMDD.md and .json; exit code by the result
    #[command(after_help = EXIT_CODES)]
    Drill(DrDrillArgs),
}

#[derive(Debug, Args)]
pub struct DrDrillArgs {
    /// Keep the scratch stack running for a look (remove it with `docker rm -f` and
    /// `docker volume rm`, as the drill prints)
    #[arg(long)]
    pub keep: bool,
    /// Where the drill record goes [default: backup.dir/drills]
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// How long the restore may take
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30m", value_name = "DURATION")]
    pub timeout: std::time::Duration,
    #[command(flatten)]
    pub key: BackupKeyArgs,
    #[command(flatten)]
    pub dir: BackupDirArg,
}
