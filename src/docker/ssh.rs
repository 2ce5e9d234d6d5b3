//! `ssh://[user@]host[:port]` engines, reached the way the docker CLI reaches them: the
//! system `ssh` client runs `docker system dial-stdio` on the remote host, and the Engine
//! API's HTTP goes over its stdin and stdout. Keys, the agent, known_hosts and ~/.ssh/config
//! are ssh's own; gymops adds no option that could run a command (no ProxyCommand), asks
//! nothing (BatchMode: a missing key or an unknown host key fails at once instead of
//! prompting) and bounds the connection by the engine timeout.
//!
//! Why not bollard's `ssh` feature: it goes through the `openssh` crate's ControlMaster
//! sessions and accepts new host keys on first use (`StrictHostKeyChecking=accept-new`); the
//! docker CLI checks them, and so does gymops.

use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{anyhow, Result};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{ChildStdin, ChildStdout};

use crate::error::Hint;

/// Where an `ssh://` address points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// `ssh://[user@]host[:port]`, nothing else (the docker CLI takes no path either).
    pub fn parse(address: &str) -> Result<SshTarget> {
        let bad = |why: &str| {
            anyhow!("bad ssh Docker address `{address}`: {why}").context(Hint(
                "write it as ssh://USER@HOST or ssh://USER@HOST:PORT".into(),
            ))
        };
        let url = url::Url::parse(address).map_err(|err| bad(&err.to_string()))?;
        if url.scheme() != "ssh" {
            return Err(bad("the scheme is not ssh"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        if url.password().is_some() {
            return Err(bad(
                "a password in the address would be on ssh's command line; use a key",
            ));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "a path, query or fragment is not part of an ssh address",
            ));
        }
        let user = Some(url.username()).filter(|u| !u.is_empty()).map(|u| {
            percent_encoding::percent_decode_str(u)
                .decode_utf8_lossy()
                .into_owned()
        });
        // Neither may read as an ssh option.
        let plain = |text: &str| {
            !text.starts_with('-')
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
        };
        if !plain(&host) {
            return Err(bad("the host has characters a host name does not"));
        }
        if let Some(user) = &user {
            if !plain(user) {
                return Err(bad("the user has characters a user name does not"));
            }
        }
        Ok(SshTarget {
            user,
            host,
            port: url.port(),
        })
    }

    /// `user@host` or `host`, for messages.
    pub fn display(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

/// What gymops adds to ssh's own configuration.
#[derive(Debug, Clone, Default)]
pub struct SshOptions {
    /// A private key file (`-i`), beside what the agent and ~/.ssh offer.
    pub identity_file: Option<std::path::PathBuf>,
    /// A known_hosts file to check the host key against instead of the user's.
    pub known_hosts_file: Option<std::path::PathBuf>,
}

/// ssh's arguments for one connection to the remote `docker system dial-stdio`.
pub fn ssh_args(target: &SshTarget, options: &SshOptions, timeout: Duration) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-T".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={}", timeout.as_secs().max(1)),
    ];
    if let Some(path) = &options.identity_file {
        args.extend(["-i".into(), path.display().to_string()]);
    }
    if let Some(path) = &options.known_hosts_file {
        args.extend([
            "-o".into(),
            format!("UserKnownHostsFile={}", path.display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
        ]);
    }
    if let Some(user) = &target.user {
        args.extend(["-l".into(), user.clone()]);
    }
    if let Some(port) = target.port {
        args.extend(["-p".into(), port.to_string()]);
    }
    args.extend([
        "--".into(),
        target.host.clone(),
        "docker".into(),
        "system".into(),
        "dial-stdio".into(),
    ]);
    args
}

/// A hyper connector: each connection is one `ssh ... docker system dial-stdio` process,
/// its stdin and stdout one end of a socket pair. How the last ssh that failed ended is kept
/// for the error message (an HTTP error alone would say only "connection closed").
#[derive(Clone)]
pub struct SshConnector {
    target: Arc<SshTarget>,
    args: Arc<Vec<String>>,
    failure: Arc<Mutex<Option<String>>>,
    exited: Arc<tokio::sync::Notify>,
}

impl SshConnector {
    pub fn new(target: SshTarget, options: &SshOptions, timeout: Duration) -> SshConnector {
        let args = ssh_args(&target, options, timeout);
        SshConnector {
            target: Arc::new(target),
            args: Arc::new(args),
            failure: Arc::default(),
            exited: Arc::default(),
        }
    }

    /// Why ssh failed, waiting up to `wait` for a failing ssh to finish writing it.
    pub async fn failure(&self, wait: Duration) -> Option<anyhow::Error> {
        let notified = self.exited.notified();
        let known = self.failure.lock().ok().and_then(|f| f.clone());
        let text = match known {
            Some(text) => Some(text),
            None => {
                let _ = tokio::time::timeout(wait, notified).await;
                self.failure.lock().ok().and_then(|f| f.clone())
            }
        }?;
        Some(explain(&self.target, &text))
    }

