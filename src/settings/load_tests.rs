//! Tests of `load.rs`: layers in order, sources, secrets, bad input.
use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn entry<'a>(loaded: &'a Loaded, key: &str) -> &'a Entry {
    loaded.entries.iter().find(|e| e.key == key).unwrap()
}

#[test]
fn layers_apply_in_order_and_say_where_values_came_from() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
            dir.path().join("gymops.yaml"),
            "project: from_file\npostgres:\n  port: 6000\n  database: file_db\nhealth:\n  timeout: 3s\n",
        )
        .unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "POSTGRES_DB=envfile_db\nPOSTGRES_PASSWORD=pw-from-env-file\nOTHER=1\n",
    )
    .unwrap();
    let overrides = Overrides {
        values: vec![FlagValue::HealthTimeout(std::time::Duration::from_secs(2))],
        ..Overrides::default()
    };
    let loaded = load(
        &overrides,
        &env(&[("GYMOPS_POSTGRES_PORT", "7000")]),
        dir.path(),
    )
    .unwrap();
    let s = &loaded.settings;
    assert_eq!(s.project, "from_file");
    assert_eq!(s.postgres.database, "envfile_db");
    assert_eq!(s.postgres.port, 7000);
    assert_eq!(s.health.timeout, std::time::Duration::from_secs(2));
    assert_eq!(
        s.postgres.password.as_ref().unwrap().expose(),
        "pw-from-env-file"
    );
    assert_eq!(
        entry(&loaded, "project").source.to_string(),
        format!("file {}", dir.path().join("gymops.yaml").display())
    );
    assert_eq!(
        entry(&loaded, "postgres.port").source,
        Source::Env {
            var: "GYMOPS_POSTGRES_PORT".into()
        }
    );
    assert_eq!(
        entry(&loaded, "health.timeout").source,
        Source::Flag {
            flag: "--timeout".into()
        }
    );
    assert_eq!(entry(&loaded, "postgres.user").source, Source::Default);
    let password = entry(&loaded, "postgres.password");
    assert_eq!(password.value, MASK);
    assert!(matches!(&password.source, Source::EnvFile { var, .. } if var == "POSTGRES_PASSWORD"));
}

#[test]
fn an_unknown_key_names_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: x\nbackend:\n  urll: http://x\n",
    )
    .unwrap();
    let err = load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err();
    let (message, hint) = crate::error::describe(&err);
    assert!(message.contains("gymops.yaml"), "{message}");
    assert!(
        message.contains("key `backend.urll`: unknown key"),
        "{message}"
    );
    assert!(message.contains("line 3"), "{message}");
    assert!(hint.is_some());
}

#[test]
fn a_bad_value_names_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gymops.yaml"), "health:\n  timeout: soon\n").unwrap();
    let (message, _) =
        crate::error::describe(&load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err());
    assert!(message.contains("health.timeout"), "{message}");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn a_password_in_the_yaml_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "postgres:\n  user: app\n  password: hunter2\n",
    )
    .unwrap();
    let (message, hint) =
        crate::error::describe(&load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err());
    assert!(
        message.contains("line 3") && message.contains("postgres.password"),
        "{message}"
    );
    assert!(!message.contains("hunter2"));
    assert!(hint.unwrap().contains("GYMOPS_POSTGRES_PASSWORD"));
}

#[test]
fn bad_environment_values_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        &Overrides::default(),
        &env(&[("GYMOPS_POSTGRES_PORT", "five")]),
        dir.path(),
    )
    .unwrap_err();
    assert!(crate::error::describe(&err)
        .0
        .contains("GYMOPS_POSTGRES_PORT"));
    let err = load(
        &Overrides::default(),
        &env(&[("GYMOPS_BACKEND_URL", "::nope")]),
        dir.path(),
    )
    .unwrap_err();
    let (message, _) = crate::error::describe(&err);
    assert!(
        message.contains("GYMOPS_BACKEND_URL") && message.contains("backend.url"),
        "{message}"
    );
    let err = load(
        &Overrides::default(),
        &env(&[("GYMOPS_BACKEND_URLL", "x")]),
        dir.path(),
    )
    .unwrap_err();
    assert!(crate::error::describe(&err)
        .0
        .contains("GYMOPS_BACKEND_URLL is not a gymops setting"));
}

#[test]
fn the_environment_selects_the_env_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "POSTGRES_DB=dev_db\n").unwrap();
    std::fs::write(dir.path().join(".env.production"), "POSTGRES_DB=prod_db\n").unwrap();
    let overrides = Overrides {
        environment: Some("production".into()),
        ..Overrides::default()
    };
    let loaded = load(&overrides, &env(&[]), dir.path()).unwrap();
    assert_eq!(loaded.settings.postgres.database, "prod_db");
    assert_eq!(
        loaded.settings.environments["production"].compose_files,
        vec![
            PathBuf::from("docker-compose.yml"),
            PathBuf::from("docker-compose.prod.yml")
        ]
    );
    let overrides = Overrides {
        environment: Some("qa".into()),
        ..Overrides::default()
    };
    let (message, hint) =
        crate::error::describe(&load(&overrides, &env(&[]), dir.path()).unwrap_err());
    assert!(message.contains("unknown environment `qa`"), "{message}");
    assert!(hint.unwrap().contains("development, production, staging"));
}

