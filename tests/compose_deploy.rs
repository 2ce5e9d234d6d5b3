//! Real-world compose files deployed on the real engine: every key gymops honours reaches
//! the container (`docker inspect` shows it), secrets are files and never environment,
//! replicas scale up and down with docker-compose seeing the same containers, a deploy that
//! broke through configuration is rolled back to the configuration that ran, the gate asks
//! a just-started service again, the failover stack is a release of its own, and a file
//! with several unknown keys gets them all reported with their lines.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::deployment::{Deployment, IMAGE};
use support::{docker, docker_ok, run, run_ok, text};

fn inspect(id: &str) -> Value {
    let raw = docker_ok(&["inspect", id]);
    let mut list: Vec<Value> = serde_json::from_str(&raw).unwrap();
    list.remove(0)
}

/// The container IDs of a service by compose labels, by container number.
fn replicas(deployment: &Deployment, service: &str) -> BTreeMap<u32, String> {
    let listed = docker_ok(&[
        "ps",
        "-a",
        "--no-trunc",
        "--format",
        "{{.ID}} {{.Label \"com.docker.compose.container-number\"}}",
        "--filter",
        &format!("label=com.docker.compose.project={}", deployment.name),
        "--filter",
        &format!("label=com.docker.compose.service={service}"),
    ]);
    listed
        .lines()
        .map(|line| {
            let (id, number) = line.split_once(' ').unwrap();
            (number.parse().unwrap(), id.to_string())
        })
        .collect()
}

const SECRET: &str = "s3cr3t-value-9b2e";

