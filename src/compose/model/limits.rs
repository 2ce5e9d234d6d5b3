//! Resource limits (the service keys and `deploy.resources`, which must agree), replicas,
//! and `deploy`: what one engine honours, and what only a Swarm does (kept in
//! [`super::swarm::SwarmDeploy`]).

use serde_yaml::Value;

use super::raw::*;
use super::swarm::{self, RestartPolicy, SwarmDeploy};
use super::values::{bytes, duration, integer, optional_map, scalar_text, signed_bytes};
use super::{Resources, Service};

/// CPUs: a positive number (`0.5`, `"1.5"`).
pub(super) fn cpus(value: &Value, path: &str) -> Result<f64, String> {
    let text = scalar_text(value).unwrap_or_default();
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|c| *c > 0.0)
        .ok_or_else(|| format!("{path}: `{text}` is not a number of CPUs (e.g. 0.5)"))
}

/// Set a resource from two places (a service key and `deploy.resources`); both must agree.
pub(super) fn agree<T: PartialEq + std::fmt::Debug>(
    slot: &mut Option<T>,
    value: T,
    path: &str,
    other: &str,
) -> Result<(), String> {
    match slot {
        Some(existing) if *existing != value => Err(format!(
            "{path}: {value:?} disagrees with {other} ({existing:?}); set it in one place"
        )),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

pub(super) fn replicas(value: &Value, path: &str) -> Result<u32, String> {
    let n = integer(value, path)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n <= 1000)
        .ok_or_else(|| format!("{path}: `{n}` is not a number of replicas (0 to 1000)"))
}

/// The service-level resource keys (`mem_limit`, `cpus`...).
#[allow(clippy::too_many_arguments)]
pub(super) fn resources(
    service: &mut Service,
    mem_limit: Option<Value>,
    memswap_limit: Option<Value>,
    mem_reservation: Option<Value>,
    cpus_value: Option<Value>,
    cpu_shares: Option<Value>,
    cpuset: Option<Value>,
    pids_limit: Option<Value>,
    path: &str,
) -> Result<(), String> {
    let any = mem_limit.is_some()
        || memswap_limit.is_some()
        || mem_reservation.is_some()
        || cpus_value.is_some()
        || cpu_shares.is_some()
        || cpuset.is_some()
        || pids_limit.is_some();
    if !any {
        return Ok(());
    }
    let out = service.resources.get_or_insert_with(Resources::default);
    if let Some(v) = mem_limit {
        out.memory = Some(bytes(&v, &format!("{path}.mem_limit"))?);
    }
    if let Some(v) = memswap_limit {
        out.memory_swap = Some(signed_bytes(&v, &format!("{path}.memswap_limit"))?);
    }
    if let Some(v) = mem_reservation {
        out.memory_reservation = Some(bytes(&v, &format!("{path}.mem_reservation"))?);
    }
    if let Some(v) = cpus_value {
        out.cpus = Some(cpus(&v, &format!("{path}.cpus"))?);
    }
    if let Some(v) = cpu_shares {
        out.cpu_shares = Some(integer(&v, &format!("{path}.cpu_shares"))?);
    }
    if let Some(v) = cpuset {
        let text = scalar_text(&v).unwrap_or_default();
        if text.is_empty()
            || !text
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == '-')
        {
            return Err(format!(
                "{path}.cpuset: `{text}` is not a CPU list (0-1, 0,2)"
            ));
        }
        out.cpuset = Some(text);
    }
    if let Some(v) = pids_limit {
        out.pids = Some(integer(&v, &format!("{path}.pids_limit"))?);
    }
    Ok(())
}

