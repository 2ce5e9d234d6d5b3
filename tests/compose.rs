//! `gymops service config`: the compose files read as Debian's docker-compose reads them
//! (compared field by field with `docker-compose config` on the same files and variables),
//! and bad files refused with the file and the key named.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use support::{gymops, run, text};

const BASE: &str = r#"
version: "3.8"
x-defaults: &defaults
  restart: unless-stopped
services:
  postgres:
    <<: *defaults
    image: postgres:${PG_VERSION:-15}-alpine
    container_name: ${PROJECT}_postgres
    environment:
      POSTGRES_DB: ${POSTGRES_DB:-fitness_gym}
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}
    volumes:
      - postgres_data:/var/lib/postgresql/data
      - ./init:/docker-entrypoint-initdb.d:ro
    ports:
      - "127.0.0.1:${POSTGRES_PORT:-5432}:5432"
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
      interval: 10s
      timeout: 5s
      retries: 5
  minio:
    image: minio/minio:latest
    command: server /data --console-address ":9001"
    environment:
      - MINIO_ROOT_USER=admin
      - MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD}
    ports: ["9000:9000", "9001:9001"]
    volumes: [minio_data:/data]
  backend:
    build:
      context: ./api
      args:
        JAR: app.jar
    image: fitness-gym/backend:${BACKEND_TAG:-latest}
    environment:
      SPRING_DATASOURCE_URL: jdbc:postgresql://postgres:5432/${POSTGRES_DB:-fitness_gym}
      JAVA_OPTS: -Xmx512m
    ports: ["8080:8080"]
    depends_on:
      postgres:
        condition: service_healthy
      minio:
        condition: service_started
    networks: [default, monitoring]
    labels:
      team: gym
volumes:
  postgres_data:
  minio_data:
networks:
  monitoring:
"#;

const PROD: &str = r#"
services:
  backend:
    image: fitness-gym/backend:${BACKEND_TAG}
    environment:
      JAVA_OPTS: -Xmx2g
      SPRING_PROFILES_ACTIVE: prod
    ports: ["8443:8443"]
    labels:
      tier: api
  postgres:
    volumes:
      - ./init-prod:/docker-entrypoint-initdb.d:ro
"#;

fn setup(dir: &Path) {
    std::fs::create_dir_all(dir.join("api")).unwrap();
    std::fs::write(dir.join("docker-compose.yml"), BASE).unwrap();
    std::fs::write(dir.join("docker-compose.prod.yml"), PROD).unwrap();
    std::fs::write(
        dir.join(".env"),
        "PROJECT=gym\nPOSTGRES_PASSWORD=from-env-file\nMINIO_ROOT_PASSWORD=minio-secret\nBACKEND_TAG=1.4.2\n",
    )
    .unwrap();
}

fn scalar(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// What both tools must agree on, per service.
#[derive(Debug, PartialEq)]
struct Facts {
    image: String,
    environment: BTreeMap<String, String>,
    ports: Vec<String>,
    volumes: Vec<String>,
    depends_on: BTreeMap<String, String>,
    command: Option<Vec<String>>,
    healthcheck_test: Option<Vec<String>>,
    labels: BTreeMap<String, String>,
    networks: Vec<String>,
    restart: Option<String>,
}

fn compose_facts(service: &Yaml) -> Facts {
    let map = |key: &str| -> BTreeMap<String, String> {
        service
            .get(key)
            .and_then(Yaml::as_mapping)
            .map(|m| m.iter().map(|(k, v)| (scalar(k), scalar(v))).collect())
            .unwrap_or_default()
    };
    let mut ports: Vec<String> = service
        .get("ports")
        .and_then(Yaml::as_sequence)
        .map(|ports| {
            ports
                .iter()
                .map(|p| match p {
                    // Compose keeps the short syntax when there is a host address.
                    Yaml::String(short) => {
                        let short = short.strip_suffix("/tcp").unwrap_or(short);
                        let parts: Vec<&str> = short.split(':').collect();
                        match parts.as_slice() {
                            [ip, published, target] => format!("{ip}:{published}:{target}"),
                            [published, target] => format!(":{published}:{target}"),
                            _ => format!("::{short}"),
                        }
                    }
                    long => format!(
                        "{}:{}:{}",
                        long.get("host_ip").map(scalar).unwrap_or_default(),
                        long.get("published").map(scalar).unwrap_or_default(),
                        scalar(&long["target"])
                    ),
                })
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    let mut volumes: Vec<String> = service
        .get("volumes")
        .and_then(Yaml::as_sequence)
        .map(|v| {
            v.iter()
                .map(|m| {
                    let text = scalar(m);
                    let parts: Vec<&str> = text.split(':').collect();
                    format!("{}:{}:{}", parts[0], parts[1], parts.get(2) == Some(&"ro"))
                })
                .collect()
        })
        .unwrap_or_default();
    volumes.sort();
    let mut networks: Vec<String> = match service.get("networks") {
        Some(Yaml::Mapping(m)) => m.keys().map(scalar).collect(),
        Some(Yaml::Sequence(s)) => s.iter().map(scalar).collect(),
        _ => Vec::new(),
    };
    networks.sort();
    Facts {
        image: scalar(&service["image"]),
        environment: map("environment"),
        ports,
        volumes,
        depends_on: service
            .get("depends_on")
            .and_then(Yaml::as_mapping)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (scalar(k), scalar(&v["condition"])))
                    .collect()
            })
            .unwrap_or_default(),
        command: service.get("command").map(|c| match c {
            Yaml::String(s) => shell_words::split(s).unwrap(),
            other => other.as_sequence().unwrap().iter().map(scalar).collect(),
        }),
        healthcheck_test: service
            .get("healthcheck")
            .and_then(|h| h.get("test"))
            .and_then(Yaml::as_sequence)
            .map(|t| t.iter().map(scalar).collect()),
        labels: map("labels"),
        networks,
        restart: service.get("restart").map(scalar),
    }
}

