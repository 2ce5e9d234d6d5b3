//! `backup wal status`: the facts (receiver container, slot, archive, receiver directory)
//! and the pure verdict over them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::archive::{Archived, Incoming};
use super::{gaps, Segment};
use crate::exit::Status;
use crate::pg::replication::{SlotState, Streaming};
use crate::settings::WalLagLimits;

#[derive(Debug, Clone, Serialize)]
pub struct WalStatus {
    pub status: Status,
    pub receiver: String,
    /// `running`, `restarting`, `exited`, ... or `absent`.
    pub receiver_state: String,
    pub restarts: i64,
    pub slot: String,
    pub slot_state: Option<SlotState>,
    pub streaming: Option<Streaming>,
    pub system_identifier: Option<String>,
    pub archived_segments: usize,
    pub archived_bytes: u64,
    pub oldest_archived: Option<String>,
    pub newest_archived: Option<String>,
    pub newest_archived_closed_at: Option<DateTime<Utc>>,
    /// The segment pg_receivewal is writing, and when it last wrote.
    pub receiving: Option<String>,
    pub received_at: Option<DateTime<Utc>>,
    /// Closed segments not archived yet.
    pub pending: usize,
    /// Missing segments: the first of each gap and how many.
    pub gaps: Vec<String>,
    pub problems: Vec<String>,
}

/// Every segment known (archived, closed in the receiver's directory, being written), in
/// order, and the gaps between them.
pub fn chain_gaps(
    archived: &[Archived],
    incoming: &Incoming,
    segment_bytes: u64,
) -> Vec<(Segment, u64)> {
    let mut all: Vec<Segment> = archived.iter().filter_map(|a| a.segment).collect();
    all.extend(
        incoming
            .closed
            .iter()
            .filter_map(|(name, _)| Segment::parse(name, segment_bytes)),
    );
    all.extend(incoming.partial.as_ref().map(|(segment, _)| *segment));
    all.sort();
    all.dedup();
    gaps(&all)
}

/// The verdict: critical when nothing is received (receiver absent or down, no slot), a
/// gap in the chain, or the lag past `critical_mib`; a warning past `warning_mib`, or
/// closed segments waiting for `backup wal archive`.
pub fn verdict(status: &mut WalStatus, limits: &WalLagLimits) {
    let mut found: Vec<(Status, String)> = Vec::new();
    if status.receiver_state != "running" {
        let state = status.receiver_state.clone();
        found.push((
            Status::Critical,
            crate::say!("the WAL receiver is {state}: no WAL is archived"),
        ));
    }
    match &status.slot_state {
        None => {
            let slot = status.slot.clone();
            found.push((
                Status::Critical,
                crate::say!("the replication slot {slot} does not exist"),
            ));
        }
        Some(slot) => {
            let mib = slot.lag_bytes.unwrap_or(0) / (1024 * 1024);
            let (warning, critical) = (limits.warning_mib, limits.critical_mib);
            if mib >= critical {
                found.push((
                    Status::Critical,
                    crate::say!(
                        "the receiver is {mib} MiB behind (backup.wal.max_lag.critical_mib {critical})"
                    ),
                ));
            } else if mib >= warning {
                found.push((
                    Status::Warning,
                    crate::say!(
                        "the receiver is {mib} MiB behind (backup.wal.max_lag.warning_mib {warning})"
                    ),
                ));
            }
        }
    }
    for gap in &status.gaps {
        found.push((
            Status::Critical,
            crate::say!("WAL is missing from the archive: {gap}"),
        ));
    }
    if status.pending > 2 {
        let pending = status.pending;
        found.push((
            Status::Warning,
            crate::say!(
                "{pending} closed segments wait to be archived (`gymops backup wal archive`)"
            ),
        ));
    }
    status.status = Status::combine(found.iter().map(|(s, _)| *s));
    status.problems = found.into_iter().map(|(_, why)| why).collect();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> WalStatus {
        WalStatus {
            status: Status::Ok,
            receiver: "pg-gymops-wal".into(),
            receiver_state: "running".into(),
            restarts: 0,
            slot: "gymops_wal".into(),
            slot_state: Some(SlotState {
                active: true,
                restart_lsn: Some("0/3000000".into()),
                current_lsn: "0/3000100".into(),
                lag_bytes: Some(256),
            }),
            streaming: None,
            system_identifier: Some("1".into()),
            archived_segments: 3,
            archived_bytes: 100,
            oldest_archived: None,
            newest_archived: None,
            newest_archived_closed_at: None,
            receiving: None,
            received_at: None,
            pending: 0,
            gaps: Vec::new(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn lag_past_the_limits_warns_then_is_critical() {
        let limits = WalLagLimits {
            warning_mib: 64,
            critical_mib: 1024,
        };
        let mut status = healthy();
        verdict(&mut status, &limits);
        assert_eq!(status.status, Status::Ok);
        status.slot_state.as_mut().unwrap().lag_bytes = Some(100 * 1024 * 1024);
        verdict(&mut status, &limits);
        assert_eq!(status.status, Status::Warning);
        status.slot_state.as_mut().unwrap().lag_bytes = Some(2048 * 1024 * 1024);
        verdict(&mut status, &limits);
        assert_eq!(status.status, Status::Critical);
    }

    #[test]
    fn a_stopped_receiver_or_a_gap_is_critical() {
        let limits = WalLagLimits::default();
        let mut status = healthy();
        status.receiver_state = "exited".into();
        verdict(&mut status, &limits);
        assert_eq!(status.status, Status::Critical);
        let mut status = healthy();
        status.gaps = vec!["000000010000000000000004 (1 segment)".into()];
        status.pending = 5;
        verdict(&mut status, &limits);
        assert_eq!(status.status, Status::Critical);
        assert_eq!(status.problems.len(), 2);
    }
}
