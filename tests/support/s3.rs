//! A real S3 server (s3s-fs) over a directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// A real S3 server for the tests: the `s3s-fs` crate's server over a temporary directory
/// (`cargo install s3s-fs --features binary`; tests/run.sh does).
pub struct S3Server {
    _process: Forwarder,
    pub port: u16,
    pub root: tempfile::TempDir,
}

pub const S3_ACCESS_KEY: &str = "gymops-test-access";
pub const S3_SECRET_KEY: &str = "gymops-test-secret-5e1f";

impl S3Server {
    pub fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        for bucket in buckets {
            std::fs::create_dir(root.path().join(bucket)).unwrap();
        }
        let port = free_port();
        let program = std::env::var("HOME")
            .map(|home| PathBuf::from(home).join(".cargo/bin/s3s-fs"))
            .ok()
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("s3s-fs"));
        let mut command = Command::new(program);
        command.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            S3_ACCESS_KEY,
            "--secret-key",
            S3_SECRET_KEY,
        ]);
        command.arg(root.path());
        S3Server {
            _process: listening(command, port),
            port,
            root,
        }
    }
}
