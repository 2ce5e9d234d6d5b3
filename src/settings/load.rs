//! Merging the settings layers, with the source of every value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Serialize, Serializer};
use serde_yaml::Value;

use super::flat::{env_var_name, flatten, typed_like, unflatten, yaml_scalar_text, FlatMap};
use super::secret::{mask_url, Secret, MASK};
use super::Settings;
use crate::error::HintExt;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File { path: PathBuf },
    EnvFile { path: PathBuf, var: String },
    Env { var: String },
    Flag { flag: String },
}

impl Source {
    /// Later layers win: default < gymops.yaml < env file < environment < flags.
    fn rank(&self) -> u8 {
        match self {
            Source::Default => 0,
            Source::File { .. } => 1,
            Source::EnvFile { .. } => 2,
            Source::Env { .. } => 3,
            Source::Flag { .. } => 4,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path } => write!(f, "file {}", path.display()),
            Source::EnvFile { path, var } => write!(f, "env file {} ({var})", path.display()),
            Source::Env { var } => write!(f, "environment {var}"),
            Source::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What the command line says about settings.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--config` / `GYMOPS_CONFIG`; unset: `./gymops.yaml` when it exists.
    pub config: Option<PathBuf>,
    /// `--environment`.
    pub environment: Option<String>,
    /// Other flags that set a key: (dotted key, raw value, flag name).
    pub values: Vec<(String, String, String)>,
    /// `--db-connection postgres://user:pw@host:port/db`.
    pub db_connection: Option<String>,
    /// Flags that give a secret: (secret key, value, flag name).
    pub secrets: Vec<(String, Secret, String)>,
}

/// One effective setting, for `config show`.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub key: String,
    /// The value as text; secrets are masked.
    pub value: String,
    pub source: Source,
    pub secret: bool,
}

/// The effective settings and how they came to be.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub entries: Vec<Entry>,
    pub config_file: Option<PathBuf>,
    /// The selected environment's env file, resolved against `base_dir`.
    pub env_file: PathBuf,
    pub env_file_found: bool,
    /// Relative paths in settings are relative to this (the config file's directory).
    pub base_dir: PathBuf,
    /// Things the operator should know about the configuration (printed as warnings).
    pub warnings: Vec<String>,
}

impl Loaded {
    /// Resolve a path from settings against the config file's directory.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        self.base_dir.join(path)
    }
}

/// A secret: never read from gymops.yaml, never printed. It comes from its environment
/// variable, a compose env file variable, a flag, or the file its `file_key` names.
struct SecretSpec {
    key: &'static str,
    env: &'static str,
    env_file_var: Option<&'static str>,
    file_key: &'static str,
    /// A missing file is no secret rather than an error: the file is one gymops writes
    /// itself later (`monitoring init` writes the relay token).
    file_may_be_missing: bool,
}

const SECRETS: &[SecretSpec] = &[
    SecretSpec {
        key: "metrics.relay_token",
        env: "GYMOPS_METRICS_RELAY_TOKEN",
        env_file_var: None,
        file_key: "metrics.relay_token_file",
        file_may_be_missing: true,
    },
    SecretSpec {
        key: "postgres.password",
        env: "GYMOPS_POSTGRES_PASSWORD",
        env_file_var: Some("POSTGRES_PASSWORD"),
        file_key: "postgres.password_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.slack.webhook_url",
        env: "GYMOPS_SLACK_WEBHOOK_URL",
        env_file_var: None,
        file_key: "notify.slack.webhook_url_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.webhook.url",
        env: "GYMOPS_WEBHOOK_URL",
        env_file_var: None,
        file_key: "notify.webhook.url_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.email.password",
        env: "GYMOPS_SMTP_PASSWORD",
        env_file_var: None,
        file_key: "notify.email.password_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "backup.passphrase",
        env: "GYMOPS_BACKUP_PASSPHRASE",
        env_file_var: None,
        file_key: "backup.passphrase_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "backup.s3.access_key_id",
        env: "GYMOPS_S3_ACCESS_KEY_ID",
        env_file_var: None,
        file_key: "backup.s3.access_key_id_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "backup.s3.secret_access_key",
        env: "GYMOPS_S3_SECRET_ACCESS_KEY",
        env_file_var: None,
        file_key: "backup.s3.secret_access_key_file",
        file_may_be_missing: false,
    },
];

