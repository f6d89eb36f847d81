//! Small checks shared by the `validate()` methods; they collect every problem
//! so one run of a binary reports all bad keys at once, not one per attempt.

use std::fmt::Display;
use std::ops::RangeInclusive;

use url::Url;

use crate::error::{ConfigError, Problem};

/// Collects the problems found while validating one configuration.
#[derive(Debug, Default)]
pub(crate) struct Checks {
    problems: Vec<Problem>,
}

impl Checks {
    /// Records a problem when `ok` is false.
    pub(crate) fn require(
        &mut self,
        ok: bool,
        key: &str,
        value: impl Display,
        message: impl Into<String>,
    ) {
        if !ok {
            self.problems
                .push(Problem::new(key, value.to_string(), message));
        }
    }

    /// Requires `value` to lie in `range`; the message names the range.
    pub(crate) fn in_range<T: PartialOrd + Display>(
        &mut self,
        key: &str,
        value: T,
        range: RangeInclusive<T>,
        unit: &str,
    ) {
        let message = format!("must be {}..={}{unit}", range.start(), range.end());
        self.require(range.contains(&value), key, value, message);
    }

    /// Requires a frame dimension: even (4:2:0 chroma subsampling halves it) and in `range`.
    pub(crate) fn even_in_range(&mut self, key: &str, value: u32, range: RangeInclusive<u32>) {
        let ok = range.contains(&value) && value.is_multiple_of(2);
        let message = format!(
            "must be an even number of pixels in {}..={}",
            range.start(),
            range.end()
        );
        self.require(ok, key, value, message);
    }

    /// Requires an `http` or `https` URL with a host.
    pub(crate) fn http_url(&mut self, key: &str, url: &Url) {
        let value = quoted(url.as_str());
        if !matches!(url.scheme(), "http" | "https") {
            self.require(
                false,
                key,
                value,
                format!(
                    "must be an http:// or https:// URL, not {}://",
                    url.scheme()
                ),
            );
        } else if url.host_str().is_none_or(str::is_empty) {
            self.require(
                false,
                key,
                value,
                "must name a host, e.g. https://wound.example.org",
            );
        }
    }

    /// Records a problem that has no single value to show (a required key left unset).
    pub(crate) fn unset(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Problem::unset(key, message));
    }

    /// `Ok` if nothing was found, otherwise every problem in the order checked.
    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self.problems))
        }
    }
}

/// A string as it would be written in TOML, so empty and space-padded values are visible.
pub(crate) fn quoted(text: &str) -> String {
    format!("{text:?}")
}
