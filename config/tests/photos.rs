//! The photo mode of a V4L2 camera: flag, file and environment, and the
//! message for a value that cannot be used.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use common::Layers;
use samsyn_config::PhotoMode;

const GATEWAY: [&str; 2] = ["--gateway", "https://wound.example.org"];

#[test]
fn photos_switch_to_the_largest_mode_unless_told_otherwise() {
    let with_gateway = Layers::capture().flags(&GATEWAY);
    assert_eq!(with_gateway.config().photo_mode, PhotoMode::Largest);
    let with_flag = with_gateway.clone().flags(&["--photo-mode", "stream"]);
    assert_eq!(with_flag.config().photo_mode, PhotoMode::Stream);

    let with_file = with_gateway.file("capture.toml", "photo_mode = \"stream\"\n");
    assert_eq!(with_file.config().photo_mode, PhotoMode::Stream);
    // The environment overrides the file.
    let with_env = with_file.env("SAMSYN_PHOTO_MODE", "largest");
    assert_eq!(with_env.config().photo_mode, PhotoMode::Largest);
}

#[test]
fn an_unknown_photo_mode_names_the_allowed_ones() {
    Layers::capture()
        .file("capture.toml", "photo_mode = \"huge\"\n")
        .unvalidated()
        .says(&["photo_mode", "largest", "stream"]);
}
