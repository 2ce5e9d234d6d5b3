//! The signals that end a long-running command: Ctrl-C (SIGINT) and SIGTERM (systemd,
//! `docker stop`, a CI runner's cancel). One place, so every command stops the same way.

/// Resolves when the process is told to stop; says which signal it was.
pub async fn terminated() -> &'static str {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return "Ctrl-C";
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "Ctrl-C",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
