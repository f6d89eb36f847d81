//! Turning figment's errors into [`Problem`]s that read well on a terminal:
//! the key as written in TOML, the value, what is allowed, and which layer
//! (file, environment variable, flag) supplied it.

use figment::error::Kind;
use figment::{Figment, Metadata, Profile, Source};

use crate::error::{ConfigError, Problem};

/// How the environment layer is named in messages; the layers name it so
/// too, and the report recognises it by it.
pub(crate) const ENV_NAME: &str = "environment variable";

/// Converts every error in figment's chain into a problem.
pub(crate) fn from_figment(error: figment::Error, figment: &Figment) -> ConfigError {
    ConfigError::Invalid(error.into_iter().map(|e| problem(e, figment)).collect())
}

/// Fills in, for problems found by `validate()`, which layer set the value.
pub(crate) fn with_origins(error: ConfigError, figment: &Figment) -> ConfigError {
    match error {
        ConfigError::Invalid(problems) => ConfigError::Invalid(
            problems
                .into_iter()
                .map(|mut problem| {
                    if problem.origin.is_none() && problem.value.is_some() {
                        problem.origin = origin_of(figment, &problem.key);
                    }
                    problem
                })
                .collect(),
        ),
        other => other,
    }
}

fn problem(error: figment::Error, figment: &Figment) -> Problem {
    let path: Vec<&str> = error.path.iter().map(String::as_str).collect();
    let key = path.join(".");
    let error_origin = error.metadata.as_ref().map(|md| describe(md, &path));
    let (key, value, message, origin) = match &error.kind {
        Kind::UnknownField(field, expected) => {
            // figment's path usually already ends with the unknown key.
            let table = match path.split_last() {
                Some((last, parent)) if last == field => parent.join("."),
                _ => key.clone(),
            };
            let full_key = join(&table, field);
            let scope = if table.is_empty() {
                "the top level".to_owned()
            } else {
                format!("[{table}]")
            };
            let hint = closest(field, expected)
                .map(|name| format!(" (did you mean `{name}`?)"))
                .unwrap_or_default();
            let message = format!(
                "unknown key{hint}; {scope} accepts: {}",
                expected.join(", ")
            );
            // The error's own metadata belongs to the enclosing table; the
            // misspelt key itself knows which layer brought it in.
            let origin = origin_of(figment, &full_key).or(error_origin);
            (full_key, None, message, origin)
        }
        Kind::UnknownVariant(found, expected) => {
            let message = format!("unknown value; allowed: {}", expected.join(", "));
            (key, Some(format!("{found:?}")), message, error_origin)
        }
        Kind::InvalidType(found, expected) | Kind::InvalidValue(found, expected) => {
            let value = value_of(figment, &key).unwrap_or_else(|| found.to_string());
            (
                key,
                Some(value),
                format!("expected {expected}"),
                error_origin,
            )
        }
        Kind::Message(message) => {
            let value = value_of(figment, &key);
            (key, value, message.clone(), error_origin)
        }
        other => {
            let value = value_of(figment, &key);
            (key, value, other.to_string(), error_origin)
        }
    };
    Problem {
        key,
        value,
        message,
        origin,
    }
}

/// Names the layer a key's value came from.
fn origin_of(figment: &Figment, key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let path: Vec<&str> = key.split('.').collect();
    figment.find_metadata(key).map(|md| describe(md, &path))
}

/// `config file <path>`, `environment variable SAMSYN_X__Y`, or the layer's name.
fn describe(md: &Metadata, path: &[&str]) -> String {
    match &md.source {
        Some(Source::File(file)) => format!("config file {}", file.display()),
        _ if md.name == ENV_NAME && !path.is_empty() => {
            format!("{ENV_NAME} {}", md.interpolate(&Profile::Default, path))
        }
        _ => md.name.to_string(),
    }
}

/// The merged value at `key`, rendered compactly (strings quoted, lists bracketed).
fn value_of(figment: &Figment, key: &str) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    let value = figment.find_value(key).ok()?;
    serde_json::to_string(&value).ok()
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The expected name within two edits of `found`, if there is one.
fn closest<'a>(found: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|name| (edit_distance(found, name), *name))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance, for typo hints on short key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_hint_finds_near_names_only() {
        let expected = ["udp_port", "addresses", "public_addresses"];
        assert_eq!(closest("udp_prot", &expected), Some("udp_port"));
        assert_eq!(closest("adresses", &expected), Some("addresses"));
        assert_eq!(closest("bitrate", &expected), None);
    }
}
