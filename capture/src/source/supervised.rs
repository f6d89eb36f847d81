//! A video source that outlives its camera.
//!
//! A USB head camera gets unplugged, knocked loose, or reset by a power-saving
//! hub. Its GStreamer source then fails (v4l2src posts a read error on
//! `ENODEV`) or simply stops delivering. Either way the capture pipeline must
//! not stop: the specialists would be left with a frozen frame and the
//! encoder, the session and the gateway would all have to start over.
//!
//! So the source runs in a small pipeline of its own, handing frames to the
//! capture pipeline through an `appsrc`. When it fails, ends, or delivers
//! nothing for [`STALL_LIMIT`], a generated slate ("Camera disconnected —
//! reconnecting…", with the time) takes its place in the same stream, and the
//! source is rebuilt every [`RETRY_EVERY`] until it delivers frames again;
//! then the camera's picture replaces the slate. The encoder, the session and
//! the viewers see one continuous stream throughout.
//!
//! The camera's bin delivers raw video at the size of its mode; its pipeline
//! here converts, scales and rate-adapts it to raw I420 at the configured
//! size and rate, as the slate's does, so the switch needs no
//! renegotiation. Before it is scaled, the camera's newest frame is kept at
//! the camera's own size for still photos ([`CameraPhotos`]): the
//! supervisor owns the camera, so it answers the photo requests.
//!
//! A photo in the camera's still mode (its largest picture) needs the
//! camera to switch modes, which a UVC camera only does while stopped. So
//! the supervisor stops it, the stream repeats the camera's last picture
//! (not the slate: nothing is wrong), the camera is opened in its still
//! mode in a pipeline of its own, a frame is taken once it has settled
//! ([`super::mode_switch`]), and the camera is opened in its streaming mode
//! again, whose first frame replaces the frozen picture. If the still mode
//! fails in any way, the photo is the streaming mode's newest frame
//! instead, and the log says so; if the streaming mode does not come back,
//! the camera counts as disconnected and is rebuilt as after an unplug.
//!
//! A source that fails before it ever delivered a picture (a file that is
//! not a video, a camera another program holds) is not an unplug but a
//! setup error: its error goes to the capture pipeline's bus as before, so
//! the daemon says what is wrong instead of showing a slate forever.
//!
//! Every one of these decisions is [`CameraWatch`]'s
//! ([`super::camera_watch`]); this module does the GStreamer work and
//! feeds it what happens. The camera's state ([`CameraState`]) is there to
//! follow with [`supervise_with_state`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use tokio::sync::watch;

use super::camera_photos::{CameraPhoto, CameraPhotoError, CameraPhotos, PhotoFrom, PhotoRequest};
use super::camera_watch::{Action, CameraWatch, Event, NoPhoto, Showing};
pub use super::camera_watch::{CameraState, RETRY_EVERY, STALL_LIMIT};
use super::mode_switch::{HeldPicture, grab_still};
use super::{FullSizeFrames, PhotoMode, Source, SourceError, SourceOutput, capsfilter};
use crate::elements::{GstError, make, set_property_str};
use crate::settings::VideoSettings;

/// What the slate says.
pub const SLATE_TEXT: &str = "Camera disconnected \u{2014} reconnecting\u{2026}";

const KIND: &str = "supervised";

/// What a camera source is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraUse {
    /// The live stream: the camera in its streaming mode.
    Stream,
    /// One still photo: the camera in its still mode (its largest picture).
    Still,
}

/// Builds the camera source again: in its streaming mode after an unplug or
/// a photo, in its still mode for a photo.
pub type Rebuild = Box<dyn Fn(CameraUse) -> Result<Source, SourceError> + Send + Sync>;

/// Which picture the stream carries, as [`Shared::showing`] holds it.
const SHOWING_CAMERA: u8 = 0;
const SHOWING_SLATE: u8 = 1;
/// The camera's last picture, repeated while the camera switches modes.
const SHOWING_FROZEN: u8 = 2;

