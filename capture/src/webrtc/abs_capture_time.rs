//! The capture time of each video frame, carried in its RTP packets with the
//! `abs-capture-time` header extension
//! (<http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time>), so
//! receivers can tell how old a frame is when clocks agree (same machine,
//! or NTP-synced machines).
//!
//! GStreamer 1.22 has no element for this extension, so the publisher adds
//! it itself: the offer announces it in the video codec preferences
//! (`extmap-N` caps field, which webrtcbin writes as `a=extmap`), and once
//! the answer accepts it, [`CaptureTimeWriter`] stamps every packet leaving
//! the payloader with the short (8-byte) form: the frame's capture time on
//! the wall clock as 64-bit NTP (UQ32.32). The gateway forwards it; a
//! browser shows it as `captureTimestamp` in
//! `RTCRtpReceiver.getSynchronizationSources()`, and [`crate::probe`] reads
//! it with [`read`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_rtp as gst_rtp;

use samsyn_signaling::sdp::MediaKind;

use super::sdp::Sdp;
use crate::latency::clock;

/// The extension's URI.
pub const URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time";

/// The one-byte header-extension ID the publisher offers for it.
pub const OFFERED_ID: u8 = 3;

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
pub const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// A wall-clock time as 64-bit NTP (UQ32.32 seconds since 1900).
pub fn ntp_from_system_time(time: SystemTime) -> u64 {
    let since_unix = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_unix.as_secs() + NTP_UNIX_OFFSET_SECS;
    let fraction = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (seconds << 32) | fraction
}

/// The wall-clock time of a 64-bit NTP timestamp.
pub fn system_time_from_ntp(ntp: u64) -> SystemTime {
    let seconds = (ntp >> 32).saturating_sub(NTP_UNIX_OFFSET_SECS);
    let nanos = ((ntp & 0xffff_ffff) * 1_000_000_000) >> 32;
    UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_nanos(nanos)
}

/// The extension's payload (short form, no clock offset).
pub fn encode(ntp: u64) -> [u8; 8] {
    ntp.to_be_bytes()
}

/// The capture time in an extension payload (short or extended form).
pub fn decode(data: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = data.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// The ID the SDP (an answer) gives the extension in its first video
/// section, if it negotiated it.
pub fn negotiated_id(sdp: &str) -> Option<u8> {
    let sdp = Sdp::parse(sdp).ok()?;
    let id = sdp.first_section(MediaKind::Video)?.extension_id(URI)?;
    u8::try_from(id).ok()
}

/// The ID RTP caps (`extmap-N` fields) give the extension, if any.
pub fn id_from_caps(caps: &gst::CapsRef) -> Option<u8> {
    let s = caps.structure(0)?;
    s.iter().find_map(|(name, value)| {
        let id = name.strip_prefix("extmap-")?.parse::<u8>().ok()?;
        let uri = value.get::<String>().ok().or_else(|| {
            // With direction or attributes the value is an array whose
            // second entry is the URI.
            value
                .get::<gst::Array>()
                .ok()
                .and_then(|a| a.get(1).and_then(|v| v.get::<String>().ok()))
        })?;
        (uri == URI).then_some(id)
    })
}

/// The capture time an RTP packet carries under extension `id`.
pub fn read(buffer: &gst::BufferRef, id: u8) -> Option<u64> {
    let rtp = gst_rtp::RTPBuffer::from_buffer_readable(buffer).ok()?;
    decode(rtp.extension_onebyte_header(id, 0)?)
}

/// Stamps each packet leaving a payloader with its frame's capture time.
#[derive(Debug, Clone, Default)]
pub struct CaptureTimeWriter {
    id: Arc<AtomicU8>,
}

impl CaptureTimeWriter {
    /// Attaches to `pad` (a payloader's `src`); writes nothing until
    /// [`Self::enable`].
    pub fn attach(pad: &gst::Pad) -> Self {
        let writer = Self::default();
        let id = writer.id.clone();
        // The frame being stamped: (pts, its capture time as NTP), so every
        // packet of one frame carries the same value.
        let current: std::sync::Mutex<Option<(gst::ClockTime, u64)>> = Default::default();
        pad.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |pad, info| {
                let id = id.load(Ordering::Relaxed);
                if id == 0 {
                    return gst::PadProbeReturn::Ok;
                }
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                let mut stamp = |buffer: &mut gst::BufferRef| {
                    let Some(pts) = buffer.pts() else {
                        return;
                    };
                    let ntp = match *current {
                        Some((p, ntp)) if p == pts => ntp,
                        _ => {
                            let Some(age) = clock::age(pad, pts) else {
                                return;
                            };
                            let captured = SystemTime::now()
                                .checked_sub(age)
                                .unwrap_or_else(SystemTime::now);
                            let ntp = ntp_from_system_time(captured);
                            *current = Some((pts, ntp));
                            ntp
                        }
                    };
                    if let Ok(mut rtp) = gst_rtp::RTPBuffer::from_buffer_writable(buffer) {
                        let _ = rtp.add_extension_onebyte_header(id, &encode(ntp));
                    }
                };
                match &mut info.data {
                    Some(gst::PadProbeData::Buffer(buffer)) => stamp(buffer.make_mut()),
                    Some(gst::PadProbeData::BufferList(list)) => {
                        list.make_mut().foreach_mut(|mut buffer, _| {
                            stamp(buffer.make_mut());
                            std::ops::ControlFlow::Continue(Some(buffer))
                        });
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
        writer
    }

    /// Starts stamping with the negotiated extension `id` (1-14).
    pub fn enable(&self, id: u8) {
        if (1..=14).contains(&id) {
            self.id.store(id, Ordering::Relaxed);
        }
    }

    /// Whether packets are being stamped.
    pub fn is_enabled(&self) -> bool {
        self.id.load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_round_trips_to_well_under_a_microsecond() {
        let now = SystemTime::now();
        let back = system_time_from_ntp(ntp_from_system_time(now));
        let diff = match back.duration_since(now) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        assert!(diff < Duration::from_micros(1), "{diff:?}");
    }

    #[test]
    fn the_unix_epoch_is_ntp_second_2208988800() {
        assert_eq!(ntp_from_system_time(UNIX_EPOCH), 2_208_988_800u64 << 32);
        let half = UNIX_EPOCH + Duration::from_millis(500);
        assert_eq!(
            ntp_from_system_time(half) & 0xffff_ffff,
            0x8000_0000,
            "half a second is half the fraction"
        );
        assert_eq!(
            decode(&encode(0x0123_4567_89ab_cdef)),
            Some(0x0123_4567_89ab_cdef)
        );
        assert_eq!(decode(&[1, 2, 3]), None);
    }

    #[test]
    fn negotiated_id_is_read_from_the_video_section_only() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
                   a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
                   a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
                   a=extmap:3/recvonly http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time\r\n";
        assert_eq!(negotiated_id(sdp), Some(3));
        assert_eq!(negotiated_id("v=0\r\nm=video 9 RTP/AVP 96\r\n"), None);
    }
}
