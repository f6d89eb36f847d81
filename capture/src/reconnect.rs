//! When to try again after the connection to the gateway is lost, and how
//! to say so on the nurse's terminal.
//!
//! Retries start fast (a Wi-Fi hiccup or a gateway restart heals in seconds,
//! and the specialist is waiting) and slow down to a steady pace for long
//! outages, so hundreds of laptops do not hammer a gateway that is coming back.
//! Every delay is spread by ±20 % so they do not retry in lockstep either.

use std::time::Duration;

use crate::webrtc::sdp::Sdp;

/// Retry delays: doubling from `first` up to `fast_max` during the first
/// `fast_for` of an outage, then `slow` (all ± `jitter`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay before the second try.
    pub first: Duration,
    /// The longest delay while the outage is young.
    pub fast_max: Duration,
    /// How long an outage counts as young.
    pub fast_for: Duration,
    /// The delay once it is not.
    pub slow: Duration,
    /// Relative spread, 0.0..1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(250),
            fast_max: Duration::from_secs(2),
            fast_for: Duration::from_secs(60),
            slow: Duration::from_secs(10),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The wait before try number `attempt + 1` (`attempt` ≥ 1 tries failed),
    /// `outage` into the outage; `random` is uniform in 0.0..1.0 (passed in,
    /// so tests are exact).
    pub fn delay(&self, attempt: u32, outage: Duration, random: f64) -> Duration {
        let base = if outage >= self.fast_for {
            self.slow
        } else {
            let doublings = attempt.saturating_sub(1).min(16);
            self.first
                .saturating_mul(1u32 << doublings)
                .min(self.fast_max)
        };
        let spread = 1.0 + self.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        base.mul_f64(spread)
    }
}

/// "1st", "2nd", "3rd", "4th", … "11th", "12th", "13th", "21st", …
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The ICE credentials of an SDP as a trickle-ICE fragment that changes
/// nothing: sent in a `PATCH`, it asks "do you still have my session?".
pub fn unchanged_ice_fragment(sdp: &str) -> Option<String> {
    Sdp::parse(sdp).ok()?.unchanged_ice_fragment()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn delays_double_then_level_off_then_slow_down() {
        let backoff = Backoff::default();
        let mid = 0.5; // no jitter
        let delays: Vec<_> = (1..=6)
            .map(|attempt| backoff.delay(attempt, 5 * S, mid))
            .collect();
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 2000, 2000].map(Duration::from_millis)
        );
        assert_eq!(backoff.delay(40, 61 * S, mid), 10 * S);
    }

    #[test]
    fn jitter_spreads_by_a_fifth_either_way() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(4, S, 0.0), Duration::from_millis(1600));
        assert_eq!(backoff.delay(4, S, 1.0), Duration::from_millis(2400));
        assert_eq!(backoff.delay(u32::MAX, S, 0.5), 2 * S, "no overflow");
    }

    #[test]
    fn ordinals_read_naturally() {
        let words: Vec<_> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            words,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "101st", "111th"
            ]
        );
    }

    #[test]
    fn the_check_fragment_carries_the_current_credentials() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:abcd\r\n\
                   a=ice-pwd:secretsecret\r\na=mid:video0\r\na=candidate:1 1 UDP 1 10.0.0.2 5000 typ host\r\n";
        assert_eq!(
            unchanged_ice_fragment(sdp).unwrap(),
            "a=ice-ufrag:abcd\r\na=ice-pwd:secretsecret\r\na=mid:video0\r\n"
        );
        assert_eq!(unchanged_ice_fragment("v=0\r\n"), None);
    }
}
