//! Layering: built-in defaults, then the TOML file or files (see
//! [`crate::discovery`]), then `SAMSYN_` environment variables, then
//! command-line flags, each overriding the one before.

use std::collections::BTreeSet;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::capture::CaptureConfig;
use crate::discovery::{
    CAPTURE_FILE_NAME, ConfigDirs, ConfigFile, DefaultFile, GATEWAY_FILE_NAME, config_files,
};
use crate::error::ConfigError;
use crate::gateway::GatewayConfig;
use crate::log::LOG_FILTER_ENV;
use crate::report::{self, ENV_NAME};

/// Prefix of every environment variable the configuration reads.
pub const ENV_PREFIX: &str = "SAMSYN_";

pub use crate::discovery::CONFIG_FILE_ENV;

/// Separator for nested keys in environment variable names:
/// `SAMSYN_MEDIA__UDP_PORT` sets `media.udp_port`.
pub const ENV_NESTING: &str = "__";

/// The environment variable of the key at `path` (`["media", "udp_port"]`:
/// `SAMSYN_MEDIA__UDP_PORT`). The environment layer names variables so in
/// its errors, and the flags' help texts name them so too.
pub(crate) fn env_var(path: &[&str]) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.join(ENV_NESTING).to_ascii_uppercase()
    )
}

pub(crate) const DEFAULTS_NAME: &str = "built-in defaults";
pub(crate) const FLAGS_NAME: &str = "command-line flags";

/// A configuration that can be loaded in layers and checked afterwards.
pub trait Layered: Serialize + DeserializeOwned + Default {
    /// The files read when none is named, lowest priority first.
    const DEFAULT_FILES: &'static [DefaultFile];

    /// Checks values against their allowed ranges; see the implementors.
    fn validate(&self) -> Result<(), ConfigError>;
}

impl Layered for GatewayConfig {
    const DEFAULT_FILES: &'static [DefaultFile] = &[DefaultFile::System(GATEWAY_FILE_NAME)];

    fn validate(&self) -> Result<(), ConfigError> {
        GatewayConfig::validate(self)
    }
}

impl Layered for CaptureConfig {
    const DEFAULT_FILES: &'static [DefaultFile] = &[
        DefaultFile::System(CAPTURE_FILE_NAME),
        DefaultFile::User(CAPTURE_FILE_NAME),
    ];

    fn validate(&self) -> Result<(), ConfigError> {
        CaptureConfig::validate(self)
    }
}

/// Loads and validates a configuration from all layers.
///
/// - `file`: the `--config` path; `None` falls back to `SAMSYN_CONFIG`, and
///   without either the default files that exist are read
///   ([`Layered::DEFAULT_FILES`], see [`crate::discovery`]). A named file
///   that is missing is an error; so is any file that cannot be read.
/// - `cli`: the flags, as a value whose unset fields are skipped when
///   serialized (`Option`s with `skip_serializing_if`), shaped like `T`.
///
/// Errors name the key, the value, what is allowed and which layer set it.
pub fn load<T: Layered>(file: Option<&Path>, cli: &impl Serialize) -> Result<T, ConfigError> {
    let figment = layers::<T>(file, cli)?;
    let config: T = extract(&figment)?;
    config
        .validate()
        .map_err(|error| report::with_origins(error, &figment))?;
    Ok(config)
}

/// Like [`load`] but without [`Layered::validate`], for showing an incomplete
/// configuration (`--print-config` before the gateway URL is known).
/// Type errors and unknown keys are still reported.
pub fn load_unvalidated<T: Layered>(
    file: Option<&Path>,
    cli: &impl Serialize,
) -> Result<T, ConfigError> {
    extract(&layers::<T>(file, cli)?)
}

fn extract<T: Layered>(figment: &Figment) -> Result<T, ConfigError> {
    // Lossy: environment values arrive as text (see `EnvLayer`), and numbers and
    // booleans are read from text where the field wants one.
    figment
        .extract_lossy()
        .map_err(|error| report::from_figment(error, figment))
}

/// The config files [`load`] reads for `T`, lowest priority first, in the
/// directories of [`ConfigDirs::from_env`].
pub fn files_to_read<T: Layered>(file: Option<&Path>) -> Result<Vec<ConfigFile>, ConfigError> {
    config_files(file, T::DEFAULT_FILES, &ConfigDirs::from_env())
}

fn layers<T: Layered>(file: Option<&Path>, cli: &impl Serialize) -> Result<Figment, ConfigError> {
    let defaults = T::default();
    let known = top_level_keys(&defaults);
    let mut figment = Figment::new().merge(Named {
        name: DEFAULTS_NAME,
        data: Serialized::defaults(defaults),
    });
    for file in files_to_read::<T>(file)? {
        figment = figment.merge(Toml::file_exact(file.path));
    }
    Ok(figment.merge(EnvLayer { known }).merge(Named {
        name: FLAGS_NAME,
        data: Serialized::defaults(cli),
    }))
}

/// The top-level keys of `T`, taken from its serialized default so the list
/// can't drift from the struct.
fn top_level_keys<T: Serialize>(defaults: &T) -> BTreeSet<String> {
    match serde_json::to_value(defaults) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(key, _)| key).collect(),
        _ => BTreeSet::new(),
    }
}

/// A provider under a readable name, so errors say "command-line flags"
/// instead of naming a Rust type.
struct Named<P> {
    name: &'static str,
    data: P,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.data.data()
    }
}

/// `SAMSYN_*` environment variables, restricted to keys the configuration has.
///
/// Differences from figment's plain `Env` provider, each for a reason:
/// - Variables whose first key segment is not a field are skipped, so
///   `SAMSYN_CONFIG` doesn't trip `deny_unknown_fields`; so is `SAMSYN_LOG`,
///   the log filter, though `log` is a table (`SAMSYN_LOG__FORMAT` is a key).
/// - Values stay text unless they are a `[list]` or `{table}`: a room named
///   `0042` must not turn into the number 42. Numbers and booleans are
///   read from the text where the field wants one (`extract_lossy`).
/// - Errors name the variable as it is spelled in the environment.
struct EnvLayer {
    known: BTreeSet<String>,
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_NAME).interpolater(|_: &Profile, keys: &[&str]| env_var(keys))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let known = self.known.clone();
        let log_filter = &LOG_FILTER_ENV[ENV_PREFIX.len()..];
        let env = Env::prefixed(ENV_PREFIX)
            .split(ENV_NESTING)
            .filter(move |key| {
                // Keys are still in the environment's case here; figment
                // lowercases them later.
                let key = key.as_str();
                let top = key.split('.').next().unwrap_or_default();
                known.contains(&top.to_ascii_lowercase()) && !key.eq_ignore_ascii_case(log_filter)
            });
        let mut dict = Dict::new();
        for (key, text) in env.iter() {
            let value = match text.parse::<Value>() {
                Ok(list @ Value::Array(..)) => list,
                Ok(table @ Value::Dict(..)) => table,
                _ => Value::from(text),
            };
            insert(&mut dict, key.as_str(), value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Inserts `value` at the dotted `path`, creating tables on the way.
fn insert(dict: &mut Dict, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            dict.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                // `SAMSYN_MEDIA=5` and `SAMSYN_MEDIA__UDP_PORT=1` together:
                // the nested key is the more specific, keep it.
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}
