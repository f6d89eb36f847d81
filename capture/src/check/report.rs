//! What the check found: one finding per part, and the verdict over them.
//!
//! Every sentence is there twice, in English (`headline`, `advice`) and in
//! Norwegian bokmål (`headline_nb`, `advice_nb`), so the nurse screen shows
//! the Norwegian and the terminal and IT read the English.
//!
//! The verdict is the worst part's: a part that cannot be used (no camera,
//! no way to the hospital) makes the whole check unusable; a line that
//! could not be tested makes it "not run" unless something is already
//! known to be unusable; a weak part makes it marginal. Parts the settings
//! turn off (`audio = false`, `speaker = none`, no room given) are skipped
//! and do not count.

use serde::Serialize;

/// How a part, or the whole check, came out.
///
/// The exit codes are those of `samsyn-bench connect`, so scripts read
/// both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckLevel {
    /// Works.
    Good,
    /// Works, with a problem the nurse can often fix.
    Marginal,
    /// A consultation cannot work like this.
    Unusable,
    /// The part could not be tested (or, for a part, was skipped).
    NotRun,
}

impl CheckLevel {
    /// 0 good, 1 marginal, 2 unusable, 3 the test could not run.
    pub fn exit_code(self) -> u8 {
        match self {
            CheckLevel::Good => 0,
            CheckLevel::Marginal => 1,
            CheckLevel::Unusable => 2,
            CheckLevel::NotRun => 3,
        }
    }

    /// The machine code, as in the JSON: `good`, `marginal`, `unusable`,
    /// `not_run`.
    pub fn code(self) -> &'static str {
        match self {
            CheckLevel::Good => "good",
            CheckLevel::Marginal => "marginal",
            CheckLevel::Unusable => "unusable",
            CheckLevel::NotRun => "not_run",
        }
    }

    /// The verdict in one word, for the terminal.
    pub fn word(self) -> &'static str {
        match self {
            CheckLevel::Good => "GOOD",
            CheckLevel::Marginal => "MARGINAL",
            CheckLevel::Unusable => "UNUSABLE",
            CheckLevel::NotRun => "NOT RUN",
        }
    }

    /// The verdict in one Norwegian word.
    pub fn word_nb(self) -> &'static str {
        match self {
            CheckLevel::Good => "GOD",
            CheckLevel::Marginal => "SVAK",
            CheckLevel::Unusable => "VIRKER IKKE",
            CheckLevel::NotRun => "IKKE TESTET",
        }
    }

    /// How much it weighs in the verdict: an answer that is known to be
    /// bad outweighs one that could not be found out.
    fn severity(self) -> u8 {
        match self {
            CheckLevel::Good => 0,
            CheckLevel::Marginal => 1,
            CheckLevel::NotRun => 2,
            CheckLevel::Unusable => 3,
        }
    }
}

/// The words every part's finding carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// How the part came out; `NotRun` when skipped or not testable.
    pub level: CheckLevel,
    /// The settings leave this part out; it does not count in the verdict.
    pub skipped: bool,
    /// One sentence saying what was found.
    pub headline: String,
    /// The same in Norwegian bokmål.
    pub headline_nb: String,
    /// What to do, one sentence each.
    pub advice: Vec<String>,
    /// The same in Norwegian bokmål, in the same order.
    pub advice_nb: Vec<String>,
}

impl Finding {
    /// A finding of `level` with its headline in both languages.
    pub fn new(
        level: CheckLevel,
        headline: impl Into<String>,
        headline_nb: impl Into<String>,
    ) -> Self {
        Self {
            level,
            skipped: false,
            headline: headline.into(),
            headline_nb: headline_nb.into(),
            advice: Vec::new(),
            advice_nb: Vec::new(),
        }
    }

    /// A part the settings leave out.
    pub fn skipped(headline: impl Into<String>, headline_nb: impl Into<String>) -> Self {
        Self {
            skipped: true,
            ..Self::new(CheckLevel::NotRun, headline, headline_nb)
        }
    }

    /// Adds one piece of advice in both languages.
    pub fn advise(mut self, advice: impl Into<String>, advice_nb: impl Into<String>) -> Self {
        self.advice.push(advice.into());
        self.advice_nb.push(advice_nb.into());
        self
    }
}

/// One camera the system offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraSeen {
    /// Its device node, e.g. `/dev/video0`.
    pub path: String,
    /// Its name, e.g. `HD Pro Webcam C920`.
    pub name: String,
}

/// The camera part: which source, which mode, and what pictures came.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// The `source` setting checked.
    pub source: String,
    /// Every video capture device found, whatever the source.
    pub cameras: Vec<CameraSeen>,
    /// The camera mode chosen, e.g. `MJPG 1280x720 @ 30 fps` (cameras only).
    pub mode: Option<String>,
    /// Pictures that arrived during the check.
    pub frames: u32,
    /// Their width and height in pixels.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Pictures a second, measured.
    pub frames_per_second: Option<f64>,
}

