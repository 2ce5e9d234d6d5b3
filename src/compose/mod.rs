//! The deployment's compose files as gymops reads them: each file interpolated from the
//! environment and the `.env` file, checked key by key against what gymops supports,
//! normalized, merged in order with compose's override rules, and validated as a whole
//! (dependencies exist and have no cycle, named volumes and networks are declared).

pub mod interpolate;

/// The largest compose file read (public compose files are a few KiB to a few hundred).
pub const MAX_COMPOSE_BYTES: u64 = 4 * 1024 * 1024;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use serde_yaml::Value;

use crate::error::HintExt;
use interpolate::{interpolate, Outcome, Problem};
pub use model::{Condition, File, Service};

/// The merged deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub files: Vec<PathBuf>,
    #[serde(flatten)]
    pub model: File,
    /// Services in the order they start (dependencies first).
    pub start_order: Vec<String>,
    /// Variables the files use that are set nowhere (compose puts an empty string there),
    /// with the files that use them.
    pub missing_variables: BTreeMap<String, BTreeSet<String>>,
}

/// Read, interpolate, check, merge and validate `files` (in order). Variables come from
/// `environment` over `env_file` (when it exists).
pub fn load(
    files: &[PathBuf],
    env_file: Option<&Path>,
    environment: &BTreeMap<String, String>,
) -> Result<Project> {
    if files.is_empty() {
        return Err(anyhow!("no compose file given"))
            .hint("set environments.NAME.compose_files in gymops.yaml, or pass -f FILE");
    }
    let mut vars = BTreeMap::new();
    if let Some(path) = env_file.filter(|p| p.exists()) {
        for item in dotenvy::from_path_iter(path)
            .with_context(|| format!("cannot read env file {}", path.display()))?
        {
            let (key, value) = item
                .map_err(|err| anyhow!("env file {}: {err}", path.display()))
                .hint("each line of the env file must be KEY=VALUE (compose .env syntax)")?;
            vars.insert(key, value);
        }
    }
    vars.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut merged = File::default();
    let mut missing_variables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut declared_in: BTreeMap<String, String> = BTreeMap::new();
    for path in files {
        let shown = path.display().to_string();
        let text = crate::fsutil::read_text_file(path, "compose file", MAX_COMPOSE_BYTES).hint(
            "check environments.NAME.compose_files in gymops.yaml (paths are relative to it)",
        )?;
        crate::settings::check_nesting(&text).map_err(|depth| {
            anyhow!("{shown}: nested more than {depth} levels deep: not a compose file")
        })?;
        let mut value: Value = serde_yaml::from_str(&text)
            .map_err(|err| anyhow!("{shown}: not valid YAML: {err}"))
            .hint("fix the YAML syntax at the line shown")?;
        // YAML merge keys (`<<: *defaults`), as compose files use them with x- anchors.
        value
            .apply_merge()
            .map_err(|err| anyhow!("{shown}: {err}"))
            .hint("a merge key (<<) must refer to a mapping or a list of mappings")?;
        let mut outcome = Outcome::default();
        interpolate_tree(&mut value, &vars, &mut outcome, "").map_err(|(at, problem)| {
            let (message, hint) = match problem {
                Problem::Required { name, message } => (
                    format!("{shown}: {at}: required variable {name} is not set: {message}"),
                    format!("set {name} in the environment or in the env file"),
                ),
                Problem::Syntax(message) => (
                    format!("{shown}: {at}: {message}"),
                    "write ${VAR}, ${VAR:-default} or ${VAR:?message}; $$ for a literal $".into(),
                ),
            };
            anyhow!(message).context(crate::error::Hint(hint))
        })?;
        for name in outcome.missing {
            missing_variables
                .entry(name)
                .or_default()
                .insert(shown.clone());
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let file = model::parse(value, &dir).map_err(|message| {
            let line = key_line(&text, &message)
                .map(|n| format!(" (line {n})"))
                .unwrap_or_default();
            anyhow!("{shown}{line}: {message}").context(crate::error::Hint(
                "gymops reads the compose keys listed in docs/deploy.md; remove or rewrite this one"
                    .into(),
            ))
        })?;
        for name in file.services.keys() {
            declared_in
                .entry(name.clone())
                .or_insert_with(|| shown.clone());
        }
        merged.merge(file);
    }
    let all_files = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    validate(&merged, &all_files)?;
    let start_order = start_order(&merged).map_err(|cycle| {
        anyhow!("{all_files}: dependency cycle: {}", cycle.join(" -> ")).context(
            crate::error::Hint(
                "remove one of these depends_on entries; nothing was started".into(),
            ),
        )
    })?;
    Ok(Project {
        files: files.to_vec(),
        model: merged,
        start_order,
        missing_variables,
    })
}

/// The line of the key an error names (`unknown key `intervl``), for the message.
fn key_line(text: &str, message: &str) -> Option<usize> {
    let key = message.split('`').nth(1)?;
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            trimmed.starts_with(&format!("{key}:"))
        })
        .map(|(n, _)| n + 1)
        .collect();
    (hits.len() == 1).then(|| hits[0])
}

