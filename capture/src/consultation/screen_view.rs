//! The room's events as the nurse screen shows them: who is there and
//! speaking, the chat, photos. (The picture's quality in words comes from
//! the daemon's status, [`crate::status::screen`].)

use samsyn_signaling::Role;
use samsyn_signaling::events::{MediaState, ServerMessage};

use super::roster::Roster;

use crate::screen::view::{CHAT_KEPT, ChatLine, PersonView, PhotoNotice, PhotoOutcome, ScreenView};

/// The room as the screen knows it; applies the gateway's messages to the
/// view.
#[derive(Debug, Default)]
pub struct RoomView {
    roster: Roster,
    chat_seq: u64,
    photo_seq: u64,
}

impl RoomView {
    /// Applies one message from the gateway to `view`.
    pub fn apply(&mut self, message: &ServerMessage, view: &mut ScreenView) {
        self.roster.apply(message);
        match message {
            ServerMessage::Chat {
                from,
                text,
                sent_at_ms,
            } => {
                self.chat_seq += 1;
                view.chat.push(ChatLine {
                    seq: self.chat_seq,
                    from: self.roster.name_of(from),
                    role: role_name(from.role),
                    text: text.clone(),
                    sent_at_ms: *sent_at_ms,
                });
                let extra = view.chat.len().saturating_sub(CHAT_KEPT);
                view.chat.drain(..extra);
            }
            ServerMessage::PhotoRequested { by } => {
                self.photo_seq += 1;
                view.photo = Some(PhotoNotice {
                    seq: self.photo_seq,
                    by: self.roster.name_of(by),
                    by_role: role_name(by.role),
                    outcome: PhotoOutcome::Taking,
                });
            }
            // The list's messages are the roster's; the rest the screen
            // does not show.
            _ => {}
        }
        view.participants = self.people();
    }

    /// Everyone, the nurse first, then by role and name.
    fn people(&self) -> Vec<PersonView> {
        let mut people: Vec<PersonView> = self
            .roster
            .iter()
            .map(|p| PersonView {
                id: p.id.clone(),
                // Her own token's name labels the camera ("camera"), not a
                // person: the screen calls her entry by its role.
                name: (!self.roster.is_you(&p.id))
                    .then(|| p.name.clone())
                    .flatten(),
                role: role_name(p.role),
                speaking: p.speaking,
                you: self.roster.is_you(&p.id),
                connected: p.media == MediaState::Connected,
            })
            .collect();
        people.sort_by(|a, b| {
            (!a.you, &a.role, &a.name, &a.id).cmp(&(!b.you, &b.role, &b.name, &b.id))
        });
        people
    }
}

/// The role as the screen's catalogue names it.
fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Marks the newest photo's outcome.
pub fn photo_done(view: &mut ScreenView, sent: bool) {
    if let Some(photo) = &mut view.photo {
        photo.outcome = if sent {
            PhotoOutcome::Sent
        } else {
            PhotoOutcome::Failed
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samsyn_signaling::events::{ParticipantView, Sender};

    fn person(id: &str, role: Role, name: Option<&str>) -> ParticipantView {
        ParticipantView {
            id: id.into(),
            role,
            name: name.map(str::to_owned),
            sockets: 1,
            media: MediaState::Connected,
            quality: None,
            speaking: false,
        }
    }

    fn welcome() -> ServerMessage {
        ServerMessage::Welcome {
            you: "cam".into(),
            room: "r1".into(),
            participants: vec![
                person("s1", Role::Specialist, Some("Dr. Berg")),
                person("cam", Role::Publisher, Some("camera")),
            ],
        }
    }

    fn berg() -> Sender {
        Sender {
            id: "s1".into(),
            role: Role::Specialist,
            name: Some("Dr. Berg".into()),
        }
    }

    #[test]
    fn lists_everyone_the_nurse_first_and_marks_who_speaks() {
        let (mut room, mut view) = (RoomView::default(), ScreenView::default());
        room.apply(&welcome(), &mut view);
        assert_eq!(view.participants.len(), 2);
        assert!(view.participants[0].you);
        assert_eq!(
            view.participants[0].name, None,
            "she is the camera, not its label"
        );
        assert_eq!(view.participants[1].name.as_deref(), Some("Dr. Berg"));
        assert_eq!(view.participants[1].role, "specialist");

        room.apply(
            &ServerMessage::Speaking {
                id: "s1".into(),
                speaking: true,
            },
            &mut view,
        );
        assert!(view.participants[1].speaking);
        room.apply(&ServerMessage::Left { id: "s1".into() }, &mut view);
        assert_eq!(view.participants.len(), 1);
    }

    #[test]
    fn keeps_the_last_chat_messages_numbered() {
        let (mut room, mut view) = (RoomView::default(), ScreenView::default());
        room.apply(&welcome(), &mut view);
        for i in 0..CHAT_KEPT + 2 {
            room.apply(
                &ServerMessage::Chat {
                    from: berg(),
                    text: format!("{i},2 cm"),
                    sent_at_ms: 1,
                },
                &mut view,
            );
        }
        assert_eq!(view.chat.len(), CHAT_KEPT);
        assert_eq!(view.chat[0].text, "2,2 cm");
        assert_eq!(view.chat.last().unwrap().seq, (CHAT_KEPT + 2) as u64);
        assert_eq!(view.chat[0].from.as_deref(), Some("Dr. Berg"));
    }

    #[test]
    fn a_photo_request_flashes_once_and_then_says_how_it_went() {
        let (mut room, mut view) = (RoomView::default(), ScreenView::default());
        room.apply(&ServerMessage::PhotoRequested { by: berg() }, &mut view);
        let photo = view.photo.clone().unwrap();
        assert_eq!((photo.seq, photo.outcome), (1, PhotoOutcome::Taking));
        photo_done(&mut view, true);
        assert_eq!(view.photo.as_ref().unwrap().outcome, PhotoOutcome::Sent);
        room.apply(&ServerMessage::PhotoRequested { by: berg() }, &mut view);
        assert_eq!(view.photo.as_ref().unwrap().seq, 2);
    }
}
