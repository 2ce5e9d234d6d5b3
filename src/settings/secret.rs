//! A secret value (password, key, webhook URL) that can never be printed by accident.

use std::fmt;

use serde::{Serialize, Serializer};

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
