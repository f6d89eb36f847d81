//! A missing GStreamer element is reported with the package to install.

mod common;

use samsyn_capture::elements::{self, ElementError};

#[test]
fn made_up_element_says_how_to_find_its_package() {
    common::init();
    let err = elements::make("samsynnosuchelement").unwrap_err();
    assert_eq!(
        err,
        ElementError::Missing {
            factory: "samsynnosuchelement".into(),
            package: None
        }
    );
    let text = err.to_string();
    assert!(
        text.starts_with("GStreamer element 'samsynnosuchelement' is missing; "),
        "{text}"
    );
    assert!(
        text.contains("gst-inspect-1.0 samsynnosuchelement"),
        "{text}"
    );
}

#[test]
fn known_elements_name_their_debian_package() {
    common::init();
    for (element, package) in [
        ("x264enc", "gstreamer1.0-plugins-ugly"),
        ("webrtcbin", "gstreamer1.0-plugins-bad"),
        ("nicesrc", "gstreamer1.0-nice"),
        ("vp8enc", "gstreamer1.0-plugins-good"),
        ("opusenc", "gstreamer1.0-plugins-base"),
        ("avdec_h264", "gstreamer1.0-libav"),
        ("v4l2src", "gstreamer1.0-plugins-good"),
        ("vaapih264enc", "gstreamer1.0-vaapi"),
    ] {
        assert_eq!(
            elements::missing(element).to_string(),
            format!(
                "GStreamer element '{element}' is missing; install the Debian package \
                 {package} (sudo apt install {package})"
            )
        );
    }
}

#[test]
fn an_element_missing_here_is_reported_through_make() {
    common::init();
    // No VA-API on this machine's GStreamer; on one that has it, the
    // element is created instead.
    match elements::make("vaapih264enc") {
        Err(err) => assert!(err.to_string().contains("gstreamer1.0-vaapi"), "{err}"),
        Ok(_) => assert!(elements::exists("vaapih264enc")),
    }
}

#[test]
fn present_element_is_created() {
    common::init();
    assert!(elements::make("x264enc").is_ok());
    assert!(elements::require_all(&["webrtcbin", "nicesrc", "rtph264pay"]).is_ok());
}
