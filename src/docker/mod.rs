//! The Docker Engine API (bollard): connecting with version negotiation, and the state of
//! the deployment's service containers.

pub mod archive;
pub mod cgroup;
pub mod df;
pub mod exec;
pub mod labels;
pub mod lifecycle;
pub mod logs;
pub mod oneshot;
pub mod overview;
pub mod procs;
pub mod prune;
pub mod raw;
pub mod resolve;
pub mod sampling;
pub mod ssh;
pub mod stack;
pub mod stats;
pub mod swarm;
pub mod usage;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bollard::models::{ContainerInspectResponse, PortSummary};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::{Docker, API_DEFAULT_VERSION};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::HintExt;
use crate::say;
use crate::settings::{DockerSettings, Settings};
use futures_util::{StreamExt, TryStreamExt};
use resolve::{ContainerRef, Resolution};

/// The engine's default address: the local socket, or Docker Desktop's named pipe on Windows.
#[cfg(not(windows))]
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";
#[cfg(windows)]
pub const DEFAULT_DOCKER_HOST: &str = "npipe:////./pipe/docker_engine";

/// Container inspects in flight at once for one listing (health, ps): enough to hide the
/// round trips to a remote engine, few enough not to flood it. Over ssh one at a time: each
/// connection more would be another ssh process and handshake, dearer than a round trip.
const INSPECT_CONCURRENCY: usize = 8;

/// A connected engine whose API version has been negotiated (cloning shares the connection
/// pool).
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    pub address: String,
    /// Reached over plain TCP on another host: what goes in a request crosses the network
    /// unencrypted.
    pub plaintext_remote: bool,
    pub server_version: String,
    pub api_version: String,
    timeout: Duration,
    /// Over ssh: a client for the raw API GETs on the same ssh connector, so that they share
    /// their connections (each one an ssh process) instead of dialing anew per call.
    ssh_raw: Option<raw::SshClient>,
}

/// The engine address gymops will use.
pub fn address(settings: &DockerSettings) -> String {
    settings
        .host
        .clone()
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_string())
}

fn unreachable_hint(address: &str) -> String {
    if cfg!(windows) {
        say!(
            "is the Docker engine running and reachable at {address}? Start Docker Desktop, \
             or point DOCKER_HOST / docker.host at it"
        )
    } else {
        say!(
            "is the Docker engine running and reachable at {address}? Start it \
             (`systemctl start docker`), or point DOCKER_HOST / docker.host at it"
        )
    }
}

impl Engine {
    /// Connect and negotiate the API version (engines as old as API 1.41 / Docker 20.10 work).
    pub async fn connect(settings: &DockerSettings) -> Result<Engine> {
        let address = address(settings);
        if ![
            "unix://", "npipe://", "tcp://", "http://", "https://", "ssh://",
        ]
        .iter()
        .any(|scheme| address.starts_with(scheme))
        {
            return Err(anyhow!("unsupported Docker address `{address}`")).hint(
                "use unix:///var/run/docker.sock (npipe:////./pipe/docker_engine on Windows), tcp://HOST:PORT (DOCKER_TLS_VERIFY=1 for TLS), https://HOST:PORT or ssh://USER@HOST in DOCKER_HOST or docker.host, or a Docker context (--context)",
            );
        }
        let seconds = settings.timeout.as_secs().max(1);
        let (docker, ssh) = open(&address, settings, seconds)
            .with_context(|| format!("cannot reach Docker at {address}"))
            .hint(unreachable_hint(&address))?;
        let timeout = settings.timeout;
        // Over ssh a failed connection is ssh's failure: its own words (and hint) say why.
        let failed = |err: anyhow::Error, what: String| async {
            if let Some(connector) = &ssh {
                if let Some(failure) = connector.failure(Duration::from_secs(2)).await {
                    return failure.context(what);
                }
            }
            err.context(what)
                .context(crate::error::Hint(unreachable_hint(&address)))
        };
        let docker = match within(timeout, docker.negotiate_version()).await {
            Ok(docker) => docker,
            Err(err) => return Err(failed(err, format!("cannot reach Docker at {address}")).await),
        };
        let version = match within(timeout, docker.version()).await {
            Ok(version) => version,
            Err(err) => {
                let what = format!("cannot read the version of Docker at {address}");
                return Err(failed(err, what).await);
            }
        };
        tracing::debug!(%address, version = ?version.version, api = ?version.api_version, "connected to Docker");
        let plaintext = (address.starts_with("tcp://") || address.starts_with("http://"))
            && !settings.tls_verify;
        let host = url::Url::parse(&address.replacen("tcp://", "http://", 1))
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
            .unwrap_or_default();
        Ok(Engine {
            docker,
            plaintext_remote: plaintext && !crate::netutil::is_loopback_host(&host),
            address,
            server_version: version.version.unwrap_or_else(|| "unknown".into()),
            api_version: version.api_version.unwrap_or_else(|| "unknown".into()),
            timeout,
            ssh_raw: ssh.map(raw::ssh_client),
        })
    }

