//! Container logs and exec through the Engine API: stdout and stderr demultiplexed, split
//! into lines with Docker's own timestamp on each.

use std::time::Duration;

use anyhow::{Context, Result};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use serde::Serialize;

use super::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    Stdout,
    Stderr,
}

/// One line of a container's log.
#[derive(Debug, Clone)]
pub struct RawLine {
    pub stream: StreamKind,
    /// Docker's RFC 3339 timestamp of the line, with nanoseconds.
    pub time: Option<String>,
    /// The same as nanoseconds since the epoch, for ordering and de-duplication.
    pub nanos: Option<i64>,
    pub text: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub follow: bool,
    /// Unix seconds; 0 for none.
    pub since: i64,
    pub until: i64,
    /// Last N lines; None for all.
    pub tail: Option<u64>,
}

/// Splits a chunked stream into lines, one buffer per stream.
#[derive(Default)]
struct LineSplitter {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, stream: StreamKind, bytes: &[u8], each: &mut impl FnMut(RawLine)) {
        let buffer = match stream {
            StreamKind::Stdout => &mut self.stdout,
            StreamKind::Stderr => &mut self.stderr,
        };
        buffer.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(newline) = memchr::memchr(b'\n', &buffer[start..]) {
            each(raw_line(stream, &buffer[start..start + newline]));
            start += newline + 1;
        }
        buffer.drain(..start);
    }

    fn finish(&mut self, each: &mut impl FnMut(RawLine)) {
        for (stream, buffer) in [
            (StreamKind::Stdout, &mut self.stdout),
            (StreamKind::Stderr, &mut self.stderr),
        ] {
            if !buffer.is_empty() {
                each(raw_line(stream, buffer));
                buffer.clear();
            }
        }
    }
}

/// Take Docker's timestamp off the front of a line.
fn raw_line(stream: StreamKind, line: &[u8]) -> RawLine {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(space) = memchr::memchr(b' ', line) {
        if let Ok(text) = std::str::from_utf8(&line[..space]) {
            if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
                return RawLine {
                    stream,
                    time: Some(text.to_string()),
                    nanos: time.timestamp_nanos_opt(),
                    text: line[space + 1..].to_vec(),
                };
            }
        }
    }
    RawLine {
        stream,
        time: None,
        nanos: None,
        text: line.to_vec(),
    }
}

/// The engine's log options for a request: both streams, with timestamps.
fn log_options(request: &LogRequest) -> bollard::query_parameters::LogsOptions {
    let mut options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .follow(request.follow)
        .tail(
            &request
                .tail
                .map(|n| n.to_string())
                .unwrap_or_else(|| "all".into()),
        );
    if request.since > 0 {
        options = options.since(request.since as i32);
    }
    if request.until > 0 {
        options = options.until(request.until as i32);
    }
    options.build()
}

impl Engine {
    /// Read a container's log and call `each` per line, until the log ends (or, following,
    /// until the container stops). Without `follow`, a pause of the engine longer than the
    /// Docker timeout is an error rather than a hang.
    pub async fn log_lines(
        &self,
        container: &str,
        request: &LogRequest,
        each: impl FnMut(RawLine),
    ) -> Result<()> {
        let stream = self.docker.logs(container, Some(log_options(request)));
        self.read_log(container, request.follow, stream, each).await
    }

    /// The last `lines` lines of a container's log, for a failure report (nothing when the
    /// engine cannot say).
    pub async fn log_tail(&self, container: &str, lines: u64) -> Vec<String> {
        let mut tail = Vec::new();
        let request = LogRequest {
            tail: Some(lines),
            ..LogRequest::default()
        };
        let _ = self
            .log_lines(container, &request, |line| {
                tail.push(String::from_utf8_lossy(&line.text).into_owned())
            })
            .await;
        tail
    }

