//! The camera part: which cameras the laptop has, the mode the daemon would
//! open the configured one in, and whether pictures come out of the
//! daemon's own source for it.
//!
//! The source is run bare (not under the supervisor that stands a slate in
//! for a stalled camera), so a camera that gives no picture shows up as
//! no frames rather than as the slate's.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use samsyn_config::CaptureConfig;

use super::report::{CameraFinding, CameraSeen, CheckLevel, Finding};
use crate::camera::caps::fps_text;
use crate::camera::{CameraError, ModeRequest, choose_mode, list_devices, open_camera};
use crate::elements::{self, GstError};
use crate::settings::VideoSettings;
use crate::source::{self, FullSizeFrames, Source, SourceSpec};

/// How long a source may take to deliver its first picture (a UVC camera
/// takes a second or two to start streaming).
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(5);
/// How long pictures are counted after the first one.
const MEASURE: Duration = Duration::from_secs(1);
/// The widest picture handed to the screen.
pub const PICTURE_MAX_WIDTH: u32 = 640;
/// JPEG quality of that picture.
const PICTURE_QUALITY: i32 = 85;
/// A source that sends fewer than this share of the configured frame rate
/// is marginal: motion looks jerky when she shows the wound.
const SLOW_SHARE: f64 = 1.0 / 3.0;

/// The camera part's finding and the picture for the screen.
/// The camera part while the daemon streams from it: what its supervisor
/// sees (pictures arriving or not), without opening the device again.
pub(super) fn streaming(config: &CaptureConfig, delivering: bool) -> CameraFinding {
    let finding = if delivering {
        Finding::new(
            CheckLevel::Good,
            "Camera: sending pictures to the consultation.",
            "Kamera: sender bilder til konsultasjonen.",
        )
    } else {
        Finding::new(
            CheckLevel::Unusable,
            "Camera: no pictures arrive from it.",
            "Kamera: det kommer ingen bilder fra kameraet.",
        )
        .advise(
            "Check the head camera's cable and plug it in again.",
            "Sjekk ledningen til hodekameraet, og sett den i igjen.",
        )
    };
    CameraFinding::without_pictures(finding, config.source.clone())
}

pub(super) fn check(config: &CaptureConfig) -> (CameraFinding, Option<Vec<u8>>) {
    let cameras: Vec<CameraSeen> = list_devices()
        .into_iter()
        .filter(|device| device.is_capture)
        .map(|device| CameraSeen {
            path: device.path.display().to_string(),
            name: device.card,
        })
        .collect();
    let mut finding = CameraFinding {
        cameras,
        ..CameraFinding::without_pictures(
            Finding::new(CheckLevel::NotRun, "", ""),
            config.source.clone(),
        )
    };
    let video = VideoSettings::from_config(config);
    let prepared = match config.source_spec() {
        Ok(spec) => match video.validate() {
            Ok(()) => prepare(&spec, &video, &finding.cameras),
            Err(e) => Err(settings_problem(&e.to_string())),
        },
        Err(e) => Err(settings_problem(&e.to_string())),
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(problem) => {
            finding.finding = problem;
            return (finding, None);
        }
    };
    let Prepared {
        source,
        what,
        what_nb,
        mode,
    } = prepared;
    finding.mode = mode;
    let taken = match take_frames(source) {
        Ok(taken) => taken,
        Err(why) => {
            finding.finding = Finding::new(
                CheckLevel::Unusable,
                format!("Camera: {what}; it did not start: {why}"),
                format!("Kamera: {what_nb}; det startet ikke: {why}"),
            )
            .advise(
                "Close other programs that use the camera (video calls), unplug the head \
                 camera and plug it in again, then check again.",
                "Lukk andre programmer som bruker kameraet (videosamtaler), koble hodekameraet \
                 fra og til igjen, og sjekk på nytt.",
            );
            return (finding, None);
        }
    };
    finding.frames = taken.frames;
    finding.width = taken.size.map(|s| s.0);
    finding.height = taken.size.map(|s| s.1);
    finding.frames_per_second = taken.fps.map(|fps| (fps * 10.0).round() / 10.0);
    finding.finding = judge(&what, &what_nb, &taken, video.fps);
    let picture = taken
        .newest
        .as_ref()
        .and_then(|sample| match to_jpeg(sample) {
            Ok(jpeg) => Some(jpeg),
            Err(why) => {
                tracing::warn!("the check's picture could not be made: {why}");
                None
            }
        });
    (finding, picture)
}

