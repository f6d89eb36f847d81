//! The pages in headless Chromium: `tests/browser/viewer-plays.mjs` and the
//! other drivers there (Node + playwright-core with the system Chromium),
//! run from a test.

use std::process::Command;
use std::time::Instant;

use super::browser_dir;

/// Runs `viewer-plays.mjs` with `args` in this test's namespace and returns
/// its JSON line; panics with its diagnostics if it fails.
pub fn run_viewer_page(args: &[&str]) -> serde_json::Value {
    run_driver("viewer-plays.mjs", args)
}

/// Runs the driver `script` of `tests/browser/` with `args` in this test's
/// namespace and returns its JSON line; panics with its diagnostics if it
/// fails.
pub fn run_driver(script: &str, args: &[&str]) -> serde_json::Value {
    let dir = browser_dir();
    let started = Instant::now();
    let output = Command::new("node")
        .current_dir(&dir)
        .arg(dir.join(script))
        .args(args)
        .output()
        .expect("node runs (Node 20+ is needed for the browser tests)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result = driver_result(script, output.status, &stdout, &stderr);
    println!(
        "{script} took {} ms: {result}",
        started.elapsed().as_millis()
    );
    result
}

/// The JSON line a driver that ended with `status` printed (the last one
/// on `stdout`); panics with its output if it failed or printed none.
pub fn driver_result(
    what: &str,
    status: std::process::ExitStatus,
    stdout: &str,
    stderr: &str,
) -> serde_json::Value {
    assert!(
        status.success(),
        "{what} failed ({status}):\n{stderr}\n{stdout}"
    );
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("{what} printed no JSON line:\n{stdout}\n{stderr}"));
    serde_json::from_str(line).expect("the driver prints JSON")
}

/// Opens `link` in Chromium trusting `gateway`'s certificate (with `extra`
/// arguments for the driver) and checks that the page plays 60 frames or
/// more; prints how long its first frame took, as `what`. Its JSON line.
pub fn page_plays(
    gateway: &super::Gateway,
    link: &str,
    what: &str,
    extra: &[&str],
) -> serde_json::Value {
    let spki = gateway.spki_sha256_base64();
    let mut args = vec![
        "--url",
        link,
        "--trust-spki",
        &spki,
        "--min-frames",
        "60",
        "--timeout-ms",
        "30000",
    ];
    args.extend_from_slice(extra);
    let result = run_viewer_page(&args);
    println!(
        "{what}: {} frames rendered, first frame {} ms after navigation start",
        result["framesRendered"], result["msToFirstFrame"]
    );
    assert_eq!(result["ok"], true, "{what}");
    assert!(
        result["framesRendered"].as_u64().unwrap_or(0) >= 60,
        "{what}: {result}"
    );
    result
}

/// The progress a long-running driver prints, one JSON object a line, read
/// as it comes (the test acts between the lines: ends a room, chats).
pub struct DriverProgress {
    name: &'static str,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    started: Instant,
}

impl DriverProgress {
    /// Follows the standard output of `driver` (spawned with it piped).
    pub fn follow(name: &'static str, driver: &mut std::process::Child) -> Self {
        use std::io::BufRead;
        let stdout = driver.stdout.take().expect("the driver's stdout is piped");
        Self {
            name,
            lines: std::io::BufReader::new(stdout).lines(),
            started: Instant::now(),
        }
    }

    /// The next JSON line; panics when the driver ended without one.
    pub fn next_json(&mut self) -> serde_json::Value {
        let name = self.name;
        let line = self
            .lines
            .next()
            .unwrap_or_else(|| panic!("{name} ended without a result (see its stderr)"))
            .expect("UTF-8 output");
        println!(
            "{name} after {} ms: {line}",
            self.started.elapsed().as_millis()
        );
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("{name} prints JSON lines"))
    }
}
