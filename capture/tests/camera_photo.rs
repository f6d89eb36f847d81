//! Photos from the head camera, taken by the camera's supervisor while the
//! stream goes on.
//!
//! There is no camera on a build machine: a live `videotestsrc` at the
//! size of a camera mode stands in for it ([`stand_in`]), and the
//! supervised stream goes through the real encoder and decoder.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::stand_in::{self, Frames, bright, dark, longest_gap, run_pipeline, wait_for};
use gstreamer as gst;
use gstreamer::prelude::*;
use samsyn_capture::consultation::still::{self, StillSource};
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::{
    self, CameraPhotoError, CameraPhotos, CameraUse, FullSizeFrames, PhotoFrom, PhotoMode, Source,
    SourceError, SourceSpec,
};

const FPS: u32 = 15;
/// The stream's size: smaller than any camera mode here, as after the
/// quality ladder stepped down.
const STREAM: (u32, u32) = (320, 240);
/// The stand-in camera's streaming mode.
const STREAMING_MODE: (u32, u32) = (640, 480);

fn video() -> VideoSettings {
    VideoSettings {
        width: STREAM.0,
        height: STREAM.1,
        fps: FPS,
        codec: VideoCodec::H264,
        bitrate_kbps: 400,
        x264_preset: Default::default(),
    }
}

fn frame_size(sample: &gst::Sample) -> (u32, u32) {
    let caps = sample.caps().expect("a frame with caps");
    let info = gstreamer_video::VideoInfo::from_caps(caps).expect("raw video caps");
    (info.width(), info.height())
}

#[test]
fn without_the_switch_a_photo_is_the_cameras_frame_at_its_streaming_size() {
    common::init();
    let (width, height) = STREAMING_MODE;
    let photos = CameraPhotos::new(PhotoMode::Stream);
    let first = stand_in::camera(width, height, FPS, "white", 0).unwrap();
    let supervised = source::supervise(
        first,
        &video(),
        Box::new(move |_| stand_in::camera(width, height, FPS, "white", 0)),
        Some(&photos),
    )
    .unwrap();
    assert_eq!(
        photos.take().unwrap_err(),
        CameraPhotoError::NoPicture("the camera has not started yet; ask again in a moment"),
        "before the stream runs"
    );
    let started = Instant::now();
    let (pipeline, frames) = run_pipeline(supervised, STREAM.0, STREAM.1);
    wait_for("the camera's picture", Duration::from_secs(5), || {
        bright(&frames, started) >= 10
    });

    let photo = photos.take().expect("a photo");
    assert_eq!(photo.from, PhotoFrom::StreamingMode);
    assert_eq!(frame_size(&photo.frame), STREAMING_MODE);
    // Through the photo taker: a JPEG at the camera's size.
    let spec = SourceSpec::V4l2(None);
    let stills = StillSource::for_source(&spec, &FullSizeFrames::default(), Some(&photos));
    let jpeg = still::take(&stills).expect("a JPEG");
    assert_eq!((jpeg.width, jpeg.height), STREAMING_MODE);
    assert_eq!(&jpeg.jpeg[..2], &[0xFF, 0xD8], "a JPEG");

    let after_photo = Instant::now();
    wait_for("the stream going on", Duration::from_secs(5), || {
        bright(&frames, after_photo) >= 10
    });
    let (_, gap) = stand_in::stop(&pipeline, &frames);
    assert!(gap < Duration::from_millis(700), "longest gap {gap:?}");
    // The supervisor is gone with the pipeline.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(photos.take().unwrap_err(), CameraPhotoError::NotRunning);
}

/// The stand-in camera's still mode: larger than its streaming mode, at a
/// low rate as large modes often are.
const STILL_MODE: (u32, u32) = (1920, 1080);
const STILL_FPS: u32 = 5;

/// How the stand-in's still mode behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StillBehaviour {
    Works,
    /// Opening it fails, as a device busy or a mode refused does.
    CannotOpen,
    /// It opens but never delivers a frame.
    Silent,
}

/// How the stand-in camera behaves, changed as a test goes on.
#[derive(Debug)]
struct Behaviour {
    still: Mutex<StillBehaviour>,
    /// How many of the next streaming-mode builds fail to open.
    refused_streams: AtomicUsize,
}

impl Behaviour {
    fn new(still: StillBehaviour) -> Arc<Self> {
        Arc::new(Behaviour {
            still: Mutex::new(still),
            refused_streams: AtomicUsize::new(0),
        })
    }
}

/// One build of the stand-in camera: what for, and the frames it delivered.
/// Each build of the stand-in camera: its use, the frames it delivered,
/// and when it was built.
type Builds = Arc<Mutex<Vec<(CameraUse, Arc<AtomicUsize>, SystemTime)>>>;

/// A supervised stand-in camera streaming through the encoder, with its
/// photo handle and the record of its builds.
struct Running {
    pipeline: gst::Pipeline,
    frames: Frames,
    photos: CameraPhotos,
    builds: Builds,
}

