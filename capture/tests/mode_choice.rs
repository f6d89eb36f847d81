//! Camera mode choice on `v4l2-ctl --list-formats-ext` listings of six real
//! UVC cameras (tests/data/uvc, see its README), and the "no camera" path of
//! device discovery (this machine has no camera).

use std::path::{Path, PathBuf};

use samsyn_capture::camera::{
    CameraError, CameraMode, FormatCaps, FrameIntervals, ModeChoice, ModeError, ModeRequest,
    PixelFormat, choose_mode, choose_still_mode, list_devices, open_camera, parse_listing,
    pick_mode,
};

const USB_PC: &str = "usb-pc-camera-mjpeg-stepwise.txt";
const C310: &str = "logitech-c310-yuyv-mjpeg.txt";
const C920: &str = "logitech-c920-h264.txt";
const DJI: &str = "dji-osmo-action4-webcam-h264.txt";
const BRIO: &str = "logitech-brio-nv12.txt";
const RP2040: &str = "rp2040-ov2640-uvc-stepwise-interval.txt";

fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/uvc")
        .join(name)
}

fn read(name: &str) -> String {
    let path = data_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn camera(name: &str) -> Vec<FormatCaps> {
    parse_listing(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only(formats: Vec<FormatCaps>, keep: PixelFormat) -> Vec<FormatCaps> {
    formats
        .into_iter()
        .filter(|caps| caps.format == keep)
        .collect()
}

fn want(width: u32, height: u32, fps: u32, prefer_native_h264: bool) -> ModeRequest {
    ModeRequest {
        width,
        height,
        fps,
        prefer_native_h264,
    }
}

fn mode(format: PixelFormat, width: u32, height: u32, fps_num: u32, fps_den: u32) -> CameraMode {
    CameraMode {
        format,
        width,
        height,
        fps_num,
        fps_den,
    }
}

/// Picks and insists the choice is within the request (no note).
fn pick_fitting(formats: &[FormatCaps], request: ModeRequest) -> CameraMode {
    let ModeChoice { mode, note } = choose_mode(formats, &request).unwrap();
    assert_eq!(note, None, "{request:?} gave {mode}");
    mode
}

// ---- parsing: every listing, counted against the file itself ----

/// Counts `Size:` and `Interval:` lines straight from the text, independent of the parser.
fn raw_counts(text: &str) -> (usize, usize) {
    let lines = text.lines().map(str::trim).filter(|l| !l.starts_with('#'));
    let (mut sizes, mut intervals) = (0, 0);
    for line in lines {
        sizes += usize::from(line.starts_with("Size:"));
        intervals += usize::from(line.starts_with("Interval:"));
    }
    (sizes, intervals)
}

fn assert_listing(name: &str, expected: &[(&str, usize)]) {
    let text = read(name);
    let formats = camera(name);
    let shape: Vec<(&str, usize)> = formats
        .iter()
        .map(|caps| (caps.format.fourcc(), caps.sizes.len()))
        .collect();
    assert_eq!(shape, expected, "{name}: formats and sizes per format");

    let (raw_sizes, raw_intervals) = raw_counts(&text);
    let sizes: Vec<_> = formats.iter().flat_map(|caps| &caps.sizes).collect();
    assert_eq!(sizes.len(), raw_sizes, "{name}: Size: lines");
    let parsed_intervals: usize = sizes
        .iter()
        .map(|size| size.intervals.discrete_len().unwrap_or(1))
        .sum();
    assert_eq!(parsed_intervals, raw_intervals, "{name}: Interval: lines");
    for size in sizes {
        assert!(size.width > 0 && size.height > 0, "{name}: {size:?}");
        let fastest = size
            .intervals
            .fastest()
            .expect("every size has an interval");
        assert!(
            fastest.fps() >= 1.0 && fastest.fps() <= 120.0,
            "{name}: {size:?}"
        );
    }
}

#[test]
fn usb_pc_camera_listing() {
    assert_listing(USB_PC, &[("MJPG", 3)]);
    // The degenerate range "0.033s - 0.033s with step 0.000s (30.000-30.000 fps)".
    let formats = camera(USB_PC);
    let FrameIntervals::Stepwise { min, max, step } = &formats[0].sizes[0].intervals else {
        panic!("expected a stepwise range");
    };
    assert_eq!((min.num, min.den), (1, 30));
    assert_eq!(min, max);
    assert_eq!(*step, None);
}

#[test]
fn c310_listing() {
    assert_listing(C310, &[("YUYV", 19), ("MJPG", 19)]);
}

#[test]
fn c920_listing() {
    assert_listing(C920, &[("YUYV", 19), ("H264", 17), ("MJPG", 17)]);
}

#[test]
fn dji_listing() {
    assert_listing(DJI, &[("MJPG", 2), ("H264", 2)]);
}

#[test]
fn brio_listing() {
    assert_listing(BRIO, &[("YUYV", 19), ("MJPG", 20), ("NV12", 4)]);
}

#[test]
fn rp2040_listing() {
    assert_listing(RP2040, &[("YUYV", 1)]);
    let formats = camera(RP2040);
    let size = &formats[0].sizes[0];
    assert_eq!((size.width, size.height), (320, 240));
    let FrameIntervals::Stepwise { min, max, step } = &size.intervals else {
        panic!("expected a stepwise range");
    };
    assert_eq!((min.num, min.den), (1, 25));
    assert_eq!((max.num, max.den), (1, 1));
    let step = step.expect("a real grid");
    assert_eq!((step.num, step.den), (1, 25));
}

#[test]
fn c920_unsorted_sizes_and_rates_keep_their_order() {
    let formats = camera(C920);
    let yuyv = &formats[0];
    assert_eq!((yuyv.sizes[0].width, yuyv.sizes[0].height), (640, 480));
    assert_eq!((yuyv.sizes[1].width, yuyv.sizes[1].height), (160, 90));
    // YUYV 1280x720 stops at 10 fps; 7.5 fps is exactly 2/15 s.
    let hd = yuyv
        .sizes
        .iter()
        .find(|s| (s.width, s.height) == (1280, 720))
        .unwrap();
    let FrameIntervals::Discrete(list) = &hd.intervals else {
        panic!("discrete")
    };
    let rates: Vec<(u32, u32)> = list.iter().map(|i| (i.num, i.den)).collect();
    assert_eq!(rates, vec![(1, 10), (2, 15), (1, 5)]);
}

// ---- mode choice on the real cameras ----

#[test]
fn c920_native_h264_when_preferred() {
    let formats = camera(C920);
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, true)),
        mode(PixelFormat::H264, 1280, 720, 30, 1)
    );
}