fn secret_for_env(var: &str) -> Option<&'static SecretSpec> {
    SECRETS.iter().find(|spec| spec.env == var)
}
const RESERVED_ENV_VARS: &[&str] = &["GYMOPS_CONFIG"];

/// Compose `.env` variables that map onto settings.
const COMPOSE_ENV_KEYS: &[(&str, &str)] = &[
    ("COMPOSE_PROJECT_NAME", "project"),
    ("POSTGRES_USER", "postgres.user"),
    ("POSTGRES_DB", "postgres.database"),
    ("POSTGRES_PORT", "postgres.port"),
];

/// Docker's own variables, below `GYMOPS_DOCKER_*`.
const DOCKER_ENV_KEYS: &[(&str, &str)] = &[
    ("DOCKER_HOST", "docker.host"),
    ("DOCKER_TLS_VERIFY", "docker.tls_verify"),
    ("DOCKER_CERT_PATH", "docker.cert_path"),
];

struct Layers {
    defaults: Value,
    /// The defaults as dotted keys, for typing raw strings.
    defaults_flat: FlatMap,
    flat: FlatMap,
    sources: BTreeMap<String, Source>,
    /// Candidates for each secret key: (secret, source).
    secrets: BTreeMap<&'static str, Vec<(Secret, Source)>>,
}

impl Layers {
    fn add_secret(&mut self, key: &'static str, secret: Secret, source: Source) {
        self.secrets.entry(key).or_default().push((secret, source));
    }

    fn set(&mut self, key: &str, value: Value, source: Source) {
        self.flat.insert(key.to_string(), value);
        self.sources.insert(key.to_string(), source);
    }

    /// The value a raw string must be typed like: the current one, or the default.
    fn set_raw(&mut self, key: &str, raw: &str, source: Source) -> Result<()> {
        let like = self.flat.get(key).cloned().unwrap_or(Value::Null);
        let like = if like.is_null() {
            self.defaults_flat.get(key).cloned().unwrap_or(Value::Null)
        } else {
            like
        };
        let value = typed_like(raw, &like)
            .map_err(|why| anyhow!("{source}: bad value for {key}: {why}"))
            .hint(format!(
                "set {key} to a value of the right type (see `gymops config show`)"
            ))?;
        self.set(key, value, source);
        Ok(())
    }

    /// Dotted key for a `GYMOPS_*` variable name, among the keys known now.
    fn key_for_env_var(&self, var: &str) -> Option<String> {
        self.flat
            .keys()
            .find(|key| env_var_name(key) == var)
            .cloned()
    }

    /// Check the merged value deserializes; name the source of the offending key.
    fn validate(&self) -> Result<Settings> {
        // Through YAML text rather than from_value: only the text deserializer tracks key paths.
        let text = serde_yaml::to_string(&unflatten(&self.flat))
            .context("cannot encode the merged settings")?;
        serde_yaml::from_str::<Settings>(&text).map_err(|err| {
            let (key, message) = explain_yaml_error(&err);
            let source = key
                .as_deref()
                .and_then(|key| self.sources.get(key))
                .map(|source| format!(" (from {source})"))
                .unwrap_or_default();
            let key = key.map(|key| format!(" `{key}`")).unwrap_or_default();
            anyhow!("invalid setting{key}{source}: {message}")
        })
    }
}

/// Split a serde_yaml error into the dotted key it is about and a message without the
/// location (`backend: unknown field `urll`` -> key `backend.urll`).
fn explain_yaml_error(err: &serde_yaml::Error) -> (Option<String>, String) {
    let mut text = err.to_string();
    if let Some(location) = err.location() {
        let suffix = format!(" at line {} column {}", location.line(), location.column());
        if let Some(stripped) = text.strip_suffix(&suffix) {
            text = stripped.to_string();
        }
    }
    if let Some(at) = text.find("unknown field `") {
        let path = text[..at].trim_end_matches(": ").trim();
        let rest = &text[at + "unknown field `".len()..];
        if let Some(end) = rest.find('`') {
            let field = &rest[..end];
            let key = if path.is_empty() {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            let expected = rest[end + 1..].trim_start_matches(',').trim();
            let message = if expected.is_empty() {
                "unknown key".to_string()
            } else {
                format!("unknown key, {expected}")
            };
            return (Some(key), message);
        }
    }
    match text.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => {
            (Some(path.to_string()), message.to_string())
        }
        _ => (None, text),
    }
}

