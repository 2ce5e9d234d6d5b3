//! Which container is a service? Pure logic over the engine's container list.

use std::collections::HashMap;

use serde::Serialize;

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";

/// What the resolver needs to know of a container.
#[derive(Debug, Clone, Default)]
pub struct ContainerRef {
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
}

/// How a service was matched to its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// `services.NAME.container` in settings (compose `container_name`).
    ExplicitName,
    /// `com.docker.compose.project` / `.service` labels.
    ComposeLabels,
    /// docker-compose v1 name `project_service_1`.
    ComposeV1Name,
    /// docker compose v2 name `project-service-1`.
    ComposeV2Name,
    /// A task of the stack's swarm service `project_service` on this engine.
    SwarmTask,
}

/// Compose's normalisation of a project name: lower case, only `a-z 0-9 _ -`.
pub fn normalize_project(project: &str) -> String {
    project
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect()
}

/// Find the container of `service`: the explicit name first (the operator said so), then
/// compose labels (running first, then the lowest container number; one-off `run`
/// containers never count), then the v1 and v2 default names.
pub fn resolve<'a>(
    project: &str,
    service: &str,
    explicit_name: Option<&str>,
    containers: &'a [ContainerRef],
) -> Option<(&'a ContainerRef, Resolution)> {
    if let Some(name) = explicit_name {
        if let Some(found) = containers.iter().find(|c| c.name == name) {
            return Some((found, Resolution::ExplicitName));
        }
    }
    let project = normalize_project(project);
    let labelled = containers
        .iter()
        .filter(|c| {
            c.labels.get(LABEL_PROJECT).map(|p| normalize_project(p)) == Some(project.clone())
                && c.labels.get(LABEL_SERVICE).map(String::as_str) == Some(service)
                && !c
                    .labels
                    .get(LABEL_ONEOFF)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        })
        .min_by_key(|c| {
            let number: u32 = c
                .labels
                .get(LABEL_NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(u32::MAX);
            (!c.running, number)
        });
    if let Some(found) = labelled {
        return Some((found, Resolution::ComposeLabels));
    }
    let v1 = format!("{project}_{service}_1");
    if let Some(found) = containers.iter().find(|c| c.name == v1) {
        return Some((found, Resolution::ComposeV1Name));
    }
    let v2 = format!("{project}-{service}-1");
    containers
        .iter()
        .find(|c| c.name == v2)
        .map(|found| (found, Resolution::ComposeV2Name))
}

/// Every container of `service`: the explicit name alone when it is there, else every
/// replica by compose labels (lowest container number first, a running one before a
/// stopped one of the same number), else the v1 or v2 default name. With each: how it was
/// found and its container number.
pub fn resolve_all<'a>(
    project: &str,
    service: &str,
    explicit_name: Option<&str>,
    containers: &'a [ContainerRef],
) -> Vec<(&'a ContainerRef, Resolution, u32)> {
    let number = |c: &ContainerRef| -> u32 {
        c.labels
            .get(LABEL_NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    };
    match resolve(project, service, explicit_name, containers) {
        Some((found, Resolution::ComposeLabels)) => {
            let normalized = normalize_project(project);
            let mut all: Vec<&ContainerRef> = containers
                .iter()
                .filter(|c| {
                    c.labels.get(LABEL_PROJECT).map(|p| normalize_project(p))
                        == Some(normalized.clone())
                        && c.labels.get(LABEL_SERVICE).map(String::as_str) == Some(service)
                        && !c
                            .labels
                            .get(LABEL_ONEOFF)
                            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                })
                .collect();
            all.sort_by_key(|c| (number(c), !c.running, c.name.clone()));
            all.dedup_by_key(|c| number(c));
            if all.first().map(|c| c.id.as_str()) != Some(found.id.as_str()) {
                // The resolver's choice (a running one first) leads.
                all.retain(|c| c.id != found.id);
                all.insert(0, found);
            }
            all.into_iter()
                .map(|c| (c, Resolution::ComposeLabels, number(c)))
                .collect()
        }
        Some((found, resolution)) => vec![(found, resolution, number(found))],
        None => Vec::new(),
    }
}

/// The names tried for a service, for "not found" messages.
pub fn candidate_names(project: &str, service: &str, explicit_name: Option<&str>) -> Vec<String> {
    let project = normalize_project(project);
    let mut names: Vec<String> = explicit_name.map(str::to_string).into_iter().collect();
    names.push(format!("labels {project}/{service}"));
    names.push(format!("{project}_{service}_1"));
    names.push(format!("{project}-{service}-1"));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, labels: &[(&str, &str)], running: bool) -> ContainerRef {
        ContainerRef {
            id: format!("id-{name}"),
            name: name.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            running,
        }
    }

    #[test]
    fn every_replica_is_found_in_number_order() {
        let labels = |n: &'static str| {
            vec![
                (LABEL_PROJECT, "gym"),
                (LABEL_SERVICE, "api"),
                (LABEL_NUMBER, n),
            ]
        };
        let containers = [
            container("gym_api_3", &labels("3"), true),
            container("gym_api_1", &labels("1"), true),
            container("gym_api_2", &labels("2"), false),
        ];
        let found: Vec<(String, u32)> = resolve_all("gym", "api", None, &containers)
            .into_iter()
            .map(|(c, _, n)| (c.name.clone(), n))
            .collect();
        assert_eq!(
            found,
            [
                ("gym_api_1".to_string(), 1),
                ("gym_api_2".to_string(), 2),
                ("gym_api_3".to_string(), 3)
            ]
        );
        assert!(resolve_all("gym", "db", None, &containers).is_empty());
    }

    #[test]
    fn the_explicit_name_wins_over_labels() {
        let containers = [
            container(
                "gym_backend_1",
                &[(LABEL_PROJECT, "gym"), (LABEL_SERVICE, "backend")],
                true,
            ),
            container("fitness_gym_backend", &[], true),
        ];
        let (found, how) =
            resolve("gym", "backend", Some("fitness_gym_backend"), &containers).unwrap();
        assert_eq!(
            (found.name.as_str(), how),
            ("fitness_gym_backend", Resolution::ExplicitName)
        );
    }

    #[test]
    fn labels_prefer_running_then_lowest_number_and_skip_one_off_containers() {
        let containers = [
            container(
                "a",
                &[
                    (LABEL_PROJECT, "gym"),
                    (LABEL_SERVICE, "backend"),
                    (LABEL_NUMBER, "1"),
                ],
                false,
            ),
            container(
                "b",
                &[
                    (LABEL_PROJECT, "gym"),
                    (LABEL_SERVICE, "backend"),
                    (LABEL_NUMBER, "3"),
                ],
                true,
            ),
            container(
                "c",
                &[
                    (LABEL_PROJECT, "gym"),
                    (LABEL_SERVICE, "backend"),
                    (LABEL_NUMBER, "2"),
                ],
                true,
            ),
            container(
                "d",
                &[
                    (LABEL_PROJECT, "gym"),
                    (LABEL_SERVICE, "backend"),
                    (LABEL_ONEOFF, "True"),
                ],
                true,
            ),
        ];
        let (found, how) = resolve("gym", "backend", Some("missing"), &containers).unwrap();
        assert_eq!((found.name.as_str(), how), ("c", Resolution::ComposeLabels));
    }

    #[test]
    fn v1_and_v2_names_are_the_fallback_and_the_project_is_normalised() {
        let v1 = [container("fitness_gym_postgres_1", &[], true)];
        assert_eq!(
            resolve("Fitness_Gym", "postgres", None, &v1).unwrap().1,
            Resolution::ComposeV1Name
        );
        let v2 = [container("fitness_gym-postgres-1", &[], true)];
        assert_eq!(
            resolve("fitness_gym", "postgres", None, &v2).unwrap().1,
            Resolution::ComposeV2Name
        );
        assert!(resolve("other", "postgres", None, &v2).is_none());
    }

    #[test]
    fn another_projects_service_is_not_ours() {
        let containers = [container(
            "x",
            &[(LABEL_PROJECT, "shop"), (LABEL_SERVICE, "backend")],
            true,
        )];
        assert!(resolve("gym", "backend", None, &containers).is_none());
    }
}
