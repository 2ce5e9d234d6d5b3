//! Backups of the deployment's database.

pub mod catalog;
