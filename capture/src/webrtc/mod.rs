//! webrtcbin: the publisher (capture pipeline plus one session pipeline per
//! WHIP session) and the offer/answer plumbing shared with the probe viewer.
//!
//! Negotiation is non-trickle: the offer is sent once ICE gathering has
//! finished (or after a short timeout), with every candidate in it, which is
//! what a WHIP/WHEP endpoint expects from a simple client.
//!
//! [`abs_capture_time`] is the RTP header extension that carries each
//! frame's capture time to the receivers, negotiated here and written on
//! the payloader's packets.

pub mod abs_capture_time;
mod events;
pub mod feedback;
pub mod ice;
mod negotiate;
mod outlet;
mod publisher;
pub mod relays;
pub mod sdp;
mod session;

pub use events::{PipelineEvent, forward_bus, log_state_changes, on_bus_events};
pub use negotiate::{
    GATHER_TIMEOUT, NegotiationError, apply_answer, local_sdp, make_offer, new_webrtcbin,
};
pub use outlet::Outlet;
pub use publisher::{
    AUDIO_LEVEL_EXTENSION_ID, AUDIO_LEVEL_URI, PublishError, Publisher, PublisherEvent,
    PublisherOptions, TWCC_EXTENSION_ID, TWCC_URI,
};
pub use relays::Relays;
pub use session::{Session, SessionEvent};
pub(crate) use session::{forward_errors, report_connection};
