//! The default config files: `<system dir>/gateway.toml` for the gateway,
//! `<system dir>/capture.toml` then the user's `capture.toml` for the
//! capture daemon, replaced by `--config` or `SAMSYN_CONFIG`.
//!
//! `SAMSYN_SYSTEM_CONFIG_DIR` points the system directory into each test's
//! `figment::Jail` (a fresh directory with the environment restored after),
//! and `XDG_CONFIG_HOME` or `HOME` the user's.

// figment's `Jail` closures return `figment::Error`, which is large by design.
#![allow(clippy::result_large_err)]

mod common;

use std::path::{Path, PathBuf};

use common::{capture_flags, error_text, gateway_flags, jailed};
use figment::Jail;
use samsyn_config::discovery::{
    ChosenBy, ConfigDirs, DefaultFile, config_files, files_read_comment,
};
use samsyn_config::{
    CaptureArgs, ConfigError, GatewayArgs, GatewayConfig, LogFormat, SYSTEM_CONFIG_DIR_ENV,
};

/// Creates `etc/` (the system directory) and `xdg/samsyn/` (the user's)
/// in the jail and points the environment at them.
fn config_dirs(jail: &mut Jail) -> (PathBuf, PathBuf) {
    jail.clear_env();
    let system = jail.directory().join("etc");
    let user = jail.directory().join("xdg/samsyn");
    std::fs::create_dir_all(&system).unwrap();
    std::fs::create_dir_all(&user).unwrap();
    jail.set_env(SYSTEM_CONFIG_DIR_ENV, system.display());
    jail.set_env("XDG_CONFIG_HOME", jail.directory().join("xdg").display());
    (system, user)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn the_system_file_is_read_by_default() {
    Jail::expect_with(|jail| {
        let (system, _) = config_dirs(jail);
        write(
            &system.join("gateway.toml"),
            "data_dir = \"/var/lib/samsyn\"\n[media]\nudp_port = 50123\n[log]\nformat = \"json\"\n",
        );
        write(
            &system.join("capture.toml"),
            "width = 640\nsource = \"v4l2\"\n",
        );

        let gateway = jailed(GatewayArgs::default().load())?;
        assert_eq!(gateway.media.udp_port, 50123);
        assert_eq!(gateway.data_dir, PathBuf::from("/var/lib/samsyn"));
        assert_eq!(gateway.log.format, LogFormat::Json);

        let capture = jailed(CaptureArgs::default().load_unvalidated())?;
        assert_eq!((capture.width, capture.source.as_str()), (640, "v4l2"));

        let files = jailed(GatewayArgs::default().files_to_read())?;
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, system.join("gateway.toml"));
        assert_eq!(files[0].chosen_by, ChosenBy::System);
        Ok(())
    });
}

#[test]
fn missing_default_files_are_skipped() {
    Jail::expect_with(|jail| {
        config_dirs(jail);
        assert_eq!(
            jailed(GatewayArgs::default().load())?,
            GatewayConfig::default()
        );
        assert_eq!(jailed(CaptureArgs::default().files_to_read())?, vec![]);
        // No home at all: only the system file is looked for.
        jail.clear_env();
        jail.set_env(
            SYSTEM_CONFIG_DIR_ENV,
            jail.directory().join("etc").display(),
        );
        assert_eq!(ConfigDirs::from_env().user, None);
        jailed(CaptureArgs::default().load_unvalidated())?;
        Ok(())
    });
}

#[test]
fn the_users_file_overrides_the_system_file_key_by_key() {
    Jail::expect_with(|jail| {
        let (system, user) = config_dirs(jail);
        write(
            &system.join("capture.toml"),
            "width = 640\nfps = 15\n[tls]\npin_sha256 = \"\"\n",
        );
        write(&user.join("capture.toml"), "width = 800\n");
        let capture = jailed(CaptureArgs::default().load_unvalidated())?;
        assert_eq!(capture.width, 800, "the user's file wins");
        assert_eq!(capture.fps, 15, "what it leaves out stays the system's");

        let files = jailed(CaptureArgs::default().files_to_read())?;
        let read: Vec<_> = files.iter().map(|f| (&f.path, f.chosen_by)).collect();
        assert_eq!(
            read,
            [
                (&system.join("capture.toml"), ChosenBy::System),
                (&user.join("capture.toml"), ChosenBy::User),
            ]
        );

        // Environment and flags still come on top of both files.
        jail.set_env("SAMSYN_WIDTH", "960");
        let capture = jailed(CaptureArgs::default().load_unvalidated())?;
        assert_eq!(capture.width, 960);
        let capture = jailed(capture_flags(&["--width", "1024"]).load_unvalidated())?;
        assert_eq!(capture.width, 1024);
        Ok(())
    });
}