    /// One `/_ping` round trip: how long the daemon takes to answer now.
    pub async fn ping(&self) -> Result<Duration> {
        let started = std::time::Instant::now();
        within(self.timeout, self.docker.ping())
            .await
            .with_context(|| format!("Docker at {} does not answer", self.address))
            .hint(unreachable_hint(&self.address))?;
        Ok(started.elapsed())
    }

    /// Every container on the engine (running or not).
    pub async fn containers(&self) -> Result<Vec<ContainerSummaryFacts>> {
        let options = ListContainersOptionsBuilder::default().all(true).build();
        let list = within(self.timeout, self.docker.list_containers(Some(options)))
            .await
            .context("cannot list containers")?;
        Ok(list
            .into_iter()
            .map(|c| ContainerSummaryFacts {
                reference: ContainerRef {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    labels: c.labels.unwrap_or_default(),
                    running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
                },
                image: c.image.unwrap_or_default(),
                ports: format_ports(c.ports.as_deref().unwrap_or_default()),
            })
            .collect())
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse> {
        within(self.timeout, self.docker.inspect_container(id, None))
            .await
            .with_context(|| format!("cannot inspect container {id}"))
    }

    /// The state of every service in settings, resolved to its container.
    pub async fn service_states(
        &self,
        settings: &Settings,
        only: &[String],
    ) -> Result<Vec<ServiceState>> {
        let containers = self.containers().await?;
        let refs: Vec<ContainerRef> = containers.iter().map(|c| c.reference.clone()).collect();
        // Resolved first, inspected together: against a remote engine (ssh://, tcp://, a
        // fleet's sites) each inspect is a round trip, and one after the other they add up.
        let mut found_by_service = Vec::new();
        for (service, service_settings) in &settings.services {
            if !only.is_empty() && !only.contains(service) {
                continue;
            }
            let explicit = service_settings.container.as_deref();
            let found = resolve::resolve_all(&settings.project, service, explicit, &refs);
            found_by_service.push((service, explicit, found));
        }
        let inspects: Vec<_> = found_by_service
            .iter()
            .flat_map(|(_, _, found)| found.iter())
            .map(|(reference, _, _)| self.inspect(&reference.id))
            .collect();
        let mut inspected = futures_util::stream::iter(inspects)
            .buffered(if self.ssh_raw.is_some() {
                1
            } else {
                INSPECT_CONCURRENCY
            })
            .try_collect::<Vec<_>>()
            .await?
            .into_iter();
        let mut states = Vec::new();
        for (service, explicit, found) in found_by_service {
            if found.is_empty() {
                states.push(ServiceState {
                    service: service.clone(),
                    looked_for: resolve::candidate_names(&settings.project, service, explicit),
                    resolution: None,
                    replica: None,
                    container: None,
                });
            }
            let replicas = found.len();
            for (reference, resolution, number) in found {
                let summary = containers
                    .iter()
                    .find(|c| c.reference.id == reference.id)
                    .expect("resolved from this list");
                let inspect = inspected
                    .next()
                    .expect("one inspect per resolved container");
                states.push(ServiceState {
                    service: service.clone(),
                    looked_for: Vec::new(),
                    resolution: Some(resolution),
                    replica: (replicas > 1).then_some(number),
                    container: Some(ContainerFacts::from_inspect(&inspect, summary)),
                });
            }
        }
        Ok(states)
    }
}

fn open(
    address: &str,
    settings: &DockerSettings,
    seconds: u64,
) -> Result<(Docker, Option<ssh::SshConnector>)> {
    if address.starts_with("ssh://") {
        let connector = ssh_connector(address, settings)?;
        let docker = over_connector(connector.clone(), "ssh://engine".into(), seconds)?;
        return Ok((docker, Some(connector)));
    }
    let docker = if let Some(path) = address.strip_prefix("unix://") {
        #[cfg(unix)]
        {
            Docker::connect_with_unix(path, seconds, API_DEFAULT_VERSION)?
        }
        #[cfg(not(unix))]
        {
            return Err(anyhow!("a Unix socket ({path}) cannot be used on Windows"))
                .hint("use Docker Desktop's named pipe (npipe:////./pipe/docker_engine, the default there), tcp:// or ssh://");
        }
    } else if address.starts_with("npipe://") {
        #[cfg(windows)]
        {
            Docker::connect_with_named_pipe(address, seconds, API_DEFAULT_VERSION)?
        }
        #[cfg(not(windows))]
        {
            return Err(anyhow!("a named pipe ({address}) exists on Windows only"))
                .hint("use unix:///var/run/docker.sock, tcp:// or ssh:// here");
        }
    } else if address.starts_with("tcp://")
        || address.starts_with("http://")
        || address.starts_with("https://")
    {
        if settings.tls_verify || address.starts_with("https://") {
            let certs = settings.cert_path.clone().unwrap_or_else(default_cert_path);
            Docker::connect_with_ssl(
                address,
                &certs.join("key.pem"),
                &certs.join("cert.pem"),
                &certs.join("ca.pem"),
                seconds,
                API_DEFAULT_VERSION,
            )
            .with_context(|| {
                format!(
                    "cannot set up TLS with the certificates in {}",
                    certs.display()
                )
            })?
        } else {
            pooled_http(address, seconds)?
        }
    } else {
        return Err(anyhow!("unsupported Docker address `{address}`")).hint(
            "use unix:///path/to/docker.sock, tcp://HOST:PORT, https://HOST:PORT or ssh://USER@HOST",
        );
    };
    Ok((docker, None))
}

/// A plain-HTTP engine (`tcp://`, `http://`) whose connections are kept between calls.
/// bollard's own HTTP client keeps none (`pool_max_idle_per_host(0)`): every call would
/// open a TCP connection again, a round trip more for each call to a remote site (a fleet
/// run's engines, a health run's several inspects).
fn pooled_http(address: &str, seconds: u64) -> Result<Docker> {
    let base = format!(
        "http://{}",
        address
            .trim_start_matches("tcp://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
    );
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    over_connector(connector, base, seconds)
}

/// bollard over a hyper client of gymops' own on `connector`, its connections kept between
/// calls (30 s idle: shorter than any engine's or proxy's idle limit, so that a kept
/// connection is not found closed under a request).
fn over_connector<C>(connector: C, base: String, seconds: u64) -> Result<Docker>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let client = std::sync::Arc::new(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector),
    );
    Ok(Docker::connect_with_custom_transport(
        move |request: bollard::BollardRequest| {
            let client = client.clone();
            async move {
                client
                    .request(request)
                    .await
                    .map_err(bollard::errors::Error::from)
            }
        },
        Some(base),
        seconds,
        API_DEFAULT_VERSION,
    )?)
}

