//! S3 / MinIO: SigV4-presigned requests (rusty-s3) over reqwest. Streaming multipart
//! upload with retries and an abort on failure, streaming download, list and delete.
//! Credentials are secrets: presigned URLs carry the key ID, so errors never show URLs.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use rusty_s3::actions::{CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::HintExt;
use crate::netutil::Http;
use crate::notify::retry::backoff_delay;
use crate::settings::S3Settings;
use reqwest::Method;

const SIGNED_FOR: Duration = Duration::from_secs(3600);

pub struct S3 {
    bucket: Bucket,
    credentials: Credentials,
    http: Http,
    /// Each control request and each part upload (large downloads are bounded per read).
    timeout: Duration,
    pub prefix: String,
    retries: u32,
    part_size: usize,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<String>,
}

/// How an upload ended.
#[derive(Debug)]
pub struct Uploaded {
    pub key: String,
    pub parts: u16,
    pub bytes: u64,
}

/// Describe a reqwest error without its URL (the URL holds the signature and key ID).
fn http_error(err: reqwest::Error) -> anyhow::Error {
    let err = err.without_url();
    if err.is_timeout() {
        anyhow!("the S3 request timed out")
    } else if err.is_connect() {
        anyhow!("cannot connect to the S3 endpoint")
    } else {
        anyhow!("S3 request failed: {err}")
    }
}

/// The S3 error code and message of an error answer (`<Code>NoSuchBucket</Code>`).
fn s3_error(status: reqwest::StatusCode, body: &str) -> anyhow::Error {
    let tag = |name: &str| {
        body.split(&format!("<{name}>"))
            .nth(1)
            .and_then(|rest| rest.split(&format!("</{name}>")).next())
            .map(str::to_string)
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => anyhow!("S3 answered {status}: {code}: {message}"),
        (Some(code), None) => anyhow!("S3 answered {status}: {code}"),
        _ => anyhow!("S3 answered {status}"),
    }
}

impl S3 {
    fn request(&self, method: Method, url: &url::Url) -> reqwest::RequestBuilder {
        self.http.request(method, url.clone(), self.timeout)
    }
}

fn transient(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408
}

