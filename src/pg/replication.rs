//! Replication facts and slots for WAL archiving: the system identifier, the receiver's
//! physical slot and how far it lags. Values bound, never spliced.

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// The receiver's `application_name` (what `pg_stat_replication` shows).
pub const RECEIVER_APPLICATION: &str = "gymops_wal";

/// `pg_control_system().system_identifier`, as text.
pub async fn system_identifier(client: &Client) -> Result<String> {
    let row = client
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .await
        .context("cannot read the system identifier")?;
    Ok(row.get(0))
}

/// The WAL segment size (`wal_segment_size`), in bytes.
pub async fn segment_bytes(client: &Client) -> Result<u64> {
    let row = client
        .query_one(
            "SELECT setting::bigint * CASE unit WHEN 'B' THEN 1 WHEN 'kB' THEN 1024 WHEN 'MB' THEN 1048576 WHEN '8kB' THEN 8192 ELSE 1 END FROM pg_settings WHERE name = 'wal_segment_size'",
            &[],
        )
        .await
        .context("cannot read wal_segment_size")?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Create the physical slot (reserving WAL from now) unless it exists; true when created.
pub async fn ensure_slot(client: &Client, slot: &str) -> Result<bool> {
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .context("cannot read pg_replication_slots")?
        .is_some();
    if exists {
        return Ok(false);
    }
    client
        .execute(
            "SELECT pg_create_physical_replication_slot($1, true)",
            &[&slot],
        )
        .await
        .with_context(|| format!("cannot create the replication slot {slot}"))?;
    Ok(true)
}

/// Drop the slot if it exists and nobody streams from it; true when dropped.
pub async fn drop_slot(client: &Client, slot: &str) -> Result<bool> {
    let dropped = client
        .query_opt(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
            &[&slot],
        )
        .await
        .with_context(|| format!("cannot drop the replication slot {slot}"))?;
    Ok(dropped.is_some())
}

/// A slot as `backup wal status` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SlotState {
    pub active: bool,
    /// The oldest WAL the server keeps for it.
    pub restart_lsn: Option<String>,
    pub current_lsn: String,
    /// Bytes of WAL written since the receiver's position.
    pub lag_bytes: Option<u64>,
}

pub async fn slot_state(client: &Client, slot: &str) -> Result<Option<SlotState>> {
    let row = client
        .query_opt(
            "SELECT active, restart_lsn::text, pg_current_wal_lsn()::text, \
             pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .context("cannot read pg_replication_slots")?;
    Ok(row.map(|row| SlotState {
        active: row.get(0),
        restart_lsn: row.get(1),
        current_lsn: row.get(2),
        lag_bytes: row.get::<_, Option<i64>>(3).map(|v| v.max(0) as u64),
    }))
}

/// The receiver's connection in `pg_stat_replication`: what it flushed and how long ago
/// that WAL was written on the server (`flush_lag`, seconds).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Streaming {
    pub flush_lsn: Option<String>,
    pub flush_lag_seconds: Option<f64>,
}

pub async fn streaming(client: &Client) -> Result<Option<Streaming>> {
    let row = client
        .query_opt(
            "SELECT flush_lsn::text, EXTRACT(epoch FROM flush_lag)::float8 \
             FROM pg_stat_replication WHERE application_name = $1 LIMIT 1",
            &[&RECEIVER_APPLICATION],
        )
        .await
        .context("cannot read pg_stat_replication")?;
    Ok(row.map(|row| Streaming {
        flush_lsn: row.get(0),
        flush_lag_seconds: row.get(1),
    }))
}

/// Close the current WAL segment (so the receiver's copy of it is complete).
pub async fn switch_wal(client: &Client) -> Result<()> {
    client
        .execute("SELECT pg_switch_wal()", &[])
        .await
        .context("cannot switch the WAL segment")?;
    Ok(())
}