#[test]
fn c920_mjpeg_when_h264_not_preferred() {
    // YUYV only reaches 10 fps at 1280x720, MJPEG 30.
    let formats = camera(C920);
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, false)),
        mode(PixelFormat::Mjpeg, 1280, 720, 30, 1)
    );
}

#[test]
fn c920_yuyv_only_trades_size_for_a_live_frame_rate() {
    // 1920x1080 YUYV is 5 fps; the largest size with at least 15 fps wins.
    let formats = only(camera(C920), PixelFormat::Yuyv);
    assert_eq!(
        pick_fitting(&formats, want(1920, 1080, 30, false)),
        mode(PixelFormat::Yuyv, 960, 720, 15, 1)
    );
}

#[test]
fn c310_mjpeg_at_720p() {
    let formats = camera(C310);
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, true)),
        mode(PixelFormat::Mjpeg, 1280, 720, 30, 1)
    );
}

#[test]
fn c310_at_equal_size_and_rate_mjpeg_beats_yuyv() {
    // Both formats give 640x480 at 30 fps.
    let formats = camera(C310);
    assert_eq!(
        pick_fitting(&formats, want(640, 480, 30, false)),
        mode(PixelFormat::Mjpeg, 640, 480, 30, 1)
    );
}

#[test]
fn c310_yuyv_only() {
    let formats = only(camera(C310), PixelFormat::Yuyv);
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, false)),
        mode(PixelFormat::Yuyv, 960, 544, 15, 1)
    );
    // At 20 fps asked, 10 fps is half and still counts: the larger picture wins.
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 20, false)),
        mode(PixelFormat::Yuyv, 1184, 656, 10, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(800, 600, 20, false)),
        mode(PixelFormat::Yuyv, 800, 600, 20, 1)
    );
}

