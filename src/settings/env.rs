//! The environment's layers: the compose env file (`.env`), compose and Docker variables
//! that map onto settings, and `--db-connection`.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde_yaml::Value;

use super::layers::*;
use super::load::*;
use super::secret::*;
use super::secret::{mask_url, Secret};
use crate::error::HintExt;

pub(super) const RESERVED_ENV_VARS: &[&str] = &["GYMOPS_CONFIG", "GYMOPS_SITE"];

/// Compose `.env` variables that map onto settings.
pub(super) const COMPOSE_ENV_KEYS: &[(&str, &str)] = &[
    ("COMPOSE_PROJECT_NAME", "project"),
    ("POSTGRES_USER", "postgres.user"),
    ("POSTGRES_DB", "postgres.database"),
    ("POSTGRES_PORT", "postgres.port"),
];

/// Docker's own variables, below `GYMOPS_DOCKER_*`.
pub(super) const DOCKER_ENV_KEYS: &[(&str, &str)] = &[
    ("DOCKER_HOST", "docker.host"),
    ("DOCKER_TLS_VERIFY", "docker.tls_verify"),
    ("DOCKER_CERT_PATH", "docker.cert_path"),
    ("DOCKER_CONTEXT", "docker.context"),
];

pub(super) fn read_env_file(path: &Path, layers: &mut Layers) -> Result<()> {
    let items = dotenvy::from_path_iter(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?;
    for item in items {
        let (var, raw) = item
            .map_err(|err| match &err {
                dotenvy::Error::LineParse(line, _) => {
                    let number = std::fs::read_to_string(path)
                        .ok()
                        .and_then(|text| text.lines().position(|l| l.trim() == line.trim()))
                        .map(|index| format!("line {}: ", index + 1))
                        .unwrap_or_default();
                    anyhow!("env file {}: {number}cannot parse `{line}`", path.display())
                }
                _ => anyhow!("env file {}: {err}", path.display()),
            })
            .hint("each line of the env file must be KEY=VALUE (compose .env syntax)")?;
        let source = Source::EnvFile {
            path: path.to_path_buf(),
            var: var.clone(),
        };
        if let Some(spec) = SECRETS
            .iter()
            .find(|spec| spec.env == var || spec.env_file_var == Some(var.as_str()))
        {
            layers.add_secret(spec.key, Secret::new(raw), source);
        } else if let Some((_, key)) = COMPOSE_ENV_KEYS.iter().find(|(name, _)| *name == var) {
            layers.set_raw(key, &raw, source)?;
        } else if var.starts_with("GYMOPS_") {
            if var == "GYMOPS_ENVIRONMENT" || RESERVED_ENV_VARS.contains(&var.as_str()) {
                return Err(anyhow!(
                    "env file {}: {var} cannot be set in the env file it selects",
                    path.display()
                ))
                .hint("set it in gymops.yaml, the environment, or with a flag");
            }
            let Some(key) = layers.key_for_env_var(&var) else {
                return Err(anyhow!("env file {}: {var} is not a gymops setting", path.display()))
                    .hint("remove it; setting variables are GYMOPS_ + the key in upper snake case, as `gymops config show` lists");
            };
            layers.set_raw(&key, &raw, source)?;
        }
        // Any other variable belongs to compose and the containers, not to gymops.
    }
    Ok(())
}

pub(super) fn apply_db_connection(
    raw: &str,
    layers: &mut Layers,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let flag = "--db-connection";
    let url = url::Url::parse(raw)
        .map_err(|err| anyhow!("{flag}: not a URL ({err}): {}", mask_url(raw)))
        .hint("use postgres://USER@HOST:PORT/DATABASE and give the password in GYMOPS_POSTGRES_PASSWORD")?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(anyhow!(
            "{flag}: scheme `{}` is not postgres://",
            url.scheme()
        ))
        .hint("use postgres://USER@HOST:PORT/DATABASE");
    }
    let source = || Source::Flag { flag: flag.into() };
    if let Some(host) = url.host_str() {
        layers.set(
            "postgres.host",
            Value::String(host.trim_matches(['[', ']']).to_string()),
            source(),
        );
    }
    if let Some(port) = url.port() {
        layers.set("postgres.port", Value::Number(port.into()), source());
    }
    if !url.username().is_empty() {
        let user = percent_decode(url.username());
        layers.set("postgres.user", Value::String(user), source());
    }
    let database = url.path().trim_start_matches('/');
    if !database.is_empty() {
        layers.set(
            "postgres.database",
            Value::String(percent_decode(database)),
            source(),
        );
    }
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "sslmode" => layers.set(
                "postgres.sslmode",
                Value::String(value.into_owned()),
                source(),
            ),
            "sslrootcert" => layers.set(
                "postgres.sslrootcert",
                Value::String(value.into_owned()),
                source(),
            ),
            other => {
                return Err(anyhow!(
                    "{flag}: parameter `{other}` is not supported (only sslmode and sslrootcert)"
                ))
                .hint("use postgres://USER@HOST:PORT/DATABASE?sslmode=verify-full&sslrootcert=/path/ca.pem")
            }
        }
    }
    if let Some(password) = url.password() {
        warnings.push(
            "a password in --db-connection is visible to other users in the process list; prefer GYMOPS_POSTGRES_PASSWORD".into(),
        );
        layers.add_secret(
            "postgres.password",
            Secret::new(percent_decode(password)),
            source(),
        );
    }
    Ok(())
}

pub(super) fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}
