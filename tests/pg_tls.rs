//! TLS to PostgreSQL, as libpq's sslmode: a real server (the host's PostgreSQL, a throwaway
//! cluster) that accepts only TLS connections, with certificates made here by openssl.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{free_port, gymops, make_ca, run, sign_certificate, text};

/// A cluster in a temporary directory, stopped on drop.
struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin(tool: &str) -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed");
    let mut dirs: Vec<PathBuf> = versions.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    dirs.sort();
    dirs.pop().unwrap().join("bin").join(tool)
}

fn as_postgres(program: &Path, args: &[&str]) {
    let output = run(Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args));
    assert!(
        output.status.success(),
        "{program:?} {args:?}: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// A CA `{prefix}-ca` and a server certificate `{prefix}-server` it signed for `names`
/// (subjectAltName entries).
fn certificates(dir: &Path, prefix: &str, names: &str) {
    make_ca(dir, &format!("{prefix}-ca"), &format!("{prefix} test CA"));
    sign_certificate(
        dir,
        &format!("{prefix}-ca"),
        &format!("{prefix}-server"),
        "/CN=server",
        &format!("subjectAltName={names}\n"),
    );
}

impl Cluster {
    fn start(server_prefix: &str, names: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        certificates(path, server_prefix, names);
        certificates(path, "other", "DNS:localhost");
        let data = path.join("data");
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path));
        run(Command::new("chmod").arg("755").arg(path));
        as_postgres(
            &pg_bin("initdb"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        let port = free_port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\nssl = on\nssl_cert_file = '{dir}/{server_prefix}-server-cert.pem'\nssl_key_file = '{dir}/{server_prefix}-server-key.pem'\n",
            dir = path.display()
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        // Only TLS connections are let in.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path));
        run(Command::new("chmod")
            .arg("600")
            .arg(path.join(format!("{server_prefix}-server-key.pem"))));
        as_postgres(
            &pg_bin("pg_ctl"),
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                path.join("log").to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        Cluster { dir, port }
    }

    fn ca(&self, prefix: &str) -> String {
        self.dir
            .path()
            .join(format!("{prefix}-ca.pem"))
            .display()
            .to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]));
    }
}

fn health(cluster: &Cluster, host: &str, query: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://postgres@{host}:{}/postgres?{query}",
        cluster.port
    );
    let output = run(gymops(dir.path()).args([
        "-o",
        "json",
        "health",
        "--check",
        "db",
        "--timeout",
        "5s",
        "--db-connection",
        &url,
    ]));
    (
        output.status.code(),
        text(&output.stdout) + &text(&output.stderr),
    )
}

#[test]
fn sslmode_is_honoured_like_libpq() {
    let cluster = Cluster::start("good", "DNS:localhost,IP:127.0.0.1");
    // The server refuses plaintext: disable cannot connect, require and prefer can.
    let (code, out) = health(&cluster, "localhost", "sslmode=disable");
    assert_eq!(code, Some(2), "{out}");
    for mode in ["require", "prefer"] {
        let (code, out) = health(&cluster, "localhost", &format!("sslmode={mode}"));
        assert_eq!(code, Some(0), "{mode}: {out}");
    }
    // verify-full: the right CA and a name the certificate carries.
    let good = format!("sslmode=verify-full&sslrootcert={}", cluster.ca("good"));
    let (code, out) = health(&cluster, "localhost", &good);
    assert_eq!(code, Some(0), "{out}");
    // A CA that did not sign it: refused.
    let wrong = format!("sslmode=verify-full&sslrootcert={}", cluster.ca("other"));
    let (code, out) = health(&cluster, "localhost", &wrong);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.to_lowercase().contains("certificate"), "{out}");
    // require does not check the CA (as libpq): it connects.
    let (code, _) = health(&cluster, "localhost", "sslmode=require");
    assert_eq!(code, Some(0));
}

#[test]
fn verify_full_checks_the_name_and_verify_ca_does_not() {
    let cluster = Cluster::start("named", "DNS:db.internal");
    let ca = cluster.ca("named");
    let (code, out) = health(
        &cluster,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    assert_eq!(
        code,
        Some(2),
        "the certificate names db.internal, not localhost: {out}"
    );
    let (code, out) = health(
        &cluster,
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    );
    assert_eq!(code, Some(0), "{out}");
}