fn showing_code(picture: Showing) -> u8 {
    match picture {
        Showing::Camera => SHOWING_CAMERA,
        Showing::Slate => SHOWING_SLATE,
        Showing::Frozen => SHOWING_FROZEN,
    }
}

/// What a source pipeline delivers.
#[derive(Debug, Clone)]
enum Role {
    /// The camera; its newest frame at its own size is kept here, if given.
    Camera(Option<FullSizeFrames>),
    /// The "camera disconnected" slate.
    Slate,
}

impl Role {
    fn showing(&self) -> u8 {
        match self {
            Role::Camera(_) => SHOWING_CAMERA,
            Role::Slate => SHOWING_SLATE,
        }
    }
}

struct Shared {
    appsrc: gst::glib::WeakRef<gst_app::AppSrc>,
    /// Which picture the stream carries: set only as the machine decides.
    showing: AtomicU8,
    /// The camera's last picture as the stream carries it, held while the
    /// camera switches modes.
    last_camera_picture: Mutex<Option<gst::Buffer>>,
    /// The decisions, fed from the supervisor's thread and (frames) from
    /// the camera's streaming thread.
    decisions: Mutex<Decisions>,
}

/// The camera machine with what it decided on the streaming thread, for
/// the supervisor to carry out.
struct Decisions {
    machine: CameraWatch,
    /// Actions decided on a camera frame: the supervisor performs them at
    /// its next look (the streaming thread must not stop pipelines).
    deferred: Vec<Action>,
    state: watch::Sender<CameraState>,
}

impl Shared {
    fn showing(&self) -> u8 {
        self.showing.load(Ordering::Relaxed)
    }

    fn decisions(&self) -> MutexGuard<'_, Decisions> {
        self.decisions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `event` to the camera machine. Which picture the stream
    /// carries is applied at once; the other actions are returned.
    fn decide(&self, now: Instant, event: Event) -> Vec<Action> {
        let mut decisions = self.decisions();
        let actions = decisions.machine.handle(now, event);
        let state = decisions.machine.state();
        decisions.state.send_if_modified(|shown| {
            let changed = *shown != state;
            *shown = state;
            changed
        });
        actions
            .into_iter()
            .filter(|action| match action {
                Action::Show(picture) => {
                    self.showing
                        .store(showing_code(*picture), Ordering::Relaxed);
                    false
                }
                _ => true,
            })
            .collect()
    }

    /// A camera frame, on the streaming thread.
    fn camera_frame(&self, now: Instant) {
        let rest = self.decide(now, Event::Frame);
        if !rest.is_empty() {
            self.decisions().deferred.extend(rest);
        }
    }

    fn take_deferred(&self) -> Vec<Action> {
        std::mem::take(&mut self.decisions().deferred)
    }

    fn camera_state(&self) -> CameraState {
        self.decisions().machine.state()
    }

    fn may_take_photo(&self, now: Instant) -> Result<(), NoPhoto> {
        self.decisions().machine.may_take_photo(now)
    }
}

/// A supervised source, and the camera's state to follow.
#[derive(Debug)]
pub struct Supervised {
    /// The source the capture pipeline reads.
    pub source: Source,
    /// The camera's state for the nurse's screen; `None` when the source
    /// is not supervised (a camera that delivers H.264 itself).
    pub camera_state: Option<watch::Receiver<CameraState>>,
}

/// Wraps `first` (a raw source, already built: its errors were reported at
/// start) so the stream survives the camera going away. `rebuild` makes a
/// new camera source after an unplug. With `photos`, the supervisor keeps
/// the camera's newest frame at its own size and answers photo requests.
pub fn supervise(
    first: Source,
    video: &VideoSettings,
    rebuild: Rebuild,
    photos: Option<&CameraPhotos>,
) -> Result<Source, SourceError> {
    supervise_with_state(first, video, rebuild, photos).map(|supervised| supervised.source)
}

