//! Logs: parsing Spring Boot, logback, PostgreSQL and JSON lines; statistics; reading files.

pub mod files;
pub mod fingerprint;
pub mod parse;
pub mod retention;
pub mod stats;
pub mod time;
