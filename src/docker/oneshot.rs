//! A container run to its end: created, started, waited for under a deadline, its exit
//! code and last log lines read, removed — whatever happens (a helper that does one job
//! on a volume, like refilling PostgreSQL's data directory).

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

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
