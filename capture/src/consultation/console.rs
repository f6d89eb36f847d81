//! What the nurse's terminal shows of the consultation: who is in it and
//! the chat, one plain line each on standard output (logs go to stderr).

use std::io::Write;

use samsyn_signaling::Role;
use samsyn_signaling::events::{MediaState, ParticipantView, QualityLevel, Sender, ServerMessage};

use super::roster::{Roster, RosterChange};

/// The participant list as the terminal last showed it.
#[derive(Debug, Default)]
pub struct Console {
    roster: Roster,
}

impl Console {
    /// Applies a gateway message; returns the lines to print for it.
    pub fn apply(&mut self, message: &ServerMessage) -> Vec<String> {
        match self.roster.apply(message) {
            RosterChange::Welcomed | RosterChange::Left => return vec![self.list_line()],
            RosterChange::Updated { previous } => {
                let ServerMessage::Participant { participant } = message else {
                    return Vec::new();
                };
                // A socket count or a figure changing is not news for the
                // nurse; video coming or going, or the connection's level, is.
                let level = |p: &ParticipantView| p.quality.map(|q| q.level);
                let changed = previous.is_none_or(|p| {
                    p.media != participant.media || level(&p) != level(participant)
                });
                return if changed {
                    vec![self.list_line()]
                } else {
                    Vec::new()
                };
            }
            // Only the start is news: a line per pause would bury the chat.
            // The nurse knows when she speaks herself: the list marks her,
            // without a line of its own.
            RosterChange::Speaking { id, speaking } => {
                return match self.roster.get(&id) {
                    Some(p) if speaking && !self.roster.is_you(&id) => {
                        vec![format!(
                            "{} is speaking",
                            display_name(p.name.as_deref(), p.role)
                        )]
                    }
                    _ => Vec::new(),
                };
            }
            RosterChange::None => {}
        }
        match message {
            ServerMessage::Chat { from, text, .. } => {
                vec![format!("chat: {}: {text}", self.who(from))]
            }
            ServerMessage::PhotoRequested { by } => {
                vec![format!("photo requested by {}", self.who(by))]
            }
            ServerMessage::RoomEnded {} => vec!["the consultation has ended".to_owned()],
            ServerMessage::Error { message, .. } => vec![format!("not sent: {message}")],
            // Sent to specialists only (the camera took it), or a list
            // message about no one in the list.
            _ => Vec::new(),
        }
    }

    /// `in the consultation: Dr. Berg (specialist, watching), this camera (publisher, sending)`
    pub fn list_line(&self) -> String {
        let people: Vec<String> = self
            .roster
            .iter()
            .map(|p| {
                let name = if self.roster.is_you(&p.id) {
                    "this camera".to_owned()
                } else {
                    display_name(p.name.as_deref(), p.role)
                };
                let quality = match p.quality.map(|q| q.level) {
                    Some(QualityLevel::Good) => ", good connection",
                    Some(QualityLevel::Fair) => ", fair connection",
                    Some(QualityLevel::Poor) => ", poor connection",
                    None => "",
                };
                let speaking = if p.speaking { ", speaking" } else { "" };
                format!(
                    "{name} ({}, {}{quality}{speaking})",
                    p.role,
                    media_words(p.role, p.media)
                )
            })
            .collect();
        format!("in the consultation: {}", people.join(", "))
    }

    fn who(&self, sender: &Sender) -> String {
        if self.roster.is_you(&sender.id) {
            "you".to_owned()
        } else {
            format!(
                "{} ({})",
                display_name(sender.name.as_deref(), sender.role),
                sender.role
            )
        }
    }
}

fn display_name(name: Option<&str>, role: Role) -> String {
    match name {
        Some(name) => name.to_owned(),
        None => match role {
            Role::Publisher => "the camera",
            Role::Specialist => "a specialist",
            Role::Observer => "an observer",
            Role::Admin => "an administrator",
        }
        .to_owned(),
    }
}

fn media_words(role: Role, media: MediaState) -> &'static str {
    match (role, media) {
        (_, MediaState::None) => "not connected to the video",
        (_, MediaState::Connecting) => "connecting",
        (Role::Publisher, MediaState::Connected) => "sending",
        (_, MediaState::Connected) => "watching",
    }
}

/// Prints lines on standard output, flushed at once (the terminal may be a pipe).
pub fn print(lines: &[String]) {
    write_lines(&mut std::io::stdout().lock(), lines);
}

