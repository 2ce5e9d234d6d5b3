//! Settings as a flat map of dotted keys (`backend.url`), so that layers can be merged
//! key by key and every key can say where its value came from.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

pub type FlatMap = BTreeMap<String, Value>;

/// Flatten `value` into dotted keys. Mappings are walked; scalars and sequences are leaves.
/// A null where `shape` (the defaults) has a mapping is "nothing said" and yields no key.
pub fn flatten(value: &Value, shape: &Value) -> FlatMap {
    let mut out = FlatMap::new();
    walk(value, Some(shape), String::new(), &mut out);
    out
}

fn walk(value: &Value, shape: Option<&Value>, prefix: String, out: &mut FlatMap) {
    match value {
        // An empty mapping the defaults do not know (`worker: {}` under services) is an
        // entry of its own, with default fields.
        Value::Mapping(map) if map.is_empty() && shape.is_none() && !prefix.is_empty() => {
            out.insert(prefix, value.clone());
        }
        Value::Mapping(map) => {
            for (key, child) in map {
                let key = match key {
                    Value::String(s) => s.clone(),
                    other => yaml_scalar_text(other),
                };
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let child_shape = shape.and_then(|s| s.get(key.as_str()));
                walk(child, child_shape, path, out);
            }
        }
        Value::Null if matches!(shape, Some(Value::Mapping(_))) => {}
        Value::Tagged(tagged) => walk(&tagged.value, shape, prefix, out),
        leaf => {
            if !prefix.is_empty() {
                out.insert(prefix, leaf.clone());
            }
        }
    }
}

/// Rebuild the nested value from dotted keys.
pub fn unflatten(flat: &FlatMap) -> Value {
    let mut root = Mapping::new();
    for (key, value) in flat {
        let mut node = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let entry = node
                .entry(Value::String((*part).to_string()))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if !entry.is_mapping() {
                *entry = Value::Mapping(Mapping::new());
            }
            node = entry.as_mapping_mut().expect("just made a mapping");
        }
        node.insert(
            Value::String(parts[parts.len() - 1].to_string()),
            value.clone(),
        );
    }
    Value::Mapping(root)
}

/// A scalar as an operator would type it (`5s`, `5432`, `true`), for tables.
pub fn yaml_scalar_text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items
            .iter()
            .map(yaml_scalar_text)
            .collect::<Vec<_>>()
            .join(", "),
        Value::Mapping(_) | Value::Tagged(_) => serde_yaml::to_string(value)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The name of the environment variable for a dotted key: `backend.endpoints.health_db`
/// -> `GYMOPS_BACKEND_ENDPOINTS_HEALTH_DB`.
pub fn env_var_name(key: &str) -> String {
    let mut name = String::from("GYMOPS_");
    for c in key.chars() {
        name.push(match c {
            '.' | '-' => '_',
            c => c.to_ascii_uppercase(),
        });
    }
    name
}

/// Type a raw string (from an environment variable or the .env file) like the default
/// value it replaces: numbers stay numbers, booleans booleans, lists are comma-separated.
pub fn typed_like(raw: &str, default: &Value) -> Result<Value, String> {
    match default {
        Value::Number(_) => {
            if let Ok(n) = raw.trim().parse::<i64>() {
                Ok(Value::Number(n.into()))
            } else if let Ok(f) = raw.trim().parse::<f64>() {
                Ok(Value::Number(f.into()))
            } else {
                Err(format!("expected a number, got {raw:?}"))
            }
        }
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        },
        Value::Sequence(_) => Ok(Value::Sequence(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )),
        _ => Ok(Value::String(raw.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn flatten_then_unflatten_round_trips() {
        let value = yaml("a: {b: 1, c: [x, y]}\nd: text\ne: null");
        let flat = flatten(&value, &Value::Null);
        assert_eq!(
            flat.keys().cloned().collect::<Vec<_>>(),
            vec!["a.b", "a.c", "d", "e"]
        );
        assert_eq!(unflatten(&flat), value);
    }

    #[test]
    fn a_null_section_says_nothing_but_a_null_leaf_clears_the_value() {
        let shape = yaml("backend: {url: x}\npostgres: {password_file: null}");
        let flat = flatten(&yaml("backend:\npostgres: {password_file: null}"), &shape);
        assert_eq!(
            flat.keys().cloned().collect::<Vec<_>>(),
            vec!["postgres.password_file"]
        );
    }

    #[test]
    fn env_var_names_are_upper_snake_case_with_the_prefix() {
        assert_eq!(
            env_var_name("backend.endpoints.health_db"),
            "GYMOPS_BACKEND_ENDPOINTS_HEALTH_DB"
        );
        assert_eq!(
            env_var_name("services.my-app.container"),
            "GYMOPS_SERVICES_MY_APP_CONTAINER"
        );
    }

    #[test]
    fn raw_strings_take_the_type_of_the_default() {
        assert_eq!(typed_like("5433", &yaml("5432")).unwrap(), yaml("5433"));
        assert_eq!(
            typed_like("yes", &yaml("false")).unwrap(),
            Value::Bool(true)
        );
        assert_eq!(
            typed_like("a.yml, b.yml", &yaml("[x]")).unwrap(),
            yaml("[a.yml, b.yml]")
        );
        assert_eq!(
            typed_like("12345", &Value::Null).unwrap(),
            Value::String("12345".into())
        );
        assert!(typed_like("54x", &yaml("5432"))
            .unwrap_err()
            .contains("expected a number"));
    }
}
