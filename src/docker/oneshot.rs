//! A container run to its end: created, started, waited for under a deadline, its exit
//! code and last log lines read, removed — whatever happens (a helper that does one job
//! on a volume, like refilling PostgreSQL's data directory).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use super::labels::Creation;
use super::Engine;

/// How a one-shot container ended.
#[derive(Debug, Clone)]
pub struct Ended {
    pub exit_code: i64,
    /// Its last log lines (stdout and stderr), for an error.
    pub tail: Vec<String>,
}

impl Engine {
    /// Run `creation` to its end within `limit`; the container is removed afterwards, also
    /// when it overran (then it is killed and this is an error).
    pub async fn run_to_end(&self, creation: &Creation, limit: Duration) -> Result<Ended> {
        let _ = self.remove(&creation.name).await;
        self.create(creation).await?;
        let outcome = self.wait_for_end(&creation.name, limit).await;
        let _ = self.remove(&creation.name).await;
        outcome
    }

    /// Wait for a started container to end (however long it runs); its exit code.
    pub async fn wait_exit(&self, name: &str) -> Result<i64> {
        use futures_util::StreamExt;
        // The client's own timeout must outlast the container.
        let docker = self
            .docker
            .clone()
            .with_timeout(Duration::from_secs(30 * 24 * 3600));
        let mut answers = docker.wait_container(
            name,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        match answers.next().await {
            Some(Ok(answer)) => Ok(answer.status_code),
            // bollard makes an error of a non-zero exit code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(err)) => {
                Err(err).with_context(|| format!("cannot wait for container {name} to end"))
            }
            None => Err(anyhow!("the engine did not say how container {name} ended")),
        }
    }

    /// Remove the containers with all of `labels` that are not running (what a killed
    /// gymops left of its one-shot containers).
    pub async fn remove_ended(&self, labels: &[(&str, &str)]) -> Result<usize> {
        let mut removed = 0;
        for container in self.containers().await? {
            let reference = &container.reference;
            let matches = labels
                .iter()
                .all(|(key, value)| reference.labels.get(*key).map(String::as_str) == Some(*value));
            if matches && !reference.running {
                self.remove(&reference.id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The name of the engine's host (`docker info`'s Name), or None when unknown.
    pub async fn host_name(&self) -> Option<String> {
        let info = super::within(self.timeout, self.docker.info()).await.ok()?;
        info.name.filter(|n| !n.is_empty())
    }

    async fn wait_for_end(&self, name: &str, limit: Duration) -> Result<Ended> {
        self.start(name).await?;
        let deadline = Instant::now() + limit;
        loop {
            let state = self.inspect(name).await?.state.unwrap_or_default();
            if !state.running.unwrap_or(false) {
                return Ok(Ended {
                    exit_code: state.exit_code.unwrap_or(-1),
                    tail: self.log_tail(name, 20).await,
                });
            }
            if Instant::now() >= deadline {
                return Err(anyhow!(
                    "container {name} did not finish within {}",
                    humantime::format_duration(limit)
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
