//! The line part: the connection test of `samsyn-bench connect`, run as a
//! child process.
//!
//! The test lives in the bench crate, which depends on this one, so it is
//! called as a program: `samsyn-bench connect --gateway <url> --room <room>
//! --json`, the token in its environment (`SAMSYN_TOKEN`, never on the
//! command line, where every user of the laptop could read it) and the
//! gateway's trust as `SAMSYN_TLS__CA_FILE` or `SAMSYN_TLS__PIN_SHA256`.
//! Its JSON verdict becomes the line's finding ([`super::bench_outcome`]).
//!
//! The program is looked for in this order: the path in `SAMSYN_BENCH`
//! (tests, or an installation elsewhere), beside the running program (the
//! package installs both in one directory), then on `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::LineTarget;
use super::bench_outcome::BenchOutcome;
use super::report::{CheckLevel, Finding, LineFinding};
use crate::gateway_tls::GatewayTrust;

/// The environment variable naming the `samsyn-bench` program to run;
/// honoured before any other place.
pub const BENCH_ENV: &str = "SAMSYN_BENCH";
/// The program's file name.
const BENCH_NAME: &str = "samsyn-bench";
/// The connection test takes 15–25 s, a few more per relay; past this it
/// is stuck and is stopped.
const BENCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the line could not be tested.
#[derive(Debug, thiserror::Error)]
pub enum LineCheckError {
    /// No `samsyn-bench` anywhere.
    #[error("samsyn-bench is not installed; install the samsyn-capture package again or call IT")]
    NotInstalled,
    /// `SAMSYN_BENCH` names something that is not there.
    #[error(
        "{BENCH_ENV} names {}, which does not exist; set it to the samsyn-bench program or \
         unset it",
        .0.display()
    )]
    NamedMissing(PathBuf),
    /// The program is there but would not start.
    #[error("samsyn-bench ({}) would not start: {source}; install the samsyn-capture package again or call IT", path.display())]
    Start {
        path: PathBuf,
        source: std::io::Error,
    },
    /// It ran past [`BENCH_TIMEOUT`] and was stopped.
    #[error("the line test did not finish within {} s and was stopped", BENCH_TIMEOUT.as_secs())]
    Timeout,
    /// It ended without a verdict: wrong token or address, gateway down.
    #[error("the line test could not run: {0}")]
    NoVerdict(String),
    /// It printed something that is not its JSON verdict.
    #[error(
        "samsyn-bench printed no verdict that could be read ({0}); is it the same version as samsyn-capture?"
    )]
    Unreadable(String),
}

/// Where to find `samsyn-bench`: `named` (from [`BENCH_ENV`]) when set,
/// else beside `running` (this program), else in a directory of
/// `search_path`.
pub fn locate_bench(
    named: Option<OsString>,
    running: Option<&Path>,
    search_path: Option<OsString>,
) -> Result<PathBuf, LineCheckError> {
    if let Some(named) = named.filter(|n| !n.is_empty()) {
        let path = PathBuf::from(named);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(LineCheckError::NamedMissing(path))
        };
    }
    let beside = running
        .and_then(Path::parent)
        .map(|dir| dir.join(BENCH_NAME));
    let on_path = search_path
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(BENCH_NAME));
    beside
        .into_iter()
        .chain(on_path)
        .find(|candidate| candidate.is_file())
        .ok_or(LineCheckError::NotInstalled)
}

/// The line part's finding.
pub(super) async fn check(target: &LineTarget) -> LineFinding {
    match measure(target).await {
        Ok(outcome) => outcome.finding(),
        Err(error) => not_tested(&error),
    }
}

