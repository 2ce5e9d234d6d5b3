//! `gymops backup verify FILE | --latest [--restore-test]`.

use anyhow::Result;
use comfy_table::Cell;
use serde::Serialize;

use super::super::Context;
use crate::backup::load::{self, Load};
use crate::backup::restore::{
    self, compare_rows, decrypt_for, mark_verified, read_through, shape, ReadReport, Source,
};
use crate::backup::sql;
use crate::cli::BackupVerifyArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::i18n::{header, text};
use crate::output::{human_bytes, Printer};

#[derive(Debug, Serialize)]
pub struct VerifyReport {
    pub backup: String,
    pub status: Status,
    pub manifest: bool,
    pub read: ReadReport,
    pub restore_test: Option<RestoreTest>,
}

#[derive(Debug, Serialize)]
pub struct RestoreTest {
    pub database: String,
    pub tables: usize,
    pub rows: u64,
    pub problems: Vec<String>,
}

pub async fn run(ctx: &Context, args: &BackupVerifyArgs) -> Result<ExitStatus> {
    let source = super::chosen(ctx, &args.backup)?;
    let manifest = source.manifest().await?;
    // Reading a backup through runs nothing; restoring it does. An untrusted backup is a
    // failed verification (it cannot be restored as it is), and is never restore-tested.
    let untrusted = super::untrusted(ctx, manifest.as_ref())?;
    if let (Some(problem), true) = (&untrusted, args.key.trust_unsigned) {
        ctx.printer.warn(&format!(
            "{}: {problem}; accepted because of --trust-unsigned",
            source.describe()
        ));
    }
    let untrusted = untrusted.filter(|_| !args.key.trust_unsigned);
    if manifest.is_none() {
        ctx.printer.warn(&format!(
            "{} has no manifest: checking decryption and decompression only (no checksum, no row counts)",
            source.describe()
        ));
    }
    let shape = shape(&source.name(), manifest.as_ref());
    if args.restore_test && shape.format == crate::settings::DumpFormat::Tar {
        return Err(anyhow::anyhow!(
            "--restore-test restores a logical backup into a scratch database; a base backup is tested by restoring it into a scratch container"
        ))
        .hint("run `gymops dr drill` (it restores the newest base backup with its WAL and compares rows), or `gymops backup restore FILE`");
    }
    let key = super::key(ctx, &args.key)?;
    let decrypt = decrypt_for(&shape, manifest.as_ref(), &key)?;
    let mut read = read_through(&source, manifest.as_ref(), &shape, decrypt.clone()).await?;
    if let Some(problem) = &untrusted {
        read.problems.push(crate::say!(
            "not trusted: {problem} (restore refuses it without --trust-unsigned)"
        ));
    }
    let mut report = VerifyReport {
        backup: source.describe(),
        status: if read.problems.is_empty() {
            Status::Ok
        } else {
            Status::Critical
        },
        manifest: manifest.is_some(),
        read,
        restore_test: None,
    };
    if args.restore_test && report.status == Status::Ok {
        let test = restore_test(
            ctx,
            args.target.local,
            &source,
            &shape,
            manifest.as_ref(),
            decrypt,
        )
        .await?;
        if !test.problems.is_empty() {
            report.status = Status::Critical;
        }
        report.restore_test = Some(test);
    }
    if report.status == Status::Ok {
        if let Some(manifest) = &manifest {
            if let Err(err) = mark_verified(&source, manifest, args.restore_test).await {
                ctx.printer.warn(&format!(
                    "verified, but the manifest could not be updated: {}",
                    crate::error::describe(&err).0
                ));
            }
        }
    }
    ctx.printer
        .emit_result(&report, None, |printer| render(printer, &report))?;
    Ok(report.status)
}

