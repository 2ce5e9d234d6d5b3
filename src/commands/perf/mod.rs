//! `gymops perf ...`: performance monitoring.

pub mod api;
pub mod bench;
pub mod db;
pub mod jvm;
pub mod load;
pub mod stats;
pub mod top;
