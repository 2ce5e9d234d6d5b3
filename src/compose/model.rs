//! The compose model gymops deploys: what one file may say (every key gymops supports, and
//! an error naming any other), normalized to one shape (environment as a map, ports and
//! volumes parsed, depends_on with conditions), and merged file over file with compose's
//! override rules. Pure: reading files and the environment is in [`super::load`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

/// A service's dependency condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Build {
    /// Resolved against the directory of the file that set it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Port {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// A port or a range (`8000-8010`); none: an ephemeral port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// A port or a range.
    pub target: String,
    pub protocol: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Bind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Bind propagation (`rslave`...), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// The named volume, or the host path (resolved); none: an anonymous volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Healthcheck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub interval: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub start_period: Option<Duration>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Logging {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Resources {
    /// CPUs (1.5 = one and a half).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u64>,
}

/// A service after normalization. Optional fields are "not said" (so an override file can
/// leave them alone).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// None: passed through from gymops' own environment, as compose does.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    /// Network name -> aliases.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// `HOST:IP` entries for /etc/hosts (`host-gateway` allowed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// `host` to share the host's PID namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Network {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

pub type Volume = Network;

/// One file, normalized.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct File {
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
}

mod opt_duration {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.serialize_str(&humantime::format_duration(*d).to_string()),
            None => serializer.serialize_none(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// What a file may say. Keys outside these are errors; fields that take several shapes are
// read as YAML values and converted with a message naming their path.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<Value>,
    #[serde(default)]
    services: Option<BTreeMap<String, Option<RawService>>>,
    #[serde(default)]
    networks: Option<BTreeMap<String, Option<RawTopLevel>>>,
    #[serde(default)]
    volumes: Option<BTreeMap<String, Option<RawTopLevel>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    image: Option<String>,
    build: Option<Value>,
    container_name: Option<String>,
    command: Option<Value>,
    entrypoint: Option<Value>,
    environment: Option<Value>,
    env_file: Option<Value>,
    ports: Option<Vec<Value>>,
    volumes: Option<Vec<Value>>,
    networks: Option<Value>,
    depends_on: Option<Value>,
    healthcheck: Option<RawHealthcheck>,
    restart: Option<String>,
    labels: Option<Value>,
    logging: Option<RawLogging>,
    deploy: Option<RawDeploy>,
    profiles: Option<Vec<String>>,
    extra_hosts: Option<Value>,
    pid: Option<String>,
    privileged: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    context: Option<String>,
    dockerfile: Option<String>,
    args: Option<Value>,
    target: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthcheck {
    test: Option<Value>,
    interval: Option<Value>,
    timeout: Option<Value>,
    retries: Option<u32>,
    start_period: Option<Value>,
    disable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    driver: Option<String>,
    options: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeploy {
    resources: Option<RawResources>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    limits: Option<RawLimits>,
    reservations: Option<RawReservations>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    cpus: Option<Value>,
    memory: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReservations {
    memory: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopLevel {
    name: Option<String>,
    driver: Option<String>,
    external: Option<bool>,
    labels: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    condition: Option<Condition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    target: Value,
    published: Option<Value>,
    host_ip: Option<String>,
    protocol: Option<String>,
    #[allow(dead_code)]
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    #[serde(rename = "type")]
    kind: String,
    source: Option<String>,
    target: String,
    read_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceNetwork {
    aliases: Option<Vec<String>>,
}

/// Drop `x-` extension keys (compose's extension fields) from a mapping.
fn without_extensions(value: &mut Value) {
    if let Value::Mapping(map) = value {
        map.retain(|key, _| !key.as_str().is_some_and(|k| k.starts_with("x-")));
    }
}

/// Read an interpolated file's YAML. `dir` resolves relative paths (build context, binds,
/// env files). Errors name the path of the offending key.
pub fn parse(mut value: Value, dir: &Path) -> Result<File, String> {
    if value.is_null() {
        return Ok(File::default());
    }
    if !value.is_mapping() {
        return Err("the file is not a mapping of compose keys".into());
    }
    without_extensions(&mut value);
    if let Some(Value::Mapping(services)) = value.get_mut("services") {
        for (_, service) in services.iter_mut() {
            without_extensions(service);
        }
    }
    let raw: RawFile = typed(value, "")?;
    let mut file = File::default();
    for (name, raw) in raw.services.unwrap_or_default() {
        let service = match raw {
            Some(raw) => service(raw, dir, &format!("services.{name}"))?,
            None => Service::default(),
        };
        file.services.insert(name, service);
    }
    for (section, entries, out) in [
        ("networks", raw.networks, &mut file.networks),
        ("volumes", raw.volumes, &mut file.volumes),
    ] {
        for (name, raw) in entries.unwrap_or_default() {
            let entry = match raw {
                None => Network::default(),
                Some(raw) => Network {
                    name: raw.name,
                    driver: raw.driver,
                    external: raw.external.unwrap_or(false),
                    labels: match raw.labels {
                        Some(v) => string_map(v, &format!("{section}.{name}.labels"))?,
                        None => BTreeMap::new(),
                    },
                },
            };
            out.insert(name, entry);
        }
    }
    Ok(file)
}

/// Deserialize with the path of an error (`services.backend.healthcheck: unknown field ...`).
fn typed<T: serde::de::DeserializeOwned>(value: Value, prefix: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // For an unknown key the path ends with the key itself: name its parent.
        if let Some(key) = inner
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
        {
            if path == key {
                path = ".".into();
            } else if let Some(parent) = path.strip_suffix(&format!(".{key}")) {
                path = parent.to_string();
            }
        }
        let full = match (prefix.is_empty(), path == ".") {
            (true, true) => String::new(),
            (true, false) => path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{path}"),
        };
        let inner = inner
            .replace("unknown field", "unknown key")
            .replace("expected one of", "gymops supports");
        if full.is_empty() {
            inner
        } else {
            format!("{full}: {inner}")
        }
    })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A mapping of scalars, or a list of `KEY=VALUE` (`KEY` alone: no value).
fn optional_map(value: Value, path: &str) -> Result<BTreeMap<String, Option<String>>, String> {
    match value {
        Value::Mapping(map) => map
            .into_iter()
            .map(|(k, v)| {
                let key = scalar_text(&k).ok_or_else(|| format!("{path}: keys must be names"))?;
                let value = match &v {
                    Value::Null => None,
                    other => Some(scalar_text(other).ok_or_else(|| {
                        format!("{path}.{key}: must be a string, number or boolean")
                    })?),
                };
                Ok((key, value))
            })
            .collect(),
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| {
                let text = scalar_text(&item)
                    .ok_or_else(|| format!("{path}: list items must be KEY=VALUE strings"))?;
                Ok(match text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (text, None),
                })
            })
            .collect(),
        Value::Null => Ok(BTreeMap::new()),
        _ => Err(format!("{path}: must be a mapping or a list of KEY=VALUE")),
    }
}

fn string_map(value: Value, path: &str) -> Result<BTreeMap<String, String>, String> {
    Ok(optional_map(value, path)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// A command: a list, or a string split as a shell would (no shell runs it).
fn command(value: Value, path: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(text) => {
            shell_words::split(&text).map_err(|err| format!("{path}: cannot split `{text}`: {err}"))
        }
        Value::Sequence(items) => items
            .iter()
            .map(|item| scalar_text(item).ok_or_else(|| format!("{path}: items must be strings")))
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(format!("{path}: must be a string or a list of strings")),
    }
}

fn string_list(value: Value, path: &str) -> Result<Vec<String>, String> {
    match value {
        Value::String(text) => Ok(vec![text]),
        Value::Sequence(items) => items
            .iter()
            .map(|item| scalar_text(item).ok_or_else(|| format!("{path}: items must be strings")))
            .collect(),
        _ => Err(format!("{path}: must be a string or a list of strings")),
    }
}

/// Compose durations: `1m30s`, `10s`, `500ms`.
fn duration(value: Value, path: &str) -> Result<Duration, String> {
    let text =
        scalar_text(&value).ok_or_else(|| format!("{path}: must be a duration such as 30s"))?;
    humantime::parse_duration(&text)
        .map_err(|_| format!("{path}: `{text}` is not a duration (write 30s, 1m30s, 500ms)"))
}

/// Compose sizes: `512m`, `1g`, `1.5G`, `100k`, bytes.
pub fn bytes(value: &Value, path: &str) -> Result<u64, String> {
    let text = scalar_text(value).ok_or_else(|| format!("{path}: must be a size such as 512m"))?;
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (number, unit) = match lower.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&lower[..i], &lower[i..]),
        None => (lower, ""),
    };
    let factor: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => {
            return Err(format!(
                "{path}: `{text}` has an unknown unit (use b, k, m, g)"
            ))
        }
    };
    let number: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{path}: `{text}` is not a size (write 512m or 1g)"))?;
    if number < 0.0 {
        return Err(format!("{path}: `{text}` is negative"));
    }
    Ok((number * factor as f64) as u64)
}

/// `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`.
pub fn port(text: &str, path: &str) -> Result<Port, String> {
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((spec, protocol)) => (spec, protocol.to_string()),
        None => (text, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("{path}: `{text}`: unknown protocol `{protocol}`"));
    }
    // An IPv6 host address is in brackets: [::1]:8080:80
    let (host_ip, rest) = if let Some(after) = spec.strip_prefix('[') {
        let (ip, rest) = after
            .split_once("]:")
            .ok_or_else(|| format!("{path}: `{text}`: unclosed `[`"))?;
        (Some(ip.to_string()), rest)
    } else {
        (None, spec)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
        (None, [target]) => (None, None, *target),
        (None, [published, target]) => (None, Some(*published), *target),
        (None, [ip, published, target]) => (Some(ip.to_string()), Some(*published), *target),
        (Some(ip), [published, target]) => (Some(ip), Some(*published), *target),
        _ => {
            return Err(format!(
                "{path}: `{text}` is not [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"
            ))
        }
    };
    let valid = |p: &str| {
        let mut bounds = p.splitn(2, '-');
        bounds.all(|b| b.parse::<u16>().is_ok_and(|n| n > 0))
    };
    if !valid(target) {
        return Err(format!("{path}: `{text}`: `{target}` is not a port"));
    }
    let published = published.filter(|p| !p.is_empty());
    if let Some(published) = published {
        if !valid(published) {
            return Err(format!("{path}: `{text}`: `{published}` is not a port"));
        }
    }
    Ok(Port {
        host_ip: host_ip.filter(|ip| !ip.is_empty()),
        published: published.map(str::to_string),
        target: target.to_string(),
        protocol,
    })
}

