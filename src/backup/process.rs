//! The PostgreSQL client tools (pg_dump, psql, pg_restore) as running processes, in the
//! PostgreSQL container through the Engine API or on this host, behind one interface:
//! output chunks on a bounded channel, input from one, and the exit status with the tail of
//! standard error at the end. Argument vectors only; passwords only in the environment.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bollard::container::LogOutput;
use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::docker::Engine;
use crate::settings::Secret;

/// Chunks in flight between a process and the pipeline: at most a few MiB.
pub const CHANNEL_DEPTH: usize = 8;
/// Output is handed on in chunks of about this size. A process writes its output a few KiB
/// at a time; passing each piece on would wake the pipeline thread a hundred thousand times
/// per GiB, which costs more CPU than the copy into a larger chunk.
const CHUNK: usize = 256 * 1024;
/// Output waits at most this long for more to join it.
const LINGER: Duration = Duration::from_millis(100);
/// How much of standard error is kept (the end of it: where the error is).
const STDERR_TAIL: usize = 64 * 1024;

/// Where the tools run.
#[derive(Clone)]
pub enum Runner {
    /// In this container, with the tools in `bin_dir` (or on its PATH).
    Container {
        engine: Arc<Engine>,
        container: String,
        bin_dir: Option<String>,
    },
    /// On this host (`--local`), with the tools on PATH.
    Local,
}

/// How a process ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// None when the process vanished without a status (its container was killed).
    pub exit_code: Option<i64>,
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// `pg_dump exited with 1: <the last lines of stderr>`.
    pub fn describe(&self, program: &str) -> String {
        let status = match self.exit_code {
            Some(code) => format!("{program} exited with {code}"),
            None => {
                format!("{program} stopped without an exit status (was its container stopped?)")
            }
        };
        let tail: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
        if tail.is_empty() {
            status
        } else {
            format!("{status}: {tail}")
        }
    }
}

/// Ends a process whose run is abandoned, when ending gymops would not (a sidecar
/// container waiting on the server).
pub type Cancel = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

pub struct Running {
    pub program: String,
    /// Standard output, chunk by chunk; closed at the end of output.
    pub stdout: mpsc::Receiver<Bytes>,
    /// Standard input when asked for; drop it to close the process's input.
    pub stdin: Option<mpsc::Sender<Bytes>>,
    done: JoinHandle<Result<Finished>>,
    cancel: Option<Cancel>,
}

impl Running {
    /// A process with output only, ended by `done`; `cancel` stops it when abandoned.
    pub(super) fn output_only(
        program: &str,
        stdout: mpsc::Receiver<Bytes>,
        done: JoinHandle<Result<Finished>>,
        cancel: Option<Cancel>,
    ) -> Running {
        Running {
            program: program.to_string(),
            stdout,
            stdin: None,
            done,
            cancel,
        }
    }

    /// Give up on the process (Ctrl-C, a stall): stop it where gymops's exit would not.
    pub async fn abandon(mut self) {
        if let Some(cancel) = self.cancel.take() {
            cancel().await;
        }
        self.done.abort();
    }

    /// Read standard output to its end (keeping at most `cap` bytes of it), then wait for
    /// the end: a short answer (`--version`, pgbench's summary) and how the process ended.
    pub async fn output(mut self, cap: usize) -> Result<(Vec<u8>, Finished)> {
        let mut out = Vec::new();
        while let Some(chunk) = self.stdout.recv().await {
            let room = cap.saturating_sub(out.len());
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Ok((out, self.finish().await?))
    }

    /// Wait for the end: the exit code and standard error.
    pub async fn finish(self) -> Result<Finished> {
        drop(self.stdout);
        drop(self.stdin);
        self.done
            .await
            .map_err(|err| anyhow!("{} pump failed: {err}", self.program))?
    }
}

fn keep_tail(buffer: &mut Vec<u8>, bytes: &[u8]) {
    buffer.extend_from_slice(bytes);
    if buffer.len() > STDERR_TAIL {
        let cut = buffer.len() - STDERR_TAIL;
        buffer.drain(..cut);
    }
}

/// Gathers small pieces into chunks of about `size` bytes ([`CHUNK`] by default: a
/// process's output; the S3 uploader takes larger parts).
pub(super) struct Gather {
    pending: BytesMut,
    size: usize,
}

impl Default for Gather {
    fn default() -> Self {
        Gather::new(CHUNK)
    }
}

impl Gather {
    pub(super) fn new(size: usize) -> Self {
        Gather {
            pending: BytesMut::new(),
            size,
        }
    }

