//! Streaming exec: a process in a container with its output as a stream and, when asked,
//! its standard input as a writer (pg_dump out of the PostgreSQL container, psql into it).

use std::pin::Pin;

use anyhow::{Context, Result};
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::Stream;
use tokio::io::AsyncWrite;

use super::Engine;

pub type OutputStream =
    Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;
pub type InputWriter = Pin<Box<dyn AsyncWrite + Send>>;

pub struct Attached {
    pub id: String,
    pub output: OutputStream,
    pub input: Option<InputWriter>,
}

impl Engine {
    /// Start `argv` (no shell) in `container`, attached. `env` entries are `NAME=value`; they
    /// reach the process's environment, never its command line.
    pub async fn exec_attached(
        &self,
        container: &str,
        argv: &[String],
        env: Vec<String>,
        stdin: bool,
    ) -> Result<Attached> {
        let config = ExecConfig {
            cmd: Some(argv.to_vec()),
            env: (!env.is_empty()).then_some(env),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            attach_stdin: Some(stdin),
            ..ExecConfig::default()
        };
        let created = self
            .docker
            .create_exec(container, config)
            .await
            .with_context(|| format!("cannot start {} in {container}", argv[0]))?;
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty: false,
                    output_capacity: None,
                }),
            )
            .await
            .with_context(|| format!("cannot start {} in {container}", argv[0]))?;
        match started {
            StartExecResults::Attached { output, input } => Ok(Attached {
                id: created.id,
                output,
                input: stdin.then_some(input),
            }),
            StartExecResults::Detached => {
                Err(anyhow::anyhow!("the engine started {} detached", argv[0]))
            }
        }
    }

    /// The exit code of a finished exec; None while it runs or when the engine lost it.
    pub async fn exec_exit_code(&self, id: &str) -> Result<Option<i64>> {
        let inspected = self
            .docker
            .inspect_exec(id)
            .await
            .context("cannot read the exit status")?;
        if inspected.running == Some(true) {
            return Ok(None);
        }
        Ok(inspected.exit_code)
    }
}