fn port_value(value: Value, path: &str) -> Result<Port, String> {
    match value {
        Value::Mapping(_) => {
            let raw: RawPort = typed(value, path)?;
            let target =
                scalar_text(&raw.target).ok_or_else(|| format!("{path}.target: must be a port"))?;
            let mut text = String::new();
            if let Some(ip) = &raw.host_ip {
                text.push_str(ip);
                text.push(':');
            }
            if let Some(published) = raw.published.as_ref().and_then(scalar_text) {
                text.push_str(&published);
                text.push(':');
            } else if raw.host_ip.is_some() {
                text.push(':');
            }
            text.push_str(&target);
            text.push('/');
            text.push_str(raw.protocol.as_deref().unwrap_or("tcp"));
            port(&text, path)
        }
        other => {
            let text = scalar_text(&other)
                .ok_or_else(|| format!("{path}: must be a port string or mapping"))?;
            port(&text, path)
        }
    }
}

/// A host path in a bind: relative to the compose file's directory, `~` to the home.
fn host_path(source: &str, dir: &Path) -> String {
    if let Some(rest) = source.strip_prefix("~/") {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        return home.join(rest).display().to_string();
    }
    let path = Path::new(source);
    if path.is_absolute() {
        source.to_string()
    } else {
        normalize(&dir.join(path)).display().to_string()
    }
}

