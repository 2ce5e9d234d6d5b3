//! The Windows build, run as Windows runs it — under wine (tests/run.sh builds
//! x86_64-pc-windows-gnu and installs Debian's wine64): it starts, renders the Task
//! Scheduler jobs with Windows paths, reads its settings, registers and removes the tasks
//! with schtasks, and without Docker Desktop says so about the named pipe.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::text;

fn exe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/x86_64-pc-windows-gnu/debug/gymops.exe")
}

fn wine() -> PathBuf {
    let debian = PathBuf::from("/usr/lib/wine/wine64");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("wine64")
    }
}

/// `gymops.exe ARGS` under wine, in `dir`, with a wine prefix of the test's own.
fn gymops_exe(prefix: &Path, dir: &Path, args: &[&str]) -> Output {
    assert!(
        exe().exists(),
        "no {}: tests/run.sh builds it (cargo build --target x86_64-pc-windows-gnu)",
        exe().display()
    );
    support::run(
        Command::new(wine())
            .arg(exe())
            .args(args)
            .current_dir(dir)
            .env("WINEPREFIX", prefix)
            .env("WINEDEBUG", "-all")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("DOCKER_HOST")
            .env_remove("DISPLAY"),
    )
}

#[test]
fn the_windows_build_runs_schedules_tasks_and_names_the_pipe() {
    let prefix = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: gym_win\nservices:\n  backend: {container: gym_backend}\nschedule:\n  name_prefix: GymWin\n",
    )
    .unwrap();

    let output = gymops_exe(prefix.path(), dir.path(), &["--version"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        text(&output.stdout).trim(),
        format!("gymops {}", env!("CARGO_PKG_VERSION"))
    );

    let output = gymops_exe(
        prefix.path(),
        dir.path(),
        &["schedule", "print", "--target", "windows"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let script = text(&output.stdout);
    assert!(
        script.contains("Register-ScheduledTask -TaskName 'GymWin-backup'"),
        "{script}"
    );
    // Windows paths: the exe as Windows sees it, the directory of gymops.yaml on drive Z:.
    assert!(script.contains("<Command>Z:\\"), "{script}");
    assert!(script.contains("gymops.exe</Command>"), "{script}");
    assert!(script.contains("<WorkingDirectory>Z:\\"), "{script}");

    let output = gymops_exe(prefix.path(), dir.path(), &["config", "show"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("gym_win"));

    // Registered with schtasks, twice (the same tasks), then removed.
    let tasks = prefix.path().join("drive_c/windows/system32/tasks");
    for _ in 0..2 {
        let output = gymops_exe(
            prefix.path(),
            dir.path(),
            &["schedule", "install", "--target", "windows"],
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        // Wine's Task Scheduler keeps part of a definition (its registration info, not its
        // triggers or actions): the task is there under its name and description; the
        // XML itself is checked above, as `schedule print` renders it.
        let stored = std::fs::read(tasks.join("GymWin-backup")).expect("the backup task");
        let xml = match stored.as_slice() {
            [0xFF, 0xFE, rest @ ..] => String::from_utf16_lossy(
                &rest
                    .chunks(2)
                    .filter(|c| c.len() == 2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect::<Vec<u16>>(),
            ),
            bytes => String::from_utf8_lossy(bytes).into_owned(),
        };
        assert!(
            xml.contains("<URI>\\GymWin-backup</URI>") && xml.contains("gymops backup (gym_win)"),
            "{xml}"
        );
    }
    let output = gymops_exe(
        prefix.path(),
        dir.path(),
        &["schedule", "remove", "--target", "windows"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(!tasks.join("GymWin-backup").exists());

    // No Docker Desktop here: one clear error about the named pipe.
    let output = gymops_exe(prefix.path(), dir.path(), &["ps"]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("npipe:////./pipe/docker_engine")
            && stderr.contains("Start Docker Desktop"),
        "{stderr}"
    );
}
