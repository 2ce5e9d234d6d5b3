//! The verdict on a service's container. Pure: facts in, status out.

use crate::docker::ServiceState;
use crate::exit::Status;

/// Status and one-line summary for a service's container.
pub fn verdict(state: &ServiceState) -> (Status, String) {
    let Some(container) = &state.container else {
        return (
            Status::Critical,
            format!(
                "no container found (looked for {})",
                state.looked_for.join(", ")
            ),
        );
    };
    let oom = if container.oom_killed {
        ", OOM-killed"
    } else {
        ""
    };
    match container.state.as_str() {
        "running" => match container.health.as_deref() {
            Some("unhealthy") => {
                let output = container
                    .health_last_output
                    .as_deref()
                    .filter(|o| !o.is_empty())
                    .map(|o| format!(": {o}"))
                    .unwrap_or_default();
                let streak = container.health_failing_streak.unwrap_or(0);
                (
                    Status::Critical,
                    format!("running but unhealthy ({streak} failed checks in a row){output}"),
                )
            }
            Some("starting") => (
                Status::Warning,
                "running, healthcheck still starting".to_string(),
            ),
            health => {
                let health = health
                    .map(|h| format!(", {h}"))
                    .unwrap_or_else(|| ", no healthcheck".into());
                if container.oom_killed {
                    (
                        Status::Warning,
                        format!("running{health}; was OOM-killed before its last start"),
                    )
                } else if container.restart_count > 0 {
                    (
                        Status::Ok,
                        format!(
                            "running{health}, restarted {} times",
                            container.restart_count
                        ),
                    )
                } else {
                    (Status::Ok, format!("running{health}"))
                }
            }
        },
        "paused" => (
            Status::Critical,
            "paused: its processes are frozen".to_string(),
        ),
        "restarting" => (
            Status::Critical,
            format!(
                "restarting (restart count {}, last exit code {}{oom})",
                container.restart_count,
                container.exit_code.unwrap_or_default()
            ),
        ),
        "exited" | "dead" => {
            let error = container
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            (
                Status::Critical,
                format!(
                    "{} with exit code {}{oom}{error}",
                    container.state,
                    container.exit_code.unwrap_or_default()
                ),
            )
        }
        "created" => (Status::Critical, "created but never started".to_string()),
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
