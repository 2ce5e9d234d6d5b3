//! The release history (`.gymops/releases.json`): every deploy or rollback that passed its
//! gate, and every failed deploy left running (`up --no-rollback`), oldest first, written
//! atomically (mode 0600: it holds each container's environment). Each release records per
//! service the full normalized spec its containers were created from, so a rollback
//! recreates what ran, not only its image; the images are also tagged
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
    /// Whether it passed its health gate (false: a failed deploy left running).
    #[serde(default = "passed_default")]
    pub passed: bool,
    /// The project's networks and volumes then (a rollback recreates with these).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, crate::compose::model::Network>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, crate::compose::model::Network>,
    /// Secrets and configs then: where they came from, never their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, crate::compose::model::Source>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, crate::compose::model::Source>,
}

fn passed_default() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceRelease {
    /// The image as deployed (`fitness-gym-api:v1.1.5`).
    pub image: String,
    #[serde(default)]
    pub image_id: String,
    #[serde(default)]
    pub config_hash: String,
    /// The normalized compose service its containers were created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<crate::compose::Service>,
    /// The environment its containers got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
    #[serde(default = "one")]
    pub replicas: u32,
}

fn one() -> u32 {
    1
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

    /// The newest release that passed its gate.
    pub fn last_passed(&self) -> Option<&Release> {
        self.releases
            .iter()
            .filter(|r| r.passed)
            .max_by_key(|release| release.time)
    }

    /// What `rollback` puts back by default: the last release that passed its gate, unless
    /// that is what runs now; then the passed one before it.
    pub fn rollback_target(&self) -> Option<&Release> {
        let newest = self.newest()?;
        if !newest.passed {
            return self.last_passed();
        }
        let mut passed: Vec<&Release> = self.releases.iter().filter(|r| r.passed).collect();
        passed.sort_by_key(|r| std::cmp::Reverse(r.time));
        passed.into_iter().find(|r| r.id != newest.id)
    }

    /// The newest passed release, other than the one running now, in which a service ran an
    /// image tagged `tag` (`--to v1.1.5`).
    pub fn with_tag(&self, tag: &str) -> Option<&Release> {
        let newest = self.newest().map(|r| r.id.clone());
        let mut sorted: Vec<&Release> = self.releases.iter().filter(|r| r.passed).collect();
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
    crate::fsutil::write_atomic(path, &json, Some(0o600))?;
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
                    spec: None,
                    environment: None,
                    replicas: 1,
                },
            )]),
            passed: true,
            networks: BTreeMap::new(),
            volumes: BTreeMap::new(),
            secrets: BTreeMap::new(),
            configs: BTreeMap::new(),
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
        assert_eq!(history.rollback_target().unwrap().id, "r2");
        // A failed deploy left running: the target is the last that passed.
        let mut failed = history.clone();
        let mut broken = release("r4", 4, "gym/api:1.3.0");
        broken.passed = false;
        failed.releases.push(broken);
        assert_eq!(failed.rollback_target().unwrap().id, "r3");
        assert_eq!(failed.last_passed().unwrap().id, "r3");
        assert!(
            failed.with_tag("1.3.0").is_none(),
            "a failed release is no target"
        );
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