    /// Add a piece; a full chunk comes back when there is one.
    pub(super) fn push(&mut self, piece: &[u8]) -> Option<Bytes> {
        if self.pending.is_empty() {
            self.pending.reserve(self.size + piece.len());
        }
        self.pending.extend_from_slice(piece);
        (self.pending.len() >= self.size).then(|| self.take())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// What has gathered so far (empty when nothing has).
    pub(super) fn take(&mut self) -> Bytes {
        self.pending.split().freeze()
    }
}

/// How a [`pump`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pumped {
    /// The output ended (or could not be read further).
    End,
    /// The pipeline stopped taking chunks.
    ReaderGone,
}

/// Read a pipe to its end into chunks on `out`. A pipe holds 64 KiB: reads that fill a
/// chunk come in a few passes, and a chunk goes on when it is full or the writer pauses.
/// `first` hears whether any output came: at its first byte, or at an end without one.
pub(super) async fn pump<R: AsyncRead + Unpin>(
    reader: &mut R,
    out: &mpsc::Sender<Bytes>,
    mut first: Option<tokio::sync::oneshot::Sender<bool>>,
) -> Pumped {
    let mut buffer = BytesMut::with_capacity(CHUNK);
    let outcome = loop {
        // None: the linger passed with output waiting.
        let read = if buffer.is_empty() {
            Some(reader.read_buf(&mut buffer).await)
        } else {
            tokio::time::timeout(LINGER, reader.read_buf(&mut buffer))
                .await
                .ok()
        };
        let (end, send) = match read {
            Some(Ok(0)) | Some(Err(_)) => (true, !buffer.is_empty()),
            Some(Ok(_)) => {
                if let Some(first) = first.take() {
                    let _ = first.send(true);
                }
                (false, buffer.len() >= CHUNK)
            }
            None => (false, true),
        };
        if send {
            let chunk = std::mem::replace(&mut buffer, BytesMut::with_capacity(CHUNK));
            if out.send(chunk.freeze()).await.is_err() {
                break Pumped::ReaderGone;
            }
        }
        if end {
            break Pumped::End;
        }
    };
    if let Some(first) = first {
        let _ = first.send(false);
    }
    outcome
}

/// Write the chunks to a process's input, then close it (EOF); stop when it stops reading.
async fn feed<W: tokio::io::AsyncWrite + Unpin>(mut chunks: mpsc::Receiver<Bytes>, mut input: W) {
    while let Some(chunk) = chunks.recv().await {
        if input.write_all(&chunk).await.is_err() {
            return;
        }
    }
    let _ = input.flush().await;
    let _ = input.shutdown().await;
}

impl Runner {
    /// The environment that gives a tool the PostgreSQL password. Empty when the container's
    /// PostgreSQL trusts its local socket (the official image does): then the password never
    /// goes into the exec request. When it must, over an engine reached by plain TCP on
    /// another host, a warning says the password crosses the network unencrypted.
    pub async fn password_env<'a>(
        &self,
        pg: &crate::settings::PostgresSettings,
        password: Option<&'a Secret>,
    ) -> Vec<(&'static str, &'a Secret)> {
        let Some(password) = password else {
            return Vec::new();
        };
        if let Runner::Container { engine, .. } = self {
            let probe = [
                "--no-password",
                "--no-psqlrc",
                "--username",
                &pg.user,
                "--dbname",
                "postgres",
                "--tuples-only",
                "--command",
                "SELECT 1",
            ]
            .map(str::to_string);
            if let Ok(running) = self.spawn("psql", &probe, &[], false).await {
                if running.finish().await.is_ok_and(|f| f.success()) {
                    tracing::debug!("PostgreSQL trusts its local socket: no password in the exec");
                    return Vec::new();
                }
            }
            if engine.plaintext_remote {
                tracing::warn!(
                    "the PostgreSQL password goes to the container through {}, an unencrypted connection to another host; use TLS (DOCKER_TLS_VERIFY) or ssh",
                    engine.address
                );
            }
        }
        vec![("PGPASSWORD", password)]
    }

