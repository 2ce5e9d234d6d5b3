//! What compose and gymops write on the containers, networks and volumes they create (the
//! `com.docker.compose.*` labels docker-compose reads too), and the container creation spec
//! the engine calls take: docker-level facts that the deploy layer fills in.

use bollard::models::{ContainerCreateBody, EndpointSettings};

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
/// gymops' own: the image name a container was deployed as, when it runs on the
/// `gymops-release/...` tag that keeps that image (a rollback).
pub const LABEL_IMAGE: &str = "io.gymops.image";

/// Everything the create call needs, with the networks to connect after creation (the
/// engine takes one at create time).
pub struct Creation {
    pub name: String,
    pub body: ContainerCreateBody,
    /// (network, endpoint: aliases, static addresses, links) to connect after create.
    pub more_networks: Vec<(String, EndpointSettings)>,
    /// `os/arch` to create for, when the file says.
    pub platform: Option<String>,
    /// Files put into the container after create and before start (secrets and configs
    /// with an owner or mode, or from a variable or inline content).
    pub files: Vec<FileCopy>,
}

/// One file copied into a container.
#[derive(Clone, PartialEq, Eq)]
pub struct FileCopy {
    /// Absolute path in the container.
    pub path: String,
    pub content: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

impl std::fmt::Debug for FileCopy {
    /// Never the content: it is a secret's value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCopy")
            .field("path", &self.path)
            .field("bytes", &self.content.len())
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}
