//! Connection tests (`samsyn-bench connect`): a publisher whose media is
//! measured ([`crate::media::probe`]) and dropped. It joins no room, so the
//! room's camera and viewers never see it; only the token that started it
//! may read or end it.

use std::collections::HashMap;
use std::time::Instant;

use samsyn_signaling::RoomId;
use samsyn_signaling::media::{MediaError, SessionId};

use crate::media::admission;
use crate::media::probe::ProbeReport;

use super::peers::{PeerId, Peers, Role, Sessions};

/// Who started each connection test (the token's id).
#[derive(Debug, Default)]
pub(super) struct ConnectionTests {
    owners: HashMap<SessionId, String>,
}

impl ConnectionTests {
    /// Whether `room` may run one more connection test.
    pub(super) fn admit(peers: &Peers, room: &RoomId) -> Result<(), MediaError> {
        let running = peers
            .values()
            .filter(|slot| &*slot.room == room && matches!(slot.role, Role::ConnectionTest(_)))
            .count();
        admission::admit_connection_test(running)
    }

    /// Notes that `owner` started the test `session`.
    pub(super) fn started(
        &mut self,
        session: SessionId,
        owner: &str,
        sessions: &Sessions,
        peers: &Peers,
    ) {
        // Forget the owners of tests that have ended since the last start.
        self.owners.retain(|session, _| {
            sessions.get(session).is_some_and(|id| {
                peers
                    .get(id)
                    .is_some_and(|slot| matches!(slot.role, Role::ConnectionTest(_)))
            })
        });
        self.owners.insert(session, owner.to_owned());
    }

    /// The connection test `session` of `room`, if `owner` started it: a
    /// session id alone does not reach another token's test.
    pub(super) fn peer(
        &self,
        sessions: &Sessions,
        peers: &Peers,
        room: &RoomId,
        owner: &str,
        session: &SessionId,
    ) -> Result<PeerId, MediaError> {
        if self.owners.get(session).map(String::as_str) != Some(owner) {
            return Err(MediaError::UnknownSession);
        }
        sessions
            .get(session)
            .copied()
            .filter(|id| {
                peers.get(id).is_some_and(|slot| {
                    &*slot.room == room && matches!(slot.role, Role::ConnectionTest(_))
                })
            })
            .ok_or(MediaError::UnknownSession)
    }
}

/// What connection test `id` has received so far.
pub(super) fn report(peers: &Peers, now: Instant, id: PeerId) -> Result<ProbeReport, MediaError> {
    match peers.get(&id).map(|slot| &slot.role) {
        Some(Role::ConnectionTest(receiver)) => Ok(receiver.report(now)),
        _ => Err(MediaError::UnknownSession),
    }
}