    /// Start ssh; the HTTP goes over its stdin and stdout pipes (on every OS).
    fn spawn(&self) -> std::io::Result<SshStream> {
        let mut child = tokio::process::Command::new("ssh")
            .args(self.args.iter())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| {
                if err.kind() == std::io::ErrorKind::NotFound {
                    std::io::Error::new(
                        err.kind(),
                        "no ssh client: install openssh-client to reach ssh:// engines",
                    )
                } else {
                    err
                }
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("ssh started without its pipes"));
        };
        let mut stderr = child.stderr.take();
        let failure = self.failure.clone();
        let exited = self.exited.clone();
        tokio::spawn(async move {
            let mut text = Vec::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = stderr.take(64 * 1024).read_to_end(&mut text).await;
            }
            let status = child.wait().await;
            if !status.as_ref().is_ok_and(|s| s.success()) {
                let text = String::from_utf8_lossy(&text).trim().to_string();
                let code = status.ok().and_then(|s| s.code());
                let text = match (text.is_empty(), code) {
                    (false, _) => text,
                    (true, Some(code)) => format!("ssh exited with status {code}"),
                    (true, None) => "ssh was killed".to_string(),
                };
                if let Ok(mut slot) = failure.lock() {
                    *slot = Some(text);
                }
            }
            exited.notify_waiters();
        });
        Ok(SshStream { stdout, stdin })
    }
}

/// The Engine API's byte stream to one ssh process: its stdout to read, its stdin to write.
pub struct SshStream {
    stdout: ChildStdout,
    stdin: ChildStdin,
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdin).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_shutdown(cx)
    }
}

impl hyper_util::client::legacy::connect::Connection for SshStream {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

impl tower_service::Service<hyper::Uri> for SshConnector {
    type Response = TokioIo<SshStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let spawned = self.spawn().map(TokioIo::new);
        Box::pin(async move { spawned })
    }
}

/// ssh's last words as one error with what to do.
fn explain(target: &SshTarget, stderr: &str) -> anyhow::Error {
    let who = target.display();
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or(stderr)
        .to_string();
    let hint = if stderr.contains("Host key verification failed")
        || stderr.contains("No ED25519 host key is known")
        || stderr.contains("host key")
    {
        format!(
            "the host key of {} is not known (or changed): check it and add it to known_hosts (`ssh {who}` once, or ssh-keyscan)",
            target.host
        )
    } else if stderr.contains("Permission denied") {
        format!(
            "ssh could not log in to {who}: load the key in ssh-agent, name it in ~/.ssh/config or docker.ssh.identity_file, and check that `ssh {who}` works"
        )
    } else if stderr.contains("command not found")
        || stderr.contains("dial-stdio")
        || stderr.contains("docker:")
    {
        format!(
            "{} has no working docker CLI: install it there (dial-stdio needs Docker 18.09 or later) and check that its user may use the engine",
            target.host
        )
    } else {
        format!("check that `ssh {who} docker version` works from this machine")
    };
    anyhow!("ssh to {who} failed: {last}").context(Hint(hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ssh_address_gives_user_host_and_port() {
        let target = SshTarget::parse("ssh://deploy@branch-a.example:2222").unwrap();
        assert_eq!(
            target,
            SshTarget {
                user: Some("deploy".into()),
                host: "branch-a.example".into(),
                port: Some(2222)
            }
        );
        let args = ssh_args(&target, &SshOptions::default(), Duration::from_secs(10));
        let tail = &args[args.len() - 5..];
        assert_eq!(
            tail,
            ["--", "branch-a.example", "docker", "system", "dial-stdio"]
        );
        assert!(args.windows(2).any(|w| w == ["-l", "deploy"]));
        assert!(args.windows(2).any(|w| w == ["-p", "2222"]));
        assert!(args.contains(&"BatchMode=yes".to_string()));
        assert!(args.contains(&"ConnectTimeout=10".to_string()));
        let bare = SshTarget::parse("ssh://10.0.0.7").unwrap();
        assert_eq!((bare.user, bare.port), (None, None));
    }

    #[test]
    fn nothing_in_an_address_reaches_ssh_as_an_option_or_a_command() {
        for address in [
            "ssh://-oProxyCommand=touch%20x@host",
            "ssh://user@-oProxyCommand=x",
            "ssh://user:secret@host",
            "ssh://user@host/path",
            "ssh://user@host?x=1",
            "ssh://us%20er@host",
            "tcp://host:2375",
            "ssh://",
        ] {
            let err = SshTarget::parse(address).unwrap_err();
            let (message, hint) = crate::error::describe(&err);
            assert!(
                message.starts_with("bad ssh Docker address"),
                "{address}: {message}"
            );
            assert!(hint.is_some(), "{address}");
        }
    }

    #[test]
    fn ssh_failures_say_what_to_do() {
        let target = SshTarget::parse("ssh://ops@gym-b").unwrap();
        let cases = [
            ("Host key verification failed.", "known_hosts"),
            ("ops@gym-b: Permission denied (publickey).", "ssh-agent"),
            (
                "bash: line 1: docker: command not found",
                "no working docker CLI",
            ),
            (
                "ssh: connect to host gym-b port 22: Connection refused",
                "docker version",
            ),
        ];
        for (stderr, expected) in cases {
            let (message, hint) = crate::error::describe(&explain(&target, stderr));
            assert!(
                message.starts_with("ssh to ops@gym-b failed: "),
                "{message}"
            );
            assert!(hint.unwrap().contains(expected), "{stderr}");
        }
    }
}
