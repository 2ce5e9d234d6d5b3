//! Shell integration as an operator installs it: the bash completion script sourced in a
//! real bash completes commands, flags, the deployment's service names (gymops.yaml's and
//! the compose file's) and incident IDs, from a subdirectory of the deployment; the static
//! script completes commands without gymops; `gymops man` writes pages `man` renders.

mod support;

use std::path::Path;
use std::process::Command;

use support::{gymops, gymops_bin, run, text};

/// What bash's completion offers for `line` (the words typed so far, the last one being
/// completed), with gymops' script sourced as the README says.
fn complete(dir: &Path, script: &str, function: &str, line: &[&str]) -> Vec<String> {
    std::fs::write(dir.join("completion.bash"), script).unwrap();
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let current = line.last().unwrap();
    let previous = line[line.len() - 2];
    let program = format!(
        "source completion.bash\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\nCOMP_TYPE=9\n{function} gymops '{current}' '{previous}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        words.join(" "),
        line.len() - 1,
        line.join(" "),
    );
    let output = run(Command::new("bash")
        .arg("-c")
        .arg(program)
        .current_dir(dir)
        .env_remove("COMPLETE"));
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn bash_completes_commands_services_and_incident_ids_from_the_deployment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: gym\nincident:\n  dir: incidents\nservices:\n  backend: {container: gym_backend}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("docker-compose.yml"),
        "services:\n  backup-agent: {image: busybox}\n  backend: {image: busybox}\n",
    )
    .unwrap();
    for id in ["INC-2026-1127-001", "INC-2026-1128-002"] {
        std::fs::create_dir_all(dir.path().join("incidents").join(id)).unwrap();
    }
    let sub = dir.path().join("scripts");
    std::fs::create_dir(&sub).unwrap();
    let output = run(gymops(&sub).args(["completions", "bash"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let script = text(&output.stdout);
    assert!(
        script.contains(&gymops_bin().display().to_string()),
        "the script calls this gymops by its path"
    );
    let function = "_clap_complete_gymops";
    assert_eq!(
        complete(&sub, &script, function, &["gymops", "he"]),
        ["health", "help"]
    );
    assert_eq!(
        complete(&sub, &script, function, &["gymops", "logs", "ba"]),
        ["backend", "backup-agent"],
        "gymops.yaml's services and the compose file's"
    );
    assert_eq!(
        complete(
            &sub,
            &script,
            function,
            &["gymops", "incident", "update", "INC-2026-1128"]
        ),
        ["INC-2026-1128-002"]
    );
    let flags = complete(&sub, &script, function, &["gymops", "health", "--chec"]);
    assert_eq!(flags, ["--check"]);
    // A broken gymops.yaml offers no service names, and no error on the terminal.
    std::fs::write(dir.path().join("gymops.yaml"), "project: [\n").unwrap();
    assert!(complete(&sub, &script, function, &["gymops", "logs", "ba"]).is_empty());
    // ... and `completions` itself needs no settings.
    let output = run(gymops(&sub).args(["completions", "bash", "--static"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let static_script = text(&output.stdout);
    assert!(!static_script.contains("COMPLETE="));
    assert_eq!(
        complete(&sub, &static_script, "_gymops", &["gymops", "bac"]),
        ["backup"]
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        for extra in [&[][..], &["--static"][..]] {
            let output = run(gymops(&sub).args(["completions", shell]).args(extra));
            assert_eq!(output.status.code(), Some(0), "{shell} {extra:?}");
            assert!(text(&output.stdout).contains("gymops"), "{shell}");
        }
    }
    let output = run(gymops(&sub).args(["completions", "tcsh"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stderr).contains("possible values: bash, zsh, fish, powershell, elvish"));
}

#[test]
fn man_pages_are_written_one_per_command_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("share/man/man1");
    let output = run(gymops(dir.path()).args(["man", pages.to_str().unwrap()]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    for page in [
        "gymops.1",
        "gymops-health.1",
        "gymops-backup-create.1",
        "gymops-fleet.1",
    ] {
        assert!(pages.join(page).is_file(), "{page}");
    }
    let names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n.ends_with(".1")),
        "nothing half-written left: {names:?}"
    );
    let rendered = run(Command::new("man")
        .arg("-l")
        .arg(pages.join("gymops-backup-create.1"))
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat"));
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let page = text(&rendered.stdout);
    assert!(page.contains("gymops-backup-create"), "{page}");
    assert!(
        page.contains("--encrypt") || page.contains("--dir"),
        "{page}"
    );
}
