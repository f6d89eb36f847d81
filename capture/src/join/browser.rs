//! Opening the nurse screen in her browser, as an app window where the
//! browser offers one (no address bar, no tabs: it looks like a program).
//!
//! The screen's address holds its secret, and a browser's command line is
//! readable by every user of the laptop (`/proc/<pid>/cmdline`). So the
//! browser is given a small file instead, readable by her alone, in her
//! runtime directory, which sends the window on to the screen.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use url::Url;

/// Browsers that open a page as an app window with `--app=<url>`.
const APP_WINDOW_BROWSERS: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "microsoft-edge",
    "microsoft-edge-stable",
    "brave-browser",
];

/// Environment variable naming the browser to use (its command; the page
/// is passed as its one argument).
pub const BROWSER_ENV: &str = "SAMSYN_BROWSER";

/// Why the screen could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot write the nurse screen's start page in {dir}: {cause}; open the \
         `nurse screen:` address printed above in a browser"
    )]
    StartPage { dir: String, cause: std::io::Error },
    #[error(
        "no browser found (tried {tried}); open the `nurse screen:` address printed above in \
         a browser, or set {BROWSER_ENV}"
    )]
    NoBrowser { tried: String },
}

/// Opens `screen` in a browser; returns the browser's command.
pub fn open(screen: &Url) -> Result<String, OpenError> {
    let start_page = write_start_page(screen)?;
    let file_url = Url::from_file_path(&start_page)
        .map_err(|()| OpenError::StartPage {
            dir: start_page.display().to_string(),
            cause: std::io::Error::other("not an absolute path"),
        })?
        .to_string();
    if let Some(browser) = std::env::var_os(BROWSER_ENV).filter(|b| !b.is_empty()) {
        let browser = browser.to_string_lossy().into_owned();
        if spawn(&browser, &[&file_url]) {
            return Ok(browser);
        }
    }
    let app = format!("--app={file_url}");
    for browser in APP_WINDOW_BROWSERS {
        if spawn(browser, &[&app, "--new-window"]) {
            return Ok((*browser).to_owned());
        }
    }
    for opener in ["xdg-open", "firefox"] {
        if spawn(opener, &[&file_url]) {
            return Ok(opener.to_owned());
        }
    }
    Err(OpenError::NoBrowser {
        tried: APP_WINDOW_BROWSERS
            .iter()
            .chain(&["xdg-open", "firefox"])
            .copied()
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Starts `program` detached from the daemon's terminal; `false` when it
/// is not installed.
fn spawn(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok()
}

/// Writes the page that forwards to `screen`, readable by her alone.
fn write_start_page(screen: &Url) -> Result<PathBuf, OpenError> {
    let dir = private_dir();
    let failed = |cause| OpenError::StartPage {
        dir: dir.display().to_string(),
        cause,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(failed)?;
    let path = dir.join(format!("screen-{}.html", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    file.write_all(start_page(screen).as_bytes())
        .map_err(failed)?;
    Ok(path)
}

/// `$XDG_RUNTIME_DIR/samsyn` (private to the user by the system), or a
/// directory of her own under the temporary directory.
fn private_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_absolute()) {
        Some(runtime) => PathBuf::from(runtime).join("samsyn"),
        None => std::env::temp_dir().join(format!("samsyn-{}", unsafe_uid())),
    }
}

fn unsafe_uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// The forwarding page: no script from anywhere else, the address in a
/// `meta refresh` and a link for a browser that blocks refreshes.
fn start_page(screen: &Url) -> String {
    let url = html_escape(screen.as_str());
    format!(
        "<!doctype html><html lang=\"nb\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0; url={url}\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>samsyn</title></head>\
         <body style=\"font: 28px sans-serif\"><p><a href=\"{url}\">Åpne samsyn / Open samsyn</a></p>\
         </body></html>\n"
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_page_forwards_to_the_screen_and_only_she_can_read_it() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY: this test alone reads XDG_RUNTIME_DIR in this process.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir.path()) };
        let screen = Url::parse("http://127.0.0.1:4321/s3cret/").unwrap();
        let path = write_start_page(&screen).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("url=http://127.0.0.1:4321/s3cret/"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
}
