//! Rendering a merged configuration as TOML (`--print-config`).

use serde::Serialize;

/// Serializes a configuration struct to TOML.
///
/// Unset optional keys are left out, which loads back as unset.
pub(crate) fn to_toml<T: Serialize>(config: &T) -> String {
    // The configuration types hold only strings, numbers, booleans, lists and
    // nested tables with string keys, all of which TOML represents.
    toml::to_string(config).expect("configuration types always serialize to TOML")
}
