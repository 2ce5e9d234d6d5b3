//! Base backups through a sidecar: `pg_basebackup` in a one-shot container of the
//! PostgreSQL container's own image (its read-only mounts too: the binaries may come with
//! them), in its network namespace (so at 127.0.0.1, where PostgreSQL's images allow
//! replication), writing its tar into a FIFO in a private directory of backup.dir that
//! gymops reads. docker exec's output stream costs most of a base backup's time (5 of 6 s
//! for the gym dataset's 1.5 GB on a 2-core VM); a FIFO next to nothing.
//!
//! Only where the engine shares this host's kernel and files: a local socket, the engine's
//! host name this host's, the directory visible to it (a bind mount of a source the engine
//! does not see is an error). Whatever keeps the sidecar from sending its first byte (no
//! replication allowed from 127.0.0.1, no shell in the image, a user namespace) makes the
//! backup take the exec way instead: the same tar, slower.

use std::path::{Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, Mount, MountType,
};

use anyhow::Result;

use super::process::{Runner, Running};
use crate::docker::labels::Creation;
use crate::settings::Secret;

/// Where the private directory is mounted in the sidecar.
pub const MOUNT: &str = "/gymops-base";
/// What marks a container as a base backup's sidecar.
pub const ROLE: &str = "base-backup";
/// The PostgreSQL container it backs up.
pub const FOR_LABEL: &str = "io.gymops.base.for";
/// The private directories in backup.dir start so (a killed run's are swept like its
/// partial files).
pub const DIR_PREFIX: &str = ".gymops-base-";
/// The FIFO in the private directory.
#[cfg_attr(not(unix), allow(dead_code))]
const FIFO: &str = "tar";
/// libpq's password file in the private directory (0600), when there is a password.
#[cfg_attr(not(unix), allow(dead_code))]
const PASSFILE: &str = "pgpass";
/// The sidecar's only script, a constant: standard output into the FIFO, then the
/// argument vector ("$@", never part of the script). Anything but the FIFO gymops made is
/// refused, so that a directory the engine sees differently never fills with a plain file.
const SCRIPT: &str = "test -p /gymops-base/tar || { echo 'gymops: /gymops-base/tar is not the FIFO gymops made' >&2; exit 3; }; exec \"$@\" > /gymops-base/tar";

/// Everything the sidecar container is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    /// The PostgreSQL container (its id): the sidecar joins its network namespace.
    pub postgres: String,
    /// Its name, for the label.
    pub postgres_name: String,
    pub image: String,
    /// Read-only mounts of the PostgreSQL container (`SOURCE:DEST:ro`).
    pub read_only_binds: Vec<String>,
    /// The private directory on this host (0700), with the FIFO (and the passfile).
    pub private_dir: PathBuf,
    /// `UID:GID` the sidecar runs as: gymops's own, the owner of the FIFO.
    pub run_as: Option<String>,
    /// pg_basebackup and its arguments.
    pub argv: Vec<String>,
    /// A password file is in the private directory.
    pub passfile: bool,
}

/// The sidecar for `postgres` (its inspect answer), running `argv`.
pub fn spec(
    postgres: &ContainerInspectResponse,
    argv: Vec<String>,
    private_dir: &Path,
    run_as: Option<String>,
    passfile: bool,
) -> Spec {
    let postgres_name = crate::docker::inspected_name(postgres);
    let unique = private_dir
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_start_matches(DIR_PREFIX)
                .to_string()
        })
        .unwrap_or_default();
    Spec {
        name: format!("{postgres_name}-gymops-base-{unique}"),
        postgres: postgres.id.clone().unwrap_or_else(|| postgres_name.clone()),
        postgres_name,
        image: crate::docker::template_image(postgres),
        read_only_binds: crate::docker::read_only_binds(postgres),
        private_dir: private_dir.to_path_buf(),
        run_as,
        argv,
        passfile,
    }
}

/// pg_basebackup's argument vector in the sidecar: the exec's (`exec_args`, no host) with
/// the PostgreSQL container's own loopback address.
pub fn argv(bin_dir: Option<&str>, exec_args: &[String]) -> Vec<String> {
    let program = match bin_dir {
        Some(dir) => format!("{}/pg_basebackup", dir.trim_end_matches('/')),
        None => "pg_basebackup".to_string(),
    };
    let mut argv = vec![program];
    argv.extend(exec_args.iter().cloned());
    argv.extend(["--host", "127.0.0.1", "--port", "5432"].map(str::to_string));
    argv
}

