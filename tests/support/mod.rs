//! The test rig: real Docker, real PostgreSQL (the host's packages, run in a container),
//! and the project's stand-in for the Spring backend and MinIO. Every stack has its own
//! compose project name, network and ports, and removes everything it made on drop, even
//! when the test fails.
#![allow(dead_code)]

pub mod deployment;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const IMAGE: &str = "gymops-test-rootfs:3";
/// Every container and network the rig makes carries this label (for sweeping).
pub const RIG_LABEL: &str = "gymops.test";
pub const PASSWORD: &str = "rig-Secret-7f3a9c";

pub fn gymops_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gymops"))
}

/// The gymops binary, with no GYMOPS_* or NO_COLOR from the test's environment.
pub fn gymops(dir: &Path) -> Command {
    let mut command = Command::new(gymops_bin());
    command.current_dir(dir).stdin(Stdio::null());
    // The backup signing key (and any other per-user state) stays in the test's directory.
    command.env("XDG_CONFIG_HOME", dir.join(".config"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if key.starts_with("GYMOPS_") || key == "NO_COLOR" || key.starts_with("RUST_LOG") {
            command.env_remove(key);
        }
    }
    command
}

/// Run a command and capture its output (never inherits the terminal).
pub fn run(command: &mut Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn docker(args: &[&str]) -> Output {
    run(Command::new("docker").args(args))
}

/// `docker ARGS`, panicking with docker's stderr when it fails.
pub fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_string()
}

/// Fail loudly, never skip, when the engine does not answer.
pub fn require_docker() {
    let output = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!(
            "the Docker engine does not answer (`docker info`: {}). Start it (`dockerd &` or `systemctl start docker`); tests/run.sh does this for you.",
            text(&output.stderr).trim()
        ),
        Err(err) => panic!("no docker CLI ({err}); install docker.io"),
    }
}

/// The directory of the host's PostgreSQL server binaries (highest version).
pub fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TEST_RIG_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("postgres").is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().expect("no PostgreSQL server under /usr/lib/postgresql: apt-get install postgresql (tests/run.sh does)")
}

/// The stand-in server (cargo example), built if the test build did not build it.
pub fn standin_bin() -> PathBuf {
    let gymops = gymops_bin();
    let path = gymops.parent().unwrap().join("examples").join("standin");
    if !path.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--example", "standin"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cannot run cargo to build the stand-in");
        assert!(status.success(), "cargo build --example standin failed");
    }
    path
}

/// A lock across test processes (nextest runs each test in its own process).
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(name: &str) -> DirLock {
        let path = std::env::temp_dir().join(name);
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => return DirLock(path),
                Err(_) if Instant::now() < deadline => {
                    // A lock older than two minutes belongs to a test process that died.
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(120))
                        .unwrap_or(false);
                    if stale {
                        let _ = std::fs::remove_dir(&path);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => panic!("cannot take the lock {}: {err}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The empty rootfs image: the usual top-level symlinks and empty directories. Containers
/// of it run the host's programs through read-only binds of /usr and /etc.
pub fn ensure_image() {
    require_docker();
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let _lock = DirLock::acquire("gymops-test-image.lock");
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    for dir in [
        "usr",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "run",
        "var/tmp",
        "var/run/postgresql",
        "opt",
        "data",
        "app/logs",
    ] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("sbin", "usr/sbin"),
    ] {
        std::os::unix::fs::symlink(target, root.path().join(link)).unwrap();
    }
    // Writable for every user like a real /tmp: tmpfs mount options are not honoured on
    // every engine (seen: mode= ignored), so /tmp lives in the container layer.
    for dir in ["tmp", "var/tmp", "var/run/postgresql", "app/logs", "data"] {
        std::fs::set_permissions(
            root.path().join(dir),
            std::os::unix::fs::PermissionsExt::from_mode(0o1777),
        )
        .unwrap();
    }
    let tarball = root.path().join("rootfs.tar");
    let status = Command::new("tar")
        .args(["--exclude", "./rootfs.tar", "-C"])
        .arg(root.path())
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("cannot run tar");
    assert!(status.success(), "tar failed");
    docker_ok(&[
        "import",
        "--message",
        "gymops test rig rootfs",
        tarball.to_str().unwrap(),
        IMAGE,
    ]);
}

fn unique_project() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "gymopst{}x{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        nanos % 100_000
    )
}

