//! Merging a later file (`-f a.yml -f b.yml`), `extends` and `include` into what came
//! before, with the compose specification's rules: scalars replaced, mappings merged by key,
//! sequences of options appended without duplicates, mounts merged by container path.
//!
//! Where docker-compose 1.29 differs (it replaces a top-level network or volume of an
//! earlier file whole), gymops follows the specification; docs/deploy.md says so.

use super::{File, Grant, Ipam, Network, Resources, Service};

/// `$base.field = $over.field` for each field `$over` says (is `Some`): a later file's
/// scalar replaces, one it leaves out keeps the earlier.
macro_rules! replace_said {
    ($base:expr, $over:expr; $($field:ident),* $(,)?) => {$(
        if $over.$field.is_some() {
            $base.$field = $over.$field;
        }
    )*};
}

/// Append the items of `over` that `base` does not have yet.
fn append_unique<T: PartialEq>(base: &mut Vec<T>, over: Vec<T>) {
    for item in over {
        if !base.contains(&item) {
            base.push(item);
        }
    }
}

/// Grants (secrets, configs) merge by their source.
fn merge_grants(base: &mut Vec<Grant>, over: Vec<Grant>) {
    for grant in over {
        base.retain(|g| g.source != grant.source);
        base.push(grant);
    }
}

impl Service {
    /// Apply `over` (a later file, or the service that extends this one) to this service.
    pub fn merge(&mut self, over: Service) {
        replace_said!(
            self, over;
            image,
            container_name,
            command,
            entrypoint,
            restart,
            pid,
            privileged,
            stop_signal,
            stop_grace_period,
            user,
            working_dir,
            init,
            shm_size,
            read_only,
            hostname,
            domainname,
            network_mode,
            platform,
            stdin_open,
            tty,
            ipc,
            oom_score_adj,
            pull_policy,
            replicas,
            runtime,
            userns_mode,
            cgroup_parent,
            oom_kill_disable
        );
        self.swarm = match (self.swarm.take(), over.swarm) {
            (Some(mut base), Some(over)) => {
                base.merge(over);
                Some(base)
            }
            (base, over) => over.or(base),
        };
        append_unique(&mut self.volumes_from, over.volumes_from);
        append_unique(&mut self.external_links, over.external_links);
        self.storage_opt.extend(over.storage_opt);
        append_unique(&mut self.extra_hosts, over.extra_hosts);
        append_unique(&mut self.env_file, over.env_file);
        append_unique(&mut self.ports, over.ports);
        append_unique(&mut self.expose, over.expose);
        append_unique(&mut self.tmpfs, over.tmpfs);
        append_unique(&mut self.cap_add, over.cap_add);
        append_unique(&mut self.cap_drop, over.cap_drop);
        append_unique(&mut self.security_opt, over.security_opt);
        append_unique(&mut self.devices, over.devices);
        append_unique(&mut self.dns, over.dns);
        append_unique(&mut self.dns_search, over.dns_search);
        append_unique(&mut self.dns_opt, over.dns_opt);
        append_unique(&mut self.links, over.links);
        append_unique(&mut self.group_add, over.group_add);
        merge_grants(&mut self.secrets, over.secrets);
        merge_grants(&mut self.configs, over.configs);
        self.environment.extend(over.environment);
        self.labels.extend(over.labels);
        self.depends_on.extend(over.depends_on);
        self.networks.extend(over.networks);
        self.addresses.extend(over.addresses);
        self.sysctls.extend(over.sysctls);
        self.ulimits.extend(over.ulimits);
        // Volumes by container path: the later file's mount wins.
        for mount in over.volumes {
            self.volumes.retain(|m| m.target != mount.target);
            self.volumes.push(mount);
        }
        if !over.profiles.is_empty() {
            self.profiles = over.profiles;
        }
        self.build = match (self.build.take(), over.build) {
            (Some(mut base), Some(over)) => {
                replace_said!(
                    base, over;
                    context, dockerfile, target, network, shm_size, dockerfile_inline
                );
                base.args.extend(over.args);
                base.labels.extend(over.labels);
                append_unique(&mut base.cache_from, over.cache_from);
                append_unique(&mut base.extra_hosts, over.extra_hosts);
                Some(base)
            }
            (base, over) => over.or(base),
        };
        self.healthcheck = match (self.healthcheck.take(), over.healthcheck) {
            (_, Some(over)) if over.disable => Some(over),
            (Some(mut base), Some(over)) => {
                base.test = over.test.or(base.test);
                base.interval = over.interval.or(base.interval);
                base.timeout = over.timeout.or(base.timeout);
                base.retries = over.retries.or(base.retries);
                base.start_period = over.start_period.or(base.start_period);
                base.start_interval = over.start_interval.or(base.start_interval);
                Some(base)
            }
            (base, over) => over.or(base),
        };
        self.logging = match (self.logging.take(), over.logging) {
            // Another driver: its options alone; the same (or none said): options merged.
            (Some(base), Some(over)) if over.driver.is_some() && over.driver != base.driver => {
                Some(over)
            }
            (Some(mut base), Some(over)) => {
                base.options.extend(over.options);
                Some(base)
            }
            (base, over) => over.or(base),
        };
        self.resources = match (self.resources.take(), over.resources) {
            (Some(base), Some(over)) => Some(Resources {
                cpus: over.cpus.or(base.cpus),
                memory: over.memory.or(base.memory),
                memory_reservation: over.memory_reservation.or(base.memory_reservation),
                memory_swap: over.memory_swap.or(base.memory_swap),
                cpu_shares: over.cpu_shares.or(base.cpu_shares),
                cpuset: over.cpuset.or(base.cpuset),
                pids: over.pids.or(base.pids),
                cpu_quota: over.cpu_quota.or(base.cpu_quota),
                cpu_period: over.cpu_period.or(base.cpu_period),
            }),
            (base, over) => over.or(base),
        };
    }
}

