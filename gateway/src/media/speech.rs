//! "Who is speaking", from the audio levels a speaker's packets carry.
//!
//! Browsers put each Opus packet's level in the `ssrc-audio-level` header
//! extension (RFC 6464: 0 is as loud as it gets, 127 is silence, in -dBov),
//! so the gateway can tell speech without decoding anything. Speech starts
//! after a few loud packets close together, so a cough or a click does not
//! count, and ends after a second without one, so the pauses between words
//! do not make the indicator flicker. Time is passed in.
//!
//! Every voice in a room is read the same way: a specialist's microphone
//! (from their page) and the nurse's (the camera's Opus, whose capture
//! daemon writes the same extension).

use std::time::{Duration, Instant};

use rtc::rtp::header::Header;

use super::peer::AUDIO_LEVEL_URI;

/// A packet at least this loud (-dBov; smaller is louder) is voiced.
/// Speech near a microphone is -10 to -30 dBov; a quiet room -60 or below.
pub const VOICED_LEVEL: u8 = 45;
/// Voiced packets needed, each within [`ONSET_GAP`] of the one before, for
/// speech to start: 100 ms of 20 ms packets.
const ONSET_PACKETS: u32 = 5;
/// The longest gap between voiced packets that still counts as one onset.
const ONSET_GAP: Duration = Duration::from_millis(200);
/// Speech ends this long after the last voiced packet.
const HANGOVER: Duration = Duration::from_secs(1);

/// One speaker's state.
#[derive(Debug, Default, Clone)]
pub struct SpeechDetector {
    speaking: bool,
    last_voiced: Option<Instant>,
    onset: u32,
}

impl SpeechDetector {
    /// Whether the speaker speaks now.
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Takes one packet's level (`None` when it carried none); returns the
    /// new state when it changed.
    pub fn on_packet(&mut self, now: Instant, level: Option<u8>) -> Option<bool> {
        if level.is_some_and(|level| level <= VOICED_LEVEL) {
            let close = self
                .last_voiced
                .is_some_and(|last| now.saturating_duration_since(last) <= ONSET_GAP);
            self.onset = if close { self.onset + 1 } else { 1 };
            self.last_voiced = Some(now);
            if !self.speaking && self.onset >= ONSET_PACKETS {
                self.speaking = true;
                return Some(true);
            }
            return None;
        }
        self.poll(now)
    }

    /// Ends speech that has been quiet for the hangover (also when packets
    /// stopped coming); returns `Some(false)` when it just ended.
    pub fn poll(&mut self, now: Instant) -> Option<bool> {
        let quiet = self
            .last_voiced
            .is_none_or(|last| now.saturating_duration_since(last) > HANGOVER);
        if self.speaking && quiet {
            self.speaking = false;
            self.onset = 0;
            return Some(false);
        }
        None
    }
}

/// One speaker's packets as "who is speaking" reads them: the ID their
/// level rides under, as their session negotiated it, and the detector.
#[derive(Debug, Default, Clone)]
pub struct Voice {
    level_extension: Option<u8>,
    detector: SpeechDetector,
}

impl Voice {
    /// A voice whose packets carry the header extensions `extensions`
    /// (`(id, uri)`); without the audio level among them it never speaks.
    pub fn new(extensions: &[(u8, String)]) -> Self {
        Self {
            level_extension: extensions
                .iter()
                .find(|(_, uri)| uri == AUDIO_LEVEL_URI)
                .map(|(id, _)| *id),
            detector: SpeechDetector::default(),
        }
    }

    /// Takes one packet; returns the new state when it changed.
    pub fn on_packet(&mut self, now: Instant, header: &Header) -> Option<bool> {
        let level = self
            .level_extension
            .and_then(|id| header.get_extension(id))
            .and_then(|element| audio_level(&element));
        self.detector.on_packet(now, level)
    }

    /// See [`SpeechDetector::poll`].
    pub fn poll(&mut self, now: Instant) -> Option<bool> {
        self.detector.poll(now)
    }

    /// Whether the speaker speaks now.
    pub fn is_speaking(&self) -> bool {
        self.detector.is_speaking()
    }
}

/// The level in an RFC 6464 extension element: the low seven bits of its
/// first byte (the top bit is the voice-activity flag, which not every
/// sender sets).
pub fn audio_level(element: &[u8]) -> Option<u8> {
    element.first().map(|byte| byte & 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKET: Duration = Duration::from_millis(20);
    const NO_CHANGE: [bool; 0] = [];

    /// Feeds `count` packets of `level` 20 ms apart from `*now`; returns the
    /// changes seen.
    fn feed(detector: &mut SpeechDetector, now: &mut Instant, count: u32, level: u8) -> Vec<bool> {
        let mut changes = Vec::new();
        for _ in 0..count {
            changes.extend(detector.on_packet(*now, Some(level)));
            *now += PACKET;
        }
        changes
    }

    #[test]
    fn speech_starts_after_a_tenth_of_a_second_and_ends_after_a_second_of_quiet() {
        let mut detector = SpeechDetector::default();
        let mut now = Instant::now();
        assert_eq!(feed(&mut detector, &mut now, 4, 20), NO_CHANGE);
        assert_eq!(feed(&mut detector, &mut now, 1, 20), [true]);
        assert_eq!(feed(&mut detector, &mut now, 100, 25), NO_CHANGE);
        // Pauses between words keep it going.
        assert_eq!(feed(&mut detector, &mut now, 30, 127), NO_CHANGE);
        assert_eq!(feed(&mut detector, &mut now, 10, 30), NO_CHANGE);
        assert_eq!(feed(&mut detector, &mut now, 60, 127), [false]);
        assert!(!detector.is_speaking());
    }

    #[test]
    fn single_clicks_and_a_quiet_room_are_not_speech() {
        let mut detector = SpeechDetector::default();
        let mut now = Instant::now();
        for _ in 0..20 {
            assert_eq!(feed(&mut detector, &mut now, 1, 10), NO_CHANGE);
            assert_eq!(feed(&mut detector, &mut now, 15, 127), NO_CHANGE);
        }
        assert_eq!(feed(&mut detector, &mut now, 200, 70), NO_CHANGE);
        // Packets without a level say nothing either.
        for _ in 0..50 {
            assert_eq!(detector.on_packet(now, None), None);
            now += PACKET;
        }
        assert!(!detector.is_speaking());
    }

    #[test]
    fn speech_ends_when_the_packets_stop() {
        let mut detector = SpeechDetector::default();
        let mut now = Instant::now();
        assert_eq!(feed(&mut detector, &mut now, 10, 20), [true]);
        assert_eq!(detector.poll(now + Duration::from_millis(500)), None);
        assert_eq!(
            detector.poll(now + Duration::from_millis(1100)),
            Some(false)
        );
        assert_eq!(detector.poll(now + Duration::from_millis(1200)), None);
    }

    #[test]
    fn the_level_is_the_low_seven_bits() {
        assert_eq!(audio_level(&[0x80 | 33]), Some(33));
        assert_eq!(audio_level(&[127]), Some(127));
        assert_eq!(audio_level(&[]), None);
    }
}
