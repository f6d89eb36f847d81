//! `samsyn-gateway room …` and `token …`: consultations from the command
//! line, whether or not `serve` is running. They work on the data
//! directory (rooms, signing key, certificate); a running gateway sees the
//! change at its next request (and ends a room's sessions within seconds).

use std::time::Duration;

use anyhow::{Context, bail};
use samsyn_config::GatewayConfig;
use samsyn_signaling::audit::{AuditEvent, AuditLog, Rotation};
use samsyn_signaling::rooms::{RegistryError, invite_for, invite_participant};
use samsyn_signaling::{Grant, Role, RoomId, RoomInvite, rfc3339_utc, unix_now};

use crate::setup;

/// Creates a room and prints its invite.
pub fn create(
    config: &GatewayConfig,
    label: &str,
    ttl_hours: Option<u64>,
    json: bool,
) -> anyhow::Result<()> {
    setup::data_dir(config)?;
    let tokens = setup::token_authority(config)?;
    let tls = setup::tls_identity(config)?;
    let settings = setup::signaling_settings(config, tls.as_ref());
    let ttl = ttl_hours.map_or(settings.token_ttl, |hours| {
        Duration::from_secs(hours * 3600)
    });
    let record = setup::room_registry(config)?
        .create(label, ttl)
        .map_err(|err| match err {
            RegistryError::BadLabel(why) => anyhow::anyhow!(
                "--label {label:?}: {why}; use a short label that names the visit, not the patient"
            ),
            RegistryError::TooManyRooms { open } => anyhow::anyhow!(
                "{open} rooms are open, the configured maximum; end finished ones with \
                 `samsyn-gateway room end <room>` or raise limits.max_rooms"
            ),
            other => anyhow::Error::new(other),
        })?;
    audit_log(config)?.record(AuditEvent::RoomCreated {
        room: record.room.to_string(),
        label: record.label.clone(),
        expires_at: rfc3339_utc(record.expires_at),
        by: "command line".to_owned(),
    });
    let invite = invite_for(&tokens, &settings, &record);
    if json {
        println!("{}", serde_json::to_string(&invite)?);
        return Ok(());
    }
    print!(
        "{}",
        invite_text(
            &invite,
            settings.public_base_url.as_str().trim_end_matches('/')
        )
    );
    Ok(())
}

/// What `room create` prints for people: the links, each for whom it is,
/// and the daemon's command line. `gateway` is the public base URL.
fn invite_text(invite: &RoomInvite, gateway: &str) -> String {
    let mut text = format!("Room {} (open until {})\n", invite.room, invite.expires_at);
    if !invite.label.is_empty() {
        text += &format!("Label:             {}\n", invite.label);
    }
    text += "\n";
    // The nurse's line comes first, in Norwegian first: the link opens
    // samsyn on the laptop with the camera (or, in a browser, a page that
    // says what to do).
    text += &format!("Sykepleier åpner · Nurse opens:  {}\n", invite.nurse_link);
    text += &format!("Specialists open:  {}\n", invite.viewer_link);
    text += &format!("Observers open:    {}\n", invite.observer_link);
    text += &format!("Camera publishes:  {}\n", invite.whip_url);
    let pin = invite
        .tls_pin_sha256
        .as_deref()
        .map(|pin| format!(" --pin-sha256 {pin}"))
        .unwrap_or_default();
    text += &format!(
        "Capture daemon:    samsyn-capture --gateway {gateway} --room {} --token {}{pin}\n",
        invite.room, invite.publisher_token
    );
    text += "\n";
    text += "Send each link only to the people it is for. End the room with:\n";
    text += &format!("  samsyn-gateway room end {}\n", invite.room);
    text
}

/// Ends a room: its tokens stop working, and a running gateway disconnects
/// everyone in it within seconds.
pub fn end(config: &GatewayConfig, room: &str) -> anyhow::Result<()> {
    let id = RoomId::parse(room).map_err(|err| anyhow::anyhow!("room {room:?}: {err}"))?;
    let Some(before) = setup::room_registry(config)?.end(&id)? else {
        bail!(
            "there is no room {room} in {}; `samsyn-gateway room list` shows the open ones",
            config.data_dir.display()
        );
    };
    if before.ended_at.is_some() {
        println!("Room {room} had already been ended.");
        return Ok(());
    }
    audit_log(config)?.record(AuditEvent::RoomEnded {
        room: room.to_owned(),
        by: "command line".to_owned(),
    });
    println!("Room {room} ended: its links no longer work, and everyone in it is disconnected.");
    Ok(())
}

