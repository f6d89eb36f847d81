//! Rooms: their ids, and the invite that opens one.
//!
//! A room exists as soon as tokens for it exist; the gateway keeps no list of
//! rooms, so an invite can be made while the server is not running.

mod id;
mod invite;

pub use id::{RoomId, RoomIdError};
pub use invite::{RoomInvite, create_room};
