//! The PostgreSQL probe: connect and `SELECT 1` (what pg_isready tells), then connection
//! count against max_connections and the database size as detail.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde_json::{json, Map, Value};
use tokio_postgres::SimpleQueryMessage;

use super::{CheckKind, CheckResult};
use crate::exit::Status;
use crate::output::human_bytes;
use crate::pg;
use crate::say;
use crate::settings::PostgresSettings;

pub async fn probe(
    pg_settings: &PostgresSettings,
    timeout: Duration,
    warning_percent: u8,
    service: Option<String>,
) -> CheckResult {
    let mut result = CheckResult::new(
        CheckKind::Db,
        "postgres",
        service,
        &pg::describe_target(pg_settings),
    );
    let started = Instant::now();
    match facts(pg_settings, timeout).await {
        Ok(facts) => {
            result.latency_ms = Some(facts.ready_after.as_secs_f64() * 1000.0);
            let (status, summary) = connections_verdict(&facts, warning_percent);
            result.status = status;
            result.summary = summary;
            result.details = facts.details();
        }
        Err(err) => {
            result.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            result.status = Status::Critical;
            result.summary = crate::error::describe(&err).0;
        }
    }
    result
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbFacts {
    /// Connect + SELECT 1.
    pub ready_after: Duration,
    pub server_version: String,
    pub client_connections: i64,
    pub all_backends: i64,
    pub max_connections: i64,
    pub database_size_bytes: i64,
}

impl DbFacts {
    fn details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        details.insert("server_version".into(), json!(self.server_version));
        details.insert("connections".into(), json!(self.client_connections));
        details.insert("backends".into(), json!(self.all_backends));
        details.insert("max_connections".into(), json!(self.max_connections));
        details.insert(
            "database_size_bytes".into(),
            json!(self.database_size_bytes),
        );
        details
    }
}

async fn facts(pg_settings: &PostgresSettings, timeout: Duration) -> Result<DbFacts> {
    let started = Instant::now();
    let client = pg::connect(pg_settings, timeout).await?;
    // Simple queries, one round trip each (an extended-protocol query is two): against a
    // site across a WAN every round trip shows in the health run's time. The first is the
    // readiness query (pg_isready's question) and says which catalogue the second may use.
    let version = client
        .simple_query("SELECT current_setting('server_version_num')")
        .await
        .map_err(|e| anyhow!("SELECT failed: {}", pg::postgres_error_text(&e)))?;
    let version_num: i64 = number_value(&version, 0)?;
    let ready_after = started.elapsed();
    // backend_type exists from PostgreSQL 10; before it every row is a client backend.
    let sql = if version_num >= 100_000 {
        "SELECT count(*) FILTER (WHERE backend_type = 'client backend'), count(*), \
         current_setting('max_connections')::bigint, pg_database_size(current_database()), \
         current_setting('server_version') FROM pg_stat_activity"
    } else {
        "SELECT count(*), count(*), current_setting('max_connections')::bigint, \
         pg_database_size(current_database()), current_setting('server_version') FROM pg_stat_activity"
    };
    let row = client
        .simple_query(sql)
        .await
        .map_err(|e| anyhow!("{}", pg::postgres_error_text(&e)))?;
    let number = |index| number_value::<i64>(&row, index);
    let server_version = text_value(&row, 4)?;
    Ok(DbFacts {
        ready_after,
        client_connections: number(0)?,
        all_backends: number(1)?,
        max_connections: number(2)?,
        database_size_bytes: number(3)?,
        server_version,
    })
}

/// Column `index` of a simple query's one row, as text.
fn text_value(messages: &[SimpleQueryMessage], index: usize) -> Result<String> {
    messages
        .iter()
        .find_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row.get(index).map(str::to_string)),
            _ => None,
        })
        .flatten()
        .ok_or_else(|| anyhow!("the server answered without column {index}"))
}

/// Column `index` of a simple query's one row, parsed.
fn number_value<T: std::str::FromStr>(messages: &[SimpleQueryMessage], index: usize) -> Result<T> {
    let text = text_value(messages, index)?;
    text.parse()
        .map_err(|_| anyhow!("the server answered `{text}` where a number belongs"))
}

/// OK, or a warning when client connections reach the warning share of max_connections.
pub fn connections_verdict(facts: &DbFacts, warning_percent: u8) -> (Status, String) {
    let percent = if facts.max_connections > 0 {
        facts.client_connections as f64 * 100.0 / facts.max_connections as f64
    } else {
        0.0
    };
    let (used, max) = (facts.client_connections, facts.max_connections);
    let size = human_bytes(facts.database_size_bytes.max(0) as u64);
    let summary =
        say!("accepting connections; {used} of {max} connections ({percent:.0}%), database {size}");
    if percent >= f64::from(warning_percent) {
        (
            Status::Warning,
            say!("{summary}; at or above {warning_percent}% of max_connections"),
        )
    } else {
        (Status::Ok, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(connections: i64) -> DbFacts {
        DbFacts {
            ready_after: Duration::from_millis(3),
            server_version: "15.18".into(),
            client_connections: connections,
            all_backends: connections + 5,
            max_connections: 100,
            database_size_bytes: 8 * 1024 * 1024,
        }
    }

    #[test]
    fn connections_warn_at_the_threshold() {
        assert_eq!(
            connections_verdict(&facts(12), 80),
            (
                Status::Ok,
                "accepting connections; 12 of 100 connections (12%), database 8.0 MiB".into()
            )
        );
        assert_eq!(connections_verdict(&facts(80), 80).0, Status::Warning);
        assert_eq!(connections_verdict(&facts(79), 80).0, Status::Ok);
    }
}
