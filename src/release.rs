//! The release history (`.gymops/releases.json`): every successful deploy or rollback, oldest
//! first. Read here for metrics and reports.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub id: String,
    pub time: DateTime<Utc>,
    pub environment: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub operator: String,
    /// deploy or rollback
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceRelease>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRelease {
    pub image: String,
    #[serde(default)]
    pub image_id: String,
    #[serde(default)]
    pub config_hash: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    pub releases: Vec<Release>,
}

/// The history at `path`; an absent file is an empty history.
pub fn load(path: &Path) -> Result<History> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a gymops release history", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(History::default()),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

impl History {
    pub fn newest(&self) -> Option<&Release> {
        self.releases.iter().max_by_key(|release| release.time)
    }
}
