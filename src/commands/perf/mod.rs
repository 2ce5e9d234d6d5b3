//! `gymops perf ...`: performance monitoring.

pub mod stats;
