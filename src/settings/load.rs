//! Merging the settings layers, with the source of every value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Serialize, Serializer};
use serde_yaml::Value;

use super::flat::{flatten, yaml_scalar_text};
use super::secret::{mask_url, Secret};
use super::Settings;
use crate::error::HintExt;

use super::env::*;
use super::file::*;
use super::layers::*;
use super::secret::*;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File {
        path: PathBuf,
    },
    EnvFile {
        path: PathBuf,
        var: String,
    },
    Env {
        var: String,
    },
    /// A site's part of gymops.yaml (`--site`).
    Site {
        name: String,
    },
    Flag {
        flag: String,
    },
    /// The engine of a Docker context (docker.host, tls_verify, cert_path).
    DockerContext {
        name: String,
    },
}

impl Source {
    /// Later layers win: default < gymops.yaml < env file < environment < the site < flags.
    pub(super) fn rank(&self) -> u8 {
        match self {
            Source::Default => 0,
            Source::File { .. } => 1,
            Source::EnvFile { .. } => 2,
            Source::Env { .. } => 3,
            Source::Site { .. } => 4,
            Source::Flag { .. } => 5,
            // Only ever the engine's keys, which nothing else sets once a context is chosen.
            Source::DockerContext { .. } => 5,
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
            Source::Site { name } => write!(f, "site {name}"),
            Source::Flag { flag } => write!(f, "flag {flag}"),
            Source::DockerContext { name } => write!(f, "Docker context {name}"),
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
    /// `--site` / `GYMOPS_SITE`: a site of gymops.yaml's `sites`.
    pub site: Option<String>,
    /// The run's settings already checked every site of this gymops.yaml (the fleet loads
    /// each site after that): skip checking them again.
    pub sites_checked: bool,
    /// Other flags that set a setting.
    pub values: Vec<FlagValue>,
    /// `--db-connection postgres://user:pw@host:port/db`.
    pub db_connection: Option<String>,
    /// Flags that give a secret.
    pub secrets: Vec<FlagSecret>,
}

/// A flag that sets a setting (every one there is: docs/configuration.md, step 5).
#[derive(Debug, Clone, PartialEq)]
pub enum FlagValue {
    /// `health --timeout`
    HealthTimeout(std::time::Duration),
    /// `backup ... --dir` (already absolute: relative to where the command runs)
    BackupDir(PathBuf),
    /// `alert send --to`
    EmailTo(Vec<String>),
    /// `--context` (every command)
    DockerContext(String),
}

impl FlagValue {
    pub fn key(&self) -> &'static str {
        match self {
            FlagValue::HealthTimeout(_) => "health.timeout",
            FlagValue::BackupDir(_) => "backup.dir",
            FlagValue::EmailTo(_) => "notify.email.to",
            FlagValue::DockerContext(_) => "docker.context",
        }
    }

    pub fn flag(&self) -> &'static str {
        match self {
            FlagValue::HealthTimeout(_) => "--timeout",
            FlagValue::BackupDir(_) => "--dir",
            FlagValue::EmailTo(_) => "--to",
            FlagValue::DockerContext(_) => "--context",
        }
    }

    /// The value as the layers take it (typed like the setting).
    fn raw(&self) -> String {
        match self {
            FlagValue::HealthTimeout(d) => humantime::format_duration(*d).to_string(),
            FlagValue::BackupDir(dir) => dir.to_string_lossy().into_owned(),
            FlagValue::EmailTo(to) => to.join(","),
            FlagValue::DockerContext(name) => name.clone(),
        }
    }
}

/// A flag that gives a secret.
#[derive(Debug, Clone)]
pub enum FlagSecret {
    /// `alert send --webhook-url` with `--channel slack`
    SlackWebhookUrl(Secret),
    /// `alert send --webhook-url` otherwise
    WebhookUrl(Secret),
}

