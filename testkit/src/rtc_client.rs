//! What the test clients on webrtc-rs's sans-IO `rtc` core share: the codec
//! table (webrtc-rs's defaults, and H.264 as the capture daemon sends it),
//! a camera's H.264 track, receive-only m-lines, the one host candidate a
//! client announces, and the UDP transport context of a datagram.
//!
//! Two clients use it, for different purposes, and keep the rest their own:
//! the bench's peers on real sockets (`samsyn-bench connect` and `load`:
//! RTCP reports only, paced ICE checks, TURN relays) and the gateway tests'
//! in-memory peers around the SFU on a simulated clock (webrtc-rs's default
//! interceptors, audio level, no sockets). Each picks its own interceptors
//! and settings and drives its own I/O.

use std::net::SocketAddr;

use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{
    RTCRtpTransceiverDirection, RTCRtpTransceiverId, RTCRtpTransceiverInit,
};
use rtc::shared::error::Error;
use rtc::shared::{TransportContext, TransportProtocol};

/// H.264 as the capture daemon sends it (constrained baseline, mode 1).
pub const H264_FMTP: &str =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/// H.264's MIME type in `rtc`'s codec parameters.
pub const H264_MIME: &str = "video/H264";

/// A media engine with webrtc-rs's default codecs (Opus, VP8, H.264, …),
/// which every client here offers.
pub fn media_engine() -> Result<MediaEngine, Error> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_default_codecs()?;
    Ok(media_engine)
}

/// The codec of a camera's H.264 track ([`H264_FMTP`], 90 kHz).
pub fn h264_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: H264_MIME.into(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.into(),
        rtcp_feedback: vec![],
    }
}

/// A camera's one H.264 video track, sent with `ssrc`, in the stream
/// `stream_id`.
pub fn h264_track(stream_id: &str, ssrc: u32) -> MediaStreamTrack {
    MediaStreamTrack::new(
        stream_id.into(),
        "video".into(),
        "video".into(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: h264_codec(),
            ..Default::default()
        }],
    )
}

/// Adds one m-line of `kind` that only receives.
pub fn add_recvonly(
    pc: &mut RTCPeerConnection,
    kind: RtpCodecKind,
) -> Result<RTCRtpTransceiverId, Error> {
    pc.add_transceiver_from_kind(
        kind,
        Some(RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            ..Default::default()
        }),
    )
}

/// A UDP host candidate on `address`, as a client announces its socket.
pub fn host_candidate(address: SocketAddr) -> Result<RTCIceCandidateInit, Error> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".into(),
            address: address.ip().to_string(),
            port: address.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    RTCIceCandidate::from(&candidate).to_json()
}

/// The transport context of a UDP datagram between `local` and `peer`.
pub fn udp_transport(local: SocketAddr, peer: SocketAddr) -> TransportContext {
    TransportContext {
        local_addr: local,
        peer_addr: peer,
        ecn: None,
        transport_protocol: TransportProtocol::UDP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_h264_track_carries_the_daemons_profile_and_the_ssrc() {
        let track = h264_track("cam", 0x5a5a_0001);
        let codings = track.codings();
        assert_eq!(codings.len(), 1);
        assert_eq!(codings[0].rtp_coding_parameters.ssrc, Some(0x5a5a_0001));
        assert_eq!(codings[0].codec.sdp_fmtp_line, H264_FMTP);
        assert_eq!(codings[0].codec.clock_rate, 90_000);
    }

    #[test]
    fn a_host_candidate_names_the_address() {
        let address: SocketAddr = "10.213.0.5:40000".parse().unwrap();
        let init = host_candidate(address).unwrap();
        assert!(
            init.candidate.contains("10.213.0.5 40000 typ host"),
            "{}",
            init.candidate
        );
    }
}