#[test]
fn the_user_directory_is_home_dot_config_without_xdg_config_home() {
    Jail::expect_with(|jail| {
        let (system, _) = config_dirs(jail);
        jail.set_env("XDG_CONFIG_HOME", "");
        jail.set_env("HOME", jail.directory().join("home").display());
        let user = jail.directory().join("home/.config/samsyn");
        std::fs::create_dir_all(&user).unwrap();
        write(&system.join("capture.toml"), "fps = 15\n");
        write(&user.join("capture.toml"), "fps = 20\n");
        assert_eq!(jailed(CaptureArgs::default().load_unvalidated())?.fps, 20);

        // A relative XDG_CONFIG_HOME is not a base directory (XDG spec).
        jail.set_env("XDG_CONFIG_HOME", "relative/dir");
        assert_eq!(ConfigDirs::from_env().user, Some(user));
        Ok(())
    });
}

#[test]
fn the_gateway_reads_no_users_file() {
    Jail::expect_with(|jail| {
        let (_, user) = config_dirs(jail);
        write(&user.join("gateway.toml"), "[media]\nudp_port = 50999\n");
        assert_eq!(jailed(GatewayArgs::default().load())?.media.udp_port, 50000);
        Ok(())
    });
}

#[test]
fn a_named_file_replaces_discovery() {
    Jail::expect_with(|jail| {
        let (system, user) = config_dirs(jail);
        write(&system.join("gateway.toml"), "[media]\nudp_port = 50123\n");
        write(&system.join("capture.toml"), "width = 640\nfps = 15\n");
        write(&user.join("capture.toml"), "height = 480\n");
        jail.create_file("named.toml", "width = 320\n")?;
        jail.create_file("gateway-named.toml", "[sfu]\npli_throttle_ms = 900\n")?;

        // --config: only that file.
        let capture = jailed(capture_flags(&["--config", "named.toml"]).load_unvalidated())?;
        assert_eq!((capture.width, capture.height, capture.fps), (320, 720, 30));
        let files = jailed(capture_flags(&["--config", "named.toml"]).files_to_read())?;
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].chosen_by, ChosenBy::Flag);
        let gateway = jailed(gateway_flags(&["--config", "gateway-named.toml"]).load())?;
        assert_eq!(
            (gateway.media.udp_port, gateway.sfu.pli_throttle_ms),
            (50000, 900)
        );

        // SAMSYN_CONFIG: the same.
        jail.set_env("SAMSYN_CONFIG", "named.toml");
        let capture = jailed(CaptureArgs::default().load_unvalidated())?;
        assert_eq!((capture.width, capture.height, capture.fps), (320, 720, 30));
        assert_eq!(
            jailed(CaptureArgs::default().files_to_read())?[0].chosen_by,
            ChosenBy::Env
        );

        // A named file that is missing is still an error, not a fall-back.
        jail.set_env("SAMSYN_CONFIG", "gone.toml");
        let text = error_text(CaptureArgs::default().load_unvalidated());
        assert!(text.contains("gone.toml"), "{text}");
        assert!(text.contains("named by SAMSYN_CONFIG"), "{text}");
        Ok(())
    });
}

#[test]
fn an_error_names_the_file_that_set_the_value() {
    Jail::expect_with(|jail| {
        let (system, user) = config_dirs(jail);
        let system_file = system.join("capture.toml");
        let user_file = user.join("capture.toml");

        // A range error in the system file …
        write(
            &system_file,
            "gateway = \"https://wound.example.org\"\nwidth = 641\n",
        );
        let text = error_text(CaptureArgs::default().load());
        assert!(
            text.contains(&format!("(from config file {})", system_file.display())),
            "{text}"
        );

        // … and in the user's file, which set the value last.
        write(&user_file, "width = 643\n");
        let text = error_text(CaptureArgs::default().load());
        assert!(text.contains("width = 643"), "{text}");
        assert!(
            text.contains(&format!("(from config file {})", user_file.display())),
            "{text}"
        );

        // A type error and an unknown key name their files too.
        write(&system_file, "fps = \"fast\"\n");
        write(&user_file, "widht = 800\n");
        let text = error_text(CaptureArgs::default().load_unvalidated());
        assert!(
            text.contains("fps = \"fast\"")
                && text.contains(&format!("(from config file {})", system_file.display())),
            "{text}"
        );

        write(&system_file, "");
        let text = error_text(CaptureArgs::default().load_unvalidated());
        assert!(text.contains("widht"), "{text}");
        assert!(text.contains("did you mean `width`?"), "{text}");
        assert!(
            text.contains(&format!("from config file {}", user_file.display())),
            "{text}"
        );

        // The gateway's system file likewise.
        write(&system.join("gateway.toml"), "[media]\nudp_port = 0\n");
        let text = error_text(GatewayArgs::default().load());
        assert!(text.contains("media.udp_port = 0: "), "{text}");
        assert!(
            text.contains(&format!(
                "(from config file {})",
                system.join("gateway.toml").display()
            )),
            "{text}"
        );
        Ok(())
    });
}

