//! Which config files are read.
//!
//! A file named by `--config` (or else `SAMSYN_CONFIG`) is the only one read,
//! and it must exist. Without one, each binary reads its default files that
//! exist, later ones overriding earlier ones:
//!
//! - `samsyn-gateway`: `/etc/samsyn/gateway.toml`;
//! - `samsyn-capture`: `/etc/samsyn/capture.toml` (installed by IT), then
//!   `$XDG_CONFIG_HOME/samsyn/capture.toml` (`~/.config/samsyn/capture.toml`,
//!   the user's own).
//!
//! A default file that is missing is skipped; one that is there but cannot be
//! read (permissions, a directory) is an error: a setting IT made must not be
//! silently left out. `SAMSYN_SYSTEM_CONFIG_DIR` replaces `/etc/samsyn`, for
//! tests and for installations that keep configuration elsewhere.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

pub use crate::chosen_by::ChosenBy;
use crate::error::ConfigError;

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_FILE_ENV: &str = "SAMSYN_CONFIG";

/// Where the system-wide config files are installed.
pub const SYSTEM_CONFIG_DIR: &str = "/etc/samsyn";

/// Environment variable replacing [`SYSTEM_CONFIG_DIR`] (tests point it at a
/// temporary directory; an empty value counts as unset).
pub const SYSTEM_CONFIG_DIR_ENV: &str = "SAMSYN_SYSTEM_CONFIG_DIR";

/// The gateway's default file name.
pub const GATEWAY_FILE_NAME: &str = "gateway.toml";

/// The capture daemon's default file name, in both directories.
pub const CAPTURE_FILE_NAME: &str = "capture.toml";

/// A file a binary reads by default when it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultFile {
    /// `<system config dir>/<name>`, installed by IT for every user.
    System(&'static str),
    /// `<user config dir>/samsyn/<name>`, the user's own.
    User(&'static str),
}

/// The directories default files are looked for in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDirs {
    /// [`SYSTEM_CONFIG_DIR`], or what [`SYSTEM_CONFIG_DIR_ENV`] says.
    pub system: PathBuf,
    /// The user's `samsyn` config directory, if the user has a home.
    pub user: Option<PathBuf>,
}

impl ConfigDirs {
    /// The directories this process should use: [`SYSTEM_CONFIG_DIR_ENV`]
    /// or `/etc/samsyn`, and `$XDG_CONFIG_HOME/samsyn` or
    /// `$HOME/.config/samsyn` as the XDG base directory specification says
    /// (a relative `XDG_CONFIG_HOME` is ignored, as the specification asks).
    pub fn from_env() -> Self {
        let system = non_empty_env(SYSTEM_CONFIG_DIR_ENV)
            .map_or_else(|| PathBuf::from(SYSTEM_CONFIG_DIR), PathBuf::from);
        let user = non_empty_env("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
            .or_else(|| non_empty_env("HOME").map(|home| PathBuf::from(home).join(".config")))
            .map(|dir| dir.join("samsyn"));
        ConfigDirs { system, user }
    }

    /// Where `file` would be, if there is a place for it.
    pub fn path_of(&self, file: DefaultFile) -> Option<PathBuf> {
        match file {
            DefaultFile::System(name) => Some(self.system.join(name)),
            DefaultFile::User(name) => self.user.as_ref().map(|dir| dir.join(name)),
        }
    }
}

fn non_empty_env(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|value| !value.is_empty())
}

/// A config file that is read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The file.
    pub path: PathBuf,
    /// Named (`--config`, `SAMSYN_CONFIG`) or found by default.
    pub chosen_by: ChosenBy,
}

/// The config files to read, lowest priority first: the one `flag` or
/// `SAMSYN_CONFIG` names, or else those of `defaults` that exist in `dirs`.
///
/// Each is checked to be readable, so that a file the program's user may not
/// read is reported with its path and the fix, not skipped.
pub fn config_files(
    flag: Option<&Path>,
    defaults: &[DefaultFile],
    dirs: &ConfigDirs,
) -> Result<Vec<ConfigFile>, ConfigError> {
    if let Some(named) = named_file(flag) {
        return match check_readable(&named)? {
            true => Ok(vec![named]),
            false => Err(ConfigError::FileNotFound {
                path: named.path,
                named_by: match named.chosen_by {
                    ChosenBy::Flag => "--config",
                    _ => CONFIG_FILE_ENV,
                },
            }),
        };
    }
    let mut files = Vec::new();
    for &default in defaults {
        let Some(path) = dirs.path_of(default) else {
            continue;
        };
        let chosen_by = match default {
            DefaultFile::System(_) => ChosenBy::System,
            DefaultFile::User(_) => ChosenBy::User,
        };
        let file = ConfigFile { path, chosen_by };
        if check_readable(&file)? {
            files.push(file);
        }
    }
    Ok(files)
}

/// The file `--config` or else `SAMSYN_CONFIG` names.
fn named_file(flag: Option<&Path>) -> Option<ConfigFile> {
    match flag {
        Some(path) => Some(ConfigFile {
            path: path.to_owned(),
            chosen_by: ChosenBy::Flag,
        }),
        // An empty variable counts as unset, as shells make it easy to leave one so.
        None => non_empty_env(CONFIG_FILE_ENV).map(|value| ConfigFile {
            path: PathBuf::from(value),
            chosen_by: ChosenBy::Env,
        }),
    }
}

/// `Ok(true)` when the file can be read, `Ok(false)` when it is not there,
/// and an error saying what to do when it is there but cannot be read.
fn check_readable(file: &ConfigFile) -> Result<bool, ConfigError> {
    // Reading it (config files are small) is the one check that covers
    // permissions of the file and of its directories, and directories
    // standing where a file should be.
    match std::fs::read(&file.path) {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(false),
        Err(error) => {
            let fix = match error.kind() {
                ErrorKind::PermissionDenied => format!(
                    "let the user this program runs as read it and its directory, e.g. \
                     `chmod 0644 {path}` (or `chgrp <the service's group>` and `chmod 0640` \
                     when it holds a secret)",
                    path = file.path.display()
                ),
                _ => "it must be a TOML file".to_owned(),
            };
            let fix = match file.chosen_by {
                ChosenBy::Flag | ChosenBy::Env => format!("{fix}, or name another file"),
                ChosenBy::System | ChosenBy::User => {
                    format!("{fix}, or remove it to run without it")
                }
            };
            Err(ConfigError::FileUnreadable {
                path: file.path.clone(),
                chosen_by: file.chosen_by,
                reason: error.to_string(),
                fix,
            })
        }
    }
}

/// The comment `--print-config` starts with: which files were read, so a
/// setting can be traced to its file.
pub fn files_read_comment(files: &[ConfigFile]) -> String {
    if files.is_empty() {
        return "# config files read: none (built-in defaults, environment and flags only)\n"
            .to_owned();
    }
    let mut comment = String::from("# config files read, later ones overriding earlier ones:\n");
    for file in files {
        comment.push_str(&format!(
            "#   {} ({})\n",
            file.path.display(),
            file.chosen_by
        ));
    }
    comment
}
