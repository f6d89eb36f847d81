//! The camera supervisor's decisions: whether the camera is delivering,
//! when it counts as lost, when to rebuild it, and which picture the
//! stream carries meanwhile.
//!
//! - **Starting**: the capture pipeline runs and the camera is started. A
//!   camera still starting up is given the publisher's first-frame
//!   timeout, not [`STALL_LIMIT`]; one that fails before it ever delivered
//!   a picture (a file that is not a video, a camera another program holds)
//!   is a setup error, not an unplug: it is reported, and the supervision
//!   ends.
//! - **Live**: the camera delivers. It is lost when its source fails or
//!   ends (v4l2src posts a read error on `ENODEV`), or delivers nothing for
//!   [`STALL_LIMIT`].
//! - **Lost**: the "camera disconnected" slate takes the camera's place in
//!   the stream, and the camera is rebuilt every [`RETRY_EVERY`]. A rebuilt
//!   camera that neither fails nor delivers is given [`STALL_LIMIT`] more
//!   before the next rebuild. Its first frame takes over from the slate.
//! - **Photo**: a photo in the camera's still mode needs the camera
//!   stopped; the stream repeats the camera's last picture meanwhile (not
//!   the slate: nothing is wrong). Afterwards the camera is opened in its
//!   streaming mode again, and its first frame takes over from the frozen
//!   picture; a camera that does not come back within [`STALL_LIMIT`]
//!   counts as lost.
//!
//! The machine is sans-IO, as the quality ladder
//! ([`crate::latency::ladder`]) is: it never reads a clock and never
//! touches GStreamer. The supervisor ([`super::supervise`]) passes `now`
//! and what happened into [`CameraWatch::handle`] and performs the
//! [`Action`]s it returns; it reports a [`Event::Tick`] every few tens of
//! milliseconds.

use std::time::{Duration, Instant};

/// A source that delivers nothing for this long counts as disconnected.
pub const STALL_LIMIT: Duration = Duration::from_secs(2);
/// How often a disconnected source is rebuilt.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// The camera as the nurse's screen shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraState {
    /// Not delivering yet: the daemon is starting the camera.
    Starting,
    /// The camera's picture is in the stream.
    Live,
    /// The camera is gone (unplugged, failed, silent): the specialists see
    /// the "camera disconnected" slate until it is back.
    Lost,
    /// The camera is switching modes for a photo; the stream repeats its
    /// last picture.
    Photo,
}

/// Which picture the stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Showing {
    /// The camera's.
    Camera,
    /// The "camera disconnected" slate.
    Slate,
    /// The camera's last picture, repeated while it switches modes.
    Frozen,
}

/// What happened to the camera, as the supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The capture pipeline runs: time to start the camera.
    PipelineRunning,
    /// The camera delivered a frame.
    Frame,
    /// The camera's source failed or ended.
    CameraFailed,
    /// The camera could not be built again, or did not start; the text
    /// says why.
    RebuildFailed(String),
    /// A regular look (every few tens of milliseconds).
    Tick,
    /// A photo in the still mode begins: the camera must stop.
    PhotoStarted,
    /// The still mode is done with (photo taken or not): back to streaming.
    PhotoDone,
}

/// What the supervisor must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start the camera built at the start.
    StartCamera,
    /// Build the camera again in its streaming mode and start it; report
    /// [`Event::RebuildFailed`] if that fails.
    RebuildCamera,
    /// Stop the camera and let it go.
    DropCamera,
    /// The stream carries this picture from now on.
    Show(Showing),
    /// Run the slate.
    StartSlate,
    /// Stop the slate: the camera's picture is back.
    StopSlate,
    /// Repeat the camera's last picture into the stream.
    HoldPicture,
    /// Stop repeating it.
    ReleasePicture,
    /// The camera failed before it ever delivered a picture: post its
    /// error on the capture pipeline's bus (the daemon says what is wrong
    /// instead of showing a slate forever) and end the supervision.
    ReportSetupError,
}

/// Why a photo cannot be taken now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPhoto {
    /// The camera has not shown a picture yet.
    NoPictureYet,
    /// The camera is disconnected (or busy switching modes).
    Disconnected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The capture pipeline does not run yet.
    Idle,
    /// The camera was started and has not delivered yet.
    Starting,
    /// The camera delivers.
    Live,
    /// The camera is gone.
    Lost {
        /// Since when.
        since: Instant,
        /// Rebuilds tried.
        tries: u32,
    },
    /// The camera switches modes for a photo.
    Photo {
        /// Set once it was reopened in its streaming mode: it must deliver
        /// by then.
        resume_by: Option<Instant>,
    },
    /// The camera failed before it ever delivered: reported, over.
    SetupFailed,
}