/// Lists the open rooms.
pub fn list(config: &GatewayConfig, json: bool) -> anyhow::Result<()> {
    let rooms = setup::room_registry(config)?.list_open()?;
    if json {
        let rooms: Vec<serde_json::Value> = rooms
            .iter()
            .map(|r| {
                serde_json::json!({
                    "room": r.room,
                    "label": r.label,
                    "created_at": rfc3339_utc(r.created_at),
                    "expires_at": rfc3339_utc(r.expires_at),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "rooms": rooms }));
        return Ok(());
    }
    if rooms.is_empty() {
        println!("No open rooms.");
        return Ok(());
    }
    println!(
        "{:<12} {:<21} {:<21} label",
        "room", "created", "open until"
    );
    for r in rooms {
        println!(
            "{:<12} {:<21} {:<21} {}",
            r.room.as_str(),
            rfc3339_utc(r.created_at),
            rfc3339_utc(r.expires_at),
            r.label
        );
    }
    println!();
    println!("Who is in them: GET /api/rooms with an admin token, on the running gateway.");
    Ok(())
}

/// Issues one more token: an admin token, or a token for one more person in
/// an open room.
pub fn create_token(
    config: &GatewayConfig,
    role: Role,
    room: Option<&str>,
    name: Option<&str>,
    ttl_hours: u64,
    json: bool,
) -> anyhow::Result<()> {
    // The name as it goes into the token: checked and in NFC.
    let name = name
        .map(|name| {
            samsyn_signaling::http::check_display_name(name)
                .map_err(|err| anyhow::anyhow!("--name: {}", err.message()))
        })
        .transpose()?;
    let name = name.as_deref();
    setup::data_dir(config)?;
    let tokens = setup::token_authority(config)?;
    match (role, room) {
        (Role::Admin, Some(_)) => bail!(
            "admin tokens belong to no room; leave out --room (admin tokens manage every room)"
        ),
        (Role::Admin, None) => {
            let expires_at = unix_now() + ttl_hours * 3600;
            let token = tokens.issue(Grant {
                room: None,
                role,
                expires_at,
                name,
            });
            if json {
                let expires_at = rfc3339_utc(expires_at);
                println!(
                    "{}",
                    serde_json::json!({ "role": role, "token": token, "expires_at": expires_at })
                );
            } else {
                println!("{token}");
                eprintln!(
                    "Admin token, valid until {}. It can create, list and end every room: \
                     keep it as you would a password.",
                    rfc3339_utc(expires_at)
                );
            }
            Ok(())
        }
        (_, None) => bail!("a {role} token is for one room; name it with --room <room>"),
        (_, Some(room)) => {
            let id =
                RoomId::parse(room).map_err(|err| anyhow::anyhow!("--room {room:?}: {err}"))?;
            let record = setup::room_registry(config)?
                .get(&id)?
                .filter(|r| r.is_open(unix_now()))
                .with_context(|| {
                    format!("room {room} is not open (unknown, ended or expired); create a new one")
                })?;
            let tls = setup::tls_identity(config)?;
            let settings = setup::signaling_settings(config, tls.as_ref());
            let invite = invite_participant(&tokens, &settings, &record, role, name);
            if json {
                println!("{}", serde_json::to_string(&invite)?);
            } else {
                println!("{}", invite.link);
                eprintln!(
                    "{role} token for room {room}, valid until {}.",
                    invite.expires_at
                );
                if role == Role::Publisher {
                    println!("{}", invite.token);
                }
            }
            Ok(())
        }
    }
}

fn audit_log(config: &GatewayConfig) -> anyhow::Result<AuditLog> {
    if !config.audit.enabled {
        return Ok(AuditLog::disabled());
    }
    let rotation = Rotation {
        max_file_bytes: config.audit.max_file_bytes,
        max_files: config.audit.max_files,
    };
    AuditLog::open(&config.data_dir, rotation).context("cannot open the audit trail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(pin: Option<&str>) -> RoomInvite {
        let base = "https://gw.example:8443/samsyn";
        let room = RoomId::parse("ward7abc23").unwrap();
        RoomInvite {
            label: "Home visit".to_owned(),
            publisher_token: "PUB".to_owned(),
            viewer_token: "VIEW".to_owned(),
            observer_token: "OBS".to_owned(),
            whip_url: format!("{base}/whip/{room}"),
            whep_url: format!("{base}/whep/{room}"),
            viewer_link: format!("{base}/r/{room}#token=VIEW"),
            observer_link: format!("{base}/r/{room}#token=OBS"),
            nurse_link: format!("{base}/n/{room}#token=PUB"),
            expires_at: "2026-12-08T10:00:00Z".to_owned(),
            tls_pin_sha256: pin.map(str::to_owned),
            room,
        }
    }

    #[test]
    fn the_nurses_link_comes_first_and_in_norwegian() {
        let text = invite_text(&invite(None), "https://gw.example:8443/samsyn");
        let lines: Vec<&str> = text.lines().collect();
        let nurse = lines
            .iter()
            .position(|l| l.starts_with("Sykepleier åpner"))
            .expect("a line for the nurse");
        let specialists = lines
            .iter()
            .position(|l| l.starts_with("Specialists open:"))
            .expect("a line for the specialists");
        assert!(nurse < specialists, "{text}");
        assert!(
            lines[nurse].ends_with(" https://gw.example:8443/samsyn/n/ward7abc23#token=PUB"),
            "{text}"
        );
        assert!(lines[nurse].contains("Nurse"), "English alongside: {text}");
        assert!(text.contains(
            "samsyn-capture --gateway https://gw.example:8443/samsyn --room ward7abc23 --token PUB\n"
        ));
    }

    #[test]
    fn the_daemons_line_pins_a_self_signed_certificate() {
        let text = invite_text(&invite(Some("AB:CD")), "https://gw.example:8443");
        assert!(text.contains("--token PUB --pin-sha256 AB:CD\n"), "{text}");
    }
}
