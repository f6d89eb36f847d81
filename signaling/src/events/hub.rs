//! The per-room hub: who is in each room, and one broadcast channel per room
//! that carries every room-wide event, numbered, to every socket.
//!
//! A participant is a token: its events sockets and its WebRTC session
//! (fed in from signaling's session bookkeeping) make one entry. Every
//! change is sent under the room's lock, and a new socket takes its
//! snapshot and subscribes under the same lock, so it sees each event
//! exactly once, after the snapshot, in the room's order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, broadcast};

use super::messages::{
    Envelope, MediaState, ParticipantId, ParticipantView, Quality, QualityReport, Sender,
    ServerMessage,
};
use crate::media::SessionId;
use crate::participants::Participant;
use crate::rooms::RoomId;
use crate::tokens::{Claims, Role};

/// Events a room keeps for a socket that is slow to read them; one that
/// falls further behind gets a fresh snapshot instead.
pub const ROOM_EVENT_BACKLOG: usize = 256;
/// Events sockets one room takes at once (pages, the daemon, a spare).
pub const MAX_SOCKETS_PER_ROOM: u32 = 64;
/// Events sockets one token keeps open at once: a page and a second tab,
/// or the daemon and the socket it is replacing. One more replaces the
/// token's oldest (which may be a socket whose network is gone without a
/// close), so a participant is never locked out by its own sockets and one
/// link never holds more than this.
pub const MAX_SOCKETS_PER_TOKEN: usize = 2;
/// Sockets of a room that observers cannot take: kept for the camera's
/// daemon and the specialists, however many observer links there are.
pub const SOCKETS_KEPT_FOR_CAMERA_AND_SPECIALISTS: u32 = 16;

/// A room-wide event, serialised once for every socket.
#[derive(Debug, Clone)]
pub struct Published {
    pub seq: u64,
    pub json: Utf8Bytes,
    /// Only sockets of this role get it; `None`: everyone.
    pub only_for: Option<Role>,
}

impl Published {
    /// Whether a socket of `role` gets this event.
    pub fn is_for(&self, role: Role) -> bool {
        self.only_for.is_none_or(|only| only == role)
    }
}

/// What a socket gets when it joins (or catches up): the snapshot and the
/// events after it.
#[derive(Debug)]
pub struct Subscription {
    pub welcome: Utf8Bytes,
    pub events: broadcast::Receiver<Published>,
}

/// One socket's place in its room, from `connect` to `disconnect`.
#[derive(Debug)]
pub struct Seat {
    id: u64,
    /// Notified when a newer socket of the same token took this place
    /// ([`MAX_SOCKETS_PER_TOKEN`]); the socket should then close.
    pub replaced: Arc<Notify>,
}

/// Why a socket may not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomFull;

/// Why a quality report is not taken: its sender has no WebRTC session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMediaSession;

/// Every room's participants and event channel.
#[derive(Debug, Default)]
pub struct RoomEvents {
    rooms: Mutex<HashMap<RoomId, RoomHub>>,
}

#[derive(Debug)]
struct RoomHub {
    seq: u64,
    channel: broadcast::Sender<Published>,
    members: BTreeMap<ParticipantId, Member>,
    sockets: u32,
    /// Numbers the seats handed out.
    next_seat: u64,
}

#[derive(Debug)]
struct Member {
    role: Role,
    name: Option<String>,
    /// Its open sockets, oldest first.
    seats: VecDeque<(u64, Arc<Notify>)>,
    /// Its WebRTC sessions and whether each one's media flows.
    media: BTreeMap<SessionId, bool>,
    quality: Option<Quality>,
    speaking: bool,
}

impl RoomHub {
    fn new() -> Self {
        Self {
            seq: 0,
            channel: broadcast::channel(ROOM_EVENT_BACKLOG).0,
            members: BTreeMap::new(),
            sockets: 0,
            next_seat: 0,
        }
    }

    /// Numbers and sends a room-wide event. Nobody listening is fine.
    fn publish(&mut self, body: ServerMessage) {
        self.publish_to(None, body);
    }

    fn publish_to(&mut self, only_for: Option<Role>, body: ServerMessage) {
        self.seq += 1;
        let envelope = Envelope {
            v: super::PROTOCOL_VERSION,
            seq: Some(self.seq),
            body,
        };
        let json = Utf8Bytes::from(envelope.to_json());
        let _ = self.channel.send(Published {
            seq: self.seq,
            json,
            only_for,
        });
    }