/// `a/./b/../c` -> `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn mount_value(value: Value, dir: &Path, path: &str) -> Result<Mount, String> {
    match value {
        Value::Mapping(_) => {
            let raw: RawMount = typed(value, path)?;
            let kind = match raw.kind.as_str() {
                "volume" => MountKind::Volume,
                "bind" => MountKind::Bind,
                other => {
                    return Err(format!(
                        "{path}.type: `{other}` is not supported (gymops supports volume and bind)"
                    ))
                }
            };
            let source = match (kind, raw.source) {
                (MountKind::Bind, None) => return Err(format!("{path}: a bind needs a source")),
                (MountKind::Bind, Some(source)) => Some(host_path(&source, dir)),
                (MountKind::Volume, source) => source,
            };
            Ok(Mount {
                kind,
                propagation: None,
                source,
                target: raw.target,
                read_only: raw.read_only.unwrap_or(false),
            })
        }
        other => {
            let text = scalar_text(&other)
                .ok_or_else(|| format!("{path}: must be a string or mapping"))?;
            let parts: Vec<&str> = text.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [target] => (None, *target, None),
                [source, target] => (Some(*source), *target, None),
                [source, target, mode] => (Some(*source), *target, Some(*mode)),
                _ => return Err(format!("{path}: `{text}` is not SOURCE:TARGET[:ro|rw]")),
            };
            if !target.starts_with('/') {
                return Err(format!(
                    "{path}: `{text}`: the container path must be absolute"
                ));
            }
            let mut read_only = false;
            let mut propagation = None;
            for option in mode.into_iter().flat_map(|m| m.split(',')) {
                match option {
                    "rw" => read_only = false,
                    "ro" => read_only = true,
                    "rshared" | "shared" | "rslave" | "slave" | "rprivate" | "private" => {
                        propagation = Some(option.to_string())
                    }
                    other => {
                        return Err(format!(
                            "{path}: `{text}`: mode `{other}` is not supported (ro, rw, and a bind propagation such as rslave)"
                        ))
                    }
                }
            }
            let mount = match source {
                None => Mount {
                    kind: MountKind::Volume,
                    propagation: None,
                    source: None,
                    target: target.to_string(),
                    read_only,
                },
                Some(source) if source.starts_with(['.', '/', '~']) => Mount {
                    kind: MountKind::Bind,
                    propagation,
                    source: Some(host_path(source, dir)),
                    target: target.to_string(),
                    read_only,
                },
                Some(source) => Mount {
                    kind: MountKind::Volume,
                    propagation: None,
                    source: Some(source.to_string()),
                    target: target.to_string(),
                    read_only,
                },
            };
            Ok(mount)
        }
    }
}