/// Merge every layer into the effective settings.
pub fn load(overrides: &Overrides, env: &BTreeMap<String, String>, cwd: &Path) -> Result<Loaded> {
    let defaults =
        serde_yaml::to_value(Settings::default()).context("cannot encode the defaults")?;
    let flat = flatten(&defaults, &defaults);
    let sources = flat
        .keys()
        .map(|key| (key.clone(), Source::Default))
        .collect();
    let mut layers = Layers {
        defaults,
        defaults_flat: flat.clone(),
        flat,
        sources,
        secrets: BTreeMap::new(),
    };
    let mut warnings = Vec::new();

    // gymops.yaml
    let config_file = match &overrides.config {
        Some(path) => Some(cwd.join(path)),
        // Like cargo and docker-compose: here, or the nearest parent that has one.
        None => cwd.ancestors().find_map(|dir| {
            ["gymops.yaml", "gymops.yml"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
        }),
    };
    let base_dir = match &config_file {
        Some(path) => {
            read_config_file(path, &mut layers)?;
            path.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.to_path_buf())
        }
        None => cwd.to_path_buf(),
    };

    // The environment decides which env file to read, so it is settled first.
    if let Some(name) = env.get("GYMOPS_ENVIRONMENT") {
        layers.set(
            "environment",
            Value::String(name.clone()),
            Source::Env {
                var: "GYMOPS_ENVIRONMENT".into(),
            },
        );
    }
    if let Some(name) = &overrides.environment {
        layers.set(
            "environment",
            Value::String(name.clone()),
            Source::Flag {
                flag: "--environment".into(),
            },
        );
    }
    let environment = match layers.flat.get("environment") {
        Some(Value::String(name)) => name.clone(),
        _ => bail!("the setting `environment` must be a name"),
    };
    let env_file_key = format!("environments.{environment}.env_file");
    let Some(env_file) = layers.flat.get(&env_file_key).cloned() else {
        let known: Vec<String> = layers
            .flat
            .keys()
            .filter_map(|k| {
                k.strip_prefix("environments.")?
                    .split('.')
                    .next()
                    .map(str::to_string)
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(anyhow!(
            "unknown environment `{environment}` (from {})",
            layers
                .sources
                .get("environment")
                .cloned()
                .unwrap_or(Source::Default)
        ))
        .hint(format!(
            "use one of: {}, or add it under `environments:` in gymops.yaml",
            known.join(", ")
        ));
    };
    let env_file = base_dir.join(yaml_scalar_text(&env_file));
    let env_file_found = env_file.is_file();
    if env_file_found {
        read_env_file(&env_file, &mut layers)?;
    }
    layers.validate()?;

    // Docker's own variables, then GYMOPS_* variables.
    for (var, key) in DOCKER_ENV_KEYS {
        if let Some(raw) = env.get(*var) {
            let raw = if *var == "DOCKER_TLS_VERIFY" {
                if raw.is_empty() {
                    "false"
                } else {
                    "true"
                }
            } else {
                raw
            };
            layers.set_raw(key, raw, Source::Env { var: (*var).into() })?;
        }
    }
    for (var, raw) in env.iter().filter(|(var, _)| var.starts_with("GYMOPS_")) {
        if RESERVED_ENV_VARS.contains(&var.as_str()) || var == "GYMOPS_ENVIRONMENT" {
            continue;
        }
        if let Some(spec) = secret_for_env(var) {
            layers.add_secret(
                spec.key,
                Secret::new(raw.clone()),
                Source::Env { var: var.clone() },
            );
            continue;
        }
        let Some(key) = layers.key_for_env_var(var) else {
            return Err(anyhow!("environment variable {var} is not a gymops setting")).hint(
                "unset it; setting variables are GYMOPS_ + the key in upper snake case, as `gymops config show` lists",
            );
        };
        layers.set_raw(&key, raw, Source::Env { var: var.clone() })?;
    }
    layers.validate()?;

    // Flags.
    for (key, raw, flag) in &overrides.values {
        layers.set_raw(key, raw, Source::Flag { flag: flag.clone() })?;
    }
    if let Some(url) = &overrides.db_connection {
        apply_db_connection(url, &mut layers, &mut warnings)?;
    }
    let mut settings = layers.validate()?;

    for (key, value, flag) in &overrides.secrets {
        let Some(spec) = SECRETS.iter().find(|spec| spec.key == key) else {
            bail!("{key} is not a secret setting");
        };
        layers.add_secret(spec.key, value.clone(), Source::Flag { flag: flag.clone() });
    }

    // Each secret: the highest layer wins; a secret file counts at its own layer.
    let mut entries: Vec<Entry> = layers
        .flat
        .iter()
        .map(|(key, value)| Entry {
            key: key.clone(),
            value: mask_url(&yaml_scalar_text(value)),
            source: layers.sources.get(key).cloned().unwrap_or(Source::Default),
            secret: false,
        })
        .collect();
    for spec in SECRETS {
        // A file gymops writes itself may not be there yet (see `file_may_be_missing`).
        let file = layers
            .flat
            .get(spec.file_key)
            .and_then(|value| match value {
                Value::String(path) => Some(base_dir.join(path)),
                _ => None,
            })
            .filter(|path| !spec.file_may_be_missing || path.exists());
        if let Some(path) = file {
            let source = layers
                .sources
                .get(spec.file_key)
                .cloned()
                .unwrap_or(Source::Default);
            let text = std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "cannot read {} {} (from {source})",
                        spec.file_key,
                        path.display()
                    )
                })
                .hint(format!(
                    "point {} at a readable file holding only the secret",
                    spec.file_key
                ))?;
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            layers.add_secret(spec.key, Secret::new(value), source);
        }
        let chosen = layers
            .secrets
            .get(spec.key)
            .and_then(|candidates| candidates.iter().max_by_key(|(_, source)| source.rank()))
            .cloned();
        let secret = chosen.as_ref().map(|(secret, _)| secret.clone());
        match spec.key {
            "postgres.password" => settings.postgres.password = secret,
            "notify.slack.webhook_url" => settings.notify.slack.webhook_url = secret,
            "notify.webhook.url" => settings.notify.webhook.url = secret,
            "notify.email.password" => settings.notify.email.password = secret,
            "backup.passphrase" => settings.backup.passphrase = secret,
            "metrics.relay_token" => settings.metrics.relay_token = secret,
            "backup.s3.access_key_id" => settings.backup.s3.access_key_id = secret,
            "backup.s3.secret_access_key" => settings.backup.s3.secret_access_key = secret,
            other => bail!("secret {other} has no place in the settings"),
        }
        entries.push(Entry {
            key: spec.key.into(),
            value: if chosen.is_some() {
                MASK.into()
            } else {
                "-".into()
            },
            source: chosen.map(|(_, source)| source).unwrap_or(Source::Default),
            secret: true,
        });
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));

    // Values that parse but cannot work: one error naming the key and where it came from.
    if let Some((key, why)) = super::validate::problems(&settings).into_iter().next() {
        let source = layers
            .sources
            .get(&key)
            .map(|source| format!(" (from {source})"))
            .unwrap_or_default();
        return Err(anyhow!("invalid setting `{key}`{source}: {why}"))
            .hint("fix it in gymops.yaml or the environment (`gymops config show` lists every key and where it comes from)");
    }

    Ok(Loaded {
        settings,
        entries,
        config_file,
        env_file,
        env_file_found,
        base_dir,
        warnings,
    })
}

