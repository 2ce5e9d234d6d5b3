//! What every HTTP client of gymops shares: answers read with a size cap, so a server (or
//! whoever answers in its place) cannot make gymops hold gigabytes in memory.

use bytes::{Bytes, BytesMut};

/// S3 control answers (an object listing of 1,000 keys is a few hundred KiB) and small
/// objects such as manifests.
pub const S3_ANSWER_CAP: usize = 16 * 1024 * 1024;
/// Error texts and acknowledgements of notification receivers.
pub const NOTIFY_ANSWER_CAP: usize = 64 * 1024;

/// Whether an HTTP client follows redirects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// Probes and the backend's own endpoints (a servlet container redirects `/ctx` to
    /// `/ctx/`).
    Follow,
    /// Notification receivers: a webhook URL never sends a secret-bearing request on to
    /// another address.
    Refuse,
}

/// The one way gymops builds an HTTP client to a service it probes, measures or notifies:
/// gymops's user agent, the whole request and the connect bounded by `timeout`.
pub fn http_client(
    timeout: std::time::Duration,
    redirects: Redirects,
) -> anyhow::Result<reqwest::Client> {
    use anyhow::Context;
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("gymops/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout);
    if redirects == Redirects::Refuse {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    builder.build().context("cannot set up the HTTP client")
}

/// The body, at most `cap` bytes; the rest is not read. A body that breaks off gives what
/// arrived before.
pub async fn body_capped(mut response: reqwest::Response, cap: usize) -> Bytes {
    let mut body = BytesMut::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    body.freeze()
}

/// The body as text (lossy UTF-8), at most `cap` bytes.
pub async fn text_capped(response: reqwest::Response, cap: usize) -> String {
    String::from_utf8_lossy(&body_capped(response, cap).await).into_owned()
}

/// `localhost`, `127.x.y.z`, `::1`: a host on this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
