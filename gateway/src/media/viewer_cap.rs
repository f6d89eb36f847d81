//! How much the room's viewers can take: the cap the gateway sends the
//! camera (REMB), and which viewer's own link is the problem.
//!
//! The gateway forwards one stream; it cannot send each specialist a
//! different quality. So the camera is asked to send no more than the slowest
//! viewer can receive — **the slowest viewer decides** — but never less than
//! a configured **floor** (`sfu.viewer_floor_kbps`): one specialist on a bad
//! hotel Wi-Fi must not turn the picture to mush for the wound-care team at
//! the hospital. A viewer whose link cannot carry even the floor gets the
//! floor anyway; their page says that their own connection is the problem.
//!
//! The cap falls at once when a viewer's link narrows and rises by at most
//! 10 % a second ([`CapSmoother`]), so the camera does not chase every upward
//! probe of a viewer's estimate into that viewer's congestion.
//!
//! A viewer's estimate is GCC on the transport-wide feedback their browser
//! sends (see `peer::estimate`). It starts high and only counts once their
//! link has shown congestion, so a joining viewer does not drop the room's
//! quality while nothing is known. Viewers that send no such feedback do not
//! take part in the cap.

/// The cap may rise by at most this factor per second (it falls at once): a
/// viewer's estimate probes upwards and overshoots, and the camera following
/// every probe would flood the very link being probed.
pub const MAX_RISE_PER_SECOND: f64 = 1.1;

/// Smooths the room's cap: down at once, up slowly.
#[derive(Debug, Clone, Copy, Default)]
pub struct CapSmoother {
    current: Option<f64>,
}

impl CapSmoother {
    /// The cap to send, given the raw one and the seconds since the last.
    pub fn next(&mut self, raw: Option<u64>, elapsed_seconds: f64) -> Option<u64> {
        let Some(raw) = raw else {
            self.current = None;
            return None;
        };
        let raw = raw as f64;
        let smoothed = match self.current {
            Some(current) if raw > current => {
                raw.min(current * MAX_RISE_PER_SECOND.powf(elapsed_seconds.clamp(0.0, 1.0)))
            }
            _ => raw,
        };
        self.current = Some(smoothed);
        Some(smoothed as u64)
    }
}

/// A viewer's link as the gateway sees it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ViewerLink {
    /// What the link can take, bit/s, once known.
    pub estimate_bps: Option<u64>,
    /// Packets lost on the gateway → viewer leg lately (0.0..=1.0).
    pub loss: Option<f64>,
}

/// Estimates at or above this are "no limit seen yet" (the estimator's start).
pub const UNLIMITED_BPS: u64 = 20_000_000;
/// Loss on a viewer's own leg above this makes the link weak.
pub const WEAK_LOSS: f64 = 0.05;
/// A link carrying less than this share of the room's stream is weak.
pub const WEAK_SHARE: f64 = 0.8;

/// The cap for the camera, bit/s: the lowest known viewer estimate, never
/// below `floor_bps`; `None` when no viewer limits the room.
pub fn room_cap<'a>(
    links: impl IntoIterator<Item = &'a ViewerLink>,
    floor_bps: u64,
) -> Option<u64> {
    slowest(links).map(|slowest| slowest.max(floor_bps))
}

/// What one viewer's page is told about its own link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkVerdict {
    /// The viewer's own connection cannot carry the stream well.
    pub weak: bool,
    /// This viewer's link is what limits the room's quality now.
    pub limits_room: bool,
}

/// The slowest known link among `links`, bit/s.
pub fn slowest<'a>(links: impl IntoIterator<Item = &'a ViewerLink>) -> Option<u64> {
    links
        .into_iter()
        .filter_map(|link| link.estimate_bps)
        .filter(|bps| *bps < UNLIMITED_BPS)
        .min()
}

/// What one viewer's verdict needs to know of its room.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoomLinks {
    /// What the room's camera sends now, bit/s.
    pub stream_bps: Option<u64>,
    /// The cap in force (REMB to the camera), bit/s.
    pub cap_bps: Option<u64>,
    /// The slowest known viewer link in the room, bit/s.
    pub slowest_bps: Option<u64>,
}

/// A cap this far above what the camera sends does not hold it back.
const CAP_BINDS_WITHIN: f64 = 1.5;

