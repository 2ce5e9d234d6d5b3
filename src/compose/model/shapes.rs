//! The service keys that take several shapes (a string or a mapping, a list or a map):
//! mounts, ports, secret and config grants, env files, dependencies, healthchecks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::parse::{typed, Problem};
use super::raw::*;
use super::values::{
    bytes, duration, file_mode, host_path, integer, port, scalar_text, string_list, string_map,
};
use super::{Condition, Grant, Healthcheck, Mount, MountKind, Port};

pub(super) fn mount_value(
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

pub(super) fn port_value(
    value: Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<Port, String> {
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
            let mut out = port(&text, path)?;
            match raw.mode.as_deref() {
                None => {}
                Some(mode @ ("host" | "ingress")) => out.mode = Some(mode.to_string()),
                Some(other) => {
                    return Err(format!(
                        "{path}.mode: `{other}` is not a publish mode (host or ingress)"
                    ))
                }
            }
            Ok(out)
        }
        other => {
            let text = scalar_text(&other)
                .ok_or_else(|| format!("{path}: must be a port string or mapping"))?;
            port(&text, path)
        }
    }
}

/// A `secrets:` or `configs:` entry of a service: a name, or the long syntax.
pub(super) fn grant(
    value: Value,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Result<Grant, String> {
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
pub(super) fn one_or_list(value: Option<Value>, path: &str) -> Result<Vec<String>, String> {
    value
        .map(|v| string_list(v, path))
        .unwrap_or(Ok(Vec::new()))
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

pub(super) fn extra_hosts(value: Value, path: &str) -> Result<Vec<String>, String> {
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
pub(super) fn env_files(
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

pub(super) fn depends_on(
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

pub(super) fn healthcheck(raw: RawHealthcheck, path: &str) -> Result<Healthcheck, String> {
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
