//! Tests of `parse.rs`.
use super::super::{bytes, port, Condition, MountKind, Port, Ulimit};
use super::*;
use std::path::PathBuf;
use std::time::Duration;

fn file(yaml: &str) -> Result<File, String> {
    parse(serde_yaml::from_str(yaml).unwrap(), Path::new("/srv/gym")).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| p.message)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

fn problems(yaml: &str) -> Vec<Problem> {
    parse(serde_yaml::from_str(yaml).unwrap(), Path::new("/srv/gym")).unwrap_err()
}
#[test]
fn every_supported_key_normalizes() {
    let f = file(
        r#"
version: "3.8"
name: gym-chain
x-common: &common
  restart: unless-stopped
services:
  backend:
    build: {context: ./api, dockerfile: Dockerfile.prod, args: [JAR=app.jar, DEBUG], target: runtime}
    image: gym/api:1.2
    container_name: fitness_gym_backend
    command: java -jar "/app/my app.jar"
    entrypoint: ["/entry.sh"]
    environment: [A=1, B]
    env_file: .env.backend
    ports: ["8080:8080", "127.0.0.1:9090:9090/udp", "3000", {target: 81, published: 8081}]
    volumes: ["logs:/app/logs", "./conf:/etc/app:ro", "/data", {type: bind, source: ../shared, target: /shared, read_only: true}, {type: tmpfs, target: /scratch, tmpfs: {size: 64m, mode: 1777}}]
    networks: {front: {aliases: [api], ipv4_address: 172.28.0.10}, back: null}
    depends_on: {postgres: {condition: service_healthy}, minio: null}
    healthcheck: {test: curl -f http://localhost:8080/health, interval: 1m30s, timeout: 10s, retries: 3, start_period: 60s, start_interval: 2s}
    restart: on-failure:3
    labels: {team: gym}
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    deploy: {replicas: 2, resources: {limits: {cpus: "1.5", memory: 512M, pids: 200}, reservations: {memory: 256m}}}
    profiles: [api]
    expose: ["9999", "7000-7001/udp"]
    secrets: [db_password, {source: api_key, target: /etc/api.key, uid: "1000", gid: "1000", mode: 0400}]
    configs: [{source: app_conf, target: /etc/app.conf}]
    stop_signal: SIGINT
    stop_grace_period: 1m
    memswap_limit: -1
    cpu_shares: 512
    cpuset: "0-1"
    ulimits: {nofile: {soft: 20000, hard: 40000}, nproc: 65535}
    user: "1000:1000"
    working_dir: /app
    init: true
    shm_size: 128m
    tmpfs: [/run, "/tmp:size=64m"]
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    hostname: api
    domainname: gym.local
    platform: linux/amd64
    stdin_open: true
    tty: true
    sysctls: {net.core.somaxconn: 1024}
    devices: [/dev/null:/dev/gymnull:rwm]
    dns: 1.1.1.1
    dns_search: [gym.local]
    dns_opt: [ndots:2]
    extra_hosts: {db.gym: 10.0.0.5}
    group_add: [audio]
    oom_score_adj: -200
    pull_policy: missing
    x-note: ignored
  postgres:
    image: postgres:15
    environment: {POSTGRES_DB: fitness_gym, PORT: 5432, EMPTY: null}
    depends_on: [minio]
    deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}
  minio:
    image: minio/minio
    network_mode: "service:postgres"
    extends: postgres
volumes:
  logs: {driver: local, driver_opts: {type: tmpfs, device: tmpfs}, labels: [tier=logs]}
networks:
  front:
    driver: bridge
    ipam: {config: [{subnet: 172.28.0.0/16, gateway: 172.28.0.1}]}
    labels: {tier: front}
  back: {external: true, name: shared_back}
secrets:
  db_password: {file: ./secrets/db_password.txt}
  api_key: {environment: API_KEY}
configs:
  app_conf: {content: "port=8080"}
"#,
    )
    .unwrap();
    assert_eq!(f.name.as_deref(), Some("gym-chain"));
    let backend = &f.services["backend"];
    let build = backend.build.as_ref().unwrap();
    assert_eq!(build.context.as_deref(), Some(Path::new("/srv/gym/api")));
    assert_eq!(build.args["JAR"].as_deref(), Some("app.jar"));
    assert_eq!(build.args["DEBUG"], None);
    assert_eq!(
        backend.command.as_deref().unwrap(),
        ["java", "-jar", "/app/my app.jar"]
    );
    assert_eq!(backend.environment["B"], None);
    assert_eq!(
        backend.env_file,
        vec![PathBuf::from("/srv/gym/.env.backend")]
    );
    assert_eq!(backend.ports.len(), 4);
    assert_eq!(
        backend.ports[1],
        Port {
            host_ip: Some("127.0.0.1".into()),
            published: Some("9090".into()),
            target: "9090".into(),
            protocol: "udp".into(),
            mode: None,
        }
    );
    assert_eq!(backend.ports[2].published, None);
    assert_eq!(backend.ports[3].published.as_deref(), Some("8081"));
    assert_eq!(backend.volumes[0].kind, MountKind::Volume);
    assert_eq!(backend.volumes[1].source.as_deref(), Some("/srv/gym/conf"));
    assert!(backend.volumes[1].read_only);
    assert_eq!(backend.volumes[2].source, None);
    assert_eq!(backend.volumes[3].source.as_deref(), Some("/srv/shared"));
    assert_eq!(backend.volumes[4].kind, MountKind::Tmpfs);
    assert_eq!(backend.volumes[4].tmpfs_size, Some(64 << 20));
    assert_eq!(backend.volumes[4].tmpfs_mode, Some(0o1777));
    assert_eq!(backend.networks["front"], vec!["api".to_string()]);
    assert_eq!(
        backend.addresses["front"].ipv4_address.as_deref(),
        Some("172.28.0.10")
    );
    assert_eq!(backend.depends_on["postgres"], Condition::ServiceHealthy);
    assert_eq!(backend.depends_on["minio"], Condition::ServiceStarted);
    let health = backend.healthcheck.as_ref().unwrap();
    assert_eq!(health.test.as_ref().unwrap()[0], "CMD-SHELL");
    assert_eq!(health.interval, Some(Duration::from_secs(90)));
    assert_eq!(health.start_interval, Some(Duration::from_secs(2)));
    let resources = backend.resources.as_ref().unwrap();
    assert_eq!(resources.cpus, Some(1.5));
    assert_eq!(resources.memory, Some(512 << 20));
    assert_eq!(resources.memory_reservation, Some(256 << 20));
    assert_eq!(resources.memory_swap, Some(-1));
    assert_eq!(resources.pids, Some(200));
    assert_eq!(resources.cpu_shares, Some(512));
    assert_eq!(resources.cpuset.as_deref(), Some("0-1"));
    assert_eq!(backend.replicas, Some(2));
    assert_eq!(backend.logging.as_ref().unwrap().options["max-file"], "3");
    assert_eq!(backend.expose, ["9999", "7000-7001/udp"]);
    assert_eq!(backend.secrets[0].source, "db_password");
    assert_eq!(
        (backend.secrets[1].uid, backend.secrets[1].mode),
        (Some(1000), Some(0o400))
    );
    assert_eq!(backend.configs[0].target.as_deref(), Some("/etc/app.conf"));
    assert_eq!(backend.stop_grace_period, Some(Duration::from_secs(60)));
    assert_eq!(
        backend.ulimits["nofile"],
        Ulimit {
            soft: 20000,
            hard: 40000
        }
    );
    assert_eq!(backend.ulimits["nproc"].hard, 65535);
    assert_eq!(backend.user.as_deref(), Some("1000:1000"));
    assert_eq!(backend.shm_size, Some(128 << 20));
    assert_eq!(backend.tmpfs, ["/run", "/tmp:size=64m"]);
    assert_eq!(backend.dns, ["1.1.1.1"]);
    assert_eq!(backend.extra_hosts, ["db.gym:10.0.0.5"]);
    assert_eq!(backend.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(backend.oom_score_adj, Some(-200));
    let postgres = &f.services["postgres"];
    assert_eq!(postgres.environment["PORT"].as_deref(), Some("5432"));
    assert_eq!(postgres.environment["EMPTY"], None);
    assert_eq!(postgres.depends_on["minio"], Condition::ServiceStarted);
    assert_eq!(postgres.restart.as_deref(), Some("on-failure:5"));
    let minio = &f.services["minio"];
    assert_eq!(minio.network_service(), Some("postgres"));
    assert_eq!(minio.extends.as_ref().unwrap().service, "postgres");
    assert!(f.networks["back"].external);
    let front = f.networks["front"].ipam.as_ref().unwrap();
    assert_eq!(front.config[0].subnet.as_deref(), Some("172.28.0.0/16"));
    assert_eq!(f.volumes["logs"].driver_opts["type"], "tmpfs");
    assert_eq!(f.volumes["logs"].labels["tier"], "logs");
    assert_eq!(
        f.secrets["db_password"].file.as_deref(),
        Some(Path::new("/srv/gym/secrets/db_password.txt"))
    );
    assert_eq!(f.secrets["api_key"].environment.as_deref(), Some("API_KEY"));
    assert_eq!(f.configs["app_conf"].content.as_deref(), Some("port=8080"));
}

#[test]
fn every_unknown_key_is_reported_with_its_path() {
    let found = problems(
        "services:\n  backend:\n    image: x\n    cap_addd: [NET_ADMIN]\n    healthcheck: {intervl: 5s, test: [CMD, 'true']}\n    ports: [{target: 80, publishd: 8080}]\n  web:\n    image: y\n    cap_addd: [SYS_TIME]\nvolumez: {}\n",
    );
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "volumez",
            "services.backend.cap_addd",
            "services.backend.healthcheck.intervl",
            "services.backend.ports[0].publishd",
            "services.web.cap_addd",
        ],
        "{found:?}"
    );
    assert!(
        found[2].message.starts_with(
            "services.backend.healthcheck: unknown key `intervl` (did you mean `interval`?)"
        ),
        "{found:?}"
    );
    assert!(
        found[1].message.contains("did you mean `cap_add`"),
        "{found:?}"
    );
}

