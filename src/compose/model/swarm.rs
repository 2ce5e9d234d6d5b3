//! The `deploy` keys only a Swarm acts on: mode, placement, update and rollback configs, the
//! restart policy's delay and window, the endpoint mode, service labels and CPU
//! reservations. Read and checked for every file (one engine ignores them, with a note);
//! `deploy.orchestrator: swarm` turns them into the service spec. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use super::values::{duration, integer, scalar_text, string_list, string_map};

/// How a rolling update (or its rollback) goes, as `update_config` / `rollback_config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    /// Tasks updated at once (0: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub delay: Option<Duration>,
    /// `continue`, `rollback` or `pause` (`rollback_config`: `continue` or `pause`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub monitor: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    /// `stop-first` or `start-first`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
}

/// `restart_policy` as a Swarm reads it (one engine gets `restart:` from it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    pub condition: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub delay: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    pub window: Option<Duration>,
}

/// Everything of `deploy` that only a Swarm uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SwarmDeploy {
    /// `mode: global`: one task per node.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub global: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// `placement.preferences[].spread`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// `vip` or `dnsrr`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    /// `deploy.labels`: on the service (the containers get `labels`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_reservation: Option<f64>,
}

impl SwarmDeploy {
    /// Later files override what they say, key by key (compose merges `deploy` as a mapping).
    pub fn merge(&mut self, over: SwarmDeploy) {
        self.global |= over.global;
        if !over.constraints.is_empty() {
            self.constraints = over.constraints;
        }
        if !over.spread.is_empty() {
            self.spread = over.spread;
        }
        self.max_replicas_per_node = over.max_replicas_per_node.or(self.max_replicas_per_node);
        self.update_config = over.update_config.or(self.update_config.take());
        self.rollback_config = over.rollback_config.or(self.rollback_config.take());
        self.restart_policy = over.restart_policy.or(self.restart_policy.take());
        self.endpoint_mode = over.endpoint_mode.or(self.endpoint_mode.take());
        self.labels.extend(over.labels);
        self.cpus_reservation = over.cpus_reservation.or(self.cpus_reservation);
    }
}

/// What a single engine does not do of a service's Swarm keys, a note each (docker compose
/// ignores them too).
pub fn single_engine_notes(service_name: &str, swarm: &SwarmDeploy) -> Vec<String> {
    let path = format!("services.{service_name}.deploy");
    let mut notes = Vec::new();
    for (key, given) in [
        (
            "placement",
            !swarm.constraints.is_empty()
                || !swarm.spread.is_empty()
                || swarm.max_replicas_per_node.is_some(),
        ),
        ("update_config", swarm.update_config.is_some()),
        ("rollback_config", swarm.rollback_config.is_some()),
        ("endpoint_mode", swarm.endpoint_mode.is_some()),
        ("labels", !swarm.labels.is_empty()),
    ] {
        if given {
            notes.push(format!(
                "{path}.{key} applies to Swarm services only; on one engine it changes nothing (docker compose ignores it too; deploy.orchestrator: swarm uses it)"
            ));
        }
    }
    if swarm.global {
        notes.push(format!(
            "{path}.mode: global means one container per Swarm node; on one engine that is one container"
        ));
    }
    if let Some(policy) = &swarm.restart_policy {
        for (key, given) in [
            ("delay", policy.delay.is_some()),
            ("window", policy.window.is_some()),
        ] {
            if given {
                notes.push(format!(
                    "{path}.restart_policy.{key} applies to Swarm services only; the engine restarts with its own back-off"
                ));
            }
        }
    }
    if swarm.cpus_reservation.is_some() {
        notes.push(format!(
            "{path}.resources.reservations.cpus is a Swarm scheduling hint; one engine has no CPU reservation"
        ));
    }
    notes
}

fn mapping(value: Value, path: &str) -> Result<serde_yaml::Mapping, String> {
    match value {
        Value::Mapping(map) => Ok(map),
        Value::Null => Ok(serde_yaml::Mapping::new()),
        _ => Err(format!("{path}: must be a mapping")),
    }
}

fn keys_of(
    map: serde_yaml::Mapping,
    path: &str,
    known: &[&str],
) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let key = scalar_text(&key).ok_or_else(|| format!("{path}: keys must be names"))?;
        if !known.contains(&key.as_str()) {
            return Err(format!(
                "{path}: unknown key `{key}` (known: {})",
                known.join(", ")
            ));
        }
        out.insert(key, value);
    }
    Ok(out)
}

fn count(value: &Value, path: &str) -> Result<u64, String> {
    let n = integer(value, path)?;
    u64::try_from(n).map_err(|_| format!("{path}: `{n}` must be 0 or more"))
}