impl CameraFinding {
    /// `finding` for `source`, before any camera is listed or picture taken.
    pub fn without_pictures(finding: Finding, source: String) -> Self {
        Self {
            finding,
            source,
            cameras: Vec::new(),
            mode: None,
            frames: 0,
            width: None,
            height: None,
            frames_per_second: None,
        }
    }
}

/// The microphone part: what it heard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MicrophoneFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// What was listened to: a microphone's name, or the test sound.
    pub input: Option<String>,
    /// The loudest sample, dBFS.
    pub peak_dbfs: Option<f64>,
    /// The loudest tenth of a second (RMS), dBFS.
    pub rms_dbfs: Option<f64>,
}

/// The sound part: where the test chime played.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoundFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// The output it played on, e.g. `the default sound output (pulsesink)`.
    pub output: Option<String>,
}

/// The way the video takes to the hospital, as `samsyn-bench connect`
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinePath {
    /// Straight to the gateway's media port over UDP.
    Udp,
    /// The gateway's built-in relay over TCP on its HTTPS port.
    RelayTcp,
    /// The gateway's built-in relay over TLS on its HTTPS port.
    RelayTls,
    /// A relay of the hospital's own (`turn.urls`).
    ExternalRelay,
}

/// The line part: the connection test's verdict and figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineFinding {
    #[serde(flatten)]
    pub finding: Finding,
    /// The path a consultation from here will take; `None` when none works
    /// or the line was not tested.
    pub path: Option<LinePath>,
    /// The relay's URI on that path (no credentials); `None` for UDP.
    pub path_url: Option<String>,
    /// The picture quality the line carries, e.g. `720p30`.
    pub profile: Option<String>,
    /// The highest media bitrate the line sustained, kbit/s.
    pub max_sustainable_kbps: Option<u32>,
    /// The round trip on the media path, ms.
    pub rtt_ms: Option<f64>,
}

impl LineFinding {
    /// A line finding without figures.
    pub fn without_figures(finding: Finding) -> Self {
        Self {
            finding,
            path: None,
            path_url: None,
            profile: None,
            max_sustainable_kbps: None,
            rtt_ms: None,
        }
    }
}

/// Everything the check found, and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    /// The verdict: the worst part's level.
    pub level: CheckLevel,
    /// [`CheckLevel::exit_code`] of the verdict.
    pub exit_code: u8,
    /// The verdict in one sentence: the worst part's headline.
    pub headline: String,
    pub headline_nb: String,
    /// What to do: the advice of every part that is not good, worst first.
    pub advice: Vec<String>,
    pub advice_nb: Vec<String>,
    pub camera: CameraFinding,
    pub microphone: MicrophoneFinding,
    pub sound: SoundFinding,
    pub line: LineFinding,
    /// How long the check took, seconds.
    pub duration_s: f64,
    /// The camera's picture as a JPEG at most 640 pixels wide, for the
    /// screen. Left out of the JSON (the screen serves it on its own).
    #[serde(skip)]
    pub picture_jpeg: Option<Vec<u8>>,
}

impl CheckReport {
    /// Puts the parts together under their verdict.
    pub fn new(
        camera: CameraFinding,
        microphone: MicrophoneFinding,
        sound: SoundFinding,
        line: LineFinding,
        picture_jpeg: Option<Vec<u8>>,
        duration_s: f64,
    ) -> Self {
        let verdict = Verdict::of(&[
            &camera.finding,
            &microphone.finding,
            &sound.finding,
            &line.finding,
        ]);
        Self {
            level: verdict.level,
            exit_code: verdict.level.exit_code(),
            headline: verdict.headline,
            headline_nb: verdict.headline_nb,
            advice: verdict.advice,
            advice_nb: verdict.advice_nb,
            camera,
            microphone,
            sound,
            line,
            duration_s,
            picture_jpeg,
        }
    }

    /// The process's exit code: 0 good, 1 marginal, 2 unusable, 3 the
    /// check could not run, as `samsyn-bench connect` has them.
    pub fn exit_code(&self) -> u8 {
        self.level.exit_code()
    }

    /// The parts in the order they are checked, with their findings.
    pub fn parts(&self) -> [(super::CheckStep, &Finding); 4] {
        use super::CheckStep;
        [
            (CheckStep::Camera, &self.camera.finding),
            (CheckStep::Microphone, &self.microphone.finding),
            (CheckStep::Sound, &self.sound.finding),
            (CheckStep::Line, &self.line.finding),
        ]
    }
}

/// The verdict over the parts' findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub level: CheckLevel,
    pub headline: String,
    pub headline_nb: String,
    pub advice: Vec<String>,
    pub advice_nb: Vec<String>,
}

/// The verdict's headline when every part that ran is good.
pub const ALL_GOOD: &str = "Everything works: ready for the consultation.";
/// [`ALL_GOOD`] in Norwegian.
pub const ALL_GOOD_NB: &str = "Alt virker: klar for konsultasjonen.";

