//! SQL for backups and restores over tokio-postgres: row counts, owner roles, databases.
//! Identifiers are quoted, values bound.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio_postgres::Client;

use super::inspect::unquote;
use crate::pg::maintain::quote_identifier;
use crate::pg::postgres_error_text;
use crate::settings::PostgresSettings;

fn text(err: tokio_postgres::Error) -> anyhow::Error {
    anyhow!("{}", postgres_error_text(&err))
}

/// `public.member` / `"Reports"."Big Table"` (pg_dump's spelling) -> (schema, table).
pub fn split_qualified(name: &str) -> Option<(String, String)> {
    let mut quoted = false;
    for (index, c) in name.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                return Some((unquote(&name[..index]), unquote(&name[index + 1..])));
            }
            _ => {}
        }
    }
    None
}

/// The tables of the database as pg_dump names them (`schema.table`, quoted where needed).
pub async fn user_tables(client: &Client) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
             ORDER BY 1, 2",
            &[],
        )
        .await
        .map_err(text)?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Exact rows of each table, keyed by `schema.table` as pg_dump writes it.
pub async fn count_rows(
    client: &Client,
    tables: &[(String, String)],
) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for (schema, table) in tables {
        let sql = format!(
            "SELECT count(*) FROM {}.{}",
            quote_identifier(schema),
            quote_identifier(table)
        );
        let row = client.query_one(&sql, &[]).await.map_err(text)?;
        let count: i64 = row.get(0);
        counts.insert(dump_name(schema, table), count as u64);
    }
    Ok(counts)
}

/// pg_dump's spelling of a table name: identifiers quoted only when they must be.
pub fn dump_name(schema: &str, table: &str) -> String {
    fn id(name: &str) -> String {
        let plain = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
        if plain {
            name.to_string()
        } else {
            quote_identifier(name)
        }
    }
    format!("{}.{}", id(schema), id(table))
}

/// Roles that own objects in user schemas.
pub async fn owner_roles(client: &Client) -> Result<BTreeSet<String>> {
    let rows = client
        .query(
            "SELECT DISTINCT pg_get_userbyid(owner)::text FROM ( \
               SELECT c.relowner AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_to%' \
               UNION SELECT n.nspowner FROM pg_namespace n \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_to%' \
                   AND n.nspname <> 'public' \
               UNION SELECT p.proowner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')) o",
            &[],
        )
        .await
        .map_err(text)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Of `roles`, the ones the server does not have.
pub async fn missing_roles(client: &Client, roles: &[String]) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT r FROM unnest($1::text[]) r WHERE NOT EXISTS \
             (SELECT 1 FROM pg_roles WHERE rolname = r) ORDER BY r",
            &[&roles],
        )
        .await
        .map_err(text)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Connect to another database of the same server (`postgres` for CREATE/DROP DATABASE).
pub async fn connect_to(
    pg: &PostgresSettings,
    database: &str,
    timeout: Duration,
) -> Result<Client> {
    let mut other = pg.clone();
    other.database = database.to_string();
    crate::pg::connect(&other, timeout).await
}

pub async fn database_exists(admin: &Client, name: &str) -> Result<bool> {
    let row = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .map_err(text)?;
    Ok(row.get::<_, i64>(0) > 0)
}

/// Tables, views, sequences and functions in user schemas: zero means an empty database.
pub async fn user_objects(client: &Client) -> Result<i64> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_to%') \
             + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))",
            &[],
        )
        .await
        .map_err(text)?;
    Ok(row.get(0))
}

pub async fn create_database(admin: &Client, name: &str) -> Result<()> {
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_identifier(name)))
        .await
        .map_err(text)
}

/// Drop a database, disconnecting its sessions first.
pub async fn drop_database(admin: &Client, name: &str) -> Result<()> {
    let version: i32 = admin
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(text)?
        .get(0);
    if version >= 130_000 {
        return admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_identifier(name)
            ))
            .await
            .map_err(text);
    }
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .map_err(text)?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {}",
            quote_identifier(name)
        ))
        .await
        .map_err(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_split_and_rebuild_like_pg_dump() {
        assert_eq!(
            split_qualified("public.member"),
            Some(("public".into(), "member".into()))
        );
        assert_eq!(
            split_qualified("\"Reports\".\"Big.Table\""),
            Some(("Reports".into(), "Big.Table".into()))
        );
        assert_eq!(dump_name("public", "member"), "public.member");
        assert_eq!(
            dump_name("Reports", "Big Table"),
            "\"Reports\".\"Big Table\""
        );
        assert_eq!(dump_name("public", "2fa"), "public.\"2fa\"");
    }
}

/// A database name gymops hands to pg_dump, psql and pg_restore and puts in backup file
/// names: never one they would read as a connection string (`=`, `postgres://`), never a
/// path (`/`), no control characters, at most PostgreSQL's 63 bytes.
pub fn check_database_name(name: &str) -> anyhow::Result<()> {
    use crate::error::HintExt;
    let lower = name.to_ascii_lowercase();
    let why = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 63 {
        Some("it is longer than PostgreSQL's 63 bytes")
    } else if name.contains('=')
        || lower.starts_with("postgres://")
        || lower.starts_with("postgresql://")
    {
        Some("the client tools would read it as a connection string")
    } else if name.contains('/') || name.contains('\\') {
        Some("it would be a path in the backup's file name")
    } else if name.chars().any(|c| c.is_control()) {
        Some("it holds a control character")
    } else {
        None
    };
    match why {
        Some(why) => Err(anyhow::anyhow!(
            "database name `{}` is refused: {why}",
            name.escape_debug()
        ))
        .hint("use letters, digits, `_` and `-`, e.g. fitness_gym_copy"),
        None => Ok(()),
    }
}

#[cfg(test)]
mod name_tests {
    use super::check_database_name;

    #[test]
    fn names_that_are_connection_strings_or_paths_are_refused() {
        for good in ["fitness_gym", "Gym Copy", "gym-2026"] {
            assert!(check_database_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "host=evil.example dbname=x",
            "postgres://evil.example/x",
            "../../etc/cron.d/x",
            "a\nb",
            &"x".repeat(64),
        ] {
            assert!(check_database_name(bad).is_err(), "{bad:?}");
        }
    }
}