    fn view(id: &str, member: &Member) -> ParticipantView {
        let media = if member.media.values().any(|connected| *connected) {
            MediaState::Connected
        } else if member.media.is_empty() {
            MediaState::None
        } else {
            MediaState::Connecting
        };
        ParticipantView {
            id: id.to_owned(),
            role: member.role,
            name: member.name.clone(),
            sockets: u32::try_from(member.seats.len()).unwrap_or(u32::MAX),
            media,
            quality: member.quality,
            speaking: member.speaking,
        }
    }

    /// Tells the room the member changed, or left if nothing of it remains.
    fn announce(&mut self, id: &str) {
        let Some(member) = self.members.get(id) else {
            return;
        };
        if member.seats.is_empty() && member.media.is_empty() {
            self.members.remove(id);
            self.publish(ServerMessage::Left { id: id.to_owned() });
        } else {
            let participant = Self::view(id, member);
            self.publish(ServerMessage::Participant { participant });
        }
    }

    fn member(&mut self, id: &str, role: Role, name: Option<&String>) -> &mut Member {
        self.members.entry(id.to_owned()).or_insert_with(|| Member {
            role,
            name: name.cloned(),
            seats: VecDeque::new(),
            media: BTreeMap::new(),
            quality: None,
            speaking: false,
        })
    }

    fn subscribe(&self, room: &RoomId, you: &str) -> Subscription {
        let participants = self
            .members
            .iter()
            .map(|(id, member)| Self::view(id, member))
            .collect();
        let welcome = Envelope {
            v: super::PROTOCOL_VERSION,
            seq: Some(self.seq),
            body: ServerMessage::Welcome {
                you: you.to_owned(),
                room: room.to_string(),
                participants,
            },
        };
        Subscription {
            welcome: Utf8Bytes::from(welcome.to_json()),
            events: self.channel.subscribe(),
        }
    }

    /// Sockets held by observers.
    fn observer_sockets(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.role == Role::Observer)
            .map(|m| m.seats.len())
            .sum()
    }

    fn is_idle(&self) -> bool {
        self.members.is_empty() && self.channel.receiver_count() == 0
    }
}

impl RoomEvents {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, RoomHub>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A socket with `claims` joins `room`: the room hears of it, the socket
    /// gets the snapshot (itself included), the events after it and its
    /// seat. A token at [`MAX_SOCKETS_PER_TOKEN`] gives up its oldest seat
    /// for the new one; a full room ([`MAX_SOCKETS_PER_ROOM`], less
    /// [`SOCKETS_KEPT_FOR_CAMERA_AND_SPECIALISTS`] for observers) refuses.
    pub fn connect(
        &self,
        room: &RoomId,
        claims: &Claims,
    ) -> Result<(Subscription, Seat), RoomFull> {
        let mut rooms = self.lock();
        let hub = rooms.entry(room.clone()).or_insert_with(RoomHub::new);
        let held = hub.members.get(&claims.jti).map_or(0, |m| m.seats.len());
        let replaces_own = held >= MAX_SOCKETS_PER_TOKEN;
        if !replaces_own {
            let room_limit = match claims.role {
                Role::Observer => MAX_SOCKETS_PER_ROOM - SOCKETS_KEPT_FOR_CAMERA_AND_SPECIALISTS,
                _ => MAX_SOCKETS_PER_ROOM,
            };
            let taken = match claims.role {
                Role::Observer => hub.observer_sockets(),
                _ => hub.sockets as usize,
            };
            if hub.sockets >= MAX_SOCKETS_PER_ROOM || taken >= room_limit as usize {
                return Err(RoomFull);
            }
            hub.sockets += 1;
        }
        hub.next_seat += 1;
        let seat = Seat {
            id: hub.next_seat,
            replaced: Arc::new(Notify::new()),
        };
        let member = hub.member(&claims.jti, claims.role, claims.name.as_ref());
        if replaces_own && let Some((_, oldest)) = member.seats.pop_front() {
            oldest.notify_one();
        }
        member.seats.push_back((seat.id, seat.replaced.clone()));
        hub.announce(&claims.jti);
        Ok((hub.subscribe(room, &claims.jti), seat))
    }