/// Starts the stream of a [`switching_camera`] and waits for its picture.
fn stream_from_switching_camera(behaviour: Arc<Behaviour>) -> Running {
    let (supervised, photos, builds) = switching_camera(behaviour);
    let started = Instant::now();
    let (pipeline, frames) = run_pipeline(supervised, STREAM.0, STREAM.1);
    wait_for("the camera's picture", Duration::from_secs(5), || {
        bright(&frames, started) >= 10
    });
    Running {
        pipeline,
        frames,
        photos,
        builds,
    }
}

/// A supervised stand-in camera whose factory builds the mode it is asked
/// for (and records each build); photos switch to the still mode.
fn switching_camera(behaviour: Arc<Behaviour>) -> (Source, CameraPhotos, Builds) {
    let builds: Builds = Arc::default();
    let build = {
        let builds = builds.clone();
        move |usage: CameraUse| -> Result<Source, SourceError> {
            let still = *behaviour.still.lock().unwrap();
            let source = match (usage, still) {
                (CameraUse::Stream, _)
                    if behaviour
                        .refused_streams
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok() =>
                {
                    return Err(SourceError::Camera(
                        "cannot open /dev/video0: Device or resource busy".into(),
                    ));
                }
                (CameraUse::Stream, _) => {
                    stand_in::camera(STREAMING_MODE.0, STREAMING_MODE.1, FPS, "white", 0)?
                }
                (CameraUse::Still, StillBehaviour::Works) => {
                    stand_in::camera(STILL_MODE.0, STILL_MODE.1, STILL_FPS, "smpte", 0)?
                }
                (CameraUse::Still, StillBehaviour::CannotOpen) => {
                    return Err(SourceError::Camera(
                        "cannot set the still mode on /dev/video0: Device or resource busy".into(),
                    ));
                }
                (CameraUse::Still, StillBehaviour::Silent) => silent_camera(),
            };
            let delivered = Arc::new(AtomicUsize::new(0));
            let counter = delivered.clone();
            source.bin.static_pad("src").unwrap().add_probe(
                gst::PadProbeType::BUFFER,
                move |_, _| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                },
            );
            builds
                .lock()
                .unwrap()
                .push((usage, delivered, SystemTime::now()));
            Ok(source)
        }
    };
    let first = build(CameraUse::Stream).unwrap();
    let photos = CameraPhotos::new(PhotoMode::Largest);
    let supervised = source::supervise(first, &video(), Box::new(build), Some(&photos)).unwrap();
    (supervised, photos, builds)
}

/// A live source that never delivers a frame.
fn silent_camera() -> Source {
    let appsrc = gstreamer_app::AppSrc::builder()
        .is_live(true)
        .format(gst::Format::Time)
        .caps(
            &gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .field("width", STILL_MODE.0 as i32)
                .field("height", STILL_MODE.1 as i32)
                .field("framerate", gst::Fraction::new(STILL_FPS as i32, 1))
                .build(),
        )
        .build();
    stand_in::raw_source("silent-camera", &[appsrc.upcast()])
}

/// The uses of the builds so far, in order.
fn uses(builds: &Builds) -> Vec<CameraUse> {
    builds.lock().unwrap().iter().map(|(u, ..)| *u).collect()
}

/// Frames the newest build has delivered.
fn newest_build_frames(builds: &Builds) -> usize {
    let builds = builds.lock().unwrap();
    builds
        .last()
        .map_or(0, |(_, n, _)| n.load(Ordering::Relaxed))
}

/// Waits for the newest build (the camera in its streaming mode again) to
/// deliver 15 more frames.
fn wait_for_streaming_mode(builds: &Builds) {
    let back = newest_build_frames(builds);
    wait_for(
        "the streaming mode delivering",
        Duration::from_secs(3),
        || newest_build_frames(builds) >= back + 15,
    );
}

/// Checks what the stream's end saw between `from` and `to` (the switch)
/// and over the whole run: frames kept coming, never the slate.
fn assert_stream_went_on(frames: &[(Instant, f64)], from: Instant, to: Instant, what: &str) {
    let during = frames
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .count();
    let switch = to - from;
    let gap = longest_gap(frames);
    println!(
        "{what}: the switch took {} ms; {during} frames reached the stream's end meanwhile \
         ({:.1} fps)",
        switch.as_millis(),
        during as f64 / switch.as_secs_f64(),
    );
    assert!(
        gap < Duration::from_millis(1500),
        "{what}: the stream stalled for {gap:?}"
    );
    // Loosely: at least half the frame rate during the switch (the frozen
    // picture is repeated at the full rate).
    let expected = (switch.as_secs_f64() * f64::from(FPS) / 2.0) as usize;
    assert!(
        during >= expected.max(1),
        "{what}: {during} frames during a {switch:?} switch"
    );
    let slate = frames.iter().filter(|(_, luma)| *luma < 100.0).count();
    assert_eq!(slate, 0, "{what}: the slate was never shown");
}