impl Verdict {
    /// The worst of `findings` (skipped ones left out), with its headline;
    /// the advice of every finding that is not good, worst first, then in
    /// the order of the parts.
    pub fn of(findings: &[&Finding]) -> Self {
        let mut counted: Vec<&Finding> = findings
            .iter()
            .copied()
            .filter(|f| !f.skipped && f.level != CheckLevel::Good)
            .collect();
        // Stable: among equals the parts keep their order.
        counted.sort_by_key(|f| std::cmp::Reverse(f.level.severity()));
        let Some(worst) = counted.first() else {
            return Self {
                level: CheckLevel::Good,
                headline: ALL_GOOD.to_owned(),
                headline_nb: ALL_GOOD_NB.to_owned(),
                advice: Vec::new(),
                advice_nb: Vec::new(),
            };
        };
        let mut advice = Vec::new();
        let mut advice_nb = Vec::new();
        for finding in &counted {
            for (en, nb) in finding.advice.iter().zip(&finding.advice_nb) {
                if !advice.contains(en) {
                    advice.push(en.clone());
                    advice_nb.push(nb.clone());
                }
            }
        }
        Self {
            level: worst.level,
            headline: worst.headline.clone(),
            headline_nb: worst.headline_nb.clone(),
            advice,
            advice_nb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(level: CheckLevel, name: &str) -> Finding {
        Finding::new(level, name, format!("{name} (nb)"))
            .advise(format!("fix {name}"), format!("fiks {name}"))
    }

    #[test]
    fn all_good_is_ready() {
        let good = finding(CheckLevel::Good, "camera");
        let verdict = Verdict::of(&[&good, &good]);
        assert_eq!(verdict.level, CheckLevel::Good);
        assert_eq!(verdict.headline, ALL_GOOD);
        assert!(verdict.advice.is_empty(), "{:?}", verdict.advice);
    }

    #[test]
    fn the_worst_part_decides_and_gives_the_headline() {
        let camera = finding(CheckLevel::Good, "camera");
        let microphone = finding(CheckLevel::Marginal, "microphone");
        let line = finding(CheckLevel::Unusable, "line");
        let verdict = Verdict::of(&[&camera, &microphone, &line]);
        assert_eq!(verdict.level, CheckLevel::Unusable);
        assert_eq!(verdict.headline, "line");
        assert_eq!(verdict.headline_nb, "line (nb)");
        assert_eq!(verdict.advice, ["fix line", "fix microphone"]);
        assert_eq!(verdict.advice_nb, ["fiks line", "fiks microphone"]);

        let verdict = Verdict::of(&[&camera, &microphone]);
        assert_eq!(verdict.level, CheckLevel::Marginal);
        assert_eq!(verdict.level.exit_code(), 1);
    }

    #[test]
    fn a_missing_camera_outweighs_a_line_that_was_not_tested() {
        let camera = finding(CheckLevel::Unusable, "no camera");
        let line = finding(CheckLevel::NotRun, "no bench");
        let verdict = Verdict::of(&[&camera, &line]);
        assert_eq!(verdict.level, CheckLevel::Unusable);
        assert_eq!(verdict.headline, "no camera");
        assert_eq!(verdict.level.exit_code(), 2);
    }

    #[test]
    fn an_untested_line_outweighs_a_weak_part() {
        let microphone = finding(CheckLevel::Marginal, "quiet");
        let line = finding(CheckLevel::NotRun, "no bench");
        let verdict = Verdict::of(&[&microphone, &line]);
        assert_eq!(verdict.level, CheckLevel::NotRun);
        assert_eq!(verdict.level.exit_code(), 3);
        assert_eq!(verdict.advice, ["fix no bench", "fix quiet"]);
    }

    #[test]
    fn skipped_parts_do_not_count() {
        let camera = finding(CheckLevel::Good, "camera");
        let sound = Finding::skipped("no speaker", "ingen høyttaler");
        let verdict = Verdict::of(&[&camera, &sound]);
        assert_eq!(verdict.level, CheckLevel::Good);
        assert_eq!(verdict.level.exit_code(), 0);
    }

    #[test]
    fn exit_codes_match_the_connection_test() {
        let codes: Vec<u8> = [
            CheckLevel::Good,
            CheckLevel::Marginal,
            CheckLevel::Unusable,
            CheckLevel::NotRun,
        ]
        .map(CheckLevel::exit_code)
        .to_vec();
        assert_eq!(codes, [0, 1, 2, 3]);
        for level in [
            CheckLevel::Good,
            CheckLevel::Marginal,
            CheckLevel::Unusable,
            CheckLevel::NotRun,
        ] {
            assert_eq!(serde_json::to_value(level).unwrap(), level.code());
        }
    }

    #[test]
    fn the_same_advice_is_given_once() {
        let a = finding(CheckLevel::Marginal, "x");
        let b = finding(CheckLevel::Marginal, "x");
        assert_eq!(Verdict::of(&[&a, &b]).advice, ["fix x"]);
    }
}