#[test]
fn usb_pc_camera_gives_its_best() {
    let formats = camera(USB_PC);
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, true)),
        mode(PixelFormat::Mjpeg, 1280, 720, 30, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(1920, 1080, 60, false)),
        mode(PixelFormat::Mjpeg, 1280, 720, 30, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(800, 600, 30, false)),
        mode(PixelFormat::Mjpeg, 640, 480, 30, 1)
    );
}

#[test]
fn usb_pc_camera_only_faster_than_asked() {
    // Every size runs at exactly 30 fps: asking 15 gets 30, said so.
    let formats = camera(USB_PC);
    let choice = choose_mode(&formats, &want(1280, 720, 15, false)).unwrap();
    assert_eq!(choice.mode, mode(PixelFormat::Mjpeg, 1280, 720, 30, 1));
    let note = choice.note.expect("a note");
    assert!(note.contains("at or below 15 fps"), "{note}");
}

#[test]
fn brio_1080p30_is_mjpeg_over_nv12() {
    // MJPEG, NV12 and YUYV all offer 1920x1080 at 30 fps; MJPEG ranks first.
    let formats = camera(BRIO);
    assert_eq!(
        pick_fitting(&formats, want(1920, 1080, 30, true)),
        mode(PixelFormat::Mjpeg, 1920, 1080, 30, 1)
    );
}

#[test]
fn brio_without_mjpeg_takes_nv12_over_yuyv() {
    let formats: Vec<FormatCaps> = camera(BRIO)
        .into_iter()
        .filter(|caps| caps.format != PixelFormat::Mjpeg)
        .collect();
    assert_eq!(
        pick_fitting(&formats, want(1920, 1080, 30, false)),
        mode(PixelFormat::Nv12, 1920, 1080, 30, 1)
    );
    // NV12 has no 800x600; YUYV does, and the larger picture wins over format.
    assert_eq!(
        pick_fitting(&formats, want(800, 600, 30, false)),
        mode(PixelFormat::Yuyv, 800, 600, 30, 1)
    );
}

#[test]
fn brio_high_rates() {
    let formats = camera(BRIO);
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 60, false)),
        mode(PixelFormat::Mjpeg, 1280, 720, 60, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(640, 480, 120, false)),
        mode(PixelFormat::Mjpeg, 640, 480, 120, 1)
    );
    // Asking 50 fps at 1080p: 30 is the highest rate not above it.
    assert_eq!(
        pick_fitting(&formats, want(1920, 1080, 50, false)),
        mode(PixelFormat::Mjpeg, 1920, 1080, 30, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(4096, 2160, 30, false)),
        mode(PixelFormat::Mjpeg, 4096, 2160, 30, 1)
    );
}

#[test]
fn rp2040_stepwise_tops_out_at_25() {
    let formats = camera(RP2040);
    assert_eq!(
        pick_fitting(&formats, want(320, 240, 30, false)),
        mode(PixelFormat::Yuyv, 320, 240, 25, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, false)),
        mode(PixelFormat::Yuyv, 320, 240, 25, 1)
    );
}

#[test]
fn rp2040_stepwise_rate_lies_on_the_step_grid() {
    // 15 fps (0.0667 s) is not on the 0.04 s grid; the next interval up is
    // 0.08 s, 12.5 fps.
    let formats = camera(RP2040);
    let chosen = pick_fitting(&formats, want(320, 240, 15, false));
    assert_eq!(chosen, mode(PixelFormat::Yuyv, 320, 240, 25, 2));
    assert_eq!(chosen.fps(), 12.5);
    // 5 fps is on the grid (0.2 s).
    assert_eq!(
        pick_fitting(&formats, want(320, 240, 5, false)),
        mode(PixelFormat::Yuyv, 320, 240, 5, 1)
    );
}

