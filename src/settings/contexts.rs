//! The docker CLI's contexts, read as the docker CLI reads them: the config directory
//! (`DOCKER_CONFIG`, else ~/.docker), its `config.json` `currentContext`, and the context
//! store (`contexts/meta/<sha256 of the name>/meta.json`, TLS material under
//! `contexts/tls/<sha256 of the name>/docker/`). And which engine a run uses: the docker
//! CLI's precedence, mapped onto gymops's settings layers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::HintExt;

/// The built-in context: `DOCKER_HOST`, or the local socket.
pub const DEFAULT_CONTEXT: &str = "default";

/// One context of the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DockerContext {
    pub name: String,
    pub description: String,
    /// The docker endpoint's address (`ssh://...`, `tcp://...`, `unix://...`).
    pub host: String,
    /// ca.pem / cert.pem / key.pem of the docker endpoint, when the context has TLS material.
    pub tls_dir: Option<PathBuf>,
    pub skip_tls_verify: bool,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Metadata", default)]
    metadata: Option<MetaData>,
    #[serde(rename = "Endpoints", default)]
    endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Deserialize, Default)]
struct MetaData {
    #[serde(rename = "Description", default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "Host", default)]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The docker CLI's config directory: `DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn config_dir(env: &BTreeMap<String, String>) -> PathBuf {
    match env.get("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env.get("HOME").map(String::as_str).unwrap_or("/")).join(".docker"),
    }
}

/// The store's directory name of a context.
pub fn context_id(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// config.json's `currentContext`; None when the file or the key is absent.
pub fn current_context(dir: &Path) -> Result<Option<String>> {
    let path = dir.join("config.json");
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(anyhow!("cannot read {}: {err}", path.display())),
    };
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|err| anyhow!("the docker CLI's {} is not JSON: {err}", path.display()))
        .hint("repair or remove it (`docker context use default` rewrites it)")?;
    Ok(value
        .get("currentContext")
        .and_then(|c| c.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_string))
}

/// One context by name; an unknown one is an error that lists those there are.
pub fn find(dir: &Path, name: &str) -> Result<DockerContext> {
    // The docker CLI's rule for names: ^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$
    let valid = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
    if !valid {
        return Err(anyhow!("`{name}` is not a Docker context name"))
            .hint("context names are letters, digits and _.+- (starting with a letter or digit), as `docker context ls` shows them");
    }
    let meta = dir
        .join("contexts/meta")
        .join(context_id(name))
        .join("meta.json");
    if !meta.is_file() {
        let known: Vec<String> = list(dir)
            .map(|all| all.into_iter().map(|c| c.name).collect())
            .unwrap_or_default();
        return Err(anyhow!(
            "unknown Docker context `{name}` (no {})",
            meta.display()
        ))
        .hint(format!(
            "contexts are: {}; create one with `docker context create {name} --docker host=ssh://USER@HOST`",
            std::iter::once(DEFAULT_CONTEXT.to_string())
                .chain(known)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let context = read(dir, &meta)?;
    if context.name != name {
        return Err(anyhow!(
            "Docker context store: {} names `{}`, not `{name}`",
            meta.display(),
            context.name
        ))
        .hint("the store is damaged: remove the context and create it again with `docker context create`");
    }
    Ok(context)
}

/// Every context of the store, by name (the built-in `default` is not in it); a damaged
/// one is an error.
pub fn list(dir: &Path) -> Result<Vec<DockerContext>> {
    entries(dir)?.into_iter().collect()
}

/// Every context of the store, each read on its own: a damaged one is its own error (with
/// the file it is in), the others still listed.
pub fn entries(dir: &Path) -> Result<Vec<Result<DockerContext>>> {
    let meta_dir = dir.join("contexts/meta");
    let listing = match std::fs::read_dir(&meta_dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(anyhow!("cannot read {}: {err}", meta_dir.display())),
    };
    let mut found = Vec::new();
    for entry in listing {
        let entry = entry.with_context(|| format!("cannot read {}", meta_dir.display()))?;
        let meta = entry.path().join("meta.json");
        if meta.is_file() {
            found.push(read(dir, &meta));
        }
    }
    found.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => a.name.cmp(&b.name),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(a), Err(b)) => a.to_string().cmp(&b.to_string()),
    });
    Ok(found)
}

