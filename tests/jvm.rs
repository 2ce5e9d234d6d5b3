//! `perf jvm`: from the stand-in backend's actuator metrics, and from a real JVM in a
//! container through jstat / jcmd (the host's JDK, bind-mounted with /usr).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::{run, text, Project, Stack};

/// A JDK's bin directory on this host (tests/run.sh installs openjdk-17-jdk-headless).
fn jdk_bin() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/jvm")
        .expect("no /usr/lib/jvm: apt-get install openjdk-17-jdk-headless")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("jcmd").exists() && bin.join("jstat").exists())
        .collect();
    candidates.sort();
    candidates
        .into_iter()
        .next()
        .expect("no JDK with jcmd and jstat under /usr/lib/jvm")
}

const IDLE: &str = r#"
public class Idle {
    static final Object LOCK = new Object();
    static byte[][] keep = new byte[64][];

    public static void main(String[] args) throws Exception {
        Thread holder = new Thread(() -> { synchronized (LOCK) { sleepForever(); } }, "lock-holder");
        holder.setDaemon(true);
        holder.start();
        Thread.sleep(300);
        for (int i = 0; i < 2; i++) {
            Thread waiter = new Thread(() -> { synchronized (LOCK) { } }, "lock-waiter-" + i);
            waiter.setDaemon(true);
            waiter.start();
        }
        for (int i = 0; i < keep.length; i++) keep[i] = new byte[256 * 1024];
        System.gc();
        System.out.println("ready");
        sleepForever();
    }

    static void sleepForever() {
        while (true) {
            try { Thread.sleep(60_000); } catch (InterruptedException e) { return; }
        }
    }
}
"#;

#[test]
fn a_real_jvm_is_read_through_jstat_and_jcmd_when_there_is_no_actuator() {
    let project = Project::new();
    let bin = jdk_bin();
    std::fs::write(project.dir.path().join("Idle.java"), IDLE).unwrap();
    let source = format!(
        "{}/Idle.java:/opt/Idle.java:ro",
        project.dir.path().display()
    );
    let java = format!("{}/java", bin.display());
    let container = project.run(
        "backend",
        &["-v", &source],
        &[&java, "-Xmx128m", "-XX:+UseSerialGC", "/opt/Idle.java"],
    );
    // No actuator answers on this port: auto falls back to the JDK tools.
    let closed = support::free_port();
    project.write_config(&format!(
        "project: {}\nservices:\n  backend: {{container: {container}}}\nbackend:\n  url: http://127.0.0.1:{closed}/springboot1ngh61a2\n  jdk_bin_dir: {}\nhealth:\n  timeout: 2s\n",
        project.name,
        bin.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let output = run(project
            .gymops()
            .args(["-o", "json", "perf", "jvm", "--threads"]));
        let stdout = text(&output.stdout);
        // "ready" comes after the JVM's System.gc(): the full collection asserted below.
        let ready = text(&support::docker(&["logs", &container]).stdout).contains("ready");
        if ready && output.status.code() != Some(3) && stdout.contains("lock-waiter") {
            // BLOCKED threads make it a warning.
            assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
            break serde_json::from_str::<serde_json::Value>(&stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the JVM never answered: {}",
            text(&output.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(report["source"].as_str().unwrap().starts_with("jcmd in "));
    assert!(report["heap"]["used_bytes"].as_u64().unwrap() > 1 << 20);
    assert_eq!(report["heap"]["max_bytes"], 128 * 1024 * 1024);
    assert!(report["non_heap"]["used_bytes"].as_u64().unwrap() > 1 << 20);
    let gc: Vec<&str> = report["gc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(gc.contains(&"young") && gc.contains(&"full"), "{gc:?}");
    let full = report["gc"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "full")
        .unwrap();
    assert!(
        full["count"].as_u64().unwrap() >= 1,
        "System.gc() ran a full collection"
    );
    assert!(report["threads"]["live"].as_u64().unwrap() >= 4);
    assert_eq!(report["threads"]["states"]["BLOCKED"], 2);
    let dump = &report["thread_dump"];
    assert_eq!(dump["blocked"].as_array().unwrap().len(), 2);
    assert!(dump["top_stacks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["state"] == "BLOCKED" && s["threads"] == 2));

    // Forcing the actuator says what to expose.
    let output = run(project
        .gymops()
        .args(["perf", "jvm", "--source", "actuator"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("management.endpoints.web.exposure.include"),
        "{stderr}"
    );
}

#[test]
fn the_actuator_is_read_when_it_is_exposed() {
    let stack = Stack::start();
    let output = run(stack
        .gymops()
        .args(["-o", "json", "perf", "jvm", "--threads"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["source"].as_str().unwrap().starts_with("actuator ("));
    // The stand-in answers per area, as Micrometer does: the tags reached it.
    assert_eq!(report["non_heap"]["used_bytes"], 50_331_648);
    assert_eq!(report["heap"]["max_bytes"], 536_870_912);
    assert!(report["heap"]["used_bytes"].as_u64().unwrap() > 0);
    assert_eq!(report["gc"][0]["name"], "end of minor GC");
    assert_eq!(report["gc"][0]["count"], 3);
    let live = report["threads"]["live"].as_u64().unwrap();
    assert!(live >= 1);
    assert_eq!(report["threads"]["states"]["RUNNABLE"], 1);
    assert_eq!(report["thread_dump"]["threads"], live);
    let table = run(stack.gymops().args(["perf", "jvm"]));
    let stdout = text(&table.stdout);
    assert!(
        stdout.contains("heap") && stdout.contains("gc end of minor GC"),
        "{stdout}"
    );
}
