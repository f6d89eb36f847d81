//! The specialist's page in headless Chromium: `tests/browser/viewer-plays.mjs`
//! (Node + playwright-core with the system Chromium), run from a test.

use std::process::Command;
use std::time::Instant;

use super::browser_dir;

/// Runs `viewer-plays.mjs` with `args` in this test's namespace and returns
/// its JSON line; panics with its diagnostics if it fails.
pub fn run_viewer_page(args: &[&str]) -> serde_json::Value {
    let dir = browser_dir();
    let started = Instant::now();
    let output = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join("viewer-plays.mjs"))
        .args(args)
        .output()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "viewer-plays.mjs failed ({}) after {} ms:\n{stderr}\n{stdout}",
        output.status,
        started.elapsed().as_millis()
    );
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("viewer-plays.mjs printed no JSON line:\n{stdout}\n{stderr}"));
    println!(
        "viewer-plays.mjs took {} ms: {line}",
        started.elapsed().as_millis()
    );
    serde_json::from_str(line).expect("viewer-plays.mjs prints JSON")
}
