//! Compose variable interpolation in values: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+replacement}`,
//! `${VAR+replacement}`, and `$$` for a literal `$`. Pure.

use std::collections::BTreeSet;

/// Where the values come from (the environment over the .env file, as compose does).
pub trait Lookup {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Lookup for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        std::collections::BTreeMap::get(self, name).map(String::as_str)
    }
}

/// What went wrong in one string.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// `${VAR:?message}` with VAR unset (or empty, for `:?`).
    Required { name: String, message: String },
    /// `${` without its `}`, or a name that is not one.
    Syntax(String),
}

/// The result of interpolating one string: the text, and the variables it used that are not
/// set (compose substitutes an empty string for them; gymops reports them).
#[derive(Debug, Default)]
pub struct Outcome {
    pub missing: BTreeSet<String>,
}

pub fn interpolate(
    text: &str,
    vars: &dyn Lookup,
    outcome: &mut Outcome,
) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| {
                Problem::Syntax(format!("`${{` without a closing `}}` in `{text}`"))
            })?;
            out.push_str(&braced(&body[..end], vars, outcome, text)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .char_indices()
                .find(|(i, c)| {
                    !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
                })
                .map(|(i, _)| i)
                .unwrap_or(after.len());
            if len == 0 {
                // A lone `$` (before a space, a quote...) stays.
                out.push('$');
                rest = after;
                continue;
            }
            let name = &after[..len];
            match vars.get(name) {
                Some(value) => out.push_str(value),
                None => {
                    outcome.missing.insert(name.to_string());
                }
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The `}` closing a `${`, allowing nested `${...}` in defaults.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    body: &str,
    vars: &dyn Lookup,
    outcome: &mut Outcome,
    text: &str,
) -> Result<String, Problem> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let name = &body[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Problem::Syntax(format!(
            "`${{{body}}}` in `{text}` does not start with a variable name"
        )));
    }
    let operator = &body[name_len..];
    let value = vars.get(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let (op, arg) = if let Some(arg) = operator.strip_prefix(":-") {
        (":-", arg)
    } else if let Some(arg) = operator.strip_prefix(":?") {
        (":?", arg)
    } else if let Some(arg) = operator.strip_prefix(":+") {
        (":+", arg)
    } else if let Some(arg) = operator.strip_prefix('-') {
        ("-", arg)
    } else if let Some(arg) = operator.strip_prefix('?') {
        ("?", arg)
    } else if let Some(arg) = operator.strip_prefix('+') {
        ("+", arg)
    } else if operator.is_empty() {
        ("", "")
    } else {
        return Err(Problem::Syntax(format!(
            "`${{{body}}}` in `{text}`: unknown operator `{operator}` (compose knows :- - :? ? :+ +)"
        )));
    };
    let nested = |arg: &str, outcome: &mut Outcome| interpolate(arg, vars, outcome);
    Ok(match op {
        "" => match value {
            Some(v) => v.to_string(),
            None => {
                outcome.missing.insert(name.to_string());
                String::new()
            }
        },
        ":-" if set_nonempty => value.unwrap_or_default().to_string(),
        ":-" => nested(arg, outcome)?,
        "-" => match value {
            Some(v) => v.to_string(),
            None => nested(arg, outcome)?,
        },
        ":?" if set_nonempty => value.unwrap_or_default().to_string(),
        "?" if value.is_some() => value.unwrap_or_default().to_string(),
        ":?" | "?" => {
            let message = nested(arg, outcome)?;
            return Err(Problem::Required {
                name: name.to_string(),
                message: if message.is_empty() {
                    format!("{name} is required")
                } else {
                    message
                },
            });
        }
        ":+" if set_nonempty => nested(arg, outcome)?,
        "+" if value.is_some() => nested(arg, outcome)?,
        _ => String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vars() -> BTreeMap<String, String> {
        [("TAG", "1.2"), ("EMPTY", ""), ("PORT", "5433")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(text: &str) -> (Result<String, Problem>, Vec<String>) {
        let mut outcome = Outcome::default();
        let result = interpolate(text, &vars(), &mut outcome);
        (result, outcome.missing.into_iter().collect())
    }

    #[test]
    fn every_form_compose_knows() {
        assert_eq!(run("gym/api:${TAG}").0.unwrap(), "gym/api:1.2");
        assert_eq!(run("gym/api:$TAG-x").0.unwrap(), "gym/api:1.2-x");
        assert_eq!(run("${NOPE:-latest}").0.unwrap(), "latest");
        assert_eq!(run("${EMPTY:-latest}").0.unwrap(), "latest");
        assert_eq!(run("${EMPTY-latest}").0.unwrap(), "");
        assert_eq!(run("${NOPE-latest}").0.unwrap(), "latest");
        assert_eq!(run("${TAG:+set}").0.unwrap(), "set");
        assert_eq!(run("${NOPE:+set}").0.unwrap(), "");
        assert_eq!(
            run("127.0.0.1:${PORT:-5432}:5432").0.unwrap(),
            "127.0.0.1:5433:5432"
        );
        assert_eq!(run("${NOPE:-${PORT}}").0.unwrap(), "5433");
        assert_eq!(
            run("pg_isready -U $${POSTGRES_USER}").0.unwrap(),
            "pg_isready -U ${POSTGRES_USER}"
        );
        assert_eq!(run("cost: 5$ each").0.unwrap(), "cost: 5$ each");
    }

    #[test]
    fn unset_variables_are_collected_and_required_ones_fail_with_their_message() {
        let (result, missing) = run("${A}/${B:-b}/$C");
        assert_eq!(result.unwrap(), "/b/");
        assert_eq!(missing, vec!["A", "C"]);
        assert_eq!(
            run("${SECRET:?set SECRET in .env}").0.unwrap_err(),
            Problem::Required {
                name: "SECRET".into(),
                message: "set SECRET in .env".into()
            }
        );
        assert!(matches!(run("${EMPTY:?}").0, Err(Problem::Required { .. })));
        assert_eq!(run("${EMPTY?}").0.unwrap(), "");
        assert!(matches!(run("${TAG").0, Err(Problem::Syntax(_))));
        assert!(matches!(run("${1X}").0, Err(Problem::Syntax(_))));
        assert!(matches!(run("${TAG/x/y}").0, Err(Problem::Syntax(_))));
    }
}
