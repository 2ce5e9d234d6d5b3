//! From a compose service to the Engine API's create calls: the container body (every key
//! gymops honours, each to its engine field), and the network and volume create requests.
//! Pure: the files a container gets (secrets, configs) are read by the caller.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig,
    HostConfig, HostConfigLogConfig, Ipam, IpamConfig, Mount, MountBindOptions,
    MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType, MountVolumeOptions,
    NetworkCreateRequest, NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum, VolumeCreateRequest,
};

use super::spec::{container_name, resource_name};
use crate::compose::model::{Grant, MountKind, Network, Source};
use crate::compose::{File, Service};
use crate::docker::labels::{Creation, FileCopy};

/// The project a container belongs to: its name and merged model (networks, volumes, the
/// other services for `network_mode: service:` and `links`).
pub struct Context<'a> {
    pub project: &'a str,
    pub model: &'a File,
}

/// One container of a service.
pub struct Instance<'a> {
    pub service_name: &'a str,
    pub service: &'a Service,
    /// compose's container number, 1..replicas.
    pub number: u32,
    pub image: &'a str,
    pub environment: &'a BTreeMap<String, String>,
    pub labels: HashMap<String, String>,
    /// Secrets and configs copied in (see [`copied_grants`]).
    pub files: Vec<FileCopy>,
}

pub(super) fn nanos(d: std::time::Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// Where a secret or config goes in the container: compose's defaults
/// (`/run/secrets/NAME`, `/NAME` for a config), a relative secret target under
/// /run/secrets.
pub fn grant_target(secret: bool, grant: &Grant) -> String {
    match (&grant.target, secret) {
        (Some(target), _) if target.starts_with('/') => target.clone(),
        (Some(target), true) => format!("/run/secrets/{target}"),
        (Some(target), false) => format!("/{target}"),
        (None, true) => format!("/run/secrets/{}", grant.source),
        (None, false) => format!("/{}", grant.source),
    }
}

/// Whether a grant is a read-only bind of its file (compose's way) rather than a copy: a
/// file source with no owner or mode asked for.
pub fn binds(source: &Source, grant: &Grant) -> bool {
    source.file.is_some() && grant.uid.is_none() && grant.gid.is_none() && grant.mode.is_none()
}

/// The grants of a service that are copied in: (secret?, grant, source).
pub fn copied_grants<'a>(
    model: &'a File,
    service: &'a Service,
) -> Vec<(bool, &'a Grant, &'a Source)> {
    let mut out = Vec::new();
    for (secret, grants, sources) in [
        (true, &service.secrets, &model.secrets),
        (false, &service.configs, &model.configs),
    ] {
        for grant in grants {
            if let Some(source) = sources.get(&grant.source) {
                if !binds(source, grant) {
                    out.push((secret, grant, source));
                }
            }
        }
    }
    out
}

/// `8000-8002` -> [8000, 8001, 8002]; a single port -> [it].
pub(super) fn expand(range: &str) -> Vec<String> {
    match range.split_once('-') {
        Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(a), Ok(b)) if a <= b => (a..=b).map(|p| p.to_string()).collect(),
            _ => vec![range.to_string()],
        },
        None => vec![range.to_string()],
    }
}

fn restart_policy(policy: &str) -> RestartPolicy {
    let (name, count) = match policy.split_once(':') {
        Some((name, count)) => (name, count.parse().ok()),
        None => (policy, None),
    };
    RestartPolicy {
        name: Some(match name {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            _ => RestartPolicyNameEnum::NO,
        }),
        maximum_retry_count: count,
    }
}

fn propagation(p: &str) -> MountBindOptionsPropagationEnum {
    match p {
        "rshared" => MountBindOptionsPropagationEnum::RSHARED,
        "shared" => MountBindOptionsPropagationEnum::SHARED,
        "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
        "slave" => MountBindOptionsPropagationEnum::SLAVE,
        "private" => MountBindOptionsPropagationEnum::PRIVATE,
        _ => MountBindOptionsPropagationEnum::RPRIVATE,
    }
}

