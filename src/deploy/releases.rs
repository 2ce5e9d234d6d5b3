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

use super::run::{Action, Pin, ServiceOutcome};
use crate::compose::Project;
use crate::docker::Engine;

/// What made a release.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseKind {
    /// `up`
    #[default]
    Deploy,
    /// `up --failover`
    Failover,
    /// `rollback`, or the automatic rollback of a failed `up`
    Rollback,
}

impl ReleaseKind {
    pub fn label(self) -> &'static str {
        match self {
            ReleaseKind::Deploy => "deploy",
            ReleaseKind::Failover => "failover",
            ReleaseKind::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub id: String,
    pub time: DateTime<Utc>,
    pub environment: String,
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub operator: String,
    #[serde(default)]
    pub kind: ReleaseKind,
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

/// Who and where, for a release record.
pub struct Recorder<'a> {
    pub engine: &'a Engine,
    /// The history file.
    pub path: &'a Path,
    /// The engine's compose project name.
    pub project_name: &'a str,
    pub environment: &'a str,
    pub host: String,
    pub operator: String,
    /// Releases whose image tags are kept.
    pub keep: usize,
}

impl Recorder<'_> {
    /// Record a deploy or rollback: the history entry (each service's spec as its
    /// containers were created, its environment and replica count; the project's networks,
    /// volumes, secret and config sources), and the image tags that keep its images (older
    /// releases' tags beyond `keep` removed). `passed`: false for a failed deploy left
    /// running. Returns the release ID and what could not be kept (for a warning).
    pub async fn record(
        &self,
        project: &Project,
        kind: ReleaseKind,
        outcomes: &[ServiceOutcome],
        passed: bool,
    ) -> Result<(String, Vec<String>)> {
        let history = load(self.path)?;
        let now = Utc::now();
        let id = history.next_id(now);
        let services = release_services(&history, project, outcomes);
        let mut warnings = Vec::new();
        for (service, release) in &services {
            let (repo, tag) = image_tag(self.project_name, service, &id);
            if let Err(err) = self.engine.tag(&release.image_id, &repo, &tag).await {
                warnings.push(format!(
                    "cannot keep the image of {service} for rollback: {}",
                    crate::error::describe(&err).0
                ));
            }
        }
        let history = record(
            self.path,
            Release {
                id: id.clone(),
                time: now,
                environment: self.environment.to_string(),
                host: self.host.clone(),
                operator: self.operator.clone(),
                kind,
                services,
                passed,
                networks: project.model.networks.clone(),
                volumes: project.model.volumes.clone(),
                secrets: project.model.secrets.clone(),
                configs: project.model.configs.clone(),
            },
        )?;
        for old in history.beyond(self.keep) {
            for service in old.services.keys() {
                let (repo, tag) = image_tag(self.project_name, service, &old.id);
                let _ = self.engine.untag(&format!("{repo}:{tag}")).await;
            }
        }
        Ok((id, warnings))
    }
}

/// The services of a new release: what the newest release says of those this run did not
/// touch, and for each service it did: the image as deployed, its spec and environment, and
/// how many containers it now runs. Pure.
pub fn release_services(
    history: &History,
    project: &Project,
    outcomes: &[ServiceOutcome],
) -> BTreeMap<String, ServiceRelease> {
    let mut services = history
        .newest()
        .map(|r| r.services.clone())
        .unwrap_or_default();
    let mut replicas: BTreeMap<&str, u32> = BTreeMap::new();
    for outcome in outcomes {
        let count = replicas.entry(&outcome.service).or_insert(0);
        if outcome.action != Action::Removed {
            *count += 1;
        }
    }
    for outcome in outcomes.iter().filter(|o| o.action != Action::Removed) {
        services.insert(
            outcome.service.clone(),
            ServiceRelease {
                image: outcome.image.clone(),
                image_id: outcome.image_id.clone(),
                config_hash: outcome.config_hash.clone(),
                spec: project.model.services.get(&outcome.service).cloned(),
                environment: Some(outcome.environment.clone()),
                replicas: replicas[outcome.service.as_str()],
            },
        );
    }
    for (service, count) in &replicas {
        if *count == 0 {
            if let Some(entry) = services.get_mut(*service) {
                entry.replicas = 0;
            }
        }
    }
    services
}

/// How to run a release's service again: its kept tag when the engine still has it (else
/// the image ID), the name it was deployed as, and its environment then.
pub async fn pinned(
    engine: &Engine,
    project: &str,
    service: &str,
    release: &Release,
) -> Result<Option<Pin>> {
    let Some(entry) = release.services.get(service) else {
        return Ok(None);
    };
    let (repo, tag) = image_tag(project, service, &release.id);
    let kept = format!("{repo}:{tag}");
    let reference = if engine.image_id(&kept).await?.is_some() {
        kept
    } else {
        entry.image_id.clone()
    };
    Ok(Some(Pin {
        reference,
        image_id: entry.image_id.clone(),
        deployed_as: Some(entry.image.clone()),
        environment: entry.environment.clone(),
    }))
}

/// Whether the engine still has every image of a release.
pub async fn images_kept(engine: &Engine, project: &str, release: &Release) -> Result<bool> {
    for (service, entry) in &release.services {
        let by_tag = pinned(engine, project, service, release)
            .await?
            .is_some_and(|pin| pin.reference != pin.image_id);
        if !by_tag && engine.image_id(&entry.image_id).await?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
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
            kind: ReleaseKind::Deploy,
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

    #[test]
    fn a_release_records_what_each_touched_service_runs_and_how_many() {
        use crate::deploy::run::ServiceOutcome;
        let history = History {
            releases: vec![release("r1", 1, "gym/api:1.1.5")],
        };
        let mut model = crate::compose::File::default();
        model.services.insert(
            "worker".into(),
            crate::compose::Service {
                image: Some("gym/worker:2".into()),
                ..Default::default()
            },
        );
        let project = Project {
            files: Vec::new(),
            model,
            start_order: vec!["worker".into()],
            missing_variables: BTreeMap::new(),
        };
        let outcome = |number: u32, action: Action| ServiceOutcome {
            service: "worker".into(),
            number,
            container: format!("gym_worker_{number}"),
            action,
            image: "gym/worker:2".into(),
            pin: None,
            image_id: "sha256:w".into(),
            replaced: None,
            previous_image: None,
            previous_image_id: None,
            config_hash: "h".into(),
            state: "running".into(),
            health: None,
            elapsed_ms: 1,
            environment: BTreeMap::from([("MODE".to_string(), "x".to_string())]),
        };
        let services = release_services(
            &history,
            &project,
            &[
                outcome(1, Action::Unchanged),
                outcome(2, Action::Created),
                outcome(3, Action::Removed),
            ],
        );
        assert_eq!(
            services["backend"].image, "gym/api:1.1.5",
            "untouched: kept"
        );
        let worker = &services["worker"];
        assert_eq!(worker.replicas, 2, "the removed third is not counted");
        assert_eq!(
            worker.spec.as_ref().unwrap().image.as_deref(),
            Some("gym/worker:2")
        );
        assert_eq!(worker.environment.as_ref().unwrap()["MODE"], "x");
    }
}
