//! What one compose file may say, read into the normalized model. Every key gymops does not
//! know is reported (all of them, each with its path), and each value error names the value
//! and what is expected; a file with problems yields all of them at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::values::{
    bytes, command, duration, file_mode, host_path, integer, optional_map, port, scalar_text,
    signed_bytes, string_list, string_map,
};
use super::{
    Addresses, Build, Condition, Extends, File, Grant, Healthcheck, Include, Ipam, IpamPool,
    Logging, Mount, MountKind, Network, Port, Resources, Service, Source, Ulimit,
};

/// One problem of a file: the key path it is at (for its line) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `services.api.healthcheck.intervl`, `services.api.ports[0]`.
    pub path: String,
    pub message: String,
}

// ---------------------------------------------------------------------------------------
// What a file may say. Fields that take several shapes are read as YAML values and
// converted with a message naming their path.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    #[allow(dead_code)]
    version: Option<Value>,
    name: Option<String>,
    include: Option<Vec<Value>>,
    services: Option<BTreeMap<String, Option<Value>>>,
    networks: Option<BTreeMap<String, Option<RawNetwork>>>,
    volumes: Option<BTreeMap<String, Option<RawVolume>>>,
    secrets: Option<BTreeMap<String, Option<RawSource>>>,
    configs: Option<BTreeMap<String, Option<RawSource>>>,
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
    expose: Option<Vec<Value>>,
    secrets: Option<Vec<Value>>,
    configs: Option<Vec<Value>>,
    stop_signal: Option<String>,
    stop_grace_period: Option<Value>,
    mem_limit: Option<Value>,
    memswap_limit: Option<Value>,
    mem_reservation: Option<Value>,
    cpus: Option<Value>,
    cpu_shares: Option<Value>,
    cpuset: Option<Value>,
    pids_limit: Option<Value>,
    ulimits: Option<BTreeMap<String, Value>>,
    user: Option<Value>,
    working_dir: Option<String>,
    init: Option<bool>,
    shm_size: Option<Value>,
    tmpfs: Option<Value>,
    read_only: Option<bool>,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    security_opt: Option<Vec<String>>,
    hostname: Option<String>,
    domainname: Option<String>,
    network_mode: Option<String>,
    platform: Option<String>,
    stdin_open: Option<bool>,
    tty: Option<bool>,
    sysctls: Option<Value>,
    devices: Option<Vec<Value>>,
    dns: Option<Value>,
    dns_search: Option<Value>,
    dns_opt: Option<Vec<String>>,
    extends: Option<Value>,
    links: Option<Vec<String>>,
    ipc: Option<String>,
    group_add: Option<Vec<Value>>,
    oom_score_adj: Option<Value>,
    pull_policy: Option<String>,
    scale: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    context: Option<String>,
    dockerfile: Option<String>,
    args: Option<Value>,
    target: Option<String>,
    labels: Option<Value>,
    network: Option<String>,
    cache_from: Option<Vec<String>>,
    shm_size: Option<Value>,
    extra_hosts: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthcheck {
    test: Option<Value>,
    interval: Option<Value>,
    timeout: Option<Value>,
    retries: Option<u32>,
    start_period: Option<Value>,
    start_interval: Option<Value>,
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
    replicas: Option<Value>,
    restart_policy: Option<RawRestartPolicy>,
    mode: Option<String>,
    // Swarm's own: read, and named in a note (they do nothing on one engine).
    placement: Option<Value>,
    update_config: Option<Value>,
    rollback_config: Option<Value>,
    endpoint_mode: Option<Value>,
    labels: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestartPolicy {
    condition: Option<String>,
    max_attempts: Option<u32>,
    delay: Option<Value>,
    window: Option<Value>,
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
    pids: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReservations {
    cpus: Option<Value>,
    memory: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: Option<String>,
    driver: Option<String>,
    external: Option<Value>,
    labels: Option<Value>,
    driver_opts: Option<Value>,
    ipam: Option<RawIpam>,
    internal: Option<bool>,
    attachable: Option<bool>,
    enable_ipv6: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolume {
    name: Option<String>,
    driver: Option<String>,
    external: Option<Value>,
    labels: Option<Value>,
    driver_opts: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIpam {
    driver: Option<String>,
    config: Option<Vec<RawIpamPool>>,
    options: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIpamPool {
    subnet: Option<String>,
    ip_range: Option<String>,
    gateway: Option<String>,
    aux_addresses: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Option<String>,
    file: Option<String>,
    environment: Option<String>,
    content: Option<String>,
    external: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    source: String,
    target: Option<String>,
    uid: Option<Value>,
    gid: Option<Value>,
    mode: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDependency {
    condition: Option<Condition>,
    /// Restart this service when the dependency is recreated (docker compose v2); gymops
    /// recreates by config hash, so this changes nothing it does.
    #[allow(dead_code)]
    restart: Option<bool>,
    required: Option<bool>,
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
    /// Descriptive only, in compose as here.
    #[allow(dead_code)]
    name: Option<String>,
    #[allow(dead_code)]
    app_protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    #[serde(rename = "type")]
    kind: String,
    source: Option<String>,
    target: String,
    read_only: Option<bool>,
    bind: Option<RawBindOptions>,
    volume: Option<RawVolumeOptions>,
    tmpfs: Option<RawTmpfsOptions>,
    /// macOS Docker Desktop only; no effect on Linux (compose ignores it there too).
    #[allow(dead_code)]
    consistency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBindOptions {
    propagation: Option<String>,
    #[allow(dead_code)]
    create_host_path: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVolumeOptions {
    nocopy: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTmpfsOptions {
    size: Option<Value>,
    mode: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServiceNetwork {
    aliases: Option<Vec<String>>,
    ipv4_address: Option<String>,
    ipv6_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtends {
    service: String,
    file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInclude {
    path: Value,
    env_file: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    source: String,
    target: Option<String>,
    permissions: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Reading.

/// Drop `x-` extension keys (compose's extension fields) from a mapping.
fn without_extensions(value: &mut Value) {
    if let Value::Mapping(map) = value {
        map.retain(|key, _| !key.as_str().is_some_and(|k| k.starts_with("x-")));
    }
}

/// Read an interpolated file's YAML. `dir` resolves relative paths (build context, binds,
/// env files, secret files). All problems of the file at once.
pub fn parse(mut value: Value, dir: &Path) -> Result<File, Vec<Problem>> {
    if value.is_null() {
        return Ok(File::default());
    }
    if !value.is_mapping() {
        return Err(vec![Problem {
            path: String::new(),
            message: "the file is not a mapping of compose keys".into(),
        }]);
    }
    without_extensions(&mut value);
    for section in ["services", "networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Mapping(entries)) = value.get_mut(section) {
            for (_, entry) in entries.iter_mut() {
                without_extensions(entry);
            }
        }
    }
    let mut problems = Vec::new();
    let raw: RawFile = match typed(value, "", &mut problems) {
        Ok(raw) => raw,
        Err(message) => {
            problems.push(problem(message));
            return Err(problems);
        }
    };
    let mut file = File {
        name: raw.name,
        ..File::default()
    };
    let check = |result: Result<(), String>, problems: &mut Vec<Problem>| {
        if let Err(message) = result {
            problems.push(problem(message));
        }
    };
    for (index, entry) in raw.include.unwrap_or_default().into_iter().enumerate() {
        let result = include(entry, dir, &format!("include[{index}]"), &mut problems)
            .map(|entry| file.include.push(entry));
        check(result, &mut problems);
    }
    for (name, raw) in raw.services.unwrap_or_default() {
        let path = format!("services.{name}");
        let result = match raw {
            None => Ok(Service::default()),
            Some(value) => typed::<RawService>(value, &path, &mut problems)
                .and_then(|raw| service(raw, dir, &path, &mut file.notes, &mut problems)),
        };
        match result {
            Ok(service) => {
                file.services.insert(name, service);
            }
            Err(message) => problems.push(problem(message)),
        }
    }
    for (name, raw) in raw.networks.unwrap_or_default() {
        let path = format!("networks.{name}");
        let result = raw
            .map(|raw| network(raw, &path, &mut problems))
            .unwrap_or_else(|| Ok(Network::default()))
            .map(|entry| {
                file.networks.insert(name, entry);
            });
        check(result, &mut problems);
    }
    for (name, raw) in raw.volumes.unwrap_or_default() {
        let path = format!("volumes.{name}");
        let result = raw
            .map(|raw| volume(raw, &path))
            .unwrap_or_else(|| Ok(Network::default()))
            .map(|entry| {
                file.volumes.insert(name, entry);
            });
        check(result, &mut problems);
    }
    for (section, entries, out) in [
        ("secrets", raw.secrets, &mut file.secrets),
        ("configs", raw.configs, &mut file.configs),
    ] {
        for (name, raw) in entries.unwrap_or_default() {
            let path = format!("{section}.{name}");
            let result = source(raw, dir, &path).map(|entry| {
                out.insert(name, entry);
            });
            check(result, &mut problems);
        }
    }
    if problems.is_empty() {
        Ok(file)
    } else {
        Err(problems)
    }
}

/// A problem from a `path: message` string.
fn problem(message: String) -> Problem {
    let path = message
        .split_once(": ")
        .map(|(path, _)| path.to_string())
        .filter(|path| !path.contains(' '))
        .unwrap_or_default();
    Problem { path, message }
}

/// Deserialize, reporting every unknown key into `problems` (each removed and the rest read
/// again) and returning the first value error as `path: message`.
fn typed<T: serde::de::DeserializeOwned>(
    mut value: Value,
    prefix: &str,
    problems: &mut Vec<Problem>,
) -> Result<T, String> {
    let join = |path: &str| match (prefix.is_empty(), path.is_empty()) {
        (_, true) => prefix.to_string(),
        (true, false) => path.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    };
    // Each round removes one unknown key; a file has at most a few hundred keys.
    for _ in 0..512 {
        let err = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => return Ok(parsed),
            Err(err) => err,
        };
        let segments: Vec<serde_path_to_error::Segment> = err.path().iter().cloned().collect();
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = err.into_inner().to_string();
        let Some(key) = inner
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
        else {
            let inner = inner.replace("expected one of", "gymops supports");
            let full = join(&path);
            return Err(if full.is_empty() {
                inner
            } else {
                format!("{full}: {inner}")
            });
        };
        // The path ends with the key itself: its parent holds it.
        let parent_segments = &segments[..segments.len().saturating_sub(1)];
        let parent = path
            .strip_suffix(&key)
            .map(|p| p.trim_end_matches('.').to_string())
            .unwrap_or_default();
        let expected: Vec<&str> = inner.split('`').skip(3).step_by(2).collect();
        let suggestion = expected
            .iter()
            .map(|candidate| (strsim::jaro_winkler(&key, candidate), *candidate))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, candidate)| format!(" (did you mean `{candidate}`?)"))
            .unwrap_or_default();
        let at = join(&parent);
        problems.push(Problem {
            path: join(&path),
            message: format!(
                "{}unknown key `{key}`{suggestion}",
                if at.is_empty() {
                    String::new()
                } else {
                    format!("{at}: ")
                }
            ),
        });
        if !remove_key(&mut value, parent_segments, &key) {
            return Err(format!("{}: unknown key `{key}`", join(&path)));
        }
    }
    Err(format!("{prefix}: too many unknown keys"))
}

/// Remove `key` from the mapping at `path` in `value`; false when the path is not there.
fn remove_key(value: &mut Value, path: &[serde_path_to_error::Segment], key: &str) -> bool {
    let mut current = value;
    for segment in path {
        let next = match segment {
            serde_path_to_error::Segment::Map { key } => current.get_mut(key.as_str()),
            serde_path_to_error::Segment::Seq { index } => current.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return false,
        }
    }
    match current {
        Value::Mapping(map) => map.remove(key).is_some(),
        _ => false,
    }
}

fn include(
    value: Value,
    dir: &Path,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<Include, String> {
    let (paths, env_file) = match value {
        Value::Mapping(_) => {
            let raw: RawInclude = typed(value, path, problems)?;
            (
                string_list(raw.path, &format!("{path}.path"))?,
                match raw.env_file {
                    Some(value) => string_list(value, &format!("{path}.env_file"))?,
                    None => Vec::new(),
                },
            )
        }
        other => (string_list(other, path)?, Vec::new()),
    };
    let resolve = |p: &String| PathBuf::from(host_path(p, dir));
    Ok(Include {
        paths: paths.iter().map(resolve).collect(),
        env_file: env_file.iter().map(resolve).collect(),
    })
}

/// `external: true`, or the legacy `external: {name: X}` (the name taken as the name).
fn external(value: Option<Value>, name: &mut Option<String>, path: &str) -> Result<bool, String> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(Value::Mapping(map)) => {
            if let Some(given) = map.get("name").and_then(scalar_text) {
                name.get_or_insert(given);
            }
            Ok(true)
        }
        Some(_) => Err(format!("{path}.external: must be true or false")),
    }
}

fn network(raw: RawNetwork, path: &str, problems: &mut Vec<Problem>) -> Result<Network, String> {
    let _ = problems;
    let mut name = raw.name;
    let external = external(raw.external, &mut name, path)?;
    let ipam = match raw.ipam {
        None => None,
        Some(ipam) => {
            let mut config = Vec::new();
            for (index, pool) in ipam.config.unwrap_or_default().into_iter().enumerate() {
                config.push(IpamPool {
                    subnet: pool.subnet,
                    ip_range: pool.ip_range,
                    gateway: pool.gateway,
                    aux_addresses: match pool.aux_addresses {
                        Some(v) => {
                            string_map(v, &format!("{path}.ipam.config[{index}].aux_addresses"))?
                        }
                        None => BTreeMap::new(),
                    },
                });
            }
            Some(Ipam {
                driver: ipam.driver,
                config,
                options: match ipam.options {
                    Some(v) => string_map(v, &format!("{path}.ipam.options"))?,
                    None => BTreeMap::new(),
                },
            })
        }
    };
    Ok(Network {
        name,
        driver: raw.driver,
        external,
        labels: match raw.labels {
            Some(v) => string_map(v, &format!("{path}.labels"))?,
            None => BTreeMap::new(),
        },
        driver_opts: match raw.driver_opts {
            Some(v) => string_map(v, &format!("{path}.driver_opts"))?,
            None => BTreeMap::new(),
        },
        ipam,
        internal: raw.internal.unwrap_or(false),
        attachable: raw.attachable.unwrap_or(false),
        enable_ipv6: raw.enable_ipv6,
    })
}

fn volume(raw: RawVolume, path: &str) -> Result<Network, String> {
    let mut name = raw.name;
    let external = external(raw.external, &mut name, path)?;
    Ok(Network {
        name,
        driver: raw.driver,
        external,
        labels: match raw.labels {
            Some(v) => string_map(v, &format!("{path}.labels"))?,
            None => BTreeMap::new(),
        },
        driver_opts: match raw.driver_opts {
            Some(v) => string_map(v, &format!("{path}.driver_opts"))?,
            None => BTreeMap::new(),
        },
        ..Network::default()
    })
}

fn source(raw: Option<RawSource>, dir: &Path, path: &str) -> Result<Source, String> {
    let Some(raw) = raw else {
        return Err(format!(
            "{path}: needs a source: `file: PATH` or `environment: VARIABLE`"
        ));
    };
    let mut name = raw.name;
    let external = external(raw.external, &mut name, path)?;
    let given = [
        raw.file.is_some(),
        raw.environment.is_some(),
        raw.content.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if external {
        return Err(format!(
            "{path}: an external secret or config lives in a Swarm; a single engine has none: give it a `file:` or `environment:` source instead"
        ));
    }
    if given != 1 {
        return Err(format!(
            "{path}: needs exactly one source: `file: PATH`, `environment: VARIABLE` or `content: TEXT`"
        ));
    }
    Ok(Source {
        name,
        file: raw.file.map(|f| PathBuf::from(host_path(&f, dir))),
        environment: raw.environment,
        content: raw.content,
        external,
        value: None,
    })
}

fn mount_value(
    value: Value,
    dir: &Path,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<Mount, String> {
    match value {
        Value::Mapping(_) => {
            let raw: RawMount = typed(value, path, problems)?;
            let kind = match raw.kind.as_str() {
                "volume" => MountKind::Volume,
                "bind" => MountKind::Bind,
                "tmpfs" => MountKind::Tmpfs,
                other => {
                    return Err(format!(
                        "{path}.type: `{other}` is not supported (volume, bind or tmpfs)"
                    ))
                }
            };
            let source = match (kind, raw.source) {
                (MountKind::Bind, None) => return Err(format!("{path}: a bind needs a source")),
                (MountKind::Bind, Some(source)) => Some(host_path(&source, dir)),
                (MountKind::Tmpfs, Some(_)) => {
                    return Err(format!("{path}: a tmpfs mount takes no source"))
                }
                (_, source) => source,
            };
            if !raw.target.starts_with('/') {
                return Err(format!(
                    "{path}.target: `{}` must be an absolute path",
                    raw.target
                ));
            }
            let propagation = raw.bind.and_then(|b| b.propagation);
            if let Some(p) = &propagation {
                if ![
                    "rshared", "shared", "rslave", "slave", "rprivate", "private",
                ]
                .contains(&p.as_str())
                {
                    return Err(format!(
                        "{path}.bind.propagation: `{p}` is not a propagation (rprivate, private, rshared, shared, rslave, slave)"
                    ));
                }
            }
            let (tmpfs_size, tmpfs_mode) = match raw.tmpfs {
                Some(options) => (
                    options
                        .size
                        .map(|v| bytes(&v, &format!("{path}.tmpfs.size")))
                        .transpose()?,
                    options
                        .mode
                        .map(|v| file_mode(&v, &format!("{path}.tmpfs.mode")))
                        .transpose()?,
                ),
                None => (None, None),
            };
            Ok(Mount {
                kind,
                propagation,
                source,
                target: raw.target,
                read_only: raw.read_only.unwrap_or(false),
                nocopy: raw.volume.and_then(|v| v.nocopy).unwrap_or(false),
                tmpfs_size,
                tmpfs_mode,
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
            let mut nocopy = false;
            for option in mode.into_iter().flat_map(|m| m.split(',')) {
                match option {
                    "rw" => read_only = false,
                    "ro" => read_only = true,
                    "nocopy" => nocopy = true,
                    // SELinux relabelling and macOS consistency: no effect without SELinux
                    // or Docker Desktop, as with compose.
                    "z" | "Z" | "cached" | "delegated" | "consistent" => {}
                    "rshared" | "shared" | "rslave" | "slave" | "rprivate" | "private" => {
                        propagation = Some(option.to_string())
                    }
                    other => {
                        return Err(format!(
                            "{path}: `{text}`: mode `{other}` is not supported (ro, rw, nocopy, and a bind propagation such as rslave)"
                        ))
                    }
                }
            }
            let blank = Mount {
                kind: MountKind::Volume,
                propagation: None,
                source: None,
                target: target.to_string(),
                read_only,
                nocopy: false,
                tmpfs_size: None,
                tmpfs_mode: None,
            };
            Ok(match source {
                None => blank,
                Some(source) if source.starts_with(['.', '/', '~']) => Mount {
                    kind: MountKind::Bind,
                    propagation,
                    source: Some(host_path(source, dir)),
                    ..blank
                },
                Some(source) => Mount {
                    source: Some(source.to_string()),
                    nocopy,
                    ..blank
                },
            })
        }
    }
}

fn port_value(value: Value, path: &str, problems: &mut Vec<Problem>) -> Result<Port, String> {
    match value {
        Value::Mapping(_) => {
            let raw: RawPort = typed(value, path, problems)?;
            let target =
                scalar_text(&raw.target).ok_or_else(|| format!("{path}.target: must be a port"))?;
            let mut text = String::new();
            if let Some(ip) = &raw.host_ip {
                if ip.contains(':') {
                    text.push_str(&format!("[{ip}]:"));
                } else {
                    text.push_str(ip);
                    text.push(':');
                }
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

/// A `secrets:` or `configs:` entry of a service: a name, or the long syntax.
fn grant(value: Value, path: &str, problems: &mut Vec<Problem>) -> Result<Grant, String> {
    match value {
        Value::Mapping(_) => {
            let raw: RawGrant = typed(value, path, problems)?;
            let id = |v: Option<Value>, key: &str| {
                v.map(|v| {
                    integer(&v, &format!("{path}.{key}")).and_then(|n| {
                        u32::try_from(n)
                            .map_err(|_| format!("{path}.{key}: `{n}` is not a user or group ID"))
                    })
                })
                .transpose()
            };
            Ok(Grant {
                source: raw.source,
                target: raw.target,
                uid: id(raw.uid, "uid")?,
                gid: id(raw.gid, "gid")?,
                mode: raw
                    .mode
                    .map(|v| file_mode(&v, &format!("{path}.mode")))
                    .transpose()?,
            })
        }
        other => Ok(Grant {
            source: scalar_text(&other)
                .ok_or_else(|| format!("{path}: must be a name or a mapping with source"))?,
            target: None,
            uid: None,
            gid: None,
            mode: None,
        }),
    }
}

/// `dns`, `dns_search`, `tmpfs`: one string or a list.
fn one_or_list(value: Option<Value>, path: &str) -> Result<Vec<String>, String> {
    value
        .map(|v| string_list(v, path))
        .unwrap_or(Ok(Vec::new()))
}

/// CPUs: a positive number (`0.5`, `"1.5"`).
fn cpus(value: &Value, path: &str) -> Result<f64, String> {
    let text = scalar_text(value).unwrap_or_default();
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|c| *c > 0.0)
        .ok_or_else(|| format!("{path}: `{text}` is not a number of CPUs (e.g. 0.5)"))
}

/// Set a resource from two places (a service key and `deploy.resources`); both must agree.
fn agree<T: PartialEq + std::fmt::Debug>(
    slot: &mut Option<T>,
    value: T,
    path: &str,
    other: &str,
) -> Result<(), String> {
    match slot {
        Some(existing) if *existing != value => Err(format!(
            "{path}: {value:?} disagrees with {other} ({existing:?}); set it in one place"
        )),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn service(
    raw: RawService,
    dir: &Path,
    path: &str,
    notes: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Result<Service, String> {
    let mut service = Service {
        image: raw.image,
        container_name: raw.container_name,
        restart: raw.restart,
        profiles: raw.profiles.unwrap_or_default(),
        pid: raw.pid,
        privileged: raw.privileged,
        stop_signal: raw.stop_signal,
        working_dir: raw.working_dir,
        init: raw.init,
        read_only: raw.read_only,
        cap_add: raw.cap_add.unwrap_or_default(),
        cap_drop: raw.cap_drop.unwrap_or_default(),
        security_opt: raw.security_opt.unwrap_or_default(),
        hostname: raw.hostname,
        domainname: raw.domainname,
        network_mode: raw.network_mode,
        platform: raw.platform,
        stdin_open: raw.stdin_open,
        tty: raw.tty,
        dns_opt: raw.dns_opt.unwrap_or_default(),
        links: raw.links.unwrap_or_default(),
        ipc: raw.ipc,
        pull_policy: raw.pull_policy,
        ..Service::default()
    };
    if let Some(pid) = &service.pid {
        if pid != "host" {
            return Err(format!("{path}.pid: `{pid}` is not supported (host)"));
        }
    }
    if let Some(mode) = &service.network_mode {
        let known = matches!(mode.as_str(), "host" | "none" | "bridge" | "default")
            || mode
                .strip_prefix("service:")
                .or_else(|| mode.strip_prefix("container:"))
                .is_some_and(|name| !name.is_empty());
        if !known {
            return Err(format!(
                "{path}.network_mode: `{mode}` is not a network mode (host, none, bridge, service:NAME, container:NAME)"
            ));
        }
    }
    if let Some(policy) = &service.pull_policy {
        if !matches!(
            policy.as_str(),
            "always" | "never" | "missing" | "if_not_present" | "build"
        ) {
            return Err(format!(
                "{path}.pull_policy: `{policy}` is not a pull policy (always, never, missing, build)"
            ));
        }
    }
    if let Some(value) = raw.user {
        service.user = Some(
            scalar_text(&value)
                .ok_or_else(|| format!("{path}.user: must be a user name or UID[:GID]"))?,
        );
    }
    if let Some(value) = raw.extra_hosts {
        service.extra_hosts = extra_hosts(value, &format!("{path}.extra_hosts"))?;
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
                let raw: RawBuild = typed(value, &format!("{path}.build"), problems)?;
                Build {
                    context: Some(PathBuf::from(host_path(
                        raw.context.as_deref().unwrap_or("."),
                        dir,
                    ))),
                    dockerfile: raw.dockerfile,
                    args: match raw.args {
                        Some(args) => optional_map(args, &format!("{path}.build.args"))?,
                        None => BTreeMap::new(),
                    },
                    target: raw.target,
                    labels: match raw.labels {
                        Some(v) => string_map(v, &format!("{path}.build.labels"))?,
                        None => BTreeMap::new(),
                    },
                    network: raw.network,
                    cache_from: raw.cache_from.unwrap_or_default(),
                    shm_size: raw
                        .shm_size
                        .map(|v| bytes(&v, &format!("{path}.build.shm_size")))
                        .transpose()?,
                    extra_hosts: match raw.extra_hosts {
                        Some(v) => extra_hosts(v, &format!("{path}.build.extra_hosts"))?,
                        None => Vec::new(),
                    },
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
        service.env_file = env_files(value, dir, &format!("{path}.env_file"), problems)?;
    }
    for (index, value) in raw.ports.unwrap_or_default().into_iter().enumerate() {
        service.ports.push(port_value(
            value,
            &format!("{path}.ports[{index}]"),
            problems,
        )?);
    }
    for (index, value) in raw.expose.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{path}.expose[{index}]");
        let text = scalar_text(&value).ok_or_else(|| format!("{at}: must be a port"))?;
        // Checked with the ports syntax: a port or a range, and a protocol.
        let parsed = port(&text, &at)?;
        if parsed.published.is_some() || parsed.host_ip.is_some() {
            return Err(format!(
                "{at}: `{text}`: expose takes a container port only (publish with ports:)"
            ));
        }
        service.expose.push(text);
    }
    let mut seen_targets: BTreeMap<String, usize> = BTreeMap::new();
    for (index, value) in raw.volumes.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{path}.volumes[{index}]");
        let mount = mount_value(value, dir, &at, problems)?;
        let key = mount_target_key_of(&mount.target);
        if let Some(first) = seen_targets.insert(key, index) {
            return Err(format!(
                "{at}: duplicate mount target {} (also {path}.volumes[{first}])",
                mount.target
            ));
        }
        service.volumes.push(mount);
    }
    if let Some(value) = raw.tmpfs {
        for entry in string_list(value, &format!("{path}.tmpfs"))? {
            if !entry.starts_with('/') {
                return Err(format!(
                    "{path}.tmpfs: `{entry}` must be an absolute container path"
                ));
            }
            service.tmpfs.push(entry);
        }
    }
    if let Some(value) = raw.networks {
        let path = format!("{path}.networks");
        match value {
            Value::Sequence(_) => {
                service.networks = string_list(value, &path)?
                    .into_iter()
                    .map(|name| (name, Vec::new()))
                    .collect()
            }
            Value::Mapping(map) => {
                for (name, settings) in map {
                    let name =
                        scalar_text(&name).ok_or_else(|| format!("{path}: keys must be names"))?;
                    let aliases = match settings {
                        Value::Null => Vec::new(),
                        value => {
                            let raw: RawServiceNetwork =
                                typed(value, &format!("{path}.{name}"), problems)?;
                            if raw.ipv4_address.is_some() || raw.ipv6_address.is_some() {
                                service.addresses.insert(
                                    name.clone(),
                                    Addresses {
                                        ipv4_address: raw.ipv4_address,
                                        ipv6_address: raw.ipv6_address,
                                    },
                                );
                            }
                            raw.aliases.unwrap_or_default()
                        }
                    };
                    service.networks.insert(name, aliases);
                }
            }
            _ => return Err(format!("{path}: must be a list or a mapping")),
        };
    }
    if let Some(value) = raw.depends_on {
        service.depends_on = depends_on(value, &format!("{path}.depends_on"), problems)?;
    }
    if let Some(raw) = raw.healthcheck {
        service.healthcheck = Some(healthcheck(raw, &format!("{path}.healthcheck"))?);
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
    for (key, list, out) in [
        ("secrets", raw.secrets, &mut service.secrets),
        ("configs", raw.configs, &mut service.configs),
    ] {
        for (index, value) in list.unwrap_or_default().into_iter().enumerate() {
            out.push(grant(value, &format!("{path}.{key}[{index}]"), problems)?);
        }
    }
    if let Some(value) = raw.stop_grace_period {
        service.stop_grace_period = Some(duration(value, &format!("{path}.stop_grace_period"))?);
    }
    if let Some(value) = raw.shm_size {
        service.shm_size = Some(bytes(&value, &format!("{path}.shm_size"))?);
    }
    if let Some(value) = raw.sysctls {
        service.sysctls = string_map(value, &format!("{path}.sysctls"))?;
    }
    for (name, value) in raw.ulimits.unwrap_or_default() {
        let at = format!("{path}.ulimits.{name}");
        let limit = match &value {
            Value::Mapping(map) => {
                let get = |key: &str| {
                    map.get(key)
                        .ok_or_else(|| format!("{at}: needs soft and hard"))
                        .and_then(|v| integer(v, &format!("{at}.{key}")))
                };
                Ulimit {
                    soft: get("soft")?,
                    hard: get("hard")?,
                }
            }
            other => {
                let n = integer(other, &at)?;
                Ulimit { soft: n, hard: n }
            }
        };
        if limit.soft > limit.hard && limit.hard >= 0 {
            return Err(format!(
                "{at}: soft limit {} is above the hard limit {}",
                limit.soft, limit.hard
            ));
        }
        service.ulimits.insert(name, limit);
    }
    for (index, value) in raw.devices.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{path}.devices[{index}]");
        let entry = match value {
            Value::Mapping(_) => {
                let raw: RawDevice = typed(value, &at, problems)?;
                let mut text = raw.source;
                if let Some(target) = raw.target {
                    text.push(':');
                    text.push_str(&target);
                }
                if let Some(permissions) = raw.permissions {
                    text.push(':');
                    text.push_str(&permissions);
                }
                text
            }
            other => scalar_text(&other).ok_or_else(|| format!("{at}: must be a string"))?,
        };
        if !entry.starts_with('/') {
            return Err(format!(
                "{at}: `{entry}` is not HOST_PATH[:CONTAINER_PATH[:rwm]]"
            ));
        }
        service.devices.push(entry);
    }
    service.dns = one_or_list(raw.dns, &format!("{path}.dns"))?;
    service.dns_search = one_or_list(raw.dns_search, &format!("{path}.dns_search"))?;
    for (index, value) in raw.group_add.unwrap_or_default().into_iter().enumerate() {
        service.group_add.push(
            scalar_text(&value)
                .ok_or_else(|| format!("{path}.group_add[{index}]: must be a group"))?,
        );
    }
    if let Some(value) = raw.oom_score_adj {
        let n = integer(&value, &format!("{path}.oom_score_adj"))?;
        if !(-1000..=1000).contains(&n) {
            return Err(format!(
                "{path}.oom_score_adj: `{n}` is outside -1000..1000"
            ));
        }
        service.oom_score_adj = Some(n);
    }
    if let Some(value) = raw.extends {
        service.extends = Some(match value {
            Value::Mapping(_) => {
                let raw: RawExtends = typed(value, &format!("{path}.extends"), problems)?;
                Extends {
                    service: raw.service,
                    file: raw.file.map(|f| PathBuf::from(host_path(&f, dir))),
                }
            }
            other => Extends {
                service: scalar_text(&other)
                    .ok_or_else(|| format!("{path}.extends: must be a service name"))?,
                file: None,
            },
        });
    }
    for link in &service.links {
        let target = link.split(':').next().unwrap_or_default();
        if target.is_empty() {
            return Err(format!("{path}.links: `{link}` is not SERVICE[:ALIAS]"));
        }
    }
    if let Some(value) = raw.scale {
        service.replicas = Some(replicas(&value, &format!("{path}.scale"))?);
    }
    resources(
        &mut service,
        raw.mem_limit,
        raw.memswap_limit,
        raw.mem_reservation,
        raw.cpus,
        raw.cpu_shares,
        raw.cpuset,
        raw.pids_limit,
        path,
    )?;
    if let Some(deploy) = raw.deploy {
        self::deploy(&mut service, deploy, path, notes)?;
    }
    Ok(service)
}

/// `/data` and `/data/` are one target.
pub fn mount_target_key_of(target: &str) -> String {
    let trimmed = target.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

fn extra_hosts(value: Value, path: &str) -> Result<Vec<String>, String> {
    Ok(match value {
        Value::Mapping(_) => string_map(value, path)?
            .into_iter()
            .map(|(host, ip)| format!("{host}:{ip}"))
            .collect(),
        other => string_list(other, path)?
            .into_iter()
            .map(|entry| entry.replacen('=', ":", 1))
            .collect(),
    })
}

/// `env_file`: a path, a list of paths, or entries with `path` and `required`.
fn env_files(
    value: Value,
    dir: &Path,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<Vec<PathBuf>, String> {
    let items = match value {
        Value::Sequence(items) => items,
        other => vec![other],
    };
    let mut out = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Mapping(_) => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct RawEnvFile {
                    path: String,
                    required: Option<bool>,
                    format: Option<String>,
                }
                let raw: RawEnvFile = typed(item, &format!("{path}[{index}]"), problems)?;
                if let Some(format) = raw.format.filter(|f| f != "raw") {
                    return Err(format!(
                        "{path}[{index}].format: `{format}` is not supported (raw, or leave it out)"
                    ));
                }
                let file = PathBuf::from(host_path(&raw.path, dir));
                // An optional env file that is not there is left out, as compose does.
                if raw.required.unwrap_or(true) || file.exists() {
                    out.push(file);
                }
            }
            other => {
                let text = scalar_text(&other)
                    .ok_or_else(|| format!("{path}: must be a path or a list of paths"))?;
                out.push(PathBuf::from(host_path(&text, dir)));
            }
        }
    }
    Ok(out)
}

fn depends_on(
    value: Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<BTreeMap<String, Condition>, String> {
    match value {
        Value::Sequence(_) => Ok(string_list(value, path)?
            .into_iter()
            .map(|name| (name, Condition::ServiceStarted))
            .collect()),
        Value::Mapping(map) => {
            let mut out = BTreeMap::new();
            for (name, settings) in map {
                let name =
                    scalar_text(&name).ok_or_else(|| format!("{path}: keys must be names"))?;
                let condition = match settings {
                    Value::Null => Condition::ServiceStarted,
                    value => {
                        let raw: RawDependency = typed(value, &format!("{path}.{name}"), problems)?;
                        if raw.required == Some(false) {
                            // An optional dependency: compose starts without it when it is
                            // not in the project; gymops requires its services to exist.
                            return Err(format!(
                                "{path}.{name}.required: false is not supported: list only services the project has"
                            ));
                        }
                        raw.condition.unwrap_or(Condition::ServiceStarted)
                    }
                };
                out.insert(name, condition);
            }
            Ok(out)
        }
        _ => Err(format!("{path}: must be a list or a mapping")),
    }
}

fn healthcheck(raw: RawHealthcheck, path: &str) -> Result<Healthcheck, String> {
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
    Ok(Healthcheck {
        test,
        interval: time(raw.interval, "interval")?,
        timeout: time(raw.timeout, "timeout")?,
        retries: raw.retries,
        start_period: time(raw.start_period, "start_period")?,
        start_interval: time(raw.start_interval, "start_interval")?,
        disable: raw.disable.unwrap_or(false),
    })
}

fn replicas(value: &Value, path: &str) -> Result<u32, String> {
    let n = integer(value, path)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= 1000)
        .ok_or_else(|| format!("{path}: `{n}` is not a number of replicas (0 to 1000)"))
}

/// The service-level resource keys (`mem_limit`, `cpus`...).
#[allow(clippy::too_many_arguments)]
fn resources(
    service: &mut Service,
    mem_limit: Option<Value>,
    memswap_limit: Option<Value>,
    mem_reservation: Option<Value>,
    cpus_value: Option<Value>,
    cpu_shares: Option<Value>,
    cpuset: Option<Value>,
    pids_limit: Option<Value>,
    path: &str,
) -> Result<(), String> {
    let any = mem_limit.is_some()
        || memswap_limit.is_some()
        || mem_reservation.is_some()
        || cpus_value.is_some()
        || cpu_shares.is_some()
        || cpuset.is_some()
        || pids_limit.is_some();
    if !any {
        return Ok(());
    }
    let out = service.resources.get_or_insert_with(Resources::default);
    if let Some(v) = mem_limit {
        out.memory = Some(bytes(&v, &format!("{path}.mem_limit"))?);
    }
    if let Some(v) = memswap_limit {
        out.memory_swap = Some(signed_bytes(&v, &format!("{path}.memswap_limit"))?);
    }
    if let Some(v) = mem_reservation {
        out.memory_reservation = Some(bytes(&v, &format!("{path}.mem_reservation"))?);
    }
    if let Some(v) = cpus_value {
        out.cpus = Some(cpus(&v, &format!("{path}.cpus"))?);
    }
    if let Some(v) = cpu_shares {
        out.cpu_shares = Some(integer(&v, &format!("{path}.cpu_shares"))?);
    }
    if let Some(v) = cpuset {
        let text = scalar_text(&v).unwrap_or_default();
        if text.is_empty()
            || !text
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
        {
            return Err(format!(
                "{path}.cpuset: `{text}` is not a CPU list (0-1, 0,2)"
            ));
        }
        out.cpuset = Some(text);
    }
    if let Some(v) = pids_limit {
        out.pids = Some(integer(&v, &format!("{path}.pids_limit"))?);
    }
    Ok(())
}

fn deploy(
    service: &mut Service,
    raw: RawDeploy,
    path: &str,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let path = format!("{path}.deploy");
    for (key, given) in [
        ("placement", raw.placement.is_some()),
        ("update_config", raw.update_config.is_some()),
        ("rollback_config", raw.rollback_config.is_some()),
        ("endpoint_mode", raw.endpoint_mode.is_some()),
        ("labels", raw.labels.is_some()),
    ] {
        if given {
            notes.push(format!(
                "{path}.{key} applies to Swarm services only; on one engine it changes nothing (docker compose ignores it too)"
            ));
        }
    }
    match raw.mode.as_deref() {
        None | Some("replicated") => {}
        Some("global") => notes.push(format!(
            "{path}.mode: global means one container per Swarm node; on one engine that is one container"
        )),
        Some(other) => {
            return Err(format!(
                "{path}.mode: `{other}` is not a mode (replicated or global)"
            ))
        }
    }
    if let Some(value) = raw.replicas {
        let n = replicas(&value, &format!("{path}.replicas"))?;
        if let Some(scale) = service.replicas.filter(|s| *s != n) {
            return Err(format!(
                "{path}.replicas: {n} disagrees with scale ({scale}); set one of them"
            ));
        }
        service.replicas = Some(n);
    }
    if let Some(policy) = raw.restart_policy {
        let at = format!("{path}.restart_policy");
        for (key, given) in [
            ("delay", policy.delay.is_some()),
            ("window", policy.window.is_some()),
        ] {
            if given {
                notes.push(format!(
                    "{at}.{key} applies to Swarm services only; the engine restarts with its own back-off"
                ));
            }
        }
        let derived = match policy.condition.as_deref().unwrap_or("any") {
            "none" => "no".to_string(),
            "any" => "always".to_string(),
            "on-failure" => match policy.max_attempts {
                Some(n) => format!("on-failure:{n}"),
                None => "on-failure".to_string(),
            },
            other => {
                return Err(format!(
                    "{at}.condition: `{other}` is not a condition (none, on-failure, any)"
                ))
            }
        };
        // `restart:` of the service, when said, is what the engine gets.
        service.restart.get_or_insert(derived);
    }
    if let Some(resources) = raw.resources {
        let at = format!("{path}.resources");
        let out = service.resources.get_or_insert_with(Resources::default);
        if let Some(limits) = resources.limits {
            if let Some(v) = limits.cpus {
                let value = cpus(&v, &format!("{at}.limits.cpus"))?;
                agree(&mut out.cpus, value, &format!("{at}.limits.cpus"), "cpus")?;
            }
            if let Some(v) = limits.memory {
                let value = bytes(&v, &format!("{at}.limits.memory"))?;
                agree(
                    &mut out.memory,
                    value,
                    &format!("{at}.limits.memory"),
                    "mem_limit",
                )?;
            }
            if let Some(v) = limits.pids {
                let value = integer(&v, &format!("{at}.limits.pids"))?;
                agree(
                    &mut out.pids,
                    value,
                    &format!("{at}.limits.pids"),
                    "pids_limit",
                )?;
            }
        }
        if let Some(reservations) = resources.reservations {
            if let Some(v) = reservations.memory {
                let value = bytes(&v, &format!("{at}.reservations.memory"))?;
                agree(
                    &mut out.memory_reservation,
                    value,
                    &format!("{at}.reservations.memory"),
                    "mem_reservation",
                )?;
            }
            if reservations.cpus.is_some() {
                notes.push(format!(
                    "{at}.reservations.cpus is a Swarm scheduling hint; one engine has no CPU reservation"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn file(yaml: &str) -> Result<File, String> {
        parse(serde_yaml::from_str(yaml).unwrap(), Path::new("/srv/gym")).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| p.message)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn problems(yaml: &str) -> Vec<Problem> {
        parse(serde_yaml::from_str(yaml).unwrap(), Path::new("/srv/gym")).unwrap_err()
    }
    #[test]
    fn every_supported_key_normalizes() {
        let f = file(
            r#"
version: "3.8"
name: gym-chain
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
    volumes: ["logs:/app/logs", "./conf:/etc/app:ro", "/data", {type: bind, source: ../shared, target: /shared, read_only: true}, {type: tmpfs, target: /scratch, tmpfs: {size: 64m, mode: 1777}}]
    networks: {front: {aliases: [api], ipv4_address: 172.28.0.10}, back: null}
    depends_on: {postgres: {condition: service_healthy}, minio: null}
    healthcheck: {test: curl -f http://localhost:8080/health, interval: 1m30s, timeout: 10s, retries: 3, start_period: 60s, start_interval: 2s}
    restart: on-failure:3
    labels: {team: gym}
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    deploy: {replicas: 2, resources: {limits: {cpus: "1.5", memory: 512M, pids: 200}, reservations: {memory: 256m}}}
    profiles: [api]
    expose: ["9999", "7000-7001/udp"]
    secrets: [db_password, {source: api_key, target: /etc/api.key, uid: "1000", gid: "1000", mode: 0400}]
    configs: [{source: app_conf, target: /etc/app.conf}]
    stop_signal: SIGINT
    stop_grace_period: 1m
    memswap_limit: -1
    cpu_shares: 512
    cpuset: "0-1"
    ulimits: {nofile: {soft: 20000, hard: 40000}, nproc: 65535}
    user: "1000:1000"
    working_dir: /app
    init: true
    shm_size: 128m
    tmpfs: [/run, "/tmp:size=64m"]
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    hostname: api
    domainname: gym.local
    platform: linux/amd64
    stdin_open: true
    tty: true
    sysctls: {net.core.somaxconn: 1024}
    devices: [/dev/null:/dev/gymnull:rwm]
    dns: 1.1.1.1
    dns_search: [gym.local]
    dns_opt: [ndots:2]
    extra_hosts: {db.gym: 10.0.0.5}
    group_add: [audio]
    oom_score_adj: -200
    pull_policy: missing
    x-note: ignored
  postgres:
    image: postgres:15
    environment: {POSTGRES_DB: fitness_gym, PORT: 5432, EMPTY: null}
    depends_on: [minio]
    deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}
  minio:
    image: minio/minio
    network_mode: "service:postgres"
    extends: postgres
volumes:
  logs: {driver: local, driver_opts: {type: tmpfs, device: tmpfs}, labels: [tier=logs]}
networks:
  front:
    driver: bridge
    ipam: {config: [{subnet: 172.28.0.0/16, gateway: 172.28.0.1}]}
    labels: {tier: front}
  back: {external: true, name: shared_back}
secrets:
  db_password: {file: ./secrets/db_password.txt}
  api_key: {environment: API_KEY}
configs:
  app_conf: {content: "port=8080"}
"#,
        )
        .unwrap();
        assert_eq!(f.name.as_deref(), Some("gym-chain"));
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
        assert_eq!(backend.volumes[4].kind, MountKind::Tmpfs);
        assert_eq!(backend.volumes[4].tmpfs_size, Some(64 << 20));
        assert_eq!(backend.volumes[4].tmpfs_mode, Some(0o1777));
        assert_eq!(backend.networks["front"], vec!["api".to_string()]);
        assert_eq!(
            backend.addresses["front"].ipv4_address.as_deref(),
            Some("172.28.0.10")
        );
        assert_eq!(backend.depends_on["postgres"], Condition::ServiceHealthy);
        assert_eq!(backend.depends_on["minio"], Condition::ServiceStarted);
        let health = backend.healthcheck.as_ref().unwrap();
        assert_eq!(health.test.as_ref().unwrap()[0], "CMD-SHELL");
        assert_eq!(health.interval, Some(Duration::from_secs(90)));
        assert_eq!(health.start_interval, Some(Duration::from_secs(2)));
        let resources = backend.resources.as_ref().unwrap();
        assert_eq!(resources.cpus, Some(1.5));
        assert_eq!(resources.memory, Some(512 << 20));
        assert_eq!(resources.memory_reservation, Some(256 << 20));
        assert_eq!(resources.memory_swap, Some(-1));
        assert_eq!(resources.pids, Some(200));
        assert_eq!(resources.cpu_shares, Some(512));
        assert_eq!(resources.cpuset.as_deref(), Some("0-1"));
        assert_eq!(backend.replicas, Some(2));
        assert_eq!(backend.logging.as_ref().unwrap().options["max-file"], "3");
        assert_eq!(backend.expose, ["9999", "7000-7001/udp"]);
        assert_eq!(backend.secrets[0].source, "db_password");
        assert_eq!(
            (backend.secrets[1].uid, backend.secrets[1].mode),
            (Some(1000), Some(0o400))
        );
        assert_eq!(backend.configs[0].target.as_deref(), Some("/etc/app.conf"));
        assert_eq!(backend.stop_grace_period, Some(Duration::from_secs(60)));
        assert_eq!(
            backend.ulimits["nofile"],
            Ulimit {
                soft: 20000,
                hard: 40000
            }
        );
        assert_eq!(backend.ulimits["nproc"].hard, 65535);
        assert_eq!(backend.user.as_deref(), Some("1000:1000"));
        assert_eq!(backend.shm_size, Some(128 << 20));
        assert_eq!(backend.tmpfs, ["/run", "/tmp:size=64m"]);
        assert_eq!(backend.dns, ["1.1.1.1"]);
        assert_eq!(backend.extra_hosts, ["db.gym:10.0.0.5"]);
        assert_eq!(backend.sysctls["net.core.somaxconn"], "1024");
        assert_eq!(backend.oom_score_adj, Some(-200));
        let postgres = &f.services["postgres"];
        assert_eq!(postgres.environment["PORT"].as_deref(), Some("5432"));
        assert_eq!(postgres.environment["EMPTY"], None);
        assert_eq!(postgres.depends_on["minio"], Condition::ServiceStarted);
        assert_eq!(postgres.restart.as_deref(), Some("on-failure:5"));
        let minio = &f.services["minio"];
        assert_eq!(minio.network_service(), Some("postgres"));
        assert_eq!(minio.extends.as_ref().unwrap().service, "postgres");
        assert!(f.networks["back"].external);
        let front = f.networks["front"].ipam.as_ref().unwrap();
        assert_eq!(front.config[0].subnet.as_deref(), Some("172.28.0.0/16"));
        assert_eq!(f.volumes["logs"].driver_opts["type"], "tmpfs");
        assert_eq!(f.volumes["logs"].labels["tier"], "logs");
        assert_eq!(
            f.secrets["db_password"].file.as_deref(),
            Some(Path::new("/srv/gym/secrets/db_password.txt"))
        );
        assert_eq!(f.secrets["api_key"].environment.as_deref(), Some("API_KEY"));
        assert_eq!(f.configs["app_conf"].content.as_deref(), Some("port=8080"));
    }

    #[test]
    fn every_unknown_key_is_reported_with_its_path() {
        let found = problems(
            "services:\n  backend:\n    image: x\n    cap_addd: [NET_ADMIN]\n    healthcheck: {intervl: 5s, test: [CMD, 'true']}\n    ports: [{target: 80, publishd: 8080}]\n  web:\n    image: y\n    cap_addd: [SYS_TIME]\nvolumez: {}\n",
        );
        let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "volumez",
                "services.backend.cap_addd",
                "services.backend.healthcheck.intervl",
                "services.backend.ports[0].publishd",
                "services.web.cap_addd",
            ],
            "{found:?}"
        );
        assert!(
            found[2].message.starts_with(
                "services.backend.healthcheck: unknown key `intervl` (did you mean `interval`?)"
            ),
            "{found:?}"
        );
        assert!(
            found[1].message.contains("did you mean `cap_add`"),
            "{found:?}"
        );
    }

    #[test]
    fn value_errors_name_the_value_and_what_is_expected() {
        let err =
            file("services:\n  b:\n    image: x\n    ports: [\"80:80:80:80\"]\n").unwrap_err();
        assert!(err.starts_with("services.b.ports[0]:"), "{err}");
        let err = file("services:\n  b:\n    image: x\n    restart: sometimes\n").unwrap_err();
        assert!(err.contains("`sometimes` is not a restart policy"), "{err}");
        let err = file(
            "services:\n  b:\n    image: x\n    depends_on: {a: {condition: service_ready}}\n",
        )
        .unwrap_err();
        assert!(err.starts_with("services.b.depends_on.a"), "{err}");
        let err = file("services:\n  b:\n    image: x\n    mem_limit: lots\n").unwrap_err();
        assert!(
            err.contains("services.b.mem_limit: `lots` has an unknown unit"),
            "{err}"
        );
        let err = file("services:\n  b:\n    image: x\n    network_mode: bridged\n").unwrap_err();
        assert!(err.contains("`bridged` is not a network mode"), "{err}");
        let err =
            file("services:\n  b:\n    image: x\n    volumes: [/data, '/data/']\n").unwrap_err();
        assert!(err.contains("duplicate mount target /data/"), "{err}");
        let err = file("secrets:\n  s: {external: true}\n").unwrap_err();
        assert!(err.contains("Swarm") && err.contains("file:"), "{err}");
        let err = file(
            "services:\n  b:\n    image: x\n    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 2g}}}\n",
        )
        .unwrap_err();
        assert!(err.contains("disagrees with mem_limit"), "{err}");
        let err =
            file("services:\n  b:\n    image: x\n    ulimits: {nofile: {soft: 10, hard: 5}}\n")
                .unwrap_err();
        assert!(err.contains("above the hard limit"), "{err}");
    }

    #[test]
    fn swarm_only_keys_are_read_with_a_note() {
        let f = file(
            "services:\n  b:\n    image: x\n    deploy: {mode: replicated, replicas: 3, placement: {constraints: [node.role==manager]}, restart_policy: {condition: any, delay: 5s}}\n",
        )
        .unwrap();
        assert_eq!(f.services["b"].replicas, Some(3));
        assert_eq!(f.services["b"].restart.as_deref(), Some("always"));
        assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
        assert!(f.notes[0].contains("deploy.placement"), "{:?}", f.notes);
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
        assert_eq!(
            super::super::values::compose_duration(Duration::from_secs(90)),
            "1m30s"
        );
        assert_eq!(
            super::super::values::compose_duration(Duration::from_millis(1500)),
            "1.5s"
        );
        assert_eq!(
            super::super::values::compose_duration(Duration::from_secs(3600)),
            "1h0m0s"
        );
        assert_eq!(
            super::super::values::compose_duration(Duration::from_millis(500)),
            "500ms"
        );
    }
}