impl FlagSecret {
    pub(super) fn key(&self) -> &'static str {
        match self {
            FlagSecret::SlackWebhookUrl(_) => "notify.slack.webhook_url",
            FlagSecret::WebhookUrl(_) => "notify.webhook.url",
        }
    }

    pub(super) fn value(&self) -> &Secret {
        match self {
            FlagSecret::SlackWebhookUrl(secret) | FlagSecret::WebhookUrl(secret) => secret,
        }
    }
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
    /// The site these settings are for (`--site`); None: the top level.
    pub site: Option<String>,
    /// Every site gymops.yaml names.
    pub sites: Vec<String>,
}

impl Loaded {
    /// Resolve a path from settings against the config file's directory.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        self.base_dir.join(path)
    }
}

/// Merge the layers (defaults, gymops.yaml, the env file, the environment, flags), resolve
/// the secrets, and validate the result: one function per layer below.
pub fn load(overrides: &Overrides, env: &BTreeMap<String, String>, cwd: &Path) -> Result<Loaded> {
    let mut layers = defaults_layer()?;
    let mut warnings = Vec::new();
    let (config_file, base_dir) = config_file_layer(overrides, cwd, &mut layers)?;
    let environment = environment_name(overrides, env, &mut layers)?;
    // The site twice: before the env file (a site may name its own, and the compose files
    // of its environments), and over the environment (a site's keys are its own).
    site_layer(overrides, config_file.as_deref(), &mut layers)?;
    let (env_file, env_file_found) = env_file_layer(&environment, &base_dir, &mut layers)?;
    layers.validate()?;
    environment_layer(env, &mut layers)?;
    layers.validate()?;
    let site = site_layer(overrides, config_file.as_deref(), &mut layers)?;
    layers.validate()?;
    flag_layer(overrides, &mut layers, &mut warnings)?;
    let mut settings = layers.validate()?;
    let mut entries = value_entries(&layers);
    entries.extend(super::secret::resolve(
        overrides,
        &base_dir,
        &mut layers,
        &mut settings,
    )?);
    engine_layer(env, &layers, &mut settings, &mut entries)?;
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    check_values(&settings, &layers)?;
    let sites = layers.sites.keys().cloned().collect();
    Ok(Loaded {
        settings,
        entries,
        config_file,
        env_file,
        env_file_found,
        base_dir,
        warnings,
        site,
        sites,
    })
}

/// The site of `--site`: its part of gymops.yaml over everything but the flags.
fn site_layer(
    overrides: &Overrides,
    config_file: Option<&Path>,
    layers: &mut Layers,
) -> Result<Option<String>> {
    let Some(name) = &overrides.site else {
        return Ok(None);
    };
    let Some(site) = layers.sites.get(name).cloned() else {
        // (The first application reports it; the second cannot get here.)
        let file = config_file
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "gymops.yaml (none found)".into());
        let known: Vec<&str> = layers.sites.keys().map(String::as_str).collect();
        return Err(anyhow!("unknown site `{name}`")).hint(if known.is_empty() {
            format!("{file} names no sites: add them under `sites:`")
        } else {
            format!("sites in {file}: {}", known.join(", "))
        });
    };
    layers.set_tree(&site, Source::Site { name: name.clone() });
    // A site's state lives apart from every other site's, unless the site says where:
    // backups, the release history (rollback must never take another site's release),
    // the deploy report, incidents and the scheduled jobs' names.
    let own = super::flat::flatten(&site, &layers.defaults);
    for (key, kind) in SITE_STATE {
        // Set by the site, or already put apart by the first application.
        if own.contains_key(*key) || matches!(layers.sources.get(*key), Some(Source::Site { .. })) {
            continue;
        }
        let Some(Value::String(inherited)) = layers.flat.get(*key).cloned() else {
            continue;
        };
        let apart = site_state_path(&inherited, name, *kind);
        layers.set(
            key,
            Value::String(apart),
            Source::Site { name: name.clone() },
        );
    }
    Ok(Some(name.clone()))
}

#[derive(Clone, Copy)]
enum StateKind {
    Dir,
    File,
    Prefix,
    /// A name: `FitnessGym` → `FitnessGym-SITE`.
    Name,
}

