//! "Who is speaking": reads the audio levels in each speaker's packets (the
//! camera's audio, a specialist's microphone) and tells signaling when a
//! speaker starts or stops. The detection itself is [`crate::media::speech`].

use std::time::Instant;

use samsyn_signaling::media::MediaEvent;

use super::peers::{PeerId, Peers};
use super::stats::Outbox;

/// Reads "who is speaking" in a packet of `speaker`'s voice and tells the
/// room when it changes.
pub(super) fn hear(
    now: Instant,
    peers: &mut Peers,
    out: &mut Outbox,
    speaker: PeerId,
    header: &rtc::rtp::header::Header,
) {
    let Some(slot) = peers.get_mut(&speaker) else {
        return;
    };
    if let Some(voice) = slot.role.voice_mut()
        && let Some(speaking) = voice.on_packet(now, header)
    {
        out.events.push(MediaEvent::Speaking {
            session: slot.session.clone(),
            speaking,
        });
    }
}

/// Speakers whose packets went quiet (or stopped) stop speaking.
pub(super) fn end_quiet_speech(now: Instant, peers: &mut Peers, out: &mut Outbox) {
    for slot in peers.values_mut() {
        if let Some(voice) = slot.role.voice_mut()
            && let Some(speaking) = voice.poll(now)
        {
            out.events.push(MediaEvent::Speaking {
                session: slot.session.clone(),
                speaking,
            });
        }
    }
}
