//! The photo mode of a V4L2 camera: flag, file and environment, and the
//! message for a value that cannot be used.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use common::{capture_flags, error_text};
use figment::Jail;
use samsyn_config::PhotoMode;

const GATEWAY: [&str; 2] = ["--gateway", "https://wound.example.org"];

#[test]
fn photos_switch_to_the_largest_mode_unless_told_otherwise() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        let config = capture_flags(&GATEWAY).load().expect("defaults are valid");
        assert_eq!(config.photo_mode, PhotoMode::Largest);

        let config = capture_flags(&[GATEWAY[0], GATEWAY[1], "--photo-mode", "stream"])
            .load()
            .expect("a valid flag");
        assert_eq!(config.photo_mode, PhotoMode::Stream);

        jail.create_file("capture.toml", "photo_mode = \"stream\"\n")?;
        let config = capture_flags(&[GATEWAY[0], GATEWAY[1], "--config", "capture.toml"])
            .load()
            .expect("a valid file");
        assert_eq!(config.photo_mode, PhotoMode::Stream);
        // The environment overrides the file.
        jail.set_env("SAMSYN_PHOTO_MODE", "largest");
        let config = capture_flags(&[GATEWAY[0], GATEWAY[1], "--config", "capture.toml"])
            .load()
            .expect("a valid environment");
        assert_eq!(config.photo_mode, PhotoMode::Largest);
        Ok(())
    });
}

#[test]
fn an_unknown_photo_mode_names_the_allowed_ones() {
    Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("capture.toml", "photo_mode = \"huge\"\n")?;
        let text = error_text(capture_flags(&["--config", "capture.toml"]).load_unvalidated());
        assert!(
            text.contains("photo_mode") && text.contains("largest") && text.contains("stream"),
            "{text}"
        );
        Ok(())
    });
}