#[test]
fn value_errors_name_the_value_and_what_is_expected() {
    let err = file("services:\n  b:\n    image: x\n    ports: [\"80:80:80:80\"]\n").unwrap_err();
    assert!(err.starts_with("services.b.ports[0]:"), "{err}");
    let err = file("services:\n  b:\n    image: x\n    restart: sometimes\n").unwrap_err();
    assert!(err.contains("`sometimes` is not a restart policy"), "{err}");
    let err =
        file("services:\n  b:\n    image: x\n    depends_on: {a: {condition: service_ready}}\n")
            .unwrap_err();
    assert!(err.starts_with("services.b.depends_on.a"), "{err}");
    let err = file("services:\n  b:\n    image: x\n    mem_limit: lots\n").unwrap_err();
    assert!(
        err.contains("services.b.mem_limit: `lots` has an unknown unit"),
        "{err}"
    );
    let err = file("services:\n  b:\n    image: x\n    network_mode: bridged\n").unwrap_err();
    assert!(err.contains("`bridged` is not a network mode"), "{err}");
    let err = file("services:\n  b:\n    image: x\n    volumes: [/data, '/data/']\n").unwrap_err();
    assert!(err.contains("duplicate mount target /data/"), "{err}");
    let external = file("secrets:\n  s: {external: true, name: shared_pw}\n").unwrap();
    assert!(external.secrets["s"].external);
    assert_eq!(external.secrets["s"].name.as_deref(), Some("shared_pw"));
    let err = file("secrets:\n  s: {external: true, file: ./pw}\n").unwrap_err();
    assert!(err.contains("has no `file:`"), "{err}");
    let err = file(
        "services:\n  b:\n    image: x\n    mem_limit: 1g\n    deploy: {resources: {limits: {memory: 2g}}}\n",
    )
    .unwrap_err();
    assert!(err.contains("disagrees with mem_limit"), "{err}");
    let err = file("services:\n  b:\n    image: x\n    ulimits: {nofile: {soft: 10, hard: 5}}\n")
        .unwrap_err();
    assert!(err.contains("above the hard limit"), "{err}");
}

