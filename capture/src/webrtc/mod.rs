//! webrtcbin: the publisher pipeline and the offer/answer plumbing shared
//! with the probe viewer.
//!
//! Negotiation is non-trickle: the offer is sent once ICE gathering has
//! finished (or after a short timeout), with every candidate in it, which is
//! what a WHIP/WHEP endpoint expects from a simple client.

mod events;
pub mod ice;
mod negotiate;
mod publisher;

pub use events::{PipelineEvent, forward_bus, log_state_changes};
pub use negotiate::{
    GATHER_TIMEOUT, NegotiationError, apply_answer, local_sdp, make_offer, new_webrtcbin,
};
pub use publisher::{PublishError, Publisher, PublisherOptions};
