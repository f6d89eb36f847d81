//! `samsyn-gateway audit`: the audit trail, readable, for the people who
//! must answer "who watched this consultation".

use std::fmt::Write as _;

use anyhow::Context;
use samsyn_config::GatewayConfig;
use samsyn_signaling::audit::{AuditEvent, AuditRecord, read_trail};

/// Prints the trail (of one room, if given) as a table, or as JSON lines.
pub fn show(config: &GatewayConfig, room: Option<&str>, json: bool) -> anyhow::Result<()> {
    let records = read_trail(&config.data_dir, |path, line| {
        eprintln!(
            "samsyn-gateway: skipping line {line} of {}: not an audit record",
            path.display()
        );
    })
    .with_context(|| {
        format!(
            "cannot read the audit trail in {}",
            config.data_dir.display()
        )
    })?;
    let records: Vec<AuditRecord> = records
        .into_iter()
        .filter(|r| room.is_none_or(|room| r.event.room() == Some(room)))
        .collect();
    if json {
        for record in &records {
            println!("{}", serde_json::to_string(record)?);
        }
        return Ok(());
    }
    if records.is_empty() {
        match room {
            Some(room) => println!("Nothing recorded for room {room}."),
            None => println!("The audit trail is empty."),
        }
        return Ok(());
    }
    print!("{}", table(&records));
    if room.is_some() {
        print!("\n{}", who_was_there(&records));
    }
    Ok(())
}

/// One line per event.
fn table(records: &[AuditRecord]) -> String {
    let mut out = format!(
        "{:<20}  {:<13} {:<11} {:<10} {:<24} {:<15} details\n",
        "time (UTC)", "event", "room", "role", "name", "address"
    );
    for record in records {
        let (event, room, role, name, address, details) = columns(&record.event);
        let _ = writeln!(
            out,
            "{:<20}  {event:<13} {room:<11} {role:<10} {name:<24} {address:<15} {details}",
            record.time.trim_end_matches('Z').replace('T', " ")
        );
    }
    out
}

/// How a media path reads in the audit listing.
fn path_words(path: &str) -> &str {
    match path {
        "udp" => "direct (UDP)",
        "relay_tcp" => "relayed (built-in relay, TCP)",
        "relay_tls" => "relayed (built-in relay, TLS)",
        "external_relay" => "relayed (external relay)",
        other => other,
    }
}

type Columns<'a> = (&'static str, &'a str, &'a str, String, String, String);

fn columns(event: &AuditEvent) -> Columns<'_> {
    match event {
        AuditEvent::RoomCreated {
            room,
            label,
            expires_at,
            by,
        } => (
            "room created",
            room,
            "",
            String::new(),
            String::new(),
            format!("label {label:?}, open until {expires_at}, by {by}"),
        ),
        AuditEvent::RoomEnded { room, by } => (
            "room ended",
            room,
            "",
            String::new(),
            String::new(),
            format!("by {by}"),
        ),
        AuditEvent::Joined {
            room,
            role,
            name,
            token_id,
            address,
            talkback,
            ..
        } => (
            "joined",
            room,
            role,
            display(name),
            address.map(|a| a.to_string()).unwrap_or_default(),
            if *talkback {
                format!("talk-back, token {token_id}")
            } else {
                format!("token {token_id}")
            },
        ),
        AuditEvent::Connected {
            room,
            role,
            token_id,
            path,
            ..
        } => (
            "connected",
            room,
            role,
            String::new(),
            String::new(),
            format!("media {}, token {token_id}", path_words(path)),
        ),
        AuditEvent::Left {
            room,
            role,
            name,
            reason,
            seconds,
            ..
        } => (
            "left",
            room,
            role,
            display(name),
            String::new(),
            format!("{reason}, after {}", duration(*seconds)),
        ),
        AuditEvent::EventsJoined {
            room,
            role,
            name,
            token_id,
            address,
        } => (
            "events joined",
            room,
            role,
            display(name),
            address.map(|a| a.to_string()).unwrap_or_default(),
            format!("room events (chat), token {token_id}"),
        ),
        AuditEvent::EventsLeft {
            room,
            role,
            token_id,
            seconds,
        } => (
            "events left",
            room,
            role,
            String::new(),
            String::new(),
            format!("token {token_id}, after {}", duration(*seconds)),
        ),
        AuditEvent::Refused {
            room,
            code,
            address,
        } => (
            "refused",
            room.as_deref().unwrap_or(""),
            "",
            String::new(),
            address.map(|a| a.to_string()).unwrap_or_default(),
            code.clone(),
        ),
        AuditEvent::Summarized {
            room,
            role,
            token_id,
            address,
            counts,
            from,
            until,
        } => (
            "summarized",
            room.as_deref().unwrap_or(""),
            role.as_deref().unwrap_or(""),
            String::new(),
            address.map(|a| a.to_string()).unwrap_or_default(),
            summary_details(token_id.as_deref(), counts, from, until),
        ),
    }
}

