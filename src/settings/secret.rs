//! Secrets: a value (password, key, webhook URL) that can never be printed by accident; the
//! settings that are secrets and where each may come from; and their resolution (the highest
//! layer wins, a secret file counting at its own layer).

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Serialize, Serializer};
use serde_yaml::Value;

use super::layers::Layers;
use super::load::{Entry, Overrides, Source};
use super::Settings;
use crate::error::HintExt;

/// The text every secret is shown as.
pub const MASK: &str = "********";

/// A secret string. `Debug`, `Display` and `Serialize` all print [`MASK`]; only
/// [`Secret::expose`] gives the value, for the one call that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call it only where the value is handed to the peer that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

/// Mask the password of a URL (`postgres://user:pw@host/db` -> `postgres://user:********@host/db`).
/// Text that is not a URL is returned unchanged.
pub fn mask_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            // set_password only fails for URLs that cannot have one, which this one has.
            let _ = url.set_password(Some(MASK));
            url.to_string()
        }
        _ => text.to_string(),
    }
}

/// A secret: never read from gymops.yaml, never printed. It comes from its environment
/// variable, a compose env file variable, a flag, or the file its `file_key` names.
pub(super) struct SecretSpec {
    pub(super) key: &'static str,
    pub(super) env: &'static str,
    pub(super) env_file_var: Option<&'static str>,
    pub(super) file_key: &'static str,
    /// A missing file is no secret rather than an error: the file is one gymops writes
    /// itself later (`monitoring init` writes the relay token).
    pub(super) file_may_be_missing: bool,
}

pub(super) const SECRETS: &[SecretSpec] = &[
    SecretSpec {
        key: "metrics.relay_token",
        env: "GYMOPS_METRICS_RELAY_TOKEN",
        env_file_var: None,
        file_key: "metrics.relay_token_file",
        file_may_be_missing: true,
    },
    SecretSpec {
        key: "postgres.password",
        env: "GYMOPS_POSTGRES_PASSWORD",
        env_file_var: Some("POSTGRES_PASSWORD"),
        file_key: "postgres.password_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.slack.webhook_url",
        env: "GYMOPS_SLACK_WEBHOOK_URL",
        env_file_var: None,
        file_key: "notify.slack.webhook_url_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.webhook.url",
        env: "GYMOPS_WEBHOOK_URL",
        env_file_var: None,
        file_key: "notify.webhook.url_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.dingtalk.webhook_url",
        env: "GYMOPS_DINGTALK_WEBHOOK_URL",
        env_file_var: None,
        file_key: "notify.dingtalk.webhook_url_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.dingtalk.secret",
        env: "GYMOPS_DINGTALK_SECRET",
        env_file_var: None,
        file_key: "notify.dingtalk.secret_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.wecom.webhook_url",
        env: "GYMOPS_WECOM_WEBHOOK_URL",
        env_file_var: None,
        file_key: "notify.wecom.webhook_url_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.feishu.webhook_url",
        env: "GYMOPS_FEISHU_WEBHOOK_URL",
        env_file_var: None,
        file_key: "notify.feishu.webhook_url_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.feishu.secret",
        env: "GYMOPS_FEISHU_SECRET",
        env_file_var: None,
        file_key: "notify.feishu.secret_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "notify.email.password",
        env: "GYMOPS_SMTP_PASSWORD",
        env_file_var: None,
        file_key: "notify.email.password_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "backup.passphrase",
        env: "GYMOPS_BACKUP_PASSPHRASE",
        env_file_var: None,
        file_key: "backup.passphrase_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "backup.s3.access_key_id",
        env: "GYMOPS_S3_ACCESS_KEY_ID",
        env_file_var: None,
        file_key: "backup.s3.access_key_id_file",
        file_may_be_missing: false,
    },
    SecretSpec {
        key: "backup.s3.secret_access_key",
        env: "GYMOPS_S3_SECRET_ACCESS_KEY",
        env_file_var: None,
        file_key: "backup.s3.secret_access_key_file",
        file_may_be_missing: false,
    },
];

