//! The help texts of the flags, built from the configuration itself.
//!
//! Each flag's help says what it does in words written by hand, followed by
//! what the code knows and the words must not repeat: the environment
//! variable of the key the flag sets, and that key's default, in clap's own
//! style:
//!
//! ```text
//! --listen <IP:PORT>  Address and port of the HTTP listener [env: SAMSYN_LISTEN] [default: 127.0.0.1:8080]
//! ```
//!
//! The variable comes from the key by the rule the environment layer uses
//! ([`env_var`]), the default from the serialized `T::default()` of the
//! binary's configuration, so neither can drift from the code.
//!
//! Why not clap's own `env` and `default_value` attributes, which would
//! print the same: both make clap supply a value when the flag is absent.
//! The flags are the top layer and must only override what was given
//! ([`crate::args`]); a clap default would override the file and the
//! environment, and a variable read by clap would arrive as a flag, so
//! its errors would name "command-line flags" instead of the variable, and
//! it would be read a second time beside the environment layer. Here clap
//! only prints the text.

use serde::Serialize;
use serde_json::Value;

use crate::capture::CaptureConfig;
use crate::discovery::{CONFIG_FILE_ENV, DefaultFile, SYSTEM_CONFIG_DIR};
use crate::gateway::GatewayConfig;
use crate::layers::{Layered, env_var};

/// The help of a flag that sets `key` (dotted, as in TOML) of the gateway.
pub(crate) fn gateway(key: &str) -> FlagHelp {
    FlagHelp::of(&GatewayConfig::default(), key)
}

/// The help of a flag that sets `key` (dotted, as in TOML) of the capture daemon.
pub(crate) fn capture(key: &str) -> FlagHelp {
    FlagHelp::of(&CaptureConfig::default(), key)
}

/// The help of `--config`: the variable that names a file instead, and the
/// files read when neither does.
pub(crate) fn config_file<T: Layered>() -> String {
    let files: Vec<String> = T::DEFAULT_FILES
        .iter()
        .map(|file| match file {
            DefaultFile::System(name) => format!("{SYSTEM_CONFIG_DIR}/{name}"),
            DefaultFile::User(name) => format!("~/.config/samsyn/{name}"),
        })
        .collect();
    let read = match files.as_slice() {
        [one] => format!("{one} if it exists"),
        several => format!("{}, where they exist", several.join(", then ")),
    };
    format!(
        "TOML config file to read instead of the default ones [env: {CONFIG_FILE_ENV}] \
         [default: {read}]"
    )
}

/// What a flag's help says besides its own words.
#[derive(Debug)]
pub(crate) struct FlagHelp {
    key: String,
    env: String,
    /// What the environment variable is set to for the same effect, for
    /// flags that take no value or a list.
    env_value: Option<&'static str>,
    default: Option<String>,
}

impl FlagHelp {
    fn of<T: Serialize>(defaults: &T, key: &str) -> FlagHelp {
        let path: Vec<&str> = key.split('.').collect();
        let defaults = serde_json::to_value(defaults).unwrap_or_default();
        let default = defaults.pointer(&format!("/{}", path.join("/")));
        // Every binary builds its help at start, so any test that runs one
        // catches a misspelt key.
        debug_assert!(
            default.is_some(),
            "a flag's help names `{key}`, which is not a configuration key; name the key \
             the flag sets, as in TOML"
        );
        FlagHelp {
            key: key.to_owned(),
            env: env_var(&path),
            env_value: None,
            default: default.and_then(shown),
        }
    }

    /// For a flag without a value that sets the key to `value` (`--no-audio`:
    /// `audio = false`); the key's default is then the other value, and
    /// is not shown.
    pub(crate) fn sets(mut self, value: &'static str) -> Self {
        debug_assert!(
            self.default.as_deref() != Some(value),
            "`{}` is {value} by default, so a flag setting it to {value} does nothing",
            self.key
        );
        self.env_value = Some(value);
        self.default = None;
        self
    }

    /// For a list key, whose variable takes `[a,b]` where the flag is repeated.
    pub(crate) fn list(mut self) -> Self {
        self.env_value = Some("[a,b]");
        self
    }

    /// For a key that is unset (or an empty list) by default: what that means.
    pub(crate) fn unset_means(mut self, meaning: &str) -> Self {
        debug_assert!(
            self.default.is_none(),
            "`{}` has a default, {:?}; show it instead of {meaning:?}",
            self.key,
            self.default
        );
        self.default = Some(meaning.to_owned());
        self
    }

    /// The help text: `what` the flag does, then the variable and the default.
    pub(crate) fn says(self, what: &str) -> String {
        let mut text = format!("{what} [env: {}", self.env);
        if let Some(value) = self.env_value {
            text.push('=');
            text.push_str(value);
        }
        text.push(']');
        if let Some(default) = self.default {
            text.push_str(&format!(" [default: {default}]"));
        }
        text
    }
}

/// A default as it is typed on the command line; `None` for unset and empty.
fn shown(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_variables_come_from_the_code() {
        assert_eq!(
            gateway("media.udp_port").says("The media port"),
            "The media port [env: SAMSYN_MEDIA__UDP_PORT] [default: 50000]"
        );
        assert_eq!(
            capture("source").says("Video source"),
            "Video source [env: SAMSYN_SOURCE] [default: test]"
        );
        assert_eq!(
            capture("audio").sets("false").says("No microphone"),
            "No microphone [env: SAMSYN_AUDIO=false]"
        );
        assert_eq!(
            gateway("media.addresses")
                .list()
                .unset_means("all")
                .says("Addresses"),
            "Addresses [env: SAMSYN_MEDIA__ADDRESSES=[a,b]] [default: all]"
        );
        assert_eq!(
            capture("room").says("Room"),
            "Room [env: SAMSYN_ROOM]",
            "an unset key without a meaning shows no default"
        );
    }

    #[test]
    fn config_file_help_names_the_default_files() {
        assert_eq!(
            config_file::<GatewayConfig>(),
            "TOML config file to read instead of the default ones [env: SAMSYN_CONFIG] \
             [default: /etc/samsyn/gateway.toml if it exists]"
        );
        assert!(
            config_file::<CaptureConfig>().ends_with(
                "[default: /etc/samsyn/capture.toml, then ~/.config/samsyn/capture.toml, \
                 where they exist]"
            ),
            "{}",
            config_file::<CaptureConfig>()
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not a configuration key")]
    fn a_misspelt_key_is_caught() {
        let _ = gateway("media.udp_prot");
    }
}
