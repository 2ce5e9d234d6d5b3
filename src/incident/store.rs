//! Incident records on disk: `DIR/<ID>/incident.json` and `report.md`. An ID is claimed
//! with `mkdir` (atomic: two incidents opened at once get different numbers), every change
//! is a read-modify-write under the incident's lock, and both files are written atomically.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use chrono::NaiveDate;

use super::{format_id, parse_id, render, Incident};
use crate::error::HintExt;
use crate::fsutil::write_atomic;
use crate::settings::IncidentSettings;

pub const RECORD: &str = "incident.json";
pub const REPORT: &str = "report.md";
pub const REVIEW: &str = "review.md";
const LOCK: &str = ".lock";

/// How long a change waits for another change of the same incident to finish.
const PATIENCE: Duration = Duration::from_secs(15);

pub struct Store {
    pub dir: PathBuf,
    pub settings: IncidentSettings,
}

impl Store {
    pub fn new(dir: PathBuf, settings: &IncidentSettings) -> Store {
        Store {
            dir,
            settings: settings.clone(),
        }
    }

    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Claim the next free ID of `date`: the directory is created here, so a concurrent
    /// opener that picked the same number moves on to the next.
    pub fn claim(&self, date: NaiveDate) -> Result<(String, PathBuf)> {
        std::fs::create_dir_all(&self.dir).with_context(|| {
            format!(
                "cannot create the incident directory {}",
                self.dir.display()
            )
        })?;
        let highest = self
            .ids()?
            .into_iter()
            .filter_map(|id| parse_id(&id))
            .filter(|(day, _)| *day == date)
            .map(|(_, number)| number)
            .max()
            .unwrap_or(0);
        for number in highest + 1..highest + 10_000 {
            let id = format_id(date, number);
            let path = self.dir.join(&id);
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok((id, path)),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        Err(anyhow!(
            "no free incident number for {date} in {}",
            self.dir.display()
        ))
    }

    /// The IDs of the incident directories here, oldest first.
    fn ids(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot read {}", self.dir.display()))
                    .hint("check incident.dir (or --dir) and its permissions")
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| parse_id(name).is_some())
            .collect();
        ids.sort_by_key(|id| parse_id(id));
        Ok(ids)
    }

    /// Write the record and its report, each atomically.
    pub fn save(&self, incident: &Incident) -> Result<()> {
        // Only to the directory of a well-formed ID (never a path a record could name).
        if parse_id(&incident.id).is_none() {
            return Err(anyhow!("`{}` is not an incident ID", incident.id));
        }
        let path = self.path_of(&incident.id);
        let json = serde_json::to_vec_pretty(incident).context("cannot encode the incident")?;
        write_atomic(&path.join(RECORD), &json, Some(0o640))?;
        let report = render::report(incident, &self.settings);
        write_atomic(&path.join(REPORT), report.as_bytes(), Some(0o640))
    }

    pub fn load(&self, id: &str) -> Result<Incident> {
        if parse_id(id).is_none() {
            return Err(anyhow!("`{id}` is not an incident ID"))
                .hint("IDs look like INC-2026-1127-001; `gymops incident list` shows them");
        }
        let path = self.path_of(id).join(RECORD);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let newest: Vec<String> = self.ids()?.into_iter().rev().take(3).collect();
                return Err(anyhow!("no incident {id} in {}", self.dir.display())).hint(
                    if newest.is_empty() {
                        "there are no incidents here; check incident.dir or --dir".to_string()
                    } else {
                        format!(
                            "the newest here are {}; `gymops incident list` shows all",
                            newest.join(", ")
                        )
                    },
                );
            }
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        let incident: Incident = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not an incident record", path.display()))
            .hint("it was changed by hand; restore it from version control or a backup")?;
        // A record names the incident of its own directory, or it is not trusted to be
        // written back anywhere.
        if incident.id != id {
            return Err(anyhow!(
                "{} says it is incident `{}`, not {id}",
                path.display(),
                incident.id.escape_debug()
            ))
            .hint("it was changed by hand; restore it from version control or a backup");
        }
        Ok(incident)
    }

    /// Change an incident: under its lock, read the newest record, apply `change`, write it
    /// back. Two concurrent changes run one after the other; neither is lost.
    pub async fn modify<T>(
        &self,
        id: &str,
        command: &str,
        change: impl FnOnce(&mut Incident) -> Result<T>,
    ) -> Result<(Incident, T)> {
        self.load(id)?;
        let lock_path = self.path_of(id).join(LOCK);
        let _lock = match crate::lock::acquire_wait(&lock_path, command, PATIENCE).await? {
            Ok(lock) => lock,
            Err(busy) => {
                return Err(anyhow!(
                    "{id} is being changed by {} and did not finish within {}s",
                    busy.holder,
                    PATIENCE.as_secs()
                ))
                .hint("try again when that command has finished")
            }
        };
        let mut incident = self.load(id)?;
        let value = change(&mut incident)?;
        self.save(&incident)?;
        Ok((incident, value))
    }

    /// Every incident here, oldest first, and a line for each directory that could not be read.
    pub fn list(&self) -> Result<(Vec<Incident>, Vec<String>)> {
        let mut incidents = Vec::new();
        let mut problems = Vec::new();
        for id in self.ids()? {
            if !self.path_of(&id).join(RECORD).exists() {
                // Claimed a moment ago, record not written yet (or the opener was killed).
                continue;
            }
            match self.load(&id) {
                Ok(incident) => incidents.push(incident),
                Err(err) => problems.push(crate::error::describe(&err).0),
            }
        }
        Ok((incidents, problems))
    }

    pub fn review_path(&self, id: &str) -> PathBuf {
        self.path_of(id).join(REVIEW)
    }
}

/// The incident directory: `--dir` (relative to where the command runs), or incident.dir
/// (relative to gymops.yaml).
pub fn dir_of(flag: Option<&Path>, loaded: &crate::settings::Loaded) -> PathBuf {
    match flag {
        Some(dir) => std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
        None => loaded.resolve_path(&loaded.settings.incident.dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_claims_get_distinct_numbers_per_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &IncidentSettings::default());
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    Store::new(path, &IncidentSettings::default())
                        .claim(day)
                        .unwrap()
                        .0
                })
            })
            .collect();
        let mut ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 8);
        assert_eq!(ids[0], "INC-2026-1127-001");
        assert_eq!(ids[7], "INC-2026-1127-008");
        let next_day = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        assert_eq!(store.claim(next_day).unwrap().0, "INC-2026-1128-001");
    }

    #[test]
    fn unknown_and_malformed_ids_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &IncidentSettings::default());
        let err = store.load("../etc").unwrap_err();
        assert!(format!("{err:#}").contains("not an incident ID"));
        let err = store.load("INC-2026-1127-001").unwrap_err();
        assert!(format!("{err:#}").contains("no incident INC-2026-1127-001"));
    }
}