#[test]
fn swarm_only_keys_are_kept_for_a_swarm_and_noted_for_one_engine() {
    let f = file(
        "services:\n  b:\n    image: x\n    deploy: {mode: replicated, replicas: 3, placement: {constraints: [node.role==manager]}, restart_policy: {condition: any, delay: 5s}}\n",
    )
    .unwrap();
    assert_eq!(f.services["b"].replicas, Some(3));
    assert_eq!(f.services["b"].restart.as_deref(), Some("always"));
    let swarm = f.services["b"].swarm.as_ref().unwrap();
    assert_eq!(swarm.constraints, vec!["node.role==manager"]);
    let policy = swarm.restart_policy.as_ref().unwrap();
    assert_eq!(policy.condition, "any");
    assert_eq!(policy.delay, Some(std::time::Duration::from_secs(5)));
    let notes = f.single_engine_notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("deploy.placement"), "{notes:?}");
    assert!(notes[1].contains("restart_policy.delay"), "{notes:?}");
}

#[test]
fn sizes_and_ports_parse_like_compose() {
    assert_eq!(bytes(&Value::from("1g"), "m").unwrap(), 1 << 30);
    assert_eq!(bytes(&Value::from("1.5G"), "m").unwrap(), 3 << 29);
    assert_eq!(bytes(&Value::from("100kb"), "m").unwrap(), 102_400);
    assert_eq!(bytes(&Value::from(2048), "m").unwrap(), 2048);
    assert!(bytes(&Value::from("12x"), "m").is_err());
    assert_eq!(
        port("[::1]:8080:80", "p").unwrap().host_ip.as_deref(),
        Some("::1")
    );
    assert_eq!(
        port("8000-8010:8000-8010", "p").unwrap().target,
        "8000-8010"
    );
    assert_eq!(port("127.0.0.1::5432", "p").unwrap().published, None);
    assert!(port("http", "p").is_err());
    assert!(port("80/icmp", "p").is_err());
    assert_eq!(
        super::super::values::compose_duration(Duration::from_secs(90)),
        "1m30s"
    );
    assert_eq!(
        super::super::values::compose_duration(Duration::from_millis(1500)),
        "1.5s"
    );
    assert_eq!(
        super::super::values::compose_duration(Duration::from_secs(3600)),
        "1h0m0s"
    );
    assert_eq!(
        super::super::values::compose_duration(Duration::from_millis(500)),
        "500ms"
    );
}