/// [`supervise`], with the camera's state to follow.
pub fn supervise_with_state(
    first: Source,
    video: &VideoSettings,
    rebuild: Rebuild,
    photos: Option<&CameraPhotos>,
) -> Result<Supervised, SourceError> {
    if first.output != SourceOutput::Raw {
        return Ok(Supervised {
            source: first,
            camera_state: None,
        });
    }
    let caps = video.fixed_raw_caps();
    let appsrc = super::frames_from_elsewhere("camera-frames");
    appsrc.set_caps(Some(&caps));
    let bin = gst::Bin::with_name("source-supervised");
    let filter = capsfilter(&caps)?;
    super::assemble_chain(&bin, &[appsrc.clone().upcast(), filter], KIND)?;

    let machine = CameraWatch::new(Instant::now());
    let (state, camera_state) = watch::channel(machine.state());
    let shared = Arc::new(Shared {
        appsrc: appsrc.downgrade(),
        showing: AtomicU8::new(showing_code(machine.showing())),
        last_camera_picture: Mutex::new(None),
        decisions: Mutex::new(Decisions {
            machine,
            deferred: Vec::new(),
            state,
        }),
    });
    let camera_role = Role::Camera(photos.map(|photos| photos.frames().clone()));
    let camera = SourcePipeline::build("camera", first.bin, &caps, shared.clone(), &camera_role)?;
    let slate = slate_bin(video)?;
    let slate = SourcePipeline::build("slate", slate, &caps, shared.clone(), &Role::Slate)?;
    let supervisor = Supervisor {
        shared,
        camera: Some(camera),
        camera_role,
        slate,
        rebuild,
        video: *video,
        photos: photos.map(|photos| (photos.clone(), photos.open_desk())),
        held: None,
    };
    std::thread::Builder::new()
        .name("camera-watch".into())
        .spawn(move || supervisor.run())
        .map_err(|e| SourceError::assemble(KIND, e))?;
    Ok(Supervised {
        source: Source {
            bin,
            output: SourceOutput::Raw,
        },
        camera_state: Some(camera_state),
    })
}

/// A source bin in a pipeline of its own, its frames going to the shared
/// `appsrc` while it is the one showing.
struct SourcePipeline {
    pipeline: gst::Pipeline,
    failed: Arc<AtomicBool>,
    /// The first error it posted.
    error: Arc<Mutex<Option<gst::glib::Error>>>,
}

