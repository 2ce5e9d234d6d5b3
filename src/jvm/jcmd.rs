//! The JDK's tools (jcmd, jstat) run in the backend container through the Engine API, with
//! their output as text and a failure that says whether the tools are missing.

use std::time::Duration;

use anyhow::{anyhow, Result};

use crate::docker::Engine;
use crate::error::HintExt;

/// jcmd and jstat in one container.
pub struct Jcmd<'a> {
    pub engine: &'a Engine,
    pub container: String,
    /// Where the tools are when not on the container's PATH (backend.jdk_bin_dir).
    pub bin_dir: Option<String>,
    pub timeout: Duration,
}

impl Jcmd<'_> {
    /// Run `tool` (jcmd, jstat) with `args`; its standard output. (The arguments are taken
    /// at once, so the future holds none of them.)
    pub fn run(
        &self,
        tool: &str,
        args: &[&str],
    ) -> impl std::future::Future<Output = Result<String>> + '_ {
        let program = match &self.bin_dir {
            Some(dir) => format!("{}/{tool}", dir.trim_end_matches('/')),
            None => tool.to_string(),
        };
        let mut argv = vec![program];
        argv.extend(args.iter().map(|a| a.to_string()));
        self.run_argv(argv)
    }

    async fn run_argv(&self, argv: Vec<String>) -> Result<String> {
        let output = self
            .engine
            .exec(&self.container, &argv, 16 << 20, self.timeout)
            .await?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.exit_code != 0 {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let why = format!("{}{}", stderr.trim(), stdout.trim());
            let missing = output.exit_code == 126
                || output.exit_code == 127
                || why.contains("executable file not found")
                || why.contains("no such file");
            let err = anyhow!(
                "{} failed in {} (exit {}): {}",
                argv[0],
                self.container,
                output.exit_code,
                why.chars().take(300).collect::<String>()
            );
            return if missing {
                Err(err).hint("the backend image has no JDK tools: use a JDK image, set backend.jdk_bin_dir, or expose the actuator metrics")
            } else {
                Err(err)
            };
        }
        Ok(stdout)
    }

    /// The JVM's PID in the container (`jcmd -l`).
    pub async fn pid(&self) -> Result<String> {
        let list = self.run("jcmd", &["-l"]).await?;
        super::parse_jcmd_list(&list)
            .map(|pid| pid.to_string())
            .ok_or_else(|| anyhow!("no JVM found in {} (jcmd -l lists none)", self.container))
            .hint("is the backend a JVM running as the container's user?")
    }
}
