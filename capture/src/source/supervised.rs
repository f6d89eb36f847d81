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

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::camera_photos::{CameraPhoto, CameraPhotoError, CameraPhotos, PhotoFrom, PhotoRequest};
use super::mode_switch::{HeldPicture, grab_still};
use super::{FullSizeFrames, PhotoMode, Source, SourceError, SourceOutput, capsfilter};
use crate::elements::{make, set_property_str};
use crate::settings::VideoSettings;

/// A source that delivers nothing for this long counts as disconnected.
pub const STALL_LIMIT: Duration = Duration::from_secs(2);
/// How often a disconnected source is rebuilt.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
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

/// Which picture the stream carries.
const SHOWING_CAMERA: u8 = 0;
const SHOWING_SLATE: u8 = 1;
/// The camera's last picture, repeated while the camera switches modes.
const SHOWING_FROZEN: u8 = 2;

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
    showing: AtomicU8,
    last_camera_frame: Mutex<Instant>,
    /// The camera's last picture as the stream carries it, held while the
    /// camera switches modes.
    last_camera_picture: Mutex<Option<gst::Buffer>>,
    /// Whether the camera has ever delivered a picture.
    camera_delivered: AtomicBool,
}

impl Shared {
    fn showing(&self) -> u8 {
        self.showing.load(Ordering::Relaxed)
    }
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
    if first.output != SourceOutput::Raw {
        return Ok(first);
    }
    let caps = video.fixed_raw_caps();
    let appsrc = super::frames_from_elsewhere("camera-frames");
    appsrc.set_caps(Some(&caps));
    let bin = gst::Bin::with_name("source-supervised");
    let filter = capsfilter(&caps)?;
    super::assemble_chain(&bin, &[appsrc.clone().upcast(), filter], KIND)?;

