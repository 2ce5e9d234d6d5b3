//! The release history (`.gymops/releases.json`): every successful deploy or rollback, oldest
//! first, written atomically. Each release's images are also tagged
//! `gymops-release/PROJECT-SERVICE:ID` on the engine, so that a rollback finds them even
//! after their original tags moved on and `docker image prune` ran.

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

    /// A new ID for a release made at `now`: `20261127-131800`, suffixed when taken.
    pub fn next_id(&self, now: DateTime<Utc>) -> String {
        let base = now.format("%Y%m%d-%H%M%S").to_string();
        let mut id = base.clone();
        let mut n = 2;
        while self.releases.iter().any(|r| r.id == id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }

    pub fn find(&self, id: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == id)
    }

    /// The release before the newest (what "previous" means to rollback).
    pub fn previous(&self) -> Option<&Release> {
        let mut sorted: Vec<&Release> = self.releases.iter().collect();
        sorted.sort_by_key(|r| r.time);
        sorted.len().checked_sub(2).map(|i| sorted[i])
    }

    /// The newest release, other than the newest of all, in which a service ran an image
    /// tagged `tag` (`--to v1.1.5`).
    pub fn with_tag(&self, tag: &str) -> Option<&Release> {
        let newest = self.newest().map(|r| r.id.clone());
        let mut sorted: Vec<&Release> = self.releases.iter().collect();
        sorted.sort_by_key(|r| std::cmp::Reverse(r.time));
        sorted.into_iter().find(|r| {
            Some(&r.id) != newest.as_ref()
                && r.services
                    .values()
                    .any(|s| s.image.rsplit_once(':').is_some_and(|(_, t)| t == tag))
        })
    }

    /// Releases beyond the newest `keep`: their image tags can go.
    pub fn beyond(&self, keep: usize) -> Vec<&Release> {
        let mut sorted: Vec<&Release> = self.releases.iter().collect();
        sorted.sort_by_key(|r| std::cmp::Reverse(r.time));
        sorted.into_iter().skip(keep).collect()
    }
}

/// The engine tag that keeps a release's image: (`gymops-release/PROJECT-SERVICE`, ID).
pub fn image_tag(project: &str, service: &str, release: &str) -> (String, String) {
    let service: String = service
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    (
        format!("gymops-release/{project}-{service}"),
        release.to_string(),
    )
}

/// Append a release and write the history atomically.
pub fn record(path: &Path, release: Release) -> Result<History> {
    let mut history = load(path)?;
    history.releases.push(release);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let json = serde_json::to_vec_pretty(&history)?;
    crate::fsutil::write_atomic(path, &json, Some(0o644))?;
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn release(id: &str, minute: u32, image: &str) -> Release {
        Release {
            id: id.into(),
            time: Utc.with_ymd_and_hms(2026, 11, 27, 10, minute, 0).unwrap(),
            environment: "production".into(),
            host: "h".into(),
            operator: "ops".into(),
            kind: "deploy".into(),
            services: BTreeMap::from([(
                "backend".to_string(),
                ServiceRelease {
                    image: image.into(),
                    image_id: format!("sha256:{id}"),
                    config_hash: "x".into(),
                },
            )]),
        }
    }

    #[test]
    fn previous_tagged_and_pruned_releases() {
        let history = History {
            releases: vec![
                release("r1", 1, "gym/api:1.1.5"),
                release("r2", 2, "gym/api:1.2.0"),
                release("r3", 3, "gym/api:1.2.1"),
            ],
        };
        assert_eq!(history.previous().unwrap().id, "r2");
        assert_eq!(history.with_tag("1.1.5").unwrap().id, "r1");
        assert!(
            history.with_tag("1.2.1").is_none(),
            "the current one is not a target"
        );
        assert_eq!(
            history
                .beyond(2)
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            vec!["r1"]
        );
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 3, 0).unwrap();
        let mut taken = history.clone();
        taken.releases[2].id = "20261127-100300".into();
        assert_eq!(taken.next_id(now), "20261127-100300-2");
        assert_eq!(
            image_tag("fitness_gym", "Backend", "r1"),
            (
                "gymops-release/fitness_gym-backend".to_string(),
                "r1".to_string()
            )
        );
    }

    #[test]
    fn records_are_appended_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gymops/releases.json");
        record(&path, release("r1", 1, "a:1")).unwrap();
        let history = record(&path, release("r2", 2, "a:2")).unwrap();
        assert_eq!(history.releases.len(), 2);
        assert_eq!(load(&path).unwrap().releases.len(), 2);
    }
}