/// The camera supervisor's decisions; see the [module
/// documentation](self).
#[derive(Debug, Clone)]
pub struct CameraWatch {
    phase: Phase,
    showing: Showing,
    /// When the camera last delivered (or was started).
    last_frame: Instant,
    /// Whether a camera is there (started, or being started).
    has_camera: bool,
    /// When the next rebuild is due while the camera is lost.
    next_retry: Instant,
}

impl CameraWatch {
    /// A watch over a camera built but not started, showing its picture.
    pub fn new(now: Instant) -> Self {
        Self {
            phase: Phase::Idle,
            showing: Showing::Camera,
            last_frame: now,
            has_camera: false,
            next_retry: now,
        }
    }

    /// The camera's state.
    pub fn state(&self) -> CameraState {
        match self.phase {
            Phase::Idle | Phase::Starting => CameraState::Starting,
            Phase::Live => CameraState::Live,
            Phase::Lost { .. } | Phase::SetupFailed => CameraState::Lost,
            Phase::Photo { .. } => CameraState::Photo,
        }
    }

    /// Which picture the stream carries.
    pub fn showing(&self) -> Showing {
        self.showing
    }

    /// Whether a photo may be taken at `now`: only of a camera delivering
    /// its picture.
    pub fn may_take_photo(&self, now: Instant) -> Result<(), NoPhoto> {
        match self.phase {
            Phase::Idle | Phase::Starting => Err(NoPhoto::NoPictureYet),
            Phase::Live if now.saturating_duration_since(self.last_frame) < STALL_LIMIT => Ok(()),
            _ => Err(NoPhoto::Disconnected),
        }
    }

