//! The WAL receiver sidecar: `pg_receivewal` in a container of the PostgreSQL container's
//! own image (its read-only mounts too: the binaries come with them), on its network,
//! restarted by the engine, streaming over the replication slot into
//! `backup.dir/wal/receiver/incoming`. The password is in a passfile in that directory
//! (0600), never in the container's environment or command line.

use std::path::{Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, RestartPolicy, RestartPolicyNameEnum,
};

use crate::docker::labels::Creation;
use crate::pg::replication::RECEIVER_APPLICATION;

/// What marks a container as gymops's WAL receiver.
pub const ROLE_LABEL: &str = "io.gymops.role";
pub const ROLE: &str = "wal-receiver";
/// The PostgreSQL container it streams from.
pub const FOR_LABEL: &str = "io.gymops.wal.for";
/// Where the receiver's directory is mounted in the container.
pub const MOUNT: &str = "/gymops-wal";

/// The receiver of a PostgreSQL container.
pub fn name_for(postgres_container: &str) -> String {
    format!("{}-gymops-wal", postgres_container.trim_start_matches('/'))
}

/// Everything the receiver container is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub postgres_container: String,
    pub image: String,
    /// Read-only mounts of the PostgreSQL container (`SOURCE:DEST:ro`).
    pub read_only_binds: Vec<String>,
    /// The network mode to join (a network name, `host`, or `container:...`).
    pub network_mode: Option<String>,
    /// How the receiver reaches PostgreSQL.
    pub host: String,
    pub port: u16,
    pub user: String,
    pub slot: String,
    pub bin_dir: Option<String>,
    /// `backup.dir/wal/receiver` on this host.
    pub receiver_dir: PathBuf,
    /// `UID:GID` the receiver runs as: the owner of the receiver directory, so gymops
    /// reads and removes what it writes.
    pub run_as: Option<String>,
}

/// The receiver for `postgres` (its inspect answer): its image, read-only mounts, and a
/// way to reach it — its name on a user-defined network, its address on the default
/// bridge, localhost when it uses the host's network.
pub fn spec(
    postgres: &ContainerInspectResponse,
    user: &str,
    slot: &str,
    bin_dir: Option<&str>,
    receiver_dir: &Path,
    run_as: Option<String>,
) -> Spec {
    let container = crate::docker::inspected_name(postgres);
    let image = crate::docker::template_image(postgres);
    let read_only_binds = crate::docker::read_only_binds(postgres);
    let networks = postgres
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default();
    let mode = postgres
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let (network_mode, host) = if mode == "host" {
        (Some("host".to_string()), "127.0.0.1".to_string())
    } else if let Some((name, _)) = networks
        .iter()
        .find(|(name, _)| !matches!(name.as_str(), "bridge" | "host" | "none"))
    {
        (Some(name.clone()), container.clone())
    } else {
        let address = networks
            .get("bridge")
            .and_then(|n| n.ip_address.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| container.clone());
        (Some("bridge".to_string()), address)
    };
    Spec {
        name: name_for(&container),
        postgres_container: container,
        image,
        read_only_binds,
        network_mode,
        host,
        port: 5432,
        user: user.to_string(),
        slot: slot.to_string(),
        bin_dir: bin_dir.map(str::to_string),
        receiver_dir: receiver_dir.to_path_buf(),
        run_as,
    }
}

/// pg_receivewal's argument vector.
pub fn command(spec: &Spec) -> Vec<String> {
    let program = match &spec.bin_dir {
        Some(dir) => format!("{}/pg_receivewal", dir.trim_end_matches('/')),
        None => "pg_receivewal".to_string(),
    };
    vec![
        program,
        "--directory".into(),
        format!("{MOUNT}/incoming"),
        "--slot".into(),
        spec.slot.clone(),
        "--host".into(),
        spec.host.clone(),
        "--port".into(),
        spec.port.to_string(),
        "--username".into(),
        spec.user.clone(),
        "--no-password".into(),
        // Each piece of WAL is flushed and acknowledged as it arrives: the slot's position
        // and the RPO are those of the last commit, not of the last closed segment.
        "--synchronous".into(),
        "--verbose".into(),
    ]
}

/// The create call for the receiver.
pub fn creation(spec: &Spec) -> Creation {
    let mut binds = spec.read_only_binds.clone();
    binds.push(format!("{}:{MOUNT}", spec.receiver_dir.display()));
    let labels = [
        (ROLE_LABEL.to_string(), ROLE.to_string()),
        (FOR_LABEL.to_string(), spec.postgres_container.clone()),
    ]
    .into_iter()
    .collect();
    Creation {
        name: spec.name.clone(),
        body: ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: Some(command(spec)),
            entrypoint: Some(Vec::new()),
            env: Some(vec![
                format!("PGPASSFILE={MOUNT}/pgpass"),
                format!("PGAPPNAME={RECEIVER_APPLICATION}"),
            ]),
            user: spec.run_as.clone(),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(binds),
                network_mode: spec.network_mode.clone(),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
        more_networks: Vec::new(),
        platform: None,
        files: Vec::new(),
    }
}

