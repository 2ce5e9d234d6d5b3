//! What one run talks to, set up once and shared: the Docker engine (connected on first
//! use) and the HTTP client. The command context owns one; probes, notifiers, S3, the
//! metrics exporter and incident evidence borrow it instead of connecting on their own.

use std::sync::{Arc, OnceLock};

use anyhow::Result;

use crate::docker::Engine;
use crate::netutil::Http;
use crate::settings::DockerSettings;

/// Cloning shares them (the metrics exporter's collector task holds a clone).
#[derive(Clone)]
pub struct Clients(Arc<Shared>);

struct Shared {
    docker: DockerSettings,
    engine: tokio::sync::OnceCell<Engine>,
    http: OnceLock<Http>,
}

impl Clients {
    pub fn new(docker: &DockerSettings) -> Clients {
        Clients(Arc::new(Shared {
            docker: docker.clone(),
            engine: tokio::sync::OnceCell::new(),
            http: OnceLock::new(),
        }))
    }

    /// Another engine (a site's) over the same HTTP client: the client (its TLS roots read
    /// once, its connection pool) is not per engine.
    pub fn for_engine(&self, docker: &DockerSettings) -> Clients {
        let http = OnceLock::new();
        if let Some(shared) = self.0.http.get() {
            let _ = http.set(shared.clone());
        }
        Clients(Arc::new(Shared {
            docker: docker.clone(),
            engine: tokio::sync::OnceCell::new(),
            http,
        }))
    }

    /// The engine, connected on first use and shared by the rest of the run. A failed
    /// connection is not kept: the next use tries again (the exporter outlives a restart
    /// of dockerd).
    pub async fn engine(&self) -> Result<&Engine> {
        self.0
            .engine
            .get_or_try_init(|| Engine::connect(&self.0.docker))
            .await
    }

    /// The run's HTTP client, built on first use.
    pub fn http(&self) -> Result<&Http> {
        if let Some(http) = self.0.http.get() {
            return Ok(http);
        }
        let built = Http::new()?;
        Ok(self.0.http.get_or_init(|| built))
    }
}
