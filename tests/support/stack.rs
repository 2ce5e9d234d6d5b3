//! A compose project of the rig (its own name, network and ports, removed on drop) and
//! the guide-shaped stack on it: PostgreSQL, the stand-in backend and MinIO.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::*;

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

    /// A named volume of this project's (removed on drop). Returns its name.
    pub fn volume(&self, name: &str) -> String {
        let name = format!("{}_{name}", self.name);
        docker_ok(&[
            "volume",
            "create",
            "--label",
            RIG_LABEL,
            "--label",
            &format!("{RIG_LABEL}.stack={}", self.name),
            &name,
        ]);
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
        let volumes = docker(&["volume", "ls", "-q", "--filter", &filter]);
        for volume in text(&volumes.stdout).lines() {
            let _ = docker(&["volume", "rm", "-f", volume]);
        }
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
    /// The named volume holding PostgreSQL's data ([`Stack::start_on_volume`]).
    pub data_volume: Option<String>,
}

impl Stack {
    /// Start the whole stack and wait until every container is healthy.
    pub fn start() -> Stack {
        Stack::start_with(false)
    }

    /// The stack with PostgreSQL's data on a named volume (`PROJECT_postgres_data` at
    /// `/data`, PGDATA `/data/pgdata`), as the guide's compose file keeps it.
    pub fn start_on_volume() -> Stack {
        Stack::start_with(true)
    }

    /// Where PostgreSQL's data directory is in its container.
    pub fn pgdata(&self) -> &'static str {
        if self.data_volume.is_some() {
            "/data/pgdata"
        } else {
            "/tmp/pgdata"
        }
    }

    fn start_with(on_volume: bool) -> Stack {
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
            data_volume: None,
        };
        if on_volume {
            stack.data_volume = Some(stack.rig.volume("postgres_data"));
        }
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
        if let Some(volume) = &self.data_volume {
            args.extend([
                "-v".into(),
                format!("{volume}:/data"),
                "-e".into(),
                "PGDATA=/data/pgdata".into(),
            ]);
        }
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
            // A PostgreSQL that is restarted (its data replaced) keeps its host port, as
            // with compose's `5432:5432`; the engine would choose another for `::5432`.
            if self.data_volume.is_some() {
                format!("127.0.0.1:{}:5432", super::net::free_port())
            } else {
                "127.0.0.1::5432".into()
            },
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