fn gymops_facts(service: &Json) -> Facts {
    let s = |v: &Json| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    let map = |key: &str| -> BTreeMap<String, String> {
        service
            .get(key)
            .and_then(Json::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
            .unwrap_or_default()
    };
    let list = |v: &Json| v.as_array().unwrap().iter().map(s).collect::<Vec<_>>();
    let mut ports: Vec<String> = service
        .get("ports")
        .and_then(Json::as_array)
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    format!(
                        "{}:{}:{}",
                        p.get("host_ip").map(s).unwrap_or_default(),
                        p.get("published").map(s).unwrap_or_default(),
                        s(&p["target"])
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    let mut volumes: Vec<String> = service
        .get("volumes")
        .and_then(Json::as_array)
        .map(|v| {
            v.iter()
                .map(|m| format!("{}:{}:{}", s(&m["source"]), s(&m["target"]), m["read_only"]))
                .collect()
        })
        .unwrap_or_default();
    volumes.sort();
    let mut networks: Vec<String> = service
        .get("networks")
        .and_then(Json::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    Facts {
        image: s(&service["image"]),
        environment: map("environment"),
        ports,
        volumes,
        depends_on: map("depends_on"),
        command: service.get("command").map(list),
        healthcheck_test: service
            .get("healthcheck")
            .and_then(|h| h.get("test"))
            .map(list),
        labels: map("labels"),
        networks,
        restart: service.get("restart").map(s),
    }
}

#[test]
fn gymops_reads_the_files_as_docker_compose_does() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let files = ["-f", "docker-compose.yml", "-f", "docker-compose.prod.yml"];
    // The environment wins over .env, in both tools.
    let compose = run(Command::new("docker-compose")
        .current_dir(dir.path())
        .env("POSTGRES_PORT", "5433")
        .args(files)
        .arg("config"));
    assert!(compose.status.success(), "{}", text(&compose.stderr));
    let compose: Yaml = serde_yaml::from_slice(&compose.stdout).unwrap();
    let output = run(gymops(dir.path())
        .env("POSTGRES_PORT", "5433")
        .args(["service", "config", "-o", "json"])
        .args(files));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let ours: Json = serde_json::from_slice(&output.stdout).unwrap();

    let compose_services: Vec<String> = compose["services"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(scalar)
        .collect();
    let our_services: Vec<String> = ours["services"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(compose_services, our_services);
    for name in &our_services {
        let theirs = compose_facts(&compose["services"][name.as_str()]);
        let mine = gymops_facts(&ours["services"][name]);
        assert_eq!(mine, theirs, "service {name}");
    }
    // Spot checks that the comparison compares something.
    let backend = gymops_facts(&ours["services"]["backend"]);
    assert_eq!(backend.image, "fitness-gym/backend:1.4.2");
    assert_eq!(backend.environment["JAVA_OPTS"], "-Xmx2g");
    assert_eq!(backend.ports.len(), 2);
    let postgres = gymops_facts(&ours["services"]["postgres"]);
    assert_eq!(postgres.ports, vec!["127.0.0.1:5433:5432"]);
    assert_eq!(postgres.environment["POSTGRES_PASSWORD"], "from-env-file");
    assert!(postgres.volumes.iter().any(|v| v.contains("/init-prod:")));
    assert_eq!(
        ours["start_order"],
        serde_json::json!(["minio", "postgres", "backend"])
    );
    let build = &ours["services"]["backend"]["build"];
    assert_eq!(
        Path::new(build["context"].as_str().unwrap()),
        dir.path().join("api")
    );
    assert_eq!(build["args"]["JAR"], "app.jar");

    let order = run(gymops(dir.path())
        .args(["service", "config", "--services"])
        .args(files));
    assert_eq!(text(&order.stdout), "minio\npostgres\nbackend\n");
}

#[test]
fn bad_compose_files_are_refused_with_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let cases: &[(&str, &str, &str)] = &[
        (
            "unknown-key.yml",
            "services:\n  api:\n    image: x\n    healthcheck:\n      test: [CMD, 'true']\n      intervall: 5s\n",
            "unknown-key.yml (line 6): services.api.healthcheck: unknown key `intervall`",
        ),
        (
            "missing-variable.yml",
            "services:\n  db:\n    image: postgres\n    environment:\n      PW: ${DB_SECRET:?set DB_SECRET in .env}\n",
            "missing-variable.yml: services.db.environment.PW: required variable DB_SECRET is not set: set DB_SECRET in .env",
        ),
        (
            "cycle.yml",
            "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
            "dependency cycle: a -> b -> a",
        ),
        (
            "no-context.yml",
            "services:\n  api:\n    build: ./nowhere\n",
            "service `api`: the build context",
        ),
        (
            "unknown-service.yml",
            "services:\n  api: {image: x, depends_on: [database]}\n",
            "service `api` depends on `database`, which is not a service",
        ),
    ];
    for (name, yaml, expected) in cases {
        std::fs::write(dir.path().join(name), yaml).unwrap();
        let output = run(gymops(dir.path()).args(["service", "config", "-f", name]));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(stderr.contains("hint:"), "{name}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            2,
            "one error line and a hint: {stderr}"
        );
        // docker-compose refuses them too (it is the reference, not gymops' invention).
        let compose = run(Command::new("docker-compose")
            .current_dir(dir.path())
            .args(["-f", name, "config", "-q"]));
        assert!(!compose.status.success(), "docker-compose accepted {name}");
    }
    // A variable used but set nowhere: a warning naming it, like compose's.
    std::fs::write(
        dir.path().join("unset.yml"),
        "services:\n  api:\n    image: gym/api:${NO_SUCH_TAG}\n",
    )
    .unwrap();
    let output = run(gymops(dir.path()).args(["service", "config", "-f", "unset.yml"]));
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stderr).contains("variable NO_SUCH_TAG is not set"),
        "{}",
        text(&output.stderr)
    );
}

/// `service config` writes durations as `docker compose config` (v2) does, shows a variable
/// passed through from the environment as set (never its value), and a secret never.
#[test]
fn service_config_uses_composes_syntax_and_never_shows_a_passed_through_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw.txt"), "file-secret").unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  api:\n    image: gym/api:1\n    environment: [DB_PASSWORD, NOT_THERE, MODE=prod]\n    healthcheck: {test: [CMD, 'true'], interval: 90s, timeout: 1500ms, start_period: 1h}\n    stop_grace_period: 45s\n    secrets: [pw, api_key]\nsecrets:\n  pw: {file: ./pw.txt}\n  api_key: {environment: API_KEY}\n",
    )
    .unwrap();
    let output = run(gymops(dir.path())
        .env("DB_PASSWORD", "pass-through-value")
        .env("API_KEY", "env-secret-value")
        .args(["service", "config"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let shown = text(&output.stdout);
    let ours: Yaml = serde_yaml::from_str(&shown).unwrap();
    let health = &ours["services"]["api"]["healthcheck"];
    // docker compose v2's (the specification's) form; 1.29 echoes the file's own text.
    assert_eq!(health["interval"].as_str(), Some("1m30s"));
    assert_eq!(health["timeout"].as_str(), Some("1.5s"));
    assert_eq!(health["start_period"].as_str(), Some("1h0m0s"));
    assert_eq!(
        ours["services"]["api"]["stop_grace_period"].as_str(),
        Some("45s")
    );
    let environment = &ours["services"]["api"]["environment"];
    assert_eq!(
        environment["DB_PASSWORD"].as_str(),
        Some("(set from the environment)")
    );
    assert_eq!(
        environment["NOT_THERE"].as_str(),
        Some("(not set: left out)")
    );
    assert_eq!(environment["MODE"].as_str(), Some("prod"));
    for secret in ["pass-through-value", "env-secret-value", "file-secret"] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    assert_eq!(
        ours["secrets"]["api_key"]["environment"].as_str(),
        Some("API_KEY")
    );
}