/// The create call for the sidecar.
pub fn creation(spec: &Spec) -> Creation {
    let labels = [
        (
            super::wal::receiver::ROLE_LABEL.to_string(),
            ROLE.to_string(),
        ),
        (FOR_LABEL.to_string(), spec.postgres_name.clone()),
    ]
    .into_iter()
    .collect();
    let mut env = vec![
        "PGAPPNAME=gymops base backup".to_string(),
        "PGCONNECT_TIMEOUT=10".to_string(),
    ];
    if spec.passfile {
        env.push(format!("PGPASSFILE={MOUNT}/{PASSFILE}"));
    }
    let mut entrypoint = ["sh", "-c", SCRIPT, "gymops-base"]
        .map(str::to_string)
        .to_vec();
    entrypoint.extend(spec.argv.iter().cloned());
    Creation {
        name: spec.name.clone(),
        body: ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(entrypoint),
            cmd: Some(Vec::new()),
            env: Some(env),
            user: spec.run_as.clone(),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(spec.read_only_binds.clone()),
                // A mount, not a bind string: a source the engine does not see is an error,
                // never a new empty directory.
                mounts: Some(vec![Mount {
                    typ: Some(MountType::BIND),
                    source: Some(spec.private_dir.display().to_string()),
                    target: Some(MOUNT.to_string()),
                    read_only: Some(false),
                    ..Default::default()
                }]),
                network_mode: Some(format!("container:{}", spec.postgres)),
                ..Default::default()
            }),
            ..Default::default()
        },
        more_networks: Vec::new(),
        platform: None,
        files: Vec::new(),
    }
}

#[cfg(unix)]
pub use io::{launch, Launched};

