//! `gymops backup restore FILE | s3://BUCKET/KEY`: the backup chosen, authenticated and its
//! key found here; the restore itself is [`crate::backup::restoring`].

use anyhow::Result;
use comfy_table::Cell;

use super::super::Context;
use crate::backup::restore::{decrypt_for, shape};
use crate::backup::restoring::{restore, Restore, RestoreReport};
use crate::backup::sql;
use crate::cli::BackupRestoreArgs;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};

pub async fn run(ctx: &Context, args: &BackupRestoreArgs) -> Result<ExitStatus> {
    let started = std::time::Instant::now();
    let settings = ctx.settings();
    let pg = &settings.postgres;
    let timeout = settings.postgres.connect_timeout;
    let database = args.database.clone().unwrap_or_else(|| pg.database.clone());
    sql::check_database_name(&database)?;
    let dir = ctx.loaded.resolve_path(&settings.backup.dir);
    if super::pitr::wanted(ctx, args)? {
        return super::pitr::run(ctx, args).await;
    }
    let source = match &args.file {
        Some(file) => super::source(ctx, file)?,
        None => super::newest_logical(ctx)?,
    };
    // One backup or restore at a time in the backup directory; a restore of a file from
    // elsewhere does not make a backup directory (or a lock) where there is none, until a
    // safety backup needs one.
    let mut _lock = if dir.is_dir() {
        Some(crate::backup::lock(&dir, "gymops backup restore")?)
    } else {
        None
    };

    // 1. Who wrote the backup, and the key to read it; then the library checks it through
    // before anything is touched, and restores.
    let manifest = source.manifest().await?;
    super::authenticate(ctx, &source, manifest.as_ref(), args.key.trust_unsigned)?;
    let shape = shape(&source.name(), manifest.as_ref());
    let key = super::key(ctx, &args.key)?;
    let decrypt = decrypt_for(&shape, manifest.as_ref(), &key)?;
    let plan = Restore {
        source: &source,
        manifest: manifest.as_ref(),
        shape,
        decrypt,
        pg,
        database,
        create: args.create,
        force: args.force,
        no_owner: args.no_owner,
        no_safety_backup: args.no_safety_backup,
        connect_timeout: timeout,
        stall_timeout: settings.backup.stall_timeout,
        dir: dir.clone(),
        started,
    };
    // A replaced database's safety backup: a regular backup of it.
    let safety_options = || super::create::safety_options(ctx, &key, settings.backup.format);
    let report = restore(
        plan,
        super::runner(ctx, args.target.local),
        safety_options,
        &|line: &str| ctx.printer.note(line),
        &mut _lock,
    )
    .await?;
    ctx.printer.emit_result(&report, None, |printer| {
        render(
            printer,
            &report,
            manifest.as_ref().map(|m| m.dump_bytes).unwrap_or(0),
        )
    })?;
    Ok(if report.problems.is_empty() {
        Status::Ok
    } else {
        Status::Critical
    })
}

fn render(printer: &Printer, report: &RestoreReport, dump_bytes: u64) -> String {
    let mut rows = vec![
        vec![Cell::new("backup"), Cell::new(&report.backup)],
        vec![
            Cell::new("database"),
            Cell::new(format!(
                "{}{}",
                report.database,
                if report.created {
                    " (created)"
                } else if report.replaced {
                    " (replaced)"
                } else {
                    ""
                }
            )),
        ],
        vec![
            Cell::new("restored"),
            Cell::new(format!(
                "{} in {:.1} s, one transaction{}",
                human_bytes(dump_bytes),
                report.seconds,
                if report.no_owner {
                    ", without ownership"
                } else {
                    ""
                }
            )),
        ],
    ];
    if let Some(path) = &report.safety_backup {
        rows.push(vec![Cell::new("safety backup"), Cell::new(path)]);
    }
    rows.push(vec![
        Cell::new("rows"),
        Cell::new(if report.problems.is_empty() {
            format!(
                "{} tables, {} rows: as in the backup",
                report.tables, report.rows
            )
        } else {
            report.problems.join("\n")
        }),
    ]);
    printer.table(&["RESTORE", ""], rows)
}