impl Network {
    /// The specification's merge of a top-level network or volume.
    fn merge(&mut self, over: Network) {
        replace_said!(self, over; name, driver, enable_ipv6);
        self.external |= over.external;
        self.internal |= over.internal;
        self.attachable |= over.attachable;
        self.labels.extend(over.labels);
        self.driver_opts.extend(over.driver_opts);
        self.ipam = match (self.ipam.take(), over.ipam) {
            (Some(base), Some(over)) => Some(Ipam {
                driver: over.driver.or(base.driver),
                config: if over.config.is_empty() {
                    base.config
                } else {
                    over.config
                },
                options: {
                    let mut options = base.options;
                    options.extend(over.options);
                    options
                },
            }),
            (base, over) => over.or(base),
        };
    }
}

impl File {
    /// The notes a single engine adds: the file's own, and what it does not do of each
    /// service's Swarm keys.
    pub fn single_engine_notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        for (name, service) in &self.services {
            if let Some(swarm) = &service.swarm {
                notes.extend(super::swarm::single_engine_notes(name, swarm));
            }
        }
        notes
    }

    /// Apply a later file.
    pub fn merge(&mut self, over: File) {
        replace_said!(self, over; name);
        for (name, service) in over.services {
            match self.services.get_mut(&name) {
                Some(base) => base.merge(service),
                None => {
                    self.services.insert(name, service);
                }
            }
        }
        for (base, over) in [
            (&mut self.networks, over.networks),
            (&mut self.volumes, over.volumes),
        ] {
            for (name, entry) in over {
                match base.get_mut(&name) {
                    Some(old) => old.merge(entry),
                    None => {
                        base.insert(name, entry);
                    }
                }
            }
        }
        // A secret or config of a later file replaces the earlier one whole: its source is
        // one thing (a file, a variable, or content), not fields to mix.
        self.secrets.extend(over.secrets);
        self.configs.extend(over.configs);
        self.notes.extend(over.notes);
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::time::Duration;

    fn file(yaml: &str) -> File {
        parse(serde_yaml::from_str(yaml).unwrap(), Path::new("/srv/gym")).unwrap()
    }

    #[test]
    fn later_files_override_with_composes_rules() {
        let mut base = file(
            "services:\n  api:\n    image: gym/api:1\n    command: [a]\n    environment: {A: '1', B: '2'}\n    ports: ['8080:8080']\n    volumes: ['logs:/app/logs', './c:/conf']\n    labels: {x: '1'}\n    healthcheck: {test: [CMD, true], interval: 10s}\n    logging: {driver: json-file, options: {max-size: 10m}}\n    cap_add: [NET_ADMIN]\n    sysctls: {net.core.somaxconn: 1024}\n    mem_limit: 1g\nvolumes:\n  logs: {labels: {a: '1'}, driver_opts: {type: tmpfs}}\n",
        );
        let over = file(
            "services:\n  api:\n    image: gym/api:2\n    environment: [B=3, C=4]\n    ports: ['9090:9090']\n    volumes: ['./other:/conf:ro']\n    healthcheck: {retries: 5}\n    logging: {options: {max-file: '3'}}\n    cap_add: [NET_ADMIN, SYS_TIME]\n    sysctls: [net.ipv4.tcp_syncookies=0]\n    cpus: 0.5\n  worker:\n    image: gym/worker\nvolumes:\n  logs: {labels: {b: '2'}, driver_opts: {device: tmpfs}}\n",
        );
        base.merge(over);
        let api = &base.services["api"];
        assert_eq!(api.image.as_deref(), Some("gym/api:2"));
        assert_eq!(api.command.as_deref().unwrap(), ["a"], "kept when not said");
        assert_eq!(
            api.environment,
            BTreeMap::from([
                ("A".into(), Some("1".into())),
                ("B".into(), Some("3".into())),
                ("C".into(), Some("4".into()))
            ])
        );
        assert_eq!(api.ports.len(), 2, "ports are concatenated");
        assert_eq!(api.volumes.len(), 2, "volumes merge by container path");
        let conf = api.volumes.iter().find(|m| m.target == "/conf").unwrap();
        assert!(conf.read_only && conf.source.as_deref() == Some("/srv/gym/other"));
        let health = api.healthcheck.as_ref().unwrap();
        assert_eq!(
            (health.retries, health.interval),
            (Some(5), Some(Duration::from_secs(10)))
        );
        let logging = api.logging.as_ref().unwrap();
        assert_eq!(logging.options.len(), 2);
        assert_eq!(api.cap_add, ["NET_ADMIN", "SYS_TIME"], "appended, no twice");
        assert_eq!(api.sysctls.len(), 2, "mappings merge by key");
        let resources = api.resources.as_ref().unwrap();
        assert_eq!(
            (resources.memory, resources.cpus),
            (Some(1 << 30), Some(0.5))
        );
        assert!(base.services.contains_key("worker"));
        // The specification merges a top-level volume; docker-compose 1.29 replaced it.
        let logs = &base.volumes["logs"];
        assert_eq!(logs.labels.len(), 2);
        assert_eq!(
            logs.driver_opts,
            BTreeMap::from([
                ("type".to_string(), "tmpfs".to_string()),
                ("device".to_string(), "tmpfs".to_string())
            ])
        );
    }
}
