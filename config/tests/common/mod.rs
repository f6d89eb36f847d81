//! Helpers shared by the configuration tests.

#![allow(dead_code)] // each test file uses a different subset

use clap::Parser;
use samsyn_config::{CaptureArgs, GatewayArgs};

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
