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
