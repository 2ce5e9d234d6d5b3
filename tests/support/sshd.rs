//! A real OpenSSH server on loopback for `ssh://` engines: Debian's openssh-server on a free
//! port with a throwaway host key and one authorized client key, logging in as the user
//! running the tests, whose `docker` is the docker CLI of this machine. Stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

pub struct Sshd {
    pub port: u16,
    pub dir: tempfile::TempDir,
    _server: Forwarder,
}

fn keygen(path: &Path) {
    let output = run(Command::new("ssh-keygen").args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "gymops-test",
        "-f",
        path.to_str().unwrap(),
    ]));
    assert!(
        output.status.success(),
        "ssh-keygen failed: {}",
        text(&output.stderr)
    );
}

impl Sshd {
    /// `extra` lines go into sshd_config (a `SetEnv`, say).
    pub fn start(extra: &str) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        keygen(&path("host_key"));
        keygen(&path("id_ed25519"));
        std::fs::copy(path("id_ed25519.pub"), path("authorized_keys")).unwrap();
        let port = free_port();
        let host_public = std::fs::read_to_string(path("host_key.pub")).unwrap();
        let mut fields = host_public.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            path("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .unwrap();
        std::fs::write(path("empty_known_hosts"), "").unwrap();
        std::fs::write(
            path("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin prohibit-password\nLogLevel ERROR\n{extra}\n",
                path("host_key").display(),
                path("authorized_keys").display(),
                path("sshd.pid").display(),
            ),
        )
        .unwrap();
        // Debian's sshd wants its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("no sshd: apt-get install openssh-server (tests/run.sh does)");
        let mut command = Command::new(sshd);
        command.args(["-D", "-e", "-f"]).arg(path("sshd_config"));
        let server = listening(command, port);
        Sshd {
            port,
            dir,
            _server: server,
        }
    }

    pub fn user() -> String {
        let output = run(Command::new("id").arg("-un"));
        text(&output.stdout).trim().to_string()
    }

    /// `ssh://USER@127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", Sshd::user(), self.port)
    }

    pub fn identity(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    pub fn empty_known_hosts(&self) -> PathBuf {
        self.dir.path().join("empty_known_hosts")
    }

    /// gymops.yaml's docker.ssh lines for this server's key and host key.
    pub fn settings(&self) -> String {
        format!(
            "docker:\n  ssh:\n    identity_file: {}\n    known_hosts_file: {}\n",
            self.identity().display(),
            self.known_hosts().display()
        )
    }
}
