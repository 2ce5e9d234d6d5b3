//! `gymops prune` on an engine of its own (a second dockerd: pruning the shared engine would
//! take other tests' stopped containers and networks): what goes, what never does, and that
//! `--dry-run` is exactly what a run removes.

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::{run, text, SecondEngine, IMAGE};

fn ok(engine: &SecondEngine, args: &[&str]) -> String {
    let output = engine.docker(args);
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_string()
}

/// `docker run -d` of the base image sleeping, with extra options.
fn sleeper(engine: &SecondEngine, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "-v", "/usr:/usr:ro"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "/usr/bin/sleep", "600"]);
    ok(engine, &args);
}

/// An image of its own: the base image plus a file, committed from a scratch container.
fn image(engine: &SecondEngine, name: &str, tag: Option<&str>) -> String {
    ok(
        engine,
        &[
            "run",
            "--name",
            name,
            "-v",
            "/usr:/usr:ro",
            IMAGE,
            "/usr/bin/sh",
            "-c",
            "/usr/bin/head -c 200000 /dev/urandom > /blob",
        ],
    );
    let mut args = vec!["commit", name];
    if let Some(tag) = tag {
        args.push(tag);
    }
    let id = ok(engine, &args);
    ok(engine, &["rm", name]);
    id
}

fn prune(engine: &SecondEngine, dir: &std::path::Path, args: &[&str]) -> (i32, Value, String) {
    let output = run(support::gymops(dir)
        .env("DOCKER_HOST", engine.address())
        .arg("prune")
        .args(args)
        .args(["-o", "json"]));
    let stderr = text(&output.stderr);
    let value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap(), value, stderr)
}

fn names(report: &Value, kind: &str) -> BTreeSet<String> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == kind)
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn prune_removes_what_docker_system_prune_would_but_never_the_deployment_a_volume_or_a_release() {
    let engine = SecondEngine::start();
    // The deployment: a compose-labelled container and one found by its explicit name,
    // both stopped, on the deployment's network.
    ok(
        &engine,
        &[
            "network",
            "create",
            "--label",
            "com.docker.compose.project=gym",
            "gym_default",
        ],
    );
    ok(
        &engine,
        &[
            "create",
            "--name",
            "gym_app_1",
            "--network",
            "gym_default",
            "--label",
            "com.docker.compose.project=gym",
            "--label",
            "com.docker.compose.service=app",
            IMAGE,
            "/usr/bin/true",
        ],
    );
    ok(
        &engine,
        &["create", "--name", "minio", IMAGE, "/usr/bin/true"],
    );
    // Not the deployment's: a stopped job on a network of its own, an empty network, a
    // running tool on a third.
    ok(&engine, &["network", "create", "jobs"]);
    ok(&engine, &["network", "create", "leftover"]);
    ok(&engine, &["network", "create", "tools"]);
    ok(
        &engine,
        &[
            "create",
            "--name",
            "old_job",
            "--network",
            "jobs",
            IMAGE,
            "/usr/bin/true",
        ],
    );
    sleeper(&engine, "tool", &["--network", "tools"]);
    // Images: one dangling, one unused with a tag, one a release keeps.
    let dangling = image(&engine, "scratch1", None);
    image(&engine, "scratch2", Some("unused:7"));
    image(
        &engine,
        "scratch3",
        Some("gymops-release/gym-app:20261129-050000"),
    );
    ok(&engine, &["volume", "create", "data"]);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gymops.yaml"),
        "project: gym\nservices:\n  app: {}\n  minio: {container: minio}\n",
    )
    .unwrap();

    // --dry-run: the plan, nothing removed.
    let (code, plan, stderr) = prune(&engine, dir.path(), &["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(names(&plan, "container"), set(&["old_job"]));
    assert_eq!(names(&plan, "network"), set(&["jobs", "leftover"]));
    let short: String = dangling
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    assert_eq!(names(&plan, "image"), set(&[&format!("<none> ({short})")]));
    let image_bytes = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "image")
        .unwrap()["bytes"]
        .as_u64()
        .unwrap();
    assert!(image_bytes >= 200_000, "the image's own layer: {plan}");
    assert!(plan["reclaimed_bytes"].as_u64().unwrap() >= image_bytes);
    assert!(ok(&engine, &["ps", "-aq", "--filter", "name=old_job"]).len() >= 12);

    // --images all without --yes: refused, nothing changed.
    let (code, _, stderr) = prune(&engine, dir.path(), &["--images", "all"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("--images all") && stderr.contains("--dry-run"),
        "{stderr}"
    );
    assert!(!ok(&engine, &["ps", "-aq", "--filter", "name=old_job"]).is_empty());

    // The run removes exactly the plan.
    let (code, done, stderr) = prune(&engine, dir.path(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(names(&done, "container"), names(&plan, "container"));
    assert_eq!(names(&done, "network"), names(&plan, "network"));
    assert_eq!(names(&done, "image"), names(&plan, "image"));
    assert!(done["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["removed"] == true));
    assert_eq!(done["reclaimed_bytes"], plan["reclaimed_bytes"]);
    let containers = ok(&engine, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(
        containers
            .lines()
            .map(str::to_string)
            .collect::<BTreeSet<_>>(),
        set(&["gym_app_1", "minio", "tool"])
    );
    let networks = ok(&engine, &["network", "ls", "--format", "{{.Name}}"]);
    let networks: BTreeSet<String> = networks.lines().map(str::to_string).collect();
    assert!(
        networks.contains("gym_default") && networks.contains("tools"),
        "{networks:?}"
    );
    assert!(
        !networks.contains("jobs") && !networks.contains("leftover"),
        "{networks:?}"
    );
    assert_eq!(
        ok(&engine, &["volume", "ls", "-q"]),
        "data",
        "a volume is never pruned"
    );
    assert!(!engine
        .docker(&["image", "inspect", &dangling])
        .status
        .success());

    // Again: nothing left to do.
    let (code, again, _) = prune(&engine, dir.path(), &[]);
    assert_eq!((code, again["items"].as_array().unwrap().len()), (0, 0));
    let table = run(support::gymops(dir.path())
        .env("DOCKER_HOST", engine.address())
        .args(["prune", "--dry-run"]));
    assert_eq!(text(&table.stdout), "nothing to prune\n");

    // --images all --yes: the unused tagged image goes, the release's never.
    let (code, all, stderr) = prune(&engine, dir.path(), &["--images", "all", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(names(&all, "image"), set(&["unused:7"]));
    let images = ok(
        &engine,
        &["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
    );
    assert!(
        images.contains("gymops-release/gym-app:20261129-050000"),
        "{images}"
    );
    assert!(images.contains(IMAGE), "the base image is in use: {images}");
    assert!(!images.contains("unused:7"), "{images}");
}
