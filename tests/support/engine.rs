//! A second Docker engine for the tests: another `dockerd` with its own empty config file,
//! data root, exec root, pid file and socket, no bridge and no iptables (so it touches
//! nothing of the main engine's networking), the vfs storage driver (no overlay mounts to
//! leave behind). The rig's base image is copied in with `docker save | docker load`.
//! Stopped, and everything it made removed, on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

pub struct SecondEngine {
    pub dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SecondEngine {
    pub fn start() -> SecondEngine {
        ensure_image();
        // Short paths: a unix socket path has at most 107 bytes.
        let dir = tempfile::Builder::new()
            .prefix("gymops-engine")
            .tempdir_in("/tmp")
            .unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::write(path("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(path("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(path("daemon.json"))
            .arg("--data-root")
            .arg(path("data"))
            .arg("--exec-root")
            .arg(path("exec"))
            .arg("--pidfile")
            .arg(path("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", path("docker.sock").display()))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
                "--storage-driver",
                "vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot start a second dockerd");
        let engine = SecondEngine { dir, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !engine.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "the second dockerd did not answer: {}",
                std::fs::read_to_string(engine.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // The base image, copied from the main engine.
        let mut save = Command::new("docker")
            .args(["save", IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let loaded = Command::new("docker")
            .arg("--host")
            .arg(engine.address())
            .args(["load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success());
        assert!(loaded.status.success(), "{}", text(&loaded.stderr));
        engine
    }

    /// `unix:///tmp/gymops-engine.../docker.sock`.
    pub fn address(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// `docker --host THIS ARGS`.
    pub fn docker(&self, args: &[&str]) -> Output {
        run(Command::new("docker")
            .arg("--host")
            .arg(self.address())
            .args(args))
    }

    /// Make this engine a one-node swarm (manager), on loopback, on ports of its own (two
    /// tests' swarms side by side cannot share 2377).
    pub fn swarm_init(&self) {
        let listen = format!("127.0.0.1:{}", free_port());
        let output = self.docker(&[
            "swarm",
            "init",
            "--advertise-addr",
            &listen,
            "--listen-addr",
            &listen,
        ]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    /// A long-running container of the base image on this engine, by name.
    pub fn run_container(&self, name: &str) {
        let args = sleeper_args(name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = self.docker(&args);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
}

/// `docker run` arguments for a long-running container of the base image without a
/// network, labelled as the rig's.
pub fn sleeper_args(name: &str) -> Vec<String> {
    [
        "run",
        "-d",
        "--name",
        name,
        "--label",
        "gymops.test=1",
        "--network",
        "none",
        "-v",
        "/usr:/usr:ro",
        "-v",
        "/etc:/etc:ro",
        IMAGE,
        "/usr/bin/sleep",
        "600",
    ]
    .map(str::to_string)
    .to_vec()
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        let _ = self.docker(&["swarm", "leave", "--force"]);
        let ids = self.docker(&["ps", "-aq"]);
        for id in text(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", "-v", id]);
        }
        // SIGTERM, then wait for dockerd to stop its containerd and exit.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // vfs leaves plain directories; the exec root may hold mounts (the swarm's network
        // namespace): unmount whatever is below the directory, deepest first, so that the
        // directory can go.
        let root = self.dir.path().display().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_whitespace().nth(1).map(str::to_string))
            .filter(|point| point.starts_with(&root))
            .collect();
        mounts.sort_by_key(|point| std::cmp::Reverse(point.len()));
        for point in mounts {
            let _ = Command::new("umount")
                .args(["-l", &point])
                .stderr(Stdio::null())
                .status();
        }
    }
}