#[test]
fn a_default_file_that_cannot_be_read_is_an_error_naming_it() {
    Jail::expect_with(|jail| {
        let (system, user) = config_dirs(jail);
        // A directory where the file should be: there, but not readable as a file.
        std::fs::create_dir(system.join("capture.toml")).unwrap();
        let error = CaptureArgs::default().load_unvalidated().unwrap_err();
        assert!(
            matches!(
                &error,
                ConfigError::FileUnreadable { path, chosen_by: ChosenBy::System, .. }
                    if *path == system.join("capture.toml")
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains(&format!(
                "config file {} (the system-wide config file) cannot be read",
                system.join("capture.toml").display()
            )),
            "{text}"
        );
        assert!(text.contains("must be a TOML file"), "{text}");
        assert!(text.contains("or remove it"), "{text}");
        std::fs::remove_dir(system.join("capture.toml")).unwrap();

        // A file its reader has no permission for. Root reads it anyway, so
        // the check needs an unprivileged test run.
        let file = user.join("capture.toml");
        write(&file, "width = 800\n");
        set_mode(&file, 0o000);
        if std::fs::read(&file).is_ok() {
            eprintln!("running with file-permission override (root): permission case not checked");
        } else {
            let text = error_text(CaptureArgs::default().load_unvalidated());
            assert!(
                text.contains(&format!(
                    "config file {} (the user's config file) cannot be read",
                    file.display()
                )),
                "{text}"
            );
            assert!(text.contains("Permission denied"), "{text}");
            assert!(
                text.contains(&format!("chmod 0644 {}", file.display())),
                "{text}"
            );
        }
        set_mode(&file, 0o644);
        Ok(())
    });
}

#[test]
fn a_named_file_that_cannot_be_read_is_an_error_naming_it() {
    Jail::expect_with(|jail| {
        config_dirs(jail);
        std::fs::create_dir(jail.directory().join("dir.toml")).unwrap();
        let text = error_text(gateway_flags(&["--config", "dir.toml"]).load());
        assert!(
            text.contains("config file dir.toml (named by --config) cannot be read"),
            "{text}"
        );
        assert!(text.contains("or name another file"), "{text}");
        Ok(())
    });
}

/// The discovery itself, given directories rather than the environment.
#[test]
fn config_files_takes_its_directories_as_a_parameter() {
    let temp = tempfile::tempdir().unwrap();
    let dirs = ConfigDirs {
        system: temp.path().join("system"),
        user: Some(temp.path().join("user")),
    };
    std::fs::create_dir_all(&dirs.system).unwrap();
    let defaults = [
        DefaultFile::System("capture.toml"),
        DefaultFile::User("capture.toml"),
    ];
    assert_eq!(config_files(None, &defaults, &dirs).unwrap(), vec![]);
    write(&dirs.system.join("capture.toml"), "");
    let files = config_files(None, &defaults, &dirs).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, dirs.system.join("capture.toml"));

    let comment = files_read_comment(&files);
    assert!(comment.starts_with("# config files read"), "{comment}");
    assert!(
        comment.contains(&format!(
            "{} (the system-wide config file)",
            dirs.system.join("capture.toml").display()
        )),
        "{comment}"
    );
    assert!(
        comment.lines().all(|line| line.starts_with('#')),
        "{comment}"
    );
    assert!(files_read_comment(&[]).contains("none"));
}

#[test]
fn the_log_format_comes_from_every_layer_and_samsyn_log_stays_the_filter() {
    Jail::expect_with(|jail| {
        let (system, _) = config_dirs(jail);
        // SAMSYN_LOG is the filter, not the `[log]` table.
        jail.set_env("SAMSYN_LOG", "debug");
        assert_eq!(
            jailed(GatewayArgs::default().load())?.log.format,
            LogFormat::Text
        );
        write(&system.join("gateway.toml"), "[log]\nformat = \"json\"\n");
        assert_eq!(
            jailed(GatewayArgs::default().load())?.log.format,
            LogFormat::Json
        );
        assert_eq!(
            jailed(gateway_flags(&["--log-format", "text"]).load())?
                .log
                .format,
            LogFormat::Text
        );
        jail.set_env("SAMSYN_LOG__FORMAT", "json");
        assert_eq!(
            jailed(CaptureArgs::default().load_unvalidated())?
                .log
                .format,
            LogFormat::Json
        );
        jail.set_env("SAMSYN_LOG__FORMAT", "xml");
        let text = error_text(CaptureArgs::default().load_unvalidated());
        assert!(text.contains("log.format = \"xml\""), "{text}");
        assert!(text.contains("allowed: text, json"), "{text}");
        assert!(
            text.contains("environment variable SAMSYN_LOG__FORMAT"),
            "{text}"
        );
        Ok(())
    });
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
