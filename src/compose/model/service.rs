//! One service of a compose file, read into the normalized model: every key to its one
//! shape, value errors naming the value and what is expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::limits::{deploy, replicas, resources};
use super::parse::{typed, Problem};
use super::raw::*;
use super::shapes::{
    depends_on, env_files, extra_hosts, grant, healthcheck, mount_target_key_of, mount_value,
    one_or_list, port_value,
};
use super::values::{
    bytes, command, duration, host_path, integer, optional_map, port, scalar_text, string_list,
    string_map,
};
use super::{Addresses, Build, Extends, Logging, Resources, Service, Ulimit};

pub(super) fn service(
    raw: RawService,
    dir: &Path,
    path: &str,
    notes: &mut Vec<String>,
    problems: &mut Vec<Problem>,
) -> Result<Service, String> {
    let mut service = Service {
        image: raw.image,
        container_name: raw.container_name,
        restart: raw.restart,
        profiles: raw.profiles.unwrap_or_default(),
        pid: raw.pid,
        privileged: raw.privileged,
        stop_signal: raw.stop_signal,
        working_dir: raw.working_dir,
        init: raw.init,
        read_only: raw.read_only,
        cap_add: raw.cap_add.unwrap_or_default(),
        cap_drop: raw.cap_drop.unwrap_or_default(),
        security_opt: raw.security_opt.unwrap_or_default(),
        hostname: raw.hostname,
        domainname: raw.domainname,
        network_mode: raw.network_mode,
        platform: raw.platform,
        stdin_open: raw.stdin_open,
        tty: raw.tty,
        dns_opt: raw.dns_opt.unwrap_or_default(),
        links: raw.links.unwrap_or_default(),
        ipc: raw.ipc,
        pull_policy: raw.pull_policy,
        volumes_from: raw.volumes_from.unwrap_or_default(),
        external_links: raw.external_links.unwrap_or_default(),
        runtime: raw.runtime,
        userns_mode: raw.userns_mode,
        cgroup_parent: raw.cgroup_parent,
        oom_kill_disable: raw.oom_kill_disable,
        ..Service::default()
    };
    if raw.develop.is_some() {
        notes.push(format!(
            "{path}.develop is for `docker compose watch` on a developer's machine; a deploy does not use it"
        ));
    }
    if let Some(value) = raw.storage_opt {
        service.storage_opt = string_map(value, &format!("{path}.storage_opt"))?;
    }
    for entry in &service.volumes_from {
        let (source, mode) = match entry.rsplit_once(':') {
            Some((source, mode)) if mode == "ro" || mode == "rw" => (source, Some(mode)),
            _ => (entry.as_str(), None),
        };
        let _ = mode;
        if source.is_empty() || source == "service:" || source == "container:" {
            return Err(format!(
                "{path}.volumes_from: `{entry}` is not SERVICE[:ro], service:NAME[:ro] or container:NAME[:ro]"
            ));
        }
    }
    if let Some(pid) = &service.pid {
        if pid != "host" {
            return Err(format!("{path}.pid: `{pid}` is not supported (host)"));
        }
    }
    if let Some(mode) = &service.network_mode {
        let known = matches!(mode.as_str(), "host" | "none" | "bridge" | "default")
            || mode
                .strip_prefix("service:")
                .or_else(|| mode.strip_prefix("container:"))
                .is_some_and(|name| !name.is_empty());
        if !known {
            return Err(format!(
                "{path}.network_mode: `{mode}` is not a network mode (host, none, bridge, service:NAME, container:NAME)"
            ));
        }
    }
    if let Some(policy) = &service.pull_policy {
        if !matches!(
            policy.as_str(),
            "always" | "never" | "missing" | "if_not_present" | "build"
        ) {
            return Err(format!(
                "{path}.pull_policy: `{policy}` is not a pull policy (always, never, missing, build)"
            ));
        }
    }
    if let Some(value) = raw.user {
        service.user = Some(
            scalar_text(&value)
                .ok_or_else(|| format!("{path}.user: must be a user name or UID[:GID]"))?,
        );
    }
    if let Some(value) = raw.extra_hosts {
        service.extra_hosts = extra_hosts(value, &format!("{path}.extra_hosts"))?;
    }
    if let Some(restart) = &service.restart {
        let known = matches!(
            restart.as_str(),
            "no" | "always" | "unless-stopped" | "on-failure"
        ) || restart
            .strip_prefix("on-failure:")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if !known {
            return Err(format!(
                "{path}.restart: `{restart}` is not a restart policy (no, always, unless-stopped, on-failure[:N])"
            ));
        }
    }
    if let Some(build) = raw.build {
        service.build = Some(match build {
            Value::String(context) => Build {
                context: Some(PathBuf::from(host_path(&context, dir))),
                ..Build::default()
            },
            value @ Value::Mapping(_) => {
                let raw: RawBuild = typed(value, &format!("{path}.build"), problems)?;
                Build {
                    context: Some(PathBuf::from(host_path(
                        raw.context.as_deref().unwrap_or("."),
                        dir,
                    ))),
                    dockerfile: raw.dockerfile,
                    args: match raw.args {
                        Some(args) => optional_map(args, &format!("{path}.build.args"))?,
                        None => BTreeMap::new(),
                    },
                    target: raw.target,
                    labels: match raw.labels {
                        Some(v) => string_map(v, &format!("{path}.build.labels"))?,
                        None => BTreeMap::new(),
                    },
                    network: raw.network,
                    cache_from: raw.cache_from.unwrap_or_default(),
                    shm_size: raw
                        .shm_size
                        .map(|v| bytes(&v, &format!("{path}.build.shm_size")))
                        .transpose()?,
                    extra_hosts: match raw.extra_hosts {
                        Some(v) => extra_hosts(v, &format!("{path}.build.extra_hosts"))?,
                        None => Vec::new(),
                    },
                    dockerfile_inline: raw.dockerfile_inline,
                }
            }
            _ => return Err(format!("{path}.build: must be a path or a mapping")),
        });
    }
    if let Some(value) = raw.command {
        service.command = Some(command(value, &format!("{path}.command"))?);
    }
    if let Some(value) = raw.entrypoint {
        service.entrypoint = Some(command(value, &format!("{path}.entrypoint"))?);
    }
    if let Some(value) = raw.environment {
        service.environment = optional_map(value, &format!("{path}.environment"))?;
    }
    if let Some(value) = raw.env_file {
        service.env_file = env_files(value, dir, &format!("{path}.env_file"), problems)?;
    }
    for (index, value) in raw.ports.unwrap_or_default().into_iter().enumerate() {
        service.ports.push(port_value(
            value,
            &format!("{path}.ports[{index}]"),
            problems,
        )?);
    }
    for (index, value) in raw.expose.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{path}.expose[{index}]");
        let text = scalar_text(&value).ok_or_else(|| format!("{at}: must be a port"))?;
        // Checked with the ports syntax: a port or a range, and a protocol.
        let parsed = port(&text, &at)?;
        if parsed.published.is_some() || parsed.host_ip.is_some() {
            return Err(format!(
                "{at}: `{text}`: expose takes a container port only (publish with ports:)"
            ));
        }
        service.expose.push(text);
    }
    let mut seen_targets: BTreeMap<String, usize> = BTreeMap::new();
    for (index, value) in raw.volumes.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{path}.volumes[{index}]");
        let mount = mount_value(value, dir, &at, problems)?;
        let key = mount_target_key_of(&mount.target);
        if let Some(first) = seen_targets.insert(key, index) {
            return Err(format!(
                "{at}: duplicate mount target {} (also {path}.volumes[{first}])",
                mount.target
            ));
        }
        service.volumes.push(mount);
    }
    if let Some(value) = raw.tmpfs {
        for entry in string_list(value, &format!("{path}.tmpfs"))? {
            if !entry.starts_with('/') {
                return Err(format!(
                    "{path}.tmpfs: `{entry}` must be an absolute container path"
                ));
            }
            service.tmpfs.push(entry);
        }
    }
    if let Some(value) = raw.networks {
        let path = format!("{path}.networks");
        match value {
            Value::Sequence(_) => {
                service.networks = string_list(value, &path)?
                    .into_iter()
                    .map(|name| (name, Vec::new()))
                    .collect()
            }
            Value::Mapping(map) => {
                for (name, settings) in map {
                    let name =
                        scalar_text(&name).ok_or_else(|| format!("{path}: keys must be names"))?;
                    let aliases = match settings {
                        Value::Null => Vec::new(),
                        value => {
                            let raw: RawServiceNetwork =
                                typed(value, &format!("{path}.{name}"), problems)?;
                            if raw.ipv4_address.is_some() || raw.ipv6_address.is_some() {
                                service.addresses.insert(
                                    name.clone(),
                                    Addresses {
                                        ipv4_address: raw.ipv4_address,
                                        ipv6_address: raw.ipv6_address,
                                    },
                                );
                            }
                            raw.aliases.unwrap_or_default()
                        }
                    };
                    service.networks.insert(name, aliases);
                }
            }
            _ => return Err(format!("{path}: must be a list or a mapping")),
        };
    }
    if let Some(value) = raw.depends_on {
        service.depends_on = depends_on(value, &format!("{path}.depends_on"), problems)?;
    }
    if let Some(raw) = raw.healthcheck {
        service.healthcheck = Some(healthcheck(raw, &format!("{path}.healthcheck"))?);
    }
    if let Some(value) = raw.labels {
        service.labels = string_map(value, &format!("{path}.labels"))?;
    }
    if let Some(raw) = raw.logging {
        let mut options = BTreeMap::new();
        for (key, value) in raw.options.unwrap_or_default() {
            let text = scalar_text(&value)
                .ok_or_else(|| format!("{path}.logging.options.{key}: must be a string"))?;
            options.insert(key, text);
        }
        service.logging = Some(Logging {
            driver: raw.driver,
            options,
        });
    }
    for (key, list, out) in [
        ("secrets", raw.secrets, &mut service.secrets),
        ("configs", raw.configs, &mut service.configs),
    ] {
        for (index, value) in list.unwrap_or_default().into_iter().enumerate() {
            out.push(grant(value, &format!("{path}.{key}[{index}]"), problems)?);
        }
    }
    if let Some(value) = raw.stop_grace_period {
        service.stop_grace_period = Some(duration(value, &format!("{path}.stop_grace_period"))?);
    }
    if let Some(value) = raw.shm_size {
        service.shm_size = Some(bytes(&value, &format!("{path}.shm_size"))?);
    }
    if let Some(value) = raw.sysctls {
        service.sysctls = string_map(value, &format!("{path}.sysctls"))?;
    }
    for (name, value) in raw.ulimits.unwrap_or_default() {
        let at = format!("{path}.ulimits.{name}");
        let limit = match &value {
            Value::Mapping(map) => {
                let get = |key: &str| {
                    map.get(key)
                        .ok_or_else(|| format!("{at}: needs soft and hard"))
                        .and_then(|v| integer(v, &format!("{at}.{key}")))
                };
                Ulimit {
                    soft: get("soft")?,
                    hard: get("hard")?,
                }
            }
            other => {
                let n = integer(other, &at)?;
                Ulimit { soft: n, hard: n }
            }
        };
        if limit.soft > limit.hard && limit.hard >= 0 {
            return Err(format!(
                "{at}: soft limit {} is above the hard limit {}",
                limit.soft, limit.hard
            ));
        }
        service.ulimits.insert(name, limit);
    }
    for (index, value) in raw.devices.unwrap_or_default().into_iter().enumerate() {
        let at = format!("{path}.devices[{index}]");
        let entry = match value {
            Value::Mapping(_) => {
                let raw: RawDevice = typed(value, &at, problems)?;
                let mut text = raw.source;
                if let Some(target) = raw.target {
                    text.push(':');
                    text.push_str(&target);
                }
                if let Some(permissions) = raw.permissions {
                    text.push(':');
                    text.push_str(&permissions);
                }
                text
            }
            other => scalar_text(&other).ok_or_else(|| format!("{at}: must be a string"))?,
        };
        if !entry.starts_with('/') {
            return Err(format!(
                "{at}: `{entry}` is not HOST_PATH[:CONTAINER_PATH[:rwm]]"
            ));
        }
        service.devices.push(entry);
    }
    service.dns = one_or_list(raw.dns, &format!("{path}.dns"))?;
    service.dns_search = one_or_list(raw.dns_search, &format!("{path}.dns_search"))?;
    for (index, value) in raw.group_add.unwrap_or_default().into_iter().enumerate() {
        service.group_add.push(
            scalar_text(&value)
                .ok_or_else(|| format!("{path}.group_add[{index}]: must be a group"))?,
        );
    }
    if let Some(value) = raw.oom_score_adj {
        let n = integer(&value, &format!("{path}.oom_score_adj"))?;
        if !(-1000..=1000).contains(&n) {
            return Err(format!(
                "{path}.oom_score_adj: `{n}` is outside -1000..1000"
            ));
        }
        service.oom_score_adj = Some(n);
    }
    if let Some(value) = raw.extends {
        service.extends = Some(match value {
            Value::Mapping(_) => {
                let raw: RawExtends = typed(value, &format!("{path}.extends"), problems)?;
                Extends {
                    service: raw.service,
                    file: raw.file.map(|f| PathBuf::from(host_path(&f, dir))),
                }
            }
            other => Extends {
                service: scalar_text(&other)
                    .ok_or_else(|| format!("{path}.extends: must be a service name"))?,
                file: None,
            },
        });
    }
    for link in &service.links {
        let target = link.split(':').next().unwrap_or_default();
        if target.is_empty() {
            return Err(format!("{path}.links: `{link}` is not SERVICE[:ALIAS]"));
        }
    }
    if let Some(value) = raw.scale {
        service.replicas = Some(replicas(&value, &format!("{path}.scale"))?);
    }
    if raw.cpu_quota.is_some() || raw.cpu_period.is_some() {
        let out = service.resources.get_or_insert_with(Resources::default);
        if let Some(v) = raw.cpu_quota {
            out.cpu_quota = Some(integer(&v, &format!("{path}.cpu_quota"))?);
        }
        if let Some(v) = raw.cpu_period {
            out.cpu_period = Some(integer(&v, &format!("{path}.cpu_period"))?);
        }
    }
    resources(
        &mut service,
        raw.mem_limit,
        raw.memswap_limit,
        raw.mem_reservation,
        raw.cpus,
        raw.cpu_shares,
        raw.cpuset,
        raw.pids_limit,
        path,
    )?;
    if let Some(deploy) = raw.deploy {
        self::deploy(&mut service, deploy, path)?;
    }
    Ok(service)
}
