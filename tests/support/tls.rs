//! Test certificate authorities and certificates (openssl).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// `openssl ARGS` in `dir`, panicking with its stderr when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let output = run(Command::new("openssl").args(args).current_dir(dir));
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        text(&output.stderr)
    );
}

/// A self-signed CA in `dir`: `{ca}.pem` and its key `{ca}-key.pem`.
pub fn make_ca(dir: &Path, ca: &str, common_name: &str) {
    let (key, pem) = (format!("{ca}-key.pem"), format!("{ca}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={common_name}"),
            "-keyout",
            &key,
            "-out",
            &pem,
        ],
    );
}

/// A key `{name}-key.pem` and a certificate `{name}-cert.pem` for `subject`, signed by the
/// CA `{ca}` of [`make_ca`], with the extension lines `extensions` (subjectAltName, usage).
pub fn sign_certificate(dir: &Path, ca: &str, name: &str, subject: &str, extensions: &str) {
    let key = format!("{name}-key.pem");
    let csr = format!("{name}.csr");
    let cert = format!("{name}-cert.pem");
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), extensions).unwrap();
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", &key, "-out", &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as docker names them.
pub fn make_certificates(dir: &Path) {
    make_ca(dir, "ca", "gymops test CA");
    sign_certificate(
        dir,
        "ca",
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    sign_certificate(
        dir,
        "ca",
        "client",
        "/CN=gymops test client",
        "extendedKeyUsage=clientAuth\n",
    );
    // Docker's client file names.
    std::fs::copy(dir.join("client-cert.pem"), dir.join("cert.pem")).unwrap();
    std::fs::copy(dir.join("client-key.pem"), dir.join("key.pem")).unwrap();
}