    let shared = Arc::new(Shared {
        appsrc: appsrc.downgrade(),
        showing: AtomicU8::new(SHOWING_CAMERA),
        last_camera_frame: Mutex::new(Instant::now()),
        last_camera_picture: Mutex::new(None),
        camera_delivered: AtomicBool::new(false),
    });
    let camera_role = Role::Camera(photos.map(|photos| photos.frames().clone()));
    let camera = SourcePipeline::build("camera", first.bin, &caps, shared.clone(), &camera_role)?;
    let slate = slate_bin(video)?;
    let slate = SourcePipeline::build("slate", slate, &caps, shared.clone(), &Role::Slate)?;
    let watch = Watch {
        shared,
        camera: Some(camera),
        camera_role,
        slate,
        rebuild,
        video: *video,
        photos: photos.map(|photos| (photos.clone(), photos.open_desk())),
        next_retry: Instant::now(),
        outage: None,
        held: None,
    };
    std::thread::Builder::new()
        .name("camera-watch".into())
        .spawn(move || watch.run())
        .map_err(|e| SourceError::assemble(KIND, e))?;
    Ok(Source {
        bin,
        output: SourceOutput::Raw,
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
                        shared.camera_delivered.store(true, Ordering::Relaxed);
                        *shared
                            .last_camera_frame
                            .lock()
                            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
                        // The camera's first frame after a slate takes over.
                        shared.showing.store(SHOWING_CAMERA, Ordering::Relaxed);
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

/// The supervisor: watches the camera, runs the slate while it is gone,
/// rebuilds it until it comes back, and answers photo requests. Runs on a
/// thread of its own until the capture pipeline stops.
struct Watch {
    shared: Arc<Shared>,
    camera: Option<SourcePipeline>,
    /// The role every camera pipeline is built with.
    camera_role: Role,
    slate: SourcePipeline,
    rebuild: Rebuild,
    video: VideoSettings,
    /// The photo taker's handle and where its requests arrive.
    photos: Option<(CameraPhotos, mpsc::Receiver<PhotoRequest>)>,
    next_retry: Instant,
    /// Since when the camera is gone, and how many rebuilds were tried.
    outage: Option<(Instant, u32)>,
    /// The picture the stream repeats while the camera switches modes.
    held: Option<HeldPicture>,
}

/// Whether the supervisor goes on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// How often the supervisor looks at the camera.
const WATCH_EVERY: Duration = Duration::from_millis(50);

impl Watch {
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
                self.camera_delivered_now();
                if let Some(camera) = &self.camera
                    && !camera.start()
                {
                    camera.failed.store(true, Ordering::Relaxed);
                }
            }
            if let Some(request) = request {
                let photo = self.photo();
                let _ = request.answer.send(photo);
                continue;
            }
            if self.check_camera(&appsrc) == Flow::Stop {
                break;
            }
        }
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

    /// Counts from now before the camera counts as stalled.
    fn camera_delivered_now(&self) {
        *self
            .shared
            .last_camera_frame
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn stalled(&self) -> bool {
        self.shared
            .last_camera_frame
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            >= STALL_LIMIT
    }

    fn showing_camera(&self) -> bool {
        self.shared.showing() == SHOWING_CAMERA
    }

    /// One look at the camera: keep it, report it lost, or rebuild it.
    fn check_camera(&mut self, appsrc: &gst_app::AppSrc) -> Flow {
        let stalled = self.stalled();
        match (&self.camera, self.showing_camera()) {
            // The camera is delivering: make sure the slate is off.
            (Some(current), true) if !current.has_failed() && !stalled => {
                if let Some((since, tries)) = self.outage.take() {
                    self.slate.stop();
                    tracing::info!(
                        "the camera is back after {:.0} s ({tries} {}); sending its video again",
                        since.elapsed().as_secs_f64(),
                        if tries == 1 { "try" } else { "tries" }
                    );
                }
            }
            // Failed before it ever delivered: a setup error, not an unplug.
            // (A camera still starting up is given the publisher's
            // first-frame timeout, not the stall limit.)
            (Some(current), true) if !self.shared.camera_delivered.load(Ordering::Relaxed) => {
                if !current.has_failed() {
                    return Flow::Continue;
                }
                let error = current.error().unwrap_or_else(|| {
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
                return Flow::Stop;
            }
            // Lost: failed, ended, or silent.
            (Some(current), true) => {
                let why = if current.has_failed() {
                    "it failed or was unplugged"
                } else {
                    "it stopped delivering pictures"
                };
                self.lose_camera(why);
            }
            // A rebuilt camera that has not delivered yet: give it time,
            // then try again.
            (Some(current), false) => {
                if current.has_failed() || Instant::now() >= self.next_retry + STALL_LIMIT {
                    self.camera = None;
                }
            }
            (None, _) => {
                if Instant::now() >= self.next_retry {
                    self.retry_camera();
                }
            }
        }
        Flow::Continue
    }

    /// The slate takes over until the camera is back.
    fn lose_camera(&mut self, why: &str) {
        tracing::warn!(
            "camera disconnected ({why}); the specialists see a \"camera \
             disconnected\" picture until it is back"
        );
        self.shared.showing.store(SHOWING_SLATE, Ordering::Relaxed);
        self.slate.start();
        if let Some(camera) = self.camera.take() {
            camera.stop();
        }
        self.outage = Some((Instant::now(), 0));
        self.next_retry = Instant::now() + RETRY_EVERY;
    }

    /// Builds the camera again and starts it; it takes over from the slate
    /// with its first frame.
    fn retry_camera(&mut self) {
        self.next_retry = Instant::now() + RETRY_EVERY;
        if let Some((_, tries)) = self.outage.as_mut() {
            *tries += 1;
        }
        match (self.rebuild)(CameraUse::Stream).and_then(|source| self.camera_pipeline(source)) {
            Ok(rebuilt) => {
                if rebuilt.start() {
                    self.camera = Some(rebuilt);
                }
            }
            Err(e) => tracing::debug!(error = %e, "camera not back yet"),
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

    /// A photo: a frame of the camera's still mode if it may switch, else
    /// (or if the still mode fails) its newest frame at the size it
    /// delivers in its streaming mode.
    fn photo(&mut self) -> Result<CameraPhoto, CameraPhotoError> {
        let Some((photos, _)) = &self.photos else {
            return Err(CameraPhotoError::NotRunning);
        };
        let mode = photos.mode();
        let live = self
            .camera
            .as_ref()
            .is_some_and(|camera| !camera.has_failed());
        if !self.shared.camera_delivered.load(Ordering::Relaxed) {
            return Err(CameraPhotoError::NoPicture(
                "the camera has not shown a picture yet; ask again in a moment",
            ));
        }
        if !live || !self.showing_camera() || self.stalled() {
            return Err(CameraPhotoError::NoPicture(
                "the camera is disconnected; ask again when its picture is back",
            ));
        }
        let streaming_frame = photos.frames().latest().ok_or(CameraPhotoError::NoPicture(
            "the camera has not shown a picture yet; ask again in a moment",
        ))?;
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
        match self.photo_in_still_mode() {
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
    /// happened in the still mode.
    fn photo_in_still_mode(&mut self) -> Result<(gst::Sample, SystemTime), String> {
        self.freeze();
        let still = (self.rebuild)(CameraUse::Still)
            .map_err(|e| format!("it could not be opened: {e}"))
            .and_then(grab_still)
            .map(|frame| (frame, SystemTime::now()));
        self.resume_streaming();
        still
    }

    /// Stops the camera (a mode switch needs it stopped) and repeats its
    /// last picture in the stream meanwhile.
    fn freeze(&mut self) {
        self.shared.showing.store(SHOWING_FROZEN, Ordering::Relaxed);
        if let Some(camera) = self.camera.take() {
            camera.stop();
        }
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

    /// Opens the camera in its streaming mode again; its first frame takes
    /// over from the frozen picture. One that cannot be opened or stays
    /// silent counts as disconnected: the slate shows and it is rebuilt
    /// until it is back.
    fn resume_streaming(&mut self) {
        let camera = (self.rebuild)(CameraUse::Stream)
            .and_then(|source| self.camera_pipeline(source))
            .map_err(|e| e.to_string())
            .and_then(|camera| {
                if camera.start() {
                    Ok(camera)
                } else {
                    Err("it did not start".to_owned())
                }
            });
        let camera = match camera {
            Ok(camera) => camera,
            Err(why) => {
                self.held = None;
                return self.lose_camera(&format!(
                    "its streaming mode could not be opened again after a photo: {why}"
                ));
            }
        };
        let deadline = Instant::now() + STALL_LIMIT;
        while self.shared.showing() == SHOWING_FROZEN
            && !camera.has_failed()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.held = None;
        self.camera = Some(camera);
        if !self.showing_camera() {
            self.lose_camera("it did not deliver in its streaming mode again after a photo");
        }
    }
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
