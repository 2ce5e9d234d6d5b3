//! Reaching the engine the ways DOCKER_HOST allows: the local socket (every other test),
//! plain tcp://, and tcp:// with TLS client certificates (DOCKER_TLS_VERIFY /
//! DOCKER_CERT_PATH). socat forwards a loopback port to the local socket; for TLS, stunnel
//! terminates TLS in front of the socket and demands a client certificate signed by the
//! test CA (socat cannot: it fails TLS session resumption, which rustls uses).

mod support;

use std::process::Command;

use support::{free_port, gymops, listening, make_certificates, run, text, Forwarder, Sshd};

fn docker_socket() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host.trim_start_matches("unix://").to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

/// socat listening on a free loopback port, forwarding to the engine's socket.
fn forward(listen: &str) -> (Forwarder, u16) {
    let port = free_port();
    let mut socat = Command::new("socat");
    socat
        .arg(format!("{listen}:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg(format!("UNIX-CONNECT:{}", docker_socket()));
    (listening(socat, port), port)
}

#[test]
fn plain_tcp_docker_host_works() {
    support::require_docker();
    let (_forwarder, port) = forward("TCP-LISTEN");
    let dir = tempfile::tempdir().unwrap();
    let host = format!("tcp://127.0.0.1:{port}");
    let output = run(gymops(dir.path())
        .args(["ps", "--output", "json"])
        .env("DOCKER_HOST", &host));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let ps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(ps["docker_host"], host.as_str());
}

#[test]
fn a_tcp_engine_connection_is_kept_for_the_next_call() {
    // bollard's own HTTP client closes each connection after one call: against a remote
    // engine every call would pay a connection again (a fleet's sites, ssh-less tcp hosts).
    support::require_docker();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("socat.log");
    let port = free_port();
    // -v copies the traffic to stderr: the requests are counted there, the connections in
    // the log lines.
    let mut socat = Command::new("socat");
    socat
        .args(["-d", "-d", "-v"])
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg(format!("UNIX-CONNECT:{}", docker_socket()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let _forwarder = Forwarder(socat.spawn().expect("socat (tests/run.sh installs it)"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "socat did not listen");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = run(gymops(dir.path())
        .args(["ps", "--output", "json"])
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}")));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let traffic = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    // The probe above was one connection (it sent nothing).
    let connections = traffic.matches("accepting connection").count() - 1;
    let requests = traffic.matches("GET /").count();
    // ps asks the engine several things (version, containers, swarm services): on fewer
    // connections than requests (two may overlap, and then take two connections).
    assert!(requests >= 3, "{requests} requests: {traffic}");
    assert!(
        connections < requests,
        "{connections} connections for {requests} requests: {traffic}"
    );
}

#[test]
fn tls_docker_host_with_client_certificates_works_and_a_wrong_ca_is_refused() {
    support::require_docker();
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let c = |name: &str| certs.path().join(name).display().to_string();
    let port = free_port();
    let config = certs.path().join("stunnel.conf");
    std::fs::write(
        &config,
        format!(
            "foreground = yes\npid =\n[docker]\naccept = 127.0.0.1:{port}\nconnect = {}\ncert = {}\nkey = {}\nCAfile = {}\nverifyChain = yes\n",
            docker_socket(),
            c("server-cert.pem"),
            c("server-key.pem"),
            c("ca.pem")
        ),
    )
    .unwrap();
    let mut stunnel = Command::new("stunnel4");
    stunnel.arg(&config);
    let _terminator = listening(stunnel, port);

    let dir = tempfile::tempdir().unwrap();
    let host = format!("tcp://127.0.0.1:{port}");
    let output = run(gymops(dir.path())
        .args(["health", "--check", "containers", "--output", "json"])
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", certs.path()));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    let daemon = &report["checks"][0];
    assert_eq!(daemon["status"], "ok", "{daemon:#}");
    assert_eq!(daemon["details"]["api_version"], "1.41");

    // Without TLS the same port is refused; with another CA the server is not trusted.
    let output = run(gymops(dir.path()).arg("ps").env("DOCKER_HOST", &host));
    assert_eq!(output.status.code(), Some(3));
    let other = tempfile::tempdir().unwrap();
    make_certificates(other.path());
    let output = run(gymops(dir.path())
        .arg("ps")
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", other.path()));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!("error: cannot reach Docker at {host}")),
        "{stderr}"
    );
    // A context made by the docker CLI with the same material: its TLS files in the store.
    let config = tempfile::tempdir().unwrap();
    docker_cli_context(
        config.path(),
        "gym-tls",
        &format!(
            "host={host},ca={},cert={},key={}",
            c("ca.pem"),
            c("cert.pem"),
            c("key.pem")
        ),
    );
    let output = run(gymops(dir.path())
        .args(["--context", "gym-tls", "health", "--check", "containers"])
        .args(["--output", "json"])
        .env("DOCKER_CONFIG", config.path()));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    assert_eq!(report["checks"][0]["status"], "ok", "{report:#}");
    let missing = run(gymops(dir.path())
        .arg("ps")
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", dir.path()));
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        text(&missing.stderr).contains("cannot set up TLS with the certificates in"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn an_unsupported_docker_host_scheme_names_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    // Docker Desktop's named pipe, on Linux: said to be Windows' own.
    let output = run(gymops(dir.path())
        .arg("ps")
        .env("DOCKER_HOST", "npipe:////./pipe/docker_engine"));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("exists on Windows only") && stderr.contains("unix:///var/run/docker.sock"),
        "{stderr}"
    );
    for host in ["docker.example:2375", "fd://"] {
        let output = run(gymops(dir.path()).arg("ps").env("DOCKER_HOST", host));
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{host}: {stderr}");
        assert!(
            stderr.contains("unsupported Docker address")
                && stderr.contains("unix://")
                && stderr.contains("tcp://HOST:PORT")
                && !stderr.contains("is the Docker engine running"),
            "{host}: {stderr}"
        );
    }
}

/// `docker --config DIR context create NAME --docker SPEC`: the docker CLI writes the store.
fn docker_cli_context(config: &std::path::Path, name: &str, spec: &str) {
    let output = run(Command::new("docker")
        .arg("--config")
        .arg(config)
        .args([
            "context",
            "create",
            name,
            "--description",
            &format!("branch {name}"),
        ])
        .args(["--docker", spec]));
    assert!(
        output.status.success(),
        "docker context create failed: {}",
        text(&output.stderr)
    );
}

fn ps_host(output: &std::process::Output) -> String {
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let ps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    ps["docker_host"].as_str().unwrap().to_string()
}

/// The engine comes from a Docker context the way the docker CLI picks it: --context over
/// DOCKER_HOST over DOCKER_CONTEXT over config.json's currentContext; `context ls` shows
/// them; an unknown or damaged context is one clear error and nothing runs.
#[test]
fn docker_contexts_are_chosen_as_the_docker_cli_chooses_them() {
    support::require_docker();
    let (_forwarder, port) = forward("TCP-LISTEN");
    let tcp = format!("tcp://127.0.0.1:{port}");
    let local = format!("unix://{}", docker_socket());
    let config = tempfile::tempdir().unwrap();
    docker_cli_context(config.path(), "gym-tcp", &format!("host={tcp}"));
    docker_cli_context(config.path(), "gym-local", &format!("host={local}"));
    let dir = tempfile::tempdir().unwrap();
    let gymops_in = |extra: &[(&str, &str)]| {
        let mut command = gymops(dir.path());
        command
            .env("DOCKER_CONFIG", config.path())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT");
        for (key, value) in extra {
            command.env(key, value);
        }
        command
    };
    // --context, and DOCKER_CONTEXT.
    assert_eq!(
        ps_host(&run(gymops_in(&[]).args([
            "--context",
            "gym-tcp",
            "ps",
            "-o",
            "json"
        ]))),
        tcp
    );
    assert_eq!(
        ps_host(&run(
            gymops_in(&[("DOCKER_CONTEXT", "gym-tcp")]).args(["ps", "-o", "json"])
        )),
        tcp
    );
    // DOCKER_HOST wins over DOCKER_CONTEXT; --context wins over DOCKER_HOST.
    let both = [
        ("DOCKER_CONTEXT", "gym-tcp"),
        ("DOCKER_HOST", local.as_str()),
    ];
    assert_eq!(
        ps_host(&run(gymops_in(&both).args(["ps", "-o", "json"]))),
        local
    );
    assert_eq!(
        ps_host(&run(gymops_in(&[("DOCKER_HOST", local.as_str())]).args([
            "--context",
            "gym-tcp",
            "ps",
            "-o",
            "json"
        ]))),
        tcp
    );
    // `docker context use` makes it the current context for gymops too.
    let used = run(Command::new("docker")
        .arg("--config")
        .arg(config.path())
        .args(["context", "use", "gym-tcp"]));
    assert!(used.status.success(), "{}", text(&used.stderr));
    assert_eq!(
        ps_host(&run(gymops_in(&[]).args(["ps", "-o", "json"]))),
        tcp
    );
    // config show says where docker.host came from.
    let shown = run(gymops_in(&[]).args(["config", "show"]));
    let line = text(&shown.stdout)
        .lines()
        .find(|l| l.starts_with("docker.host"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(
        line.contains(&tcp) && line.contains("Docker context gym-tcp"),
        "{line}"
    );

    // context ls: every context, the current one marked, the one in use named.
    let listed =
        run(gymops_in(&[]).args(["--context", "gym-local", "context", "ls", "-o", "json"]));
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list["in_use"], "gym-local");
    let names: Vec<&str> = list["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "gym-local", "gym-tcp"]);
    assert_eq!(list["contexts"][2]["current"], true);
    assert_eq!(list["contexts"][2]["docker_endpoint"], tcp.as_str());
    assert_eq!(list["contexts"][1]["in_use"], true);
    let table = run(gymops_in(&[]).args(["context", "ls"]));
    let table_text = text(&table.stdout);
    assert!(table_text.contains("gym-tcp *"), "{table_text}");
    assert!(
        table_text.contains("gymops uses context gym-tcp"),
        "{table_text}"
    );

    // An unknown context, a damaged one, and host plus context in one file: exit 3, one
    // error line and its hint, nothing run.
    let unknown = run(gymops_in(&[]).args(["--context", "gym-z", "ps"]));
    let stderr = text(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: Docker context `gym-z` (from flag --context): unknown Docker context `gym-z`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("contexts are: default, gym-local, gym-tcp"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    let id = sha256_hex("gym-local");
    std::fs::write(
        config
            .path()
            .join("contexts/meta")
            .join(&id)
            .join("meta.json"),
        "{\"Name\": 7",
    )
    .unwrap();
    let damaged = run(gymops_in(&[]).args(["--context", "gym-local", "ps"]));
    let stderr = text(&damaged.stderr);
    assert_eq!(damaged.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("meta.json is not a context"), "{stderr}");
    let listed = run(gymops_in(&[]).args(["context", "ls", "-o", "json"]));
    assert_eq!(
        listed.status.code(),
        Some(1),
        "a damaged context is a warning in the list"
    );
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(list["contexts"][2]["error"]
        .as_str()
        .unwrap()
        .contains("is not a context"));
    std::fs::write(
        dir.path().join("gymops.yaml"),
        format!("docker:\n  host: {local}\n  context: gym-tcp\n"),
    )
    .unwrap();
    let conflict = run(gymops_in(&[]).arg("ps"));
    let stderr = text(&conflict.stderr);
    assert_eq!(conflict.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("docker.host and docker.context are both set"),
        "{stderr}"
    );
}

/// The store's directory name of a context (sha256 of its name, as the docker CLI makes it).
fn sha256_hex(name: &str) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), name).unwrap();
    let output = run(Command::new("sha256sum").arg(file.path()));
    text(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// DOCKER_HOST=ssh://USER@HOST:PORT works as it does for the docker CLI: the system ssh
/// client runs `docker system dial-stdio` on the other side, with the key and known_hosts
/// gymops is given; run as cron runs it (no terminal, a bare environment, from /).
#[test]
fn an_ssh_docker_host_works_as_the_docker_cli_does() {
    support::require_docker();
    let sshd = Sshd::start("");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gymops.yaml");
    std::fs::write(&config, sshd.settings()).unwrap();
    let address = sshd.address();
    let cron = |args: &[&str]| {
        let mut command = gymops(std::path::Path::new("/"));
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("DOCKER_HOST", &address)
            .arg("--config")
            .arg(&config)
            .args(args);
        run(&mut command)
    };
    assert_eq!(ps_host(&cron(&["ps", "-o", "json"])), address);
    let output = cron(&["health", "--check", "containers", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    let daemon = &report["checks"][0];
    assert_eq!(daemon["status"], "ok", "{daemon:#}");
    let local_version = support::docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(daemon["details"]["server_version"], local_version.as_str());
    // The raw Engine API calls (disk) go over ssh too.
    let output = cron(&["disk", "-o", "json"]);
    let disk: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("{}", text(&output.stderr)));
    assert!(!disk["docker"].as_array().unwrap().is_empty(), "{disk:#}");
    assert!(disk["filesystems"][0]["note"]
        .as_str()
        .unwrap()
        .contains("remote engine"));
    // A context naming the ssh engine works the same.
    let store = tempfile::tempdir().unwrap();
    docker_cli_context(store.path(), "gym-ssh", &format!("host={address}"));
    let output = run(gymops(dir.path())
        .env("DOCKER_CONFIG", store.path())
        .env_remove("DOCKER_HOST")
        .args(["--context", "gym-ssh", "ps", "-o", "json"]));
    assert_eq!(ps_host(&output), address);
}

/// What goes wrong with ssh is said in ssh's words with what to do, in one error line and
/// a hint, exit 3, quickly: an unknown host key (never accepted on the fly), a key the
/// server refuses, a host without the docker CLI, nothing listening.
#[test]
fn ssh_failures_are_one_clear_error_each() {
    let sshd = Sshd::start("");
    let no_docker = Sshd::start("SetEnv PATH=/nonexistent");
    let dir = tempfile::tempdir().unwrap();
    let stranger = dir.path().join("stranger");
    let keygen = run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger));
    assert!(keygen.status.success());
    let closed = format!("ssh://{}@127.0.0.1:{}", Sshd::user(), free_port());
    let cases: Vec<(String, String, &str, &str)> = vec![
        (
            sshd.address(),
            format!(
                "docker:\n  ssh:\n    identity_file: {}\n    known_hosts_file: {}\n",
                sshd.identity().display(),
                sshd.empty_known_hosts().display()
            ),
            "Host key verification failed",
            "known_hosts",
        ),
        (
            sshd.address(),
            format!(
                "docker:\n  ssh:\n    identity_file: {}\n    known_hosts_file: {}\n",
                stranger.display(),
                sshd.known_hosts().display()
            ),
            "Permission denied",
            "ssh-agent",
        ),
        (
            no_docker.address(),
            no_docker.settings(),
            "not found",
            "no working docker CLI",
        ),
        (
            closed,
            sshd.settings(),
            "Connection refused",
            "docker version",
        ),
    ];
    for (address, settings, said, hint) in cases {
        std::fs::write(dir.path().join("gymops.yaml"), settings).unwrap();
        let started = std::time::Instant::now();
        let output = run(gymops(dir.path()).arg("ps").env("DOCKER_HOST", &address));
        let stderr = text(&output.stderr);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{stderr}"
        );
        assert_eq!(output.status.code(), Some(3), "{address}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{stderr}");
        assert!(
            lines[0].starts_with(&format!("error: cannot reach Docker at {address}: ssh to")),
            "{stderr}"
        );
        assert!(lines[0].contains(said), "{said}: {stderr}");
        assert!(
            lines[1].starts_with("hint: ") && lines[1].contains(hint),
            "{hint}: {stderr}"
        );
    }
}