/// `token t1: 40 events_joined, 40 events_left from … to …` (beyond the
/// lines a token may write per minute).
fn summary_details(
    token_id: Option<&str>,
    counts: &std::collections::BTreeMap<String, u32>,
    from: &str,
    until: &str,
) -> String {
    let counted: Vec<String> = counts
        .iter()
        .map(|(event, count)| format!("{count} {event}"))
        .collect();
    let who = token_id.map(|t| format!("token {t}: ")).unwrap_or_default();
    format!("{who}{} from {from} to {until}", counted.join(", "))
}

/// Everyone who joined, with their role, name, when and for how long. The
/// camera's talk-back sessions are the camera itself, not listed again.
fn who_was_there(records: &[AuditRecord]) -> String {
    let mut out = String::from("Who was there:\n");
    for record in records {
        let AuditEvent::Joined {
            session,
            role,
            name,
            address,
            talkback: false,
            ..
        } = &record.event
        else {
            continue;
        };
        let left = records.iter().find_map(|r| match &r.event {
            AuditEvent::Left {
                session: s,
                seconds,
                reason,
                ..
            } if s == session => Some((r.time.as_str(), *seconds, reason.as_str())),
            _ => None,
        });
        let stay = match left {
            Some((at, seconds, reason)) => {
                format!("until {at} ({}, {reason})", duration(seconds))
            }
            None => "no leaving recorded (still in, or the gateway stopped)".to_owned(),
        };
        let from = address.map(|a| format!(" from {a}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {role:<10} {:<24} joined {}{from}, {stay}",
            display(name),
            record.time
        );
    }
    out
}

fn display(name: &Option<String>) -> String {
    name.clone().unwrap_or_else(|| "(no name)".to_owned())
}

fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_was_there_pairs_joins_with_leaves() {
        let record = |time: &str, event| AuditRecord {
            time: time.to_owned(),
            event,
        };
        let records = vec![
            record(
                "2026-11-29T10:00:00Z",
                AuditEvent::Joined {
                    room: "ward".into(),
                    session: "s1".into(),
                    role: "specialist".into(),
                    name: Some("Dr. Berg".into()),
                    token_id: "t1".into(),
                    address: Some("10.0.0.7".parse().unwrap()),
                    talkback: false,
                },
            ),
            record(
                "2026-11-29T10:25:30Z",
                AuditEvent::Left {
                    room: "ward".into(),
                    session: "s1".into(),
                    role: "specialist".into(),
                    name: Some("Dr. Berg".into()),
                    token_id: "t1".into(),
                    reason: "left".into(),
                    seconds: 1530,
                },
            ),
        ];
        let mut records = records;
        records.push(record(
            "2026-11-29T10:00:02Z",
            AuditEvent::Joined {
                room: "ward".into(),
                session: "s2".into(),
                role: "publisher".into(),
                name: Some("camera".into()),
                token_id: "t2".into(),
                address: None,
                talkback: true,
            },
        ));
        let text = who_was_there(&records);
        assert!(
            !text.contains("publisher"),
            "the camera's talk-back session is not another participant: {text}"
        );
        assert!(
            text.contains("specialist Dr. Berg")
                && text.contains("from 10.0.0.7")
                && text.contains("25 min 30 s, left"),
            "{text}"
        );
        let table = table(&records);
        assert!(table.contains("2026-11-29 10:00:00"), "{table}");
        assert!(table.contains("talk-back, token t2"), "{table}");
    }
}
