//! Plain Engine API GETs, for endpoints whose answer changed shape between API versions
//! (bollard models the newest one): the JSON comes back untyped and is read by both shapes.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::Engine;
use crate::error::HintExt;
use crate::settings::DockerSettings;

impl Engine {
    /// GET `/v{api}{path}` as JSON, over the same address (unix socket, tcp, tcp+TLS).
    pub async fn get_json(
        &self,
        settings: &DockerSettings,
        path: &str,
    ) -> Result<serde_json::Value> {
        let versioned = format!("/v{}{path}", self.api_version);
        let bytes = crate::deadline::limit(
            self.timeout.max(Duration::from_secs(30)),
            || format!("Docker did not answer {path}"),
            fetch(&self.address, settings, &versioned, self.ssh_raw.as_ref()),
        )
        .await??;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("Docker's answer to {path} is not JSON"))
    }
}

/// The raw GETs' client over an engine's ssh connector.
pub(super) type SshClient = Client<super::ssh::SshConnector, Full<Bytes>>;

pub(super) fn ssh_client(connector: super::ssh::SshConnector) -> SshClient {
    Client::builder(TokioExecutor::new()).build(connector)
}

async fn fetch(
    address: &str,
    settings: &DockerSettings,
    path: &str,
    ssh: Option<&SshClient>,
) -> Result<Bytes> {
    // The local socket and ssh speak plain HTTP over their own connectors; tcp below.
    let sent = match (address.strip_prefix("unix://"), ssh) {
        #[cfg(unix)]
        (Some(socket), _) => {
            let client: Client<hyperlocal::UnixConnector, Full<Bytes>> =
                Client::builder(TokioExecutor::new()).build(hyperlocal::UnixConnector);
            Some(client.get(hyperlocal::Uri::new(socket, path).into()).await)
        }
        #[cfg(not(unix))]
        (Some(socket), _) => {
            return Err(anyhow!(
                "a Unix socket ({socket}) cannot be used on Windows"
            ));
        }
        (None, Some(client)) => Some(client.get(format!("ssh://engine{path}").parse()?).await),
        (None, None) => None,
    };
    if let Some(sent) = sent {
        let response = sent.with_context(|| format!("cannot GET {path} from {address}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("cannot read Docker's answer")?
            .to_bytes();
        if !status.is_success() {
            return Err(anyhow!(
                "Docker answered {status} to {path}: {}",
                String::from_utf8_lossy(&body).trim()
            ));
        }
        return Ok(body);
    }
    if address.starts_with("npipe://") {
        return Err(anyhow!(
            "GET {path} is not sent over the named pipe {address}: this part of gymops reads the engine over a Unix socket, tcp or ssh"
        ))
        .hint("point DOCKER_HOST at Docker Desktop's tcp endpoint (Settings > General > Expose daemon on tcp://localhost:2375) for it");
    }
    let tls = settings.tls_verify || address.starts_with("https://");
    let host = address
        .trim_start_matches("tcp://")
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let url = format!("{}://{host}{path}", if tls { "https" } else { "http" });
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if tls {
        let certs = settings.cert_path.clone().unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_default()
                .join(".docker")
        });
        let read = |name: &str| {
            std::fs::read(certs.join(name))
                .with_context(|| format!("cannot read {}", certs.join(name).display()))
        };
        let mut identity = read("cert.pem")?;
        identity.extend_from_slice(&read("key.pem")?);
        builder = builder
            .add_root_certificate(
                reqwest::Certificate::from_pem(&read("ca.pem")?)
                    .context("ca.pem is not a PEM certificate")?,
            )
            .identity(
                reqwest::Identity::from_pem(&identity)
                    .context("cert.pem / key.pem are not a PEM certificate and key")?,
            );
    }
    let response = builder
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot GET {path} from {address}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .context("cannot read Docker's answer")?;
    if !status.is_success() {
        return Err(anyhow!(
            "Docker answered {status} to {path}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    Ok(body)
}