/// Writes each line with what others typed into it (names, chat, a
/// gateway's messages) made harmless: control characters, line breaks and
/// direction overrides are written out as `\u{…}`, so a chat message
/// cannot move the cursor, clear the nurse's terminal or forge a line.
fn write_lines(out: &mut impl Write, lines: &[String]) {
    for line in lines {
        let _ = writeln!(out, "{}", samsyn_signaling::text::for_terminal(line));
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, role: Role, name: Option<&str>, media: MediaState) -> ParticipantView {
        ParticipantView {
            id: id.into(),
            role,
            name: name.map(Into::into),
            sockets: 1,
            media,
            quality: None,
            speaking: false,
        }
    }

    #[test]
    fn chat_cannot_take_over_the_terminal() {
        let mut console = Console::default();
        let chat = ServerMessage::Chat {
            from: Sender {
                id: "berg".into(),
                role: Role::Specialist,
                name: Some("Dr.\u{1b}[2J Berg".into()),
            },
            text: "ok\r\nchat: the camera: fake\u{1b}]0;title\u{7}\0\u{202E}".into(),
            sent_at_ms: 0,
        };
        let mut out = Vec::new();
        write_lines(&mut out, &console.apply(&chat));
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(
            printed,
            "chat: Dr.\\u{1b}[2J Berg (specialist): \
             ok\\u{d}\\u{a}chat: the camera: fake\\u{1b}]0;title\\u{7}\\u{0}\\u{202e}\n"
        );
        assert!(
            !printed
                .trim_end()
                .contains(['\u{1b}', '\r', '\n', '\0', '\u{202E}'])
        );
    }

    #[test]
    fn a_speaker_is_named_when_they_start() {
        let mut console = Console::default();
        console.apply(&ServerMessage::Welcome {
            you: "cam".into(),
            room: "r".into(),
            participants: vec![view(
                "berg",
                Role::Specialist,
                Some("Dr. Berg"),
                MediaState::Connected,
            )],
        });
        let start = ServerMessage::Speaking {
            id: "berg".into(),
            speaking: true,
        };
        assert_eq!(console.apply(&start), ["Dr. Berg is speaking"]);
        // The list marks them while they speak.
        assert_eq!(
            console.list_line(),
            "in the consultation: Dr. Berg (specialist, watching, speaking)"
        );
        let stop = ServerMessage::Speaking {
            id: "berg".into(),
            speaking: false,
        };
        assert!(console.apply(&stop).is_empty());
        assert_eq!(
            console.list_line(),
            "in the consultation: Dr. Berg (specialist, watching)"
        );
        let unknown = ServerMessage::Speaking {
            id: "nobody".into(),
            speaking: true,
        };
        assert!(console.apply(&unknown).is_empty());
    }

    #[test]
    fn the_nurse_speaking_is_marked_in_the_list_without_a_line() {
        let mut console = Console::default();
        console.apply(&ServerMessage::Welcome {
            you: "cam".into(),
            room: "r".into(),
            participants: vec![view("cam", Role::Publisher, None, MediaState::Connected)],
        });
        let start = ServerMessage::Speaking {
            id: "cam".into(),
            speaking: true,
        };
        assert!(console.apply(&start).is_empty());
        assert_eq!(
            console.list_line(),
            "in the consultation: this camera (publisher, sending, speaking)"
        );
    }

    #[test]
    fn the_list_names_everyone_and_what_they_do() {
        let mut console = Console::default();
        let lines = console.apply(&ServerMessage::Welcome {
            you: "cam".into(),
            room: "r".into(),
            participants: vec![
                view("cam", Role::Publisher, None, MediaState::Connected),
                view(
                    "berg",
                    Role::Specialist,
                    Some("Dr. Berg"),
                    MediaState::Connected,
                ),
            ],
        });
        assert_eq!(
            lines,
            [
                "in the consultation: Dr. Berg (specialist, watching), this camera (publisher, sending)"
            ]
        );
        let lines = console.apply(&ServerMessage::Participant {
            participant: view("obs", Role::Observer, None, MediaState::None),
        });
        assert!(
            lines[0].ends_with("an observer (observer, not connected to the video)"),
            "{lines:?}"
        );
        assert_eq!(
            console.apply(&ServerMessage::Chat {
                from: Sender {
                    id: "berg".into(),
                    role: Role::Specialist,
                    name: Some("Dr. Berg".into())
                },
                text: "turn the foot".into(),
                sent_at_ms: 0
            }),
            ["chat: Dr. Berg (specialist): turn the foot"]
        );
        assert_eq!(
            console.apply(&ServerMessage::Left { id: "obs".into() }),
            [
                "in the consultation: Dr. Berg (specialist, watching), this camera (publisher, sending)"
            ]
        );
    }
}