/// The service's volumes, binds and tmpfs mounts (a Swarm service's too).
pub(super) fn volume_mounts(ctx: &Context, service: &Service) -> Vec<Mount> {
    service
        .volumes
        .iter()
        .map(|m| Mount {
            target: Some(m.target.clone()),
            source: match (m.kind, &m.source) {
                (MountKind::Volume, Some(volume)) => Some(resource_name(
                    ctx.project,
                    volume,
                    ctx.model.volumes.get(volume),
                )),
                (_, source) => source.clone(),
            },
            typ: Some(match m.kind {
                MountKind::Volume => MountType::VOLUME,
                MountKind::Bind => MountType::BIND,
                MountKind::Tmpfs => MountType::TMPFS,
            }),
            read_only: Some(m.read_only),
            bind_options: m.propagation.as_deref().map(|p| MountBindOptions {
                propagation: Some(propagation(p)),
                ..Default::default()
            }),
            volume_options: m.nocopy.then(|| MountVolumeOptions {
                no_copy: Some(true),
                ..Default::default()
            }),
            tmpfs_options: (m.tmpfs_size.is_some() || m.tmpfs_mode.is_some()).then(|| {
                MountTmpfsOptions {
                    size_bytes: m.tmpfs_size.map(|s| s as i64),
                    mode: m.tmpfs_mode.map(i64::from),
                    ..Default::default()
                }
            }),
            ..Mount::default()
        })
        .collect()
}

fn mounts(ctx: &Context, service: &Service) -> Vec<Mount> {
    let mut out = volume_mounts(ctx, service);
    // Secrets and configs from files, as compose does it: the file bound read-only.
    for (secret, grants, sources) in [
        (true, &service.secrets, &ctx.model.secrets),
        (false, &service.configs, &ctx.model.configs),
    ] {
        for grant in grants {
            let Some(source) = sources.get(&grant.source) else {
                continue;
            };
            if let (true, Some(file)) = (binds(source, grant), &source.file) {
                out.push(Mount {
                    target: Some(grant_target(secret, grant)),
                    source: Some(file.display().to_string()),
                    typ: Some(MountType::BIND),
                    read_only: Some(true),
                    ..Mount::default()
                });
            }
        }
    }
    out
}

/// The engine's name of a service's network key.
fn network_name(ctx: &Context, key: &str) -> String {
    if key == "default" {
        format!("{}_default", ctx.project)
    } else {
        resource_name(ctx.project, key, ctx.model.networks.get(key))
    }
}

/// The container name of another service's first container.
fn first_container(ctx: &Context, service: &str) -> String {
    match ctx.model.services.get(service) {
        Some(other) => container_name(ctx.project, service, other, 1),
        None => format!("{}_{service}_1", ctx.project),
    }
}

/// The service's healthcheck as the engine takes it (`disable`: NONE).
pub(super) fn health_config(service: &Service) -> Option<HealthConfig> {
    service.healthcheck.as_ref().map(|h| {
        if h.disable {
            HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..HealthConfig::default()
            }
        } else {
            HealthConfig {
                test: h.test.clone(),
                interval: h.interval.map(nanos),
                timeout: h.timeout.map(nanos),
                retries: h.retries.map(i64::from),
                start_period: h.start_period.map(nanos),
                start_interval: h.start_interval.map(nanos),
            }
        }
    })
}

/// The service's ulimits as the engine takes them.
pub(super) fn ulimits(service: &Service) -> Option<Vec<ResourcesUlimits>> {
    (!service.ulimits.is_empty()).then(|| {
        service
            .ulimits
            .iter()
            .map(|(name, limit)| ResourcesUlimits {
                name: Some(name.clone()),
                soft: Some(limit.soft),
                hard: Some(limit.hard),
            })
            .collect()
    })
}

/// The endpoints the container joins, first one first: (network, settings).
fn endpoints(ctx: &Context, name: &str, service: &Service) -> Vec<(String, EndpointSettings)> {
    let keys: Vec<(String, Vec<String>)> = if service.networks.is_empty() {
        vec![("default".to_string(), Vec::new())]
    } else {
        service
            .networks
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect()
    };
    let mut links: Vec<String> = service
        .links
        .iter()
        .map(|link| {
            let (other, alias) = link.split_once(':').unwrap_or((link, link));
            format!("{}:{alias}", first_container(ctx, other))
        })
        .collect();
    links.extend(service.external_links.iter().map(|link| {
        let (container, alias) = link.split_once(':').unwrap_or((link, link));
        format!("{container}:{alias}")
    }));
    keys.into_iter()
        .map(|(key, mut aliases)| {
            if !aliases.iter().any(|a| a == name) {
                aliases.insert(0, name.to_string());
            }
            let addresses = service.addresses.get(&key);
            let settings = EndpointSettings {
                aliases: Some(aliases),
                ipam_config: addresses.map(|a| EndpointIpamConfig {
                    ipv4_address: a.ipv4_address.clone(),
                    ipv6_address: a.ipv6_address.clone(),
                    ..Default::default()
                }),
                links: (!links.is_empty()).then(|| links.clone()),
                ..EndpointSettings::default()
            };
            (network_name(ctx, &key), settings)
        })
        .collect()
}

