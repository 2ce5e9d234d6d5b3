//! `gymops backup restore FILE | s3://BUCKET/KEY`.

use anyhow::{anyhow, Result};
use comfy_table::Cell;
use serde::Serialize;

use super::super::Context;
use crate::backup::create::{create_locked, Options};
use crate::backup::load::{load, Load};
use crate::backup::pipeline::default_level;
use crate::backup::restore::{
    check_stored, compare_copy_tags, compare_rows, decrypt_for, problems_error, read_through, shape,
};
use crate::backup::sql;
use crate::cli::BackupRestoreArgs;
use crate::error::HintExt;
use crate::exit::{ExitStatus, Status};
use crate::output::{human_bytes, Printer};

#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub backup: String,
    pub database: String,
    pub created: bool,
    pub replaced: bool,
    pub safety_backup: Option<String>,
    pub no_owner: bool,
    pub tables: usize,
    pub rows: u64,
    pub seconds: f64,
    /// Differences between restored rows and the backup's manifest (empty when equal).
    pub problems: Vec<String>,
}

pub async fn run(ctx: &Context, args: &BackupRestoreArgs) -> Result<ExitStatus> {
    let started = std::time::Instant::now();
    let settings = ctx.settings();
    let pg = &settings.postgres;
    let timeout = settings.postgres.connect_timeout;
    let database = args.database.clone().unwrap_or_else(|| pg.database.clone());
    sql::check_database_name(&database)?;
    let dir = ctx.loaded.resolve_path(&settings.backup.dir);
    let source = super::chosen(ctx, &args.backup)?;
    // One backup or restore at a time in the backup directory; a restore of a file from
    // elsewhere does not make a backup directory (or a lock) where there is none, until a
    // safety backup needs one.
    let mut _lock = if dir.is_dir() {
        Some(crate::backup::lock(&dir, "gymops backup restore")?)
    } else {
        None
    };

    // 1. Read the backup through before anything is touched.
    let manifest = source.manifest().await?;
    super::authenticate(ctx, &source, manifest.as_ref(), args.key.trust_unsigned)?;
    let shape = shape(&source.name(), manifest.as_ref());
    let key = super::key(ctx, &args.key)?;
    let decrypt = decrypt_for(&shape, manifest.as_ref(), &key)?;
    // With a manifest, its size, SHA-256 and the key are checked; without, everything is read.
    let (problems, copy_roles) = match &manifest {
        Some(manifest) => (
            check_stored(&source, manifest, &shape, &decrypt).await?,
            Vec::new(),
        ),
        None => {
            ctx.printer.note(&format!(
                "reading {} through before restoring",
                source.describe()
            ));
            let read = read_through(&source, None, &shape, decrypt.clone()).await?;
            (read.problems, read.roles)
        }
    };
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "checked");
    if !problems.is_empty() {
        return Err(problems_error(&source, &problems)
            .context(format!("nothing was restored into {database}")));
    }

    // 2. The target: exists? empty? the roles the backup's objects belong to?
    let admin = sql::connect_to(pg, "postgres", timeout)
        .await
        .hint("a restore needs PostgreSQL reachable at postgres.host:port (or --db-connection)")?;
    let exists = sql::database_exists(&admin, &database).await?;
    let mut replace = false;
    match (args.create, exists) {
        (true, true) => {
            return Err(anyhow!("database {database} already exists; nothing was restored"))
                .hint("leave out --create to restore into it (over tables: --force), or pick another --database");
        }
        (false, false) => {
            return Err(anyhow!(
                "database {database} does not exist; nothing was restored"
            ))
            .hint("add --create to create it");
        }
        (false, true) => {
            let client = sql::connect_to(pg, &database, timeout).await?;
            let objects = sql::user_objects(&client).await?;
            if objects > 0 {
                if !args.force {
                    return Err(anyhow!(
                        "database {database} is not empty ({objects} objects); nothing was restored"
                    ))
                    .hint("--force replaces it (a safety backup is taken first), or restore into a new one with --database NEW --create");
                }
                replace = true;
            }
        }
        (true, false) => {}
    }
    let mut roles: Vec<String> = manifest
        .as_ref()
        .map(|m| m.roles.clone())
        .unwrap_or_default();
    roles.extend(copy_roles);
    roles.sort();
    roles.dedup();
    let missing = sql::missing_roles(&admin, &roles).await?;
    if !missing.is_empty() && !args.no_owner {
        return Err(anyhow!(
            "the backup's objects belong to role(s) this server does not have: {}; nothing was restored",
            missing.join(", ")
        ))
        .hint(format!(
            "create them first (CREATE ROLE {}), or restore with --no-owner",
            missing
                .iter()
                .map(|r| crate::pg::maintain::quote_identifier(r))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    let runner = super::runner(ctx, args.target.local).await?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "target checked");

    // 3. Replacing: a safety backup of what is there now, then a fresh database.
    let mut safety_backup = None;
    if replace {
        if !args.no_safety_backup {
            if _lock.is_none() {
                _lock = Some(crate::backup::lock(&dir, "gymops backup restore")?);
            }
            ctx.printer
                .note(&format!("taking a safety backup of {database} first"));
            let mut target = pg.clone();
            target.database = database.clone();
            // Encrypted like a regular backup when settings say so.
            let (encrypt, encryption) = super::create::for_safety_backup(ctx, &key)?;
            let options = Options {
                format: settings.backup.format,
                compression: settings.backup.compression,
                level: settings
                    .backup
                    .level
                    .unwrap_or(default_level(settings.backup.compression)),
                encrypt,
                encryption,
                dir: dir.clone(),
                label: Some("pre-restore".into()),
                s3: None,
                s3_unavailable: None,
                progress: false,
                connect_timeout: timeout,
                signing: super::signing_key(ctx)?,
                stall_timeout: settings.backup.stall_timeout,
            };
            let created = create_locked(&runner, &target, pg.password.as_ref(), options)
                .await
                .map_err(|err| {
                    err.context(format!(
                        "the safety backup of {database} failed; nothing was restored"
                    ))
                })?;
            safety_backup = Some(created.path.display().to_string());
        }
        sql::drop_database(&admin, &database).await?;
        sql::create_database(&admin, &database).await?;
    } else if args.create {
        sql::create_database(&admin, &database).await?;
    }

    // 4. Load, in one transaction.
    ctx.printer.note(&format!("restoring into {database}"));
    let how = Load {
        runner: &runner,
        pg,
        password: pg.password.as_ref(),
        database: &database,
        no_owner: args.no_owner,
        manifest: manifest.as_ref(),
        lock_timeout: settings.backup.stall_timeout,
        stall_timeout: settings.backup.stall_timeout,
    };
    let loading = load(&source, &shape, decrypt, &how);
    // Ctrl-C or SIGTERM (systemd, a CI runner's cancel) ends the load like a failure:
    // nothing committed, and a database made for it goes again.
    let loaded = tokio::select! {
        loaded = loading => loaded,
        signal = crate::signals::terminated() => Err(anyhow!("interrupted by {signal}; nothing was committed")),
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(err) => {
            let mut err = err;
            if args.create {
                let dropped = crate::deadline::bounded(
                    timeout.max(std::time::Duration::from_secs(10)),
                    "no answer",
                    sql::drop_database(&admin, &database),
                )
                .await;
                err = match dropped {
                    Ok(()) => err.context(format!("the new database {database} was dropped again")),
                    Err(drop) => err.context(format!(
                        "the new database {database} is left over ({}): drop it with `DROP DATABASE {}`",
                        crate::error::describe(&drop).0,
                        crate::pg::maintain::quote_identifier(&database)
                    )),
                };
            }
            if let Some(path) = &safety_backup {
                err = err.context(format!(
                    "{database} is empty now; what it held is in the safety backup {path}"
                ));
            }
            return Err(err);
        }
    };

    tracing::info!(seconds = started.elapsed().as_secs_f64(), "loaded");

    // 5. Compare with the backup's row counts.
    let expected = manifest
        .as_ref()
        .map(|m| m.tables.clone())
        .unwrap_or_default();
    // psql's COPY tags are the server's own counts, free; otherwise count with SQL.
    let problems = match loaded
        .as_ref()
        .and_then(|l| compare_copy_tags(&l.order, &l.tags, &expected))
    {
        Some(problems) => problems,
        None => compare_rows(pg, &database, &expected, timeout).await?,
    };
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "rows compared");
    let report = RestoreReport {
        backup: source.describe(),
        database: database.clone(),
        created: args.create,
        replaced: replace,
        safety_backup,
        no_owner: args.no_owner,
        tables: expected.len(),
        rows: expected.values().sum(),
        seconds: started.elapsed().as_secs_f64(),
        problems,
    };
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