fn service(raw: RawService, dir: &Path, path: &str) -> Result<Service, String> {
    let mut service = Service {
        image: raw.image,
        container_name: raw.container_name,
        restart: raw.restart,
        profiles: raw.profiles.unwrap_or_default(),
        pid: raw.pid,
        privileged: raw.privileged,
        ..Service::default()
    };
    if let Some(pid) = &service.pid {
        if pid != "host" {
            return Err(format!("{path}.pid: `{pid}` is not supported (host)"));
        }
    }
    if let Some(value) = raw.extra_hosts {
        service.extra_hosts = match value {
            Value::Mapping(_) => string_map(value, &format!("{path}.extra_hosts"))?
                .into_iter()
                .map(|(host, ip)| format!("{host}:{ip}"))
                .collect(),
            other => string_list(other, &format!("{path}.extra_hosts"))?
                .into_iter()
                .map(|entry| entry.replacen('=', ":", 1))
                .collect(),
        };
    }
    if let Some(restart) = &service.restart {
        let known = matches!(
            restart.as_str(),
            "no" | "always" | "unless-stopped" | "on-failure"
        ) || restart
            .strip_prefix("on-failure:")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if !known {
            return Err(format!(
                "{path}.restart: `{restart}` is not a restart policy (no, always, unless-stopped, on-failure[:N])"
            ));
        }
    }
    if let Some(build) = raw.build {
        service.build = Some(match build {
            Value::String(context) => Build {
                context: Some(PathBuf::from(host_path(&context, dir))),
                ..Build::default()
            },
            value @ Value::Mapping(_) => {
                let raw: RawBuild = typed(value, &format!("{path}.build"))?;
                Build {
                    context: raw.context.map(|c| PathBuf::from(host_path(&c, dir))),
                    dockerfile: raw.dockerfile,
                    args: match raw.args {
                        Some(args) => optional_map(args, &format!("{path}.build.args"))?,
                        None => BTreeMap::new(),
                    },
                    target: raw.target,
                }
            }
            _ => return Err(format!("{path}.build: must be a path or a mapping")),
        });
    }
    if let Some(value) = raw.command {
        service.command = Some(command(value, &format!("{path}.command"))?);
    }
    if let Some(value) = raw.entrypoint {
        service.entrypoint = Some(command(value, &format!("{path}.entrypoint"))?);
    }
    if let Some(value) = raw.environment {
        service.environment = optional_map(value, &format!("{path}.environment"))?;
    }
    if let Some(value) = raw.env_file {
        service.env_file = string_list(value, &format!("{path}.env_file"))?
            .iter()
            .map(|file| PathBuf::from(host_path(file, dir)))
            .collect();
    }
    for (index, value) in raw.ports.unwrap_or_default().into_iter().enumerate() {
        service
            .ports
            .push(port_value(value, &format!("{path}.ports[{index}]"))?);
    }
    for (index, value) in raw.volumes.unwrap_or_default().into_iter().enumerate() {
        let mount = mount_value(value, dir, &format!("{path}.volumes[{index}]"))?;
        service.volumes.retain(|m| m.target != mount.target);
        service.volumes.push(mount);
    }
    if let Some(value) = raw.networks {
        let path = format!("{path}.networks");
        service.networks = match value {
            Value::Sequence(_) => string_list(value, &path)?
                .into_iter()
                .map(|name| (name, Vec::new()))
                .collect(),
            Value::Mapping(map) => {
                let mut out = BTreeMap::new();
                for (name, settings) in map {
                    let name =
                        scalar_text(&name).ok_or_else(|| format!("{path}: keys must be names"))?;
                    let aliases = match settings {
                        Value::Null => Vec::new(),
                        value => {
                            let raw: RawServiceNetwork = typed(value, &format!("{path}.{name}"))?;
                            raw.aliases.unwrap_or_default()
                        }
                    };
                    out.insert(name, aliases);
                }
                out
            }
            _ => return Err(format!("{path}: must be a list or a mapping")),
        };
    }
    if let Some(value) = raw.depends_on {
        let path = format!("{path}.depends_on");
        service.depends_on = match value {
            Value::Sequence(_) => string_list(value, &path)?
                .into_iter()
                .map(|name| (name, Condition::ServiceStarted))
                .collect(),
            Value::Mapping(map) => {
                let mut out = BTreeMap::new();
                for (name, settings) in map {
                    let name =
                        scalar_text(&name).ok_or_else(|| format!("{path}: keys must be names"))?;
                    let condition = match settings {
                        Value::Null => Condition::ServiceStarted,
                        value => {
                            let raw: RawDependency = typed(value, &format!("{path}.{name}"))?;
                            raw.condition.unwrap_or(Condition::ServiceStarted)
                        }
                    };
                    out.insert(name, condition);
                }
                out
            }
            _ => return Err(format!("{path}: must be a list or a mapping")),
        };
    }
    if let Some(raw) = raw.healthcheck {
        let path = format!("{path}.healthcheck");
        let test = match raw.test {
            None => None,
            Some(Value::String(text)) => Some(vec!["CMD-SHELL".to_string(), text]),
            Some(value) => {
                let list = string_list(value, &format!("{path}.test"))?;
                match list.first().map(String::as_str) {
                    Some("CMD" | "CMD-SHELL" | "NONE") => Some(list),
                    _ => {
                        return Err(format!(
                            "{path}.test: a list must start with CMD, CMD-SHELL or NONE"
                        ))
                    }
                }
            }
        };
        let time = |value: Option<Value>, key: &str| {
            value
                .map(|v| duration(v, &format!("{path}.{key}")))
                .transpose()
        };
        service.healthcheck = Some(Healthcheck {
            test,
            interval: time(raw.interval, "interval")?,
            timeout: time(raw.timeout, "timeout")?,
            retries: raw.retries,
            start_period: time(raw.start_period, "start_period")?,
            disable: raw.disable.unwrap_or(false),
        });
    }
    if let Some(value) = raw.labels {
        service.labels = string_map(value, &format!("{path}.labels"))?;
    }
    if let Some(raw) = raw.logging {
        let mut options = BTreeMap::new();
        for (key, value) in raw.options.unwrap_or_default() {
            let text = scalar_text(&value)
                .ok_or_else(|| format!("{path}.logging.options.{key}: must be a string"))?;
            options.insert(key, text);
        }
        service.logging = Some(Logging {
            driver: raw.driver,
            options,
        });
    }
    if let Some(resources) = raw.deploy.and_then(|d| d.resources) {
        let path = format!("{path}.deploy.resources");
        let mut out = Resources::default();
        if let Some(limits) = resources.limits {
            if let Some(cpus) = limits.cpus {
                let text = scalar_text(&cpus).unwrap_or_default();
                out.cpus = Some(text.parse::<f64>().ok().filter(|c| *c > 0.0).ok_or_else(
                    || format!("{path}.limits.cpus: `{text}` is not a number of CPUs (e.g. 0.5)"),
                )?);
            }
            if let Some(memory) = limits.memory {
                out.memory = Some(bytes(&memory, &format!("{path}.limits.memory"))?);
            }
        }
        if let Some(memory) = resources.reservations.and_then(|r| r.memory) {
            out.memory_reservation = Some(bytes(&memory, &format!("{path}.reservations.memory"))?);
        }
        service.resources = Some(out);
    }
    Ok(service)
}