impl S3 {
    /// A client of the settings' bucket over the run's HTTP client (which follows no
    /// redirect: a signed URL is not sent on to another address).
    pub fn new(settings: &S3Settings, http: &Http) -> Result<S3> {
        let bucket_name = settings
            .bucket
            .clone()
            .ok_or_else(|| anyhow!("no S3 bucket configured"))
            .hint("set backup.s3.bucket (and backup.s3.endpoint for MinIO) in gymops.yaml")?;
        let (Some(key), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key)
        else {
            return Err(anyhow!("no S3 credentials"))
                .hint("set GYMOPS_S3_ACCESS_KEY_ID and GYMOPS_S3_SECRET_ACCESS_KEY, or backup.s3.access_key_id_file and secret_access_key_file");
        };
        let endpoint = match &settings.endpoint {
            Some(url) => url.clone(),
            None => url::Url::parse(&format!("https://s3.{}.amazonaws.com", settings.region))
                .context("bad S3 region")?,
        };
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, bucket_name, settings.region.clone())
            .map_err(|err| anyhow!("bad S3 settings: {err}"))
            .hint(
                "check backup.s3.endpoint, bucket and path_style (MinIO needs path_style: true)",
            )?;
        if settings.part_size_mib < 5 {
            return Err(anyhow!(
                "backup.s3.part_size_mib is {}; S3 parts are at least 5 MiB",
                settings.part_size_mib
            ))
            .hint("set backup.s3.part_size_mib to 5 or more");
        }
        let mut prefix = settings.prefix.trim_start_matches('/').to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(S3 {
            bucket,
            credentials: Credentials::new(key.expose(), secret.expose()),
            http: http.clone(),
            timeout: settings.timeout,
            prefix,
            retries: settings.retries,
            part_size: settings.part_size_mib as usize * 1024 * 1024,
        })
    }

    pub fn bucket(&self) -> &str {
        self.bucket.name()
    }

    pub fn key_for(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Send a request, retrying transient failures; the answer's status and body.
    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Bytes)> {
        let mut last = anyhow!("{what}: not attempted");
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(backoff_delay(Duration::from_millis(500), attempt - 1, None))
                    .await;
            }
            match build().send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let body =
                        crate::netutil::body_capped(response, crate::netutil::S3_ANSWER_CAP).await;
                    if status.is_success() || !transient(status) {
                        return Ok((status, headers, body));
                    }
                    last = s3_error(status, &String::from_utf8_lossy(&body));
                }
                Err(err) => last = http_error(err),
            }
            tracing::debug!(what, attempt, error = %last, "S3 attempt failed");
        }
        Err(last.context(format!(
            "{what} failed after {} attempt(s)",
            self.retries + 1
        )))
    }

    async fn expect_ok(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::header::HeaderMap, Bytes)> {
        let (status, headers, body) = self.send(what, build).await?;
        if !status.is_success() {
            return Err(s3_error(status, &String::from_utf8_lossy(&body)).context(what.to_string()));
        }
        Ok((headers, body))
    }

    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<()> {
        let url = self
            .bucket
            .put_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        self.expect_ok(&format!("upload of s3://{}/{key}", self.bucket()), || {
            self.request(Method::PUT, &url).body(body.clone())
        })
        .await?;
        Ok(())
    }

    /// A whole small object (a manifest); None when it does not exist.
    pub async fn get_small(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let (status, _, body) = self
            .send(&format!("download of s3://{}/{key}", self.bucket()), || {
                self.request(Method::GET, &url)
            })
            .await?;
        if status.as_u16() == 404 {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(s3_error(status, &String::from_utf8_lossy(&body)));
        }
        Ok(Some(body.to_vec()))
    }

    /// Stream an object: its chunks arrive on the channel, an error as the last item.
    pub async fn get_stream(&self, key: &str) -> Result<mpsc::Receiver<io::Result<Bytes>>> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        // No overall timeout on a large download: each read is bounded instead.
        let response = self
            .http
            .request(Method::GET, url, Duration::from_secs(24 * 3600))
            .send()
            .await
            .map_err(http_error)
            .with_context(|| format!("cannot download s3://{}/{key}", self.bucket()))?;
        let status = response.status();
        if !status.is_success() {
            let body = crate::netutil::text_capped(response, crate::netutil::S3_ANSWER_CAP).await;
            return Err(s3_error(status, &body))
                .with_context(|| format!("cannot download s3://{}/{key}", self.bucket()));
        }
        let (tx, rx) = mpsc::channel(16);
        let mut response = response;
        tokio::spawn(async move {
            loop {
                match tokio::time::timeout(Duration::from_secs(60), response.chunk()).await {
                    Ok(Ok(Some(chunk))) => {
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Ok(Err(err)) => {
                        let _ = tx
                            .send(Err(io::Error::other(format!(
                                "S3 download broke off: {}",
                                err.without_url()
                            ))))
                            .await;
                        return;
                    }
                    Ok(Ok(None)) => return,
                    Err(_) => {
                        let _ = tx
                            .send(Err(io::Error::other("S3 download stalled for 60 s")))
                            .await;
                        return;
                    }
                }
            }
        });
        Ok(rx)
    }

    pub async fn list(&self) -> Result<Vec<Object>> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action: ListObjectsV2 = self.bucket.list_objects_v2(Some(&self.credentials));
            if !self.prefix.is_empty() {
                action.with_prefix(self.prefix.as_str());
            }
            if let Some(token) = &token {
                action.with_continuation_token(token.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let (_, body) = self
                .expect_ok(
                    &format!("listing of s3://{}/{}", self.bucket(), self.prefix),
                    || self.request(Method::GET, &url),
                )
                .await?;
            let parsed = ListObjectsV2::parse_response(&String::from_utf8_lossy(&body))
                .map_err(|err| anyhow!("cannot read the S3 listing: {err}"))?;
            objects.extend(parsed.contents.into_iter().map(|o| Object {
                key: o.key,
                size: o.size.unwrap_or(0),
                last_modified: o.last_modified,
            }));
            match parsed.next_continuation_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        Ok(objects)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        self.expect_ok(&format!("delete of s3://{}/{key}", self.bucket()), || {
            self.request(Method::DELETE, &url)
        })
        .await?;
        Ok(())
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<()> {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(SIGNED_FOR);
        self.expect_ok("abort of the multipart upload", || {
            self.request(Method::DELETE, &url)
        })
        .await?;
        Ok(())
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        part: Bytes,
    ) -> Result<String> {
        let url = self
            .bucket
            .upload_part(Some(&self.credentials), key, number, upload_id)
            .sign(SIGNED_FOR);
        let (headers, _) = self
            .expect_ok(&format!("upload of part {number}"), || {
                self.request(Method::PUT, &url).body(part.clone())
            })
            .await?;
        headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("S3 answered part {number} without an ETag"))
    }

    /// Start a streaming multipart upload of `key`. Chunks go into the sender; then
    /// [`Upload::commit`] completes it, or [`Upload::abort`] throws it away. The upload is
    /// also aborted when it fails on its own (the sender then reports a closed channel).
    /// Start a streaming multipart upload of `key`.
    pub async fn upload(self: &Arc<Self>, key: &str) -> Result<(mpsc::Sender<Bytes>, Upload)> {
        let url = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let (_, body) = self
            .expect_ok(
                &format!("start of the upload to s3://{}/{key}", self.bucket()),
                || self.request(Method::POST, &url),
            )
            .await?;
        let created = CreateMultipartUpload::parse_response(&String::from_utf8_lossy(&body))
            .map_err(|err| anyhow!("cannot read the S3 answer: {err}"))?;
        let upload_id = created.upload_id().to_string();
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let (decide, decision) = oneshot::channel::<bool>();
        let s3 = self.clone();
        let key = key.to_string();
        let task = tokio::spawn(async move {
            let mut etags: Vec<String> = Vec::new();
            let mut buffer: Vec<u8> = Vec::with_capacity(s3.part_size);
            let mut bytes = 0u64;
            let result: Result<()> = async {
                while let Some(chunk) = rx.recv().await {
                    bytes += chunk.len() as u64;
                    buffer.extend_from_slice(&chunk);
                    let number = etags.len() + 1;
                    let size = part_size(s3.part_size, number);
                    if buffer.len() >= size {
                        if number >= MAX_PARTS {
                            return Err(anyhow!(
                                "the backup outgrew S3's {MAX_PARTS} parts (over {} GiB)",
                                capacity(s3.part_size) >> 30
                            ))
                            .hint("raise backup.s3.part_size_mib");
                        }
                        let part = Bytes::from(std::mem::replace(
                            &mut buffer,
                            Vec::with_capacity(part_size(s3.part_size, number + 1)),
                        ));
                        etags.push(
                            s3.upload_part(&key, &upload_id, number as u16, part)
                                .await?,
                        );
                    }
                }
                Ok(())
            }
            .await;
            drop(rx);
            let commit = result.is_ok() && decision.await.unwrap_or(false);
            if commit {
                let finished: Result<Uploaded> = async {
                    if !buffer.is_empty() || etags.is_empty() {
                        let number = etags.len() as u16 + 1;
                        etags.push(
                            s3.upload_part(&key, &upload_id, number, Bytes::from(buffer))
                                .await?,
                        );
                    }
                    let action = s3.bucket.complete_multipart_upload(
                        Some(&s3.credentials),
                        &key,
                        &upload_id,
                        etags.iter().map(String::as_str),
                    );
                    let url = action.sign(SIGNED_FOR);
                    let body = action.body();
                    s3.expect_ok("completion of the multipart upload", || {
                        s3.request(Method::POST, &url).body(body.clone())
                    })
                    .await?;
                    Ok(Uploaded {
                        key: key.clone(),
                        parts: etags.len() as u16,
                        bytes,
                    })
                }
                .await;
                match finished {
                    Ok(done) => return Ok(done),
                    Err(err) => return Err(abort_after(&s3, &key, &upload_id, err).await),
                }
            }
            let err = match result {
                Err(err) => err,
                Ok(()) => anyhow!("the backup failed, so its upload was not completed"),
            };
            Err(abort_after(&s3, &key, &upload_id, err).await)
        });
        Ok((
            tx,
            Upload {
                decide: Some(decide),
                task,
            },
        ))
    }
}