/// Judges `link` against its room: weak when it cannot carry the stream or
/// loses much of it; limiting the room when it is the slowest link and the
/// cap in force actually holds the camera back.
pub fn verdict(link: &ViewerLink, room: RoomLinks) -> LinkVerdict {
    let RoomLinks {
        stream_bps,
        cap_bps,
        slowest_bps,
    } = room;
    let estimate = link.estimate_bps.filter(|bps| *bps < UNLIMITED_BPS);
    let too_slow = match (estimate, stream_bps) {
        (Some(estimate), Some(stream)) => (estimate as f64) < WEAK_SHARE * stream as f64,
        _ => false,
    };
    let lossy = link.loss.is_some_and(|loss| loss > WEAK_LOSS);
    LinkVerdict {
        weak: too_slow || lossy,
        limits_room: estimate.is_some()
            && estimate == slowest_bps
            && cap_bps.is_some_and(|cap| {
                stream_bps.is_none_or(|stream| (cap as f64) <= CAP_BINDS_WITHIN * stream as f64)
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(estimate: Option<u64>) -> ViewerLink {
        ViewerLink {
            estimate_bps: estimate,
            loss: Some(0.0),
        }
    }

    #[test]
    fn the_slowest_viewer_decides_above_the_floor() {
        let floor = 500_000;
        let links = [
            link(Some(50_000_000)),
            link(Some(1_200_000)),
            link(Some(900_000)),
            link(None),
        ];
        assert_eq!(room_cap(&links, floor), Some(900_000));
        let with_a_bad_one = [link(Some(1_200_000)), link(Some(200_000))];
        assert_eq!(
            room_cap(&with_a_bad_one, floor),
            Some(500_000),
            "the floor holds"
        );
        assert_eq!(room_cap(&[link(Some(50_000_000)), link(None)], floor), None);
        assert_eq!(room_cap(&[], floor), None);
    }

    #[test]
    fn the_cap_falls_at_once_and_rises_slowly() {
        let mut smoother = CapSmoother::default();
        assert_eq!(smoother.next(Some(1_000_000), 1.0), Some(1_000_000));
        assert_eq!(smoother.next(Some(600_000), 1.0), Some(600_000));
        assert_eq!(smoother.next(Some(2_000_000), 1.0), Some(660_000));
        assert_eq!(smoother.next(Some(2_000_000), 1.0), Some(726_000));
        assert_eq!(smoother.next(None, 1.0), None);
        assert_eq!(smoother.next(Some(2_000_000), 1.0), Some(2_000_000));
    }

    #[test]
    fn a_link_below_the_stream_or_lossy_is_weak() {
        let room = RoomLinks {
            stream_bps: Some(500_000),
            cap_bps: Some(500_000),
            slowest_bps: Some(200_000),
        };
        let slow = verdict(&link(Some(200_000)), room);
        assert!(slow.weak && slow.limits_room);
        let fine = verdict(&link(Some(2_000_000)), room);
        assert!(!fine.weak && !fine.limits_room);
        let unknown = verdict(&link(None), room);
        assert!(!unknown.weak && !unknown.limits_room);
        let lossy = verdict(
            &ViewerLink {
                estimate_bps: Some(50_000_000),
                loss: Some(0.12),
            },
            RoomLinks {
                cap_bps: None,
                ..room
            },
        );
        assert!(lossy.weak && !lossy.limits_room);
    }

    #[test]
    fn the_slowest_link_limits_the_room_while_the_cap_holds_the_camera_back() {
        let room = RoomLinks {
            stream_bps: Some(840_000),
            cap_bps: Some(900_000),
            slowest_bps: Some(1_020_000),
        };
        // Its estimate has risen past the cap (which rises slowly): it is
        // still the one link holding the room back.
        assert!(verdict(&link(Some(1_020_000)), room).limits_room);
        assert!(
            !verdict(&link(Some(3_000_000)), room).limits_room,
            "a faster colleague does not limit the room"
        );
        let loose_cap = RoomLinks {
            cap_bps: Some(14_000_000),
            ..room
        };
        assert!(
            !verdict(&link(Some(1_020_000)), loose_cap).limits_room,
            "a cap far above the stream holds nothing back"
        );
    }
}