#[test]
fn db_connection_sets_the_postgres_keys_and_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        db_connection: Some("postgres://app%40x:p%2Fw@db.internal:6543/gym".into()),
        ..Overrides::default()
    };
    let loaded = load(
        &overrides,
        &env(&[("GYMOPS_POSTGRES_PASSWORD", "lower")]),
        dir.path(),
    )
    .unwrap();
    let pg = &loaded.settings.postgres;
    assert_eq!(
        (
            pg.host.as_str(),
            pg.port,
            pg.user.as_str(),
            pg.database.as_str()
        ),
        ("db.internal", 6543, "app@x", "gym")
    );
    assert_eq!(pg.password.as_ref().unwrap().expose(), "p/w");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded
        .entries
        .iter()
        .all(|e| !e.value.contains("p/w") && !e.value.contains("p%2Fw")));
}

#[test]
fn docker_host_comes_from_docker_host_below_gymops_docker_host() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = load(
        &Overrides::default(),
        &env(&[("DOCKER_HOST", "tcp://127.0.0.1:1")]),
        dir.path(),
    )
    .unwrap();
    assert_eq!(
        loaded.settings.docker.host.as_deref(),
        Some("tcp://127.0.0.1:1")
    );
    let both = env(&[
        ("DOCKER_HOST", "tcp://127.0.0.1:1"),
        ("GYMOPS_DOCKER_HOST", "unix:///x.sock"),
    ]);
    let loaded = load(&Overrides::default(), &both, dir.path()).unwrap();
    assert_eq!(
        loaded.settings.docker.host.as_deref(),
        Some("unix:///x.sock")
    );
}

#[test]
fn password_file_is_read_and_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "from-file\n").unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "postgres:\n  password_file: pw\n",
    )
    .unwrap();
    let loaded = load(&Overrides::default(), &env(&[]), dir.path()).unwrap();
    assert_eq!(
        loaded.settings.postgres.password.unwrap().expose(),
        "from-file"
    );
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "postgres:\n  password_file: missing\n",
    )
    .unwrap();
    assert!(load(&Overrides::default(), &env(&[]), dir.path()).is_err());
}

#[test]
fn services_in_the_file_replace_the_default_list() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "services:\n  backend: {container: api}\n  worker: {}\n",
    )
    .unwrap();
    let loaded = load(&Overrides::default(), &env(&[]), dir.path()).unwrap();
    let names: Vec<&String> = loaded.settings.services.keys().collect();
    assert_eq!(names, vec!["backend", "worker"]);
    assert_eq!(
        loaded.settings.services["backend"].container.as_deref(),
        Some("api")
    );
    let defaults = load(
        &Overrides::default(),
        &env(&[]),
        tempfile::tempdir().unwrap().path(),
    )
    .unwrap();
    assert_eq!(defaults.settings.services.len(), 3);
}

#[test]
fn a_name_with_a_dot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "services:\n  my.app:\n    container: x\n",
    )
    .unwrap();
    let err = load(&Overrides::default(), &env(&[]), dir.path()).unwrap_err();
    let (message, _) = crate::error::describe(&err);
    assert!(
        message.contains("name `my.app` contains a dot"),
        "{message}"
    );
}

#[test]
fn percent_decoding_handles_escapes_and_plain_text() {
    assert_eq!(percent_decode("a%40b"), "a@b");
    assert_eq!(percent_decode("plain"), "plain");
    assert_eq!(percent_decode("trailing%4"), "trailing%4");
}

#[test]
fn a_site_is_its_part_of_the_file_over_the_environment_and_under_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: chain\nhealth:\n  timeout: 3s\nsites:\n  gym-a:\n    project: gym_a\n    docker: {host: \"tcp://10.0.0.1:2375\"}\n    health: {timeout: 4s}\n  gym-b: {}\n",
    )
    .unwrap();
    let environment = env(&[("DOCKER_HOST", "unix:///env.sock")]);
    let top = load(&Overrides::default(), &environment, dir.path()).unwrap();
    assert_eq!(top.settings.project, "chain");
    assert_eq!(
        top.settings.docker.host.as_deref(),
        Some("unix:///env.sock")
    );
    assert_eq!(top.sites, ["gym-a", "gym-b"]);
    assert_eq!(top.site, None);
    let site = |name: &str, values: Vec<FlagValue>| {
        let overrides = Overrides {
            site: Some(name.into()),
            values,
            ..Overrides::default()
        };
        load(&overrides, &environment, dir.path()).unwrap()
    };
    let a = site("gym-a", Vec::new());
    assert_eq!(a.site.as_deref(), Some("gym-a"));
    assert_eq!(a.settings.project, "gym_a");
    assert_eq!(
        a.settings.docker.host.as_deref(),
        Some("tcp://10.0.0.1:2375")
    );
    assert_eq!(a.settings.health.timeout, std::time::Duration::from_secs(4));
    assert_eq!(entry(&a, "project").source.to_string(), "site gym-a");
    // What the site does not set comes from the rest.
    let b = site("gym-b", Vec::new());
    assert_eq!(b.settings.project, "chain");
    assert_eq!(b.settings.docker.host.as_deref(), Some("unix:///env.sock"));
    // Each site's state is its own unless the site says where.
    assert_eq!(a.settings.backup.dir, std::path::Path::new("backups/gym-a"));
    assert_eq!(a.settings.backup.s3.prefix, "backups/gym-a/");
    assert_eq!(
        a.settings.metrics.releases_file,
        std::path::Path::new(".gymops/gym-a/releases.json")
    );
    assert_eq!(
        a.settings.deploy.report_file,
        std::path::Path::new("gym-a/deployment_report.md")
    );
    assert_eq!(
        b.settings.incident.dir,
        std::path::Path::new("incidents/gym-b")
    );
    assert_eq!(top.settings.backup.dir, std::path::Path::new("backups"));
    // A flag still wins.
    let flagged = site(
        "gym-a",
        vec![FlagValue::HealthTimeout(std::time::Duration::from_secs(9))],
    );
    assert_eq!(
        flagged.settings.health.timeout,
        std::time::Duration::from_secs(9)
    );
}