fn read(dir: &Path, meta: &Path) -> Result<DockerContext> {
    let damaged = |why: String| -> anyhow::Error {
        anyhow!("Docker context store: {} {why}", meta.display()).context(crate::error::Hint(
            "the store is damaged: remove the context (`docker context rm`) and create it again"
                .into(),
        ))
    };
    let bytes =
        std::fs::read(meta).map_err(|err| anyhow!("cannot read {}: {err}", meta.display()))?;
    if bytes.len() > 1024 * 1024 {
        return Err(damaged("is larger than a context's metadata can be".into()));
    }
    let parsed: Meta = serde_json::from_slice(&bytes)
        .map_err(|err| damaged(format!("is not a context: {err}")))?;
    let Some(endpoint) = parsed.endpoints.get("docker") else {
        return Err(damaged(format!(
            "(context `{}`) has no docker endpoint",
            parsed.name
        )));
    };
    let Some(host) = endpoint.host.clone().filter(|h| !h.is_empty()) else {
        return Err(damaged(format!(
            "(context `{}`) has no docker host",
            parsed.name
        )));
    };
    let tls_dir = dir
        .join("contexts/tls")
        .join(context_id(&parsed.name))
        .join("docker");
    let tls_dir = ["ca.pem", "cert.pem", "key.pem"]
        .iter()
        .any(|f| tls_dir.join(f).is_file())
        .then_some(tls_dir);
    Ok(DockerContext {
        description: parsed
            .metadata
            .and_then(|m| m.description)
            .unwrap_or_default(),
        name: parsed.name,
        host,
        tls_dir,
        skip_tls_verify: endpoint.skip_tls_verify,
    })
}

/// Where the run's engine came from, as the docker CLI decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `docker.host` (gymops.yaml, `DOCKER_HOST`, `GYMOPS_DOCKER_HOST`) or the local socket:
    /// the `default` context.
    Host,
    /// A named context, and why it was taken (`--context`, `DOCKER_CONTEXT`, gymops.yaml,
    /// the docker CLI's current context).
    Context { name: String, from: String },
}

/// The docker CLI's order, on gymops's layers: the higher layer of `docker.host` and
/// `docker.context` wins (`--context` over `DOCKER_HOST`, `DOCKER_HOST` over gymops.yaml's
/// context, a site's over the environment's); within the environment `DOCKER_HOST` wins
/// over `DOCKER_CONTEXT` as it does for the docker CLI; both in one file or one site is a
/// conflict. With neither set, config.json's
/// `currentContext`. `default` is the host.
///
/// `host_rank` / `context_rank`: the layer each came from (0: not set).
pub fn choose(
    host_rank: u8,
    context: Option<(&str, u8, String)>,
    current: Option<String>,
    config_dir: &Path,
) -> Result<Choice> {
    const ENVIRONMENT: u8 = 3;
    if let Some((name, rank, from)) = context {
        if rank == host_rank && rank != ENVIRONMENT {
            return Err(anyhow!(
                "docker.host and docker.context are both set ({from}): they name two engines"
            ))
            .hint("keep one: a context names its engine itself");
        }
        if rank > host_rank {
            return Ok(named(name, from));
        }
        return Ok(Choice::Host);
    }
    if host_rank > 0 {
        return Ok(Choice::Host);
    }
    Ok(match current {
        Some(name) => named(
            &name,
            format!(
                "currentContext of {}",
                config_dir.join("config.json").display()
            ),
        ),
        None => Choice::Host,
    })
}