/// The settings that say where a deployment's state is kept.
const SITE_STATE: &[(&str, StateKind)] = &[
    ("backup.dir", StateKind::Dir),
    ("backup.s3.prefix", StateKind::Prefix),
    ("metrics.releases_file", StateKind::File),
    ("deploy.report_file", StateKind::File),
    ("health.notify_state_file", StateKind::File),
    ("incident.dir", StateKind::Dir),
    // Scheduled units and tasks are named by it.
    ("schedule.name_prefix", StateKind::Name),
];

/// `backups` → `backups/SITE`; `.gymops/releases.json` → `.gymops/SITE/releases.json`;
/// the S3 prefix `backups/` → `backups/SITE/`; the unit name prefix `FitnessGym` →
/// `FitnessGym-SITE`.
fn site_state_path(inherited: &str, site: &str, kind: StateKind) -> String {
    match kind {
        StateKind::Dir => Path::new(inherited).join(site).display().to_string(),
        StateKind::File => {
            let path = Path::new(inherited);
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            match (path.parent(), name) {
                (Some(parent), Some(name)) => parent.join(site).join(name).display().to_string(),
                _ => Path::new(site).join(inherited).display().to_string(),
            }
        }
        StateKind::Name => format!("{inherited}-{site}"),
        StateKind::Prefix => {
            let base = inherited.trim_end_matches('/');
            if base.is_empty() {
                format!("{site}/")
            } else {
                format!("{base}/{site}/")
            }
        }
    }
}

/// The embedded defaults, every key from [`Source::Default`].
fn defaults_layer() -> Result<Layers> {
    let defaults =
        serde_yaml::to_value(Settings::default()).context("cannot encode the defaults")?;
    let flat = flatten(&defaults, &defaults);
    let sources = flat
        .keys()
        .map(|key| (key.clone(), Source::Default))
        .collect();
    Ok(Layers {
        defaults,
        defaults_flat: flat.clone(),
        flat,
        sources,
        secrets: BTreeMap::new(),
        sites: BTreeMap::new(),
    })
}

/// gymops.yaml: `--config`, else here or the nearest parent that has one (like cargo and
/// docker-compose). Returns the file and the directory relative paths are resolved from.
fn config_file_layer(
    overrides: &Overrides,
    cwd: &Path,
    layers: &mut Layers,
) -> Result<(Option<PathBuf>, PathBuf)> {
    let config_file = match &overrides.config {
        Some(path) => Some(cwd.join(path)),
        None => cwd.ancestors().find_map(|dir| {
            ["gymops.yaml", "gymops.yml"]
                .iter()
                .map(|name| dir.join(name))
                .find(|p| p.is_file())
        }),
    };
    let base_dir = match &config_file {
        Some(path) => {
            read_config_file(path, layers, !overrides.sites_checked)?;
            path.parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.to_path_buf())
        }
        None => cwd.to_path_buf(),
    };
    Ok((config_file, base_dir))
}

/// The selected environment, settled before the rest of the environment's layer because it
/// decides which env file is read.
fn environment_name(
    overrides: &Overrides,
    env: &BTreeMap<String, String>,
    layers: &mut Layers,
) -> Result<String> {
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
    match layers.flat.get("environment") {
        Some(Value::String(name)) => Ok(name.clone()),
        _ => bail!("the setting `environment` must be a name"),
    }
}

/// The environment's compose env file, when it exists. Returns it and whether it was found.
fn env_file_layer(
    environment: &str,
    base_dir: &Path,
    layers: &mut Layers,
) -> Result<(PathBuf, bool)> {
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
    let found = env_file.is_file();
    if found {
        read_env_file(&env_file, layers)?;
    }
    Ok((env_file, found))
}

/// Docker's own variables, then `GYMOPS_*` variables (a secret's variable goes to its
/// candidates; an unknown one is an error).
fn environment_layer(env: &BTreeMap<String, String>, layers: &mut Layers) -> Result<()> {
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
    Ok(())
}