/// A compose project of the test's own: a network, containers with compose labels, and a
/// working directory for gymops.yaml. Everything it made is removed on drop, even when the
/// test fails.
pub struct Project {
    pub name: String,
    pub network: String,
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        ensure_image();
        let name = unique_project();
        let network = format!("{name}_default");
        let project = Project {
            network,
            dir: tempfile::tempdir().unwrap(),
            name,
        };
        docker_ok(&[
            "network",
            "create",
            "--label",
            RIG_LABEL,
            "--label",
            &format!("{RIG_LABEL}.stack={}", project.name),
            &project.network,
        ]);
        project
    }

    /// `docker run -d` arguments for a container of this project: the rig image's mounts,
    /// the project's network and labels, and compose's labels for `service`.
    pub fn base_args(&self, name: &str, service: Option<&str>) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            name.into(),
            "--network".into(),
            self.network.clone(),
            "--label".into(),
            RIG_LABEL.into(),
            "--label".into(),
            format!("{RIG_LABEL}.stack={}", self.name),
            "-v".into(),
            "/usr:/usr:ro".into(),
            "-v".into(),
            "/etc:/etc:ro".into(),
        ];
        if let Some(service) = service {
            for label in [
                format!("com.docker.compose.project={}", self.name),
                format!("com.docker.compose.service={service}"),
                "com.docker.compose.container-number=1".into(),
                "com.docker.compose.oneoff=False".into(),
            ] {
                args.push("--label".into());
                args.push(label);
            }
        }
        args
    }

    /// Start a container of `service` running `standin emit` over the given stdout and
    /// stderr text: a log source with known lines. Returns the container name.
    pub fn emitter(&self, service: &str, stdout: &str, stderr: &str) -> String {
        let name = format!("{}-{service}-1", self.name);
        let files = self.dir.path().join(format!("emit-{service}"));
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(files.join("stdout.txt"), stdout).unwrap();
        std::fs::write(files.join("stderr.txt"), stderr).unwrap();
        let mut args = self.base_args(&name, Some(service));
        args.extend([
            "-v".into(),
            format!("{}:/opt/standin:ro", standin_bin().display()),
            "-v".into(),
            format!("{}:/emit:ro", files.display()),
            IMAGE.into(),
            "/opt/standin".into(),
            "emit".into(),
            "/emit/stdout.txt".into(),
            "/emit/stderr.txt".into(),
        ]);
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        name
    }

    /// Start a container of `service` from the rig image with `extra` docker-run options,
    /// running `command`. Returns the container name.
    pub fn run(&self, service: &str, extra: &[&str], command: &[&str]) -> String {
        let name = format!("{}-{service}-1", self.name);
        let mut args = self.base_args(&name, Some(service));
        args.extend(extra.iter().map(|a| a.to_string()));
        args.push(IMAGE.into());
        args.extend(command.iter().map(|a| a.to_string()));
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        name
    }

    pub fn write_config(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("gymops.yaml"), yaml).unwrap();
    }

    pub fn gymops(&self) -> Command {
        gymops(self.dir.path())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let filter = format!("label={RIG_LABEL}.stack={}", self.name);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        let ids: Vec<String> = text(&ids.stdout).lines().map(str::to_string).collect();
        for id in &ids {
            // A paused container must be unpaused before it can be removed on some engines.
            let _ = docker(&["unpause", id]);
        }
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = docker(&args);
        }
        let _ = docker(&["network", "rm", &self.network]);
    }
}

/// A running deployment: PostgreSQL, the backend stand-in and the MinIO stand-in.
pub struct Stack {
    pub rig: Project,
    pub postgres: String,
    pub backend: String,
    pub minio: String,
    pub postgres_port: u16,
    pub backend_port: u16,
    pub minio_port: u16,
    pub console_port: u16,
}

