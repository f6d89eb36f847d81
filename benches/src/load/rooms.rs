//! Rooms for a load test: from the gateway's rooms API with an admin token,
//! or from `samsyn-gateway room create` on the gateway's own machine.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use reqwest::{StatusCode, Url};
use serde::Deserialize;

use crate::signal;

/// The parts of a room's invite (`room create --json`, `POST /api/rooms`)
/// a load test uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Invite {
    pub room: String,
    pub publisher_token: String,
    pub viewer_token: String,
}

/// Where rooms come from.
#[derive(Debug, Clone)]
pub enum RoomSource {
    /// `POST /api/rooms` with this admin token; rooms are ended afterwards.
    Api { admin_token: String },
    /// `samsyn-gateway room create --json --data-dir <dir>` (a local gateway).
    Cli {
        gateway_bin: PathBuf,
        data_dir: PathBuf,
    },
}

impl RoomSource {
    /// Creates one room.
    pub async fn create(&self, http: &reqwest::Client, base: &Url) -> anyhow::Result<Invite> {
        match self {
            Self::Api { admin_token } => {
                let url = base.join("api/rooms")?;
                let response = signal::send_patiently(|| {
                    http.post(url.clone())
                        .bearer_auth(admin_token)
                        .json(&serde_json::json!({ "label": "samsyn-bench load", "ttl_hours": 1 }))
                })
                .await
                .with_context(|| format!("no answer from {url}"))?;
                let status = response.status();
                let body = response.text().await?;
                if status != StatusCode::CREATED {
                    return Err(anyhow::Error::new(signal::refusal(&url, status, &body))
                        .context("the rooms API refused; check --admin-token"));
                }
                serde_json::from_str(&body)
                    .with_context(|| format!("{url} answered 201 without a room invite"))
            }
            Self::Cli {
                gateway_bin,
                data_dir,
            } => room_create(gateway_bin, data_dir, base),
        }
    }

    /// Ends a room made through the API; CLI rooms simply expire.
    pub async fn end(&self, http: &reqwest::Client, base: &Url, room: &str) {
        if let Self::Api { admin_token } = self
            && let Ok(url) = base.join(&format!("api/rooms/{room}"))
        {
            let _ =
                signal::send_patiently(|| http.delete(url.clone()).bearer_auth(admin_token)).await;
        }
    }
}

fn room_create(binary: &Path, data_dir: &Path, base: &Url) -> anyhow::Result<Invite> {
    let output = Command::new(binary)
        .args(["room", "create", "--json"])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--public-url", base.as_str().trim_end_matches('/')])
        .output()
        .with_context(|| {
            format!(
                "cannot run {}; give its path with --gateway-bin",
                binary.display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "`{} room create` failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).context("room create --json printed no room invite")
}

/// `name` beside this executable if it is there, else as given (PATH).
pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(name)))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}
