//! A compose project of a deploy test: its own directory with gymops.yaml, its own
//! project name, and everything it made (containers of every replica, networks, volumes,
//! release tags, its images) removed on drop, even when the test fails.

use std::process::Command;

use serde_json::Value;

use super::{docker, docker_ok, ensure_image, gymops, run, text};

pub use super::IMAGE;

/// A compose project of this test, removed (containers, networks, volumes) on drop.
pub struct Deployment {
    pub name: String,
    pub dir: tempfile::TempDir,
}

impl Deployment {
    pub fn new(tag: &str, compose: &str) -> Deployment {
        Deployment::with_services(tag, compose, &["db", "web"])
    }

    pub fn with_services(tag: &str, compose: &str, services: &[&str]) -> Deployment {
        ensure_image();
        let name = format!("gymopsd{tag}{}", std::process::id() % 100_000);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("docker-compose.yml"), compose).unwrap();
        std::fs::write(
            dir.path().join("gymops.yaml"),
            format!(
                "services:\n{}deploy:\n  gate: [containers]\n  wait_timeout: 30s\n  stop_timeout: 1s\n",
                services
                    .iter()
                    .map(|s| format!("  {s}: {{container: null}}\n"))
                    .collect::<String>()
            ),
        )
        .unwrap();
        Deployment { name, dir }
    }

    pub fn gymops(&self) -> Command {
        let mut command = gymops(self.dir.path());
        command.env("GYMOPS_PROJECT", &self.name);
        command
    }

    /// `gymops up -o json ARGS` with `env`: (exit code, the report, stderr).
    pub fn up(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
        let mut command = self.gymops();
        command.args(["up", "-o", "json"]).args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        let output = run(&mut command);
        let stderr = text(&output.stderr);
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}{stderr}", text(&output.stdout)));
        (output.status.code().unwrap(), report, stderr)
    }

    pub fn compose(&self, args: &[&str]) -> std::process::Output {
        run(Command::new("docker-compose")
            .current_dir(self.dir.path())
            .args(["-p", &self.name])
            .args(args))
    }

    /// Container ID of a service, by compose labels.
    pub fn id(&self, service: &str) -> Option<String> {
        let ids = docker_ok(&[
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ]);
        ids.lines().next().map(str::to_string)
    }

    pub fn containers(&self) -> Vec<String> {
        docker_ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}}",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for project in [self.name.clone(), format!("{}_monitoring", self.name)] {
            let filter = format!("label=com.docker.compose.project={project}");
            let ids = docker(&["ps", "-aq", "--filter", &filter]);
            for id in text(&ids.stdout).lines() {
                let _ = docker(&["rm", "-f", "-v", id]);
            }
            for kind in ["network", "volume"] {
                let list = docker(&[kind, "ls", "-q", "--filter", &filter]);
                for id in text(&list.stdout).lines() {
                    let _ = docker(&[kind, "rm", id]);
                }
            }
        }
        // Release tags and the test's own image versions.
        let images = docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
        for image in text(&images.stdout).lines() {
            if image.starts_with(&format!("gymops-release/{}-", self.name))
                || image.starts_with(&format!("{}app:", self.name))
            {
                let _ = docker(&["rmi", image]);
            }
        }
    }
}

impl Deployment {
    /// Build `NAMEapp:VERSION` from the rig image; `healthy` adds the /healthy file the
    /// app's healthcheck tests for. Distinct image IDs per version (a label).
    pub fn image(&self, version: u32, healthy: bool) -> String {
        let dir = self.dir.path().join(format!("image{version}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut dockerfile = format!("FROM {IMAGE}\nLABEL gymops.test.version={version}\n");
        if healthy {
            std::fs::write(dir.join("healthy"), "").unwrap();
            dockerfile.push_str("COPY healthy /healthy\n");
        }
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        let tag = format!("{}app:{version}", self.name);
        let output = docker(&["build", "-q", "-t", &tag, dir.to_str().unwrap()]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        docker_ok(&["image", "inspect", "-f", "{{.Id}}", &tag])
    }

    pub fn running_image(&self, service: &str) -> String {
        docker_ok(&["inspect", "-f", "{{.Image}}", &self.id(service).unwrap()])
    }

    pub fn history(&self) -> Value {
        let path = self.dir.path().join(".gymops/releases.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }
}