pub(super) fn deploy(service: &mut Service, raw: RawDeploy, path: &str) -> Result<(), String> {
    let path = format!("{path}.deploy");
    let mut swarm = SwarmDeploy::default();
    if let Some(value) = raw.placement {
        swarm::placement(value, &format!("{path}.placement"), &mut swarm)?;
    }
    if let Some(value) = raw.update_config {
        swarm.update_config = Some(swarm::update_config(
            value,
            &format!("{path}.update_config"),
            false,
        )?);
    }
    if let Some(value) = raw.rollback_config {
        swarm.rollback_config = Some(swarm::update_config(
            value,
            &format!("{path}.rollback_config"),
            true,
        )?);
    }
    if let Some(value) = raw.endpoint_mode {
        let text = scalar_text(&value).unwrap_or_default();
        if !["vip", "dnsrr"].contains(&text.as_str()) {
            return Err(format!(
                "{path}.endpoint_mode: `{text}` is not an endpoint mode (vip or dnsrr)"
            ));
        }
        swarm.endpoint_mode = Some(text);
    }
    if let Some(value) = raw.labels {
        swarm.labels = optional_map(value, &format!("{path}.labels"))?
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect();
    }
    match raw.mode.as_deref() {
        None | Some("replicated") => {}
        Some("global") => swarm.global = true,
        Some(other) => {
            return Err(format!(
                "{path}.mode: `{other}` is not a mode (replicated or global)"
            ))
        }
    }
    if let Some(value) = raw.replicas {
        let n = replicas(&value, &format!("{path}.replicas"))?;
        if let Some(scale) = service.replicas.filter(|s| *s != n) {
            return Err(format!(
                "{path}.replicas: {n} disagrees with scale ({scale}); set one of them"
            ));
        }
        service.replicas = Some(n);
    }
    if let Some(policy) = raw.restart_policy {
        let at = format!("{path}.restart_policy");
        let condition = policy.condition.as_deref().unwrap_or("any");
        swarm.restart_policy = Some(RestartPolicy {
            condition: condition.to_string(),
            max_attempts: policy.max_attempts,
            delay: policy
                .delay
                .map(|v| duration(v, &format!("{at}.delay")))
                .transpose()?,
            window: policy
                .window
                .map(|v| duration(v, &format!("{at}.window")))
                .transpose()?,
        });
        let derived = match condition {
            "none" => "no".to_string(),
            "any" => "always".to_string(),
            "on-failure" => match policy.max_attempts {
                Some(n) => format!("on-failure:{n}"),
                None => "on-failure".to_string(),
            },
            other => {
                return Err(format!(
                    "{at}.condition: `{other}` is not a condition (none, on-failure, any)"
                ))
            }
        };
        // `restart:` of the service, when said, is what the engine gets.
        service.restart.get_or_insert(derived);
    }
    if let Some(resources) = raw.resources {
        let at = format!("{path}.resources");
        let out = service.resources.get_or_insert_with(Resources::default);
        if let Some(limits) = resources.limits {
            if let Some(v) = limits.cpus {
                let value = cpus(&v, &format!("{at}.limits.cpus"))?;
                agree(&mut out.cpus, value, &format!("{at}.limits.cpus"), "cpus")?;
            }
            if let Some(v) = limits.memory {
                let value = bytes(&v, &format!("{at}.limits.memory"))?;
                agree(
                    &mut out.memory,
                    value,
                    &format!("{at}.limits.memory"),
                    "mem_limit",
                )?;
            }
            if let Some(v) = limits.pids {
                let value = integer(&v, &format!("{at}.limits.pids"))?;
                agree(
                    &mut out.pids,
                    value,
                    &format!("{at}.limits.pids"),
                    "pids_limit",
                )?;
            }
        }
        if let Some(reservations) = resources.reservations {
            if let Some(v) = reservations.memory {
                let value = bytes(&v, &format!("{at}.reservations.memory"))?;
                agree(
                    &mut out.memory_reservation,
                    value,
                    &format!("{at}.reservations.memory"),
                    "mem_reservation",
                )?;
            }
            if let Some(v) = reservations.cpus {
                swarm.cpus_reservation = Some(cpus(&v, &format!("{at}.reservations.cpus"))?);
            }
        }
    }
    if swarm != SwarmDeploy::default() {
        service.swarm = Some(swarm);
    }
    Ok(())
}