/// `update_config` or `rollback_config`.
pub(super) fn update_config(
    value: Value,
    path: &str,
    rollback: bool,
) -> Result<UpdateConfig, String> {
    let keys = keys_of(
        mapping(value, path)?,
        path,
        &[
            "parallelism",
            "delay",
            "failure_action",
            "monitor",
            "max_failure_ratio",
            "order",
        ],
    )?;
    let mut out = UpdateConfig::default();
    for (key, value) in keys {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "parallelism" => out.parallelism = Some(count(&value, &at)?),
            "delay" => out.delay = Some(duration(value, &at)?),
            "monitor" => out.monitor = Some(duration(value, &at)?),
            "max_failure_ratio" => {
                let text = scalar_text(&value).unwrap_or_default();
                out.max_failure_ratio = Some(
                    text.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|r| (0.0..=1.0).contains(r))
                        .ok_or_else(|| format!("{at}: `{text}` is not a ratio from 0 to 1"))?,
                );
            }
            "failure_action" => {
                let text = scalar_text(&value).unwrap_or_default();
                let allowed: &[&str] = if rollback {
                    &["continue", "pause"]
                } else {
                    &["continue", "rollback", "pause"]
                };
                if !allowed.contains(&text.as_str()) {
                    return Err(format!(
                        "{at}: `{text}` is not a failure action ({})",
                        allowed.join(", ")
                    ));
                }
                out.failure_action = Some(text);
            }
            _ => {
                let text = scalar_text(&value).unwrap_or_default();
                if !["stop-first", "start-first"].contains(&text.as_str()) {
                    return Err(format!(
                        "{at}: `{text}` is not an order (stop-first or start-first)"
                    ));
                }
                out.order = Some(text);
            }
        }
    }
    Ok(out)
}

/// `placement`: constraints, spread preferences, max_replicas_per_node.
pub(super) fn placement(value: Value, path: &str, out: &mut SwarmDeploy) -> Result<(), String> {
    let keys = keys_of(
        mapping(value, path)?,
        path,
        &["constraints", "preferences", "max_replicas_per_node"],
    )?;
    for (key, value) in keys {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "constraints" => {
                out.constraints = string_list(value, &at)?;
                for constraint in &out.constraints {
                    if !["==", "!="].iter().any(|op| constraint.contains(op)) {
                        return Err(format!(
                            "{at}: `{constraint}` is not a constraint (node.role==manager, node.labels.site!=lab)"
                        ));
                    }
                }
            }
            "preferences" => {
                let Value::Sequence(items) = value else {
                    return Err(format!("{at}: must be a list of {{spread: ...}}"));
                };
                for (index, item) in items.into_iter().enumerate() {
                    let spread = string_map(item, &format!("{at}[{index}]"))?;
                    match spread.get("spread") {
                        Some(label) if spread.len() == 1 => out.spread.push(label.clone()),
                        _ => {
                            return Err(format!(
                                "{at}[{index}]: must be {{spread: node.labels.NAME}}"
                            ))
                        }
                    }
                }
            }
            _ => out.max_replicas_per_node = Some(count(&value, &at)?),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn update_configs_are_read_and_checked() {
        let config = update_config(
            yaml("{parallelism: 1, delay: 5s, order: start-first, failure_action: rollback, monitor: 10s, max_failure_ratio: 0.2}"),
            "services.api.deploy.update_config",
            false,
        )
        .unwrap();
        assert_eq!(config.parallelism, Some(1));
        assert_eq!(config.delay, Some(Duration::from_secs(5)));
        assert_eq!(config.order.as_deref(), Some("start-first"));
        assert_eq!(config.failure_action.as_deref(), Some("rollback"));
        assert_eq!(config.monitor, Some(Duration::from_secs(10)));
        let err = update_config(yaml("{order: first}"), "u", false).unwrap_err();
        assert!(err.contains("u.order: `first` is not an order"), "{err}");
        let err = update_config(yaml("{failure_action: rollback}"), "r", true).unwrap_err();
        assert!(err.contains("continue, pause"), "{err}");
        let err = update_config(yaml("{paralelism: 1}"), "u", false).unwrap_err();
        assert!(err.contains("unknown key `paralelism`"), "{err}");
    }

    #[test]
    fn placement_takes_constraints_spreads_and_a_per_node_maximum() {
        let mut out = SwarmDeploy::default();
        placement(
            yaml("{constraints: ['node.role==manager'], preferences: [{spread: node.labels.zone}], max_replicas_per_node: 2}"),
            "p",
            &mut out,
        )
        .unwrap();
        assert_eq!(out.constraints, vec!["node.role==manager"]);
        assert_eq!(out.spread, vec!["node.labels.zone"]);
        assert_eq!(out.max_replicas_per_node, Some(2));
        let err = placement(yaml("{constraints: [manager]}"), "p", &mut out).unwrap_err();
        assert!(err.contains("is not a constraint"), "{err}");
    }
}
