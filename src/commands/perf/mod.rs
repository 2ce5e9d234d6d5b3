//! `gymops perf ...`: performance monitoring.

pub mod db;
pub mod stats;
