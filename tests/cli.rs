//! The command-line interface: help texts are snapshots (an accidental change shows in
//! review), usage errors exit 3, version prints.
//! Refresh the snapshots after an intended change: `UPDATE_SNAPSHOTS=1 cargo test --test cli`.

mod support;

use std::path::Path;

use support::{gymops, run, text};

const COMMANDS: &[&[&str]] = &[
    &[],
    &["health"],
    &["ps"],
    &["service"],
    &["service", "ps"],
    &["service", "config"],
    &["service", "up"],
    &["service", "down"],
    &["service", "stop"],
    &["service", "start"],
    &["service", "restart"],
    &["up"],
    &["down"],
    &["stop"],
    &["start"],
    &["restart"],
    &["rollback"],
    &["releases"],
    &["config"],
    &["config", "show"],
    &["config", "check"],
    &["logs"],
    &["logs", "stats"],
    &["logs", "files"],
    &["logs", "clean"],
    &["disk"],
    &["perf"],
    &["perf", "stats"],
    &["perf", "db"],
    &["perf", "api"],
    &["perf", "load"],
    &["perf", "jvm"],
    &["monitor"],
    &["check"],
    &["db"],
    &["db", "maintain"],
    &["db", "maintain", "vacuum"],
    &["db", "maintain", "analyze"],
    &["db", "maintain", "reindex"],
    &["backup"],
    &["backup", "create"],
    &["backup", "list"],
    &["backup", "verify"],
    &["backup", "monitor"],
    &["backup", "prune"],
    &["backup", "restore"],
    &["alert"],
    &["alert", "send"],
    &["metrics"],
    &["metrics", "serve"],
    &["metrics", "export"],
    &["monitoring"],
    &["monitoring", "init"],
    &["schedule"],
    &["schedule", "print"],
    &["schedule", "install"],
    &["schedule", "remove"],
    &["incident"],
    &["incident", "new"],
    &["incident", "update"],
    &["incident", "resolve"],
    &["incident", "list"],
    &["incident", "show"],
    &["incident", "notify"],
    &["incident", "review"],
    &["incident", "actions"],
    &["incident", "action"],
    &["incident", "action", "add"],
    &["incident", "action", "set"],
    &["context"],
    &["context", "ls"],
    &["fleet"],
    &["completions"],
    &["man"],
];

#[test]
fn help_of_every_command_matches_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut mismatches = Vec::new();
    // Every command in English; the key screens in Chinese too (`zh-` snapshots).
    let chinese: &[&[&str]] = &[&[], &["backup"], &["incident"], &["health"], &["up"]];
    let runs = COMMANDS
        .iter()
        .map(|c| ("en", *c))
        .chain(chinese.iter().map(|c| ("zh", *c)));
    for (lang, command) in runs {
        let output = run(gymops(dir.path())
            .args(["--lang", lang])
            .args(command)
            .arg("--help")
            .env("COLUMNS", "100"));
        assert_eq!(output.status.code(), Some(0), "{command:?}");
        let help = text(&output.stdout);
        let base = if command.is_empty() {
            "gymops".to_string()
        } else {
            format!("gymops-{}", command.join("-"))
        };
        let name = if lang == "en" {
            base
        } else {
            format!("{lang}-{base}")
        };
        let path = snapshots.join(format!("{name}.help.txt"));
        if update {
            std::fs::create_dir_all(&snapshots).unwrap();
            std::fs::write(&path, &help).unwrap();
        } else {
            let expected = std::fs::read_to_string(&path).unwrap_or_default();
            if expected != help {
                mismatches.push(format!("--- {}\n{help}", path.display()));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "help changed (UPDATE_SNAPSHOTS=1 to accept):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn exit_codes_are_documented_in_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["--help"], vec!["health", "--help"]] {
        let help = text(&run(gymops(dir.path()).args(&args)).stdout);
        for line in ["0  OK", "1  WARNING", "2  CRITICAL", "3  UNKNOWN"] {
            assert!(help.contains(line), "{args:?} lacks {line}");
        }
    }
}

#[test]
fn usage_errors_exit_3_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["frobnicate"],
        vec!["health", "--check", "everything"],
        vec!["health", "--timeout", "soonish"],
        vec!["health", "--endpoint", "ftp://x"],
        vec!["-v", "-q", "ps"],
    ] {
        let output = run(gymops(dir.path()).args(&args));
        assert_eq!(output.status.code(), Some(3), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
    let output = run(gymops(dir.path()).arg("--version"));
    assert_eq!(
        text(&output.stdout).trim(),
        format!("gymops {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Run gymops on a pseudo-terminal (python's pty module) and return what it printed.
fn on_terminal(dir: &Path, args: &[&str], no_color: bool) -> String {
    let mut command = gymops(dir);
    command.env("COLUMNS", "120");
    let mut python = std::process::Command::new("python3");
    python
        .args([
            "-c",
            "import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)",
        ])
        .arg(support::gymops_bin())
        .args(args);
    python.current_dir(dir);
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => python.env(key, value),
            None => python.env_remove(key),
        };
    }
    if no_color {
        python.env("NO_COLOR", "1");
    }
    text(&run(&mut python).stdout)
}

#[test]
fn tables_have_borders_and_colors_on_a_terminal_and_no_colors_with_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let colored = on_terminal(dir.path(), &["config", "check"], false);
    assert!(
        colored.contains("\u{1b}["),
        "colors on a terminal: {colored:?}"
    );
    assert!(
        colored.contains('│') || colored.contains('┆'),
        "borders on a terminal: {colored}"
    );
    let plain = on_terminal(dir.path(), &["config", "check"], true);
    assert!(!plain.contains("\u{1b}["), "NO_COLOR: {plain:?}");
    assert!(plain.contains("WARNING"), "{plain}");
    let piped = text(&run(gymops(dir.path()).args(["config", "check"])).stdout);
    assert!(
        !piped.contains("\u{1b}[") && !piped.contains('│'),
        "{piped}"
    );
}
