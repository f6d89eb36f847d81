//! The check on the terminal: a spinner on stderr while it runs, then one
//! line per part with a mark, the verdict and what to do; or the report as
//! JSON for scripts.

use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use samsyn_config::CaptureConfig;

use super::report::{CheckLevel, CheckReport, Finding};
use super::{CheckStep, LineTarget, run_check};

/// Runs the check for `samsyn-capture check`: spinner, check, then the
/// report (as one JSON object when `json`); the exit code is the
/// verdict's (0 good, 1 marginal, 2 unusable, 3 could not run).
pub fn check_command(config: CaptureConfig, line: Option<LineTarget>, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("samsyn-capture check: cannot start the async runtime: {e}");
            return ExitCode::from(CheckLevel::NotRun.exit_code());
        }
    };
    let spinner = spinner();
    let shown = spinner.clone();
    let progress = move |step: CheckStep| shown.set_message(step.doing());
    let report = runtime.block_on(run_check(&config, line, &progress));
    spinner.finish_and_clear();
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("samsyn-capture check: the report could not be written as JSON: {e}");
                return ExitCode::from(CheckLevel::NotRun.exit_code());
            }
        }
    } else {
        print_report(&report);
    }
    ExitCode::from(report.exit_code())
}

/// A spinner on stderr; indicatif draws nothing when stderr is not a
/// terminal, so scripts and `--json` stay clean.
fn spinner() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message("Starting the check…");
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Prints [`render_report`] on stdout.
pub fn print_report(report: &CheckReport) {
    print!("{}", render_report(report));
}

/// The report as the terminal shows it: the verdict in Norwegian first,
/// then one line per part (✓ good, ! marginal, ✗ unusable, ? not tested,
/// – skipped), the verdict and what to do.
pub fn render_report(report: &CheckReport) -> String {
    let mut text = format!(
        "Sjekk før besøket: {} — {}\n\n",
        report.level.word_nb(),
        report.headline_nb
    );
    for (_, finding) in report.parts() {
        text.push_str(&format!("{} {}\n", mark(finding), finding.headline));
    }
    text.push_str(&format!(
        "\nVerdict: {} — {}\n",
        report.level.word(),
        report.headline
    ));
    if !report.advice.is_empty() {
        text.push_str("What to do:\n");
        for advice in &report.advice {
            text.push_str(&format!("  • {advice}\n"));
        }
    }
    text
}

fn mark(finding: &Finding) -> char {
    match finding.level {
        _ if finding.skipped => '–',
        CheckLevel::Good => '✓',
        CheckLevel::Marginal => '!',
        CheckLevel::Unusable => '✗',
        CheckLevel::NotRun => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::report::{CameraFinding, LineFinding, MicrophoneFinding, SoundFinding};

    fn report(line: Finding) -> CheckReport {
        CheckReport::new(
            CameraFinding {
                finding: Finding::new(CheckLevel::Good, "Camera: fine.", "Kamera: fint."),
                source: "test".into(),
                cameras: Vec::new(),
                mode: None,
                frames: 15,
                width: Some(320),
                height: Some(240),
                frames_per_second: Some(15.0),
            },
            MicrophoneFinding {
                finding: Finding::skipped("Microphone: off.", "Mikrofon: av."),
                input: None,
                peak_dbfs: None,
                rms_dbfs: None,
            },
            SoundFinding {
                finding: Finding::new(CheckLevel::Good, "Sound: played.", "Lyd: spilt."),
                output: None,
            },
            LineFinding::without_figures(line),
            None,
            1.0,
        )
    }

    #[test]
    fn one_line_per_part_then_the_verdict_and_advice() {
        let weak = Finding::new(CheckLevel::Marginal, "Line: weak.", "Linje: svak.")
            .advise("Move closer.", "Gå nærmere.");
        let text = render_report(&report(weak));
        assert_eq!(
            text,
            "Sjekk før besøket: SVAK — Linje: svak.\n\n\
             ✓ Camera: fine.\n\
             – Microphone: off.\n\
             ✓ Sound: played.\n\
             ! Line: weak.\n\n\
             Verdict: MARGINAL — Line: weak.\n\
             What to do:\n  • Move closer.\n"
        );
    }

    #[test]
    fn a_good_check_says_ready_without_advice() {
        let good = Finding::new(CheckLevel::Good, "Line: good.", "Linje: god.");
        let checked = report(good);
        assert_eq!(checked.exit_code(), 0);
        let text = render_report(&checked);
        assert!(text.ends_with(&format!("Verdict: GOOD — {}\n", super::super::ALL_GOOD)));
        let json = serde_json::to_value(&checked).unwrap();
        assert_eq!(json["level"], "good");
        assert_eq!(json["exit_code"], 0);
        assert_eq!(json["camera"]["frames"], 15);
        assert_eq!(json["microphone"]["skipped"], true);
        assert!(json.get("picture_jpeg").is_none());
    }
}