    /// A Swarm service's log, every task's lines (the engine merges them), as
    /// [`Engine::log_lines`] reads a container's.
    pub async fn service_log_lines(
        &self,
        service: &str,
        request: &LogRequest,
        each: impl FnMut(RawLine),
    ) -> Result<()> {
        let stream = self
            .docker
            .service_logs(service, Some(log_options(request)));
        self.read_log(service, request.follow, stream, each).await
    }

    async fn read_log(
        &self,
        what: &str,
        follow: bool,
        stream: impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>>,
        mut each: impl FnMut(RawLine),
    ) -> Result<()> {
        let mut stream = std::pin::pin!(stream);
        let mut splitter = LineSplitter::default();
        loop {
            let next = if follow {
                stream.next().await
            } else {
                crate::deadline::limit(
                    self.timeout.max(Duration::from_secs(10)),
                    || format!("the engine stopped sending the log of {what}: nothing"),
                    stream.next(),
                )
                .await?
            };
            match next {
                None => break,
                Some(Ok(output)) => match output {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        splitter.push(StreamKind::Stdout, &message, &mut each)
                    }
                    LogOutput::StdErr { message } => {
                        splitter.push(StreamKind::Stderr, &message, &mut each)
                    }
                    LogOutput::StdIn { .. } => {}
                },
                Some(Err(err)) => {
                    return Err(err).with_context(|| format!("cannot read the log of {what}"))
                }
            }
        }
        splitter.finish(&mut each);
        Ok(())
    }

    /// Run `argv` in a container (no shell), collecting at most `limit` bytes of each stream.
    pub async fn exec(
        &self,
        container: &str,
        argv: &[String],
        limit: usize,
        timeout: Duration,
    ) -> Result<ExecOutput> {
        let run = async {
            let attached = self
                .exec_attached(container, argv, Vec::new(), false)
                .await?;
            let mut output = attached.output;
            let mut out = ExecOutput::default();
            while let Some(chunk) = output.next().await {
                let (target, bytes) = match chunk? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (&mut out.stdout, message)
                    }
                    LogOutput::StdErr { message } => (&mut out.stderr, message),
                    LogOutput::StdIn { .. } => continue,
                };
                let room = limit.saturating_sub(target.len());
                target.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            let inspected = self.docker.inspect_exec(&attached.id).await?;
            out.exit_code = inspected.exit_code.unwrap_or(-1);
            Ok::<_, anyhow::Error>(out)
        };
        crate::deadline::limit(
            timeout,
            || format!("{} in {container} did not finish", argv.join(" ")),
            run,
        )
        .await?
        .with_context(|| format!("cannot run {} in {container}", argv.join(" ")))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_become_lines_per_stream_with_docker_timestamps() {
        let mut lines = Vec::new();
        let mut splitter = LineSplitter::default();
        let mut each = |line: RawLine| lines.push(line);
        splitter.push(
            StreamKind::Stdout,
            b"2024-01-15T10:30:45.123456789Z hel",
            &mut each,
        );
        splitter.push(
            StreamKind::Stderr,
            b"2024-01-15T10:30:46.000000001Z oops\n",
            &mut each,
        );
        splitter.push(
            StreamKind::Stdout,
            b"lo\r\n2024-01-15T10:30:47Z tail-without-newline",
            &mut each,
        );
        splitter.finish(&mut each);
        let texts: Vec<(StreamKind, String)> = lines
            .iter()
            .map(|l| (l.stream, String::from_utf8_lossy(&l.text).into_owned()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (StreamKind::Stderr, "oops".into()),
                (StreamKind::Stdout, "hello".into()),
                (StreamKind::Stdout, "tail-without-newline".into()),
            ]
        );
        assert_eq!(lines[1].nanos, Some(1_705_314_645_123_456_789));
        assert_eq!(
            lines[1].time.as_deref(),
            Some("2024-01-15T10:30:45.123456789Z")
        );
    }

    #[test]
    fn a_line_without_a_docker_timestamp_is_kept_whole() {
        let line = raw_line(StreamKind::Stdout, b"no timestamp here");
        assert_eq!(
            (line.time, line.text),
            (None, b"no timestamp here".to_vec())
        );
    }
}