    /// A fresh snapshot and channel for a socket that fell behind.
    pub fn resubscribe(&self, room: &RoomId, you: &str) -> Option<Subscription> {
        self.lock().get(room).map(|hub| hub.subscribe(room, you))
    }

    /// The socket of participant `id` in `seat` closed (nothing changes if
    /// a newer socket had taken its seat already).
    pub fn disconnect(&self, room: &RoomId, id: &str, seat: &Seat) {
        self.change(room, |hub| {
            if let Some(member) = hub.members.get_mut(id)
                && let Some(at) = member.seats.iter().position(|(s, _)| *s == seat.id)
            {
                member.seats.remove(at);
                hub.sockets = hub.sockets.saturating_sub(1);
                hub.announce(id);
            }
        });
    }

    /// A WebRTC session was answered (camera or viewer).
    pub fn media_joined(&self, participant: &Participant) {
        let mut rooms = self.lock();
        let hub = rooms
            .entry(participant.room.clone())
            .or_insert_with(RoomHub::new);
        let member = hub.member(
            &participant.token_id,
            participant.role,
            participant.name.as_ref(),
        );
        member
            .media
            .insert(participant.session.clone(), participant.connected);
        hub.announce(&participant.token_id);
    }

    /// A WebRTC session's media flows.
    pub fn media_connected(&self, participant: &Participant) {
        self.change(&participant.room, |hub| {
            let id = &participant.token_id;
            if let Some(flowing) = hub
                .members
                .get_mut(id)
                .and_then(|m| m.media.get_mut(&participant.session))
            {
                *flowing = true;
                hub.announce(id);
            }
        });
    }

    /// A WebRTC session ended.
    pub fn media_left(&self, participant: &Participant) {
        self.change(&participant.room, |hub| {
            let id = &participant.token_id;
            if let Some(member) = hub.members.get_mut(id)
                && member.media.remove(&participant.session).is_some()
            {
                if member.media.is_empty() {
                    member.quality = None;
                    member.speaking = false;
                }
                hub.announce(id);
            }
        });
    }

    /// Participant `id` reported how its own connection does. Only a
    /// participant with a media session has one to report on: a report
    /// from a socket alone (a chat-only page, an observer's script) would
    /// show the room a connection that does not exist.
    pub fn set_quality(
        &self,
        room: &RoomId,
        id: &str,
        report: QualityReport,
    ) -> Result<(), NoMediaSession> {
        let mut accepted = false;
        self.change(room, |hub| {
            if let Some(member) = hub.members.get_mut(id)
                && !member.media.is_empty()
            {
                member.quality = Some(Quality {
                    level: report.level(),
                    report,
                });
                accepted = true;
                hub.announce(id);
            }
        });
        if accepted {
            Ok(())
        } else {
            Err(NoMediaSession)
        }
    }

    /// Participant `id` started or stopped speaking; the room hears of
    /// changes only.
    pub fn set_speaking(&self, room: &RoomId, id: &str, speaking: bool) {
        self.change(room, |hub| {
            if let Some(member) = hub.members.get_mut(id)
                && member.speaking != speaking
            {
                member.speaking = speaking;
                hub.publish(ServerMessage::Speaking {
                    id: id.to_owned(),
                    speaking,
                });
            }
        });
    }

    /// A chat message or request from `from`, to everyone in the room.
    pub fn publish(&self, room: &RoomId, body: ServerMessage) {
        self.change(room, |hub| hub.publish(body));
    }

    /// An event for the sockets of one role only (a photo is for specialists).
    pub fn publish_to(&self, room: &RoomId, role: Role, body: ServerMessage) {
        self.change(room, |hub| hub.publish_to(Some(role), body));
    }

    /// The room ended: sockets hear it, then their channel closes.
    pub fn close_room(&self, room: &RoomId) {
        if let Some(mut hub) = self.lock().remove(room) {
            hub.publish(ServerMessage::RoomEnded {});
        }
    }

    /// The gateway stops: every socket's channel closes (the pages join
    /// again when it is back).
    pub fn close_all(&self) {
        self.lock().clear();
    }

    /// The sender fields of participant `id` (for chat and requests).
    pub fn sender(claims: &Claims) -> Sender {
        Sender {
            id: claims.jti.clone(),
            role: claims.role,
            name: claims.name.clone(),
        }
    }

