//! Congestion control for the nurse's uplink: send no more than the path
//! (and the specialists' links) can carry.
//!
//! The gateway reports every packet's arrival (transport-wide congestion
//! control feedback, TWCC) and, as REMB, the most its weakest viewer can
//! take. [`BitrateController`] turns that into a target sending rate, GCC's
//! way (draft-ietf-rmcat-gcc-02): a delay-gradient detector that sees a queue
//! building long before packets are lost, a loss-based controller for links
//! that drop instead of queueing, and the gateway's cap; the lowest wins,
//! within the configured minimum and maximum. [`EncoderBudget`] turns the
//! target into the encoder's bitrate, which is also what the quality ladder
//! (the latency budget's) takes as its bitrate constraint.
//!
//! Everything here is a pure function of its inputs with time passed in;
//! the daemon wires it to webrtcbin's feedback and the encoder
//! ([`crate::webrtc::Publisher`], `run`).

mod controller;
pub mod delay;
pub mod rate;
pub mod trace;

use std::time::Duration;

pub use controller::{BitrateController, BitrateLimits, ControllerState};
pub use delay::Usage;

/// What the gateway reported about one sent packet (transport-wide
/// feedback, TWCC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketResult {
    /// Transport-wide sequence number.
    pub seq: u16,
    /// When it was sent, on this machine's monotonic clock.
    pub sent: Duration,
    /// When it arrived, on the gateway's clock (only differences between
    /// arrivals mean anything); `None` if it was lost.
    pub arrived: Option<Duration>,
    /// Size of the packet in bytes.
    pub size: u32,
}

/// Feedback from the gateway that bears on the sending rate.
#[derive(Debug, Clone, PartialEq)]
pub enum Feedback {
    /// Per-packet arrival reports.
    Transport(Vec<PacketResult>),
    /// The most the gateway wants to receive (REMB), in bits per second:
    /// what its weakest viewer can take.
    ReceiverMaximum(u64),
}

/// How much of the sending rate the video encoder may use: what is left
/// after packet headers (RTP, SRTP, UDP, IP: about 5 % at full packets),
/// retransmissions and the microphone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderBudget {
    /// The microphone's rate, bit/s (0 without audio).
    pub audio_bps: u64,
    /// Share of the rate taken by headers and repair packets.
    pub overhead: f64,
}

impl Default for EncoderBudget {
    fn default() -> Self {
        Self {
            audio_bps: 0,
            overhead: 0.08,
        }
    }
}

impl EncoderBudget {
    /// The encoder's bitrate for a sending `target` (bit/s), never below
    /// `floor`.
    pub fn encoder_bps(&self, target: u64, floor: u64) -> u64 {
        let video = (target as f64 * (1.0 - self.overhead)) as u64;
        video.saturating_sub(self.audio_bps).max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_gets_what_headers_and_audio_leave() {
        let budget = EncoderBudget {
            audio_bps: 40_000,
            overhead: 0.08,
        };
        assert_eq!(budget.encoder_bps(1_000_000, 100_000), 880_000);
        assert_eq!(budget.encoder_bps(100_000, 100_000), 100_000);
    }
}