#[test]
fn a_photo_switches_the_camera_to_its_still_mode_while_the_stream_goes_on() {
    common::init();
    let Running {
        pipeline,
        frames,
        photos,
        builds,
    } = stream_from_switching_camera(Behaviour::new(StillBehaviour::Works));

    let before = Instant::now();
    let stills = StillSource::for_source(
        &SourceSpec::V4l2(None),
        &FullSizeFrames::default(),
        Some(&photos),
    );
    let photo = still::take(&stills).expect("a photo");
    let after = Instant::now();
    assert_eq!(
        (photo.width, photo.height),
        STILL_MODE,
        "the still mode's size"
    );
    assert_eq!(&photo.jpeg[..2], &[0xFF, 0xD8], "a JPEG");
    assert_eq!(
        uses(&builds),
        [CameraUse::Stream, CameraUse::Still, CameraUse::Stream],
        "the still mode, then the streaming mode again"
    );

    // Back in its streaming mode: the rebuilt streaming camera delivers
    // and its picture reaches the stream's end.
    wait_for_streaming_mode(&builds);
    wait_for("the stream after the photo", Duration::from_secs(3), || {
        bright(&frames, after) >= 15
    });
    let asked = SystemTime::now();
    let photo = photos.take().expect("a second photo");
    assert_eq!(photo.from, PhotoFrom::StillMode);
    assert_eq!(frame_size(&photo.frame), STILL_MODE);
    // Its time is when the still mode gave the frame, before the camera
    // was opened in its streaming mode again (the JPEG is made later).
    let reopened = builds.lock().unwrap().last().map(|(.., at)| *at).unwrap();
    assert!(
        asked <= photo.taken_at && photo.taken_at <= reopened,
        "taken {:?} after asking and {:?} before the streaming mode reopened",
        photo.taken_at.duration_since(asked),
        reopened.duration_since(photo.taken_at)
    );
    let (frames, _) = stand_in::stop(&pipeline, &frames);
    assert_stream_went_on(&frames, before, after, "still mode");
}

#[test]
fn a_still_mode_that_fails_gives_the_streaming_modes_frame_and_the_stream_comes_back() {
    common::init();
    let behaviour = Behaviour::new(StillBehaviour::CannotOpen);
    let Running {
        pipeline,
        frames,
        photos,
        builds,
    } = stream_from_switching_camera(behaviour.clone());

    // It cannot be opened in its still mode.
    let before = Instant::now();
    let photo = photos.take().expect("a photo all the same");
    let after_refused = Instant::now();
    assert_eq!(photo.from, PhotoFrom::StreamingMode);
    assert_eq!(frame_size(&photo.frame), STREAMING_MODE);

    // It opens in its still mode but gives no frame: the photo waits for
    // the limit, and a second request meanwhile is told so.
    *behaviour.still.lock().unwrap() = StillBehaviour::Silent;
    let waiting = std::thread::spawn({
        let photos = photos.clone();
        move || photos.take()
    });
    wait_for("the photo being taken", Duration::from_secs(2), || {
        photos.is_busy()
    });
    assert_eq!(photos.take().unwrap_err(), CameraPhotoError::Busy);
    let photo = waiting.join().unwrap().expect("a photo all the same");
    let after_silent = Instant::now();
    assert_eq!(photo.from, PhotoFrom::StreamingMode);
    assert_eq!(frame_size(&photo.frame), STREAMING_MODE);
    assert!(
        after_silent - after_refused >= source::STILL_FRAME_LIMIT,
        "waited for the still mode's frame limit"
    );
    assert_eq!(
        uses(&builds),
        [
            CameraUse::Stream,
            CameraUse::Stream,
            CameraUse::Still,
            CameraUse::Stream
        ],
        "after each failed still mode, the streaming mode again (the refused \
         still mode was never built)"
    );
    wait_for_streaming_mode(&builds);
    let (frames, _) = stand_in::stop(&pipeline, &frames);
    assert_stream_went_on(&frames, before, after_silent, "failed still modes");
}

#[test]
fn a_camera_that_does_not_reopen_after_a_photo_is_rebuilt_as_after_an_unplug() {
    common::init();
    let behaviour = Behaviour::new(StillBehaviour::Works);
    let Running {
        pipeline,
        frames,
        photos,
        builds,
    } = stream_from_switching_camera(behaviour.clone());

    // The streaming mode refuses to open twice after the photo.
    behaviour.refused_streams.store(2, Ordering::SeqCst);
    let photo = photos.take().expect("the still mode's photo");
    assert_eq!(frame_size(&photo.frame), STILL_MODE);
    let after = Instant::now();
    wait_for("the slate", Duration::from_secs(3), || {
        dark(&frames, after) >= 3
    });
    assert_eq!(
        photos.take().unwrap_err(),
        CameraPhotoError::NoPicture(
            "the camera is disconnected; ask again when its picture is back"
        )
    );
    let back_after = wait_for("the camera back", Duration::from_secs(6), || {
        bright(&frames, after + Duration::from_millis(500)) >= 10
    });
    println!(
        "the camera's picture is back {} ms after the photo",
        back_after.as_millis()
    );
    let (_, gap) = stand_in::stop(&pipeline, &frames);
    assert_eq!(
        uses(&builds).last(),
        Some(&CameraUse::Stream),
        "back in its streaming mode"
    );
    assert!(gap < Duration::from_millis(1500), "longest gap {gap:?}");
}
