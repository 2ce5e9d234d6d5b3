//! Reaching the engine the ways DOCKER_HOST allows: the local socket (every other test),
//! plain tcp://, and tcp:// with TLS client certificates (DOCKER_TLS_VERIFY /
//! DOCKER_CERT_PATH). socat forwards a loopback port to the local socket; for TLS, stunnel
//! terminates TLS in front of the socket and demands a client certificate signed by the
//! test CA (socat cannot: it fails TLS session resumption, which rustls uses).

mod support;

use std::process::Command;

use support::{free_port, gymops, listening, make_certificates, run, text, Forwarder};

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
    for host in [
        "ssh://ops@gym-1",
        "npipe:////./pipe/docker_engine",
        "docker.example:2375",
    ] {
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
