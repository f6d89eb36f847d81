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

/// WebRTC sessions one token may have on one endpoint (WHIP or WHEP) that
/// have not connected yet, offers being answered included. A participant
/// needs one, and one more while it reconnects; the media plane holds each
/// unconnected session for a while, so without this one link could fill
/// the room's places with offers that never connect.
pub const MAX_PENDING_SESSIONS_PER_TOKEN: usize = 2;

/// Why an offer may not be answered: the token has
/// [`MAX_PENDING_SESSIONS_PER_TOKEN`] sessions that are still connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPending;

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
    /// Offers being answered right now, by token id and endpoint.
    offering: HashMap<(String, SessionKind), usize>,
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

/// A place among a token's [`MAX_PENDING_SESSIONS_PER_TOKEN`] while the
/// media plane answers its offer; released on drop (by then the session is
/// recorded, and counts as pending until it connects).
pub struct PendingClaim<'a> {
    participants: &'a Participants,
    key: (String, SessionKind),
}

impl Drop for PendingClaim<'_> {
    fn drop(&mut self) {
        let mut inner = self.participants.lock();
        if let Some(count) = inner.offering.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.offering.remove(&self.key);
            }
        }
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

    /// Claims a place for one more not yet connected session of `token_id`
    /// on the `kind` endpoint; refused while it has
    /// [`MAX_PENDING_SESSIONS_PER_TOKEN`] sessions connecting or offers
    /// being answered there.
    pub fn claim_pending(
        &self,
        token_id: &str,
        kind: SessionKind,
    ) -> Result<PendingClaim<'_>, TooManyPending> {
        let mut inner = self.lock();
        let key = (token_id.to_owned(), kind);
        let connecting = inner
            .sessions
            .values()
            .filter(|p| p.token_id == token_id && p.kind == kind && !p.connected)
            .count();
        let offering = inner.offering.get(&key).copied().unwrap_or(0);
        if connecting + offering >= MAX_PENDING_SESSIONS_PER_TOKEN {
            return Err(TooManyPending);
        }
        *inner.offering.entry(key.clone()).or_default() += 1;
        Ok(PendingClaim {
            participants: self,
            key,
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
    fn a_token_has_few_sessions_connecting_at_once() {
        let participants = Participants::default();
        let room = RoomId::parse("ward").unwrap();
        let viewer = |session: &str, token: &str| Participant {
            session: SessionId(session.into()),
            kind: SessionKind::View,
            role: Role::Observer,
            ..camera(&room, "x", token)
        };
        let first = participants
            .claim_pending("obs", SessionKind::View)
            .unwrap();
        let second = participants
            .claim_pending("obs", SessionKind::View)
            .unwrap();
        assert!(
            participants
                .claim_pending("obs", SessionKind::View)
                .is_err()
        );
        participants.join(viewer("v1", "obs"));
        participants.join(viewer("v2", "obs"));
        drop((first, second));
        assert_eq!(
            participants.claim_pending("obs", SessionKind::View).err(),
            Some(TooManyPending),
            "recorded sessions that have not connected count"
        );
        // Other tokens and the other endpoint are unaffected.
        assert!(
            participants
                .claim_pending("spec", SessionKind::View)
                .is_ok()
        );
        assert!(
            participants
                .claim_pending("obs", SessionKind::Publish)
                .is_ok()
        );
        // A session that connects frees its place.
        assert!(participants.connected(&SessionId("v1".into())));
        assert!(participants.claim_pending("obs", SessionKind::View).is_ok());
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