#[test]
fn interpolated_booleans_and_counts_are_read_as_compose_reads_them() {
    let f = file(
        "services:\n  b:\n    image: x\n    privileged: 'false'\n    read_only: 'true'\n    healthcheck: {test: [CMD, 'true'], retries: '5'}\n    deploy: {restart_policy: {condition: on-failure, max_attempts: '3'}}\n",
    )
    .unwrap();
    let b = &f.services["b"];
    assert_eq!((b.privileged, b.read_only), (Some(false), Some(true)));
    assert_eq!(b.healthcheck.as_ref().unwrap().retries, Some(5));
    assert_eq!(b.restart.as_deref(), Some("on-failure:3"));
    let err = file("services:\n  b:\n    image: x\n    tty: maybe\n").unwrap_err();
    assert!(err.contains("`maybe` is not true or false"), "{err}");
}

#[test]
fn legacy_and_engine_keys_are_read() {
    let f = file(
        "services:\n  b:\n    image: x\n    volumes_from: ['a:ro', 'container:other']\n    external_links: [redis_1:cache]\n    runtime: runc\n    userns_mode: host\n    cgroup_parent: gym.slice\n    oom_kill_disable: true\n    storage_opt: {size: 1G}\n    cpu_quota: 50000\n    cpu_period: 100000\n    develop: {watch: [{path: ., action: rebuild}]}\n    build: {context: ., dockerfile_inline: 'FROM scratch'}\n",
    )
    .unwrap();
    let b = &f.services["b"];
    assert_eq!(b.volumes_from, ["a:ro", "container:other"]);
    assert_eq!(b.runtime.as_deref(), Some("runc"));
    assert_eq!(b.storage_opt["size"], "1G");
    let resources = b.resources.as_ref().unwrap();
    assert_eq!(
        (resources.cpu_quota, resources.cpu_period),
        (Some(50000), Some(100000))
    );
    assert_eq!(
        b.build.as_ref().unwrap().dockerfile_inline.as_deref(),
        Some("FROM scratch")
    );
    assert!(f.notes[0].contains("develop"), "{:?}", f.notes);
}
