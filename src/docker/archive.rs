//! A file inside a container, read through the Engine API's archive endpoint
//! (`GET /containers/{id}/archive?path=...`, what `docker cp` uses): no tool is needed in the
//! container (no `cat`, no shell) and a stopped container can be read too. The bytes stream
//! through a small bounded channel into a blocking reader, so a log of gigabytes is read in
//! fixed memory; the tar framing around the one file is taken off here.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use bollard::query_parameters::DownloadFromContainerOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::Engine;

/// A chunk may take this long to come before the read is given up (a stalled engine never
/// hangs a cron job).
const STALL: Duration = Duration::from_secs(60);

impl Engine {
    /// Extract a tar stream into a (created, not yet started) container at `/`: the
    /// engine writes into its volumes too, keeping the entries' owners and modes. No
    /// client timeout: the producer's own checks bound it.
    pub async fn upload_tar_stream(
        &self,
        container: &str,
        chunks: mpsc::Receiver<bytes::Bytes>,
    ) -> Result<()> {
        let stream = futures_util::stream::unfold(chunks, |mut chunks| async move {
            chunks.recv().await.map(|chunk| (chunk, chunks))
        });
        let options = bollard::query_parameters::UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        let docker = self
            .docker
            .clone()
            .with_timeout(Duration::from_secs(7 * 24 * 3600));
        docker
            .upload_to_container(container, Some(options), bollard::body_stream(stream))
            .await
            .map_err(|err| {
                anyhow!(
                    "cannot put the restored files into container {container}: {}",
                    engine_error(err)
                )
            })
    }

    /// Read the regular file `path` of `container` with `consume` (on a blocking thread);
    /// a directory, a link or a device is refused, saying what it is.
    pub async fn read_container_file<T: Send + 'static>(
        &self,
        container: &str,
        path: &str,
        consume: impl FnOnce(&mut (dyn Read + Send)) -> std::io::Result<T> + Send + 'static,
    ) -> Result<T> {
        let options = DownloadFromContainerOptionsBuilder::default()
            .path(path)
            .build();
        let mut stream = self
            .docker
            .download_from_container(container, Some(options));
        let (sender, receiver) = mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
        let pump = tokio::spawn(async move {
            loop {
                let next = match tokio::time::timeout(STALL, stream.next()).await {
                    Ok(Some(Ok(chunk))) => Ok(chunk),
                    Ok(Some(Err(err))) => Err(std::io::Error::other(engine_error(err))),
                    Ok(None) => break,
                    Err(_) => Err(std::io::Error::other(crate::say!(
                        "the engine sent nothing for {}s",
                        STALL.as_secs()
                    ))),
                };
                let failed = next.is_err();
                if sender.send(next).await.is_err() || failed {
                    break;
                }
            }
        });
        let wanted = path.to_string();
        let result = tokio::task::spawn_blocking(move || {
            let mut reader = crate::chunks::ChannelReader::new(receiver);
            let size = first_file(&mut reader, &wanted)?;
            let mut file = reader.take(size);
            let value = consume(&mut file)?;
            Ok::<_, std::io::Error>(value)
        })
        .await
        .context("the reading thread failed")?;
        pump.abort();
        result.with_context(|| format!("cannot read {path} in container {container}"))
    }
}

/// What the engine said, without bollard's wrapping.
fn engine_error(err: bollard::errors::Error) -> String {
    match err {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } => crate::say!("no such file ({})", message.trim()),
        other => other.to_string(),
    }
}

