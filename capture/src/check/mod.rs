//! The nurse's check before a visit: about ten seconds on the laptop, then
//! the line to the hospital, with a verdict in plain words.
//!
//! Four parts, in this order:
//!
//! - [`CheckStep::Camera`]: the cameras found, the mode the configured one
//!   opens in, and a second of pictures through the daemon's own source
//!   ([`camera`]); the newest picture comes back as a small JPEG for the
//!   screen.
//! - [`CheckStep::Microphone`]: two seconds through the daemon's own voice
//!   chain, loudness measured by its `level` element ([`microphone`]).
//! - [`CheckStep::Sound`]: a short chime on the talk-back speaker
//!   ([`sound`]); the screen asks whether she heard it.
//! - [`CheckStep::Line`]: `samsyn-bench connect` run as a child process
//!   ([`line`]; `SAMSYN_BENCH` names the program to run, before the one
//!   beside this program and the one on `PATH`).
//!
//! The daemon's command line (`samsyn-capture check`) calls
//! [`check_command`]; the nurse screen calls [`run_check`] and shows the
//! [`CheckReport`], whose every sentence is in English and in Norwegian
//! bokmål (`…_nb`). The verdict and the exit code are those of
//! `samsyn-bench connect`: 0 good, 1 marginal, 2 unusable, 3 the check
//! could not run.

mod bench_outcome;
mod camera;
mod line;
mod microphone;
mod report;
mod sound;
mod terminal;

use std::fmt;
use std::time::Instant;

use gstreamer as gst;
use samsyn_config::CaptureConfig;
use serde::Serialize;

pub use bench_outcome::{BenchLevel, BenchOutcome, BenchPath, path_in_words};
pub use camera::PICTURE_MAX_WIDTH;
pub use line::{BENCH_ENV, LineCheckError, locate_bench};
pub use microphone::{HEARD_DBFS, NOTHING_DBFS};
pub use report::{
    ALL_GOOD, ALL_GOOD_NB, CameraFinding, CameraSeen, CheckLevel, CheckReport, Finding,
    LineFinding, LinePath, MicrophoneFinding, SoundFinding, Verdict,
};
pub use terminal::{check_command, print_report, render_report};

use crate::gateway_tls::GatewayTrust;

/// The room whose line is tested, and how to reach and trust its gateway.
#[derive(Clone)]
pub struct LineTarget {
    /// The gateway's base URL.
    pub gateway: url::Url,
    /// The room.
    pub room: String,
    /// The room's publisher token (the daemon's own).
    pub token: String,
    /// How the gateway's certificate is checked.
    pub trust: GatewayTrust,
}

impl fmt::Debug for LineTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineTarget")
            .field("gateway", &self.gateway.as_str())
            .field("room", &self.room)
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

/// The part being checked, for progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStep {
    /// About two seconds: pictures from the camera.
    Camera,
    /// Two seconds: she says a few words.
    Microphone,
    /// One second: a chime on the headset.
    Sound,
    /// 15–25 s: the connection test.
    Line,
}

impl CheckStep {
    /// What the part is called, for the terminal.
    pub fn name(self) -> &'static str {
        match self {
            CheckStep::Camera => "Camera",
            CheckStep::Microphone => "Microphone",
            CheckStep::Sound => "Sound",
            CheckStep::Line => "Line",
        }
    }

    /// What happens during the part, said to the nurse while it runs.
    pub fn doing(self) -> &'static str {
        match self {
            CheckStep::Camera => "Camera: looking at the picture…",
            CheckStep::Microphone => "Microphone: say a few words…",
            CheckStep::Sound => "Sound: playing a test chime in the headset…",
            CheckStep::Line => "Line: testing the line to the hospital (15–25 s)…",
        }
    }

    /// [`doing`](Self::doing) in Norwegian.
    pub fn doing_nb(self) -> &'static str {
        match self {
            CheckStep::Camera => "Kamera: ser på bildet …",
            CheckStep::Microphone => "Mikrofon: si noen ord …",
            CheckStep::Sound => "Lyd: spiller et testsignal i hodesettet …",
            CheckStep::Line => "Linje: tester linjen til sykehuset (15–25 s) …",
        }
    }
}

