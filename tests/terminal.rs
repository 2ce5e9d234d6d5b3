//! gymops on a real terminal (tmux): what an operator sees while a command waits.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{gymops_bin, run, text, Project};

/// A detached tmux session running `command` in `dir`, killed on drop.
struct Tmux(String);

impl Tmux {
    fn start(name: &str, dir: &std::path::Path, command: &str) -> Tmux {
        let output = run(Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "20",
                "-s",
                name,
                "-c",
            ])
            .arg(dir)
            .arg(command));
        assert!(output.status.success(), "tmux: {}", text(&output.stderr));
        Tmux(name.to_string())
    }

    fn screen(&self) -> String {
        text(&run(Command::new("tmux").args(["capture-pane", "-p", "-t", &self.0])).stdout)
    }

    /// Keys typed into the session (tmux key names: `C-c`, `q`, `Enter`).
    fn keys(&self, keys: &[&str]) {
        let output = run(Command::new("tmux")
            .args(["send-keys", "-t", &self.0])
            .args(keys));
        assert!(output.status.success(), "tmux: {}", text(&output.stderr));
    }

    /// The screen once `ready` says it is what is awaited, within `within`.
    fn wait_for(&self, within: Duration, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.screen();
            if ready(&seen) {
                return seen;
            }
            assert!(Instant::now() < deadline, "{what}; the screen:\n{seen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = run(Command::new("tmux").args(["kill-session", "-t", &self.0]));
    }
}

/// A project whose one service, `worker`, runs `sleep 600` (as PID 1 it ignores SIGTERM);
/// the project and the container's name.
fn sleeping_worker() -> (Project, String) {
    let project = Project::new();
    let container = project.run("worker", &[], &["/usr/bin/sleep", "600"]);
    project.write_config(&format!(
        "project: {}\nservices:\n  worker: {{container: null}}\n",
        project.name
    ));
    (project, container)
}