/// The ssh connector of an `ssh://` address, with the settings' ssh options.
fn ssh_connector(address: &str, settings: &DockerSettings) -> Result<ssh::SshConnector> {
    let target = ssh::SshTarget::parse(address)?;
    let options = ssh::SshOptions {
        identity_file: settings.ssh.identity_file.clone(),
        known_hosts_file: settings.ssh.known_hosts_file.clone(),
    };
    Ok(ssh::SshConnector::new(target, &options, settings.timeout))
}

fn default_cert_path() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".docker")
}

/// Run an Engine API call with a deadline.
async fn within<T, E>(timeout: Duration, call: impl Future<Output = Result<T, E>>) -> Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    crate::deadline::bounded(timeout, "no answer", async {
        call.await.map_err(anyhow::Error::from)
    })
    .await
}

/// A container from the list call.
#[derive(Debug, Clone)]
pub struct ContainerSummaryFacts {
    pub reference: ContainerRef,
    pub image: String,
    pub ports: Vec<String>,
}

/// What ps and health need to know of a service's container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerFacts {
    pub id: String,
    pub name: String,
    pub image: String,
    /// created, running, paused, restarting, removing, exited, dead.
    pub state: String,
    /// starting, healthy, unhealthy; None without a healthcheck.
    pub health: Option<String>,
    pub health_failing_streak: Option<i64>,
    /// Output of the last healthcheck run, trimmed.
    pub health_last_output: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub restart_count: i64,
    pub oom_killed: bool,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub ports: Vec<String>,
    /// The whole container ID (`id` is the short one).
    #[serde(skip)]
    pub full_id: String,
    /// The main process on the engine's host, while running.
    #[serde(skip)]
    pub pid: Option<i64>,
    /// Its logging driver and options (`HostConfig.LogConfig`, the daemon's defaults merged
    /// in when it was created).
    #[serde(skip)]
    pub logging: Option<(String, std::collections::BTreeMap<String, String>)>,
}