impl SourcePipeline {
    fn build(
        name: &str,
        source: gst::Bin,
        caps: &gst::Caps,
        shared: Arc<Shared>,
        role: &Role,
    ) -> Result<Self, SourceError> {
        let pipeline = gst::Pipeline::with_name(&format!("{name}-source"));
        let convert = make("videoconvert")?;
        let scale = make("videoscale")?;
        if let Role::Camera(Some(full_size)) = role
            && let Some(pad) = scale.static_pad("sink")
        {
            full_size.keep_from(&pad);
        }
        // A camera faster than the configured rate (60 fps when 30 was
        // asked) is thinned out here.
        let rate = make("videorate")?;
        let filter = capsfilter(caps)?;
        let sink = gst_app::AppSink::builder()
            .name(format!("{name}-frames"))
            .sync(false)
            .max_buffers(1)
            .drop(true)
            .build();
        let chain = [
            source.upcast(),
            convert,
            scale,
            rate,
            filter,
            sink.clone().upcast(),
        ];
        pipeline
            .add_many(&chain)
            .map_err(|e| SourceError::assemble(KIND, e))?;
        gst::Element::link_many(&chain).map_err(|e| SourceError::assemble(KIND, e))?;

        let role = role.showing();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if role == SHOWING_CAMERA {
                        // The camera's first frame after a slate takes over.
                        shared.camera_frame(Instant::now());
                    }
                    if shared.showing.load(Ordering::Relaxed) != role {
                        return Ok(gst::FlowSuccess::Ok);
                    }
                    if let (Some(appsrc), Some(buffer)) =
                        (shared.appsrc.upgrade(), sample.buffer_owned())
                    {
                        if role == SHOWING_CAMERA {
                            *shared
                                .last_camera_picture
                                .lock()
                                .unwrap_or_else(|e| e.into_inner()) = Some(buffer.clone());
                        }
                        super::push_untimed(&appsrc, buffer);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );

        let failed = Arc::new(AtomicBool::new(false));
        let error = Arc::new(Mutex::new(None));
        if let Some(bus) = pipeline.bus() {
            let (failed, error) = (failed.clone(), error.clone());
            let name = name.to_owned();
            bus.set_sync_handler(move |_, msg| {
                match msg.view() {
                    gst::MessageView::Error(err) if !failed.swap(true, Ordering::Relaxed) => {
                        tracing::debug!(source = %name, "{}", err.error());
                        *error.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.error());
                    }
                    gst::MessageView::Eos(_) => {
                        failed.store(true, Ordering::Relaxed);
                    }
                    _ => {}
                }
                gst::BusSyncReply::Drop
            });
        }
        Ok(Self {
            pipeline,
            failed,
            error,
        })
    }

    /// The error it failed with, if it posted one.
    fn error(&self) -> Option<gst::glib::Error> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn start(&self) -> bool {
        self.pipeline.set_state(gst::State::Playing).is_ok()
    }

    fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    fn stop(&self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl Drop for SourcePipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The slate: dark grey, the message, and the time, so a viewer sees it is
/// live and not a frozen frame.
fn slate_bin(video: &VideoSettings) -> Result<gst::Bin, SourceError> {
    let src = make("videotestsrc")?;
    src.set_property("is-live", true);
    set_property_str(&src, "pattern", "solid-color")?;
    set_property_str(&src, "foreground-color", "0xff303030")?;
    let caps = capsfilter(&video.raw_caps())?;
    let text = make("textoverlay")?;
    text.set_property("text", SLATE_TEXT);
    set_property_str(&text, "valignment", "center")?;
    set_property_str(&text, "halignment", "center")?;
    set_property_str(&text, "font-desc", "Sans Bold 28")?;
    let clock = make("clockoverlay")?;
    set_property_str(&clock, "time-format", "%H:%M:%S")?;
    set_property_str(&clock, "halignment", "right")?;
    set_property_str(&clock, "valignment", "top")?;
    let bin = gst::Bin::with_name("slate");
    super::assemble_chain(&bin, &[src, caps, text, clock], "slate")?;
    Ok(bin)
}

/// The supervisor: runs the camera, the slate and the photos as the
/// camera machine decides, and feeds it what happens. Runs on a thread of
/// its own until the capture pipeline stops.
struct Supervisor {
    shared: Arc<Shared>,
    camera: Option<SourcePipeline>,
    /// The role every camera pipeline is built with.
    camera_role: Role,
    slate: SourcePipeline,
    rebuild: Rebuild,
    video: VideoSettings,
    /// The photo taker's handle and where its requests arrive.
    photos: Option<(CameraPhotos, mpsc::Receiver<PhotoRequest>)>,
    /// The picture the stream repeats while the camera switches modes.
    held: Option<HeldPicture>,
}

/// Whether the supervisor goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// How often the supervisor looks at the camera.
const WATCH_EVERY: Duration = Duration::from_millis(50);
/// How often it looks while the camera reopens after a photo.
const RESUME_LOOK: Duration = Duration::from_millis(10);

impl Supervisor {
    fn run(mut self) {
        let mut started = false;
        loop {
            let request = self.next_request();
            let Some(appsrc) = self.shared.appsrc.upgrade() else {
                break;
            };
            let running = appsrc.current_state() >= gst::State::Paused;
            if started && !running {
                break;
            }
            if !running {
                if let Some(request) = request {
                    let _ = request.answer.send(Err(CameraPhotoError::NoPicture(
                        "the camera has not started yet; ask again in a moment",
                    )));
                }
                continue;
            }
            if !started {
                started = true;
                if self.decide(Event::PipelineRunning, &appsrc) == Flow::Stop {
                    break;
                }
            }
            if self.look(&appsrc) == Flow::Stop {
                break;
            }
            if let Some(request) = request {
                let photo = self.photo(&appsrc);
                let _ = request.answer.send(photo);
            }
        }
        self.held = None;
        self.slate.stop();
        if let Some(camera) = self.camera.take() {
            camera.stop();
        }
    }

    /// Waits one watch interval for a photo request.
    fn next_request(&self) -> Option<PhotoRequest> {
        match &self.photos {
            Some((_, requests)) => requests.recv_timeout(WATCH_EVERY).ok(),
            None => {
                std::thread::sleep(WATCH_EVERY);
                None
            }
        }
    }

    /// One look at the camera: what the streaming thread decided, whether
    /// the camera failed, and the time.
    fn look(&mut self, appsrc: &gst_app::AppSrc) -> Flow {
        let deferred = self.shared.take_deferred();
        if self.perform(deferred, appsrc) == Flow::Stop {
            return Flow::Stop;
        }
        if self.camera.as_ref().is_some_and(SourcePipeline::has_failed)
            && self.decide(Event::CameraFailed, appsrc) == Flow::Stop
        {
            return Flow::Stop;
        }
        self.decide(Event::Tick, appsrc)
    }

    /// Hands `event` to the machine and performs what it decides.
    fn decide(&mut self, event: Event, appsrc: &gst_app::AppSrc) -> Flow {
        let actions = self.shared.decide(Instant::now(), event);
        self.perform(actions, appsrc)
    }

    fn perform(&mut self, actions: Vec<Action>, appsrc: &gst_app::AppSrc) -> Flow {
        let mut actions = VecDeque::from(actions);
        while let Some(action) = actions.pop_front() {
            match action {
                Action::StartCamera => {
                    if let Some(camera) = &self.camera
                        && !camera.start()
                    {
                        // Reported as a failure at the next look.
                        camera.failed.store(true, Ordering::Relaxed);
                    }
                }
                Action::RebuildCamera => match self.rebuilt_camera() {
                    Ok(camera) => self.camera = Some(camera),
                    Err(why) => {
                        tracing::debug!(error = %why, "camera not back yet");
                        let next = self
                            .shared
                            .decide(Instant::now(), Event::RebuildFailed(why.to_string()));
                        actions.extend(next);
                    }
                },
                Action::DropCamera => {
                    if let Some(camera) = self.camera.take() {
                        camera.stop();
                    }
                }
                // Applied as it was decided.
                Action::Show(_) => {}
                Action::StartSlate => {
                    self.slate.start();
                }
                Action::StopSlate => self.slate.stop(),
                Action::HoldPicture => self.hold_picture(),
                Action::ReleasePicture => self.held = None,
                Action::ReportSetupError => {
                    self.report_setup_error(appsrc);
                    return Flow::Stop;
                }
            }
        }
        Flow::Continue
    }

    /// Builds the camera again in its streaming mode and starts it; it
    /// takes over with its first frame.
    fn rebuilt_camera(&self) -> Result<SourcePipeline, SourceError> {
        let camera =
            (self.rebuild)(CameraUse::Stream).and_then(|source| self.camera_pipeline(source))?;
        if camera.start() {
            Ok(camera)
        } else {
            Err(SourceError::Camera("it did not start".to_owned()))
        }
    }

    fn camera_pipeline(&self, source: Source) -> Result<SourcePipeline, SourceError> {
        SourcePipeline::build(
            "camera",
            source.bin,
            &self.video.fixed_raw_caps(),
            self.shared.clone(),
            &self.camera_role,
        )
    }

    /// Posts the error of a camera that failed before its first picture on
    /// the capture pipeline's bus.
    fn report_setup_error(&self, appsrc: &gst_app::AppSrc) {
        let error = self
            .camera
            .as_ref()
            .and_then(SourcePipeline::error)
            .unwrap_or_else(|| {
                gst::glib::Error::new(
                    gst::ResourceError::Read,
                    "the video source ended before it delivered a picture",
                )
            });
        let _ = appsrc.post_message(
            gst::message::Error::builder_from_error(error)
                .src(appsrc)
                .build(),
        );
    }

    /// Repeats the camera's last picture into the stream while it is
    /// frozen.
    fn hold_picture(&mut self) {
        let picture = self
            .shared
            .last_camera_picture
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.held = picture.map(|picture| {
            let shared = self.shared.clone();
            HeldPicture::hold(
                self.shared.appsrc.clone(),
                picture,
                Duration::from_secs(1) / self.video.fps.max(1),
                move || shared.showing() == SHOWING_FROZEN,
            )
        });
    }

    /// A photo: a frame of the camera's still mode if it may switch, else
    /// (or if the still mode fails) its newest frame at the size it
    /// delivers in its streaming mode.
    fn photo(&mut self, appsrc: &gst_app::AppSrc) -> Result<CameraPhoto, CameraPhotoError> {
        let Some((photos, _)) = &self.photos else {
            return Err(CameraPhotoError::NotRunning);
        };
        let mode = photos.mode();
        let no_picture_yet = CameraPhotoError::NoPicture(
            "the camera has not shown a picture yet; ask again in a moment",
        );
        match self.shared.may_take_photo(Instant::now()) {
            Ok(()) => {}
            Err(NoPhoto::NoPictureYet) => return Err(no_picture_yet),
            Err(NoPhoto::Disconnected) => {
                return Err(CameraPhotoError::NoPicture(
                    "the camera is disconnected; ask again when its picture is back",
                ));
            }
        }
        let streaming_frame = photos.frames().latest().ok_or(no_picture_yet)?;
        let fallback = CameraPhoto {
            frame: streaming_frame,
            from: PhotoFrom::StreamingMode,
            // The newest frame: at most one frame old.
            taken_at: SystemTime::now(),
        };
        if mode == PhotoMode::Stream {
            return Ok(fallback);
        }
        let started = Instant::now();
        match self.photo_in_still_mode(appsrc) {
            Ok((frame, taken_at)) => {
                tracing::info!(
                    "photo taken in the camera's still mode ({}); switching there and \
                     back took {} ms",
                    describe(&frame),
                    started.elapsed().as_millis()
                );
                Ok(CameraPhoto {
                    frame,
                    from: PhotoFrom::StillMode,
                    taken_at,
                })
            }
            Err(why) => {
                tracing::warn!(
                    "the camera's still mode gave no photo ({why}); the photo is the \
                     streaming mode's frame ({}) instead",
                    describe(&fallback.frame)
                );
                Ok(fallback)
            }
        }
    }

    /// Switches the camera to its still mode for one frame while the stream
    /// repeats the last picture, then back to its streaming mode, whatever
    /// happened in the still mode; returns once the streaming mode delivers
    /// again (or counts as disconnected).
    fn photo_in_still_mode(
        &mut self,
        appsrc: &gst_app::AppSrc,
    ) -> Result<(gst::Sample, SystemTime), StillError> {
        self.decide(Event::PhotoStarted, appsrc);
        let still = (self.rebuild)(CameraUse::Still)
            .map_err(StillError::Open)
            .and_then(|source| Ok(grab_still(source)?))
            .map(|frame| (frame, SystemTime::now()));
        self.decide(Event::PhotoDone, appsrc);
        while self.shared.camera_state() == CameraState::Photo {
            std::thread::sleep(RESUME_LOOK);
            if self.look(appsrc) == Flow::Stop {
                break;
            }
        }
        still
    }
}

/// Why the camera's still mode gave no photo (the streaming mode's frame
/// is sent instead).
#[derive(Debug, thiserror::Error)]
enum StillError {
    /// The camera could not be built in its still mode.
    #[error("it could not be opened: {0}")]
    Open(SourceError),
    /// It was built but gave no frame.
    #[error(transparent)]
    Grab(#[from] GstError),
}

/// `1920x1080 I420` for the log.
fn describe(frame: &gst::Sample) -> String {
    frame
        .caps()
        .and_then(|caps| gstreamer_video::VideoInfo::from_caps(caps).ok())
        .map_or_else(
            || "size unknown".to_owned(),
            |info| format!("{}x{} {}", info.width(), info.height(), info.format()),
        )
}
