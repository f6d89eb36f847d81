//! A video-like load: frames at 30 per second, each sent as a burst of RTP
//! packets the way an encoder's packetizer emits them, with a keyframe (three
//! times a delta frame) once a second. The average is the target bitrate.

use std::time::Duration;

/// Frames per second of the load.
pub const FPS: u32 = 30;
/// A keyframe every this many frames.
pub const KEYFRAME_EVERY: u32 = 30;
/// A keyframe is this many delta frames.
const KEYFRAME_WEIGHT: f64 = 3.0;
/// The payload bytes of a full packet, as under a 1200-byte MTU budget.
pub const MAX_PAYLOAD: usize = 1100;
/// The RTP clock of video.
pub const CLOCK_RATE: u32 = 90_000;

pub fn frame_interval() -> Duration {
    Duration::from_secs(1) / FPS
}

/// The payload sizes of frame `index` at `kbps`: one burst.
pub fn frame_packets(kbps: u32, index: u32, min_payload: usize) -> Vec<usize> {
    let per_frame = f64::from(kbps) * 1000.0 / 8.0 / f64::from(FPS);
    let frames = f64::from(KEYFRAME_EVERY);
    // Keyframe weight k and (n-1) deltas of weight 1 average to one frame.
    let delta = per_frame * frames / (KEYFRAME_WEIGHT + frames - 1.0);
    let bytes = if index.is_multiple_of(KEYFRAME_EVERY) {
        delta * KEYFRAME_WEIGHT
    } else {
        delta
    };
    let bytes = (bytes.round() as usize).max(min_payload);
    let packets = bytes.div_ceil(MAX_PAYLOAD);
    let base = bytes / packets;
    let mut sizes = vec![base.max(min_payload); packets];
    // The remainder goes to the first packets, so the sum is exact.
    for size in sizes.iter_mut().take(bytes - base * packets) {
        *size += 1;
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_of_frames_averages_to_the_target() {
        for kbps in [500, 1000, 2500, 8000] {
            let bytes: usize = (0..FPS).flat_map(|i| frame_packets(kbps, i, 13)).sum();
            let got = bytes as f64 * 8.0 / 1000.0;
            assert!(
                (got - f64::from(kbps)).abs() / f64::from(kbps) < 0.01,
                "{kbps}: {got}"
            );
        }
    }

    #[test]
    fn keyframes_are_bigger_bursts_of_full_packets() {
        let key = frame_packets(4000, 0, 13);
        let delta = frame_packets(4000, 1, 13);
        assert!(key.len() >= 2 * delta.len(), "{key:?} {delta:?}");
        assert!(key.iter().all(|&s| s <= MAX_PAYLOAD));
        // A tiny frame still carries the marker.
        assert_eq!(frame_packets(1, 5, 13), vec![13]);
    }
}