    /// libpq's TLS settings for a tool on this host (`--local`): PGSSLMODE and
    /// PGSSLROOTCERT from postgres.sslmode / sslrootcert. In the container the tools use the
    /// local socket, where TLS does not apply.
    pub fn tls_env(&self, pg: &crate::settings::PostgresSettings) -> Vec<(&'static str, Secret)> {
        if !matches!(self, Runner::Local) {
            return Vec::new();
        }
        let mut env = vec![("PGSSLMODE", Secret::new(pg.sslmode.as_str().to_string()))];
        if let Some(root) = &pg.sslrootcert {
            env.push((
                "PGSSLROOTCERT",
                Secret::new(root.to_string_lossy().into_owned()),
            ));
        }
        env
    }

    pub fn describe(&self) -> String {
        match self {
            Runner::Container { container, .. } => format!("in container {container}"),
            Runner::Local => "on this host".into(),
        }
    }

    /// Start `program` with `args`; `env` goes to its environment.
    pub async fn spawn(
        &self,
        program: &str,
        args: &[String],
        env: &[(&str, &Secret)],
        with_stdin: bool,
    ) -> Result<Running> {
        let (out_tx, out_rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let (in_tx, in_rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let name = program.to_string();
        let done = match self {
            Runner::Container {
                engine,
                container,
                bin_dir,
            } => {
                let path = match bin_dir {
                    Some(dir) => format!("{}/{program}", dir.trim_end_matches('/')),
                    None => program.to_string(),
                };
                let mut argv = vec![path];
                argv.extend(args.iter().cloned());
                let env: Vec<String> = env
                    .iter()
                    .map(|(key, value)| format!("{key}={}", value.expose()))
                    .collect();
                let attached = engine
                    .exec_attached(container, &argv, env, with_stdin)
                    .await?;
                let engine = engine.clone();
                let id = attached.id.clone();
                let mut output = attached.output;
                let input = attached.input;
                tokio::spawn(async move {
                    let feeder = input.map(|input| tokio::spawn(feed(in_rx, input)));
                    let mut stderr = Vec::new();
                    let mut reader_gone = false;
                    let mut gather = Gather::default();
                    let linger = tokio::time::sleep(LINGER);
                    tokio::pin!(linger);
                    loop {
                        let item = tokio::select! {
                            biased;
                            item = output.next() => item,
                            _ = &mut linger, if !gather.is_empty() => {
                                if out_tx.send(gather.take()).await.is_err() {
                                    reader_gone = true;
                                    break;
                                }
                                continue;
                            }
                        };
                        let Some(item) = item else {
                            break;
                        };
                        match item {
                            Ok(LogOutput::StdOut { message })
                            | Ok(LogOutput::Console { message }) => {
                                if gather.is_empty() {
                                    linger.as_mut().reset(tokio::time::Instant::now() + LINGER);
                                }
                                if let Some(chunk) = gather.push(&message) {
                                    if out_tx.send(chunk).await.is_err() {
                                        // The pipeline stopped reading: stop the process by
                                        // closing the attachment (EPIPE on its next write).
                                        reader_gone = true;
                                        break;
                                    }
                                }
                            }
                            Ok(LogOutput::StdErr { message }) => keep_tail(&mut stderr, &message),
                            Ok(LogOutput::StdIn { .. }) => {}
                            Err(err) => {
                                keep_tail(
                                    &mut stderr,
                                    format!("\n(engine stream: {err})").as_bytes(),
                                );
                                break;
                            }
                        }
                    }
                    if !reader_gone && !gather.is_empty() {
                        let _ = out_tx.send(gather.take()).await;
                    }
                    drop(output);
                    drop(out_tx);
                    if let Some(feeder) = feeder {
                        feeder.abort();
                    }
                    // The exit code is known shortly after the stream ends.
                    let mut exit_code = None;
                    for _ in 0..50 {
                        match engine.exec_exit_code(&id).await {
                            Ok(Some(code)) => {
                                exit_code = Some(code);
                                break;
                            }
                            Ok(None) if !reader_gone => {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await
                            }
                            _ => break,
                        }
                    }
                    Ok(Finished {
                        exit_code,
                        stderr: String::from_utf8_lossy(&stderr).into_owned(),
                    })
                })
            }
            Runner::Local => {
                let mut command = tokio::process::Command::new(program);
                command
                    .args(args)
                    .stdin(if with_stdin {
                        std::process::Stdio::piped()
                    } else {
                        std::process::Stdio::null()
                    })
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true);
                for (key, value) in env {
                    command.env(key, value.expose());
                }
                let mut child = command
                    .spawn()
                    .with_context(|| format!("cannot run {program} on this host"))
                    .map_err(|err| {
                        err.context(crate::error::Hint(
                            "install the PostgreSQL client tools (Debian: apt-get install postgresql-client) or leave out --local".to_string(),
                        ))
                    })?;
                let mut stdout = child.stdout.take().context("no stdout")?;
                let mut stderr_pipe = child.stderr.take().context("no stderr")?;
                let stdin = child.stdin.take();
                tokio::spawn(async move {
                    let feeder = stdin.map(|stdin| tokio::spawn(feed(in_rx, stdin)));
                    let stderr_task = tokio::spawn(async move {
                        let mut tail = Vec::new();
                        let mut buffer = vec![0u8; 8192];
                        while let Ok(n) = stderr_pipe.read(&mut buffer).await {
                            if n == 0 {
                                break;
                            }
                            keep_tail(&mut tail, &buffer[..n]);
                        }
                        tail
                    });
                    if pump(&mut stdout, &out_tx, None).await == Pumped::ReaderGone {
                        let _ = child.start_kill();
                    }
                    drop(out_tx);
                    if let Some(feeder) = feeder {
                        let _ = feeder.await;
                    }
                    let status = child.wait().await.context("cannot wait for the process")?;
                    let stderr = stderr_task.await.unwrap_or_default();
                    Ok(Finished {
                        exit_code: status.code().map(i64::from),
                        stderr: String::from_utf8_lossy(&stderr).into_owned(),
                    })
                })
            }
        };
        Ok(Running {
            program: name,
            stdout: out_rx,
            stdin: with_stdin.then_some(in_tx),
            done,
            cancel: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_pieces_gather_into_chunks_and_nothing_is_lost() {
        let mut gather = Gather::default();
        let mut out = Vec::new();
        let mut chunks = 0;
        for i in 0..1000u32 {
            let piece = vec![(i % 251) as u8; 4096 + (i as usize % 7)];
            if let Some(chunk) = gather.push(&piece) {
                assert!(chunk.len() >= CHUNK);
                assert!(chunk.len() < CHUNK + 4096 + 7);
                out.extend_from_slice(&chunk);
                chunks += 1;
            }
        }
        assert!(!gather.is_empty());
        out.extend_from_slice(&gather.take());
        assert!(gather.is_empty());
        let expected: Vec<u8> = (0..1000u32)
            .flat_map(|i| vec![(i % 251) as u8; 4096 + (i as usize % 7)])
            .collect();
        assert_eq!(out, expected);
        assert_eq!(chunks, expected.len() / CHUNK);
    }
}
