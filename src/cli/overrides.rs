//! What each command's arguments override in the settings: every argument struct with a
//! flag that sets a setting says so here, typed ([`FlagValue`], [`FlagSecret`]); the
//! settings loader applies them as the flags layer.

use super::*;
use crate::settings::{Channel, FlagSecret, FlagValue, Overrides, Secret};

impl Cli {
    /// The settings the flags of this command line set.
    pub fn overrides(&self) -> Overrides {
        let mut overrides = Overrides {
            config: self.global.config.clone(),
            environment: self.global.environment.clone(),
            site: self.global.site.clone(),
            ..Overrides::default()
        };
        if let Some(name) = &self.global.context {
            overrides
                .values
                .push(FlagValue::DockerContext(name.clone()));
        }
        match &self.command {
            Command::Health(args) => args.override_settings(&mut overrides),
            Command::Perf(PerfCommand::Db(args)) => {
                overrides.db_connection = args.db_connection.url.clone();
            }
            Command::Db(DbCommand::Maintain(operation)) => {
                let target = match operation {
                    MaintainCommand::Vacuum(args) => &args.target,
                    MaintainCommand::Analyze(target) => target,
                    MaintainCommand::Reindex(args) => &args.target,
                };
                overrides.db_connection = target.db_connection.url.clone();
            }
            Command::Backup(command) => {
                let (dir, target) = match command {
                    BackupCommand::Create(a) => (&a.dir, Some(&a.target)),
                    BackupCommand::List(a) => (&a.dir, None),
                    BackupCommand::Verify(a) => (&a.dir, Some(&a.target)),
                    BackupCommand::Monitor(a) => (&a.dir, None),
                    BackupCommand::Prune(a) => (&a.dir, None),
                    BackupCommand::Restore(a) => (&a.dir, Some(&a.target)),
                    BackupCommand::Wal(wal) => match wal {
                        BackupWalCommand::Start(a) => (&a.dir, None),
                        BackupWalCommand::Stop(a) => (&a.dir, None),
                        BackupWalCommand::Status(a) | BackupWalCommand::Archive(a) => {
                            (&a.dir, None)
                        }
                    },
                };
                dir.override_settings(&mut overrides);
                if let Some(target) = target {
                    overrides.db_connection = target.db_connection.url.clone();
                }
            }
            Command::Dr(DrCommand::Drill(args)) => args.dir.override_settings(&mut overrides),
            Command::Alert(AlertCommand::Send(args)) => args.override_settings(&mut overrides),
            _ => {}
        }
        overrides
    }
}

impl HealthArgs {
    /// `--timeout` is health.timeout; `--db-connection` the PostgreSQL settings.
    fn override_settings(&self, overrides: &mut Overrides) {
        if let Some(timeout) = self.timeout {
            overrides.values.push(FlagValue::HealthTimeout(timeout));
        }
        overrides.db_connection = self.db_connection.url.clone();
    }
}

impl BackupDirArg {
    /// `--dir` is backup.dir, relative to where the command runs.
    fn override_settings(&self, overrides: &mut Overrides) {
        if let Some(dir) = &self.dir {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            overrides.values.push(FlagValue::BackupDir(dir));
        }
    }
}

impl AlertSendArgs {
    /// `--webhook-url` is the Slack or generic webhook's URL; `--to` notify.email.to.
    fn override_settings(&self, overrides: &mut Overrides) {
        if let Some(url) = &self.webhook_url {
            let secret = Secret::new(url.clone());
            overrides
                .secrets
                .push(if self.channel.contains(&Channel::Slack) {
                    FlagSecret::SlackWebhookUrl(secret)
                } else {
                    FlagSecret::WebhookUrl(secret)
                });
        }
        if !self.to.is_empty() {
            overrides.values.push(FlagValue::EmailTo(self.to.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(args: &[&str]) -> Overrides {
        let mut argv = vec!["gymops"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).unwrap().overrides()
    }

    #[test]
    fn each_flag_that_sets_a_setting_says_which() {
        let o = overrides(&["--environment", "production", "health", "--timeout", "2s"]);
        assert_eq!(o.environment.as_deref(), Some("production"));
        assert_eq!(
            o.values,
            [FlagValue::HealthTimeout(std::time::Duration::from_secs(2))]
        );
        let o = overrides(&["backup", "list", "--dir", "/srv/backups"]);
        assert_eq!(o.values, [FlagValue::BackupDir("/srv/backups".into())]);
        let o = overrides(&[
            "db",
            "maintain",
            "analyze",
            "--db-connection",
            "postgres://u@h:5432/d",
        ]);
        assert_eq!(o.db_connection.as_deref(), Some("postgres://u@h:5432/d"));
        let o = overrides(&["ps"]);
        assert!(o.values.is_empty() && o.secrets.is_empty() && o.db_connection.is_none());
    }
}