pub(super) fn secret_for_env(var: &str) -> Option<&'static SecretSpec> {
    SECRETS.iter().find(|spec| spec.env == var)
}

/// The secrets: flag values join the candidates, each secret's file is read at its own
/// layer, and the highest layer wins. Sets them in `settings`; their (masked) entries.
pub(super) fn resolve(
    overrides: &Overrides,
    base_dir: &Path,
    layers: &mut Layers,
    settings: &mut Settings,
) -> Result<Vec<Entry>> {
    for given in &overrides.secrets {
        let Some(spec) = SECRETS.iter().find(|spec| spec.key == given.key()) else {
            bail!("{} is not a secret setting", given.key());
        };
        layers.add_secret(
            spec.key,
            given.value().clone(),
            Source::Flag {
                flag: "--webhook-url".into(),
            },
        );
    }
    let mut entries = Vec::new();
    for spec in SECRETS {
        // A file gymops writes itself may not be there yet (see `file_may_be_missing`).
        let file = layers
            .flat
            .get(spec.file_key)
            .and_then(|value| match value {
                Value::String(path) => Some(base_dir.join(path)),
                _ => None,
            })
            .filter(|path| !spec.file_may_be_missing || path.exists());
        if let Some(path) = file {
            let source = layers
                .sources
                .get(spec.file_key)
                .cloned()
                .unwrap_or(Source::Default);
            let text = std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "cannot read {} {} (from {source})",
                        spec.file_key,
                        path.display()
                    )
                })
                .hint(format!(
                    "point {} at a readable file holding only the secret",
                    spec.file_key
                ))?;
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            layers.add_secret(spec.key, Secret::new(value), source);
        }
        let chosen = layers
            .secrets
            .get(spec.key)
            .and_then(|candidates| candidates.iter().max_by_key(|(_, source)| source.rank()))
            .cloned();
        let secret = chosen.as_ref().map(|(secret, _)| secret.clone());
        match spec.key {
            "postgres.password" => settings.postgres.password = secret,
            "notify.slack.webhook_url" => settings.notify.slack.webhook_url = secret,
            "notify.webhook.url" => settings.notify.webhook.url = secret,
            "notify.dingtalk.webhook_url" => settings.notify.dingtalk.webhook_url = secret,
            "notify.dingtalk.secret" => settings.notify.dingtalk.secret = secret,
            "notify.wecom.webhook_url" => settings.notify.wecom.webhook_url = secret,
            "notify.feishu.webhook_url" => settings.notify.feishu.webhook_url = secret,
            "notify.feishu.secret" => settings.notify.feishu.secret = secret,
            "notify.email.password" => settings.notify.email.password = secret,
            "backup.passphrase" => settings.backup.passphrase = secret,
            "metrics.relay_token" => settings.metrics.relay_token = secret,
            "backup.s3.access_key_id" => settings.backup.s3.access_key_id = secret,
            "backup.s3.secret_access_key" => settings.backup.s3.secret_access_key = secret,
            other => bail!("secret {other} has no place in the settings"),
        }
        entries.push(Entry {
            key: spec.key.into(),
            value: if chosen.is_some() {
                MASK.into()
            } else {
                "-".into()
            },
            source: chosen.map(|(_, source)| source).unwrap_or(Source::Default),
            secret: true,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rendering_of_a_secret_is_masked() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), MASK);
        assert_eq!(format!("{secret:?}"), MASK);
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            format!("\"{MASK}\"")
        );
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_password_but_keep_the_rest() {
        assert_eq!(
            mask_url("postgres://app:hunter2@db:5432/fitness_gym"),
            format!("postgres://app:{MASK}@db:5432/fitness_gym")
        );
        assert_eq!(
            mask_url("http://localhost:8080/x"),
            "http://localhost:8080/x"
        );
        assert_eq!(mask_url("not a url"), "not a url");
    }
}
