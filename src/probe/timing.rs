//! HTTP request timing by phase, like curl's `-w` variables (time_namelookup,
//! time_connect, time_appconnect, time_starttransfer, time_total), measured on a fresh
//! connection per request: DNS, TCP connect, TLS handshake, first byte, whole body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;

/// One request's phases, in milliseconds from its start (cumulative, like curl).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Phases {
    pub dns_ms: f64,
    pub connect_ms: f64,
    /// None for plain http.
    pub tls_ms: Option<f64>,
    pub first_byte_ms: f64,
    pub total_ms: f64,
    pub status: u16,
}

/// TLS settings: the system's roots, plus an extra CA when given.
pub fn tls_config(
    extra_ca: Option<&std::path::Path>,
) -> Result<Arc<tokio_rustls::rustls::ClientConfig>> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_ca {
        use rustls::pki_types::pem::PemObject;
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read the CA file {}", path.display()))?;
        for cert in certs {
            roots
                .add(cert.with_context(|| format!("{} holds no PEM certificate", path.display()))?)
                .with_context(|| format!("cannot use the CA in {}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("cannot set up TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Time one GET of `url` on a new connection.
pub async fn time_request(
    url: &url::Url,
    tls: &Arc<tokio_rustls::rustls::ClientConfig>,
) -> Result<Phases> {
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(anyhow!("scheme `{other}` is not http or https")),
    };
    let host = url
        .host_str()
        .ok_or_else(|| anyhow!("{url} has no host"))?
        .to_string();
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let started = Instant::now();
    let lookup_host = bare_host(&host).to_string();
    let address = tokio::net::lookup_host((lookup_host.as_str(), port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .ok_or_else(|| anyhow!("{host} has no address"))?;
    let dns = started.elapsed();
    let tcp = TcpStream::connect(address)
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    tcp.set_nodelay(true).ok();
    let connect = started.elapsed();
    let request = hyper::Request::get(request_target(url))
        .header(hyper::header::HOST, authority(url))
        .header(
            hyper::header::USER_AGENT,
            concat!("gymops/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .context("cannot build the request")?;
    let (tls_done, first_byte, status, body) = if https {
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(lookup_host.clone())
            .map_err(|_| anyhow!("`{host}` is not a valid TLS server name"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {host} failed"))?;
        let tls_done = started.elapsed();
        let (first_byte, status, body) = exchange(TokioIo::new(stream), request, started).await?;
        (Some(tls_done), first_byte, status, body)
    } else {
        let (first_byte, status, body) = exchange(TokioIo::new(tcp), request, started).await?;
        (None, first_byte, status, body)
    };
    body.collect()
        .await
        .context("cannot read the response body")?;
    let total = started.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok(Phases {
        dns_ms: ms(dns),
        connect_ms: ms(connect),
        tls_ms: tls_done.map(ms),
        first_byte_ms: ms(first_byte),
        total_ms: ms(total),
        status,
    })
}

async fn exchange<S>(
    io: TokioIo<S>,
    request: hyper::Request<Empty<Bytes>>,
    started: Instant,
) -> Result<(Duration, u16, hyper::body::Incoming)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut sender = handshake(io).await.context("HTTP handshake failed")?;
    let response = sender
        .send_request(request)
        .await
        .context("the request failed")?;
    let first_byte = started.elapsed();
    let status = response.status().as_u16();
    Ok((first_byte, status, response.into_body()))
}

/// A host without the brackets of an IPv6 literal, for lookups and TLS server names.
pub fn bare_host(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

/// `path?query`, as the request line wants it.
pub fn request_target(url: &url::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

/// `host[:port]` for the Host header (the port only when the URL names one).
pub fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// An HTTP/1.1 client handshake on an open stream; the connection runs on its own task.
pub async fn handshake<S, B>(
    io: TokioIo<S>,
) -> Result<hyper::client::conn::http1::SendRequest<B>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// min / p50 / p95 / p99 / max of one phase, nearest-rank percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn summarize(values: &[f64]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let index = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[index.clamp(1, sorted.len()) - 1]
    };
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    Some(Summary {
        min: round(sorted[0]),
        p50: round(rank(50.0)),
        p95: round(rank(95.0)),
        p99: round(rank(99.0)),
        max: round(sorted[sorted.len() - 1]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_parts_of_a_url() {
        let url = url::Url::parse("http://[::1]:8080/a/b?x=1").unwrap();
        assert_eq!(
            (request_target(&url), authority(&url)),
            ("/a/b?x=1".to_string(), "[::1]:8080".to_string())
        );
        assert_eq!(bare_host("[::1]"), "::1");
        let plain = url::Url::parse("https://gym.example/login").unwrap();
        assert_eq!(
            (request_target(&plain), authority(&plain)),
            ("/login".to_string(), "gym.example".to_string())
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            summarize(&values),
            Some(Summary {
                min: 1.0,
                p50: 50.0,
                p95: 95.0,
                p99: 99.0,
                max: 100.0
            })
        );
        assert_eq!(
            summarize(&[7.0]),
            Some(Summary {
                min: 7.0,
                p50: 7.0,
                p95: 7.0,
                p99: 7.0,
                max: 7.0
            })
        );
        let small = summarize(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((small.p50, small.p95, small.max), (2.0, 3.0, 3.0));
        assert_eq!(summarize(&[]), None);
    }
}
