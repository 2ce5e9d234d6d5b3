//! `gymops db ...`: database maintenance.

pub mod maintain;
