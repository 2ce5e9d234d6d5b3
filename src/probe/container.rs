//! The verdict on a service's container. Pure: facts in, status out.

use crate::docker::ServiceState;
use crate::exit::Status;
use crate::say;

/// Status and one-line summary for a service's container (each summary a whole message,
/// so that it can be shown in the language of the run).
pub fn verdict(state: &ServiceState) -> (Status, String) {
    let Some(container) = &state.container else {
        let looked_for = state.looked_for.join(", ");
        return (
            Status::Critical,
            say!("no container found (looked for {looked_for})"),
        );
    };
    match container.state.as_str() {
        "running" => match container.health.as_deref() {
            Some("unhealthy") => {
                let streak = container.health_failing_streak.unwrap_or(0);
                let summary = match container
                    .health_last_output
                    .as_deref()
                    .filter(|o| !o.is_empty())
                {
                    Some(output) => {
                        say!("running but unhealthy ({streak} failed checks in a row): {output}")
                    }
                    None => say!("running but unhealthy ({streak} failed checks in a row)"),
                };
                (Status::Critical, summary)
            }
            Some("starting") => (Status::Warning, say!("running, healthcheck still starting")),
            health => {
                let running = match health {
                    None => say!("running, no healthcheck"),
                    Some("healthy") => say!("running, healthy"),
                    Some(health) => say!("running, {health}"),
                };
                if container.oom_killed {
                    (
                        Status::Warning,
                        say!("{running}; was OOM-killed before its last start"),
                    )
                } else if container.restart_count > 0 {
                    let count = container.restart_count;
                    (Status::Ok, say!("{running}, restarted {count} times"))
                } else {
                    (Status::Ok, running)
                }
            }
        },
        "paused" => (Status::Critical, say!("paused: its processes are frozen")),
        "restarting" => {
            let (count, code) = (
                container.restart_count,
                container.exit_code.unwrap_or_default(),
            );
            let summary = if container.oom_killed {
                say!("restarting (restart count {count}, last exit code {code}, OOM-killed)")
            } else {
                say!("restarting (restart count {count}, last exit code {code})")
            };
            (Status::Critical, summary)
        }
        "exited" | "dead" => {
            let (state, code) = (&container.state, container.exit_code.unwrap_or_default());
            let summary = match (container.oom_killed, container.error.as_deref()) {
                (false, None) => say!("{state} with exit code {code}"),
                (true, None) => say!("{state} with exit code {code}, OOM-killed"),
                (false, Some(error)) => say!("{state} with exit code {code}: {error}"),
                (true, Some(error)) => say!("{state} with exit code {code}, OOM-killed: {error}"),
            };
            (Status::Critical, summary)
        }
        "created" => (Status::Critical, say!("created but never started")),
        other => (Status::Critical, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::ContainerFacts;

    fn state(container_state: &str, health: Option<&str>) -> ServiceState {
        ServiceState {
            replica: None,
            service: "backend".into(),
            resolution: None,
            looked_for: vec![],
            container: Some(ContainerFacts {
                id: "abc".into(),
                name: "fitness_gym_backend".into(),
                image: "gym/backend:1".into(),
                state: container_state.into(),
                health: health.map(str::to_string),
                health_failing_streak: Some(3),
                health_last_output: Some("connection refused".into()),
                started_at: None,
                finished_at: None,
                restart_count: 0,
                oom_killed: false,
                exit_code: Some(137),
                error: None,
                ports: vec![],
                full_id: "abc".into(),
                pid: None,
                logging: None,
            }),
        }
    }

    #[test]
    fn running_and_healthy_or_without_healthcheck_is_ok() {
        assert_eq!(verdict(&state("running", Some("healthy"))).0, Status::Ok);
        assert_eq!(
            verdict(&state("running", None)),
            (Status::Ok, "running, no healthcheck".into())
        );
    }

    #[test]
    fn starting_is_a_warning_and_unhealthy_is_critical_with_the_check_output() {
        assert_eq!(
            verdict(&state("running", Some("starting"))).0,
            Status::Warning
        );
        let (status, summary) = verdict(&state("running", Some("unhealthy")));
        assert_eq!(status, Status::Critical);
        assert!(
            summary.contains("3 failed checks") && summary.contains("connection refused"),
            "{summary}"
        );
    }

    #[test]
    fn stopped_paused_restarting_and_missing_are_critical() {
        for container_state in ["exited", "paused", "restarting", "dead", "created"] {
            assert_eq!(
                verdict(&state(container_state, None)).0,
                Status::Critical,
                "{container_state}"
            );
        }
        let mut oom = state("exited", None);
        oom.container.as_mut().unwrap().oom_killed = true;
        assert_eq!(verdict(&oom).1, "exited with exit code 137, OOM-killed");
        let missing = ServiceState {
            replica: None,
            service: "minio".into(),
            resolution: None,
            looked_for: vec!["x".into()],
            container: None,
        };
        assert_eq!(
            verdict(&missing),
            (Status::Critical, "no container found (looked for x)".into())
        );
    }

    #[test]
    fn a_past_oom_kill_of_a_running_container_is_a_warning() {
        let mut s = state("running", Some("healthy"));
        s.container.as_mut().unwrap().oom_killed = true;
        assert_eq!(verdict(&s).0, Status::Warning);
    }
}