/// A source ready to run, and how to name it.
struct Prepared {
    source: Source,
    /// E.g. `HD Pro Webcam C920 (/dev/video0), 1280x720 MJPG at 30 fps`.
    what: String,
    what_nb: String,
    mode: Option<String>,
}

fn settings_problem(why: &str) -> Finding {
    Finding::new(
        CheckLevel::Unusable,
        format!("Camera: the video settings cannot be used: {why}"),
        format!("Kamera: videoinnstillingene kan ikke brukes: {why}"),
    )
    .advise(
        "Call IT: the capture settings need correcting.",
        "Ring IT: innstillingene for opptak må rettes.",
    )
}

/// Opens the camera (or names the test or file source) and builds the
/// daemon's source bin for it.
fn prepare(
    spec: &SourceSpec,
    video: &VideoSettings,
    cameras: &[CameraSeen],
) -> Result<Prepared, Finding> {
    let build_error = |what: &str, what_nb: &str, e: &dyn std::fmt::Display| {
        Finding::new(
            CheckLevel::Unusable,
            format!("Camera: {what} cannot be used: {e}"),
            format!("Kamera: {what_nb} kan ikke brukes: {e}"),
        )
    };
    match spec {
        SourceSpec::V4l2(device) => {
            let (info, formats) =
                open_camera(device.as_deref()).map_err(|e| no_camera(&e, cameras))?;
            let request = ModeRequest {
                width: video.width,
                height: video.height,
                fps: video.fps,
                prefer_native_h264: false,
            };
            let name = format!("{} ({})", info.card, info.path.display());
            let choice =
                choose_mode(&formats, &request).map_err(|e| build_error(&name, &name, &e))?;
            let mode = &choice.mode;
            let fps = fps_text(mode.fps());
            let what = format!(
                "{name}, {}x{} {} at {fps} fps",
                mode.width, mode.height, mode.format
            );
            let what_nb = format!(
                "{name}, {}x{} {} med {fps} bilder i sekundet",
                mode.width, mode.height, mode.format
            );
            let source = source::camera_for_mode(&info.path, mode, false)
                .map_err(|e| build_error(&name, &name, &e))?;
            Ok(Prepared {
                source,
                what,
                what_nb,
                mode: Some(mode.to_string()),
            })
        }
        SourceSpec::Test => {
            let what = "the test picture (source = test; no camera is used)";
            let what_nb = "testbildet (kilde = test; ikke noe kamera brukes)";
            let source = source::build(spec, video, false, &FullSizeFrames::default())
                .map_err(|e| build_error(what, what_nb, &e))?;
            Ok(Prepared {
                source,
                what: what.to_owned(),
                what_nb: what_nb.to_owned(),
                mode: None,
            })
        }
        SourceSpec::File(path) => {
            let what = format!("the video file {} (no camera is used)", path.display());
            let what_nb = format!("videofilen {} (ikke noe kamera brukes)", path.display());
            let source = source::build(spec, video, false, &FullSizeFrames::default())
                .map_err(|e| build_error(&what, &what_nb, &e))?;
            Ok(Prepared {
                source,
                what,
                what_nb,
                mode: None,
            })
        }
    }
}

/// The finding when the configured camera cannot be opened.
fn no_camera(error: &CameraError, cameras: &[CameraSeen]) -> Finding {
    let (headline, headline_nb) = match error {
        CameraError::NoCamera { .. } => (
            "Camera: no camera found.".to_owned(),
            "Kamera: fant ikke noe kamera.".to_owned(),
        ),
        CameraError::Open { path, .. } | CameraError::NotCapture { path, .. } => (
            format!("Camera: the camera {} cannot be opened.", path.display()),
            format!("Kamera: kameraet {} kan ikke åpnes.", path.display()),
        ),
        CameraError::Formats { path, .. } => (
            format!("Camera: the camera {} does not answer.", path.display()),
            format!("Kamera: kameraet {} svarer ikke.", path.display()),
        ),
    };
    let mut finding = Finding::new(CheckLevel::Unusable, headline, headline_nb).advise(
        "Plug in the head camera (USB), wait a few seconds, and check again.",
        "Koble til hodekameraet (USB), vent noen sekunder, og sjekk på nytt.",
    );
    if !cameras.is_empty() {
        let list = cameras
            .iter()
            .map(|c| format!("{} ({})", c.name, c.path))
            .collect::<Vec<_>>()
            .join(", ");
        finding = finding.advise(
            format!("Cameras found: {list}; choose one with --source v4l2:/dev/videoN."),
            format!("Kameraer funnet: {list}; velg ett med --source v4l2:/dev/videoN."),
        );
    }
    finding.advise(format!("Details: {error}"), format!("Detaljer: {error}"))
}