async fn abort_after(s3: &S3, key: &str, upload_id: &str, err: anyhow::Error) -> anyhow::Error {
    match s3.abort(key, upload_id).await {
        Ok(()) => err.context("the multipart upload was aborted"),
        Err(abort) => err.context(format!(
            "the multipart upload could not be aborted either ({}); a bucket lifecycle rule for incomplete uploads removes its parts",
            crate::error::describe(&abort).0
        )),
    }
}

pub struct Upload {
    decide: Option<oneshot::Sender<bool>>,
    task: JoinHandle<Result<Uploaded>>,
}

impl Upload {
    /// Complete the upload (after the sender was dropped).
    pub async fn commit(mut self) -> Result<Uploaded> {
        if let Some(decide) = self.decide.take() {
            let _ = decide.send(true);
        }
        self.task
            .await
            .map_err(|err| anyhow!("the S3 upload task failed: {err}"))?
    }

    /// Throw the upload away.
    pub async fn abort(mut self) -> Result<()> {
        if let Some(decide) = self.decide.take() {
            let _ = decide.send(false);
        }
        match self.task.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(err),
            Err(err) => Err(anyhow!("the S3 upload task failed: {err}")),
        }
    }
}

/// `s3://bucket/key` -> (bucket, key).
pub fn parse_s3_url(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

/// S3's limit of parts in one multipart upload.
pub const MAX_PARTS: usize = 10_000;

/// The size of part `number` (from 1): the configured size for the first 1,000 parts, then
/// doubling every 1,000 parts (S3 allows parts of different sizes, up to 5 GiB), so a backup
/// far larger than 10,000 parts of the base size still fits.
pub fn part_size(base: usize, number: usize) -> usize {
    base << (number.saturating_sub(1) / 1000).min(9)
}

/// The most one upload can carry with this base part size.
pub fn capacity(base: usize) -> u64 {
    (1..=MAX_PARTS).map(|n| part_size(base, n) as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_and_error_bodies() {
        assert_eq!(
            parse_s3_url("s3://gym-backups/backups/a.sql.zst"),
            Some(("gym-backups".into(), "backups/a.sql.zst".into()))
        );
        assert_eq!(parse_s3_url("s3://bucket"), None);
        assert_eq!(parse_s3_url("/tmp/a"), None);
        let err = s3_error(
            reqwest::StatusCode::NOT_FOUND,
            "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>",
        );
        assert_eq!(
            err.to_string(),
            "S3 answered 404 Not Found: NoSuchBucket: The specified bucket does not exist"
        );
    }

    #[test]
    fn parts_grow_so_large_backups_fit_in_ten_thousand() {
        let base = 8 * 1024 * 1024;
        assert_eq!(part_size(base, 1), base);
        assert_eq!(part_size(base, 1000), base);
        assert_eq!(part_size(base, 1001), 2 * base);
        assert_eq!(part_size(base, MAX_PARTS), 512 * base);
        assert!(part_size(base, MAX_PARTS) <= 5 << 30, "S3's largest part");
        // 8 MiB parts alone would stop at 78 GiB; growing, near 8 TiB.
        assert!(capacity(base) > 7 << 40);
    }
}
