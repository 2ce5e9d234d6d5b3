//! Read-only PostgreSQL insight: the guide's monitoring queries (sections 4.2 and 5.2) as
//! views, chosen by server version. Each view is SQL with typed columns; rows come back as
//! JSON objects in column order.

use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::ValueEnum;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::postgres_error_text;
use crate::error::HintExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DbView {
    /// Client connections by state, application and client, against max_connections
    Connections,
    /// Running and long-running queries with duration, wait event and blocking pids
    Activity,
    /// Blocking chains: who waits on whom, for how long
    Locks,
    /// Most expensive statements from pg_stat_statements (--top)
    SlowQueries,
    /// Table, index and total size, row estimates, dead rows, last vacuum/analyze (--top)
    Tables,
    /// Index size and use; unused non-unique indexes first (--top)
    Indexes,
    /// Size of each database
    Size,
    /// Tables by inserts + updates + deletes: the weekly check (--top)
    Writes,
    /// Roles whose password expires within --within-days days (or has expired)
    Roles,
}

impl DbView {
    pub fn takes_top(self) -> bool {
        matches!(
            self,
            DbView::SlowQueries | DbView::Tables | DbView::Indexes | DbView::Writes
        )
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int,
    Float,
    Bool,
}

#[derive(Debug, Serialize)]
pub struct ViewResult {
    pub view: DbView,
    pub server_version: String,
    pub columns: Vec<String>,
    pub rows: Vec<Map<String, Value>>,
    /// A line of context (e.g. connections against max_connections).
    pub note: Option<String>,
}

/// Open a read-only session: every statement of it is refused if it would write.
pub async fn read_only(client: &Client, statement_timeout: Duration) -> Result<()> {
    let timeout_ms = statement_timeout.as_millis().max(1);
    client
        .batch_execute(&format!(
            "SET default_transaction_read_only = on; SET statement_timeout = {timeout_ms}; SET application_name = 'gymops perf db'"
        ))
        .await
        .map_err(|e| anyhow!("{}", postgres_error_text(&e)))
}

pub async fn run_view(
    client: &Client,
    view: DbView,
    top: i64,
    within_days: i32,
) -> Result<ViewResult> {
    let version_num: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| anyhow!("{}", postgres_error_text(&e)))?
        .get(0);
    let server_version: String = client
        .query_one("SELECT current_setting('server_version')", &[])
        .await
        .map_err(|e| anyhow!("{}", postgres_error_text(&e)))?
        .get(0);
    if version_num < 90_600 {
        return Err(anyhow!(
            "PostgreSQL {server_version} is too old for these views"
        ))
        .hint("gymops perf db needs PostgreSQL 9.6 or later (pg_blocking_pids, wait events)");
    }
    // backend_type exists from PostgreSQL 10; before it every row is a client backend.
    let client_backends = if version_num >= 100_000 {
        "backend_type = 'client backend'"
    } else {
        "true"
    };
    use Kind::*;
    let (sql, columns, params): (String, Vec<(&str, Kind)>, Vec<&(dyn ToSql + Sync)>) = match view {
        DbView::Connections => (
            format!(
                "SELECT coalesce(state, 'unknown')::text, coalesce(nullif(application_name, ''), '-')::text, \
                 coalesce(host(client_addr), 'local')::text, count(*)::bigint \
                 FROM pg_stat_activity WHERE {client_backends} GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3"
            ),
            vec![("state", Text), ("application", Text), ("client", Text), ("connections", Int)],
            vec![],
        ),
        DbView::Activity => (
            format!(
                "SELECT pid::bigint, usename::text, coalesce(application_name, '')::text, state::text, \
                 extract(epoch FROM now() - query_start)::float8, \
                 coalesce(wait_event_type || ':' || wait_event, '')::text, \
                 array_to_string(pg_blocking_pids(pid), ',')::text, left(query, 200)::text \
                 FROM pg_stat_activity \
                 WHERE state IS DISTINCT FROM 'idle' AND pid <> pg_backend_pid() AND {client_backends} \
                 ORDER BY query_start NULLS LAST"
            ),
            vec![
                ("pid", Int),
                ("user", Text),
                ("application", Text),
                ("state", Text),
                ("duration_seconds", Float),
                ("waiting_on", Text),
                ("blocked_by", Text),
                ("query", Text),
            ],
            vec![],
        ),
        DbView::Locks => (
            "SELECT blocked.pid::bigint, left(blocked.query, 120)::text, \
             extract(epoch FROM now() - blocked.query_start)::float8, blocking.pid::bigint, \
             coalesce(blocking.state, '')::text, left(blocking.query, 120)::text \
             FROM pg_stat_activity blocked \
             JOIN LATERAL unnest(pg_blocking_pids(blocked.pid)) AS b(pid) ON true \
             JOIN pg_stat_activity blocking ON blocking.pid = b.pid \
             ORDER BY 3 DESC NULLS LAST"
                .to_string(),
            vec![
                ("blocked_pid", Int),
                ("blocked_query", Text),
                ("waiting_seconds", Float),
                ("blocking_pid", Int),
                ("blocking_state", Text),
                ("blocking_query", Text),
            ],
            vec![],
        ),
        DbView::SlowQueries => {
            let installed = client
                .query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'", &[])
                .await
                .map_err(|e| anyhow!("{}", postgres_error_text(&e)))?;
            if installed.is_none() {
                return Err(anyhow!("the pg_stat_statements extension is not installed in this database"))
                    .hint(ENABLE_PG_STAT_STATEMENTS);
            }
            // Renamed in PostgreSQL 13: total_time/mean_time -> total_exec_time/mean_exec_time.
            let (total, mean) =
                if version_num >= 130_000 { ("total_exec_time", "mean_exec_time") } else { ("total_time", "mean_time") };
            (
                // Statements on the system catalogs and statistics views are monitoring
                // (gymops's own probes and these views, pgHero, exporters): pg_stat_statements
                // does not keep application_name, so they are told by what they read, shown
                // after the application's statements and marked.
                format!(
                    "SELECT calls::bigint, {total}::float8, {mean}::float8, rows::bigint, \
                     CASE WHEN query ~* '{MONITORING_PATTERN}' THEN 'monitoring' ELSE 'application' END::text, \
                     left(query, 200)::text \
                     FROM pg_stat_statements \
                     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     ORDER BY (query ~* '{MONITORING_PATTERN}'), {total} DESC LIMIT $1"
                ),
                vec![("calls", Int), ("total_ms", Float), ("mean_ms", Float), ("rows", Int), ("source", Text), ("query", Text)],
                vec![&top],
            )
        }
        DbView::Tables => (
            "SELECT schemaname::text, relname::text, pg_total_relation_size(relid)::bigint, \
             pg_relation_size(relid)::bigint, pg_indexes_size(relid)::bigint, n_live_tup::bigint, \
             n_dead_tup::bigint, greatest(last_vacuum, last_autovacuum)::text, \
             greatest(last_analyze, last_autoanalyze)::text \
             FROM pg_stat_user_tables ORDER BY 3 DESC, 1, 2 LIMIT $1"
                .to_string(),
            vec![
                ("schema", Text),
                ("table", Text),
                ("total_bytes", Int),
                ("table_bytes", Int),
                ("index_bytes", Int),
                ("rows_estimate", Int),
                ("dead_rows", Int),
                ("last_vacuum", Text),
                ("last_analyze", Text),
            ],
            vec![&top],
        ),
        DbView::Indexes => (
            "SELECT s.schemaname::text, s.relname::text, s.indexrelname::text, \
             pg_relation_size(s.indexrelid)::bigint, s.idx_scan::bigint, i.indisunique, \
             (s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary) \
             FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid \
             ORDER BY 7 DESC, 4 DESC, 1, 2, 3 LIMIT $1"
                .to_string(),
            vec![
                ("schema", Text),
                ("table", Text),
                ("index", Text),
                ("bytes", Int),
                ("scans", Int),
                ("unique", Bool),
                ("unused", Bool),
            ],
            vec![&top],
        ),
        DbView::Size => (
            "SELECT datname::text, pg_database_size(datname)::bigint FROM pg_database \
             WHERE NOT datistemplate ORDER BY 2 DESC, 1"
                .to_string(),
            vec![("database", Text), ("bytes", Int)],
            vec![],
        ),
        DbView::Writes => (
            "SELECT schemaname::text, relname::text, n_tup_ins::bigint, n_tup_upd::bigint, n_tup_del::bigint, \
             (n_tup_ins + n_tup_upd + n_tup_del)::bigint \
             FROM pg_stat_user_tables ORDER BY 6 DESC, 1, 2 LIMIT $1"
                .to_string(),
            vec![
                ("schema", Text),
                ("table", Text),
                ("inserts", Int),
                ("updates", Int),
                ("deletes", Int),
                ("writes", Int),
            ],
            vec![&top],
        ),
        DbView::Roles => (
            "SELECT rolname::text, rolvaliduntil::text, \
             round((extract(epoch FROM rolvaliduntil - now()) / 86400.0)::numeric, 1)::float8, rolcanlogin \
             FROM pg_roles WHERE rolvaliduntil IS NOT NULL AND rolvaliduntil <> 'infinity' \
             AND rolvaliduntil <= now() + make_interval(days => $1) ORDER BY rolvaliduntil, rolname"
                .to_string(),
            vec![("role", Text), ("valid_until", Text), ("days_left", Float), ("can_login", Bool)],
            vec![&within_days],
        ),
    };
    let rows = client.query(sql.as_str(), &params).await.map_err(|e| {
        let text = postgres_error_text(&e);
        if text.contains("pg_stat_statements must be loaded") {
            anyhow!("{text}").context(crate::error::Hint(ENABLE_PG_STAT_STATEMENTS.into()))
        } else {
            anyhow!("{text}")
        }
    })?;
    let rows = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .enumerate()
                .map(|(index, (name, kind))| {
                    let value = match kind {
                        Text => row.get::<_, Option<String>>(index).map(Value::from),
                        Int => row.get::<_, Option<i64>>(index).map(Value::from),
                        Float => row
                            .get::<_, Option<f64>>(index)
                            .map(|f| Value::from((f * 1000.0).round() / 1000.0)),
                        Bool => row.get::<_, Option<bool>>(index).map(Value::from),
                    };
                    (name.to_string(), value.unwrap_or(Value::Null))
                })
                .collect()
        })
        .collect();
    let note = match view {
        DbView::Connections => {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*) FILTER (WHERE {client_backends})::bigint, current_setting('max_connections')::bigint \
                         FROM pg_stat_activity"
                    ),
                    &[],
                )
                .await
                .map_err(|e| anyhow!("{}", postgres_error_text(&e)))?;
            let (used, max): (i64, i64) = (row.get(0), row.get(1));
            Some(format!(
                "{used} of {max} connections ({:.0}%)",
                used as f64 * 100.0 / max.max(1) as f64
            ))
        }
        DbView::Roles => Some(format!(
            "roles whose password expires within {within_days} days, or has expired"
        )),
        _ => None,
    };
    Ok(ViewResult {
        view,
        server_version,
        columns: columns.iter().map(|(name, _)| name.to_string()).collect(),
        rows,
        note,
    })
}

/// What monitoring statements read: the statistics views and system catalogs.
pub const MONITORING_PATTERN: &str = r"pg_stat_|pg_catalog\.|\mpg_(database|extension|locks|roles|settings|class|namespace|index|stat_statements)\M|pg_export_snapshot|current_setting\(|pg_postmaster_start_time|pg_database_size|pg_relation_size|pg_total_relation_size";

pub const ENABLE_PG_STAT_STATEMENTS: &str = "enable it: add shared_preload_libraries = 'pg_stat_statements' to postgresql.conf \
(compose: command: postgres -c shared_preload_libraries=pg_stat_statements), restart PostgreSQL, then run \
CREATE EXTENSION pg_stat_statements; in the database";