/// What came out of the source.
struct Taken {
    frames: u32,
    size: Option<(u32, u32)>,
    fps: Option<f64>,
    /// The newest picture: a camera's first ones are often dark while its
    /// exposure settles.
    newest: Option<gst::Sample>,
}

#[derive(Default)]
struct Counted {
    frames: u32,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    newest: Option<gst::Sample>,
}

/// Runs `source` into an appsink until a second after its first picture
/// (or [`FIRST_FRAME_WAIT`] without one); an error on the bus is the
/// reason it did not start.
fn take_frames(source: Source) -> Result<Taken, GstError> {
    let pipeline = gst::Pipeline::with_name("check-camera");
    let sink = gst_app::AppSink::builder()
        .caps(&gst::Caps::builder("video/x-raw").build())
        .sync(false)
        .max_buffers(1)
        .drop(true)
        .build();
    let counted = Arc::new(Mutex::new(Counted::default()));
    let seen = counted.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                seen.frames += 1;
                seen.first_at.get_or_insert(now);
                seen.last_at = Some(now);
                seen.newest = Some(sample);
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.add_many([source.bin.upcast_ref::<gst::Element>(), sink.upcast_ref()])?;
    source.bin.link(&sink)?;
    let result = run_until_measured(&pipeline, &counted);
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let counted = std::mem::take(&mut *counted.lock().unwrap_or_else(|e| e.into_inner()));
    let size = counted.newest.as_ref().and_then(|sample| {
        let info = gstreamer_video::VideoInfo::from_caps(sample.caps()?).ok()?;
        Some((info.width(), info.height()))
    });
    let fps = match (counted.first_at, counted.last_at) {
        (Some(first), Some(last)) if counted.frames >= 2 && last > first => {
            Some(f64::from(counted.frames - 1) / (last - first).as_secs_f64())
        }
        _ => None,
    };
    Ok(Taken {
        frames: counted.frames,
        size,
        fps,
        newest: counted.newest,
    })
}

fn run_until_measured(pipeline: &gst::Pipeline, counted: &Mutex<Counted>) -> Result<(), GstError> {
    pipeline.set_state(gst::State::Playing).map_err(|_| {
        GstError::state_change(
            first_error(pipeline).map_or("it would not start".into(), Cow::Owned),
        )
    })?;
    let bus = pipeline
        .bus()
        .ok_or(GstError::unexpected("the pipeline has no bus"))?;
    let started = Instant::now();
    loop {
        if let Some(message) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(50),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        ) {
            match message.view() {
                gst::MessageView::Error(e) => return Err(GstError::bus(e)),
                _ => return Ok(()),
            }
        }
        let first_at = counted.lock().unwrap_or_else(|e| e.into_inner()).first_at;
        match first_at {
            Some(first) if first.elapsed() >= MEASURE => return Ok(()),
            None if started.elapsed() >= FIRST_FRAME_WAIT => return Ok(()),
            _ => {}
        }
    }
}

/// The first error the pipeline posted, if any.
fn first_error(pipeline: &gst::Pipeline) -> Option<String> {
    let message = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    match message.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    }
}

/// The finding from what came.
fn judge(what: &str, what_nb: &str, taken: &Taken, configured_fps: u32) -> Finding {
    let Some((width, height)) = taken.size.filter(|_| taken.frames > 0) else {
        return Finding::new(
            CheckLevel::Unusable,
            format!(
                "Camera: {what}; no picture came within {} s.",
                FIRST_FRAME_WAIT.as_secs()
            ),
            format!(
                "Kamera: {what_nb}; det kom ikke noe bilde på {} s.",
                FIRST_FRAME_WAIT.as_secs()
            ),
        )
        .advise(
            "Unplug the head camera and plug it in again, close other programs that use it \
             (video calls), then check again.",
            "Koble hodekameraet fra og til igjen, lukk andre programmer som bruker det \
             (videosamtaler), og sjekk på nytt.",
        );
    };
    let fps = taken.fps.unwrap_or(0.0);
    let rate = format!("{fps:.0}");
    if fps < f64::from(configured_fps) * SLOW_SHARE {
        return Finding::new(
            CheckLevel::Marginal,
            format!("Camera: {what}; pictures come slowly ({width}x{height}, {rate} a second)."),
            format!(
                "Kamera: {what_nb}; bildene kommer sakte ({width}x{height}, {rate} i sekundet)."
            ),
        )
        .advise(
            "Turn on more light (cameras slow down in the dark), and plug the camera \
             straight into the laptop, not into a USB hub.",
            "Skru på mer lys (kameraer blir trege i mørket), og koble kameraet rett i \
             PC-en, ikke i en USB-hub.",
        );
    }
    Finding::new(
        CheckLevel::Good,
        format!("Camera: {what}; pictures arrive ({width}x{height}, {rate} a second)."),
        format!("Kamera: {what_nb}; bildene kommer frem ({width}x{height}, {rate} i sekundet)."),
    )
}

