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

    // Native memory tracking is off in this JVM: said, with how to turn it on.
    let output = run(project.gymops().args(["perf", "jvm", "--native-memory"]));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("NativeMemoryTracking=summary"), "{stderr}");

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

const SPIN: &str = r#"
public class Spin {
    static volatile long sink;
    static byte[][] keep = new byte[64][];

    public static void main(String[] args) throws Exception {
        for (int i = 0; i < keep.length; i++) keep[i] = new byte[256 * 1024];
        for (int i = 0; i < 3; i++) {
            Thread idle = new Thread(Spin::sleepForever, "idle-" + i);
            idle.setDaemon(true);
            idle.start();
        }
        Thread spinner = new Thread(Spin::spin, "busy-spinner");
        spinner.setDaemon(true);
        spinner.start();
        System.out.println("ready");
        sleepForever();
    }

    static void spin() {
        long x = 0;
        while (true) { x += System.nanoTime() % 7; sink = x; }
    }

    static void sleepForever() {
        while (true) {
            try { Thread.sleep(60_000); } catch (InterruptedException e) { return; }
        }
    }
}
"#;

#[test]
fn hot_threads_heap_histogram_gc_run_and_native_memory_of_a_real_jvm() {
    let project = Project::new();
    let bin = jdk_bin();
    std::fs::write(project.dir.path().join("Spin.java"), SPIN).unwrap();
    let source = format!(
        "{}/Spin.java:/opt/Spin.java:ro",
        project.dir.path().display()
    );
    let java = format!("{}/java", bin.display());
    let container = project.run(
        "backend",
        &["-v", &source],
        &[
            &java,
            "-Xmx128m",
            "-XX:+UseSerialGC",
            "-XX:NativeMemoryTracking=summary",
            "/opt/Spin.java",
        ],
    );
    let closed = support::free_port();
    project.write_config(&format!(
        "project: {}\nservices:\n  backend: {{container: {container}}}\nbackend:\n  url: http://127.0.0.1:{closed}/springboot1ngh61a2\n  jdk_bin_dir: {}\n",
        project.name,
        bin.display()
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !text(&support::docker(&["logs", &container]).stdout).contains("ready") {
        assert!(Instant::now() < deadline, "the JVM did not start");
        std::thread::sleep(Duration::from_millis(300));
    }
    let json = |args: &[&str]| -> serde_json::Value {
        let output = run(project
            .gymops()
            .args(["-o", "json", "perf", "jvm"])
            .args(args));
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };

    // The spinning thread comes out on top, with its stack.
    let hot = json(&["--hot-threads", "--window", "1s", "--top", "3"]);
    assert_eq!(hot["diagnosis"], "hot-threads");
    let window = hot["window_seconds"].as_f64().unwrap();
    assert!((0.9..3.0).contains(&window), "{hot:#}");
    let threads = hot["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 3);
    assert_eq!(threads[0]["name"], "busy-spinner", "{hot:#}");
    assert!(
        threads[0]["cpu_percent"].as_f64().unwrap() > 30.0,
        "{hot:#}"
    );
    assert!(
        threads[0]["frames"][0]
            .as_str()
            .unwrap()
            .starts_with("Spin.spin"),
        "{hot:#}"
    );
    assert!(threads
        .iter()
        .skip(1)
        .all(|t| t["name"].as_str() != Some("idle-0") || t["cpu_percent"].as_f64().unwrap() < 5.0));

    // The 16 MiB of byte arrays lead the heap histogram.
    let histogram = json(&["--heap-histogram", "--top", "5"]);
    let classes = histogram["classes"].as_array().unwrap();
    assert_eq!(classes.len(), 5);
    assert_eq!(classes[0]["class"], "[B", "{histogram:#}");
    assert!(classes[0]["bytes"].as_u64().unwrap() >= 16 << 20);
    assert!(histogram["total_bytes"].as_u64().unwrap() >= classes[0]["bytes"].as_u64().unwrap());

    // GC.run only with --yes.
    let output = run(project.gymops().args(["perf", "jvm", "--gc-run"]));
    assert_eq!(output.status.code(), Some(3));
    assert!(
        text(&output.stderr).contains("--yes"),
        "{}",
        text(&output.stderr)
    );
    let gc = json(&["--gc-run", "--yes"]);
    assert_eq!(gc["diagnosis"], "gc-run");
    assert!(
        gc["heap_after"]["used_bytes"].as_u64().unwrap() >= 16 << 20,
        "the kept arrays stay: {gc:#}"
    );
    assert!(
        gc["heap_after"]["used_bytes"].as_u64()
            <= gc["heap_before"]["used_bytes"]
                .as_u64()
                .map(|b| b + (1 << 20)),
        "{gc:#}"
    );

    // Native memory by category.
    let native = json(&["--native-memory"]);
    assert!(
        native["total"]["committed_bytes"].as_u64().unwrap() > 16 << 20,
        "{native:#}"
    );
    assert!(
        native["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["category"] == "Java Heap"),
        "{native:#}"
    );

    // Tables for people.
    let table = text(
        &run(project
            .gymops()
            .args(["perf", "jvm", "--hot-threads", "--window", "500ms"]))
        .stdout,
    );
    assert!(
        table.contains("busy-spinner") && table.contains("between two thread dumps"),
        "{table}"
    );
    // --top without a list to cut: refused.
    let output = run(project.gymops().args(["perf", "jvm", "--top", "3"]));
    assert_eq!(output.status.code(), Some(3));
}