#[test]
fn dji_h264_or_mjpeg_at_30() {
    let formats = camera(DJI);
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, true)),
        mode(PixelFormat::H264, 1280, 720, 30, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, false)),
        mode(PixelFormat::Mjpeg, 1280, 720, 30, 1)
    );
    assert_eq!(
        pick_fitting(&formats, want(1920, 1080, 30, true)),
        mode(PixelFormat::H264, 1920, 1080, 30, 1)
    );
}

#[test]
fn request_below_every_mode_takes_the_smallest_above_with_a_note() {
    let formats = camera(DJI);
    let choice = choose_mode(&formats, &want(640, 360, 30, false)).unwrap();
    assert_eq!(choice.mode, mode(PixelFormat::Mjpeg, 1280, 720, 30, 1));
    let note = choice.note.expect("a note");
    assert!(note.contains("no mode within 640x360 @ 30 fps"), "{note}");
    assert!(
        note.contains("smallest above it: MJPG 1280x720 @ 30 fps"),
        "{note}"
    );

    let formats = camera(USB_PC);
    let choice = choose_mode(&formats, &want(160, 120, 30, false)).unwrap();
    assert_eq!(choice.mode, mode(PixelFormat::Mjpeg, 320, 240, 30, 1));
    assert!(choice.note.is_some());

    // pick_mode returns the same mode (and logs the note).
    assert_eq!(
        pick_mode(&formats, &want(160, 120, 30, false)).unwrap(),
        mode(PixelFormat::Mjpeg, 320, 240, 30, 1)
    );
}

#[test]
fn only_slow_modes_within_the_size_are_taken_with_a_note() {
    let listing = "[0]: 'YUYV' (YUYV 4:2:2)\n\
                   \tSize: Discrete 1920x1080\n\t\tInterval: Discrete 0.200s (5.000 fps)\n\
                   \tSize: Discrete 1280x720\n\t\tInterval: Discrete 0.100s (10.000 fps)\n";
    let formats = parse_listing(listing).unwrap();
    let choice = choose_mode(&formats, &want(1920, 1080, 30, false)).unwrap();
    assert_eq!(choice.mode, mode(PixelFormat::Yuyv, 1920, 1080, 5, 1));
    let note = choice.note.expect("a note");
    assert!(note.contains("half that frame rate"), "{note}");
}

#[test]
fn unknown_formats_only_is_an_error_naming_them() {
    let listing = "[0]: 'GREY' (8-bit Greyscale)\n\tSize: Discrete 640x480\n\
                   \t\tInterval: Discrete 0.033s (30.000 fps)\n";
    let formats = parse_listing(listing).unwrap();
    assert_eq!(formats[0].format, PixelFormat::Other("GREY".into()));
    let error = choose_mode(&formats, &want(1280, 720, 30, true)).unwrap_err();
    assert!(matches!(error, ModeError::NoUsableFormat { .. }));
    let text = error.to_string();
    assert!(
        text.contains("GREY: 1 size up to 640x480, up to 30 fps"),
        "{text}"
    );
    assert!(text.contains("MJPG, YUYV, NV12 or H264"), "{text}");

    let error = choose_mode(&[], &want(1280, 720, 30, true)).unwrap_err();
    assert!(error.to_string().contains("no formats at all"), "{error}");
}

#[test]
fn unknown_formats_are_skipped_next_to_known_ones() {
    let listing = "[0]: 'GREY' (8-bit Greyscale)\n\tSize: Discrete 1280x720\n\
                   \t\tInterval: Discrete 0.033s (30.000 fps)\n\
                   [1]: 'YUYV' (YUYV 4:2:2)\n\tSize: Discrete 640x480\n\
                   \t\tInterval: Discrete 0.033s (30.000 fps)\n";
    let formats = parse_listing(listing).unwrap();
    assert_eq!(
        pick_fitting(&formats, want(1280, 720, 30, false)),
        mode(PixelFormat::Yuyv, 640, 480, 30, 1)
    );
}