/// Interpolate every string value (not keys), with the path of a failure.
fn interpolate_tree(
    value: &mut Value,
    vars: &BTreeMap<String, String>,
    outcome: &mut Outcome,
    path: &str,
) -> std::result::Result<(), (String, Problem)> {
    match value {
        Value::String(text) => {
            *text = interpolate(text, vars, outcome).map_err(|p| (path.to_string(), p))?;
        }
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, vars, outcome, &format!("{path}[{index}]"))?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                let child = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                interpolate_tree(item, vars, outcome, &child)?;
            }
        }
        Value::Tagged(tagged) => interpolate_tree(&mut tagged.value, vars, outcome, path)?,
        _ => {}
    }
    Ok(())
}

/// Whole-model checks, all problems at once.
fn validate(model: &File, files: &str) -> Result<()> {
    if model.services.is_empty() {
        return Err(anyhow!("{files}: no services are defined"))
            .hint("a compose file lists its services under `services:` (docker-compose refuses an empty one too)");
    }
    let mut problems = Vec::new();
    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, service) in &model.services {
        // Keys are not interpolated: `${SVC}:` is a name, and not a valid one.
        if !valid_service_name(name) {
            problems.push(format!(
                "service name `{}` is not valid: letters, digits, `.`, `_` and `-`, starting with a letter or digit (keys are not interpolated)",
                name.escape_debug()
            ));
        }
        if service.image.is_none() && service.build.is_none() {
            problems.push(format!("service `{name}` has neither image nor build"));
        }
        if let Some(context) = service.build.as_ref().and_then(|b| b.context.as_ref()) {
            if !context.is_dir() {
                problems.push(format!(
                    "service `{name}`: the build context {} is not a directory",
                    context.display()
                ));
            }
        }
        for dependency in service.depends_on.keys() {
            if !model.services.contains_key(dependency) {
                problems.push(format!(
                    "service `{name}` depends on `{dependency}`, which is not a service"
                ));
            }
        }
        for mount in &service.volumes {
            if let (model::MountKind::Volume, Some(volume)) = (mount.kind, &mount.source) {
                if !model.volumes.contains_key(volume) {
                    problems.push(format!(
                        "service `{name}` uses the named volume `{volume}`, which is not declared under top-level `volumes:`"
                    ));
                }
            }
        }
        for network in service.networks.keys() {
            if network != "default" && !model.networks.contains_key(network) {
                problems.push(format!(
                    "service `{name}` joins the network `{network}`, which is not declared under top-level `networks:`"
                ));
            }
        }
        if let Some(container) = &service.container_name {
            if let Some(other) = names.insert(container, name) {
                problems.push(format!(
                    "services `{other}` and `{name}` both use container_name `{container}`"
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow!("{files}: {}", problems.join("; ")))
        .hint("fix the compose files; nothing was started")
}

/// Dependencies first, then by name; `Err(cycle)` names a cycle (`a -> b -> a`).
pub fn start_order(model: &File) -> std::result::Result<Vec<String>, Vec<String>> {
    let mut order = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1: visiting, 2: done
    fn visit<'a>(
        name: &'a str,
        model: &'a File,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        order: &mut Vec<String>,
    ) -> std::result::Result<(), Vec<String>> {
        match state.get(name) {
            Some(2) => return Ok(()),
            Some(1) => {
                let start = stack.iter().position(|s| *s == name).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Err(cycle);
            }
            _ => {}
        }
        state.insert(name, 1);
        stack.push(name);
        if let Some(service) = model.services.get(name) {
            for dependency in service.depends_on.keys() {
                if model.services.contains_key(dependency) {
                    visit(dependency, model, state, stack, order)?;
                }
            }
        }
        stack.pop();
        state.insert(name, 2);
        order.push(name.to_string());
        Ok(())
    }
    for name in model.services.keys() {
        visit(name, model, &mut state, &mut Vec::new(), &mut order)?;
    }
    Ok(order)
}

/// Compose's service name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_service_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn files_merge_in_order_with_variables_from_env_file_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let base = write(
            dir.path(),
            "docker-compose.yml",
            "services:\n  api:\n    image: gym/api:${TAG:-latest}\n    ports: ['${PORT}:8080']\n    depends_on: [db]\n    environment: {DB: '${DB_NAME}', UNSET: '${NOT_SET_ANYWHERE}'}\n  db:\n    image: postgres:15\n",
        );
        let prod = write(
            dir.path(),
            "docker-compose.prod.yml",
            "services:\n  api:\n    environment: {MODE: prod}\n",
        );
        let env_file = write(
            dir.path(),
            ".env",
            "TAG=1.4\nPORT=8081\nDB_NAME=from_file\n",
        );
        let project = load(
            &[base, prod],
            Some(&env_file),
            &env(&[("DB_NAME", "from_env")]),
        )
        .unwrap();
        let api = &project.model.services["api"];
        assert_eq!(api.image.as_deref(), Some("gym/api:1.4"));
        assert_eq!(api.ports[0].published.as_deref(), Some("8081"));
        assert_eq!(
            api.environment["DB"].as_deref(),
            Some("from_env"),
            "environment over .env"
        );
        assert_eq!(api.environment["MODE"].as_deref(), Some("prod"));
        assert_eq!(project.start_order, vec!["db", "api"]);
        assert_eq!(
            project.missing_variables.keys().collect::<Vec<_>>(),
            vec!["NOT_SET_ANYWHERE"]
        );
    }

    #[test]
    fn bad_files_fail_with_the_file_the_key_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, text: &str, expected: &[&str]| {
            let path = write(dir.path(), name, text);
            let err = load(&[path], None, &BTreeMap::new()).unwrap_err();
            let (message, hint) = crate::error::describe(&err);
            for piece in expected {
                assert!(message.contains(piece), "{piece} in {message}");
            }
            assert!(hint.is_some(), "{message}");
        };
        check(
            "unknown.yml",
            "services:\n  api:\n    image: x\n    cap_add: [NET_ADMIN]\n",
            &["unknown.yml (line 4): services.api: unknown key `cap_add`"],
        );
        check(
            "required.yml",
            "services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${PW:?set PW in .env}\n",
            &["required.yml: services.db.environment.POSTGRES_PASSWORD: required variable PW is not set: set PW in .env"],
        );
        check(
            "cycle.yml",
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
            &["dependency cycle: a -> b -> c -> a"],
        );
        check(
            "unknown-dep.yml",
            "services:\n  api: {image: x, depends_on: [database]}\n  web: {image: y, volumes: ['data:/d']}\n",
            &[
                "service `api` depends on `database`, which is not a service",
                "named volume `data`",
            ],
        );
        check(
            "noimage.yml",
            "services:\n  api: {restart: always}\n",
            &["neither image nor build"],
        );
    }
}