    /// Takes in what happened at `now`; returns what to do, in order.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            Event::PipelineRunning if self.phase == Phase::Idle => {
                self.phase = Phase::Starting;
                self.has_camera = true;
                self.last_frame = now;
                actions.push(Action::StartCamera);
            }
            Event::PipelineRunning => {}
            // A frame of a camera already let go is history.
            Event::Frame if self.has_camera => self.frame(now, &mut actions),
            Event::Frame => {}
            Event::CameraFailed if self.has_camera => self.camera_failed(now, &mut actions),
            Event::CameraFailed => {}
            Event::RebuildFailed(why) => {
                self.has_camera = false;
                if let Phase::Photo { resume_by: Some(_) } = self.phase {
                    let why = format!(
                        "its streaming mode could not be opened again after a photo: {why}"
                    );
                    self.lose(now, &why, &mut actions);
                }
            }
            Event::Tick => self.tick(now, &mut actions),
            Event::PhotoStarted if self.phase == Phase::Live => {
                self.phase = Phase::Photo { resume_by: None };
                self.show(Showing::Frozen, &mut actions);
                self.has_camera = false;
                actions.extend([Action::DropCamera, Action::HoldPicture]);
            }
            Event::PhotoStarted => {}
            Event::PhotoDone => {
                if self.phase == (Phase::Photo { resume_by: None }) {
                    self.phase = Phase::Photo {
                        resume_by: Some(now + STALL_LIMIT),
                    };
                    self.has_camera = true;
                    actions.push(Action::RebuildCamera);
                }
            }
        }
        actions
    }

    fn show(&mut self, picture: Showing, actions: &mut Vec<Action>) {
        if self.showing != picture {
            self.showing = picture;
            actions.push(Action::Show(picture));
        }
    }

    fn frame(&mut self, now: Instant, actions: &mut Vec<Action>) {
        self.last_frame = now;
        match self.phase {
            Phase::Starting => self.phase = Phase::Live,
            Phase::Lost { since, tries } => {
                tracing::info!(
                    "the camera is back after {:.0} s ({tries} {}); sending its video again",
                    now.saturating_duration_since(since).as_secs_f64(),
                    if tries == 1 { "try" } else { "tries" }
                );
                self.phase = Phase::Live;
                self.show(Showing::Camera, actions);
                actions.push(Action::StopSlate);
            }
            Phase::Photo { resume_by: Some(_) } => {
                self.phase = Phase::Live;
                self.show(Showing::Camera, actions);
                actions.push(Action::ReleasePicture);
            }
            Phase::Idle | Phase::Live | Phase::Photo { resume_by: None } | Phase::SetupFailed => {}
        }
    }

    fn camera_failed(&mut self, now: Instant, actions: &mut Vec<Action>) {
        match self.phase {
            Phase::Starting => {
                self.phase = Phase::SetupFailed;
                actions.push(Action::ReportSetupError);
            }
            Phase::Live => self.lose(now, "it failed or was unplugged", actions),
            Phase::Lost { .. } => {
                self.has_camera = false;
                actions.push(Action::DropCamera);
            }
            Phase::Photo { resume_by: Some(_) } => self.lose(
                now,
                "it did not deliver in its streaming mode again after a photo",
                actions,
            ),
            Phase::Idle | Phase::Photo { resume_by: None } | Phase::SetupFailed => {}
        }
    }

    fn tick(&mut self, now: Instant, actions: &mut Vec<Action>) {
        match self.phase {
            Phase::Live if now.saturating_duration_since(self.last_frame) >= STALL_LIMIT => {
                self.lose(now, "it stopped delivering pictures", actions);
            }
            Phase::Lost { since, tries } => {
                // A rebuilt camera that has not delivered yet: give it
                // time, then try again.
                if self.has_camera && now >= self.next_retry + STALL_LIMIT {
                    self.has_camera = false;
                    actions.push(Action::DropCamera);
                }
                if !self.has_camera && now >= self.next_retry {
                    self.next_retry = now + RETRY_EVERY;
                    self.has_camera = true;
                    self.phase = Phase::Lost {
                        since,
                        tries: tries + 1,
                    };
                    actions.push(Action::RebuildCamera);
                }
            }
            Phase::Photo {
                resume_by: Some(by),
            } if now >= by => self.lose(
                now,
                "it did not deliver in its streaming mode again after a photo",
                actions,
            ),
            _ => {}
        }
    }

    /// The slate takes over until the camera is back.
    fn lose(&mut self, now: Instant, why: &str, actions: &mut Vec<Action>) {
        tracing::warn!(
            "camera disconnected ({why}); the specialists see a \"camera \
             disconnected\" picture until it is back"
        );
        if matches!(self.phase, Phase::Photo { .. }) {
            actions.push(Action::ReleasePicture);
        }
        self.show(Showing::Slate, actions);
        actions.push(Action::StartSlate);
        if self.has_camera {
            self.has_camera = false;
            actions.push(Action::DropCamera);
        }
        self.phase = Phase::Lost {
            since: now,
            tries: 0,
        };
        self.next_retry = now + RETRY_EVERY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A camera that delivered its first frame at `t0`.
    fn live(t0: Instant) -> CameraWatch {
        let mut watch = CameraWatch::new(t0);
        assert_eq!(watch.state(), CameraState::Starting);
        assert_eq!(
            watch.handle(t0, Event::PipelineRunning),
            [Action::StartCamera]
        );
        assert!(watch.handle(t0, Event::Frame).is_empty());
        assert_eq!(watch.state(), CameraState::Live);
        assert_eq!(watch.showing(), Showing::Camera);
        watch
    }

    /// A camera lost at `t0` (it stopped delivering 2 s before).
    fn lost(t0: Instant) -> CameraWatch {
        let mut watch = live(t0 - STALL_LIMIT);
        assert_eq!(
            watch.handle(t0, Event::Tick),
            [
                Action::Show(Showing::Slate),
                Action::StartSlate,
                Action::DropCamera
            ]
        );
        watch
    }

    #[test]
    fn a_delivering_camera_stays_live() {
        let t0 = Instant::now();
        let mut watch = live(t0);
        for n in 1..100u32 {
            let at = t0 + n * 33 * MS;
            assert!(watch.handle(at, Event::Frame).is_empty());
            assert!(watch.handle(at, Event::Tick).is_empty());
        }
        assert_eq!(watch.state(), CameraState::Live);
        assert_eq!(watch.may_take_photo(t0 + 3300 * MS), Ok(()));
    }

    #[test]
    fn a_silent_camera_is_lost_after_the_stall_limit() {
        let t0 = Instant::now();
        let mut watch = live(t0);
        assert!(watch.handle(t0 + 1999 * MS, Event::Tick).is_empty());
        assert_eq!(
            watch.handle(t0 + STALL_LIMIT, Event::Tick),
            [
                Action::Show(Showing::Slate),
                Action::StartSlate,
                Action::DropCamera
            ]
        );
        assert_eq!(watch.state(), CameraState::Lost);
        assert_eq!(watch.showing(), Showing::Slate);
        assert_eq!(
            watch.may_take_photo(t0 + STALL_LIMIT),
            Err(NoPhoto::Disconnected)
        );
    }

    #[test]
    fn a_failing_camera_is_lost_at_once() {
        let t0 = Instant::now();
        let mut watch = live(t0);
        assert_eq!(
            watch.handle(t0 + 100 * MS, Event::CameraFailed),
            [
                Action::Show(Showing::Slate),
                Action::StartSlate,
                Action::DropCamera
            ]
        );
        assert_eq!(watch.state(), CameraState::Lost);
        // Its last frames, after it was let go, change nothing.
        assert!(watch.handle(t0 + 110 * MS, Event::Frame).is_empty());
        assert_eq!(watch.showing(), Showing::Slate);
    }

    #[test]
    fn a_lost_camera_is_rebuilt_every_retry() {
        let t0 = Instant::now();
        let mut watch = lost(t0);
        assert!(watch.handle(t0 + 950 * MS, Event::Tick).is_empty());
        assert_eq!(
            watch.handle(t0 + RETRY_EVERY, Event::Tick),
            [Action::RebuildCamera]
        );
        // Not there yet (opening a missing device fails).
        assert!(
            watch
                .handle(
                    t0 + RETRY_EVERY,
                    Event::RebuildFailed("no such device".into())
                )
                .is_empty()
        );
        assert!(watch.handle(t0 + 1500 * MS, Event::Tick).is_empty());
        assert_eq!(
            watch.handle(t0 + 2 * RETRY_EVERY, Event::Tick),
            [Action::RebuildCamera]
        );
        // A rebuilt camera that fails is let go; the next retry comes on time.
        assert_eq!(
            watch.handle(t0 + 2100 * MS, Event::CameraFailed),
            [Action::DropCamera]
        );
        assert!(watch.handle(t0 + 2500 * MS, Event::Tick).is_empty());
        assert_eq!(
            watch.handle(t0 + 3 * RETRY_EVERY, Event::Tick),
            [Action::RebuildCamera]
        );
        assert_eq!(watch.state(), CameraState::Lost);
    }

    #[test]
    fn a_rebuilt_camera_that_stays_silent_is_given_the_stall_limit() {
        let t0 = Instant::now();
        let mut watch = lost(t0);
        watch.handle(t0 + RETRY_EVERY, Event::Tick);
        // Due again at 2 s, but the rebuilt camera gets 2 s more.
        assert!(watch.handle(t0 + 3900 * MS, Event::Tick).is_empty());
        assert_eq!(
            watch.handle(t0 + 2 * RETRY_EVERY + STALL_LIMIT, Event::Tick),
            [Action::DropCamera, Action::RebuildCamera]
        );
    }

    #[test]
    fn a_camera_back_takes_over_from_the_slate() {
        let t0 = Instant::now();
        let mut watch = lost(t0);
        watch.handle(t0 + RETRY_EVERY, Event::Tick);
        assert_eq!(
            watch.handle(t0 + 1300 * MS, Event::Frame),
            [Action::Show(Showing::Camera), Action::StopSlate]
        );
        assert_eq!(watch.state(), CameraState::Live);
        assert_eq!(watch.showing(), Showing::Camera);
        // Back to the stall limit as usual.
        assert!(watch.handle(t0 + 3200 * MS, Event::Tick).is_empty());
        assert_eq!(watch.handle(t0 + 3300 * MS, Event::Tick).len(), 3);
    }

    #[test]
    fn a_camera_that_fails_before_its_first_picture_is_a_setup_error() {
        let t0 = Instant::now();
        let mut watch = CameraWatch::new(t0);
        watch.handle(t0, Event::PipelineRunning);
        // Starting up takes as long as it takes: no stall limit.
        assert!(watch.handle(t0 + 5 * STALL_LIMIT, Event::Tick).is_empty());
        assert_eq!(
            watch.may_take_photo(t0 + 5 * STALL_LIMIT),
            Err(NoPhoto::NoPictureYet)
        );
        assert_eq!(
            watch.handle(t0 + 11 * STALL_LIMIT, Event::CameraFailed),
            [Action::ReportSetupError]
        );
        assert_eq!(watch.showing(), Showing::Camera, "no slate");
        assert!(watch.handle(t0 + 12 * STALL_LIMIT, Event::Tick).is_empty());
    }

    #[test]
    fn nothing_is_started_before_the_pipeline_runs() {
        let t0 = Instant::now();
        let mut watch = CameraWatch::new(t0);
        assert!(watch.handle(t0 + 10 * STALL_LIMIT, Event::Tick).is_empty());
        assert!(watch.handle(t0, Event::CameraFailed).is_empty());
        assert_eq!(watch.state(), CameraState::Starting);
        assert_eq!(
            watch.handle(t0 + 10 * STALL_LIMIT, Event::PipelineRunning),
            [Action::StartCamera]
        );
        // The stall limit counts from the start, not from construction.
        assert!(watch.handle(t0 + 10 * STALL_LIMIT, Event::Frame).is_empty());
        assert!(
            watch
                .handle(t0 + 11 * STALL_LIMIT - MS, Event::Tick)
                .is_empty()
        );
    }

    #[test]
    fn a_photo_freezes_the_picture_and_the_camera_resumes() {
        let t0 = Instant::now();
        let mut watch = live(t0);
        assert_eq!(
            watch.handle(t0 + 100 * MS, Event::PhotoStarted),
            [
                Action::Show(Showing::Frozen),
                Action::DropCamera,
                Action::HoldPicture
            ]
        );
        assert_eq!(watch.state(), CameraState::Photo);
        // The still mode takes its time: the frozen picture is no stall.
        assert!(watch.handle(t0 + 3 * STALL_LIMIT, Event::Tick).is_empty());
        assert_eq!(
            watch.may_take_photo(t0 + 3 * STALL_LIMIT),
            Err(NoPhoto::Disconnected)
        );
        assert_eq!(
            watch.handle(t0 + 3 * STALL_LIMIT, Event::PhotoDone),
            [Action::RebuildCamera]
        );
        assert_eq!(
            watch.handle(t0 + 3 * STALL_LIMIT + 400 * MS, Event::Frame),
            [Action::Show(Showing::Camera), Action::ReleasePicture]
        );
        assert_eq!(watch.state(), CameraState::Live);
    }

    #[test]
    fn a_camera_silent_after_a_photo_is_lost() {
        let t0 = Instant::now();
        let mut watch = live(t0);
        watch.handle(t0, Event::PhotoStarted);
        watch.handle(t0 + MS, Event::PhotoDone);
        assert!(
            watch
                .handle(t0 + MS + STALL_LIMIT - MS, Event::Tick)
                .is_empty()
        );
        assert_eq!(
            watch.handle(t0 + MS + STALL_LIMIT, Event::Tick),
            [
                Action::ReleasePicture,
                Action::Show(Showing::Slate),
                Action::StartSlate,
                Action::DropCamera
            ]
        );
        assert_eq!(watch.state(), CameraState::Lost);
        // And rebuilt as after an unplug.
        assert_eq!(
            watch.handle(t0 + MS + STALL_LIMIT + RETRY_EVERY, Event::Tick),
            [Action::RebuildCamera]
        );
    }

    #[test]
    fn a_camera_that_cannot_reopen_after_a_photo_is_lost() {
        let t0 = Instant::now();
        let mut watch = live(t0);
        watch.handle(t0, Event::PhotoStarted);
        watch.handle(t0, Event::PhotoDone);
        assert_eq!(
            watch.handle(t0, Event::RebuildFailed("device busy".into())),
            [
                Action::ReleasePicture,
                Action::Show(Showing::Slate),
                Action::StartSlate
            ]
        );
        assert_eq!(watch.state(), CameraState::Lost);
        // A reopened camera that fails at once is lost the same way.
        let mut watch = live(t0);
        watch.handle(t0, Event::PhotoStarted);
        watch.handle(t0, Event::PhotoDone);
        assert_eq!(
            watch.handle(t0 + 10 * MS, Event::CameraFailed),
            [
                Action::ReleasePicture,
                Action::Show(Showing::Slate),
                Action::StartSlate,
                Action::DropCamera
            ]
        );
    }

    #[test]
    fn no_photo_of_a_lost_camera() {
        let t0 = Instant::now();
        let mut watch = lost(t0);
        assert!(watch.handle(t0, Event::PhotoStarted).is_empty());
        assert!(watch.handle(t0, Event::PhotoDone).is_empty());
        assert_eq!(watch.state(), CameraState::Lost);
    }
}