#[test]
fn every_compose_key_reaches_the_container() {
    let deployment = Deployment::with_services(
        "k",
        "",
        &["app", "side", "worker", "inc", "isolated", "hostnet"],
    );
    let dir = deployment.dir.path();
    std::fs::write(dir.join("db_password.txt"), "from-a-file\n").unwrap();
    std::fs::write(
        dir.join("base.yml"),
        format!(
            "services:\n  template:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n    labels: {{from.base: 'yes'}}\n    environment: {{FROM_BASE: '1'}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("included.yml"),
        format!(
            "services:\n  inc:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n"
        ),
    )
    .unwrap();
    let subnet_octet = 100 + std::process::id() % 100;
    let compose = format!(
        r#"include:
  - included.yml
services:
  app:
    image: {IMAGE}
    command: [/usr/bin/sleep, "600"]
    # Not all of /usr: the engine puts its init at /sbin/docker-init (/usr/sbin here).
    volumes:
      - /usr/bin:/usr/bin:ro
      - /usr/lib:/usr/lib:ro
      - /usr/lib64:/usr/lib64:ro
      - {{type: tmpfs, target: /scratch, tmpfs: {{size: 8m}}}}
      - data:/data
    expose: ["7000", "7100-7101/udp"]
    secrets:
      - db_password
      - {{source: api_key, target: api.key, uid: "1000", gid: "1000", mode: 0400}}
    configs:
      - {{source: app_conf, target: /etc/gym/app.conf}}
    stop_signal: SIGINT
    stop_grace_period: 3s
    mem_limit: 96m
    memswap_limit: 192m
    mem_reservation: 32m
    cpus: 0.5
    cpu_shares: 512
    cpuset: "0"
    pids_limit: 200
    ulimits: {{nofile: {{soft: 2048, hard: 4096}}, nproc: 512}}
    working_dir: /tmp
    init: true
    shm_size: 16m
    tmpfs: [/run/cache, "/var/tmp:size=4m"]
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    security_opt: [no-new-privileges:true]
    hostname: gymapp
    domainname: gym.test
    platform: linux/amd64
    stdin_open: true
    tty: true
    sysctls: {{net.core.somaxconn: "1024"}}
    devices: ["/dev/null:/dev/gymnull:rwm"]
    dns: 10.9.9.9
    dns_search: [gym.test]
    dns_opt: [ndots:2]
    extra_hosts: ["db.gym:10.0.0.5"]
    group_add: ["44"]
    oom_score_adj: 100
    networks:
      front:
        aliases: [api]
        ipv4_address: 172.{subnet_octet}.5.10
    healthcheck: {{test: [CMD, /usr/bin/true], interval: 1s, start_period: 2s}}
    deploy:
      restart_policy: {{condition: on-failure, max_attempts: 4}}
  side:
    image: {IMAGE}
    command: [/usr/bin/sleep, "600"]
    volumes: ['/usr:/usr:ro']
    network_mode: "service:app"
    read_only: true
    user: "1000:1000"
  worker:
    extends: {{file: base.yml, service: template}}
    environment: {{OWN: '2'}}
  isolated:
    image: {IMAGE}
    command: [/usr/bin/sleep, "600"]
    volumes: ['/usr:/usr:ro']
    network_mode: none
  hostnet:
    image: {IMAGE}
    command: [/usr/bin/sleep, "600"]
    volumes: ['/usr:/usr:ro']
    network_mode: host
networks:
  front:
    driver: bridge
    labels: {{tier: front}}
    ipam: {{config: [{{subnet: 172.{subnet_octet}.5.0/24}}]}}
volumes:
  data:
    labels: {{tier: data}}
    driver_opts: {{type: tmpfs, device: tmpfs, o: size=4m}}
secrets:
  db_password: {{file: ./db_password.txt}}
  api_key: {{environment: GYM_API_KEY}}
configs:
  app_conf: {{content: "port=8080"}}
"#
    );
    std::fs::write(dir.join("docker-compose.yml"), compose).unwrap();
    let (code, report, stderr) = deployment.up(&[], &[("GYM_API_KEY", SECRET)]);
    assert_eq!(code, 0, "{stderr}\n{report}");

    let app = inspect(&deployment.id("app").unwrap());
    let config = &app["Config"];
    let host = &app["HostConfig"];
    for port in ["7000/tcp", "7100/udp", "7101/udp"] {
        assert!(
            config["ExposedPorts"].get(port).is_some(),
            "{port}: {config}"
        );
    }
    assert_eq!(config["StopSignal"], "SIGINT");
    assert_eq!(config["StopTimeout"], 3);
    assert_eq!(config["WorkingDir"], "/tmp");
    assert_eq!(config["Hostname"], "gymapp");
    assert_eq!(config["Domainname"], "gym.test");
    assert_eq!(config["OpenStdin"], true);
    assert_eq!(config["Tty"], true);
    assert_eq!(host["Memory"], 96 << 20);
    assert_eq!(host["MemorySwap"], 192 << 20);
    assert_eq!(host["MemoryReservation"], 32 << 20);
    assert_eq!(host["NanoCpus"], 500_000_000);
    assert_eq!(host["CpuShares"], 512);
    assert_eq!(host["CpusetCpus"], "0");
    assert_eq!(host["PidsLimit"], 200);
    let ulimits: Vec<(String, i64, i64)> = host["Ulimits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["Name"].as_str().unwrap().to_string(),
                u["Soft"].as_i64().unwrap(),
                u["Hard"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        ulimits.contains(&("nofile".into(), 2048, 4096)),
        "{ulimits:?}"
    );
    assert!(ulimits.contains(&("nproc".into(), 512, 512)), "{ulimits:?}");
    assert_eq!(host["Init"], true);
    assert_eq!(host["ShmSize"], 16 << 20);
    assert_eq!(host["Tmpfs"]["/run/cache"], "");
    assert_eq!(host["Tmpfs"]["/var/tmp"], "size=4m");
    assert_eq!(host["CapAdd"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(host["CapDrop"], serde_json::json!(["MKNOD"]));
    assert_eq!(
        host["SecurityOpt"],
        serde_json::json!(["no-new-privileges:true"])
    );
    assert_eq!(host["Sysctls"]["net.core.somaxconn"], "1024");
    assert_eq!(host["Devices"][0]["PathInContainer"], "/dev/gymnull");
    assert_eq!(host["Dns"], serde_json::json!(["10.9.9.9"]));
    assert_eq!(host["DnsSearch"], serde_json::json!(["gym.test"]));
    assert_eq!(host["DnsOptions"], serde_json::json!(["ndots:2"]));
    assert_eq!(host["ExtraHosts"], serde_json::json!(["db.gym:10.0.0.5"]));
    assert_eq!(host["GroupAdd"], serde_json::json!(["44"]));
    assert_eq!(host["OomScoreAdj"], 100);
    assert_eq!(host["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(host["RestartPolicy"]["MaximumRetryCount"], 4);
    let mounts = host["Mounts"].as_array().unwrap();
    let scratch = mounts.iter().find(|m| m["Target"] == "/scratch").unwrap();
    assert_eq!(scratch["Type"], "tmpfs");
    assert_eq!(scratch["TmpfsOptions"]["SizeBytes"], 8 << 20);
    let secret = mounts
        .iter()
        .find(|m| m["Target"] == "/run/secrets/db_password")
        .unwrap();
    assert_eq!(
        (secret["Type"].as_str(), secret["ReadOnly"].as_bool()),
        (Some("bind"), Some(true))
    );
    // On its network: the alias and the static address.
    let front = format!("{}_front", deployment.name);
    let endpoint = &app["NetworkSettings"]["Networks"][&front];
    assert_eq!(
        endpoint["IPAddress"],
        format!("172.{subnet_octet}.5.10"),
        "{endpoint}"
    );
    assert!(endpoint["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "api"));
    let network: Vec<Value> =
        serde_json::from_str(&docker_ok(&["network", "inspect", &front])).unwrap();
    assert_eq!(network[0]["Labels"]["tier"], "front");
    assert_eq!(
        network[0]["IPAM"]["Config"][0]["Subnet"],
        format!("172.{subnet_octet}.5.0/24")
    );
    let volume: Vec<Value> = serde_json::from_str(&docker_ok(&[
        "volume",
        "inspect",
        &format!("{}_data", deployment.name),
    ]))
    .unwrap();
    assert_eq!(volume[0]["Labels"]["tier"], "data");
    assert_eq!(volume[0]["Options"]["type"], "tmpfs");

    // Secrets: files inside, with their owner and mode; never in the environment.
    let exec = |args: &[&str]| {
        let id = deployment.id("app").unwrap();
        let mut all = vec!["exec", id.as_str()];
        all.extend_from_slice(args);
        docker_ok(&all)
    };
    assert_eq!(
        exec(&["/usr/bin/cat", "/run/secrets/db_password"]),
        "from-a-file"
    );
    assert_eq!(exec(&["/usr/bin/cat", "/run/secrets/api.key"]), SECRET);
    assert_eq!(
        exec(&["/usr/bin/stat", "-c", "%u:%g %a", "/run/secrets/api.key"]),
        "1000:1000 400"
    );
    assert_eq!(exec(&["/usr/bin/cat", "/etc/gym/app.conf"]), "port=8080");
    let env = config["Env"].to_string();
    assert!(!env.contains(SECRET), "a secret in the environment: {env}");
    let history = std::fs::read_to_string(dir.join(".gymops/releases.json")).unwrap();
    assert!(!history.contains(SECRET), "a secret's value recorded");

    // network_mode service:, read_only, user.
    let side = inspect(&deployment.id("side").unwrap());
    assert_eq!(
        side["HostConfig"]["NetworkMode"],
        format!("container:{}", app["Id"].as_str().unwrap())
    );
    assert_eq!(side["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(side["Config"]["User"], "1000:1000");
    for (service, mode) in [("isolated", "none"), ("hostnet", "host")] {
        let container = inspect(&deployment.id(service).unwrap());
        assert_eq!(container["HostConfig"]["NetworkMode"], mode, "{service}");
    }
    // extends from another file, and include.
    let worker = inspect(&deployment.id("worker").unwrap());
    assert_eq!(worker["Config"]["Labels"]["from.base"], "yes");
    let env = worker["Config"]["Env"].to_string();
    assert!(
        env.contains("FROM_BASE=1") && env.contains("OWN=2"),
        "{env}"
    );
    assert!(
        deployment.id("inc").is_some(),
        "the included file's service"
    );

    // A second up changes nothing; a changed secret recreates only its container.
    let (code, report, stderr) = deployment.up(&[], &[("GYM_API_KEY", SECRET)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        report["services"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "unchanged"),
        "{report}"
    );
    let (code, report, stderr) = deployment.up(&[], &[("GYM_API_KEY", "rotated")]);
    assert_eq!(code, 0, "{stderr}");
    let app_action = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "app")
        .unwrap()["action"]
        .clone();
    assert_eq!(app_action, "recreated", "{report}");
    assert_eq!(exec(&["/usr/bin/cat", "/run/secrets/api.key"]), "rotated");
}

#[test]
fn keys_a_single_engine_cannot_honour_are_refused_with_what_to_use() {
    let deployment = Deployment::new("n", "");
    let dir = deployment.dir.path();
    let cases = [
        (
            "external.yml",
            format!("services:\n  db:\n    image: {IMAGE}\n    secrets: [pw]\nsecrets:\n  pw: {{external: true}}\n"),
            "secrets.pw: an external secret or config lives in a Swarm",
        ),
        (
            "interval.yml",
            format!("services:\n  db:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '60']\n    volumes: ['/usr:/usr:ro']\n    healthcheck: {{test: [CMD, /usr/bin/true], start_interval: 1s}}\n"),
            "healthcheck.start_interval needs Docker Engine 25",
        ),
        (
            "scale.yml",
            format!("services:\n  db:\n    image: {IMAGE}\n    container_name: fixed_db\n    deploy: {{replicas: 2}}\n"),
            "has container_name `fixed_db`, so it cannot run 2 containers",
        ),
        (
            "mounts.yml",
            format!("services:\n  db:\n    image: {IMAGE}\n    volumes: ['/srv:/data', './x:/data/']\n"),
            "duplicate mount target /data/",
        ),
    ];
    for (file, yaml, expected) in cases {
        std::fs::write(dir.join(file), yaml).unwrap();
        let output = run(deployment.gymops().args(["up", "-f", file]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{file}: {stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{stderr}"
        );
        assert!(
            deployment.containers().is_empty(),
            "{file}: nothing started"
        );
    }
}

#[test]
fn a_file_with_four_unknown_keys_reports_all_four_with_their_lines() {
    let deployment = Deployment::new("u", "");
    let dir = deployment.dir.path();
    // Block and flow mappings, and the same misspelt key twice.
    std::fs::write(
        dir.join("typos.yml"),
        format!(
            "services:\n  db:\n    image: {IMAGE}\n    restrat: always\n    healthcheck: {{test: [CMD, /usr/bin/true], intervall: 5s}}\n  web:\n    image: {IMAGE}\n    restrat: always\n    ports:\n      - {{target: 80, publised: 8080}}\n"
        ),
    )
    .unwrap();
    let output = run(deployment.gymops().args(["up", "-f", "typos.yml"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    for expected in [
        "4 problems",
        "typos.yml (line 4): services.db: unknown key `restrat` (did you mean `restart`?)",
        "typos.yml (line 5): services.db.healthcheck: unknown key `intervall` (did you mean `interval`?)",
        "typos.yml (line 8): services.web: unknown key `restrat`",
        "typos.yml (line 10): services.web.ports[0]: unknown key `publised` (did you mean `published`?)",
    ] {
        assert!(stderr.contains(expected), "{expected}\n{stderr}");
    }
    assert!(deployment.containers().is_empty());
}

#[test]
fn replicas_scale_up_and_down_and_docker_compose_sees_them() {
    let compose = format!(
        "services:\n  db:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n    stop_grace_period: 1s\n  web:\n    image: {IMAGE}\n    command: [/usr/bin/sh, -c, 'echo replica $$HOSTNAME up; exec /usr/bin/sleep 600']\n    volumes: ['/usr:/usr:ro']\n    depends_on: [db]\n    stop_grace_period: 1s\n    ports: ['127.0.0.1::80']\n"
    );
    let deployment = Deployment::new("s", &compose);
    let (code, _, stderr) = deployment.up(&[], &[]);
    assert_eq!(code, 0, "{stderr}");
    let first = replicas(&deployment, "web");
    assert_eq!(first.len(), 1);

    // 1 -> 3: replica 1 stays, 2 and 3 are new.
    let (code, report, stderr) = deployment.up(&["--scale", "web=3"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let three = replicas(&deployment, "web");
    assert_eq!(three.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(three[&1], first[&1], "replica 1 is not recreated");
    let created = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "created")
        .count();
    assert_eq!(created, 2, "{report}");
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.Name}}", &three[&3]]),
        format!("/{}_web_3", deployment.name)
    );
    // docker-compose sees the same three containers.
    let listed = deployment.compose(&["ps", "-q", "web"]);
    assert_eq!(
        text(&listed.stdout).lines().count(),
        3,
        "{}",
        text(&listed.stderr)
    );
    // ps, health, logs and perf stats show every replica.
    let ps: Value =
        serde_json::from_str(&run_ok(deployment.gymops().args(["ps", "-o", "json"]))).unwrap();
    let web_rows: Vec<&Value> = ps["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["service"] == "web")
        .collect();
    assert_eq!(web_rows.len(), 3, "{ps}");
    assert_eq!(web_rows[2]["replica"], 3);
    let health = run(deployment
        .gymops()
        .args(["health", "--check", "containers", "-o", "json"]));
    let health: Value = serde_json::from_slice(&health.stdout).unwrap();
    let names: Vec<&str> = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .filter(|n| n.starts_with("web"))
        .collect();
    assert_eq!(names, ["web#1", "web#2", "web#3"], "{health}");
    let logs = run_ok(deployment.gymops().args(["logs", "web", "--tail", "5"]));
    for n in 1..=3 {
        let id = &three[&n][..12];
        assert!(
            logs.contains(&format!("replica {id} up")),
            "replica {n}: {logs}"
        );
    }
    let stats = run(deployment
        .gymops()
        .args(["perf", "stats", "web", "-o", "json"]));
    let stats_text = text(&stats.stdout);
    for n in 1..=3 {
        assert!(
            stats_text.contains(&format!("{}_web_{n}", deployment.name)),
            "{stats_text}{}",
            text(&stats.stderr)
        );
    }

    // 3 -> 1 (the file says 1): the highest numbers go, replica 1 stays.
    let (code, report, stderr) = deployment.up(&[], &[]);
    assert_eq!(code, 0, "{stderr}");
    let one = replicas(&deployment, "web");
    assert_eq!(one.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(one[&1], first[&1]);
    let removed: Vec<u64> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "removed")
        .map(|s| s["number"].as_u64().unwrap())
        .collect();
    assert_eq!(removed, [3, 2], "highest first: {report}");

    // A fixed host port cannot be held by two replicas: refused before anything changes.
    std::fs::write(
        deployment.dir.path().join("fixed.yml"),
        format!(
            "services:\n  web:\n    image: {IMAGE}\n    ports: ['127.0.0.1:{}:80']\n",
            support::free_port()
        ),
    )
    .unwrap();
    let output = run(deployment
        .gymops()
        .args(["up", "-f", "fixed.yml", "--scale", "web=2"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("fixed host port"), "{stderr}");
    assert_eq!(replicas(&deployment, "web"), one);
}

/// An app whose healthcheck passes only with MODE=good.
fn moded(image: &str) -> String {
    format!(
        "services:\n  db:\n    image: {image}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n  web:\n    image: {image}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n    environment: {{MODE: '${{MODE:-good}}'}}\n    healthcheck: {{test: [CMD, /usr/bin/sh, -c, 'test \"$$MODE\" = good'], interval: 1s, retries: 2}}\n"
    )
}

#[test]
fn a_deploy_broken_by_its_configuration_is_rolled_back_to_the_configuration_that_ran() {
    let deployment = Deployment::new("b", &moded(IMAGE));
    // The team's channel hears of a failed deploy (and of nothing else).
    let config = deployment.dir.path().join("gymops.yaml");
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml.push_str("notify:\n  channels: [webhook]\n  retries: 0\n  timeout: 3s\n");
    std::fs::write(&config, yaml).unwrap();
    let receiver = support::Receiver::start(&[(200, "ok")]);
    let hook = receiver.url("/deploys");
    let (code, report, stderr) =
        deployment.up(&[], &[("MODE", "good"), ("GYMOPS_WEBHOOK_URL", &hook)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(receiver.requests().is_empty(), "a good deploy is not news");
    let good = report["release"].as_str().unwrap().to_string();
    // Same image, a bad environment: the gate fails and the release is put back with its
    // own environment (an image-only rollback would recreate MODE=bad again).
    let (code, report, stderr) =
        deployment.up(&[], &[("MODE", "bad"), ("GYMOPS_WEBHOOK_URL", &hook)]);
    assert_eq!(code, 2, "{stderr}");
    let rollback = &report["rollback"];
    assert_eq!(rollback["status"], "ok", "{report}");
    assert_eq!(rollback["target"], good.as_str());
    let told = receiver.requests();
    assert_eq!(told.len(), 1, "{told:?}");
    let event: Value = serde_json::from_str(&told[0].body).unwrap();
    assert_eq!(event["alert_type"], "DeployRolledBack");
    assert_eq!(event["severity"], "critical");
    let message = event["message"].as_str().unwrap();
    assert!(
        message.contains("web") && message.contains(&format!("rolled back to {good} (healthy)")),
        "{message}"
    );
    let web = inspect(&deployment.id("web").unwrap());
    assert!(
        web["Config"]["Env"].to_string().contains("MODE=good"),
        "{}",
        web["Config"]["Env"]
    );
    assert_eq!(web["State"]["Health"]["Status"], "healthy");
    // Shown as the image it was deployed as, the release tag only as its pin.
    let ps: Value = serde_json::from_str(&run_ok(
        deployment.gymops().args(["ps", "web", "-o", "json"]),
    ))
    .unwrap();
    assert_eq!(
        ps["services"][0]["image"],
        IMAGE.split(':').next().unwrap(),
        "{ps}"
    );
    let rolled = rollback["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "web")
        .unwrap();
    assert_eq!(rolled["image"], IMAGE);
    assert!(
        rolled["pin"]
            .as_str()
            .unwrap()
            .starts_with("gymops-release/"),
        "{rolled}"
    );

    // --no-rollback leaves the bad one running and recorded as failed; rollback's default
    // is then the last release that passed, not the one before it.
    let (code, _, stderr) = deployment.up(&["--no-rollback"], &[("MODE", "bad")]);
    assert_eq!(code, 2, "{stderr}");
    let history = deployment.history();
    let newest = history["releases"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(newest["passed"], false);
    let output = run(deployment
        .gymops()
        .args(["rollback", "-o", "json"])
        .env("MODE", "bad"));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let web = inspect(&deployment.id("web").unwrap());
    assert!(web["Config"]["Env"].to_string().contains("MODE=good"));
    let listed = run_ok(deployment.gymops().args(["releases"]));
    assert!(listed.contains("(failed)"), "{listed}");
}

#[test]
fn the_gate_asks_a_service_without_a_healthcheck_again_until_the_wait_timeout() {
    let port = support::free_port();
    // Starts listening three seconds after it starts, like MinIO right after a restart.
    let compose = format!(
        "services:\n  db:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n  web:\n    image: {IMAGE}\n    command: [/usr/bin/sh, -c, 'sleep 3; cd /tmp && exec /usr/bin/python3 -m http.server 8000']\n    volumes: ['/usr:/usr:ro']\n    ports: ['127.0.0.1:{port}:8000']\n"
    );
    let deployment = Deployment::new("g", &compose);
    std::fs::write(
        deployment.dir.path().join("gymops.yaml"),
        format!(
            "services:\n  db: {{container: null}}\n  web: {{container: null}}\nbackend:\n  service: web\n  url: http://127.0.0.1:{port}\n  endpoints: {{login: /, health: /, health_db: /}}\ndeploy:\n  gate: [api]\n  wait_timeout: 30s\n  stop_timeout: 1s\n"
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (code, report, stderr) = deployment.up(&[], &[]);
    assert_eq!(code, 0, "{stderr}\n{report}");
    assert!(started.elapsed() >= std::time::Duration::from_secs(3));
    assert!(stderr.contains("asking again"), "{stderr}");
    assert_eq!(report["gate"]["status"], "ok", "{report}");
}

#[test]
fn up_failover_deploys_the_failover_stack_as_its_own_release() {
    let deployment = Deployment::new("f", &moded(IMAGE));
    std::fs::write(
        deployment.dir.path().join("docker-compose.backup.yml"),
        "services:\n  web:\n    environment: {SITE: standby}\n",
    )
    .unwrap();
    let (code, report, stderr) = deployment.up(&["--failover"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let web = inspect(&deployment.id("web").unwrap());
    assert!(web["Config"]["Env"].to_string().contains("SITE=standby"));
    let history = deployment.history();
    let release = history["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == report["release"])
        .unwrap()
        .clone();
    assert_eq!(release["kind"], "failover");
    // Without the failover file: a clear error, nothing changed.
    std::fs::remove_file(deployment.dir.path().join("docker-compose.backup.yml")).unwrap();
    let output = run(deployment.gymops().args(["up", "--failover"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("no failover compose file"));
}

#[test]
fn the_files_top_level_name_is_the_project_when_gymops_yaml_sets_none() {
    let deployment = Deployment::with_services("p", "", &["db"]);
    let name = format!("{}named", deployment.name);
    std::fs::write(
        deployment.dir.path().join("docker-compose.yml"),
        format!("name: {name}\nservices:\n  db:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n"),
    )
    .unwrap();
    let mut command = support::gymops(deployment.dir.path());
    let output = run(command.args(["up", "db", "-o", "json"]));
    let cleanup = || {
        let filter = format!("label=com.docker.compose.project={name}");
        for id in text(&docker(&["ps", "-aq", "--filter", &filter]).stdout).lines() {
            let _ = docker(&["rm", "-f", id]);
        }
        for id in text(&docker(&["network", "ls", "-q", "--filter", &filter]).stdout).lines() {
            let _ = docker(&["network", "rm", id]);
        }
        let images = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        for image in text(&images.stdout).lines() {
            if image.starts_with(&format!("gymops-release/{name}-")) {
                let _ = docker(&["rmi", image]);
            }
        }
    };
    let listed = docker_ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={name}"),
    ]);
    cleanup();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        listed.lines().count(),
        1,
        "the container is in project {name}"
    );
}

/// The JSON of `up` and `releases`, pinned: a field added, renamed or dropped fails here
/// (and must be added to docs/deploy.md's JSON section too).
mod json_shape {
    #![allow(dead_code)]
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct DeployReport {
        pub kind: String,
        pub project: String,
        pub environment: String,
        pub host: String,
        pub operator: String,
        pub started_at: String,
        pub release: Option<String>,
        pub target: Option<String>,
        pub services: Vec<Outcome>,
        pub phases: Vec<Phase>,
        pub wait_failures: Vec<WaitFailure>,
        pub gate: Option<serde_json::Value>,
        pub status: String,
        pub elapsed_ms: u64,
        pub rollback: Option<Box<DeployReport>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Outcome {
        pub service: String,
        pub number: u32,
        pub container: String,
        pub action: String,
        pub image: String,
        pub pin: Option<String>,
        pub image_id: String,
        pub replaced: Option<String>,
        pub previous_image: Option<String>,
        pub previous_image_id: Option<String>,
        pub config_hash: String,
        pub state: String,
        pub health: Option<String>,
        pub elapsed_ms: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Phase {
        pub name: String,
        pub ms: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct WaitFailure {
        pub service: String,
        pub error: String,
        pub log_tail: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Release {
        pub id: String,
        pub time: String,
        pub environment: String,
        pub host: String,
        pub operator: String,
        pub kind: String,
        pub passed: bool,
        pub services: std::collections::BTreeMap<String, ReleaseService>,
        pub current: bool,
        pub images_kept: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ReleaseService {
        pub image: String,
        pub image_id: String,
        pub replicas: u32,
    }
}

#[test]
fn the_json_of_up_and_releases_has_exactly_the_documented_fields() {
    let deployment = Deployment::new("j", &moded(IMAGE));
    let (code, report, stderr) = deployment.up(&[], &[("MODE", "good")]);
    assert_eq!(code, 0, "{stderr}");
    let _: json_shape::DeployReport = serde_json::from_value(report).unwrap();
    // A failed deploy with its automatic rollback nested, and a wait failure.
    let (code, report, stderr) = deployment.up(&[], &[("MODE", "bad")]);
    assert_eq!(code, 2, "{stderr}");
    let parsed: json_shape::DeployReport = serde_json::from_value(report).unwrap();
    assert!(!parsed.wait_failures.is_empty() && parsed.rollback.is_some());
    let listed = run_ok(deployment.gymops().args(["releases", "-o", "json"]));
    let releases: Vec<json_shape::Release> = serde_json::from_str(&listed).unwrap();
    assert_eq!(releases.len(), 2);
}

/// As cron runs it: `env -i` with cron's PATH, from `/`, no terminal, `--config` pointing at
/// the project. Relative paths in the compose files (a secret file, an included file, an
/// extended file) resolve against the files, not the working directory; a secret from a
/// variable comes from the env file (cron's environment has none); replicas are made.
#[test]
fn up_from_cron_resolves_the_files_paths_and_takes_secrets_from_the_env_file() {
    let deployment = Deployment::with_services("c", "", &["app", "inc"]);
    let dir = deployment.dir.path();
    std::fs::create_dir_all(dir.join("conf/parts")).unwrap();
    std::fs::write(dir.join("conf/token.txt"), "file-token").unwrap();
    std::fs::write(
        dir.join("conf/parts/base.yml"),
        format!(
            "services:\n  base:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("conf/parts/inc.yml"),
        format!(
            "services:\n  inc:\n    image: {IMAGE}\n    command: [/usr/bin/sleep, '600']\n    volumes: ['/usr:/usr:ro']\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("conf/docker-compose.yml"),
        "include: [parts/inc.yml]\nservices:\n  app:\n    extends: {file: parts/base.yml, service: base}\n    deploy: {replicas: 2}\n    secrets: [token, {source: api_key, mode: 0400}]\nsecrets:\n  token: {file: ./token.txt}\n  api_key: {environment: CRON_API_KEY}\n",
    )
    .unwrap();
    std::fs::write(dir.join(".env"), "CRON_API_KEY=from-the-env-file\n").unwrap();
    let yaml = std::fs::read_to_string(dir.join("gymops.yaml")).unwrap();
    std::fs::write(
        dir.join("gymops.yaml"),
        format!("{yaml}environments:\n  development:\n    compose_files: [conf/docker-compose.yml]\n    env_file: .env\n"),
    )
    .unwrap();
    let output = run(std::process::Command::new("/usr/bin/env")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .args(["-i", "PATH=/usr/bin:/bin", "SHELL=/bin/sh", "LOGNAME=root"])
        .arg(format!("HOME={}", dir.display()))
        .arg(format!("GYMOPS_PROJECT={}", deployment.name))
        .arg(support::gymops_bin())
        .arg("--config")
        .arg(dir.join("gymops.yaml"))
        .args(["up", "-o", "json"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        !text(&output.stderr).contains('\u{1b}'),
        "no terminal: no spinner or colors"
    );
    let replicas = replicas(&deployment, "app");
    assert_eq!(replicas.len(), 2);
    for id in replicas.values() {
        assert_eq!(
            docker_ok(&["exec", id, "/usr/bin/cat", "/run/secrets/token"]),
            "file-token"
        );
        assert_eq!(
            docker_ok(&["exec", id, "/usr/bin/cat", "/run/secrets/api_key"]),
            "from-the-env-file"
        );
    }
    assert!(
        deployment.id("inc").is_some(),
        "the included file's service"
    );
}