#[test]
fn a_zero_request_is_refused() {
    let error = choose_mode(&camera(C920), &want(1280, 720, 0, false)).unwrap_err();
    assert!(
        matches!(error, ModeError::InvalidRequest { fps: 0, .. }),
        "{error}"
    );
}

#[test]
fn mode_display_and_fps() {
    let chosen = mode(PixelFormat::Yuyv, 1280, 720, 15, 2);
    assert_eq!(chosen.fps(), 7.5);
    assert_eq!(chosen.to_string(), "YUYV 1280x720 @ 7.5 fps");
}

// ---- device discovery: only the "no camera" paths run here ----

#[test]
fn a_missing_device_path_is_named_in_the_error() {
    let path = Path::new("/nonexistent/samsyn/video9");
    let error = open_camera(Some(path)).unwrap_err();
    assert!(matches!(error, CameraError::Open { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.starts_with("cannot open camera /nonexistent/samsyn/video9"),
        "{text}"
    );
}

#[test]
fn without_a_camera_the_error_says_what_to_do() {
    let capture_devices = list_devices().into_iter().filter(|d| d.is_capture).count();
    if capture_devices > 0 {
        // A camera is plugged in here; this test is about machines without one.
        return;
    }
    let error = open_camera(None).unwrap_err();
    assert!(matches!(error, CameraError::NoCamera { .. }), "{error}");
    let text = error.to_string();
    assert!(
        text.starts_with("no /dev/video* capture device found"),
        "{text}"
    );
    assert!(
        text.ends_with("plug in the head camera, or use --source test"),
        "{text}"
    );
}

// ---- the still mode: the largest picture, whatever its rate ----

#[test]
fn still_modes_of_the_six_cameras_are_their_largest_pictures() {
    for (name, expected) in [
        (USB_PC, mode(PixelFormat::Mjpeg, 1280, 720, 30, 1)),
        // YUYV and MJPEG both reach 1280x960; MJPEG at 30 fps, YUYV at 7.5.
        (C310, mode(PixelFormat::Mjpeg, 1280, 960, 30, 1)),
        // Its largest picture is raw only, at 2 fps: a still wants the detail.
        (C920, mode(PixelFormat::Yuyv, 2304, 1536, 2, 1)),
        // MJPEG and H.264 at the same size and rate: MJPEG needs no keyframe.
        (DJI, mode(PixelFormat::Mjpeg, 1920, 1080, 30, 1)),
        (BRIO, mode(PixelFormat::Mjpeg, 4096, 2160, 30, 1)),
        // A stepwise range: its fastest end.
        (RP2040, mode(PixelFormat::Yuyv, 320, 240, 25, 1)),
    ] {
        let formats = camera(name);
        let still = choose_still_mode(&formats).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(still, expected, "{name}");
        // Never smaller than the streaming mode the daemon opens by default.
        let stream = pick_mode(&formats, &want(1280, 720, 30, true)).unwrap();
        assert!(
            u64::from(still.width) * u64::from(still.height)
                >= u64::from(stream.width) * u64::from(stream.height),
            "{name}: still {still} smaller than stream {stream}"
        );
    }
}

#[test]
fn still_mode_without_the_largest_format_takes_the_next_largest() {
    // A C920 seen without YUYV (e.g. a driver quirk): MJPEG 1920x1080 over
    // the camera's own H.264 at the same size and rate.
    let formats: Vec<FormatCaps> = camera(C920)
        .into_iter()
        .filter(|caps| caps.format != PixelFormat::Yuyv)
        .collect();
    assert_eq!(
        choose_still_mode(&formats).unwrap(),
        mode(PixelFormat::Mjpeg, 1920, 1080, 30, 1)
    );
    // BRIO's NV12 alone: its largest NV12 picture.
    let nv12 = only(camera(BRIO), PixelFormat::Nv12);
    let still = choose_still_mode(&nv12).unwrap();
    assert_eq!(still.format, PixelFormat::Nv12);
    let largest = nv12[0].sizes.iter().map(|s| s.area()).max().unwrap();
    assert_eq!(u64::from(still.width) * u64::from(still.height), largest);
}