/// `volumes_from` entries as the engine takes them: `CONTAINER[:ro|rw]`.
fn volumes_from(ctx: &Context, service: &Service) -> Vec<String> {
    service
        .volumes_from
        .iter()
        .map(|entry| {
            let (source, mode) = match entry.rsplit_once(':') {
                Some((source, mode)) if mode == "ro" || mode == "rw" => {
                    (source, format!(":{mode}"))
                }
                _ => (entry.as_str(), String::new()),
            };
            let container = match source.strip_prefix("container:") {
                Some(name) => name.to_string(),
                None => first_container(ctx, source.strip_prefix("service:").unwrap_or(source)),
            };
            format!("{container}{mode}")
        })
        .collect()
}

/// `HOST[:CONTAINER[:PERMISSIONS]]`.
fn device(entry: &str) -> DeviceMapping {
    let parts: Vec<&str> = entry.splitn(3, ':').collect();
    DeviceMapping {
        path_on_host: Some(parts[0].to_string()),
        path_in_container: Some(parts.get(1).unwrap_or(&parts[0]).to_string()),
        cgroup_permissions: Some(parts.get(2).unwrap_or(&"rwm").to_string()),
    }
}

/// The create call of one container.
pub fn creation(ctx: &Context, instance: Instance) -> Creation {
    let service = instance.service;
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in &service.ports {
        let targets = expand(&port.target);
        let published = port.published.as_deref().map(expand);
        for (index, target) in targets.iter().enumerate() {
            let key = format!("{target}/{}", port.protocol);
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            let host_port = published.as_ref().map(|list| {
                if list.len() == targets.len() {
                    list[index].clone()
                } else {
                    // A host range for one container port: the engine picks one of them.
                    port.published.clone().unwrap_or_default()
                }
            });
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: port.host_ip.clone(),
                    host_port,
                });
        }
    }
    for entry in &service.expose {
        let (ports, protocol) = entry.split_once('/').unwrap_or((entry, "tcp"));
        for port in expand(ports) {
            let key = format!("{port}/{protocol}");
            if !exposed.contains(&key) {
                exposed.push(key);
            }
        }
    }
    let healthcheck = health_config(service);
    let resources = service.resources.clone().unwrap_or_default();
    let mut endpoints = endpoints(ctx, instance.service_name, service);
    let network_mode = match service.network_mode.as_deref() {
        Some(mode) => match mode.strip_prefix("service:") {
            Some(other) => format!("container:{}", first_container(ctx, other)),
            None => mode.to_string(),
        },
        None => endpoints[0].0.clone(),
    };
    let (first_endpoint, more_networks) = if service.network_mode.is_some() {
        (None, Vec::new())
    } else {
        let first = endpoints.remove(0);
        (Some(first), endpoints)
    };
    let tmpfs: HashMap<String, String> = service
        .tmpfs
        .iter()
        .map(|entry| match entry.split_once(':') {
            Some((path, options)) => (path.to_string(), options.to_string()),
            None => (entry.clone(), String::new()),
        })
        .collect();
    let some_list = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        mounts: Some(mounts(ctx, service)).filter(|m| !m.is_empty()),
        restart_policy: service.restart.as_deref().map(restart_policy),
        network_mode: Some(network_mode),
        extra_hosts: some_list(&service.extra_hosts),
        pid_mode: service.pid.clone(),
        privileged: service.privileged,
        log_config: service.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: Some(l.options.clone().into_iter().collect()),
        }),
        nano_cpus: resources.cpus.map(|c| (c * 1e9) as i64),
        memory: resources.memory.map(|m| m as i64),
        memory_reservation: resources.memory_reservation.map(|m| m as i64),
        memory_swap: resources.memory_swap,
        cpu_shares: resources.cpu_shares,
        cpuset_cpus: resources.cpuset.clone(),
        pids_limit: resources.pids,
        ulimits: ulimits(service),
        init: service.init,
        shm_size: service.shm_size.map(|s| s as i64),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        readonly_rootfs: service.read_only,
        cap_add: some_list(&service.cap_add),
        cap_drop: some_list(&service.cap_drop),
        security_opt: some_list(&service.security_opt),
        sysctls: (!service.sysctls.is_empty())
            .then(|| service.sysctls.clone().into_iter().collect()),
        devices: (!service.devices.is_empty())
            .then(|| service.devices.iter().map(|d| device(d)).collect()),
        dns: some_list(&service.dns),
        dns_search: some_list(&service.dns_search),
        dns_options: some_list(&service.dns_opt),
        ipc_mode: service.ipc.clone(),
        group_add: some_list(&service.group_add),
        oom_score_adj: service.oom_score_adj,
        volumes_from: Some(volumes_from(ctx, service)).filter(|v| !v.is_empty()),
        runtime: service.runtime.clone(),
        userns_mode: service.userns_mode.clone(),
        cgroup_parent: service.cgroup_parent.clone(),
        oom_kill_disable: service.oom_kill_disable,
        storage_opt: (!service.storage_opt.is_empty())
            .then(|| service.storage_opt.clone().into_iter().collect()),
        cpu_quota: resources.cpu_quota,
        cpu_period: resources.cpu_period,
        ..HostConfig::default()
    };
    let body = ContainerCreateBody {
        image: Some(instance.image.to_string()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: Some(
            instance
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        labels: Some(instance.labels),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck,
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.as_secs() as i64),
        open_stdin: service.stdin_open,
        tty: service.tty,
        host_config: Some(host_config),
        networking_config: first_endpoint.map(|(network, settings)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network, settings)])),
        }),
        ..ContainerCreateBody::default()
    };
    Creation {
        name: container_name(ctx.project, instance.service_name, service, instance.number),
        body,
        more_networks,
        platform: service.platform.clone(),
        files: instance.files,
    }
}

