//! Errors for people: one line with the cause chain, then a `hint:` line saying what to do.

use std::fmt;

/// A hint attached to an error with [`HintExt::hint`]. It travels in the anyhow chain and
/// is printed on its own line, never as part of the message.
#[derive(Debug)]
pub struct Hint(pub String);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Hint {}

pub trait HintExt<T> {
    /// Attach a hint telling the operator how to fix the error.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintExt<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|err| err.into().context(Hint(hint.into())))
    }
}

/// The message line (`a: b: c`, hints left out, repeated causes dropped) and the hint.
pub fn describe(err: &anyhow::Error) -> (String, Option<String>) {
    describe_with(err, false)
}

/// [`describe`] for people: each cause and the hint in the language of the run.
pub fn describe_localized(err: &anyhow::Error) -> (String, Option<String>) {
    describe_with(err, true)
}

fn describe_with(err: &anyhow::Error, localized: bool) -> (String, Option<String>) {
    // anyhow finds a context of type Hint anywhere in a chain built with `.context()`.
    let hint = err.downcast_ref::<Hint>().map(|h| h.0.clone());
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        let text = text.trim().to_string();
        if hint.as_deref() == Some(text.as_str()) {
            continue;
        }
        // Libraries often repeat their source in their own message; keep each once.
        if text.is_empty() || parts.iter().any(|p| p.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    if !localized || crate::i18n::current() == crate::i18n::Lang::En {
        return (parts.join(": "), hint);
    }
    let parts: Vec<String> = parts.iter().map(|part| crate::i18n::text(part)).collect();
    (parts.join("："), hint.map(|hint| crate::i18n::text(&hint)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{anyhow, Context};

    #[test]
    fn the_hint_is_taken_out_of_the_chain_and_causes_are_joined() {
        let err: anyhow::Result<()> = Err(anyhow!("connection refused"));
        let err = err
            .hint("start the engine")
            .context("cannot reach Docker at unix:///var/run/docker.sock")
            .unwrap_err();
        let (message, hint) = describe(&err);
        assert_eq!(
            message,
            "cannot reach Docker at unix:///var/run/docker.sock: connection refused"
        );
        assert_eq!(hint.as_deref(), Some("start the engine"));
    }
}
