//! Reading gymops.yaml: a regular, bounded, UTF-8 file of nested mappings; YAML errors
//! explained with the key they are about; secrets refused in it with their line.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde_yaml::Value;

use super::layers::*;
use super::load::*;
use super::secret::*;
use super::Settings;
use crate::error::HintExt;

/// Split a serde_yaml error into the dotted key it is about and a message without the
/// location (`backend: unknown field `urll`` -> key `backend.urll`).
pub(super) fn explain_yaml_error(err: &serde_yaml::Error) -> (Option<String>, String) {
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

pub(super) fn read_config_file(path: &Path, layers: &mut Layers, check_sites: bool) -> Result<()> {
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
    let mut value: Value =
        serde_yaml::from_str(&text).map_err(|err| anyhow!("{}: {err}", path.display()))?;
    if let Some(sites) = value.as_mapping_mut().and_then(|m| m.remove("sites")) {
        layers.sites = read_sites(path, sites, check_sites)?;
    }
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
    layers.set_tree(
        &value,
        Source::File {
            path: path.to_path_buf(),
        },
    );
    Ok(())
}

/// `sites:`: each site a partial settings tree, checked here as the file is (keys and
/// types), so a mistake in any site fails every command, not only that site's.
fn read_sites(path: &Path, sites: Value, check: bool) -> Result<BTreeMap<String, Value>> {
    let Value::Mapping(sites) = sites else {
        return Err(anyhow!("{}: `sites` is not a mapping", path.display()))
            .hint("write `sites:` then one `NAME:` per site, each with the settings that differ");
    };
    let mut found = BTreeMap::new();
    for (name, site) in sites {
        let Some(name) = name.as_str().map(str::to_string) else {
            return Err(anyhow!("{}: a site name is not text", path.display()))
                .hint("name sites with letters, digits, `_` and `-`");
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(anyhow!(
                "{}: site name `{name}` is not a name",
                path.display()
            ))
            .hint("name sites with letters, digits, `_` and `-`");
        }
        let site = match site {
            Value::Null => Value::Mapping(Default::default()),
            Value::Mapping(_) => site,
            _ => {
                return Err(anyhow!("{}: site `{name}` is not a mapping", path.display()))
                    .hint("under each site, write the settings that differ (docker:, backend:, postgres: ...)")
            }
        };
        for key in ["sites", "environment"] {
            if site.get(key).is_some() {
                return Err(anyhow!(
                    "{}: site `{name}`: key `{key}` cannot be set per site",
                    path.display()
                ))
                .hint(if key == "sites" {
                    "sites do not nest"
                } else {
                    "choose the environment per run (--environment); a site may change what each environment means (environments.NAME...)"
                });
            }
        }
        if !check {
            found.insert(name, site);
            continue;
        }
        let text =
            serde_yaml::to_string(&site).with_context(|| format!("cannot encode site `{name}`"))?;
        if let Err(err) = serde_yaml::from_str::<Settings>(&text) {
            let (key, message) = explain_yaml_error(&err);
            let key = key.map(|key| format!(": key `{key}`")).unwrap_or_default();
            return Err(anyhow!("{}: site `{name}`{key}: {message}", path.display()))
                .hint("fix that key of the site (a site takes the same keys as the top level)");
        }
        if let Some(dotted) = dotted_name(&site) {
            return Err(anyhow!(
                "{}: site `{name}`: name `{dotted}` contains a dot",
                path.display()
            ))
            .hint("service and environment names are compose names: letters, digits, `_` and `-`");
        }
        found.insert(name, site);
    }
    Ok(found)
}

/// The first mapping key with a dot in it (it would break dotted keys), if any.
pub(super) fn dotted_name(value: &Value) -> Option<String> {
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
pub(super) fn secret_key_line(text: &str) -> Option<(usize, &'static SecretSpec)> {
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
        let mut keys: Vec<&str> = stack.iter().map(|(_, key)| key.as_str()).collect();
        // A site's keys are the top level's.
        if keys.first() == Some(&"sites") {
            keys.drain(..keys.len().min(2));
        }
        let path = keys.join(".");
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
