//! The CI/CD files: every GitHub workflow (this repository's and the example deploy) passes
//! actionlint (tests/run.sh provides it); the GitLab example is valid YAML whose deploy job
//! runs `gymops up`, keeps the report as an artifact whatever happens, and shows the failed
//! services' logs.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{run, text};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn actionlint() -> PathBuf {
    std::env::var_os("ACTIONLINT")
        .map(PathBuf::from)
        .or_else(|| {
            let fetched = root().join("target/tools/bin/actionlint");
            fetched.exists().then_some(fetched)
        })
        .unwrap_or_else(|| PathBuf::from("actionlint"))
}

#[test]
fn every_github_workflow_passes_actionlint() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.push(root().join("examples/ci/github-actions-deploy.yml"));
    assert!(files.len() >= 3, "{files:?}");
    let output = run(Command::new(actionlint())
        .current_dir(root())
        .arg("-config-file")
        .arg(".github/actionlint.yaml")
        .args(&files));
    assert!(
        output.status.success(),
        "actionlint:\n{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let release = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    assert!(release.contains("x86_64-unknown-linux-musl"));
}

#[test]
fn the_gitlab_example_deploys_keeps_the_report_and_shows_failed_logs() {
    let text = std::fs::read_to_string(root().join("examples/ci/gitlab-ci.yml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let stages: Vec<&str> = yaml["stages"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(stages, ["build", "deploy"]);
    let deploy = &yaml["deploy-production"];
    assert_eq!(deploy["stage"], "deploy");
    let script: Vec<&str> = deploy["script"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(script
        .iter()
        .any(|l| l.contains("gymops up --environment production")));
    assert_eq!(deploy["artifacts"]["when"], "always");
    assert!(deploy["artifacts"]["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|p| p == "deployment_report.md"));
    let after = deploy["after_script"][0].as_str().unwrap();
    assert!(after.contains("CI_JOB_STATUS") && after.contains("gymops logs"));
    // Each job's stage exists.
    for (name, job) in yaml.as_mapping().unwrap() {
        if let Some(stage) = job.get("stage") {
            assert!(stages.contains(&stage.as_str().unwrap()), "{name:?}");
        }
    }
}
