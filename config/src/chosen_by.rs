//! Why a config file is read: named on the command line or in the
//! environment, or found in its default place. Errors and the
//! `--print-config` header both say it, so it lives apart from either.

use std::fmt;

/// Why a config file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenBy {
    /// Named by `--config`.
    Flag,
    /// Named by `SAMSYN_CONFIG`.
    Env,
    /// The system-wide default file.
    System,
    /// The user's default file.
    User,
}

impl fmt::Display for ChosenBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChosenBy::Flag => "named by --config",
            ChosenBy::Env => "named by SAMSYN_CONFIG",
            ChosenBy::System => "the system-wide config file",
            ChosenBy::User => "the user's config file",
        })
    }
}
