//! The deployment's compose files as gymops reads them: each file interpolated, checked key
//! by key (every problem at once, with lines), normalized, merged in order with the compose
//! specification's override rules, and validated as a whole (dependencies exist and have no
//! cycle, named volumes, networks, secrets and configs are declared).

pub mod interpolate;
pub mod lines;
mod load;
pub mod model;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};
use serde::Serialize;

use crate::error::HintExt;
pub use load::{env_file_vars, MAX_COMPOSE_BYTES};
pub use model::{Condition, File, Service};
pub use validate::{scale_problem, valid_service_name};

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
        vars.extend(env_file_vars(path)?);
    }
    vars.extend(environment.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut loader = load::Loader::new(vars);
    let mut merged = File::default();
    for path in files {
        merged.merge(loader.file(path)?);
    }
    validate::implicit_dependencies(&mut merged);
    let all_files = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    validate::validate(&merged, &all_files)?;
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
        missing_variables: loader.missing_variables,
    })
}

/// The project name the files declare (top-level `name`, the last file that says wins, as
/// written: the caller normalizes it), with the file that said it; None when none does or a file cannot be read (the command
/// that loads the files reports that).
pub fn declared_name(
    files: &[PathBuf],
    environment: &BTreeMap<String, String>,
) -> Option<(String, PathBuf)> {
    let mut found = None;
    for path in files {
        let Ok(text) = crate::fsutil::read_text_file(path, "compose file", MAX_COMPOSE_BYTES)
        else {
            continue;
        };
        let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
            continue;
        };
        let Some(name) = value.get("name").and_then(|n| n.as_str()) else {
            continue;
        };
        let mut outcome = interpolate::Outcome::default();
        if let Ok(name) = interpolate::interpolate(name, environment, &mut outcome) {
            if !name.trim().is_empty() {
                found = Some((name, path.clone()));
            }
        }
    }
    found
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
            "services:\n  api:\n    image: x\n    cap_addd: [NET_ADMIN]\n    healthcheck: {test: [CMD, 'true'], intervl: 5s}\n  web:\n    image: y\n    cap_addd: [SYS_TIME]\n    ports: [{target: 80, publishd: 80}]\n",
            &[
                "4 problems: ",
                "unknown.yml (line 4): services.api: unknown key `cap_addd` (did you mean `cap_add`?)",
                "unknown.yml (line 5): services.api.healthcheck: unknown key `intervl` (did you mean `interval`?)",
                "unknown.yml (line 8): services.web: unknown key `cap_addd`",
                "unknown.yml (line 9): services.web.ports[0]: unknown key `publishd` (did you mean `published`?)",
            ],
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
