//! Every network call has a deadline: one helper runs work under it and turns a timeout into
//! an error that names the deadline (`no answer within 5s`).

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, Result};

/// Run `work` under `deadline`; a timeout is the error `<silence> within <deadline>`.
pub async fn bounded<T>(
    deadline: Duration,
    silence: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!(
            "{silence} within {}",
            humantime::format_duration(deadline)
        )),
    }
}

/// Run `work` under `deadline`, its own result untouched; a timeout is the error
/// `<what> within <deadline>` (`what` is only built then).
pub async fn limit<T>(
    deadline: Duration,
    what: impl FnOnce() -> String,
    work: impl Future<Output = T>,
) -> Result<T> {
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => Ok(result),
        Err(_) => Err(anyhow!(
            "{} within {}",
            what(),
            humantime::format_duration(deadline)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timeout_names_the_deadline_and_results_pass_through() {
        let slow = bounded(Duration::from_millis(20), "no answer", async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(1)
        })
        .await;
        assert_eq!(slow.unwrap_err().to_string(), "no answer within 20ms");
        let quick = bounded(Duration::from_secs(5), "no answer", async { Ok(2) }).await;
        assert_eq!(quick.unwrap(), 2);
        let late = limit(
            Duration::from_millis(20),
            || "no answer from the engine".into(),
            tokio::time::sleep(Duration::from_secs(5)),
        )
        .await;
        assert_eq!(
            late.unwrap_err().to_string(),
            "no answer from the engine within 20ms"
        );
        let inner: Result<Result<u8, &str>> = limit(Duration::from_secs(5), String::new, async {
            Err("own error")
        })
        .await;
        assert_eq!(
            inner.unwrap(),
            Err("own error"),
            "the work's own result passes through"
        );
        let failed: Result<()> = bounded(Duration::from_secs(5), "no answer", async {
            Err(anyhow!("refused"))
        })
        .await;
        assert_eq!(failed.unwrap_err().to_string(), "refused");
    }
}
