//! Dynamic completion of values only the deployment knows: service names (gymops.yaml's
//! services and the environment's compose services) and incident IDs. The shell asks
//! gymops itself (`COMPLETE=bash gymops -- ...`, clap_complete's protocol); a completer
//! that cannot read the settings offers nothing rather than failing.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;

use clap_complete::engine::CompletionCandidate;

use crate::settings::{Loaded, Overrides};

/// The settings as a command run here would load them (`GYMOPS_CONFIG`, `GYMOPS_SITE`,
/// `GYMOPS_ENVIRONMENT`), or None.
fn loaded() -> Option<(Loaded, BTreeMap<String, String>)> {
    let environment: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect();
    let overrides = Overrides {
        config: environment.get("GYMOPS_CONFIG").map(Into::into),
        environment: environment.get("GYMOPS_ENVIRONMENT").cloned(),
        site: environment.get("GYMOPS_SITE").cloned(),
        ..Overrides::default()
    };
    let cwd = std::env::current_dir().ok()?;
    let loaded = crate::settings::load(&overrides, &environment, &cwd).ok()?;
    Some((loaded, environment))
}

fn matching(current: &OsStr, values: impl IntoIterator<Item = String>) -> Vec<CompletionCandidate> {
    let prefix = current.to_string_lossy();
    values
        .into_iter()
        .filter(|value| value.starts_with(prefix.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// The deployment's services: gymops.yaml's, and the environment's compose services.
pub fn services(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some((loaded, environment)) = loaded() else {
        return Vec::new();
    };
    let mut names: BTreeSet<String> = loaded.settings.services.keys().cloned().collect();
    if let Some(chosen) = loaded
        .settings
        .environments
        .get(&loaded.settings.environment)
    {
        let files: Vec<_> = chosen
            .compose_files
            .iter()
            .map(|f| loaded.resolve_path(f))
            .collect();
        if let Ok(project) = crate::compose::load(&files, Some(&loaded.env_file), &environment) {
            names.extend(project.model.services.keys().cloned());
        }
    }
    matching(current, names)
}

/// The incidents of incident.dir, newest first.
pub fn incident_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some((loaded, _)) = loaded() else {
        return Vec::new();
    };
    let dir = crate::incident::store::dir_of(None, &loaded);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.starts_with("INC-"))
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    matching(current, ids)
}