/// Read tar headers up to the first file's, skipping the extended headers (PAX, GNU long
/// names) an archive may put before it; the file's size. Not a regular file: an error.
fn first_file(reader: &mut impl Read, path: &str) -> std::io::Result<u64> {
    loop {
        let mut header = tar::Header::new_old();
        reader.read_exact(header.as_mut_bytes()).map_err(|err| {
            if err.kind() == std::io::ErrorKind::UnexpectedEof {
                std::io::Error::other(crate::say!("the engine's archive of {path} is empty"))
            } else {
                err
            }
        })?;
        let size = header.entry_size()?;
        let kind = header.entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            // Their content, padded to whole blocks, is skipped.
            let padded = size.div_ceil(512) * 512;
            std::io::copy(&mut reader.take(padded), &mut std::io::sink())?;
            continue;
        }
        if kind.is_file() {
            return Ok(size);
        }
        let what = if kind.is_dir() {
            crate::say!("a directory")
        } else if kind.is_symlink() {
            let target = header
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            crate::say!("a link to {target}; give that path")
        } else {
            crate::say!("not a regular file")
        };
        return Err(std::io::Error::other(crate::say!("{path} is {what}")));
    }
}

/// A `SERVICE:/PATH` argument: (service, path) when a name (two characters or more, no
/// slashes) comes before the colon and an absolute path after it; None for a path on this
/// machine (`exports/app.log`, `C:\logs\x.log`, `C:/logs/x.log`).
pub fn container_path(text: &str) -> Option<(&str, &str)> {
    let (service, path) = text.split_once(':')?;
    let name = service.len() > 1 && !service.contains(['/', '\\']);
    (name && path.starts_with('/')).then_some((service, path))
}

/// Refuse a container path that is not absolute and clean (no `..`, no `.`): the error says
/// which argument.
pub fn check_container_path(path: &str) -> Result<()> {
    let clean = path.starts_with('/')
        && path
            .split('/')
            .skip(1)
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if clean {
        Ok(())
    } else {
        Err(anyhow!(
            "{path} is not an absolute file path without `.` or `..` parts"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(tar::EntryType, &str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (kind, name, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if kind.is_symlink() {
                header.set_size(0);
                header.set_link_name("app-2026.log").unwrap();
                builder.append_data(&mut header, name, &[][..]).unwrap();
            } else {
                builder.append_data(&mut header, name, *data).unwrap();
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn the_file_is_what_follows_its_header_even_under_a_long_name() {
        let long = format!("{}/app.log", "d".repeat(150));
        let bytes = archive(&[(tar::EntryType::Regular, &long, b"line 1\nline 2\n")]);
        let mut reader = &bytes[..];
        let size = first_file(&mut reader, "/x").unwrap();
        let mut text = String::new();
        reader.take(size).read_to_string(&mut text).unwrap();
        assert_eq!(text, "line 1\nline 2\n");
    }

    #[test]
    fn a_directory_or_a_link_is_refused_saying_what_it_is() {
        let dir = archive(&[(tar::EntryType::Directory, "logs", b"")]);
        let err = first_file(&mut &dir[..], "/app/logs").unwrap_err();
        assert_eq!(err.to_string(), "/app/logs is a directory");
        let link = archive(&[(tar::EntryType::Symlink, "app.log", b"")]);
        let err = first_file(&mut &link[..], "/app/logs/app.log").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/app/logs/app.log is a link to app-2026.log; give that path"
        );
        let err = first_file(&mut &b""[..], "/x").unwrap_err();
        assert_eq!(err.to_string(), "the engine's archive of /x is empty");
    }

    #[test]
    fn service_paths_are_told_from_paths_on_this_machine() {
        assert_eq!(
            container_path("backend:/app/logs/app.log"),
            Some(("backend", "/app/logs/app.log"))
        );
        assert_eq!(container_path("C:\\logs\\app.log"), None);
        assert_eq!(container_path("C:/logs/app.log"), None);
        assert_eq!(container_path("exports/app.log"), None);
        assert_eq!(container_path("./backend:/app.log"), None);
        assert!(check_container_path("/app/logs/app.log").is_ok());
        assert!(check_container_path("/app/logs/../../etc/shadow").is_err());
        assert!(check_container_path("/app//x").is_err());
    }
}