    /// The rooms with anyone in them: an events socket or a media session.
    pub fn rooms(&self) -> Vec<RoomId> {
        self.lock().keys().cloned().collect()
    }

    /// Who is in `room` now (for the consultation log and tests).
    pub fn participants(&self, room: &RoomId) -> Vec<ParticipantView> {
        self.lock().get(room).map_or_else(Vec::new, |hub| {
            hub.members
                .iter()
                .map(|(id, member)| RoomHub::view(id, member))
                .collect()
        })
    }

    /// Runs `f` on the room's hub if it exists, and forgets the hub once
    /// nobody is in it and nobody listens.
    fn change(&self, room: &RoomId, f: impl FnOnce(&mut RoomHub)) {
        let mut rooms = self.lock();
        if let Some(hub) = rooms.get_mut(room) {
            f(hub);
            if hub.is_idle() {
                rooms.remove(room);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::messages::decode_server;
    use crate::media::SessionKind;

    fn claims(jti: &str, role: Role) -> Claims {
        Claims {
            room: Some("ward".into()),
            role,
            exp: u64::MAX,
            iat: 0,
            jti: jti.into(),
            name: Some(format!("name of {jti}")),
        }
    }

    fn camera_session(room: &RoomId, session: &str, jti: &str) -> Participant {
        Participant {
            session: SessionId(session.into()),
            room: room.clone(),
            kind: SessionKind::Publish,
            role: Role::Publisher,
            name: None,
            token_id: jti.into(),
            address: None,
            joined_at: 0,
            connected: false,
        }
    }

    fn next(sub: &mut Subscription) -> (u64, ServerMessage) {
        let published = sub.events.try_recv().expect("an event");
        let envelope = decode_server(&published.json).unwrap();
        assert_eq!(envelope.seq, Some(published.seq));
        (published.seq, envelope.body)
    }

    #[test]
    fn socket_and_media_session_of_one_token_are_one_participant() {
        let hub = RoomEvents::default();
        let room = RoomId::parse("ward").unwrap();
        let (mut specialist, _seat) = hub
            .connect(&room, &claims("spec", Role::Specialist))
            .unwrap();
        let camera = camera_session(&room, "cam-1", "cam");
        hub.media_joined(&camera);
        hub.media_connected(&camera);
        let (_cam_sub, cam_seat) = hub.connect(&room, &claims("cam", Role::Publisher)).unwrap();

        let states: Vec<(u64, ServerMessage)> = (0..3).map(|_| next(&mut specialist)).collect();
        let media_and_sockets: Vec<(MediaState, u32)> = states
            .iter()
            .map(|(_, message)| match message {
                ServerMessage::Participant { participant } => {
                    assert_eq!(participant.id, "cam");
                    (participant.media, participant.sockets)
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            media_and_sockets,
            [
                (MediaState::Connecting, 0),
                (MediaState::Connected, 0),
                (MediaState::Connected, 1)
            ]
        );
        // Numbered in order, after the specialist's own join (1).
        assert_eq!(
            states.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        assert_eq!(hub.participants(&room).len(), 2);

        hub.media_left(&camera);
        assert!(matches!(
            next(&mut specialist).1,
            ServerMessage::Participant { .. }
        ));
        hub.disconnect(&room, "cam", &cam_seat);
        assert_eq!(
            next(&mut specialist).1,
            ServerMessage::Left { id: "cam".into() }
        );
    }

    #[test]
    fn a_room_is_forgotten_when_empty_and_its_end_reaches_every_socket() {
        let hub = RoomEvents::default();
        let room = RoomId::parse("ward").unwrap();
        let (sub, seat) = hub.connect(&room, &claims("a", Role::Specialist)).unwrap();
        drop(sub);
        hub.disconnect(&room, "a", &seat);
        assert!(hub.lock().is_empty());

        let (mut sub, _seat) = hub.connect(&room, &claims("a", Role::Specialist)).unwrap();
        hub.close_room(&room);
        assert_eq!(next(&mut sub).1, ServerMessage::RoomEnded {});
        assert!(matches!(
            sub.events.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));

        // The gateway stopping closes every room's channel.
        let (mut sub, _seat) = hub.connect(&room, &claims("a", Role::Specialist)).unwrap();
        hub.close_all();
        assert!(matches!(
            sub.events.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }
}
