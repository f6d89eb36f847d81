//! Who is in the consultation, kept from the room events: one list that the
//! terminal ([`super::Console`]) and the nurse screen
//! ([`super::screen_view::RoomView`]) each render their own way.

use std::collections::BTreeMap;

use samsyn_signaling::events::{ParticipantView, Sender, ServerMessage};

/// The participants by id, and which of them is this camera.
#[derive(Debug, Default)]
pub struct Roster {
    you: String,
    participants: BTreeMap<String, ParticipantView>,
}

/// What a message changed in the list.
#[derive(Debug, Clone, PartialEq)]
pub enum RosterChange {
    /// The whole list arrived (on joining).
    Welcomed,
    /// Someone came, or their entry changed; `previous` is what it was.
    Updated { previous: Option<ParticipantView> },
    /// Someone who was in the list left.
    Left,
    /// A participant in the list started or stopped speaking.
    Speaking { id: String, speaking: bool },
    /// The message was not about the list, or named no one in it.
    None,
}

impl Roster {
    /// Applies a gateway message to the list.
    pub fn apply(&mut self, message: &ServerMessage) -> RosterChange {
        match message {
            ServerMessage::Welcome {
                you, participants, ..
            } => {
                self.you.clone_from(you);
                self.participants = participants
                    .iter()
                    .map(|p| (p.id.clone(), p.clone()))
                    .collect();
                RosterChange::Welcomed
            }
            ServerMessage::Participant { participant } => RosterChange::Updated {
                previous: self
                    .participants
                    .insert(participant.id.clone(), participant.clone()),
            },
            ServerMessage::Left { id } => match self.participants.remove(id) {
                Some(_) => RosterChange::Left,
                None => RosterChange::None,
            },
            ServerMessage::Speaking { id, speaking } => match self.participants.get_mut(id) {
                Some(participant) => {
                    participant.speaking = *speaking;
                    RosterChange::Speaking {
                        id: id.clone(),
                        speaking: *speaking,
                    }
                }
                None => RosterChange::None,
            },
            _ => RosterChange::None,
        }
    }

    /// Whether `id` is this camera's own entry.
    pub fn is_you(&self, id: &str) -> bool {
        id == self.you
    }

    /// One participant, by id.
    pub fn get(&self, id: &str) -> Option<&ParticipantView> {
        self.participants.get(id)
    }

    /// Everyone, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &ParticipantView> {
        self.participants.values()
    }

    /// A sender's name: the one on their token, or as the list has it.
    pub fn name_of(&self, sender: &Sender) -> Option<String> {
        sender
            .name
            .clone()
            .or_else(|| self.get(&sender.id).and_then(|p| p.name.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samsyn_signaling::Role;
    use samsyn_signaling::events::MediaState;

    fn person(id: &str, name: Option<&str>) -> ParticipantView {
        ParticipantView {
            id: id.into(),
            role: Role::Specialist,
            name: name.map(Into::into),
            media: MediaState::Connected,
            sockets: 1,
            quality: None,
            speaking: false,
        }
    }

    #[test]
    fn follows_joins_leaves_and_speech_and_says_what_changed() {
        let mut roster = Roster::default();
        let welcome = ServerMessage::Welcome {
            you: "cam".into(),
            room: "r".into(),
            participants: vec![person("cam", None)],
        };
        assert_eq!(roster.apply(&welcome), RosterChange::Welcomed);
        assert!(roster.is_you("cam"));

        let berg = person("b", Some("Dr. Berg"));
        let joined = ServerMessage::Participant {
            participant: berg.clone(),
        };
        assert_eq!(
            roster.apply(&joined),
            RosterChange::Updated { previous: None }
        );
        assert_eq!(
            roster.apply(&joined),
            RosterChange::Updated {
                previous: Some(berg)
            }
        );

        let speaks = ServerMessage::Speaking {
            id: "b".into(),
            speaking: true,
        };
        assert_eq!(
            roster.apply(&speaks),
            RosterChange::Speaking {
                id: "b".into(),
                speaking: true
            }
        );
        assert!(roster.get("b").unwrap().speaking);

        let sender = Sender {
            id: "b".into(),
            role: Role::Specialist,
            name: None,
        };
        assert_eq!(roster.name_of(&sender).as_deref(), Some("Dr. Berg"));

        let left = ServerMessage::Left { id: "b".into() };
        assert_eq!(roster.apply(&left), RosterChange::Left);
        assert_eq!(roster.apply(&left), RosterChange::None);
        assert_eq!(roster.apply(&speaks), RosterChange::None);
        assert_eq!(roster.iter().count(), 1);
    }
}
