//! A TCP proxy that cuts a connection after some bytes (faults between gymops and a server).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// A TCP proxy that passes `cut_after` bytes towards the server, then breaks every
/// connection and refuses new ones (a server that stopped) for `down_for` (or for good).
pub struct CutProxy {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CutProxy {
    pub fn start(target: u16, cut_after: u64, down_for: Option<Duration>) -> CutProxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, AtomicU64};
        use std::sync::{Arc, Mutex};
        let port = free_port();
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let (stop_flag, cut_flag) = (stop.clone(), cut.clone());
        std::thread::spawn(move || {
            let sent = Arc::new(AtomicU64::new(0));
            let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut listener = Some(TcpListener::bind(("127.0.0.1", port)).unwrap());
            let mut down_since: Option<Instant> = None;
            while !stop_flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                if sent.load(Ordering::SeqCst) > cut_after && !cut_flag.load(Ordering::SeqCst) {
                    cut_flag.store(true, Ordering::SeqCst);
                    listener = None;
                    down_since = Some(Instant::now());
                    for stream in open.lock().unwrap().drain(..) {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
                if let (Some(since), Some(down)) = (down_since, down_for) {
                    if listener.is_none() && since.elapsed() >= down {
                        listener = TcpListener::bind(("127.0.0.1", port)).ok();
                    }
                }
                let Some(active) = &listener else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                active.set_nonblocking(true).unwrap();
                let Ok((client, _)) = active.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                {
                    let mut open = open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                let counting = cut_flag.load(Ordering::SeqCst);
                for (mut from, mut to, count) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (server, client, false),
                ] {
                    let sent = sent.clone();
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        loop {
                            let n = match std::io::Read::read(&mut from, &mut buffer) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if count && !counting {
                                sent.fetch_add(n as u64, Ordering::SeqCst);
                            }
                            if std::io::Write::write_all(&mut to, &buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        CutProxy { port, stop, cut }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