/// Runs the check: camera, microphone, sound, then the line when `line`
/// is given (skipped otherwise). `progress` hears of each part as it
/// starts. Needs a Tokio runtime with blocking threads (the media parts run
/// on them); dropping the future stops the line test's child process.
pub async fn run_check(
    config: &CaptureConfig,
    line: Option<LineTarget>,
    progress: &(dyn Fn(CheckStep) + Send + Sync),
) -> CheckReport {
    run_check_with(config, line, progress, CameraPart::Open).await
}

/// How the check learns about the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraPart {
    /// Open the camera and take pictures (nothing else holds it).
    Open,
    /// The running daemon holds the camera, which a V4L2 device allows
    /// only once: say what its supervisor sees instead of opening it.
    Streaming { delivering: bool },
}

/// [`run_check`], with the camera part as `camera` says.
pub async fn run_check_with(
    config: &CaptureConfig,
    line: Option<LineTarget>,
    progress: &(dyn Fn(CheckStep) + Send + Sync),
    camera: CameraPart,
) -> CheckReport {
    let started = Instant::now();
    let media_ready = gst::init().map_err(|e| e.to_string());

    progress(CheckStep::Camera);
    let (camera, picture) = match (&media_ready, camera) {
        (_, CameraPart::Streaming { delivering }) => (camera::streaming(config, delivering), None),
        (Ok(()), CameraPart::Open) => {
            let (owned, source) = (config.clone(), config.source.clone());
            blocking(
                move || camera::check(&owned),
                |why| (media_failed_camera(source, why), None),
            )
            .await
        }
        (Err(why), CameraPart::Open) => (media_failed_camera(config.source.clone(), why), None),
    };

    progress(CheckStep::Microphone);
    let microphone = match &media_ready {
        Ok(()) => {
            let config = config.clone();
            blocking(
                move || microphone::check(&config),
                |why| MicrophoneFinding {
                    finding: media_failed("Microphone", "Mikrofon", why),
                    input: None,
                    peak_dbfs: None,
                    rms_dbfs: None,
                },
            )
            .await
        }
        Err(why) => MicrophoneFinding {
            finding: media_failed("Microphone", "Mikrofon", why),
            input: None,
            peak_dbfs: None,
            rms_dbfs: None,
        },
    };

    progress(CheckStep::Sound);
    let sound = match &media_ready {
        Ok(()) => {
            let config = config.clone();
            blocking(
                move || sound::check(&config),
                |why| SoundFinding {
                    finding: media_failed("Sound", "Lyd", why),
                    output: None,
                },
            )
            .await
        }
        Err(why) => SoundFinding {
            finding: media_failed("Sound", "Lyd", why),
            output: None,
        },
    };

    let line = match line {
        Some(target) => {
            progress(CheckStep::Line);
            line::check(&target).await
        }
        None => LineFinding::without_figures(Finding::skipped(
            "Line to the hospital: not tested (no room link given).",
            "Linjen til sykehuset: ikke testet (ingen lenke til et rom).",
        )),
    };

    CheckReport::new(
        camera,
        microphone,
        sound,
        line,
        picture,
        (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
    )
}

/// Runs a media part on a blocking thread; a panic there becomes the
/// part's finding through `failed` instead of taking the check down.
async fn blocking<T: Send + 'static>(
    part: impl FnOnce() -> T + Send + 'static,
    failed: impl FnOnce(&str) -> T,
) -> T {
    match tokio::task::spawn_blocking(part).await {
        Ok(found) => found,
        Err(e) => failed(&e.to_string()),
    }
}

/// A part that could not be checked because the media framework failed.
fn media_failed(part: &str, part_nb: &str, why: &str) -> Finding {
    Finding::new(
        CheckLevel::NotRun,
        format!("{part}: could not be checked: {why}"),
        format!("{part_nb}: kunne ikke sjekkes: {why}"),
    )
    .advise(
        "Call IT and tell them this message.",
        "Ring IT og fortell dem denne meldingen.",
    )
}

fn media_failed_camera(source: String, why: &str) -> CameraFinding {
    CameraFinding::without_pictures(media_failed("Camera", "Kamera", why), source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let target = LineTarget {
            gateway: "https://gw.example/".parse().unwrap(),
            room: "r1".to_owned(),
            token: "secret-publisher-token".to_owned(),
            trust: GatewayTrust::SystemRoots,
        };
        let shown = format!("{target:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("r1") && shown.contains("gw.example"),
            "{shown}"
        );
    }
}