#[test]
fn stop_shows_which_container_it_waits_for_during_the_grace_period() {
    // sleep as PID 1 ignores SIGTERM: the stop takes the whole grace period.
    let (project, container) = sleeping_worker();
    let session = Tmux::start(
        &format!("gymops-stop-{}", std::process::id()),
        project.dir.path(),
        &format!("{} stop -t 4; sleep 30", gymops_bin().display()),
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    while Instant::now() < deadline {
        seen = session.screen();
        if seen.contains(&format!("stopping {container} (grace period 4s)")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.contains(&format!("stopping {container} (grace period 4s)")),
        "the screen while waiting:\n{seen}"
    );
    // Then the result, and the progress line gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        seen = session.screen();
        if seen.contains("stopped") && !seen.contains("grace period") {
            break;
        }
        assert!(Instant::now() < deadline, "after the stop:\n{seen}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn health_watch_redraws_in_place_shows_a_stopped_container_and_exits_as_its_last_round() {
    let (project, container) = sleeping_worker();
    let session = Tmux::start(
        &format!("gymops-hwatch-{}", std::process::id()),
        project.dir.path(),
        &format!(
            "{} health --check containers --watch --interval 300ms; echo exit=$?; sleep 30",
            gymops_bin().display()
        ),
    );
    let rows = |screen: &str, word: &str| {
        screen
            .lines()
            .filter(|l| l.contains("worker") && l.contains(word))
            .count()
    };
    session.wait_for(Duration::from_secs(15), "the running worker", |s| {
        rows(s, "OK") == 1
    });
    let _ = support::docker(&["kill", &container]);
    // Within two refreshes (plus the kill), the same row turns critical: redrawn in place,
    // one heading and one row on the screen, never a scroll of tables.
    let seen = session.wait_for(Duration::from_secs(5), "the killed worker", |s| {
        rows(s, "CRITICAL") == 1
    });
    assert_eq!(rows(&seen, "OK"), 0, "{seen}");
    assert_eq!(seen.matches("Ctrl+C ends").count(), 1, "{seen}");
    session.keys(&["C-c"]);
    session.wait_for(Duration::from_secs(5), "exit 2 after Ctrl-C", |s| {
        s.contains("exit=2")
    });
}

#[test]
fn monitor_every_interval_redraws_its_table_without_warning_lines_scrolling_it() {
    let project = Project::new();
    let stopped = project.run("stopped", &[], &["/usr/bin/true"]);
    let _ = support::docker(&["wait", &stopped]);
    project.write_config(&format!(
        "project: {}\nservices:\n  stopped: {{container: null}}\n",
        project.name
    ));
    let session = Tmux::start(
        &format!("gymops-mwatch-{}", std::process::id()),
        project.dir.path(),
        &format!(
            "{} monitor --interval 200ms; echo exit=$?; sleep 30",
            gymops_bin().display()
        ),
    );
    let seen = session.wait_for(Duration::from_secs(15), "the monitor's table", |s| {
        s.contains("stopped") && s.contains("Ctrl+C ends")
    });
    std::thread::sleep(Duration::from_secs(1));
    let seen_later = session.screen();
    for screen in [&seen, &seen_later] {
        assert_eq!(screen.matches("Ctrl+C ends").count(), 1, "{screen}");
        assert!(!screen.to_lowercase().contains("warning:"), "{screen}");
    }
    session.keys(&["C-c"]);
    session.wait_for(Duration::from_secs(5), "exit 2 after Ctrl-C", |s| {
        s.contains("exit=2")
    });
}

#[test]
fn the_dashboard_shows_the_services_reacts_to_keys_and_gives_the_terminal_back() {
    let project = Project::new();
    let worker = project.run(
        "worker",
        &[],
        &[
            "/usr/bin/sh",
            "-c",
            "echo hello-from-worker; exec /usr/bin/sleep 600",
        ],
    );
    let stopper = project.run("stopper", &[], &["/usr/bin/sleep", "600"]);
    let closed = support::free_port();
    project.write_config(&format!(
        "project: {}\nservices:\n  worker: {{container: null}}\n  stopper: {{container: null}}\n\
         backend:\n  url: http://127.0.0.1:{closed}/springboot1ngh61a2\n\
         postgres:\n  port: {closed}\nminio:\n  url: http://127.0.0.1:{closed}\n  console_url: http://127.0.0.1:{closed}\n\
         deploy:\n  stop_timeout: 1s\n",
        project.name
    ));
    let session = Tmux::start(
        &format!("gymops-dash-{}", std::process::id()),
        project.dir.path(),
        &format!(
            "echo before-the-dashboard; {} dashboard --interval 500ms; echo exit=$?; stty -a | grep -o -- '-*icanon'; sleep 30",
            gymops_bin().display()
        ),
    );
    let row = |screen: &str, name: &str| -> String {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .unwrap_or("")
            .to_string()
    };
    session.wait_for(Duration::from_secs(20), "both services running", |s| {
        row(s, "worker").contains("running") && row(s, "stopper").contains("running")
    });
    // A smaller terminal: redrawn to its size at once, boxes closed at its right edge.
    let resized = run(Command::new("tmux").args([
        "resize-window",
        "-t",
        &session.0,
        "-x",
        "110",
        "-y",
        "30",
    ]));
    assert!(resized.status.success(), "{}", text(&resized.stderr));
    session.wait_for(Duration::from_secs(5), "the redraw at 110 columns", |s| {
        s.lines()
            .any(|l| l.starts_with('┌') && l.ends_with('┐') && l.chars().count() == 110)
            && row(s, "worker").contains("running")
    });
    // A container that stops is critical within two refreshes (and the time to read them).
    let _ = support::docker(&["kill", &stopper]);
    let seen = session.wait_for(
        Duration::from_secs(6),
        "the stopped service critical",
        |s| {
            let line = row(s, "stopper");
            line.contains("exited") && line.contains("CRITICAL")
        },
    );
    assert!(row(&seen, "worker").contains("OK"), "{seen}");
    assert!(
        seen.contains("CRITICAL"),
        "the header says the worst: {seen}"
    );

    // / filters by name; Esc clears it.
    session.keys(&["/", "w", "o", "r", "k", "Enter"]);
    session.wait_for(Duration::from_secs(5), "only the worker", |s| {
        row(s, "worker").contains("running") && row(s, "stopper").is_empty()
    });
    session.keys(&["Escape"]);
    session.wait_for(Duration::from_secs(5), "both again", |s| {
        !row(s, "stopper").is_empty()
    });
    // ? shows the keys; any key closes it.
    session.keys(&["?"]);
    session.wait_for(Duration::from_secs(5), "the help", |s| {
        s.contains("this help")
    });
    session.keys(&["x"]);
    session.wait_for(Duration::from_secs(5), "the help closed", |s| {
        !s.contains("this help")
    });
    // l follows the selected service's log (the first row: the filter sorted nothing).
    let first = if seen.find(" stopper ").unwrap() < seen.find(" worker ").unwrap() {
        "stopper"
    } else {
        "worker"
    };
    if first == "stopper" {
        session.keys(&["j"]);
    }
    session.keys(&["l"]);
    session.wait_for(Duration::from_secs(5), "the worker's log", |s| {
        s.contains("log of worker") && s.contains("hello-from-worker")
    });
    session.keys(&["l"]);
    // r asks first; y restarts the worker.
    let started = support::docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &worker]);
    session.keys(&["r"]);
    session.wait_for(Duration::from_secs(5), "the question", |s| {
        s.contains("restart worker? y / n")
    });
    session.keys(&["y"]);
    session.wait_for(Duration::from_secs(15), "the restart done", |s| {
        s.contains("worker restarted")
    });
    let restarted = support::docker_ok(&["inspect", "-f", "{{.State.StartedAt}}", &worker]);
    assert_ne!(
        started, restarted,
        "the worker's container was started again"
    );

    // q: exit 0, the screen as it was before (the alternate screen left), the tty not raw.
    session.keys(&["q"]);
    let after = session.wait_for(
        Duration::from_secs(5),
        "the shell after the dashboard",
        // stty's line comes a moment after exit=0.
        |s| s.contains("exit=0") && s.lines().any(|l| l.trim().ends_with("icanon")),
    );
    assert!(after.contains("before-the-dashboard"), "{after}");
    assert!(!after.contains("probes"), "{after}");
    assert!(
        after.lines().any(|l| l.trim() == "icanon"),
        "the terminal is back in canonical mode: {after}"
    );
}

#[test]
fn the_dashboard_refuses_without_a_terminal_and_ends_on_ctrl_c_with_the_terminal_restored() {
    let (project, _) = sleeping_worker();
    let output = run(project.gymops().arg("dashboard"));
    assert_eq!(output.status.code(), Some(3));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: gymops dashboard needs a terminal"),
        "{stderr}"
    );
    assert!(stderr.contains("health --watch"), "{stderr}");
    assert!(output.stdout.is_empty());

    let session = Tmux::start(
        &format!("gymops-dashc-{}", std::process::id()),
        project.dir.path(),
        &format!(
            "{} --lang zh dashboard; echo exit=$?; stty -a | grep -o -- '-*icanon'; sleep 30",
            gymops_bin().display()
        ),
    );
    // In the language of the run: Chinese panels and column heads.
    session.wait_for(Duration::from_secs(20), "the dashboard in Chinese", |s| {
        s.contains("worker") && s.contains("服务") && s.contains("探测") && s.contains("内存历史")
    });
    session.keys(&["C-c"]);
    // Wait for stty's line too: it comes a moment after exit=0.
    let after = session.wait_for(Duration::from_secs(5), "the shell", |s| {
        s.contains("exit=0") && s.lines().any(|l| l.trim().ends_with("icanon"))
    });
    assert!(after.lines().any(|l| l.trim() == "icanon"), "{after}");
}
