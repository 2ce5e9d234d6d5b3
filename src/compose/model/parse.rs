//! What one compose file may say, read into the normalized model. Every key gymops does not
//! know is reported (all of them, each with its path), and each value error names the value
//! and what is expected; a file with problems yields all of them at once.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::raw::*;
use super::service::service;
use super::values::{host_path, scalar_text, string_list, string_map_or_empty};
use super::{File, Include, Ipam, IpamPool, Network, Service, Source};

/// One problem of a file: the key path it is at (for its line) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `services.api.healthcheck.intervl`, `services.api.ports[0]`.
    pub path: String,
    pub message: String,
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
pub(super) fn problem(message: String) -> Problem {
    let path = message
        .split_once(": ")
        .map(|(path, _)| path.to_string())
        .filter(|path| !path.contains(' '))
        .unwrap_or_default();
    Problem { path, message }
}

/// Deserialize, reporting every unknown key into `problems` (each removed and the rest read
/// again) and returning the first value error as `path: message`.
pub(super) fn typed<T: serde::de::DeserializeOwned>(
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
                    aux_addresses: string_map_or_empty(
                        pool.aux_addresses,
                        &format!("{path}.ipam.config[{index}].aux_addresses"),
                    )?,
                });
            }
            Some(Ipam {
                driver: ipam.driver,
                config,
                options: string_map_or_empty(ipam.options, &format!("{path}.ipam.options"))?,
            })
        }
    };
    Ok(Network {
        name,
        driver: raw.driver,
        external,
        labels: string_map_or_empty(raw.labels, &format!("{path}.labels"))?,
        driver_opts: string_map_or_empty(raw.driver_opts, &format!("{path}.driver_opts"))?,
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
        labels: string_map_or_empty(raw.labels, &format!("{path}.labels"))?,
        driver_opts: string_map_or_empty(raw.driver_opts, &format!("{path}.driver_opts"))?,
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
    // An external one lives in a Swarm (`docker secret create`): a stack refers to it, and
    // the compose preflight says a single engine has none.
    if external {
        if given > 0 {
            return Err(format!(
                "{path}: an external secret or config has no `file:`, `environment:` or `content:` of its own"
            ));
        }
    } else if given != 1 {
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

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
