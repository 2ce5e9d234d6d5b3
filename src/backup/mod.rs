//! Backups of the deployment's database: pg_dump streamed through compression and age
//! encryption to a file (and S3), with a manifest; verify, restore, list, monitor, prune.

pub mod catalog;
pub mod create;
pub mod inspect;
pub mod lock;
pub mod manifest;
pub mod pipeline;
pub mod process;
pub mod restore;
pub mod s3;
pub mod sql;
