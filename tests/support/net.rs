//! Free ports and helper processes that listen on one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// A helper process (socat, stunnel) killed when the test ends.
pub struct Forwarder(pub std::process::Child);

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `command` and wait (at most 10 s) until it listens on `port`.
pub fn listening(mut command: Command, port: u16) -> Forwarder {
    let name = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot run {name} ({err}): apt-get install it (tests/run.sh does)")
        });
    let forwarder = Forwarder(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    forwarder
}