/// The create request of a project network.
pub fn network_request(
    name: String,
    network: Option<&Network>,
    labels: HashMap<String, String>,
) -> NetworkCreateRequest {
    let default = Network::default();
    let network = network.unwrap_or(&default);
    let mut labels = labels;
    labels.extend(network.labels.clone());
    NetworkCreateRequest {
        name,
        driver: Some(network.driver.clone().unwrap_or_else(|| "bridge".into())),
        internal: network.internal.then_some(true),
        attachable: network.attachable.then_some(true),
        enable_ipv6: network.enable_ipv6,
        ipam: network.ipam.as_ref().map(|ipam| Ipam {
            driver: ipam.driver.clone(),
            config: Some(
                ipam.config
                    .iter()
                    .map(|pool| IpamConfig {
                        subnet: pool.subnet.clone(),
                        ip_range: pool.ip_range.clone(),
                        gateway: pool.gateway.clone(),
                        auxiliary_addresses: (!pool.aux_addresses.is_empty())
                            .then(|| pool.aux_addresses.clone().into_iter().collect()),
                    })
                    .collect(),
            ),
            options: (!ipam.options.is_empty()).then(|| ipam.options.clone().into_iter().collect()),
        }),
        options: (!network.driver_opts.is_empty())
            .then(|| network.driver_opts.clone().into_iter().collect()),
        labels: Some(labels),
        ..NetworkCreateRequest::default()
    }
}

/// The create request of a project volume.
pub fn volume_request(
    name: String,
    volume: &Network,
    labels: HashMap<String, String>,
) -> VolumeCreateRequest {
    let mut labels = labels;
    labels.extend(volume.labels.clone());
    VolumeCreateRequest {
        name: Some(name),
        driver: volume.driver.clone(),
        driver_opts: (!volume.driver_opts.is_empty())
            .then(|| volume.driver_opts.clone().into_iter().collect()),
        labels: Some(labels),
        ..VolumeCreateRequest::default()
    }
}

#[cfg(test)]
#[path = "create_tests.rs"]
mod tests;