/// A libpq password file line for any host, port and database: `*:*:*:USER:PASSWORD`,
/// with `:` and `\` escaped.
pub fn passfile(user: &str, password: &str) -> String {
    let escape = |text: &str| text.replace('\\', "\\\\").replace(':', "\\:");
    format!("*:*:*:{}:{}\n", escape(user), escape(password))
}

/// What a receiver's log says when PostgreSQL refused it, and what to do.
pub fn diagnose(log: &str, user: &str) -> Option<String> {
    if log.contains("no pg_hba.conf entry for replication connection") {
        let from = log
            .split("host \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or("RECEIVER_ADDRESS");
        return Some(format!(
            "PostgreSQL refuses replication connections from the receiver ({from}): add `host replication {user} {from}/32 scram-sha-256` (or the network's subnet) to pg_hba.conf and reload (SELECT pg_reload_conf())"
        ));
    }
    if log.contains("must be superuser or replication role")
        || log.contains("permission denied to start WAL sender")
    {
        return Some(format!(
            "the role {user} may not stream WAL: ALTER ROLE {user} REPLICATION"
        ));
    }
    if log.contains("number of requested standby connections exceeds max_wal_senders")
        || log.contains("max_wal_senders")
    {
        return Some("PostgreSQL has no WAL sender free: raise max_wal_senders (a restart)".into());
    }
    if log.contains("password authentication failed") {
        return Some("the password of the receiver's connection was refused: check GYMOPS_POSTGRES_PASSWORD / postgres.password_file".into());
    }
    if log.contains("wal_level") {
        return Some("WAL archiving needs wal_level = replica (the default) or logical".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, EndpointSettings, MountPoint, NetworkSettings};
    use std::collections::HashMap;

    fn postgres(network: &str) -> ContainerInspectResponse {
        ContainerInspectResponse {
            name: Some("/gym_postgres_1".into()),
            image: Some("sha256:abc".into()),
            config: Some(ContainerConfig {
                image: Some("postgres:15".into()),
                ..Default::default()
            }),
            mounts: Some(vec![
                MountPoint {
                    typ: Some("bind".into()),
                    source: Some("/usr".into()),
                    destination: Some("/usr".into()),
                    rw: Some(false),
                    ..Default::default()
                },
                MountPoint {
                    typ: Some("volume".into()),
                    source: Some("/var/lib/docker/volumes/data".into()),
                    destination: Some("/var/lib/postgresql/data".into()),
                    rw: Some(true),
                    ..Default::default()
                },
            ]),
            host_config: Some(HostConfig {
                network_mode: Some(network.into()),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([(
                    network.to_string(),
                    EndpointSettings {
                        ip_address: Some("172.17.0.5".into()),
                        ..Default::default()
                    },
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_receiver_takes_the_image_read_only_mounts_and_network_of_postgres() {
        let spec = spec(
            &postgres("gym_default"),
            "postgres",
            "gymops_wal",
            Some("/usr/lib/postgresql/15/bin"),
            Path::new("/srv/backups/wal/receiver"),
            Some("1000:1000".into()),
        );
        assert_eq!(spec.name, "gym_postgres_1-gymops-wal");
        assert_eq!(spec.image, "sha256:abc");
        assert_eq!(spec.read_only_binds, ["/usr:/usr:ro"]);
        assert_eq!(spec.network_mode.as_deref(), Some("gym_default"));
        assert_eq!(spec.host, "gym_postgres_1");
        let creation = creation(&spec);
        let host = creation.body.host_config.unwrap();
        assert_eq!(
            host.binds.unwrap(),
            ["/usr:/usr:ro", "/srv/backups/wal/receiver:/gymops-wal"]
        );
        let env = creation.body.env.unwrap().join(" ");
        assert!(
            !env.contains("PASSWORD"),
            "no password in the environment: {env}"
        );
        let cmd = creation.body.cmd.unwrap();
        assert_eq!(cmd[0], "/usr/lib/postgresql/15/bin/pg_receivewal");
        assert!(cmd.contains(&"--synchronous".to_string()));
        // On the default bridge there are no names: its address.
        let bridged = super::spec(
            &postgres("bridge"),
            "postgres",
            "gymops_wal",
            None,
            Path::new("/b"),
            None,
        );
        assert_eq!(bridged.host, "172.17.0.5");
    }

    #[test]
    fn passfiles_escape_colons_and_backslashes() {
        assert_eq!(
            passfile("postgres", "a:b\\c"),
            "*:*:*:postgres:a\\:b\\\\c\n"
        );
    }

    #[test]
    fn a_refused_replication_connection_says_what_to_add_to_pg_hba() {
        let log = "pg_receivewal: error: could not connect to server: FATAL:  no pg_hba.conf entry for replication connection from host \"172.18.0.3\", user \"postgres\", no encryption";
        let advice = diagnose(log, "postgres").unwrap();
        assert!(
            advice.contains("host replication postgres 172.18.0.3/32 scram-sha-256"),
            "{advice}"
        );
        assert_eq!(diagnose("streaming", "postgres"), None);
    }
}
