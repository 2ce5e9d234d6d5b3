//! Restoring a checked-out backup into a database: the backup read or checked through
//! before anything is touched, the target checked (exists? empty? its roles?), a safety
//! backup of what a `--force` replaces, the guarded load in one transaction (a database made
//! for it dropped again when it fails or is interrupted), and the rows compared. What comes
//! from the command line and the settings arrives as [`Restore`] and three hooks, so the
//! order of every step (and of every error) is this function's.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::create::{create_locked, Options};
use super::load::{load, Load};
use super::manifest::Manifest;
use super::pipeline::Decrypt;
use super::process::Runner;
use super::restore::{
    check_stored, compare_copy_tags, compare_rows, problems_error, read_through, Shape, Source,
};
use super::sql;
use crate::error::HintExt;
use crate::settings::PostgresSettings;

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

/// What to restore, where, and how.
pub struct Restore<'a> {
    pub source: &'a Source,
    pub manifest: Option<&'a Manifest>,
    pub shape: Shape,
    pub decrypt: Decrypt,
    pub pg: &'a PostgresSettings,
    pub database: String,
    /// `--create`: a new database.
    pub create: bool,
    /// `--force`: replace a database that holds objects.
    pub force: bool,
    pub no_owner: bool,
    pub no_safety_backup: bool,
    /// Connecting to PostgreSQL.
    pub connect_timeout: Duration,
    /// A lock wait or no progress for this long fails the load.
    pub stall_timeout: Duration,
    /// The backup directory (the safety backup goes there, under its lock).
    pub dir: PathBuf,
    pub started: Instant,
}

/// Restore: see the module's comment. `runner` is awaited once the target is known to be
/// fine (it may reach the engine); `safety_options` is called only when a safety backup is
/// taken; `note` says what is happening; `lock` is the backup directory's lock when held.
pub async fn restore(
    plan: Restore<'_>,
    runner: impl Future<Output = Result<Runner>>,
    safety_options: impl FnOnce() -> Result<Options>,
    note: &dyn Fn(&str),
    lock: &mut Option<crate::lock::Lock>,
) -> Result<RestoreReport> {
    let source = plan.source;
    let manifest = plan.manifest;
    let shape = &plan.shape;
    let decrypt = plan.decrypt.clone();
    let pg = plan.pg;
    let database = plan.database.clone();
    let timeout = plan.connect_timeout;
    let started = plan.started;
    // With a manifest, its size, SHA-256 and the key are checked; without, everything is read.
    let (problems, copy_roles) = match manifest {
        Some(manifest) => (
            check_stored(source, manifest, shape, &decrypt).await?,
            Vec::new(),
        ),
        None => {
            note(&format!(
                "reading {} through before restoring",
                source.describe()
            ));
            let read = read_through(source, None, shape, decrypt.clone()).await?;
            (read.problems, read.roles)
        }
    };
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "checked");
    if !problems.is_empty() {
        return Err(problems_error(source, &problems)
            .context(format!("nothing was restored into {database}")));
    }

    // 2. The target: exists? empty? the roles the backup's objects belong to?
    let admin = sql::connect_to(pg, "postgres", timeout)
        .await
        .hint("a restore needs PostgreSQL reachable at postgres.host:port (or --db-connection)")?;
    let exists = sql::database_exists(&admin, &database).await?;
    let mut replace = false;
    match (plan.create, exists) {
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
                if !plan.force {
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
    let mut roles: Vec<String> = manifest.map(|m| m.roles.clone()).unwrap_or_default();
    roles.extend(copy_roles);
    roles.sort();
    roles.dedup();
    let missing = sql::missing_roles(&admin, &roles).await?;
    if !missing.is_empty() && !plan.no_owner {
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

    let runner = runner.await?;
    tracing::info!(seconds = started.elapsed().as_secs_f64(), "target checked");

    // 3. Replacing: a safety backup of what is there now, then a fresh database.
    let mut safety_backup = None;
    if replace {
        if !plan.no_safety_backup {
            if lock.is_none() {
                *lock = Some(super::lock(&plan.dir, "gymops backup restore")?);
            }
            note(&format!("taking a safety backup of {database} first"));
            let mut target = pg.clone();
            target.database = database.clone();
            let options = safety_options()?;
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
    } else if plan.create {
        sql::create_database(&admin, &database).await?;
    }

    // 4. Load, in one transaction.
    note(&format!("restoring into {database}"));
    let how = Load {
        runner: &runner,
        pg,
        password: pg.password.as_ref(),
        database: &database,
        no_owner: plan.no_owner,
        manifest,
        lock_timeout: plan.stall_timeout,
        stall_timeout: plan.stall_timeout,
    };
    let loading = load(source, shape, decrypt, &how);
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
            if plan.create {
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
    let expected = manifest.map(|m| m.tables.clone()).unwrap_or_default();
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
        created: plan.create,
        replaced: replace,
        safety_backup,
        no_owner: plan.no_owner,
        tables: expected.len(),
        rows: expected.values().sum(),
        seconds: started.elapsed().as_secs_f64(),
        problems,
    };
    Ok(report)
}
