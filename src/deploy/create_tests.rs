//! Tests of `create.rs`.
use super::*;
use crate::compose::model::{Healthcheck, Mount as ComposeMount, Port, Resources};
use crate::deploy::spec::{config_hash, container_environment, labels};
use crate::docker::labels::{LABEL_HASH, LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE};
use std::path::Path;
use std::time::Duration;

fn service() -> Service {
    Service {
        image: Some("gym/api:1".into()),
        command: Some(vec!["serve".into()]),
        environment: BTreeMap::from([
            ("A".into(), Some("1".into())),
            ("FROM_SHELL".into(), None),
            ("NOT_SET".into(), None),
        ]),
        ports: vec![Port {
            host_ip: Some("127.0.0.1".into()),
            published: Some("8080".into()),
            target: "80".into(),
            protocol: "tcp".into(),
            mode: None,
        }],
        volumes: vec![
            ComposeMount {
                kind: MountKind::Volume,
                propagation: None,
                source: Some("data".into()),
                target: "/data".into(),
                read_only: false,
                nocopy: false,
                tmpfs_size: None,
                tmpfs_mode: None,
            },
            ComposeMount {
                kind: MountKind::Bind,
                propagation: None,
                source: Some("/srv/conf".into()),
                target: "/conf".into(),
                read_only: true,
                nocopy: false,
                tmpfs_size: None,
                tmpfs_mode: None,
            },
        ],
        networks: BTreeMap::from([
            ("default".into(), vec![]),
            ("monitoring".into(), vec!["api".into()]),
        ]),
        healthcheck: Some(Healthcheck {
            test: Some(vec!["CMD".into(), "true".into()]),
            interval: Some(Duration::from_secs(2)),
            retries: Some(3),
            ..Healthcheck::default()
        }),
        restart: Some("on-failure:3".into()),
        labels: BTreeMap::from([("team".into(), "gym".into())]),
        resources: Some(Resources {
            cpus: Some(0.5),
            memory: Some(64 << 20),
            ..Resources::default()
        }),
        ..Service::default()
    }
}

fn model(services: &[(&str, Service)]) -> File {
    File {
        services: services
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect(),
        networks: BTreeMap::from([("monitoring".to_string(), Network::default())]),
        volumes: BTreeMap::from([("data".to_string(), Network::default())]),
        ..File::default()
    }
}

#[test]
fn the_create_body_carries_every_field_and_composes_labels() {
    let service = service();
    let model = model(&[("api", service.clone())]);
    let ctx = Context {
        project: "gym",
        model: &model,
    };
    let outer = BTreeMap::from([("FROM_SHELL".to_string(), "x".to_string())]);
    let environment = container_environment(&service, &[("FILE".into(), "f".into())], &outer);
    assert_eq!(
        environment,
        BTreeMap::from([
            ("A".to_string(), "1".to_string()),
            ("FILE".into(), "f".into()),
            ("FROM_SHELL".into(), "x".into())
        ])
    );
    let hash = config_hash(&service, "sha256:abc", &environment, &BTreeMap::new());
    let labels = labels("gym", "api", &service, 2, &hash, &[], Path::new("/srv"));
    let made = creation(
        &ctx,
        Instance {
            service_name: "api",
            service: &service,
            number: 2,
            image: "gym/api:1",
            environment: &environment,
            labels,
            files: Vec::new(),
        },
    );
    assert_eq!(made.name, "gym_api_2");
    let body = &made.body;
    let labels = body.labels.as_ref().unwrap();
    assert_eq!(labels[LABEL_PROJECT], "gym");
    assert_eq!(labels[LABEL_SERVICE], "api");
    assert_eq!(labels[LABEL_NUMBER], "2");
    assert_eq!(labels[LABEL_HASH], hash);
    assert_eq!(labels["team"], "gym");
    let host = body.host_config.as_ref().unwrap();
    let binding = &host.port_bindings.as_ref().unwrap()["80/tcp"]
        .as_ref()
        .unwrap()[0];
    assert_eq!(binding.host_port.as_deref(), Some("8080"));
    let mounts = host.mounts.as_ref().unwrap();
    assert_eq!(mounts[0].source.as_deref(), Some("gym_data"));
    assert_eq!(mounts[1].read_only, Some(true));
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(64 << 20));
    let restart = host.restart_policy.as_ref().unwrap();
    assert_eq!(restart.maximum_retry_count, Some(3));
    assert_eq!(host.network_mode.as_deref(), Some("gym_default"));
    assert_eq!(made.more_networks.len(), 1);
    assert_eq!(made.more_networks[0].0, "gym_monitoring");
    assert_eq!(
        made.more_networks[0].1.aliases.as_deref().unwrap(),
        ["api".to_string()]
    );
    assert_eq!(
        body.healthcheck.as_ref().unwrap().interval,
        Some(2_000_000_000)
    );
}

#[test]
fn network_mode_service_shares_the_first_container_and_joins_no_network() {
    let db = Service {
        image: Some("postgres".into()),
        container_name: Some("fitness_db".into()),
        ..Service::default()
    };
    let sidecar = Service {
        image: Some("x".into()),
        network_mode: Some("service:db".into()),
        expose: vec!["7000-7001/udp".into()],
        ..Service::default()
    };
    let model = model(&[("db", db), ("sidecar", sidecar.clone())]);
    let ctx = Context {
        project: "gym",
        model: &model,
    };
    let made = creation(
        &ctx,
        Instance {
            service_name: "sidecar",
            service: &sidecar,
            number: 1,
            image: "x",
            environment: &BTreeMap::new(),
            labels: HashMap::new(),
            files: Vec::new(),
        },
    );
    let host = made.body.host_config.as_ref().unwrap();
    assert_eq!(host.network_mode.as_deref(), Some("container:fitness_db"));
    assert!(made.body.networking_config.is_none());
    assert!(made.more_networks.is_empty());
    assert_eq!(
        made.body.exposed_ports.as_deref().unwrap(),
        ["7000/udp".to_string(), "7001/udp".to_string()]
    );
}

#[test]
fn volumes_from_and_engine_options_reach_the_body() {
    let data = Service {
        image: Some("x".into()),
        ..Service::default()
    };
    let app = Service {
        image: Some("x".into()),
        volumes_from: vec!["data:ro".into(), "container:outside".into()],
        runtime: Some("runc".into()),
        oom_kill_disable: Some(true),
        external_links: vec!["redis_1:cache".into()],
        ..Service::default()
    };
    let model = model(&[("data", data), ("app", app.clone())]);
    let ctx = Context {
        project: "gym",
        model: &model,
    };
    let made = creation(
        &ctx,
        Instance {
            service_name: "app",
            service: &app,
            number: 1,
            image: "x",
            environment: &BTreeMap::new(),
            labels: HashMap::new(),
            files: Vec::new(),
        },
    );
    let host = made.body.host_config.as_ref().unwrap();
    assert_eq!(
        host.volumes_from.as_deref().unwrap(),
        ["gym_data_1:ro".to_string(), "outside".to_string()]
    );
    assert_eq!(host.runtime.as_deref(), Some("runc"));
    assert_eq!(host.oom_kill_disable, Some(true));
    let endpoint = &made
        .body
        .networking_config
        .as_ref()
        .unwrap()
        .endpoints_config
        .as_ref()
        .unwrap()["gym_default"];
    assert_eq!(
        endpoint.links.as_deref().unwrap(),
        ["redis_1:cache".to_string()]
    );
}
