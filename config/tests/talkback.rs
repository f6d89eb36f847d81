//! The talk-back settings: flags, file and environment, and the messages
//! for values that cannot be used.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use common::Layers;

const GATEWAY: [&str; 2] = ["--gateway", "https://wound.example.org"];

fn with_gateway<'a>(flags: &[&'a str]) -> Vec<&'a str> {
    GATEWAY
        .iter()
        .copied()
        .chain(flags.iter().copied())
        .collect()
}

#[test]
fn talkback_is_on_at_full_volume_on_the_default_output_unless_told() {
    let config = Layers::capture().flags(&GATEWAY).config();
    assert!(config.talkback.enabled);
    assert_eq!(config.talkback.speaker, "auto");
    assert_eq!(config.talkback.volume_percent, 100);

    let config = Layers::capture()
        .flags(&with_gateway(&[
            "--no-talkback",
            "--speaker",
            "none",
            "--talkback-volume",
            "250",
        ]))
        .config();
    assert!(!config.talkback.enabled);
    assert_eq!(config.talkback.speaker, "none");
    assert_eq!(config.talkback.volume_percent, 250);
}

#[test]
fn file_and_environment_set_talkback_too() {
    let config = Layers::capture()
        .file(
            "capture.toml",
            "[talkback]\nspeaker = \"alsa_output.usb-Jabra\"\nvolume_percent = 300\n",
        )
        .env("SAMSYN_TALKBACK__VOLUME_PERCENT", "180")
        .flags(&GATEWAY)
        .config();
    assert_eq!(config.talkback.speaker, "alsa_output.usb-Jabra");
    // The environment overrides the file.
    assert_eq!(config.talkback.volume_percent, 180);
}

#[test]
fn a_volume_above_400_percent_names_the_range_and_the_flag() {
    Layers::capture()
        .flags(&with_gateway(&["--talkback-volume", "500"]))
        .says(&[
            "talkback.volume_percent = 500: must be a percentage from 0 to 400",
            "--talkback-volume",
            "command-line flags",
        ]);
    // 0 is allowed: the nurse may silence the specialists.
    let config = Layers::capture()
        .flags(&with_gateway(&["--talkback-volume", "0"]))
        .config();
    assert_eq!(config.talkback.volume_percent, 0);
}

#[test]
fn an_empty_speaker_says_what_to_pass() {
    Layers::capture()
        .flags(&with_gateway(&["--speaker", " "]))
        .says(&["talkback.speaker", "auto, none", "--speaker auto"]);
}

#[test]
fn a_volume_that_is_not_a_number_is_refused_by_the_flag_parser() {
    let argv = ["samsyn-capture", "--talkback-volume", "loud"];
    let error = <common::CaptureCli as clap::Parser>::try_parse_from(argv).unwrap_err();
    assert!(error.to_string().contains("--talkback-volume"), "{error}");
}
