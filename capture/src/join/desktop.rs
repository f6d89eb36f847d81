//! The desktop's side of the nurse link: a `.desktop` entry that makes
//! `samsyn://` links start `samsyn-capture join`, installed for the user
//! who runs `samsyn-capture install-desktop` (the package installs the same
//! entry for everyone: `deploy/desktop/samsyn-capture.desktop`).
//!
//! It follows the freedesktop.org rules: the entry goes to
//! `$XDG_DATA_HOME/applications` (`~/.local/share/applications`), and the
//! scheme's default handler is set in `$XDG_CONFIG_HOME/mimeapps.list`
//! (`~/.config/mimeapps.list`), written here rather than through
//! `xdg-mime` so it works where xdg-utils is not installed; the desktop's
//! cache is refreshed with `update-desktop-database` when it is.

use std::path::{Path, PathBuf};

/// The entry's file name; desktops find the handler by it.
pub const DESKTOP_FILE: &str = "samsyn-capture.desktop";
/// The link scheme the entry handles.
pub const SCHEME_HANDLER: &str = "x-scheme-handler/samsyn";
/// The entry shipped for everyone; `Exec` is rewritten to this program.
const SHIPPED_ENTRY: &str = include_str!("../../../deploy/desktop/samsyn-capture.desktop");

/// Installing the entry failed.
#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    #[error(
        "neither HOME nor XDG_DATA_HOME is set, so there is no place for the desktop entry; \
         run it as the nurse's user in her session"
    )]
    NoHome,
    #[error("cannot write {path}: {cause}; check that the directory is hers and not full")]
    Write { path: String, cause: std::io::Error },
}

/// What was installed, for the terminal.
#[derive(Debug)]
pub struct Installed {
    pub entry: PathBuf,
    pub associations: PathBuf,
}

/// Installs the entry for this user with `program` as its command, and
/// makes it the default handler of `samsyn://` links.
pub fn install(program: &Path) -> Result<Installed, DesktopError> {
    let data = xdg_dir("XDG_DATA_HOME", ".local/share")?.join("applications");
    let config = xdg_dir("XDG_CONFIG_HOME", ".config")?;
    let entry = data.join(DESKTOP_FILE);
    write(&entry, &entry_for(program))?;
    let associations = config.join("mimeapps.list");
    let old = std::fs::read_to_string(&associations).unwrap_or_default();
    write(&associations, &with_default_handler(&old))?;
    // Optional: desktops that keep a cache of handlers read it from here.
    let _ = std::process::Command::new("update-desktop-database")
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    Ok(Installed {
        entry,
        associations,
    })
}

/// The shipped entry with `Exec` running `program`.
fn entry_for(program: &Path) -> String {
    SHIPPED_ENTRY
        .lines()
        .map(|line| {
            if line.starts_with("Exec=") {
                format!(
                    "Exec={} join %u",
                    quote_exec(&program.display().to_string())
                )
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Quotes a path for an `Exec` line when it needs it (the spec's rules).
fn quote_exec(path: &str) -> String {
    if path
        .chars()
        .any(|c| c.is_whitespace() || "\"'\\><~|&;$*?#()`".contains(c))
    {
        let escaped: String = path
            .chars()
            .flat_map(|c| match c {
                '"' | '`' | '$' | '\\' => vec!['\\', c],
                _ => vec![c],
            })
            .collect();
        format!("\"{escaped}\"")
    } else {
        path.to_owned()
    }
}

/// `mimeapps.list` with this entry as the scheme's default handler; every
/// other line kept as it was.
fn with_default_handler(old: &str) -> String {
    const SECTION: &str = "[Default Applications]";
    let line = format!("{SCHEME_HANDLER}={DESKTOP_FILE}");
    let mut out = Vec::new();
    let mut in_section = false;
    let mut placed = false;
    for current in old.lines() {
        let trimmed = current.trim();
        if trimmed.starts_with('[') {
            if in_section && !placed {
                out.push(line.clone());
                placed = true;
            }
            in_section = trimmed == SECTION;
        } else if in_section && trimmed.starts_with(&format!("{SCHEME_HANDLER}=")) {
            continue;
        }
        out.push(current.to_owned());
    }
    if !placed {
        if !in_section {
            if out.last().is_some_and(|l| !l.trim().is_empty()) {
                out.push(String::new());
            }
            out.push(SECTION.to_owned());
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

fn xdg_dir(variable: &str, under_home: &str) -> Result<PathBuf, DesktopError> {
    if let Some(dir) = std::env::var_os(variable).filter(|d| Path::new(d).is_absolute()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(DesktopError::NoHome)?;
    Ok(PathBuf::from(home).join(under_home))
}

fn write(path: &Path, text: &str) -> Result<(), DesktopError> {
    let failed = |cause| DesktopError::Write {
        path: path.display().to_string(),
        cause,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    std::fs::write(path, text).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_runs_join_with_the_link_and_handles_the_scheme() {
        let entry = entry_for(Path::new("/opt/samsyn/bin/samsyn-capture"));
        assert!(entry.contains("\nExec=/opt/samsyn/bin/samsyn-capture join %u\n"));
        assert!(entry.contains("\nMimeType=x-scheme-handler/samsyn;\n"));
        assert!(entry.contains("\nTerminal=false\n"));
        assert!(
            entry_for(Path::new("/home/a b/samsyn")).contains("Exec=\"/home/a b/samsyn\" join %u")
        );
    }

    #[test]
    fn the_default_handler_is_set_and_other_lines_kept() {
        assert_eq!(
            with_default_handler(""),
            "[Default Applications]\nx-scheme-handler/samsyn=samsyn-capture.desktop\n"
        );
        let old = "[Added Associations]\ntext/html=firefox.desktop\n\n[Default Applications]\nx-scheme-handler/samsyn=old.desktop\ntext/html=firefox.desktop\n";
        let new = with_default_handler(old);
        assert!(new.contains("[Added Associations]\ntext/html=firefox.desktop\n"));
        assert!(new.contains("x-scheme-handler/samsyn=samsyn-capture.desktop"));
        assert!(!new.contains("old.desktop"));
        assert_eq!(new.matches("text/html=firefox.desktop").count(), 2);
        // Twice gives the same file.
        assert_eq!(with_default_handler(&new), new);
        let other_section_last =
            "[Default Applications]\ntext/html=f.desktop\n[Added Associations]\n";
        let new = with_default_handler(other_section_last);
        assert!(new.starts_with("[Default Applications]\ntext/html=f.desktop\nx-scheme-handler/samsyn=samsyn-capture.desktop\n[Added Associations]"), "{new}");
    }
}