impl ContainerFacts {
    fn from_inspect(
        inspect: &ContainerInspectResponse,
        summary: &ContainerSummaryFacts,
    ) -> ContainerFacts {
        let state = inspect.state.clone().unwrap_or_default();
        let health = state.health.clone();
        let time = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| t.timestamp() > 0)
        };
        // A rolled-back container runs on the tag that keeps its image; it is shown as the
        // image it was deployed as.
        let image = summary
            .reference
            .labels
            .get(labels::LABEL_IMAGE)
            .cloned()
            .or_else(|| inspect.config.as_ref().and_then(|c| c.image.clone()))
            .unwrap_or_else(|| summary.image.clone());
        ContainerFacts {
            full_id: summary.reference.id.clone(),
            pid: state.pid.filter(|pid| *pid > 0),
            id: summary.reference.id.chars().take(12).collect(),
            name: summary.reference.name.clone(),
            image,
            state: state
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "unknown".into()),
            health: health
                .as_ref()
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            health_failing_streak: health.as_ref().and_then(|h| h.failing_streak),
            health_last_output: health
                .as_ref()
                .and_then(|h| h.log.as_ref())
                .and_then(|log| log.last())
                .and_then(|entry| entry.output.as_deref())
                .map(|output| output.trim().chars().take(200).collect()),
            started_at: time(&state.started_at),
            finished_at: time(&state.finished_at),
            restart_count: inspect.restart_count.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            exit_code: state.exit_code,
            error: state.error.filter(|e| !e.is_empty()),
            ports: summary.ports.clone(),
            logging: inspect
                .host_config
                .as_ref()
                .and_then(|h| h.log_config.as_ref())
                .and_then(|l| {
                    let driver = l.typ.clone()?;
                    let options = l.config.clone().unwrap_or_default().into_iter().collect();
                    Some((driver, options))
                }),
        }
    }
}

/// A service of the deployment and its container, if one was found.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceState {
    pub service: String,
    pub resolution: Option<Resolution>,
    /// compose's container number, when the service runs more than one container (each
    /// has a state of its own, lowest number first).
    pub replica: Option<u32>,
    /// What was tried when no container was found.
    pub looked_for: Vec<String>,
    pub container: Option<ContainerFacts>,
}

impl ServiceState {
    /// The service's name, or `SERVICE#N` for one of several replicas (each a row or check
    /// of its own).
    pub fn label(&self) -> String {
        match self.replica {
            Some(n) => format!("{}#{n}", self.service),
            None => self.service.clone(),
        }
    }
}