impl Stack {
    /// Start the whole stack and wait until every container is healthy.
    pub fn start() -> Stack {
        let rig = Project::new();
        let name = rig.name.clone();
        let mut stack = Stack {
            postgres: format!("{name}_postgres_1"), // docker-compose v1 name, with labels
            backend: format!("{name}-backend-1"),   // docker compose v2 name, with labels
            minio: format!("{name}-objstore"),      // explicit container name, no labels
            rig,
            postgres_port: 0,
            backend_port: 0,
            minio_port: 0,
            console_port: 0,
        };
        stack.start_postgres();
        stack.start_backend();
        stack.start_minio();
        for name in [
            stack.postgres.clone(),
            stack.backend.clone(),
            stack.minio.clone(),
        ] {
            stack.wait_healthy(&name);
        }
        stack.postgres_port = stack.host_port(&stack.postgres, 5432);
        stack.backend_port = stack.host_port(&stack.backend, 8080);
        stack.minio_port = stack.host_port(&stack.minio, 9000);
        stack.console_port = stack.host_port(&stack.minio, 9001);
        stack.write_config();
        stack
    }

    fn base_args(&self, name: &str, service: Option<&str>) -> Vec<String> {
        self.rig.base_args(name, service)
    }

    fn start_postgres(&self) {
        let pg_bin = pg_bin_dir();
        let entrypoint =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pg-entrypoint.sh");
        let mut args = self.base_args(&self.postgres, Some("postgres"));
        args.extend([
            "-v".into(),
            format!("{}:/entrypoint.sh:ro", entrypoint.display()),
            "-e".into(),
            format!("POSTGRES_PASSWORD={PASSWORD}"),
            "-e".into(),
            format!("PGBIN={}", pg_bin.display()),
            "--user".into(),
            postgres_uid(),
            "--health-cmd".into(),
            format!(
                "{}/pg_isready -h /var/run/postgresql -U postgres -d fitness_gym",
                pg_bin.display()
            ),
            "--health-interval".into(),
            "1s".into(),
            "--health-timeout".into(),
            "5s".into(),
            "--health-retries".into(),
            "60".into(),
            "-p".into(),
            "127.0.0.1::5432".into(),
            IMAGE.into(),
            "/usr/bin/sh".into(),
            "/entrypoint.sh".into(),
        ]);
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    fn start_backend(&self) {
        let mut args = self.base_args(&self.backend, Some("backend"));
        args.extend([
            "-v".into(),
            format!("{}:/opt/standin:ro", standin_bin().display()),
            "-e".into(),
            format!("STANDIN_DB_PASSWORD={PASSWORD}"),
            "--health-cmd".into(),
            "/opt/standin probe http://127.0.0.1:8080/springboot1ngh61a2/user/login".into(),
            "--health-interval".into(),
            "1s".into(),
            "--health-retries".into(),
            "60".into(),
            "-p".into(),
            "127.0.0.1::8080".into(),
            IMAGE.into(),
            "/opt/standin".into(),
            "backend".into(),
            "--listen".into(),
            "0.0.0.0:8080".into(),
            "--db-host".into(),
            self.postgres.clone(),
            "--db-port".into(),
            "5432".into(),
            "--db-user".into(),
            "postgres".into(),
            "--db-name".into(),
            "fitness_gym".into(),
        ]);
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    fn start_minio(&self) {
        let mut args = self.base_args(&self.minio, None);
        args.extend([
            "-v".into(),
            format!("{}:/opt/standin:ro", standin_bin().display()),
            "-p".into(),
            "127.0.0.1::9000".into(),
            "-p".into(),
            "127.0.0.1::9001".into(),
            IMAGE.into(),
            "/opt/standin".into(),
            "minio".into(),
            "--listen".into(),
            "0.0.0.0:9000".into(),
            "--console".into(),
            "0.0.0.0:9001".into(),
        ]);
        docker_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Wait (at most 90 s) until the container is running and, with a healthcheck, healthy.
    pub fn wait_healthy(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let state = docker_ok(&[
                "inspect",
                "-f",
                "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
                name,
            ]);
            match state.split_once(' ') {
                Some(("running", "healthy")) | Some(("running", "none")) => return,
                Some(("exited", _)) | Some(("dead", _)) => {
                    panic!(
                        "container {name} stopped while starting: {state}\n{}",
                        self.logs(name)
                    )
                }
                _ if Instant::now() > deadline => panic!(
                    "container {name} not healthy after 90s: {state}\n{}",
                    self.logs(name)
                ),
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    pub fn logs(&self, name: &str) -> String {
        let output = docker(&["logs", "--tail", "50", name]);
        format!("{}{}", text(&output.stdout), text(&output.stderr))
    }

    fn host_port(&self, name: &str, port: u16) -> u16 {
        let mapping = docker_ok(&["port", name, &format!("{port}/tcp")]);
        mapping
            .lines()
            .find_map(|line| line.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
            .unwrap_or_else(|| panic!("no host port for {name} {port}: {mapping}"))
    }

    /// gymops.yaml for this stack: postgres and backend found by compose labels, MinIO by
    /// its explicit container name.
    pub fn config_yaml(&self) -> String {
        format!(
            "project: {project}\n\
             services:\n  backend: {{container: null}}\n  postgres: {{container: null}}\n  minio: {{container: {minio}}}\n\
             backend:\n  url: http://127.0.0.1:{backend_port}/springboot1ngh61a2\n\
             postgres:\n  host: 127.0.0.1\n  port: {postgres_port}\n  bin_dir: {pg_bin}\n\
             minio:\n  url: http://127.0.0.1:{minio_port}\n  console_url: http://127.0.0.1:{console_port}\n",
            project = self.rig.name,
            minio = self.minio,
            backend_port = self.backend_port,
            postgres_port = self.postgres_port,
            minio_port = self.minio_port,
            console_port = self.console_port,
            pg_bin = pg_bin_dir().display(),
        )
    }

    pub fn write_config(&self) {
        self.rig.write_config(&self.config_yaml());
    }

    /// Run SQL with psql inside the PostgreSQL container (stopping at the first error);
    /// its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        self.run_psql(&[], &["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
    }

    /// [`Stack::psql`] in another database of the server.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        self.run_psql(
            &[],
            &["-d", database, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
        )
    }

    /// Start SQL in a psql session of its own that keeps running (a lock holder, a waiter).
    pub fn psql_detached(&self, sql: &str) {
        self.run_psql(&["-d"], &["-c", sql]);
    }

    fn run_psql(&self, exec_options: &[&str], psql_options: &[&str]) -> String {
        let output = self.psql_output(exec_options, psql_options);
        assert!(
            output.status.success(),
            "psql {psql_options:?} failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout).trim().to_string()
    }

    /// Run SQL with psql in the PostgreSQL container; the output whether it worked or not
    /// (a query meant to fail, a server that may not answer yet).
    pub fn try_psql(&self, sql: &str) -> Output {
        self.psql_output(&[], &["-qAt", "-c", sql])
    }

    fn psql_output(&self, exec_options: &[&str], psql_options: &[&str]) -> Output {
        let psql = format!("{}/psql", pg_bin_dir().display());
        let mut args = vec!["exec"];
        args.extend_from_slice(exec_options);
        args.extend([
            self.postgres.as_str(),
            psql.as_str(),
            "-h",
            "/var/run/postgresql",
            "-U",
            "postgres",
            "-d",
            "fitness_gym",
        ]);
        args.extend_from_slice(psql_options);
        docker(&args)
    }

    /// gymops in the stack's directory, with the database password in the environment.
    pub fn gymops(&self) -> Command {
        let mut command = self.rig.gymops();
        command.env("GYMOPS_POSTGRES_PASSWORD", PASSWORD);
        command
    }
}

fn postgres_uid() -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("no postgres user in /etc/passwd: apt-get install postgresql");
    let fields: Vec<&str> = line.split(':').collect();
    format!("{}:{}", fields[2], fields[3])
}

/// A helper process (socat, stunnel) killed when the test ends.
pub struct Forwarder(pub std::process::Child);

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start `command` and wait (at most 10 s) until it listens on `port`.
pub fn listening(mut command: Command, port: u16) -> Forwarder {
    let name = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("cannot run {name} ({err}): apt-get install it (tests/run.sh does)")
        });
    let forwarder = Forwarder(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    forwarder
}

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

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A real HTTP receiver on loopback (webhooks, Slack): answers with the scripted statuses in
/// order (the last one repeats) and records every request. Stops on drop, or after 5 minutes.
pub struct Receiver {
    pub port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub fn start(script: &[(u16, &str)]) -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<Received>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script: Vec<(u16, String)> = script.iter().map(|(c, b)| (*c, b.to_string())).collect();
        let (seen, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let path = parts.next().unwrap_or_default().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        break;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some((key, value)) = header.split_once(':') {
                        headers.push((key.trim().to_string(), value.trim().to_string()));
                    }
                }
                let length = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let index = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(Received {
                        method,
                        path,
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    seen.len() - 1
                };
                let (code, text) = &script[index.min(script.len() - 1)];
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} Scripted\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        Receiver {
            port,
            requests,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A real S3 server for the tests: the `s3s-fs` crate's server over a temporary directory
/// (`cargo install s3s-fs --features binary`; tests/run.sh does).
pub struct S3Server {
    _process: Forwarder,
    pub port: u16,
    pub root: tempfile::TempDir,
}

pub const S3_ACCESS_KEY: &str = "gymops-test-access";
pub const S3_SECRET_KEY: &str = "gymops-test-secret-5e1f";

impl S3Server {
    pub fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        for bucket in buckets {
            std::fs::create_dir(root.path().join(bucket)).unwrap();
        }
        let port = free_port();
        let program = std::env::var("HOME")
            .map(|home| PathBuf::from(home).join(".cargo/bin/s3s-fs"))
            .ok()
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("s3s-fs"));
        let mut command = Command::new(program);
        command.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            S3_ACCESS_KEY,
            "--secret-key",
            S3_SECRET_KEY,
        ]);
        command.arg(root.path());
        S3Server {
            _process: listening(command, port),
            port,
            root,
        }
    }
}

/// A TCP proxy that passes `cut_after` bytes towards the server, then breaks every
/// connection and refuses new ones (a server that stopped) for `down_for` (or for good).
pub struct CutProxy {
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CutProxy {
    pub fn start(target: u16, cut_after: u64, down_for: Option<Duration>) -> CutProxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, AtomicU64};
        use std::sync::{Arc, Mutex};
        let port = free_port();
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let (stop_flag, cut_flag) = (stop.clone(), cut.clone());
        std::thread::spawn(move || {
            let sent = Arc::new(AtomicU64::new(0));
            let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut listener = Some(TcpListener::bind(("127.0.0.1", port)).unwrap());
            let mut down_since: Option<Instant> = None;
            while !stop_flag.load(Ordering::SeqCst) && Instant::now() < deadline {
                if sent.load(Ordering::SeqCst) > cut_after && !cut_flag.load(Ordering::SeqCst) {
                    cut_flag.store(true, Ordering::SeqCst);
                    listener = None;
                    down_since = Some(Instant::now());
                    for stream in open.lock().unwrap().drain(..) {
                        let _ = stream.shutdown(Shutdown::Both);
                    }
                }
                if let (Some(since), Some(down)) = (down_since, down_for) {
                    if listener.is_none() && since.elapsed() >= down {
                        listener = TcpListener::bind(("127.0.0.1", port)).ok();
                    }
                }
                let Some(active) = &listener else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                active.set_nonblocking(true).unwrap();
                let Ok((client, _)) = active.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                {
                    let mut open = open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                let counting = cut_flag.load(Ordering::SeqCst);
                for (mut from, mut to, count) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (server, client, false),
                ] {
                    let sent = sent.clone();
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16 * 1024];
                        loop {
                            let n = match std::io::Read::read(&mut from, &mut buffer) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            if count && !counting {
                                sent.fetch_add(n as u64, Ordering::SeqCst);
                            }
                            if std::io::Write::write_all(&mut to, &buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        CutProxy { port, stop, cut }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Run a command that must succeed (exit 0); its stdout. Fails the test with both streams.
pub fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A new age identity in `dir/key.txt` (the standard `age-keygen`): its path and public key.
pub fn age_keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    let output = run(Command::new("age-keygen").arg("-o").arg(&key));
    assert!(
        output.status.success(),
        "age-keygen: {}",
        text(&output.stderr)
    );
    let public = run(Command::new("age-keygen").arg("-y").arg(&key));
    (key, text(&public.stdout).trim().to_string())
}

/// The finding named `check` of a report's `findings` (backup monitor, check, monitor).
pub fn finding(report: &serde_json::Value, check: &str) -> serde_json::Value {
    report["findings"]
        .as_array()
        .and_then(|findings| findings.iter().find(|f| f["check"] == check))
        .cloned()
        .unwrap_or_else(|| panic!("no {check} finding: {report:#}"))
}
