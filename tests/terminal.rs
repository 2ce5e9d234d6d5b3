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

#[test]
fn stop_shows_which_container_it_waits_for_during_the_grace_period() {
    let project = Project::new();
    // sleep as PID 1 ignores SIGTERM: the stop takes the whole grace period.
    let container = project.run("worker", &[], &["/usr/bin/sleep", "600"]);
    project.write_config(&format!(
        "project: {}\nservices:\n  worker: {{container: null}}\n",
        project.name
    ));
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
    let project = Project::new();
    let container = project.run("worker", &[], &["/usr/bin/sleep", "600"]);
    project.write_config(&format!(
        "project: {}\nservices:\n  worker: {{container: null}}\n",
        project.name
    ));
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
