//! What a compose file may say, key by key: every struct denies unknown keys (the parser
//! collects them all), and fields that take several shapes are YAML values converted by
//! the parser with a message naming their path. Booleans and counts also take the strings
//! an interpolated value leaves (`privileged: ${PRIV:-false}`), as compose does.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml::Value;

use super::Condition;

/// Booleans and counts written as strings (what interpolation leaves).
mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_yaml::Value;

    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Bool(b) => Ok(Some(b)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(Some(true)),
                "false" | "no" | "off" | "0" => Ok(Some(false)),
                _ => Err(serde::de::Error::custom(format!(
                    "`{s}` is not true or false"
                ))),
            },
            other => Err(serde::de::Error::custom(format!(
                "{other:?} is not true or false"
            ))),
        }
    }

    pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        let value = Value::deserialize(d)?;
        let text = match &value {
            Value::Null => return Ok(None),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            other => format!("{other:?}"),
        };
        text.parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a whole number")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) version: Option<Value>,
    pub(super) name: Option<String>,
    pub(super) include: Option<Vec<Value>>,
    pub(super) services: Option<BTreeMap<String, Option<Value>>>,
    pub(super) networks: Option<BTreeMap<String, Option<RawNetwork>>>,
    pub(super) volumes: Option<BTreeMap<String, Option<RawVolume>>>,
    pub(super) secrets: Option<BTreeMap<String, Option<RawSource>>>,
    pub(super) configs: Option<BTreeMap<String, Option<RawSource>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) image: Option<String>,
    pub(super) build: Option<Value>,
    pub(super) container_name: Option<String>,
    pub(super) command: Option<Value>,
    pub(super) entrypoint: Option<Value>,
    pub(super) environment: Option<Value>,
    pub(super) env_file: Option<Value>,
    pub(super) ports: Option<Vec<Value>>,
    pub(super) volumes: Option<Vec<Value>>,
    pub(super) networks: Option<Value>,
    pub(super) depends_on: Option<Value>,
    pub(super) healthcheck: Option<RawHealthcheck>,
    pub(super) restart: Option<String>,
    pub(super) labels: Option<Value>,
    pub(super) logging: Option<RawLogging>,
    pub(super) deploy: Option<RawDeploy>,
    pub(super) profiles: Option<Vec<String>>,
    pub(super) extra_hosts: Option<Value>,
    pub(super) pid: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) privileged: Option<bool>,
    pub(super) expose: Option<Vec<Value>>,
    pub(super) secrets: Option<Vec<Value>>,
    pub(super) configs: Option<Vec<Value>>,
    pub(super) stop_signal: Option<String>,
    pub(super) stop_grace_period: Option<Value>,
    pub(super) mem_limit: Option<Value>,
    pub(super) memswap_limit: Option<Value>,
    pub(super) mem_reservation: Option<Value>,
    pub(super) cpus: Option<Value>,
    pub(super) cpu_shares: Option<Value>,
    pub(super) cpuset: Option<Value>,
    pub(super) pids_limit: Option<Value>,
    pub(super) ulimits: Option<BTreeMap<String, Value>>,
    pub(super) user: Option<Value>,
    pub(super) working_dir: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) init: Option<bool>,
    pub(super) shm_size: Option<Value>,
    pub(super) tmpfs: Option<Value>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) read_only: Option<bool>,
    pub(super) cap_add: Option<Vec<String>>,
    pub(super) cap_drop: Option<Vec<String>>,
    pub(super) security_opt: Option<Vec<String>>,
    pub(super) hostname: Option<String>,
    pub(super) domainname: Option<String>,
    pub(super) network_mode: Option<String>,
    pub(super) platform: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) stdin_open: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) tty: Option<bool>,
    pub(super) sysctls: Option<Value>,
    pub(super) devices: Option<Vec<Value>>,
    pub(super) dns: Option<Value>,
    pub(super) dns_search: Option<Value>,
    pub(super) dns_opt: Option<Vec<String>>,
    pub(super) extends: Option<Value>,
    pub(super) links: Option<Vec<String>>,
    pub(super) ipc: Option<String>,
    pub(super) group_add: Option<Vec<Value>>,
    pub(super) oom_score_adj: Option<Value>,
    pub(super) pull_policy: Option<String>,
    pub(super) scale: Option<Value>,
    pub(super) volumes_from: Option<Vec<String>>,
    pub(super) external_links: Option<Vec<String>>,
    pub(super) runtime: Option<String>,
    pub(super) userns_mode: Option<String>,
    pub(super) cgroup_parent: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) oom_kill_disable: Option<bool>,
    pub(super) storage_opt: Option<Value>,
    pub(super) cpu_quota: Option<Value>,
    pub(super) cpu_period: Option<Value>,
    /// `docker compose watch`'s development rules: read, named in a note.
    pub(super) develop: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuild {
    pub(super) context: Option<String>,
    pub(super) dockerfile: Option<String>,
    pub(super) args: Option<Value>,
    pub(super) target: Option<String>,
    pub(super) labels: Option<Value>,
    pub(super) network: Option<String>,
    pub(super) cache_from: Option<Vec<String>>,
    pub(super) shm_size: Option<Value>,
    pub(super) extra_hosts: Option<Value>,
    pub(super) dockerfile_inline: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealthcheck {
    pub(super) test: Option<Value>,
    pub(super) interval: Option<Value>,
    pub(super) timeout: Option<Value>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub(super) retries: Option<u32>,
    pub(super) start_period: Option<Value>,
    pub(super) start_interval: Option<Value>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) disable: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogging {
    pub(super) driver: Option<String>,
    pub(super) options: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeploy {
    pub(super) resources: Option<RawResources>,
    pub(super) replicas: Option<Value>,
    pub(super) restart_policy: Option<RawRestartPolicy>,
    pub(super) mode: Option<String>,
    // Swarm's own: read, and named in a note (they do nothing on one engine).
    pub(super) placement: Option<Value>,
    pub(super) update_config: Option<Value>,
    pub(super) rollback_config: Option<Value>,
    pub(super) endpoint_mode: Option<Value>,
    pub(super) labels: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestartPolicy {
    pub(super) condition: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32")]
    pub(super) max_attempts: Option<u32>,
    pub(super) delay: Option<Value>,
    pub(super) window: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResources {
    pub(super) limits: Option<RawLimits>,
    pub(super) reservations: Option<RawReservations>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) cpus: Option<Value>,
    pub(super) memory: Option<Value>,
    pub(super) pids: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReservations {
    pub(super) cpus: Option<Value>,
    pub(super) memory: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub(super) name: Option<String>,
    pub(super) driver: Option<String>,
    pub(super) external: Option<Value>,
    pub(super) labels: Option<Value>,
    pub(super) driver_opts: Option<Value>,
    pub(super) ipam: Option<RawIpam>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) internal: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) attachable: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) enable_ipv6: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVolume {
    pub(super) name: Option<String>,
    pub(super) driver: Option<String>,
    pub(super) external: Option<Value>,
    pub(super) labels: Option<Value>,
    pub(super) driver_opts: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIpam {
    pub(super) driver: Option<String>,
    pub(super) config: Option<Vec<RawIpamPool>>,
    pub(super) options: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIpamPool {
    pub(super) subnet: Option<String>,
    pub(super) ip_range: Option<String>,
    pub(super) gateway: Option<String>,
    pub(super) aux_addresses: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub(super) name: Option<String>,
    pub(super) file: Option<String>,
    pub(super) environment: Option<String>,
    pub(super) content: Option<String>,
    pub(super) external: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    pub(super) source: String,
    pub(super) target: Option<String>,
    pub(super) uid: Option<Value>,
    pub(super) gid: Option<Value>,
    pub(super) mode: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDependency {
    pub(super) condition: Option<Condition>,
    /// Restart this service when the dependency is recreated (docker compose v2); gymops
    /// recreates by config hash, so this changes nothing it does.
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) restart: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) required: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub(super) target: Value,
    pub(super) published: Option<Value>,
    pub(super) host_ip: Option<String>,
    pub(super) protocol: Option<String>,
    pub(super) mode: Option<String>,
    /// Descriptive only, in compose as here.
    #[allow(dead_code)]
    pub(super) name: Option<String>,
    #[allow(dead_code)]
    pub(super) app_protocol: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMount {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) source: Option<String>,
    pub(super) target: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) read_only: Option<bool>,
    pub(super) bind: Option<RawBindOptions>,
    pub(super) volume: Option<RawVolumeOptions>,
    pub(super) tmpfs: Option<RawTmpfsOptions>,
    /// macOS Docker Desktop only; no effect on Linux (compose ignores it there too).
    #[allow(dead_code)]
    pub(super) consistency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBindOptions {
    pub(super) propagation: Option<String>,
    #[allow(dead_code)]
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) create_host_path: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVolumeOptions {
    #[serde(default, deserialize_with = "lenient::bool")]
    pub(super) nocopy: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTmpfsOptions {
    pub(super) size: Option<Value>,
    pub(super) mode: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServiceNetwork {
    pub(super) aliases: Option<Vec<String>>,
    pub(super) ipv4_address: Option<String>,
    pub(super) ipv6_address: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtends {
    pub(super) service: String,
    pub(super) file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInclude {
    pub(super) path: Value,
    pub(super) env_file: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevice {
    pub(super) source: String,
    pub(super) target: Option<String>,
    pub(super) permissions: Option<String>,
}
