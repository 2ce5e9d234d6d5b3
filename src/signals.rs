//! The signals that end a long-running command: Ctrl-C (SIGINT) and SIGTERM (systemd,
//! `docker stop`, a CI runner's cancel). One place, so every command stops the same way.

/// Resolves when the process is told to stop; says which signal it was.
pub async fn terminated() -> &'static str {
    listen().await
}

/// Like [`terminated`], listening from this call on (not from the first poll): a signal
/// that comes before the caller waits for it is not lost, nor does it end gymops at once.
pub fn listen() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt());
        let term = signal(SignalKind::terminate());
        async move {
            match (interrupt, term) {
                (Ok(mut interrupt), Ok(mut term)) => tokio::select! {
                    _ = interrupt.recv() => "Ctrl-C",
                    _ = term.recv() => "SIGTERM",
                },
                (Ok(mut interrupt), Err(_)) => {
                    interrupt.recv().await;
                    "Ctrl-C"
                }
                (Err(_), _) => {
                    let _ = tokio::signal::ctrl_c().await;
                    "Ctrl-C"
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}