/// Runs the connection test and reads its verdict.
async fn measure(target: &LineTarget) -> Result<BenchOutcome, LineCheckError> {
    let bench = locate_bench(
        std::env::var_os(BENCH_ENV),
        std::env::current_exe().ok().as_deref(),
        std::env::var_os("PATH"),
    )?;
    let mut command = tokio::process::Command::new(&bench);
    command
        .args(["connect", "--gateway", target.gateway.as_str()])
        .args(["--room", &target.room, "--json"])
        // Only what is given here: not a room, gateway or trust of the
        // nurse's shell.
        .env_remove("SAMSYN_GATEWAY")
        .env_remove("SAMSYN_ROOM")
        .env_remove(CA_FILE_ENV)
        .env_remove(PIN_ENV)
        .env("SAMSYN_TOKEN", &target.token)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in trust_env(&target.trust) {
        command.env(key, value);
    }
    let output = tokio::time::timeout(BENCH_TIMEOUT, command.output())
        .await
        .map_err(|_| LineCheckError::Timeout)?
        .map_err(|source| LineCheckError::Start {
            path: bench.clone(),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.trim().is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(LineCheckError::NoVerdict(why_not_run(
            &stderr,
            output.status,
        )));
    }
    BenchOutcome::parse(&stdout).map_err(|e| LineCheckError::Unreadable(e.to_string()))
}

const CA_FILE_ENV: &str = "SAMSYN_TLS__CA_FILE";
const PIN_ENV: &str = "SAMSYN_TLS__PIN_SHA256";

/// The bench's environment for trusting the gateway as `trust` says.
fn trust_env(trust: &GatewayTrust) -> Vec<(&'static str, OsString)> {
    match trust {
        GatewayTrust::SystemRoots => Vec::new(),
        GatewayTrust::CaFile(path) => vec![(CA_FILE_ENV, path.clone().into_os_string())],
        GatewayTrust::Pinned(pin) => {
            let hex: Vec<String> = pin.iter().map(|b| format!("{b:02X}")).collect();
            vec![(PIN_ENV, hex.join(":").into())]
        }
    }
}

/// The bench's own words for why it tested nothing: its last line on
/// stderr, without its program-name prefix.
fn why_not_run(stderr: &str, status: std::process::ExitStatus) -> String {
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(|line| {
            line.trim_start_matches("samsyn-bench connect: ")
                .trim_start_matches("samsyn-bench: ")
                .to_owned()
        });
    match (last, status.code()) {
        (Some(line), _) => line,
        (None, Some(code)) => format!("samsyn-bench ended with exit code {code} and said nothing"),
        (None, None) => "samsyn-bench was stopped by a signal".to_owned(),
    }
}

/// The finding when the line could not be tested.
fn not_tested(error: &LineCheckError) -> LineFinding {
    let finding = Finding::new(
        CheckLevel::NotRun,
        format!("Line to the hospital: not tested: {error}"),
        format!("Linjen til sykehuset: ikke testet: {error}"),
    );
    let finding = match error {
        LineCheckError::NoVerdict(_) => finding
            .advise(
                "Check that the laptop is online, and that the link is the one for today's \
                 visit; ask the hospital for a new link if it is old.",
                "Sjekk at PC-en er på nett, og at lenken er den for dagens besøk; be sykehuset om \
                 en ny lenke hvis den er gammel.",
            )
            .advise(
                "If it stays like this, call IT.",
                "Hvis det fortsetter slik, ring IT.",
            ),
        _ => finding.advise("Call IT.", "Ring IT."),
    };
    LineFinding::without_figures(finding)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executable(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        path
    }

    #[test]
    fn the_named_program_comes_first_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let named = executable(dir.path(), "my-bench");
        let beside = executable(dir.path(), BENCH_NAME);
        let running = dir.path().join("samsyn-capture");
        assert_eq!(
            locate_bench(Some(named.clone().into()), Some(&running), None).unwrap(),
            named
        );
        assert_eq!(locate_bench(None, Some(&running), None).unwrap(), beside);
        let missing = dir.path().join("nowhere");
        let error = locate_bench(Some(missing.into()), Some(&running), None).unwrap_err();
        assert!(matches!(error, LineCheckError::NamedMissing(_)), "{error}");
        assert!(error.to_string().contains(BENCH_ENV), "{error}");
    }

    #[test]
    fn then_beside_this_program_then_on_the_path() {
        let running = tempfile::tempdir().unwrap();
        let on_path = tempfile::tempdir().unwrap();
        let found = executable(on_path.path(), BENCH_NAME);
        let search = std::env::join_paths([Path::new("/nonexistent"), on_path.path()]).unwrap();
        let me = running.path().join("samsyn-capture");
        assert_eq!(locate_bench(None, Some(&me), Some(search)).unwrap(), found);
    }

    #[test]
    fn no_program_anywhere_says_to_reinstall() {
        let empty = tempfile::tempdir().unwrap();
        let me = empty.path().join("samsyn-capture");
        let error = locate_bench(None, Some(&me), Some(empty.path().into())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "samsyn-bench is not installed; install the samsyn-capture package again or call IT"
        );
        let finding = not_tested(&error);
        assert_eq!(finding.finding.level, CheckLevel::NotRun);
        assert!(
            finding
                .finding
                .headline
                .contains("samsyn-bench is not installed")
        );
    }

    #[test]
    fn the_trust_travels_in_the_environment() {
        assert!(trust_env(&GatewayTrust::SystemRoots).is_empty());
        let pinned = trust_env(&GatewayTrust::Pinned([0xab; 32]));
        assert_eq!(pinned[0].0, PIN_ENV);
        let pin = pinned[0].1.to_str().unwrap();
        assert_eq!(
            samsyn_config::parse_sha256_fingerprint(pin),
            Some([0xab; 32])
        );
        let ca = trust_env(&GatewayTrust::CaFile("/etc/ca.pem".into()));
        assert_eq!(ca, vec![(CA_FILE_ENV, OsString::from("/etc/ca.pem"))]);
    }

    #[test]
    fn the_benchs_complaint_is_the_reason() {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::ExitStatus::from_raw(3 << 8);
        let stderr = "samsyn-bench connect: the gateway refused the offer (wrong_role); this \
                      test takes the publisher token, not the specialists' link\n";
        assert!(why_not_run(stderr, status).starts_with("the gateway refused"));
        assert!(why_not_run("", status).contains("exit code 3"));
    }
}
