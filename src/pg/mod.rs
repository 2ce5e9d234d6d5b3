//! PostgreSQL connections (tokio-postgres) from settings, always with a deadline.

pub mod bench;
pub mod insight;
pub mod maintain;
pub mod replication;
pub mod tls;

use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio_postgres::{Client, Config, NoTls};

use crate::settings::PostgresSettings;

/// `host:port/database as user`, for targets and messages (never the password).
pub fn describe_target(pg: &PostgresSettings) -> String {
    format!("{}:{}/{} as {}", pg.host, pg.port, pg.database, pg.user)
}

/// Connect within `timeout`. The connection task runs on the runtime until the client drops.
pub async fn connect(pg: &PostgresSettings, timeout: Duration) -> Result<Client> {
    let mut config = Config::new();
    config
        .host(&pg.host)
        .port(pg.port)
        .user(&pg.user)
        .dbname(&pg.database)
        .application_name("gymops")
        .connect_timeout(timeout);
    if let Some(password) = &pg.password {
        config.password(password.expose());
    }
    use crate::settings::SslMode;
    config.ssl_mode(match pg.sslmode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let client = if pg.sslmode == SslMode::Disable {
        open(&config, NoTls, timeout).await?
    } else {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls::client_config(pg)?);
        open(&config, tls, timeout).await?
    };
    Ok(client)
}

/// Connect with `tls` within `timeout`; the connection runs on the runtime.
async fn open<T>(config: &Config, tls: T, timeout: Duration) -> Result<Client>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Send + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    let (client, connection) = crate::deadline::bounded(timeout, "no answer", async {
        config
            .connect(tls)
            .await
            .map_err(|err| anyhow!("{}", postgres_error_text(&err)))
    })
    .await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "postgres connection ended");
        }
    });
    Ok(client)
}

/// A tokio-postgres error as one line: the server's message when there is one.
pub fn postgres_error_text(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