/// Restore a logical backup into a scratch database of the server, compare its rows with
/// the manifest, drop it (also the logical path of `dr drill`).
pub async fn restore_test(
    ctx: &Context,
    local: bool,
    source: &Source,
    shape: &restore::Shape,
    manifest: Option<&crate::backup::manifest::Manifest>,
    decrypt: crate::backup::pipeline::Decrypt,
) -> Result<RestoreTest> {
    let settings = ctx.settings();
    let pg = &settings.postgres;
    let timeout = settings.postgres.connect_timeout;
    let dir = ctx.loaded.resolve_path(&settings.backup.dir);
    let _lock = crate::backup::lock(&dir, "gymops backup verify --restore-test")?;
    let database = format!(
        "gymops_verify_{}_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        std::process::id()
    );
    let admin = sql::connect_to(pg, "postgres", timeout)
        .await
        .hint("a restore test needs PostgreSQL reachable at postgres.host:port (as `gymops health` uses it)")?;
    // Roles the server lacks would fail the owner statements; the test is about the data.
    let roles: Vec<String> = manifest.map(|m| m.roles.clone()).unwrap_or_default();
    let missing = sql::missing_roles(&admin, &roles).await?;
    if !missing.is_empty() {
        ctx.printer.note(&format!(
            "restore test without ownership: this server lacks the role(s) {}",
            missing.join(", ")
        ));
    }
    sql::create_database(&admin, &database).await?;
    let runner = super::runner(ctx, local).await;
    let outcome = async {
        let runner = runner?;
        let how = Load {
            runner: &runner,
            pg,
            password: pg.password.as_ref(),
            database: &database,
            no_owner: !missing.is_empty(),
            manifest,
            lock_timeout: ctx.settings().backup.stall_timeout,
            stall_timeout: ctx.settings().backup.stall_timeout,
        };
        // Ctrl-C or SIGTERM ends the test like a failure: the scratch database goes below.
        let loaded = tokio::select! {
            loaded = load::load(source, shape, decrypt, &how) => loaded?,
            signal = crate::signals::terminated() => {
                return Err(anyhow::anyhow!("interrupted by {signal}; nothing was committed"))
            }
        };
        let expected = manifest.map(|m| m.tables.clone()).unwrap_or_default();
        let problems = match loaded
            .as_ref()
            .and_then(|l| restore::compare_copy_tags(&l.order, &l.tags, &expected))
        {
            Some(problems) => problems,
            None => compare_rows(pg, &database, &expected, timeout).await?,
        };
        Ok::<_, anyhow::Error>(RestoreTest {
            database: database.clone(),
            tables: expected.len(),
            rows: expected.values().sum(),
            problems,
        })
    }
    .await;
    // The scratch database goes whatever happened.
    if let Err(err) = sql::drop_database(&admin, &database).await {
        ctx.printer.warn(&format!(
            "cannot drop the scratch database {database}: {}",
            crate::error::describe(&err).0
        ));
    }
    outcome
}

fn render(printer: &Printer, report: &VerifyReport) -> String {
    let read = &report.read;
    let mut rows = vec![
        vec![Cell::new(header("backup")), Cell::new(&report.backup)],
        vec![
            Cell::new(header("read")),
            Cell::new({
                let (stored, dump, sha256) = (
                    human_bytes(read.stored_bytes),
                    human_bytes(read.dump_bytes),
                    &read.sha256,
                );
                text(&crate::say!(
                    "{stored} stored, {dump} dump, sha256 {sha256}"
                ))
            }),
        ],
        vec![
            Cell::new(header("checks")),
            Cell::new(if read.problems.is_empty() {
                if report.manifest {
                    text(&crate::say!("checksum, size, decryption, decompression, end of dump and rows match the manifest"))
                } else {
                    text(&crate::say!(
                        "decryption and decompression work (no manifest to compare with)"
                    ))
                }
            } else {
                read.problems
                    .iter()
                    .map(|p| text(p))
                    .collect::<Vec<_>>()
                    .join("\n")
            }),
        ],
    ];
    if let Some(test) = &report.restore_test {
        rows.push(vec![
            Cell::new(header("restore test")),
            Cell::new(if test.problems.is_empty() {
                let (database, tables, rows) = (&test.database, test.tables, test.rows);
                text(&crate::say!(
                    "restored into {database} and dropped: {tables} tables, {rows} rows as in the backup"
                ))
            } else {
                test.problems.iter().map(|p| text(p)).collect::<Vec<_>>().join("\n")
            }),
        ]);
    }
    rows.push(vec![
        Cell::new(header("status")),
        printer.status_cell(report.status),
    ]);
    printer.table(&["VERIFY", ""], rows)
}