/// gymops.yaml is a few KiB; a larger file is not one.
pub const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of a settings or compose file: a deeper one fails at once.
pub const MAX_NESTING: usize = 64;

/// Refuse YAML nested deeper than [`MAX_NESTING`] before parsing it (a bomb of `[[[[...`
/// or deep indentation). Counts open brackets and indentation levels: an upper bound.
pub fn check_nesting(text: &str) -> std::result::Result<(), usize> {
    let mut depth: usize = 0;
    let mut max: usize = 0;
    for c in text.chars() {
        match c {
            '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let indentation = text
        .lines()
        .map(|line| line.len() - line.trim_start_matches([' ', '-']).len())
        .max()
        .unwrap_or(0);
    // Two spaces a level is the narrowest indentation YAML files use.
    if max > MAX_NESTING || indentation / 2 > MAX_NESTING {
        return Err(MAX_NESTING);
    }
    Ok(())
}

fn read_config_file(path: &Path, layers: &mut Layers) -> Result<()> {
    let text = crate::fsutil::read_text_file(path, "config file", MAX_SETTINGS_BYTES)
        .hint("check the path given with --config or GYMOPS_CONFIG")?;
    check_nesting(&text).map_err(|depth| {
        anyhow!(
            "{}: nested more than {depth} levels deep: not a gymops.yaml",
            path.display()
        )
    })?;
    if text.trim().is_empty() {
        return Ok(());
    }
    if let Some((line, spec)) = secret_key_line(&text) {
        let env_file = spec
            .env_file_var
            .map(|var| format!(", {var} in the env file"))
            .unwrap_or_default();
        return Err(anyhow!(
            "{}: line {line}: key `{}`: secrets are not read from gymops.yaml",
            path.display(),
            spec.key
        ))
        .hint(format!(
            "set {}{env_file}, or {} (a file holding only the secret)",
            spec.env, spec.file_key
        ));
    }
    // Typed parse first: serde_yaml knows the key, line and column of an unknown key or bad value.
    if let Err(err) = serde_yaml::from_str::<Settings>(&text) {
        let (key, message) = explain_yaml_error(&err);
        let line = err
            .location()
            .map(|l| format!(": line {}", l.line()))
            .unwrap_or_default();
        let key = key.map(|key| format!(": key `{key}`")).unwrap_or_default();
        return Err(anyhow!("{}{line}{key}: {message}", path.display())).hint(
            "fix that key (every key and its default: `gymops config show`, docs/configuration.md)",
        );
    }
    let value: Value =
        serde_yaml::from_str(&text).map_err(|err| anyhow!("{}: {err}", path.display()))?;
    if let Some(name) = dotted_name(&value) {
        return Err(anyhow!("{}: name `{name}` contains a dot", path.display()))
            .hint("service and environment names are compose names: letters, digits, `_` and `-`");
    }
    if let Some(Value::Mapping(services)) = value.get("services") {
        if services.is_empty() {
            return Err(anyhow!(
                "{}: `services` is empty: gymops would have no service to look after",
                path.display()
            ))
            .hint("list the deployment's services (backend, postgres, minio ...), or leave `services` out for the guide's three");
        }
    }
    let file_keys = flatten(&value, &layers.defaults);
    // `services:` in the file is the deployment's list of services: it replaces the default
    // three rather than adding to them (a deployment without MinIO lists no minio).
    if file_keys.keys().any(|key| key.starts_with("services.")) {
        layers.flat.retain(|key, _| !key.starts_with("services."));
        layers
            .sources
            .retain(|key, _| !key.starts_with("services."));
    }
    for (key, child) in file_keys {
        layers.set(
            &key,
            child,
            Source::File {
                path: path.to_path_buf(),
            },
        );
    }
    Ok(())
}

/// The first mapping key with a dot in it (it would break dotted keys), if any.
fn dotted_name(value: &Value) -> Option<String> {
    let Value::Mapping(map) = value else {
        return None;
    };
    map.iter().find_map(|(key, child)| match key {
        Value::String(name) if name.contains('.') => Some(name.clone()),
        _ => dotted_name(child),
    })
}

/// The line (1-based) of a secret key written in block style (`postgres:` then an indented
/// `password:`), and which secret it is.
fn secret_key_line(text: &str) -> Option<(usize, &'static SecretSpec)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() || trimmed.starts_with('-') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some((key, rest)) = trimmed.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(['"', '\'']).to_string();
        while stack.last().is_some_and(|(level, _)| *level >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        let path: Vec<&str> = stack.iter().map(|(_, key)| key.as_str()).collect();
        let path = path.join(".");
        if let Some(spec) = SECRETS.iter().find(|spec| spec.key == path) {
            return Some((index + 1, spec));
        }
        // Flow style on one line: `postgres: {password: x}`.
        if let Some(spec) = SECRETS.iter().find(|spec| {
            spec.key
                .strip_prefix(&format!("{path}."))
                .is_some_and(|last| !last.contains('.') && rest.contains(&format!("{last}:")))
        }) {
            return Some((index + 1, spec));
        }
    }
    None
}

fn read_env_file(path: &Path, layers: &mut Layers) -> Result<()> {
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

fn apply_db_connection(raw: &str, layers: &mut Layers, warnings: &mut Vec<String>) -> Result<()> {
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

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn entry<'a>(loaded: &'a Loaded, key: &str) -> &'a Entry {
        loaded.entries.iter().find(|e| e.key == key).unwrap()
    }

    #[test]
    fn layers_apply_in_order_and_say_where_values_came_from() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "project: from_file\npostgres:\n  port: 6000\n  database: file_db\nhealth:\n  timeout: 3s\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "POSTGRES_DB=envfile_db\nPOSTGRES_PASSWORD=pw-from-env-file\nOTHER=1\n",
        )
        .unwrap();
        let overrides = Overrides {
            values: vec![("health.timeout".into(), "2s".into(), "--timeout".into())],
            ..Overrides::default()
        };
        let loaded = load(
            &overrides,
            &env(&[("GYMOPS_POSTGRES_PORT", "7000")]),
            dir.path(),
        )
        .unwrap();
        let s = &loaded.settings;
        assert_eq!(s.project, "from_file");
        assert_eq!(s.postgres.database, "envfile_db");
        assert_eq!(s.postgres.port, 7000);
        assert_eq!(s.health.timeout, std::time::Duration::from_secs(2));
        assert_eq!(
            s.postgres.password.as_ref().unwrap().expose(),
            "pw-from-env-file"
        );
        assert_eq!(
            entry(&loaded, "project").source.to_string(),
            format!("file {}", dir.path().join("gymops.yaml").display())
        );
        assert_eq!(
            entry(&loaded, "postgres.port").source,
            Source::Env {
                var: "GYMOPS_POSTGRES_PORT".into()
            }
        );
        assert_eq!(
            entry(&loaded, "health.timeout").source,
            Source::Flag {
                flag: "--timeout".into()
            }
        );
        assert_eq!(entry(&loaded, "postgres.user").source, Source::Default);
        let password = entry(&loaded, "postgres.password");
        assert_eq!(password.value, MASK);
        assert!(
            matches!(&password.source, Source::EnvFile { var, .. } if var == "POSTGRES_PASSWORD")
        );
    }

    #[test]
    fn an_unknown_key_names_the_file_the_line_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "project: x\nbackend:\n  urll: http://x\n",
        )
        .unwrap();
        let err = load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err();
        let (message, hint) = crate::error::describe(&err);
        assert!(message.contains("gymops.yaml"), "{message}");
        assert!(
            message.contains("key `backend.urll`: unknown key"),
            "{message}"
        );
        assert!(message.contains("line 3"), "{message}");
        assert!(hint.is_some());
    }

    #[test]
    fn a_bad_value_names_the_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("gymops.yaml"), "health:\n  timeout: soon\n").unwrap();
        let (message, _) = crate::error::describe(
            &load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err(),
        );
        assert!(message.contains("health.timeout"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn a_password_in_the_yaml_file_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "postgres:\n  user: app\n  password: hunter2\n",
        )
        .unwrap();
        let (message, hint) = crate::error::describe(
            &load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err(),
        );
        assert!(
            message.contains("line 3") && message.contains("postgres.password"),
            "{message}"
        );
        assert!(!message.contains("hunter2"));
        assert!(hint.unwrap().contains("GYMOPS_POSTGRES_PASSWORD"));
    }

    #[test]
    fn bad_environment_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(
            &Overrides::default(),
            &env(&[("GYMOPS_POSTGRES_PORT", "five")]),
            dir.path(),
        )
        .unwrap_err();
        assert!(crate::error::describe(&err)
            .0
            .contains("GYMOPS_POSTGRES_PORT"));
        let err = load(
            &Overrides::default(),
            &env(&[("GYMOPS_BACKEND_URL", "::nope")]),
            dir.path(),
        )
        .unwrap_err();
        let (message, _) = crate::error::describe(&err);
        assert!(
            message.contains("GYMOPS_BACKEND_URL") && message.contains("backend.url"),
            "{message}"
        );
        let err = load(
            &Overrides::default(),
            &env(&[("GYMOPS_BACKEND_URLL", "x")]),
            dir.path(),
        )
        .unwrap_err();
        assert!(crate::error::describe(&err)
            .0
            .contains("GYMOPS_BACKEND_URLL is not a gymops setting"));
    }

    #[test]
    fn the_environment_selects_the_env_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "POSTGRES_DB=dev_db\n").unwrap();
        std::fs::write(dir.path().join(".env.production"), "POSTGRES_DB=prod_db\n").unwrap();
        let overrides = Overrides {
            environment: Some("production".into()),
            ..Overrides::default()
        };
        let loaded = load(&overrides, &env(&[]), dir.path()).unwrap();
        assert_eq!(loaded.settings.postgres.database, "prod_db");
        assert_eq!(
            loaded.settings.environments["production"].compose_files,
            vec![
                PathBuf::from("docker-compose.yml"),
                PathBuf::from("docker-compose.prod.yml")
            ]
        );
        let overrides = Overrides {
            environment: Some("qa".into()),
            ..Overrides::default()
        };
        let (message, hint) =
            crate::error::describe(&load(&overrides, &env(&[]), dir.path()).unwrap_err());
        assert!(message.contains("unknown environment `qa`"), "{message}");
        assert!(hint.unwrap().contains("development, production, staging"));
    }

    #[test]
    fn db_connection_sets_the_postgres_keys_and_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = Overrides {
            db_connection: Some("postgres://app%40x:p%2Fw@db.internal:6543/gym".into()),
            ..Overrides::default()
        };
        let loaded = load(
            &overrides,
            &env(&[("GYMOPS_POSTGRES_PASSWORD", "lower")]),
            dir.path(),
        )
        .unwrap();
        let pg = &loaded.settings.postgres;
        assert_eq!(
            (
                pg.host.as_str(),
                pg.port,
                pg.user.as_str(),
                pg.database.as_str()
            ),
            ("db.internal", 6543, "app@x", "gym")
        );
        assert_eq!(pg.password.as_ref().unwrap().expose(), "p/w");
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded
            .entries
            .iter()
            .all(|e| !e.value.contains("p/w") && !e.value.contains("p%2Fw")));
    }

    #[test]
    fn docker_host_comes_from_docker_host_below_gymops_docker_host() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(
            &Overrides::default(),
            &env(&[("DOCKER_HOST", "tcp://127.0.0.1:1")]),
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            loaded.settings.docker.host.as_deref(),
            Some("tcp://127.0.0.1:1")
        );
        let both = env(&[
            ("DOCKER_HOST", "tcp://127.0.0.1:1"),
            ("GYMOPS_DOCKER_HOST", "unix:///x.sock"),
        ]);
        let loaded = load(&Overrides::default(), &both, dir.path()).unwrap();
        assert_eq!(
            loaded.settings.docker.host.as_deref(),
            Some("unix:///x.sock")
        );
    }

    #[test]
    fn password_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "postgres:\n  password_file: pw\n",
        )
        .unwrap();
        let loaded = load(&Overrides::default(), &env(&[]), dir.path()).unwrap();
        assert_eq!(
            loaded.settings.postgres.password.unwrap().expose(),
            "from-file"
        );
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "postgres:\n  password_file: missing\n",
        )
        .unwrap();
        assert!(load(&Overrides::default(), &env(&[]), dir.path()).is_err());
    }

    #[test]
    fn services_in_the_file_replace_the_default_list() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "services:\n  backend: {container: api}\n  worker: {}\n",
        )
        .unwrap();
        let loaded = load(&Overrides::default(), &env(&[]), dir.path()).unwrap();
        let names: Vec<&String> = loaded.settings.services.keys().collect();
        assert_eq!(names, vec!["backend", "worker"]);
        assert_eq!(
            loaded.settings.services["backend"].container.as_deref(),
            Some("api")
        );
        let defaults = load(
            &Overrides::default(),
            &env(&[]),
            tempfile::tempdir().unwrap().path(),
        )
        .unwrap();
        assert_eq!(defaults.settings.services.len(), 3);
    }

    #[test]
    fn a_name_with_a_dot_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            "services:\n  my.app:\n    container: x\n",
        )
        .unwrap();
        let err = load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err();
        let (message, _) = crate::error::describe(&err);
        assert!(
            message.contains("name `my.app` contains a dot"),
            "{message}"
        );
    }

    #[test]
    fn percent_decoding_handles_escapes_and_plain_text() {
        assert_eq!(percent_decode("a%40b"), "a@b");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("trailing%4"), "trailing%4");
    }
}
