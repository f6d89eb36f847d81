//! Opens one new WHIP session for the publisher: ask the gateway for its
//! relays, build a webrtcbin that knows them, make the offer, post it.
//!
//! The relays' credentials are short-lived, so they are asked for again
//! for every session (the daemon makes a new one on each reconnect).

use url::Url;

use crate::webrtc::{PublishError, Publisher, Relays};
use crate::whip::{self, WhipClient, WhipError};

/// A session the gateway accepted: its answer is still to be applied.
#[derive(Debug)]
pub struct Opened {
    /// The WHIP session (location, answer).
    pub session: whip::Session,
    /// The offer that was posted.
    pub offer: String,
}

/// Opening a session failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The webrtcbin side could not make an offer.
    #[error("the session could not be prepared: {0}")]
    Prepare(#[from] PublishError),
    /// The gateway did not take the offer.
    #[error(transparent)]
    Whip(#[from] WhipError),
}

/// Asks `url` for its ICE servers (`OPTIONS`), opens a new session on
/// `publisher` with them (replacing any current one) and posts its offer.
pub async fn open_session(
    client: &WhipClient,
    url: &Url,
    publisher: &mut Publisher,
) -> Result<Opened, OpenError> {
    let relays = relays_for(client, url).await;
    if relays.is_empty() {
        tracing::debug!("the gateway announced no relays");
    } else {
        tracing::info!("relays announced: {}", relays.summary());
    }
    let offer = publisher.open_session(&relays).await?;
    let session = client.post_offer(url, &offer).await?;
    Ok(Opened { session, offer })
}

/// The relays `url` announces to `client`, in webrtcbin's form; none when
/// the gateway announces none or cannot be asked.
pub async fn relays_for(client: &WhipClient, url: &Url) -> Relays {
    Relays::from_announced(&client.ice_servers(url).await)
}
