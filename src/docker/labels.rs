//! What compose and gymops write on the containers, networks and volumes they create (the
//! `com.docker.compose.*` labels docker-compose reads too), and the container creation spec
//! the engine calls take: docker-level facts that the deploy layer fills in.

use bollard::models::ContainerCreateBody;

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_WORKDIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_VERSION: &str = "com.docker.compose.version";
pub const LABEL_NETWORK: &str = "com.docker.compose.network";
pub const LABEL_VOLUME: &str = "com.docker.compose.volume";

/// Everything the create call needs, with the networks to connect after creation (the
/// engine takes one at create time).
pub struct Creation {
    pub name: String,
    pub body: ContainerCreateBody,
    /// (network, aliases) to connect after create.
    pub more_networks: Vec<(String, Vec<String>)>,
}
