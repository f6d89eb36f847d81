//! Who is in which room right now: one entry per live WebRTC session.
//!
//! Signaling adds a participant when the media plane accepts an offer, and
//! removes it on `DELETE`, when the media plane reports the session gone
//! (connection lost, replaced, never connected) or when the room ends. The
//! entries feed the room list of the API, the one-camera rule and the
//! joined/left records of the audit trail. Nothing here is written to disk.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use crate::media::{SessionId, SessionKind};
use crate::rooms::RoomId;
use crate::tokens::Role;

/// One person (or camera) in a room.
#[derive(Clone, PartialEq, Eq)]
pub struct Participant {
    pub session: SessionId,
    pub room: RoomId,
    pub kind: SessionKind,
    pub role: Role,
    /// From the token; personal data, never logged.
    pub name: Option<String>,
    /// The token's unique id: names the token, and is a publisher's identity.
    pub token_id: String,
    pub address: Option<IpAddr>,
    /// Seconds since the Unix epoch.
    pub joined_at: u64,
    /// ICE and DTLS are up (reported by the media plane).
    pub connected: bool,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("session", &self.session)
            .field("room", &self.room)
            .field("role", &self.role)
            .field("token_id", &self.token_id)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

/// How many are in a room, by role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoomCounts {
    /// A camera session exists (it may still be connecting).
    pub camera: bool,
    /// That camera's media is flowing.
    pub camera_connected: bool,
    pub specialists: usize,
    pub observers: usize,
}

/// Why a second camera may not publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraTaken;

/// The live sessions of every room.
#[derive(Debug, Default)]
pub struct Participants {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, Participant>,
    /// Rooms where a camera's offer is being answered right now.
    publishing: HashSet<RoomId>,
}

/// A claim on a room's camera place while the media plane answers the
/// offer; released on drop.
pub struct CameraClaim<'a> {
    participants: &'a Participants,
    room: RoomId,
    /// The camera session this one replaces (same identity reconnecting).
    pub replaces: Option<SessionId>,
}

impl Drop for CameraClaim<'_> {
    fn drop(&mut self) {
        self.participants.lock().publishing.remove(&self.room);
    }
}

impl Participants {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims the camera place of `room` for the publisher token
    /// `token_id`. Refused while another identity's camera is in the room
    /// or another offer for it is being answered; the same identity (the
    /// camera reconnecting) may take over its old session.
    pub fn claim_camera(
        &self,
        room: &RoomId,
        token_id: &str,
    ) -> Result<CameraClaim<'_>, CameraTaken> {
        let mut inner = self.lock();
        if inner.publishing.contains(room) {
            return Err(CameraTaken);
        }
        let current = inner
            .sessions
            .values()
            .find(|p| p.room == *room && p.kind == SessionKind::Publish);
        let replaces = match current {
            Some(camera) if camera.token_id != token_id => return Err(CameraTaken),
            Some(camera) => Some(camera.session.clone()),
            None => None,
        };
        inner.publishing.insert(room.clone());
        Ok(CameraClaim {
            participants: self,
            room: room.clone(),
            replaces,
        })
    }

    /// Records a participant whose offer was accepted.
    pub fn join(&self, participant: Participant) {
        self.lock()
            .sessions
            .insert(participant.session.clone(), participant);
    }

    /// Marks a session's media as flowing; false if it is not known.
    pub fn connected(&self, session: &SessionId) -> bool {
        self.lock()
            .sessions
            .get_mut(session)
            .map(|p| p.connected = true)
            .is_some()
    }

    /// Removes a session; `None` if it was already gone.
    pub fn leave(&self, session: &SessionId) -> Option<Participant> {
        self.lock().sessions.remove(session)
    }

    /// Removes and returns everyone in `room`.
    pub fn clear_room(&self, room: &RoomId) -> Vec<Participant> {
        let mut inner = self.lock();
        let leaving: Vec<SessionId> = inner
            .sessions
            .values()
            .filter(|p| p.room == *room)
            .map(|p| p.session.clone())
            .collect();
        leaving
            .iter()
            .filter_map(|s| inner.sessions.remove(s))
            .collect()
    }

    /// The rooms that have anyone in them.
    pub fn rooms(&self) -> HashSet<RoomId> {
        self.lock()
            .sessions
            .values()
            .map(|p| p.room.clone())
            .collect()
    }

    /// Who is in `room`, by role.
    pub fn counts(&self, room: &RoomId) -> RoomCounts {
        let inner = self.lock();
        let mut counts = RoomCounts::default();
        for p in inner.sessions.values().filter(|p| p.room == *room) {
            match p.role {
                Role::Publisher => {
                    counts.camera = true;
                    counts.camera_connected |= p.connected;
                }
                Role::Specialist => counts.specialists += 1,
                Role::Observer => counts.observers += 1,
                Role::Admin => {}
            }
        }
        counts
    }

    /// The participant behind `session`, if present.
    pub fn get(&self, session: &SessionId) -> Option<Participant> {
        self.lock().sessions.get(session).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera(room: &RoomId, session: &str, token_id: &str) -> Participant {
        Participant {
            session: SessionId(session.into()),
            room: room.clone(),
            kind: SessionKind::Publish,
            role: Role::Publisher,
            name: None,
            token_id: token_id.into(),
            address: None,
            joined_at: 0,
            connected: false,
        }
    }

    #[test]
    fn one_camera_per_room_unless_it_is_the_same_one_again() {
        let participants = Participants::default();
        let room = RoomId::parse("ward").unwrap();
        {
            let claim = participants.claim_camera(&room, "tok-a").unwrap();
            assert_eq!(claim.replaces, None);
            // A second offer while the first is answered waits its turn.
            assert!(participants.claim_camera(&room, "tok-a").is_err());
            participants.join(camera(&room, "s1", "tok-a"));
        }
        assert_eq!(
            participants.claim_camera(&room, "tok-b").err(),
            Some(CameraTaken)
        );
        let again = participants.claim_camera(&room, "tok-a").unwrap();
        assert_eq!(again.replaces, Some(SessionId("s1".into())));
        drop(again);

        // Another room is unaffected.
        let other = RoomId::parse("other").unwrap();
        assert!(participants.claim_camera(&other, "tok-b").is_ok());

        participants.leave(&SessionId("s1".into()));
        assert!(participants.claim_camera(&room, "tok-b").is_ok());
    }

    #[test]
    fn counts_by_role() {
        let participants = Participants::default();
        let room = RoomId::parse("ward").unwrap();
        participants.join(camera(&room, "cam", "t"));
        for (i, role) in [Role::Specialist, Role::Specialist, Role::Observer]
            .into_iter()
            .enumerate()
        {
            participants.join(Participant {
                session: SessionId(format!("v{i}")),
                kind: SessionKind::View,
                role,
                ..camera(&room, "x", "t")
            });
        }
        assert!(participants.connected(&SessionId("cam".into())));
        assert_eq!(
            participants.counts(&room),
            RoomCounts {
                camera: true,
                camera_connected: true,
                specialists: 2,
                observers: 1
            }
        );
        assert_eq!(participants.clear_room(&room).len(), 4);
        assert_eq!(participants.counts(&room), RoomCounts::default());
    }
}