fn named(name: &str, from: String) -> Choice {
    if name == DEFAULT_CONTEXT {
        Choice::Host
    } else {
        Choice::Context {
            name: name.to_string(),
            from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(contexts: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, host) in contexts {
            let meta = dir.path().join("contexts/meta").join(context_id(name));
            std::fs::create_dir_all(&meta).unwrap();
            std::fs::write(
                meta.join("meta.json"),
                format!(
                    r#"{{"Name":"{name}","Metadata":{{"Description":"branch {name}"}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
                ),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn the_store_is_keyed_by_the_sha256_of_the_name() {
        // `docker context create gym-a` makes this directory (checked with the docker CLI).
        assert_eq!(
            context_id("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
        let dir = store(&[
            ("gym-a", "ssh://ops@gym-a"),
            ("gym-b", "tcp://10.0.0.2:2376"),
        ]);
        let found = find(dir.path(), "gym-b").unwrap();
        assert_eq!(found.host, "tcp://10.0.0.2:2376");
        assert_eq!(found.description, "branch gym-b");
        assert_eq!(found.tls_dir, None);
        let names: Vec<String> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["gym-a", "gym-b"]);
        let tls = dir
            .path()
            .join("contexts/tls")
            .join(context_id("gym-b"))
            .join("docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        assert_eq!(find(dir.path(), "gym-b").unwrap().tls_dir, Some(tls));
    }

    #[test]
    fn unknown_and_damaged_contexts_are_one_clear_error() {
        let dir = store(&[("gym-a", "ssh://ops@gym-a")]);
        for bad in ["x", "../gym-a", "-gym", "gym a"] {
            let (message, _) = crate::error::describe(&find(dir.path(), bad).unwrap_err());
            assert!(
                message.contains("is not a Docker context name"),
                "{message}"
            );
        }
        let (message, hint) = crate::error::describe(&find(dir.path(), "gym-z").unwrap_err());
        assert!(
            message.starts_with("unknown Docker context `gym-z`"),
            "{message}"
        );
        assert!(hint.unwrap().contains("default, gym-a"));
        let meta = dir
            .path()
            .join("contexts/meta")
            .join(context_id("gym-a"))
            .join("meta.json");
        std::fs::write(&meta, "{\"Name\":").unwrap();
        let (message, hint) = crate::error::describe(&find(dir.path(), "gym-a").unwrap_err());
        assert!(message.contains("is not a context"), "{message}");
        assert!(hint.unwrap().contains("docker context rm"));
        std::fs::write(&meta, r#"{"Name":"gym-a","Endpoints":{}}"#).unwrap();
        let (message, _) = crate::error::describe(&find(dir.path(), "gym-a").unwrap_err());
        assert!(message.contains("has no docker endpoint"), "{message}");
        std::fs::write(dir.path().join("config.json"), "{").unwrap();
        assert!(current_context(dir.path()).is_err());
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"gym-a"}"#,
        )
        .unwrap();
        assert_eq!(
            current_context(dir.path()).unwrap().as_deref(),
            Some("gym-a")
        );
    }

    #[test]
    fn precedence_is_the_docker_clis() {
        let dir = Path::new("/cfg");
        let ctx = |rank| Some(("gym-a", rank, "somewhere".to_string()));
        let is_context = |choice: Result<Choice>| matches!(choice.unwrap(), Choice::Context { .. });
        // --context (flag, 5) beats DOCKER_HOST (environment, 3).
        assert!(is_context(choose(3, ctx(5), None, dir)));
        // A site's context (4) beats DOCKER_HOST; a site's host beats DOCKER_CONTEXT.
        assert!(is_context(choose(3, ctx(4), None, dir)));
        assert_eq!(choose(4, ctx(3), None, dir).unwrap(), Choice::Host);
        assert!(choose(4, ctx(4), None, dir).is_err());
        // DOCKER_HOST beats DOCKER_CONTEXT, both from the environment.
        assert_eq!(choose(3, ctx(3), None, dir).unwrap(), Choice::Host);
        // DOCKER_HOST beats gymops.yaml's docker.context.
        assert_eq!(choose(3, ctx(1), None, dir).unwrap(), Choice::Host);
        // DOCKER_CONTEXT beats gymops.yaml's docker.host.
        assert!(is_context(choose(1, ctx(3), None, dir)));
        // Both in gymops.yaml: a conflict.
        assert!(choose(1, ctx(1), None, dir).is_err());
        // Neither: the current context; `default` is the host.
        assert!(is_context(choose(0, None, Some("gym-a".into()), dir)));
        assert_eq!(
            choose(0, None, Some("default".into()), dir).unwrap(),
            Choice::Host
        );
        assert_eq!(choose(0, None, None, dir).unwrap(), Choice::Host);
        // A host set anywhere beats the current context.
        assert_eq!(
            choose(1, None, Some("gym-a".into()), dir).unwrap(),
            Choice::Host
        );
    }
}
