//! Compose's scalar syntaxes: sizes, durations, ports, commands, `KEY=VALUE` lists, host
//! paths. Pure; each error names the key path and what is expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use super::Port;

pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A mapping of scalars, or a list of `KEY=VALUE` (`KEY` alone: no value).
pub fn optional_map(value: Value, path: &str) -> Result<BTreeMap<String, Option<String>>, String> {
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

pub fn string_map(value: Value, path: &str) -> Result<BTreeMap<String, String>, String> {
    Ok(optional_map(value, path)?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

/// An optional mapping of strings (labels, driver options); absent: empty.
pub fn string_map_or_empty(
    value: Option<Value>,
    path: &str,
) -> Result<BTreeMap<String, String>, String> {
    value
        .map(|v| string_map(v, path))
        .unwrap_or(Ok(BTreeMap::new()))
}

/// A command: a list, or a string split as a shell would (no shell runs it).
pub fn command(value: Value, path: &str) -> Result<Vec<String>, String> {
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

pub fn string_list(value: Value, path: &str) -> Result<Vec<String>, String> {
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
pub fn duration(value: Value, path: &str) -> Result<Duration, String> {
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
        mode: None,
    })
}

/// A host path in a bind: relative to the compose file's directory, `~` to the home.
pub fn host_path(source: &str, dir: &Path) -> String {
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
pub fn normalize(path: &Path) -> PathBuf {
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

/// A size that may be -1 (unlimited), as `memswap_limit` and `pids_limit` allow.
pub fn signed_bytes(value: &Value, path: &str) -> Result<i64, String> {
    if value.as_i64() == Some(-1) || scalar_text(value).as_deref() == Some("-1") {
        return Ok(-1);
    }
    bytes(value, path).map(|b| b.min(i64::MAX as u64) as i64)
}

/// An integer (a number or a string of one).
pub fn integer(value: &Value, path: &str) -> Result<i64, String> {
    let text = scalar_text(value).unwrap_or_default();
    text.trim()
        .parse()
        .map_err(|_| format!("{path}: `{text}` is not a whole number"))
}

/// A file mode: octal as compose writes it (`0440`, `440`), or a YAML integer read as the
/// digits it shows (`mode: 0440` is octal to YAML 1.1 and decimal 440 to YAML 1.2).
pub fn file_mode(value: &Value, path: &str) -> Result<u32, String> {
    let text = scalar_text(value).unwrap_or_default();
    let digits = text.trim().trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            format!("{path}: `{text}` is not a file mode (write it in octal, e.g. 0440)")
        })
}

/// A duration as `docker-compose config` writes it: `1m30s`, `500ms`, `1h0m0s`.
pub fn compose_duration(d: Duration) -> String {
    let total_ms = d.as_millis();
    if total_ms == 0 {
        return "0s".into();
    }
    let hours = total_ms / 3_600_000;
    let minutes = total_ms / 60_000 % 60;
    let seconds = total_ms / 1000 % 60;
    let millis = total_ms % 1000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if millis > 0 && hours == 0 && minutes == 0 && seconds == 0 {
        out.push_str(&format!("{millis}ms"));
    } else if millis > 0 {
        let fraction = format!("{millis:03}");
        out.push_str(&format!("{seconds}.{}s", fraction.trim_end_matches('0')));
    } else {
        out.push_str(&format!("{seconds}s"));
    }
    out
}