// ---------------------------------------------------------------------------------------
// Merging: compose's override rules.

impl Service {
    /// Apply `over` (a later file) to this service.
    pub fn merge(&mut self, over: Service) {
        macro_rules! replace {
            ($($field:ident),*) => {$(
                if over.$field.is_some() {
                    self.$field = over.$field;
                }
            )*};
        }
        replace!(
            image,
            container_name,
            command,
            entrypoint,
            restart,
            pid,
            privileged
        );
        for host in over.extra_hosts {
            if !self.extra_hosts.contains(&host) {
                self.extra_hosts.push(host);
            }
        }
        self.environment.extend(over.environment);
        self.labels.extend(over.labels);
        self.depends_on.extend(over.depends_on);
        self.networks.extend(over.networks);
        for file in over.env_file {
            if !self.env_file.contains(&file) {
                self.env_file.push(file);
            }
        }
        for port in over.ports {
            if !self.ports.contains(&port) {
                self.ports.push(port);
            }
        }
        // Volumes by container path: the later file's mount wins.
        for mount in over.volumes {
            self.volumes.retain(|m| m.target != mount.target);
            self.volumes.push(mount);
        }
        if !over.profiles.is_empty() {
            self.profiles = over.profiles;
        }
        self.build = match (self.build.take(), over.build) {
            (Some(mut base), Some(over)) => {
                if over.context.is_some() {
                    base.context = over.context;
                }
                if over.dockerfile.is_some() {
                    base.dockerfile = over.dockerfile;
                }
                if over.target.is_some() {
                    base.target = over.target;
                }
                base.args.extend(over.args);
                Some(base)
            }
            (base, over) => over.or(base),
        };
        self.healthcheck = match (self.healthcheck.take(), over.healthcheck) {
            (_, Some(over)) if over.disable => Some(over),
            (Some(mut base), Some(over)) => {
                base.test = over.test.or(base.test);
                base.interval = over.interval.or(base.interval);
                base.timeout = over.timeout.or(base.timeout);
                base.retries = over.retries.or(base.retries);
                base.start_period = over.start_period.or(base.start_period);
                Some(base)
            }
            (base, over) => over.or(base),
        };
        self.logging = match (self.logging.take(), over.logging) {
            // Another driver: its options alone; the same (or none said): options merged.
            (Some(base), Some(over)) if over.driver.is_some() && over.driver != base.driver => {
                Some(over)
            }
            (Some(mut base), Some(over)) => {
                base.options.extend(over.options);
                Some(base)
            }
            (base, over) => over.or(base),
        };
        self.resources = match (self.resources.take(), over.resources) {
            (Some(base), Some(over)) => Some(Resources {
                cpus: over.cpus.or(base.cpus),
                memory: over.memory.or(base.memory),
                memory_reservation: over.memory_reservation.or(base.memory_reservation),
            }),
            (base, over) => over.or(base),
        };
    }
}

