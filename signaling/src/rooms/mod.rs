//! Rooms: their ids, the registry that knows which are open, and the
//! invites that open them to people.

mod id;
mod invite;
mod registry;

pub use id::{RoomId, RoomIdError};
pub use invite::{ParticipantInvite, RoomInvite, invite_for, invite_participant};
pub use registry::{
    LabelError, MAX_LABEL_CHARS, ROOMS_DIR, RegistryError, RoomRecord, RoomRegistry, check_label,
};
