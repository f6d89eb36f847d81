//! The one error type of configuration loading, and the single problem it lists.

use std::fmt;
use std::path::PathBuf;

use crate::chosen_by::ChosenBy;

/// Why a configuration could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A config file was named (by `--config` or `SAMSYN_CONFIG`) but is not there.
    #[error(
        "config file {} (named by {named_by}) does not exist; check the path, \
         or leave out {named_by} to run on defaults, environment and flags",
        path.display()
    )]
    FileNotFound {
        /// The path as given.
        path: PathBuf,
        /// What named it: `--config` or `SAMSYN_CONFIG`.
        named_by: &'static str,
    },
    /// A config file is there but cannot be read (permissions, a directory).
    #[error("config file {} ({chosen_by}) cannot be read: {reason}; {fix}", path.display())]
    FileUnreadable {
        /// The file.
        path: PathBuf,
        /// Named, or found by default.
        chosen_by: ChosenBy,
        /// What the system said.
        reason: String,
        /// What to do about it.
        fix: String,
    },
    /// One or more keys have values that are unusable: wrong type, unknown key,
    /// or out of the allowed range. Each problem is printed on its own line.
    #[error("{}", Lines(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The individual problems (empty when a file is missing or unreadable).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(problems) => problems,
            ConfigError::FileNotFound { .. } | ConfigError::FileUnreadable { .. } => &[],
        }
    }
}

/// One unusable key: which key, its value, what is allowed, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted key path as in the TOML file, e.g. `media.udp_port`; empty when the
    /// problem is with a whole source (a TOML syntax error).
    pub key: String,
    /// The offending value, rendered as it would be written in TOML, if there is one.
    pub value: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The layer that supplied the value: `config file <path>`,
    /// `environment variable SAMSYN_…`, `command-line flags`, `built-in defaults`.
    pub origin: Option<String>,
}

impl Problem {
    /// A problem with a key whose value is known.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            key: key.into(),
            value: Some(value.into()),
            message: message.into(),
            origin: None,
        }
    }

    /// A problem with a key that has no value (a required key left unset).
    pub fn unset(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            value: None,
            message: message.into(),
            origin: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration: ")?;
        match (&self.key[..], &self.value) {
            ("", _) => {}
            (key, Some(value)) => write!(f, "{key} = {value}: ")?,
            (key, None) => write!(f, "{key}: ")?,
        }
        f.write_str(&self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        Ok(())
    }
}

/// Displays problems one per line.
struct Lines<'a>(&'a [Problem]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            problem.fmt(f)?;
        }
        Ok(())
    }
}
