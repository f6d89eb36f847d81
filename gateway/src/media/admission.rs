//! Who may take a place in a room's media: the limits on viewers, the
//! camera's talk-back sessions and connection tests, each per room, so one
//! room's guests can never take another room's places.
//!
//! - Viewers (specialists and observers together) are capped at
//!   `limits.max_viewers_per_room`. Observers may take all but a fifth of
//!   those places (rounded down): one observer link handed round, or many,
//!   cannot keep the specialists out.
//! - The camera's talk-back sessions (the nurse's daemon hearing the
//!   speakers) take no viewer's place, but count against a cap of their
//!   own: one, and one more while the daemon reconnects.
//! - Connection tests: a few per room; a room's publisher cannot take every
//!   test slot of the gateway.

use samsyn_signaling::media::{Listener, MediaError};

/// The camera's talk-back sessions one room holds at once.
pub const MAX_TALKBACK_SESSIONS_PER_ROOM: usize = 2;
/// Connection tests one room runs at once: the camera's own, and one more
/// while a test is retried.
pub const MAX_CONNECTION_TESTS_PER_ROOM: usize = 2;

/// The media sessions of one room that watch or listen, by listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Listeners {
    pub specialists: usize,
    pub observers: usize,
    pub talkback: usize,
}

impl Listeners {
    /// Counts one more session of `listener`.
    pub fn add(&mut self, listener: Listener) {
        match listener {
            Listener::Specialist => self.specialists += 1,
            Listener::Observer => self.observers += 1,
            Listener::Camera => self.talkback += 1,
        }
    }
}

/// The viewer places observers may take of `max_viewers`: all but a fifth.
pub fn observer_places(max_viewers: usize) -> usize {
    max_viewers - max_viewers / 5
}

/// Whether a new session of `listener` fits beside `present`.
pub fn admit(listener: Listener, present: Listeners, max_viewers: usize) -> Result<(), MediaError> {
    let viewers = present.specialists + present.observers;
    match listener {
        Listener::Camera if present.talkback >= MAX_TALKBACK_SESSIONS_PER_ROOM => {
            Err(MediaError::TalkbackTaken(MAX_TALKBACK_SESSIONS_PER_ROOM))
        }
        Listener::Camera => Ok(()),
        _ if viewers >= max_viewers => Err(MediaError::TooManyViewers(max_viewers)),
        Listener::Observer if present.observers >= observer_places(max_viewers) => Err(
            MediaError::ObserverPlacesTaken(observer_places(max_viewers)),
        ),
        Listener::Specialist | Listener::Observer => Ok(()),
    }
}

/// Whether a room running `running` connection tests may start one more.
pub fn admit_connection_test(running: usize) -> Result<(), MediaError> {
    if running >= MAX_CONNECTION_TESTS_PER_ROOM {
        Err(MediaError::TooManyConnectionTests(
            MAX_CONNECTION_TESTS_PER_ROOM,
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(specialists: usize, observers: usize, talkback: usize) -> Listeners {
        Listeners {
            specialists,
            observers,
            talkback,
        }
    }

    #[test]
    fn observers_leave_a_fifth_of_the_places_to_specialists() {
        assert_eq!(observer_places(50), 40);
        assert_eq!(observer_places(3), 3);
        assert_eq!(
            admit(Listener::Observer, present(0, 40, 0), 50),
            Err(MediaError::ObserverPlacesTaken(40))
        );
        assert_eq!(admit(Listener::Specialist, present(0, 40, 0), 50), Ok(()));
        assert_eq!(
            admit(Listener::Specialist, present(10, 40, 0), 50),
            Err(MediaError::TooManyViewers(50))
        );
        assert_eq!(admit(Listener::Observer, present(0, 39, 0), 50), Ok(()));
    }

    #[test]
    fn talkback_is_counted_against_its_own_cap() {
        assert_eq!(admit(Listener::Camera, present(50, 0, 0), 50), Ok(()));
        assert_eq!(admit(Listener::Camera, present(0, 0, 1), 50), Ok(()));
        assert_eq!(
            admit(Listener::Camera, present(0, 0, 2), 50),
            Err(MediaError::TalkbackTaken(2))
        );
        // Talk-back sessions take no viewer's place.
        assert_eq!(admit(Listener::Specialist, present(0, 0, 2), 1), Ok(()));
    }

    #[test]
    fn connection_tests_are_counted_per_room() {
        assert_eq!(admit_connection_test(1), Ok(()));
        assert_eq!(
            admit_connection_test(2),
            Err(MediaError::TooManyConnectionTests(2))
        );
    }
}