/// pg_basebackup's tar as a running process: through a sidecar where one can run, else by
/// exec in the container (on this host with `--local`). `stop` (Ctrl-C, a stall) ends the
/// wait for the sidecar's first byte: the sidecar is removed and `stop`'s error returned.
pub async fn spawn_base(
    runner: &Runner,
    exec_args: &[String],
    env: &[(&str, &Secret)],
    password: Option<&Secret>,
    dir: &Path,
    stop: impl std::future::Future<Output = anyhow::Error>,
) -> Result<Running> {
    #[cfg(unix)]
    if let Runner::Container {
        engine,
        container,
        bin_dir,
    } = runner
    {
        let argv = argv(bin_dir.as_deref(), exec_args);
        match launch(engine, container, argv, password, dir).await {
            Ok(Launched { running, first }) => {
                tokio::select! {
                    first = first => {
                        if first == Ok(true) {
                            tracing::debug!("pg_basebackup's tar comes through a sidecar's FIFO");
                            return Ok(running);
                        }
                        let why = match running.finish().await {
                            Ok(finished) => finished.describe("the sidecar's pg_basebackup"),
                            Err(err) => crate::error::describe(&err).0,
                        };
                        tracing::info!(
                            "the base backup's sidecar sent nothing ({why}); pg_basebackup runs by exec in {container} instead"
                        );
                    }
                    err = stop => {
                        running.abandon().await;
                        return Err(err);
                    }
                }
            }
            Err(err) => tracing::info!(
                "no sidecar for the base backup ({}); pg_basebackup runs by exec in {container}",
                crate::error::describe(&err).0
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = (password, dir, stop);
    runner.spawn("pg_basebackup", exec_args, env, false).await
}

#[cfg(unix)]
mod io {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use anyhow::{anyhow, Context, Result};
    use bytes::Bytes;
    use tokio::sync::{mpsc, oneshot};

    use super::{creation, spec, Spec, DIR_PREFIX, FIFO, FOR_LABEL, PASSFILE, ROLE};
    use crate::backup::process::{pump, Finished, Running, CHANNEL_DEPTH};
    use crate::docker::Engine;
    use crate::fsutil::{DirBuilderExt, OpenOptionsExt};
    use crate::settings::Secret;

    /// A started sidecar: its output and, soon, whether any came.
    pub struct Launched {
        pub running: Running,
        /// true at the first byte; false when it ended without one.
        pub first: oneshot::Receiver<bool>,
    }

    /// Why the engine cannot take a sidecar that writes into this host's files; None when
    /// it can.
    async fn unsuitable(engine: &Engine) -> Option<String> {
        if !engine.address.starts_with("unix://") {
            return Some(format!(
                "the engine at {} is not on this host",
                engine.address
            ));
        }
        let here = crate::notify::hostname();
        match engine.host_name().await {
            Some(there) if there == here => None,
            Some(there) => Some(format!(
                "the engine runs on host {there}, not {here} (Docker Desktop's VM, or gymops in a container)"
            )),
            None => Some("the engine did not say its host name".into()),
        }
    }

    /// Start pg_basebackup (`argv`) in a sidecar of `postgres`, writing through a FIFO in
    /// `dir`. An error says why the sidecar cannot be used (nothing of it is left).
    pub async fn launch(
        engine: &Arc<Engine>,
        postgres: &str,
        argv: Vec<String>,
        password: Option<&Secret>,
        dir: &Path,
    ) -> Result<Launched> {
        if let Some(why) = unsuitable(engine).await {
            return Err(anyhow!(why));
        }
        // What a killed run left: ended sidecars, private directories (swept with the
        // partial files too).
        let _ = engine
            .remove_ended(&[
                (crate::backup::wal::receiver::ROLE_LABEL, ROLE),
                (FOR_LABEL, postgres),
            ])
            .await;
        let private = private_dir(dir)?;
        if let Some(why) = open_to_others(dir, &private) {
            let _ = std::fs::remove_dir_all(&private);
            return Err(anyhow!(why));
        }
        let started = start(engine, postgres, argv, password, &private).await;
        match started {
            Ok(launched) => Ok(launched),
            Err(err) => {
                let _ = std::fs::remove_dir_all(&private);
                Err(err)
            }
        }
    }

    /// Why `dir` is no place for the sidecar's directory: another user may write into it,
    /// and so swap the private directory for one of theirs (with a FIFO they read) between
    /// its making and the engine's mount; None when only gymops's user may. `private` is a
    /// directory gymops has just made there (its owner is gymops's user).
    pub(super) fn open_to_others(dir: &Path, private: &Path) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let (parent, own) = match (std::fs::metadata(dir), std::fs::metadata(private)) {
            (Ok(parent), Ok(own)) => (parent, own),
            (Err(err), _) | (_, Err(err)) => return Some(format!("{}: {err}", dir.display())),
        };
        if parent.uid() != own.uid() {
            return Some(format!(
                "{} belongs to user {}, not to gymops's user {}",
                dir.display(),
                parent.uid(),
                own.uid()
            ));
        }
        if parent.mode() & 0o022 != 0 {
            return Some(format!(
                "other users may write into {} (mode {:o}): chmod go-w it",
                dir.display(),
                parent.mode() & 0o7777
            ));
        }
        None
    }

    /// A new private directory (0700) in `dir` with the FIFO (0600) in it.
    fn private_dir(dir: &Path) -> Result<PathBuf> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let private = dir.join(format!("{DIR_PREFIX}{}-{nanos:x}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private)
            .with_context(|| format!("cannot create {}", private.display()))?;
        rustix::fs::mknodat(
            rustix::fs::CWD,
            private.join(FIFO),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(std::io::Error::from)
        .with_context(|| format!("cannot make a FIFO in {}", private.display()))
        .inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&private);
        })?;
        Ok(private)
    }

    async fn start(
        engine: &Arc<Engine>,
        postgres: &str,
        argv: Vec<String>,
        password: Option<&Secret>,
        private: &Path,
    ) -> Result<Launched> {
        if let Some(password) = password {
            // Any user: the arguments name the one to connect as.
            crate::fsutil::write_atomic(
                &private.join(PASSFILE),
                crate::backup::wal::receiver::passfile("*", password.expose()).as_bytes(),
                Some(0o600),
            )
            .context("cannot write the sidecar's password file")?;
        }
        let inspected = engine.inspect(postgres).await?;
        let spec = spec(
            &inspected,
            argv,
            private,
            crate::fsutil::owner_of(private),
            password.is_some(),
        );
        // Open before the start (non-blocking: no writer yet); the first byte or the end
        // wakes the reader.
        let mut reader = tokio::net::unix::pipe::OpenOptions::new()
            .open_receiver(private.join(FIFO))
            .context("cannot open the FIFO")?;
        engine.create(&creation(&spec)).await?;
        if let Err(err) = engine.start(&spec.name).await {
            let _ = engine.remove(&spec.name).await;
            return Err(err);
        }
        let (out_tx, out_rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
        let (first_tx, first_rx) = oneshot::channel();
        let pumping = tokio::spawn(async move {
            let _ = pump(&mut reader, &out_tx, Some(first_tx)).await;
        });
        let done = tokio::spawn(finish(engine.clone(), spec.clone(), pumping));
        let cancel_engine = engine.clone();
        let cancel_spec = spec.clone();
        let cancel: crate::backup::process::Cancel = Box::new(move || {
            Box::pin(async move {
                let _ = cancel_engine.remove(&cancel_spec.name).await;
                let _ = std::fs::remove_dir_all(&cancel_spec.private_dir);
            })
        });
        Ok(Launched {
            running: Running::output_only("pg_basebackup", out_rx, done, Some(cancel)),
            first: first_rx,
        })
    }

    /// Wait for the sidecar to end; then its status and log, and nothing of it left.
    async fn finish(
        engine: Arc<Engine>,
        spec: Spec,
        pumping: tokio::task::JoinHandle<()>,
    ) -> Result<Finished> {
        let code = engine.wait_exit(&spec.name).await;
        // A sidecar that never opened the FIFO leaves the reader waiting for a writer:
        // one that opens and closes at once ends it (no reader left: nothing to do).
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(spec.private_dir.join(FIFO));
        let _ = pumping.await;
        let log = engine.log_tail(&spec.name, 40).await.join("\n");
        let _ = engine.remove(&spec.name).await;
        let _ = std::fs::remove_dir_all(&spec.private_dir);
        Ok(Finished {
            exit_code: Some(code?),
            stderr: log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, MountPoint};

    fn postgres() -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("0123abcd".into()),
            name: Some("/gym_postgres_1".into()),
            image: Some("sha256:abc".into()),
            config: Some(ContainerConfig {
                image: Some("postgres:15".into()),
                ..Default::default()
            }),
            mounts: Some(vec![MountPoint {
                typ: Some("bind".into()),
                source: Some("/usr".into()),
                destination: Some("/usr".into()),
                rw: Some(false),
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_backup_directory_other_users_may_write_gets_no_fifo() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join(".gymops-base-1-a");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(io::open_to_others(dir.path(), &private), None);
        for mode in [0o770, 0o777, 0o1777] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            let why = io::open_to_others(dir.path(), &private).unwrap();
            assert!(why.contains("chmod go-w"), "{why}");
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn the_sidecar_joins_postgres_network_namespace_and_writes_only_into_its_fifo() {
        let exec_args = ["--no-password", "--username", "postgres", "--pgdata=-"]
            .map(str::to_string)
            .to_vec();
        let argv = argv(Some("/usr/lib/postgresql/15/bin/"), &exec_args);
        assert_eq!(argv[0], "/usr/lib/postgresql/15/bin/pg_basebackup");
        assert_eq!(&argv[1..5], &exec_args[..]);
        assert_eq!(&argv[5..], ["--host", "127.0.0.1", "--port", "5432"]);
        let private = Path::new("/srv/backups/.gymops-base-42-beef");
        let spec = spec(
            &postgres(),
            argv.clone(),
            private,
            Some("1000:1000".into()),
            true,
        );
        assert_eq!(spec.name, "gym_postgres_1-gymops-base-42-beef");
        let creation = creation(&spec);
        let body = &creation.body;
        assert_eq!(body.image.as_deref(), Some("sha256:abc"));
        assert_eq!(body.user.as_deref(), Some("1000:1000"));
        let entrypoint = body.entrypoint.clone().unwrap();
        // A constant script; every value is an argument after it.
        assert_eq!(&entrypoint[..4], ["sh", "-c", SCRIPT, "gymops-base"]);
        assert_eq!(&entrypoint[4..], &argv[..]);
        assert!(!SCRIPT.contains("postgres") && SCRIPT.contains("\"$@\""));
        let host = body.host_config.clone().unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("container:0123abcd"));
        assert_eq!(host.binds.unwrap(), ["/usr:/usr:ro"]);
        let mount = &host.mounts.unwrap()[0];
        assert_eq!(mount.typ, Some(MountType::BIND));
        assert_eq!(
            mount.source.as_deref(),
            Some("/srv/backups/.gymops-base-42-beef")
        );
        assert_eq!(mount.target.as_deref(), Some(MOUNT));
        let env = body.env.clone().unwrap();
        assert!(env.contains(&"PGPASSFILE=/gymops-base/pgpass".to_string()));
        assert!(!env.iter().any(|e| e.contains("PGPASSWORD")));
        let labels = body.labels.clone().unwrap();
        assert_eq!(
            labels.get(FOR_LABEL).map(String::as_str),
            Some("gym_postgres_1")
        );
        // No password: no passfile named.
        let trusting = super::creation(&super::spec(&postgres(), argv, private, None, false));
        assert!(!trusting
            .body
            .env
            .unwrap()
            .iter()
            .any(|e| e.starts_with("PGPASSFILE")));
    }
}
