//! Reading compose files: each file interpolated from the environment and the `.env` file,
//! read into the model (every problem at once, each with its file and line), its `extends`
//! and `include` resolved, and the values of `environment:` secrets taken.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use serde_yaml::Value;

use super::interpolate::{interpolate, Outcome, Problem};
use super::model::{self, File, Service};
use crate::error::HintExt;

/// The largest compose file read (public compose files are a few KiB to a few hundred).
pub const MAX_COMPOSE_BYTES: u64 = 4 * 1024 * 1024;

/// How deep `include` and `extends: {file:}` may nest.
const MAX_DEPTH: usize = 16;

/// Variables for interpolation, and what the files used that is set nowhere.
pub struct Loader {
    pub vars: BTreeMap<String, String>,
    pub missing_variables: BTreeMap<String, BTreeSet<String>>,
    /// Files being read (include and extends chains), to refuse a cycle.
    stack: Vec<PathBuf>,
}

/// The variables of an env file (compose `.env` syntax).
pub fn env_file_vars(path: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in dotenvy::from_path_iter(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?
    {
        let (key, value) = item
            .map_err(|err| anyhow!("env file {}: {err}", path.display()))
            .hint("each line of the env file must be KEY=VALUE (compose .env syntax)")?;
        out.push((key, value));
    }
    Ok(out)
}

impl Loader {
    pub fn new(vars: BTreeMap<String, String>) -> Loader {
        Loader {
            vars,
            missing_variables: BTreeMap::new(),
            stack: Vec::new(),
        }
    }

    /// One file with its includes and extends resolved.
    pub fn file(&mut self, path: &Path) -> Result<File> {
        let shown = path.display().to_string();
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if self.stack.contains(&key) {
            return Err(anyhow!(
                "{shown}: includes or extends itself ({})",
                self.stack
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ))
            .hint("remove the include or extends that leads back to this file");
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(anyhow!(
                "{shown}: include and extends nest more than {MAX_DEPTH} files deep"
            ));
        }
        self.stack.push(key);
        let result = self.read(path, &shown);
        self.stack.pop();
        result
    }

    fn read(&mut self, path: &Path, shown: &str) -> Result<File> {
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
        interpolate_tree(&mut value, &self.vars, &mut outcome, "").map_err(|(at, problem)| {
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
            self.missing_variables
                .entry(name)
                .or_default()
                .insert(shown.to_string());
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let mut file = model::parse(value, &dir).map_err(|problems| {
            let lines = super::lines::index(&text);
            let listed: Vec<String> = problems
                .iter()
                .map(|problem| {
                    let line = super::lines::line_of(&lines, &problem.path)
                        .map(|n| format!(" (line {n})"))
                        .unwrap_or_default();
                    format!("{shown}{line}: {}", problem.message)
                })
                .collect();
            let count = if listed.len() > 1 {
                format!("{} problems: ", listed.len())
            } else {
                String::new()
            };
            anyhow!("{count}{}", listed.join("; ")).context(crate::error::Hint(
                "gymops reads the compose keys listed in docs/deploy.md; fix or remove these, nothing was changed"
                    .into(),
            ))
        })?;
        self.resolve_extends(&mut file, shown)?;
        for (name, source) in file.secrets.iter_mut().chain(file.configs.iter_mut()) {
            if let Some(variable) = &source.environment {
                match self.vars.get(variable) {
                    Some(value) => source.value = Some(value.clone()),
                    None => {
                        return Err(anyhow!(
                            "{shown}: {name} takes its content from the variable {variable}, which is not set"
                        ))
                        .hint(format!("set {variable} in the environment or in the env file"))
                    }
                }
            }
        }
        let includes = std::mem::take(&mut file.include);
        if includes.is_empty() {
            return Ok(file);
        }
        let mut merged = File::default();
        for include in includes {
            let saved = self.vars.clone();
            for env_file in &include.env_file {
                for (key, value) in env_file_vars(env_file)? {
                    self.vars.entry(key).or_insert(value);
                }
            }
            let mut included = File::default();
            for path in &include.paths {
                included.merge(self.file(path)?);
            }
            self.vars = saved;
            for name in included.services.keys() {
                if merged.services.contains_key(name) || file.services.contains_key(name) {
                    return Err(anyhow!(
                        "{shown}: service `{name}` is defined both here and in included {}",
                        include
                            .paths
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .hint("an included file's services may not be redefined; use extends or an override file (-f) to change them");
                }
            }
            merged.merge(included);
        }
        merged.merge(file);
        Ok(merged)
    }

    /// Replace each service that extends another with the other merged under it.
    fn resolve_extends(&mut self, file: &mut File, shown: &str) -> Result<()> {
        let names: Vec<String> = file.services.keys().cloned().collect();
        let mut done: BTreeMap<String, Service> = BTreeMap::new();
        for name in names {
            let mut chain = Vec::new();
            let service = self.extended(file, &name, shown, &mut chain, &mut done)?;
            file.services.insert(name, service);
        }
        Ok(())
    }

    fn extended(
        &mut self,
        file: &File,
        name: &str,
        shown: &str,
        chain: &mut Vec<String>,
        done: &mut BTreeMap<String, Service>,
    ) -> Result<Service> {
        if let Some(service) = done.get(name) {
            return Ok(service.clone());
        }
        let mut service = file
            .services
            .get(name)
            .cloned()
            .ok_or_else(|| {
                anyhow!("{shown}: extends names `{name}`, which is not a service of this file")
            })
            .hint("extends: SERVICE names a service of the same file; add file: for another one")?;
        let Some(extends) = service.extends.take() else {
            done.insert(name.to_string(), service.clone());
            return Ok(service);
        };
        if chain.iter().any(|c| c == name) {
            chain.push(name.to_string());
            return Err(anyhow!("{shown}: extends cycle: {}", chain.join(" -> ")))
                .hint("a service cannot extend itself through others");
        }
        chain.push(name.to_string());
        let mut base = match &extends.file {
            Some(other) => {
                let other_file = self.file(other)?;
                other_file
                    .services
                    .get(&extends.service)
                    .cloned()
                    .ok_or_else(|| {
                        anyhow!(
                            "{shown}: services.{name}.extends: {} has no service `{}`",
                            other.display(),
                            extends.service
                        )
                    })?
            }
            None => self.extended(file, &extends.service, shown, chain, done)?,
        };
        chain.pop();
        base.merge(service);
        done.insert(name.to_string(), base.clone());
        Ok(base)
    }
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
