//! Database maintenance (the guide's section 5.3): VACUUM, ANALYZE, REINDEX, with progress
//! from PostgreSQL's progress views. Identifiers are quoted; table names are looked up with
//! bound values before they are used.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde::Serialize;
use tokio_postgres::Client;

use super::postgres_error_text;
use crate::error::HintExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Vacuum,
    VacuumAnalyze,
    VacuumFull,
    VacuumFullAnalyze,
    Analyze,
    Reindex,
}

impl Operation {
    /// Whether it takes exclusive locks that stop the application (needs --yes).
    pub fn locks_tables(self) -> bool {
        matches!(
            self,
            Operation::VacuumFull | Operation::VacuumFullAnalyze | Operation::Reindex
        )
    }

    fn keyword(self) -> &'static str {
        match self {
            Operation::Vacuum => "VACUUM",
            Operation::VacuumAnalyze => "VACUUM (ANALYZE)",
            Operation::VacuumFull => "VACUUM (FULL)",
            Operation::VacuumFullAnalyze => "VACUUM (FULL, ANALYZE)",
            Operation::Analyze => "ANALYZE",
            Operation::Reindex => "REINDEX",
        }
    }

    /// The progress view and its (relation, phase, total, done) columns, by server version.
    fn progress_query(self, version_num: i32) -> Option<&'static str> {
        match self {
            Operation::Vacuum | Operation::VacuumAnalyze => Some(
                "SELECT relid::regclass::text, phase, heap_blks_total, heap_blks_scanned \
                 FROM pg_stat_progress_vacuum WHERE pid = $1",
            ),
            Operation::VacuumFull | Operation::VacuumFullAnalyze if version_num >= 120_000 => Some(
                "SELECT relid::regclass::text, phase, heap_blks_total, heap_blks_scanned \
                 FROM pg_stat_progress_cluster WHERE pid = $1",
            ),
            Operation::Analyze if version_num >= 130_000 => Some(
                "SELECT relid::regclass::text, phase, sample_blks_total, sample_blks_scanned \
                 FROM pg_stat_progress_analyze WHERE pid = $1",
            ),
            Operation::Reindex if version_num >= 120_000 => Some(
                "SELECT relid::regclass::text, phase, blocks_total, blocks_done \
                 FROM pg_stat_progress_create_index WHERE pid = $1",
            ),
            _ => None,
        }
    }
}

/// `"name"` with embedded quotes doubled: an identifier PostgreSQL reads as written.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statement for `operation` on `tables` (quoted `schema.table` names), or on the whole
/// database when there are none.
pub fn statement(operation: Operation, database: &str, tables: &[String]) -> String {
    match (operation, tables.is_empty()) {
        (Operation::Reindex, true) => format!("REINDEX DATABASE {}", quote_identifier(database)),
        (Operation::Reindex, false) => tables
            .iter()
            .map(|t| format!("REINDEX TABLE {t}"))
            .collect::<Vec<_>>()
            .join("; "),
        (_, true) => operation.keyword().to_string(),
        (_, false) => format!("{} {}", operation.keyword(), tables.join(", ")),
    }
}

/// Look a `table` or `schema.table` up with bound values; the quoted, qualified name.
pub async fn resolve_table(client: &Client, name: &str) -> Result<String> {
    let (schema, table) = match name.split_once('.') {
        Some((schema, table)) => (Some(schema), table),
        None => (None, name),
    };
    let row = client
        .query_opt(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = $1 AND c.relkind IN ('r', 'm', 'p') \
             AND ($2::text IS NULL AND n.nspname = ANY (current_schemas(false)) OR n.nspname = $2::text) \
             ORDER BY array_position(current_schemas(false), n.nspname) LIMIT 1",
            &[&table, &schema],
        )
        .await
        .map_err(|e| anyhow!("{}", postgres_error_text(&e)))?;
    match row {
        Some(row) => {
            let (schema, table): (String, String) = (row.get(0), row.get(1));
            Ok(format!(
                "{}.{}",
                quote_identifier(&schema),
                quote_identifier(&table)
            ))
        }
        None => Err(anyhow!("no table `{name}` in this database")).hint(
            "name an existing table, as `table` or `schema.table` (see `gymops perf db tables`)",
        ),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub relation: Option<String>,
    pub phase: String,
    pub blocks_total: i64,
    pub blocks_done: i64,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub operation: Operation,
    pub database: String,
    /// The quoted tables, or empty for the whole database.
    pub tables: Vec<String>,
    pub statement: String,
    pub elapsed_ms: u64,
}

/// Run the statement on `worker`, reading progress on `watcher` every half second and
/// handing it to `report`.
pub async fn run(
    worker: &Client,
    watcher: &Client,
    operation: Operation,
    database: &str,
    tables: Vec<String>,
    mut report: impl FnMut(&Progress, Duration),
) -> Result<Outcome> {
    let version_num: i32 = worker
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| anyhow!("{}", postgres_error_text(&e)))?
        .get(0);
    let pid: i32 = worker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(|e| anyhow!("{}", postgres_error_text(&e)))?
        .get(0);
    let sql = statement(operation, database, &tables);
    let started = Instant::now();
    let work = worker.batch_execute(&sql);
    tokio::pin!(work);
    let progress_sql = operation.progress_query(version_num);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some(query) = progress_sql {
                    if let Ok(Some(row)) = watcher.query_opt(query, &[&pid]).await {
                        let progress = Progress {
                            relation: row.get(0),
                            phase: row.get(1),
                            blocks_total: row.get::<_, Option<i64>>(2).unwrap_or(0),
                            blocks_done: row.get::<_, Option<i64>>(3).unwrap_or(0),
                        };
                        report(&progress, started.elapsed());
                    }
                }
            }
        }
    };
    result.map_err(|e| anyhow!("{sql} failed: {}", postgres_error_text(&e)))?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Outcome {
        operation,
        database: database.to_string(),
        tables,
        statement: sql.clone(),
        elapsed_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_with_embedded_quotes_doubled() {
        assert_eq!(quote_identifier("member"), "\"member\"");
        assert_eq!(
            quote_identifier("we\"ird; DROP TABLE x"),
            "\"we\"\"ird; DROP TABLE x\""
        );
    }

    #[test]
    fn statements_for_the_database_or_for_tables() {
        assert_eq!(
            statement(Operation::VacuumAnalyze, "fitness_gym", &[]),
            "VACUUM (ANALYZE)"
        );
        assert_eq!(
            statement(Operation::Reindex, "fitness_gym", &[]),
            "REINDEX DATABASE \"fitness_gym\""
        );
        let tables = vec![
            "\"public\".\"member\"".to_string(),
            "\"public\".\"checkin\"".to_string(),
        ];
        assert_eq!(
            statement(Operation::VacuumFull, "x", &tables),
            "VACUUM (FULL) \"public\".\"member\", \"public\".\"checkin\""
        );
        assert_eq!(
            statement(Operation::Reindex, "x", &tables),
            "REINDEX TABLE \"public\".\"member\"; REINDEX TABLE \"public\".\"checkin\""
        );
        assert!(Operation::VacuumFull.locks_tables() && Operation::Reindex.locks_tables());
        assert!(!Operation::VacuumAnalyze.locks_tables() && !Operation::Analyze.locks_tables());
    }
}