/// Flags: the typed overrides of the command's arguments, then `--db-connection`.
fn flag_layer(
    overrides: &Overrides,
    layers: &mut Layers,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for value in &overrides.values {
        layers.set_raw(
            value.key(),
            &value.raw(),
            Source::Flag {
                flag: value.flag().into(),
            },
        )?;
    }
    if let Some(url) = &overrides.db_connection {
        apply_db_connection(url, layers, warnings)?;
    }
    Ok(())
}

/// The engine: `docker.host`, or a Docker context's endpoint, by the docker CLI's precedence
/// ([`super::contexts::choose`]). A chosen context sets docker.host, tls_verify and
/// cert_path (DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are the default context's, as for the
/// docker CLI), and `docker.context` says which context is in use.
fn engine_layer(
    env: &BTreeMap<String, String>,
    layers: &Layers,
    settings: &mut Settings,
    entries: &mut [Entry],
) -> Result<()> {
    use super::contexts;
    let rank = |key: &str| {
        layers
            .sources
            .get(key)
            .filter(|_| layers.flat.get(key).is_some_and(|v| !v.is_null()))
            .map(Source::rank)
            .unwrap_or(0)
    };
    let dir = contexts::config_dir(env);
    let context = settings.docker.context.clone().map(|name| {
        let from = layers
            .sources
            .get("docker.context")
            .cloned()
            .unwrap_or(Source::Default)
            .to_string();
        (name, rank("docker.context"), from)
    });
    // config.json is read only when nothing else names the engine.
    let current = if context.is_none() && rank("docker.host") == 0 {
        contexts::current_context(&dir)?
    } else {
        None
    };
    let choice = contexts::choose(
        rank("docker.host"),
        context
            .as_ref()
            .map(|(name, rank, from)| (name.as_str(), *rank, from.clone())),
        current,
        &dir,
    )?;
    let contexts::Choice::Context { name, from } = choice else {
        settings.docker.context = None;
        return Ok(());
    };
    let found = contexts::find(&dir, &name)
        .with_context(|| format!("Docker context `{name}` (from {from})"))?;
    if found.skip_tls_verify {
        return Err(anyhow!(
            "Docker context `{name}` skips TLS verification of its engine"
        ))
        .hint("give the context the engine's CA instead (`docker context update --docker ca=...`): gymops does not talk to an engine it cannot verify");
    }
    let docker = &mut settings.docker;
    docker.host = Some(found.host.clone());
    docker.tls_verify = found.tls_dir.is_some();
    docker.cert_path = found.tls_dir.clone();
    docker.context = Some(name.clone());
    for entry in entries.iter_mut() {
        let value = match entry.key.as_str() {
            "docker.host" => mask_url(&found.host),
            "docker.tls_verify" => found.tls_dir.is_some().to_string(),
            "docker.cert_path" => found
                .tls_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "null".into()),
            _ => continue,
        };
        entry.value = value;
        entry.source = Source::DockerContext { name: name.clone() };
    }
    Ok(())
}

/// Every non-secret value with its source, for `config show`.
fn value_entries(layers: &Layers) -> Vec<Entry> {
    layers
        .flat
        .iter()
        .map(|(key, value)| Entry {
            key: key.clone(),
            value: mask_url(&yaml_scalar_text(value)),
            source: layers.sources.get(key).cloned().unwrap_or(Source::Default),
            secret: false,
        })
        .collect()
}

/// Values that parse but cannot work: one error naming the key and where it came from.
fn check_values(settings: &Settings, layers: &Layers) -> Result<()> {
    if let Some((key, why)) = super::validate::problems(settings).into_iter().next() {
        let source = layers
            .sources
            .get(&key)
            .map(|source| format!(" (from {source})"))
            .unwrap_or_default();
        return Err(anyhow!("invalid setting `{key}`{source}: {why}"))
            .hint("fix it in gymops.yaml or the environment (`gymops config show` lists every key and where it comes from)");
    }
    Ok(())
}

/// gymops.yaml is a few KiB; a larger file is not one.
pub const MAX_SETTINGS_BYTES: u64 = 1024 * 1024;
/// Deepest nesting of a settings or compose file: a deeper one fails at once.
pub const MAX_NESTING: usize = 64;

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