/// `docker ps` style ports: `127.0.0.1:8080->8080/tcp`, `5432/tcp`; sorted, deduplicated.
pub fn format_ports(ports: &[PortSummary]) -> Vec<String> {
    let mut out: Vec<String> = ports
        .iter()
        .map(|p| {
            let protocol = p
                .typ
                .map(|t| t.to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "tcp".into());
            match p.public_port {
                Some(public) => {
                    let ip = p.ip.as_deref().unwrap_or("0.0.0.0");
                    let ip = if ip.contains(':') {
                        format!("[{ip}]")
                    } else {
                        ip.to_string()
                    };
                    format!("{ip}:{public}->{}/{protocol}", p.private_port)
                }
                None => format!("{}/{protocol}", p.private_port),
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What a container made in another's likeness takes from it (the WAL receiver, a
/// restored PostgreSQL, a drill's backend copy): its image (the ID: present here), and its
/// read-only bind mounts (`SOURCE:DEST:ro`, where an image without its own binaries gets
/// them, as the test rig's does).
pub fn template_image(template: &ContainerInspectResponse) -> String {
    template
        .image
        .clone()
        .or_else(|| template.config.as_ref().and_then(|c| c.image.clone()))
        .unwrap_or_default()
}

/// An inspected container's name, without the engine's leading `/`.
pub fn inspected_name(container: &ContainerInspectResponse) -> String {
    container
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
}

/// See [`template_image`].
pub fn read_only_binds(template: &ContainerInspectResponse) -> Vec<String> {
    template
        .mounts
        .iter()
        .flatten()
        .filter(|m| m.typ.as_deref() == Some("bind") && m.rw == Some(false))
        .filter_map(|m| {
            Some(format!(
                "{}:{}:ro",
                m.source.as_ref()?,
                m.destination.as_ref()?
            ))
        })
        .collect()
}

/// The host port a container publishes `container_port` (`5432/tcp`) on.
pub fn published_host_port(
    container: &ContainerInspectResponse,
    container_port: &str,
) -> Option<u16> {
    container
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.as_ref())
        .and_then(|ports| ports.get(container_port).cloned().flatten())
        .and_then(|bindings| bindings.first().and_then(|b| b.host_port.clone()))
        .and_then(|port| port.parse().ok())
}

/// Split an image reference into repository and tag (`postgres:15` -> `postgres`, `15`).
/// A digest or bare ID has no tag; an untagged name is `latest`.
pub fn split_image(image: &str) -> (String, String) {
    if image.starts_with("sha256:") {
        return (image.chars().take(19).collect(), "-".into());
    }
    let (name, _digest) = image.split_once('@').unwrap_or((image, ""));
    let last_slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
    match name[last_slash..].rfind(':') {
        Some(colon) => {
            let colon = last_slash + colon;
            (name[..colon].to_string(), name[colon + 1..].to_string())
        }
        None => (name.to_string(), "latest".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::PortSummaryTypeEnum;

    #[test]
    fn images_split_into_repository_and_tag() {
        assert_eq!(
            split_image("postgres:15-alpine"),
            ("postgres".into(), "15-alpine".into())
        );
        assert_eq!(
            split_image("registry:5000/gym/backend:1.2"),
            ("registry:5000/gym/backend".into(), "1.2".into())
        );
        assert_eq!(
            split_image("registry:5000/gym/backend"),
            ("registry:5000/gym/backend".into(), "latest".into())
        );
        assert_eq!(
            split_image("minio/minio"),
            ("minio/minio".into(), "latest".into())
        );
        assert_eq!(
            split_image("sha256:0123456789abcdef0123"),
            ("sha256:0123456789ab".into(), "-".into())
        );
    }

    #[test]
    fn ports_read_like_docker_ps() {
        let ports = [
            PortSummary {
                ip: Some("127.0.0.1".into()),
                private_port: 8080,
                public_port: Some(18080),
                typ: Some(PortSummaryTypeEnum::TCP),
            },
            PortSummary {
                ip: None,
                private_port: 5432,
                public_port: None,
                typ: Some(PortSummaryTypeEnum::TCP),
            },
            PortSummary {
                ip: Some("::".into()),
                private_port: 9000,
                public_port: Some(9000),
                typ: Some(PortSummaryTypeEnum::TCP),
            },
        ];
        assert_eq!(
            format_ports(&ports),
            vec![
                "127.0.0.1:18080->8080/tcp",
                "5432/tcp",
                "[::]:9000->9000/tcp"
            ]
        );
    }
}