impl File {
    /// Apply a later file.
    pub fn merge(&mut self, over: File) {
        for (name, service) in over.services {
            match self.services.get_mut(&name) {
                Some(base) => base.merge(service),
                None => {
                    self.services.insert(name, service);
                }
            }
        }
        for (base, over) in [
            (&mut self.networks, over.networks),
            (&mut self.volumes, over.volumes),
        ] {
            for (name, entry) in over {
                let merged = match base.remove(&name) {
                    Some(mut old) => {
                        if entry.name.is_some() {
                            old.name = entry.name;
                        }
                        if entry.driver.is_some() {
                            old.driver = entry.driver;
                        }
                        old.external |= entry.external;
                        old.labels.extend(entry.labels);
                        old
                    }
                    None => entry,
                };
                base.insert(name, merged);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> Result<File, String> {
        parse(serde_yaml::from_str(yaml).unwrap(), Path::new("/srv/gym"))
    }

    #[test]
    fn every_supported_key_normalizes() {
        let f = file(
            r#"
version: "3.8"
x-common: &common
  restart: unless-stopped
services:
  backend:
    build: {context: ./api, dockerfile: Dockerfile.prod, args: [JAR=app.jar, DEBUG], target: runtime}
    image: gym/api:1.2
    container_name: fitness_gym_backend
    command: java -jar "/app/my app.jar"
    entrypoint: ["/entry.sh"]
    environment: [A=1, B]
    env_file: .env.backend
    ports: ["8080:8080", "127.0.0.1:9090:9090/udp", "3000", {target: 81, published: 8081}]
    volumes: ["logs:/app/logs", "./conf:/etc/app:ro", "/data", {type: bind, source: ../shared, target: /shared, read_only: true}]
    networks: {front: {aliases: [api]}, back: null}
    depends_on: {postgres: {condition: service_healthy}, minio: null}
    healthcheck: {test: curl -f http://localhost:8080/health, interval: 1m30s, timeout: 10s, retries: 3, start_period: 60s}
    restart: on-failure:3
    labels: {team: gym}
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    deploy: {resources: {limits: {cpus: "1.5", memory: 512M}, reservations: {memory: 256m}}}
    profiles: [api]
    x-note: ignored
  postgres:
    image: postgres:15
    environment: {POSTGRES_DB: fitness_gym, PORT: 5432, EMPTY: null}
    depends_on: [minio]
  minio:
    image: minio/minio
volumes:
  logs:
networks:
  front: {driver: bridge}
  back: {external: true, name: shared_back}
"#,
        )
        .unwrap();
        let backend = &f.services["backend"];
        let build = backend.build.as_ref().unwrap();
        assert_eq!(build.context.as_deref(), Some(Path::new("/srv/gym/api")));
        assert_eq!(build.args["JAR"].as_deref(), Some("app.jar"));
        assert_eq!(build.args["DEBUG"], None);
        assert_eq!(
            backend.command.as_deref().unwrap(),
            ["java", "-jar", "/app/my app.jar"]
        );
        assert_eq!(backend.environment["B"], None);
        assert_eq!(
            backend.env_file,
            vec![PathBuf::from("/srv/gym/.env.backend")]
        );
        assert_eq!(backend.ports.len(), 4);
        assert_eq!(
            backend.ports[1],
            Port {
                host_ip: Some("127.0.0.1".into()),
                published: Some("9090".into()),
                target: "9090".into(),
                protocol: "udp".into()
            }
        );
        assert_eq!(backend.ports[2].published, None);
        assert_eq!(backend.ports[3].published.as_deref(), Some("8081"));
        assert_eq!(backend.volumes[0].kind, MountKind::Volume);
        assert_eq!(backend.volumes[1].source.as_deref(), Some("/srv/gym/conf"));
        assert!(backend.volumes[1].read_only);
        assert_eq!(backend.volumes[2].source, None);
        assert_eq!(backend.volumes[3].source.as_deref(), Some("/srv/shared"));
        assert_eq!(backend.networks["front"], vec!["api".to_string()]);
        assert_eq!(backend.depends_on["postgres"], Condition::ServiceHealthy);
        assert_eq!(backend.depends_on["minio"], Condition::ServiceStarted);
        let health = backend.healthcheck.as_ref().unwrap();
        assert_eq!(health.test.as_ref().unwrap()[0], "CMD-SHELL");
        assert_eq!(health.interval, Some(Duration::from_secs(90)));
        let resources = backend.resources.as_ref().unwrap();
        assert_eq!(resources.cpus, Some(1.5));
        assert_eq!(resources.memory, Some(512 << 20));
        assert_eq!(resources.memory_reservation, Some(256 << 20));
        assert_eq!(backend.logging.as_ref().unwrap().options["max-file"], "3");
        let postgres = &f.services["postgres"];
        assert_eq!(postgres.environment["PORT"].as_deref(), Some("5432"));
        assert_eq!(postgres.environment["EMPTY"], None);
        assert_eq!(postgres.depends_on["minio"], Condition::ServiceStarted);
        assert!(f.networks["back"].external);
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let err =
            file("services:\n  backend:\n    image: x\n    healthcheck:\n      intervl: 5s\n")
                .unwrap_err();
        assert!(
            err.starts_with("services.backend.healthcheck: unknown key `intervl`"),
            "{err}"
        );
        assert!(err.contains("interval"), "{err}");
        let err =
            file("services:\n  backend:\n    image: x\n    cap_add: [NET_ADMIN]\n").unwrap_err();
        assert!(err.contains("unknown key `cap_add`"), "{err}");
        let err = file("secrets: {}\n").unwrap_err();
        assert!(err.contains("unknown key `secrets`"), "{err}");
        let err =
            file("services:\n  b:\n    image: x\n    ports: [\"80:80:80:80\"]\n").unwrap_err();
        assert!(err.starts_with("services.b.ports[0]:"), "{err}");
        let err = file("services:\n  b:\n    image: x\n    restart: sometimes\n").unwrap_err();
        assert!(err.contains("not a restart policy"), "{err}");
        let err = file(
            "services:\n  b:\n    image: x\n    depends_on: {a: {condition: service_ready}}\n",
        )
        .unwrap_err();
        assert!(err.starts_with("services.b.depends_on.a"), "{err}");
    }

    #[test]
    fn later_files_override_with_composes_rules() {
        let mut base = file(
            "services:\n  api:\n    image: gym/api:1\n    command: [a]\n    environment: {A: '1', B: '2'}\n    ports: ['8080:8080']\n    volumes: ['logs:/app/logs', './c:/conf']\n    labels: {x: '1'}\n    healthcheck: {test: [CMD, true], interval: 10s}\n    logging: {driver: json-file, options: {max-size: 10m}}\n",
        )
        .unwrap();
        let over = file(
            "services:\n  api:\n    image: gym/api:2\n    environment: [B=3, C=4]\n    ports: ['9090:9090']\n    volumes: ['./other:/conf:ro']\n    healthcheck: {retries: 5}\n    logging: {options: {max-file: '3'}}\n  worker:\n    image: gym/worker\n",
        )
        .unwrap();
        base.merge(over);
        let api = &base.services["api"];
        assert_eq!(api.image.as_deref(), Some("gym/api:2"));
        assert_eq!(api.command.as_deref().unwrap(), ["a"], "kept when not said");
        assert_eq!(
            api.environment,
            BTreeMap::from([
                ("A".into(), Some("1".into())),
                ("B".into(), Some("3".into())),
                ("C".into(), Some("4".into()))
            ])
        );
        assert_eq!(api.ports.len(), 2, "ports are concatenated");
        assert_eq!(api.volumes.len(), 2, "volumes merge by container path");
        let conf = api.volumes.iter().find(|m| m.target == "/conf").unwrap();
        assert!(conf.read_only && conf.source.as_deref() == Some("/srv/gym/other"));
        let health = api.healthcheck.as_ref().unwrap();
        assert_eq!(
            (health.retries, health.interval),
            (Some(5), Some(Duration::from_secs(10)))
        );
        let logging = api.logging.as_ref().unwrap();
        assert_eq!(logging.options.len(), 2);
        assert!(base.services.contains_key("worker"));
    }

    #[test]
    fn sizes_and_ports_parse_like_compose() {
        assert_eq!(bytes(&Value::from("1g"), "m").unwrap(), 1 << 30);
        assert_eq!(bytes(&Value::from("1.5G"), "m").unwrap(), 3 << 29);
        assert_eq!(bytes(&Value::from("100kb"), "m").unwrap(), 102_400);
        assert_eq!(bytes(&Value::from(2048), "m").unwrap(), 2048);
        assert!(bytes(&Value::from("12x"), "m").is_err());
        assert_eq!(
            port("[::1]:8080:80", "p").unwrap().host_ip.as_deref(),
            Some("::1")
        );
        assert_eq!(
            port("8000-8010:8000-8010", "p").unwrap().target,
            "8000-8010"
        );
        assert_eq!(port("127.0.0.1::5432", "p").unwrap().published, None);
        assert!(port("http", "p").is_err());
        assert!(port("80/icmp", "p").is_err());
    }
}