/// `sample` as a JPEG at most [`PICTURE_MAX_WIDTH`] wide, same aspect.
fn to_jpeg(sample: &gst::Sample) -> Result<Vec<u8>, GstError> {
    let caps = sample
        .caps()
        .ok_or(GstError::unexpected("the picture has no caps"))?;
    let info = gstreamer_video::VideoInfo::from_caps(caps)
        .map_err(|e| GstError::unexpected(e.to_string()))?;
    let (width, height) = scaled(info.width(), info.height());
    let buffer = sample
        .buffer_owned()
        .ok_or(GstError::unexpected("the picture has no data"))?;

    let source = gst_app::AppSrc::builder()
        .caps(&caps.to_owned())
        .format(gst::Format::Time)
        .build();
    let scale_caps = gst::Caps::builder("video/x-raw")
        .field("width", width as i32)
        .field("height", height as i32)
        .build();
    let chain = [
        source.clone().upcast(),
        elements::make("videoconvert")?,
        elements::make("videoscale")?,
        source::capsfilter(&scale_caps)?,
        {
            let encoder = elements::make("jpegenc")?;
            encoder.set_property("quality", PICTURE_QUALITY);
            encoder
        },
    ];
    let sink = gst_app::AppSink::builder().sync(false).build();
    let pipeline = gst::Pipeline::with_name("check-picture");
    pipeline.add_many(chain.iter().chain([sink.upcast_ref()]))?;
    gst::Element::link_many(chain.iter().chain([sink.upcast_ref()]))?;
    pipeline.set_state(gst::State::Playing)?;
    let flow = |e: gst::FlowError| GstError::unexpected(e.to_string());
    let pushed = source
        .push_buffer(buffer)
        .map_err(flow)
        .and_then(|_| source.end_of_stream().map_err(flow));
    let encoded = pushed.and_then(|_| {
        sink.try_pull_sample(gst::ClockTime::from_seconds(5))
            .ok_or(GstError::TimedOut {
                waiting: "the picture was not encoded",
                limit: Duration::from_secs(5),
            })
    });
    let _ = pipeline.set_state(gst::State::Null);
    let encoded = encoded?;
    let map = encoded
        .buffer()
        .ok_or(GstError::unexpected("an empty JPEG"))?
        .map_readable()
        .map_err(|e| GstError::unexpected(e.to_string()))?;
    Ok(map.as_slice().to_vec())
}

/// `width`x`height` brought down to at most [`PICTURE_MAX_WIDTH`] wide,
/// the height even (what the encoder's chroma wants).
fn scaled(width: u32, height: u32) -> (u32, u32) {
    if width <= PICTURE_MAX_WIDTH {
        return (width, height);
    }
    let scaled_height =
        (u64::from(height) * u64::from(PICTURE_MAX_WIDTH) / u64::from(width)).max(2) as u32;
    (PICTURE_MAX_WIDTH, scaled_height & !1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_scaled_to_the_screens_width() {
        assert_eq!(scaled(1280, 720), (640, 360));
        assert_eq!(scaled(1920, 1080), (640, 360));
        assert_eq!(scaled(640, 480), (640, 480));
        assert_eq!(scaled(320, 240), (320, 240));
        assert_eq!(scaled(1000, 333), (640, 212));
    }

    #[test]
    fn a_camera_in_use_is_judged_by_its_pictures_without_opening_it() {
        let config = CaptureConfig {
            source: "v4l2:/dev/video99".into(),
            ..CaptureConfig::default()
        };
        // The device does not exist: opening it would say so.
        let sending = streaming(&config, true);
        assert_eq!(sending.finding.level, CheckLevel::Good);
        assert!(sending.finding.headline_nb.contains("sender bilder"));
        let silent = streaming(&config, false);
        assert_eq!(silent.finding.level, CheckLevel::Unusable);
        assert_eq!(silent.finding.advice_nb.len(), 1);
    }
}
