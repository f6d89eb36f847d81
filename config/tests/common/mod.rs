//! Helpers shared by the configuration tests.

#![allow(dead_code)] // each test file uses a different subset

use std::marker::PhantomData;

use clap::Parser;
use figment::Jail;
use samsyn_config::{CaptureArgs, CaptureConfig, ConfigError, GatewayArgs, GatewayConfig, Layered};

#[derive(Debug, Parser)]
pub struct GatewayCli {
    #[command(flatten)]
    pub args: GatewayArgs,
}

#[derive(Debug, Parser)]
pub struct CaptureCli {
    #[command(flatten)]
    pub args: CaptureArgs,
}

/// Parses gateway flags as the binary would.
pub fn gateway_flags(flags: &[&str]) -> GatewayArgs {
    let argv = std::iter::once("samsyn-gateway").chain(flags.iter().copied());
    GatewayCli::try_parse_from(argv).expect("flags parse").args
}

/// Parses capture flags as the binary would.
pub fn capture_flags(flags: &[&str]) -> CaptureArgs {
    let argv = std::iter::once("samsyn-capture").chain(flags.iter().copied());
    CaptureCli::try_parse_from(argv).expect("flags parse").args
}

/// Turns any displayable error into figment's, so `?` works inside `Jail`.
pub fn jailed<T, E: std::fmt::Display>(result: Result<T, E>) -> figment::Result<T> {
    result.map_err(|error| figment::Error::from(error.to_string()))
}

/// The error text of a load that must fail.
pub fn error_text<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error.to_string(),
    }
}

/// The flags of one binary, loaded the way that binary loads them.
pub trait Binary: Sized {
    type Config: std::fmt::Debug;
    fn parse(flags: &[&str]) -> Self;
    fn load(&self) -> Result<Self::Config, ConfigError>;
    fn load_unvalidated(&self) -> Result<Self::Config, ConfigError>;
}

impl Binary for GatewayArgs {
    type Config = GatewayConfig;
    fn parse(flags: &[&str]) -> Self {
        gateway_flags(flags)
    }
    fn load(&self) -> Result<GatewayConfig, ConfigError> {
        GatewayArgs::load(self)
    }
    fn load_unvalidated(&self) -> Result<GatewayConfig, ConfigError> {
        GatewayArgs::load_unvalidated(self)
    }
}

impl Binary for CaptureArgs {
    type Config = CaptureConfig;
    fn parse(flags: &[&str]) -> Self {
        capture_flags(flags)
    }
    fn load(&self) -> Result<CaptureConfig, ConfigError> {
        CaptureArgs::load(self)
    }
    fn load_unvalidated(&self) -> Result<CaptureConfig, ConfigError> {
        CaptureArgs::load_unvalidated(self)
    }
}

/// One load in a fresh `Jail` with a cleared environment: a config file
/// (named with `--config`), environment variables and flags.
pub struct Layers<B> {
    file: Option<(&'static str, String)>,
    env: Vec<(&'static str, String)>,
    flags: Vec<String>,
    validate: bool,
    binary: PhantomData<B>,
}

impl<B> Clone for Layers<B> {
    fn clone(&self) -> Self {
        Layers {
            file: self.file.clone(),
            env: self.env.clone(),
            flags: self.flags.clone(),
            validate: self.validate,
            binary: PhantomData,
        }
    }
}

impl Layers<GatewayArgs> {
    /// Loads the gateway's configuration.
    pub fn gateway() -> Self {
        Layers::new()
    }
}

impl Layers<CaptureArgs> {
    /// Loads the capture daemon's configuration.
    pub fn capture() -> Self {
        Layers::new()
    }
}

impl<B: Binary> Layers<B> {
    fn new() -> Self {
        Layers {
            file: None,
            env: Vec::new(),
            flags: Vec::new(),
            validate: true,
            binary: PhantomData,
        }
    }

    /// Writes `contents` to `name` and names it with `--config`.
    pub fn file(mut self, name: &'static str, contents: &str) -> Self {
        self.file = Some((name, contents.to_owned()));
        self.flags(&["--config", name])
    }

    /// Sets an environment variable.
    pub fn env(mut self, name: &'static str, value: &str) -> Self {
        self.env.push((name, value.to_owned()));
        self
    }

    /// Adds command-line flags.
    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.flags
            .extend(flags.iter().map(|flag| (*flag).to_owned()));
        self
    }

    /// Loads without the range checks, as `--print-config` does.
    pub fn unvalidated(mut self) -> Self {
        self.validate = false;
        self
    }

    /// The result of the load.
    pub fn load(&self) -> Result<B::Config, ConfigError> {
        let mut result = None;
        Jail::expect_with(|jail| {
            jail.clear_env();
            if let Some((name, contents)) = &self.file {
                jail.create_file(name, contents)?;
            }
            for (name, value) in &self.env {
                jail.set_env(name, value);
            }
            let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
            let args = B::parse(&flags);
            result = Some(if self.validate {
                args.load()
            } else {
                args.load_unvalidated()
            });
            Ok(())
        });
        result.expect("the jail ran the load")
    }

    /// The loaded configuration; a load that fails panics with its message.
    pub fn config(&self) -> B::Config {
        self.load().unwrap_or_else(|error| panic!("{error}"))
    }

    /// The error text of a load that must fail.
    pub fn error(&self) -> String {
        error_text(self.load())
    }

    /// Checks that the load fails with a message containing every one of `parts`.
    pub fn says(&self, parts: &[&str]) {
        let text = self.error();
        for part in parts {
            assert!(text.contains(part), "the message lacks {part:?}: {text}");
        }
    }
}

/// A change that breaks one rule, and the start of the message expected for it.
pub type Rule<T> = (fn(&mut T), &'static str);

/// The message of a validation that must fail.
pub fn validation_text<T: Layered>(config: &T) -> String {
    error_text(config.validate().map(|()| "valid"))
}

/// Breaks a copy of `valid` with each change, and checks that validation
/// then says what is expected.
pub fn check_rules<T: Layered + Clone>(valid: &T, rules: Vec<Rule<T>>) {
    for (break_it, expected) in rules {
        let mut config = valid.clone();
        break_it(&mut config);
        let text = validation_text(&config);
        assert!(
            text.starts_with(&format!("invalid configuration: {expected}")),
            "expected {expected:?}, got {text:?}"
        );
    }
}
