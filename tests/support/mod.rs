//! The test rig: real Docker, real PostgreSQL (the host's packages, run in a container),
//! and the project's stand-in for the Spring backend and MinIO. Every stack has its own
//! compose project name, network and ports, and removes everything it made on drop, even
//! when the test fails.
#![allow(dead_code, unused_imports)]

pub mod deployment;
mod engine;
mod net;
mod proxy;
mod receiver;
mod s3;
mod sshd;
mod stack;
mod tls;

pub use engine::*;
pub use net::*;
pub use proxy::*;
pub use receiver::*;
pub use s3::*;
pub use sshd::*;
pub use stack::*;
pub use tls::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "gymops-test-rootfs:3";
/// Every container and network the rig makes carries this label (for sweeping).
pub const RIG_LABEL: &str = "gymops.test";
pub const PASSWORD: &str = "rig-Secret-7f3a9c";

pub fn gymops_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gymops"))
}

/// The gymops binary, with no GYMOPS_* or NO_COLOR from the test's environment.
pub fn gymops(dir: &Path) -> Command {
    let mut command = Command::new(gymops_bin());
    command.current_dir(dir).stdin(Stdio::null());
    // English whatever the machine's locale: the tests read the English messages (the
    // Chinese ones are tested on purpose, with --lang or LANG).
    command.env("LC_ALL", "C.UTF-8");
    // The backup signing key (and any other per-user state) stays in the test's directory.
    command.env("XDG_CONFIG_HOME", dir.join(".config"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.starts_with("GYMOPS_") || key == "NO_COLOR" || key.starts_with("RUST_LOG") {
            command.env_remove(key);
        }
    }
    command
}

/// Run a command and capture its output (never inherits the terminal).
pub fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

/// The exit status of `child`, which must end within `limit`; else it is killed and the test
/// fails saying `what` (a hang is a failure, never a stuck test run).
pub fn wait_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn docker(args: &[&str]) -> Output {
    run(Command::new("docker").args(args))
}

/// `docker ARGS`, panicking with docker's stderr when it fails.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_string()
}

/// Fail loudly, never skip, when the engine does not answer.
pub fn require_docker() {
    let output = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "the Docker engine does not answer (`docker info`: {}). Start it (`dockerd &` or `systemctl start docker`); tests/run.sh does this for you.",
            text(&output.stderr).trim()
        ),
        Err(err) => panic!("no docker CLI ({err}); install docker.io"),
    }
}

/// The directory of the host's PostgreSQL server binaries (highest version).
pub fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TEST_RIG_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("postgres").is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().expect("no PostgreSQL server under /usr/lib/postgresql: apt-get install postgresql (tests/run.sh does)")
}

/// The stand-in server (cargo example), built if the test build did not build it.
pub fn standin_bin() -> PathBuf {
    let gymops = gymops_bin();
    let path = gymops.parent().unwrap().join("examples").join("standin");
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "standin"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cannot run cargo to build the stand-in");
        assert!(status.success(), "cargo build --example standin failed");
    }
    path
}

/// A lock across test processes (nextest runs each test in its own process).
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(name: &str) -> DirLock {
        let path = std::env::temp_dir().join(name);
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return DirLock(path),
                Err(_) if Instant::now() < deadline => {
                    // A lock older than two minutes belongs to a test process that died.
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(120))
                        .unwrap_or(false);
                    if stale {
                        let _ = std::fs::remove_dir(&path);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => panic!("cannot take the lock {}: {err}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The empty rootfs image: the usual top-level symlinks and empty directories. Containers
/// of it run the host's programs through read-only binds of /usr and /etc.
pub fn ensure_image() {
    require_docker();
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let _lock = DirLock::acquire("gymops-test-image.lock");
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    for dir in [
        "usr",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "run",
        "var/tmp",
        "var/run/postgresql",
        "opt",
        "data",
        "app/logs",
    ] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("sbin", "usr/sbin"),
    ] {
        std::os::unix::fs::symlink(target, root.path().join(link)).unwrap();
    }
    // Writable for every user like a real /tmp: tmpfs mount options are not honoured on
    // every engine (seen: mode= ignored), so /tmp lives in the container layer.
    for dir in ["tmp", "var/tmp", "var/run/postgresql", "app/logs", "data"] {
        std::fs::set_permissions(
            root.path().join(dir),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
    }
    let tarball = root.path().join("rootfs.tar");
    let status = Command::new("tar")
        .args(["--exclude", "./rootfs.tar", "-C"])
        .arg(root.path())
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("cannot run tar");
    assert!(status.success(), "tar failed");
    docker_ok(&[
        "import",
        "--message",
        "gymops test rig rootfs",
        tarball.to_str().unwrap(),
        IMAGE,
    ]);
}

/// Run a command that must succeed (exit 0); its stdout. Fails the test with both streams.
pub fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A new age identity in `dir/key.txt` (the standard `age-keygen`): its path and public key.
pub fn age_keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    let output = run(Command::new("age-keygen").arg("-o").arg(&key));
    assert!(
        output.status.success(),
        "age-keygen: {}",
        text(&output.stderr)
    );
    let public = run(Command::new("age-keygen").arg("-y").arg(&key));
    (key, text(&public.stdout).trim().to_string())
}

/// The finding named `check` of a report's `findings` (backup monitor, check, monitor).
pub fn finding(report: &serde_json::Value, check: &str) -> serde_json::Value {
    report["findings"]
        .as_array()
        .and_then(|findings| findings.iter().find(|f| f["check"] == check))
        .cloned()
        .unwrap_or_else(|| panic!("no {check} finding: {report:#}"))
}

/// A small tmpfs mounted over a directory, unmounted on drop.
pub struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    pub fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).unwrap();
        let output = run(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir));
        assert!(output.status.success(), "mount: {}", text(&output.stderr));
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = run(Command::new("umount").arg("-l").arg(&self.0));
    }
}
