//! The run's one HTTP client, and what every use of it shares: answers read with a size cap,
//! so a server (or whoever answers in its place) cannot make gymops hold gigabytes in memory.

use bytes::{Bytes, BytesMut};

/// S3 control answers (an object listing of 1,000 keys is a few hundred KiB) and small
/// objects such as manifests.
pub const S3_ANSWER_CAP: usize = 16 * 1024 * 1024;
/// Error texts and acknowledgements of notification receivers.
pub const NOTIFY_ANSWER_CAP: usize = 64 * 1024;

/// The run's one HTTP client, shared by probes, notifiers, the actuator and S3 (a clone
/// shares its connection pool). A request never follows a redirect on its own: a webhook URL
/// or a signed S3 URL must not send its request on to another address; probes and the
/// backend's endpoints follow them explicitly with [`Http::get_following`] (a servlet
/// container redirects `/ctx` to `/ctx/`). Every request is bounded by its caller's timeout.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

/// How many redirects a probe follows, like browsers and reqwest's default.
const MAX_REDIRECTS: usize = 10;

/// Why a GET that follows redirects got no answer.
#[derive(Debug)]
pub enum GetError {
    Request(reqwest::Error),
    /// A redirect without a usable `Location`, to another scheme, or one too many.
    Redirect(String),
}

impl std::fmt::Display for GetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GetError::Request(err) => write!(f, "{}", error_chain(err)),
            GetError::Redirect(why) => f.write_str(why),
        }
    }
}

impl Http {
    /// gymops's user agent; a TCP connection that is not set up in 10 s fails whatever the
    /// request's own timeout (no server answers a handshake later than that).
    pub fn new() -> anyhow::Result<Http> {
        use anyhow::Context;
        let client = reqwest::Client::builder()
            .user_agent(concat!("gymops/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Http { client })
    }

    /// A request to exactly `url`, the whole exchange bounded by `timeout`.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: impl reqwest::IntoUrl,
        timeout: std::time::Duration,
    ) -> reqwest::RequestBuilder {
        self.client.request(method, url).timeout(timeout)
    }

    /// GET `url`, following up to ten redirects to http(s) addresses; the whole chain is
    /// bounded by `timeout`. `accept` is sent with each request when given.
    pub async fn get_following(
        &self,
        url: &str,
        accept: Option<&str>,
        timeout: std::time::Duration,
    ) -> Result<reqwest::Response, GetError> {
        let started = std::time::Instant::now();
        let mut url = reqwest::Url::parse(url)
            .map_err(|err| GetError::Redirect(format!("bad URL `{url}`: {err}")))?;
        for _ in 0..=MAX_REDIRECTS {
            // What is left of the budget; a spent budget still makes the request time out.
            let left = timeout
                .saturating_sub(started.elapsed())
                .max(std::time::Duration::from_millis(1));
            let mut request = self.request(reqwest::Method::GET, url.clone(), left);
            if let Some(accept) = accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            let response = request.send().await.map_err(GetError::Request)?;
            let Some(next) = redirect_target(&response)? else {
                return Ok(response);
            };
            url = next;
        }
        Err(GetError::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects from {url}"
        )))
    }
}

/// Where a redirect answer sends the client; None when the answer is not a redirect.
fn redirect_target(response: &reqwest::Response) -> Result<Option<reqwest::Url>, GetError> {
    use reqwest::StatusCode;
    if !matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    ) {
        return Ok(None);
    }
    let from = response.url();
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            GetError::Redirect(format!(
                "{from} answers HTTP {} without a Location",
                response.status().as_u16()
            ))
        })?;
    let next = from.join(location).map_err(|err| {
        GetError::Redirect(format!(
            "{from} redirects to a bad address `{location}`: {err}"
        ))
    })?;
    if !matches!(next.scheme(), "http" | "https") {
        return Err(GetError::Redirect(format!(
            "{from} redirects to {next}, which is not http(s)"
        )));
    }
    Ok(Some(next))
}

/// A reqwest error as the operator needs it: what failed, and the root cause.
pub fn error_chain(err: &reqwest::Error) -> String {
    let mut root = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        root = cause.to_string();
        source = cause.source();
    }
    let what = if err.is_timeout() {
        crate::say!("no response in time")
    } else if err.is_connect() {
        crate::say!("cannot connect")
    } else if err.is_body() || err.is_decode() {
        crate::say!("broken response body")
    } else {
        crate::say!("request failed")
    };
    if root.is_empty() {
        what
    } else {
        format!("{what}: {root}")
    }
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
