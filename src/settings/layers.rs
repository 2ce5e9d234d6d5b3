//! The settings layers being merged: values by dotted key with their sources, secret
//! candidates, raw strings typed like the defaults, and the check that the result loads.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context, Result};
use serde_yaml::Value;

use super::file::*;
use super::flat::{env_var_name, typed_like, unflatten, FlatMap};
use super::load::*;
use super::secret::Secret;
use super::Settings;
use crate::error::HintExt;

pub(super) struct Layers {
    pub(super) defaults: Value,
    /// The defaults as dotted keys, for typing raw strings.
    pub(super) defaults_flat: FlatMap,
    pub(super) flat: FlatMap,
    pub(super) sources: BTreeMap<String, Source>,
    /// Candidates for each secret key: (secret, source).
    pub(super) secrets: BTreeMap<&'static str, Vec<(Secret, Source)>>,
    /// gymops.yaml's sites, each a partial settings tree.
    pub(super) sites: BTreeMap<String, Value>,
}

impl Layers {
    pub(super) fn add_secret(&mut self, key: &'static str, secret: Secret, source: Source) {
        self.secrets.entry(key).or_default().push((secret, source));
    }

    pub(super) fn set(&mut self, key: &str, value: Value, source: Source) {
        self.flat.insert(key.to_string(), value);
        self.sources.insert(key.to_string(), source);
    }

    /// Every key of a settings tree (gymops.yaml, or a site's part of it). `services:`
    /// replaces the list before it rather than adding to it (a deployment without MinIO
    /// lists no minio).
    pub(super) fn set_tree(&mut self, tree: &Value, source: Source) {
        let keys = super::flat::flatten(tree, &self.defaults);
        if keys.keys().any(|key| key.starts_with("services.")) {
            self.flat.retain(|key, _| !key.starts_with("services."));
            self.sources.retain(|key, _| !key.starts_with("services."));
        }
        for (key, child) in keys {
            self.set(&key, child, source.clone());
        }
    }

    /// The value a raw string must be typed like: the current one, or the default.
    pub(super) fn set_raw(&mut self, key: &str, raw: &str, source: Source) -> Result<()> {
        let like = self.flat.get(key).cloned().unwrap_or(Value::Null);
        let like = if like.is_null() {
            self.defaults_flat.get(key).cloned().unwrap_or(Value::Null)
        } else {
            like
        };
        let value = typed_like(raw, &like)
            .map_err(|why| anyhow!("{source}: bad value for {key}: {why}"))
            .hint(format!(
                "set {key} to a value of the right type (see `gymops config show`)"
            ))?;
        self.set(key, value, source);
        Ok(())
    }

    /// Dotted key for a `GYMOPS_*` variable name, among the keys known now.
    pub(super) fn key_for_env_var(&self, var: &str) -> Option<String> {
        self.flat
            .keys()
            .find(|key| env_var_name(key) == var)
            .cloned()
    }

    /// Check the merged value deserializes; name the source of the offending key.
    pub(super) fn validate(&self) -> Result<Settings> {
        let merged = unflatten(&self.flat);
        // Straight from the value when it deserializes so (a load validates four times, a
        // fleet's every site too); else through YAML text, as before: the text deserializer
        // takes a number where a string is expected (`8080` for a port written as text),
        // and only it tracks the key path an error names.
        if let Ok(settings) = serde_yaml::from_value::<Settings>(merged.clone()) {
            return Ok(settings);
        }
        let text = serde_yaml::to_string(&merged).context("cannot encode the merged settings")?;
        serde_yaml::from_str::<Settings>(&text).map_err(|err| {
            let (key, message) = explain_yaml_error(&err);
            let source = key
                .as_deref()
                .and_then(|key| self.sources.get(key))
                .map(|source| format!(" (from {source})"))
                .unwrap_or_default();
            let key = key.map(|key| format!(" `{key}`")).unwrap_or_default();
            anyhow!("invalid setting{key}{source}: {message}")
        })
    }
}
