//! One WebRTC peer connection: the only module that touches webrtc-rs's `rtc`.
//!
//! Everything the SFU needs from a peer goes through [`Peer`]: accept an
//! offer, datagram in, transmit out, write RTP, ask for a keyframe, events.
//! Swapping the sans-IO core (for str0m, say) means rewriting this file.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackResponderBuilder, Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_rtcp_reports, configure_simulcast_extension_headers, configure_twcc_receiver_only,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, CandidateServerReflexiveConfig, RTCIceCandidate,
    RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    TransportLayerNack, nack_pairs_from_sequence_numbers,
};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use samsyn_signaling::media::{Listener, MediaError};

/// What our interceptors share: packets in and out, queued in `self.reads`
/// and `self.writes`, and no timers. Used inside their `Protocol` impls,
/// which write only `handle_read` and `handle_write`.
macro_rules! queued_packets_without_timers {
    () => {
        type Rout = TaggedPacket;
        type Wout = TaggedPacket;
        type Eout = ();
        type Error = Error;
        type Time = Instant;

        fn poll_read(&mut self) -> Option<Self::Rout> {
            self.reads.pop_front()
        }

        fn poll_write(&mut self) -> Option<Self::Wout> {
            self.writes.pop_front()
        }

        fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
            Ok(())
        }

        fn poll_timeout(&mut self) -> Option<Self::Time> {
            None
        }
    };
}

/// `Interceptor` for an interceptor that keeps nothing per stream.
macro_rules! interceptor_without_stream_state {
    ($interceptor:ty) => {
        impl Interceptor for $interceptor {
            fn bind_local_stream(&mut self, _info: &StreamInfo) {}
            fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
            fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
            fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
        }
    };
}

mod budget;
mod counters;
mod estimate;
mod feedback;
mod link_feedback;
mod offer_sdp;
pub mod sdp;
use std::collections::VecDeque;
use std::sync::Arc;

use super::h264_profile::H264Profile;
use super::recovery::{LossRecovery, RecoveryStats};
pub use counters::{WireCounters, WireTap};
pub use estimate::LinkEstimate;
use estimate::ObservedGcc;
pub use feedback::{KeyframeRequestTap, asks_for_keyframe};
use link_feedback::LinkFeedback;
use sdp::Sdp;

/// Audio or video: the kind signaling's SDP check and both SDP readers share.
pub use samsyn_signaling::sdp::MediaKind;

/// A codec as negotiated on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub mime_type: String,
    pub clock_rate: u32,
    pub channels: u16,
    pub fmtp: String,
    pub payload_type: u8,
}

/// A track the publisher sends, as negotiated: what viewers must accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTrack {
    pub kind: MediaKind,
    pub codec: Codec,
    /// `(id, uri)` of the header extensions negotiated for this track.
    pub extensions: Vec<(u8, String)>,
}

/// What a viewer's track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// The room's camera: its video, or the nurse's voice.
    Camera,
    /// One speaker at a time from the room's talk-back.
    Talkback,
}

/// A track the gateway sends to one viewer, as that viewer negotiated it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkTrack {
    pub kind: MediaKind,
    pub feed: Feed,
    pub ssrc: u32,
    pub payload_type: u8,
    pub extensions: Vec<(u8, String)>,
}

/// Where the gateway can be reached: one host candidate per bound socket, and
/// the public addresses a 1:1 NAT maps onto them.
#[derive(Debug, Clone)]
pub struct LocalCandidates {
    pub host: Vec<SocketAddr>,
    pub public: Vec<std::net::IpAddr>,
}

/// What every peer connection of this gateway shares.
#[derive(Debug, Clone)]
pub struct PeerSettings {
    pub candidates: LocalCandidates,
    /// Packets kept per outbound stream to answer NACKs (a power of two).
    pub retransmit_buffer_packets: u16,
    /// NACKs and retransmissions of every peer, for the metrics.
    pub wire_counters: std::sync::Arc<WireCounters>,
}

/// A datagram to put on the wire.
#[derive(Debug)]
pub struct Transmit {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub data: BytesMut,
}

/// What a peer reports to the SFU.
#[derive(Debug)]
pub enum PeerEvent {
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// The connection failed or was closed; the peer can be dropped.
    Gone,
    /// An RTP packet from the publisher, or a specialist's talk-back.
    Rtp(MediaKind, rtp::Packet),
    /// A viewer asked for a keyframe (PLI or FIR).
    KeyframeRequest,
    /// Packets of the camera's video were lost on the uplink and could not
    /// be repaired: only a keyframe restores the picture.
    UnrepairableLoss,
}

/// Header extensions forwarded end to end. Per-hop ones (transport-cc, mid,
/// rid) are regenerated or meaningless per leg and are not in this list.
const FORWARDED_EXTENSIONS: &[&str] = &[
    AUDIO_LEVEL_URI,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
    "urn:3gpp:video-orientation",
];

/// The audio level of each packet (RFC 6464).
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// Audio m-lines one viewing session may offer: the camera's and seven
/// speakers. More are answered as inactive.
const MAX_AUDIO_LINES: usize = 8;

pub struct Peer {
    pc: RTCPeerConnection,
    ufrag: String,
    /// Our ICE password: a STUN check for this peer must be signed with it
    /// before the gateway believes the address it came from.
    ice_pwd: String,
    connected: bool,
    gone: bool,
    /// Payload type → kind of what arrives: the camera's media from a
    /// publisher, the microphone from a specialist.
    inbound: Vec<(u8, MediaKind)>,
    /// Publisher side: the video SSRC, for keyframe requests.
    video_ssrc: Option<u32>,
    /// Viewer side: what this viewer receives.
    sinks: Vec<SinkTrack>,
    /// Publisher side: the payload type of the video's RTX stream.
    rtx_payload: Option<u8>,
    /// Publisher side: NACKs for the camera's lost video packets.
    recovery: LossRecovery,
    /// Events found while handling timers, for the next poll.
    pending: VecDeque<PeerEvent>,
    /// Viewer side: what the viewer's link can take.
    link: Option<Arc<LinkEstimate>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("ufrag", &self.ufrag)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Answers a WHIP offer. Returns the peer, the answer SDP and the tracks
    /// it will send.
    pub fn publisher(
        offer_sdp: String,
        settings: &PeerSettings,
        now: Instant,
    ) -> Result<(Self, String, Vec<SourceTrack>), MediaError> {
        let (offer, parsed) = parse_offer(&offer_sdp)?;
        let mut media_engine = MediaEngine::default();
        media_engine.register_default_codecs().map_err(internal)?;
        for uri in FORWARDED_EXTENSIONS {
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                media_engine
                    .register_header_extension(
                        RTCRtpHeaderExtensionCapability {
                            uri: (*uri).to_owned(),
                        },
                        kind,
                        None,
                    )
                    .map_err(internal)?;
            }
        }
        let pc = build_peer_connection(media_engine, settings, None, &parsed, now)?;
        let mut peer = Self::new(pc);
        let (answer, _) = peer.answer(offer, &settings.candidates, now)?;
        let sources = peer.negotiated_sources();
        if peer.video_ssrc.is_none() {
            // Known before the first packet, so a viewer joining early can
            // already ask for a keyframe.
            peer.video_ssrc = parsed
                .sections_of(MediaKind::Video)
                .find_map(|video| video.ssrcs().first().copied());
        }
        if !sources.iter().any(|s| s.kind == MediaKind::Video) {
            return Err(MediaError::BadOffer(
                "the offer has no video this gateway can receive (H.264 or VP8, sendonly)".into(),
            ));
        }
        peer.inbound = sources
            .iter()
            .map(|s| (s.codec.payload_type, s.kind))
            .collect();
        Ok((peer, answer, sources))
    }

    /// Answers a WHEP offer for a room whose publisher sends `sources`.
    ///
    /// The offer's video m-line and first audio m-line carry the camera (not
    /// for [`Listener::Camera`], which hears only the speakers); every other
    /// audio m-line is a talk-back slot ([`Feed::Talkback`]). A specialist's
    /// first audio m-line, offered `sendrecv`, also brings their microphone.
    pub fn viewer(
        offer_sdp: String,
        sources: &[SourceTrack],
        listener: Listener,
        settings: &PeerSettings,
        now: Instant,
    ) -> Result<(Self, String), MediaError> {
        let (offer, parsed) = parse_offer(&offer_sdp)?;
        let plan = ViewerPlan::new(&parsed, sources, listener)?;
        let media_engine = plan.media_engine()?;
        let link = Arc::new(LinkEstimate::default());
        let pc = build_peer_connection(media_engine, settings, Some(link.clone()), &parsed, now)?;
        let mut peer = Self::new(pc);
        peer.link = Some(link);
        peer.add_viewer_tracks(&plan)?;
        let (answer, _) = peer.answer(offer, &settings.candidates, now)?;
        peer.sinks = peer.negotiated_sinks(plan.video_source, &plan.audio.codec, listener)?;
        if listener.may_speak() {
            peer.inbound = microphone_inbound(&peer.sinks);
        }
        Ok((peer, answer))
    }

    /// Adds the tracks a viewer's answer sends: the camera's video, then one
    /// audio track per audio m-line (the camera's audio and talk-back slots).
    fn add_viewer_tracks(&mut self, plan: &ViewerPlan<'_>) -> Result<(), MediaError> {
        let video = plan
            .camera_sources
            .iter()
            .filter(|s| s.kind == MediaKind::Video);
        let audio_tracks = std::iter::repeat_n(&plan.audio, plan.audio_lines);
        for (index, source) in video.chain(audio_tracks).enumerate() {
            let label = match source.kind {
                MediaKind::Video => "video".to_owned(),
                MediaKind::Audio => format!("audio-{index}"),
            };
            let track = MediaStreamTrack::new(
                "samsyn".to_owned(),
                format!("samsyn-{label}"),
                format!("samsyn-{label}"),
                rtc_kind(source.kind),
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(rand::random::<u32>()),
                        ..Default::default()
                    },
                    codec: rtc_codec(&source.codec, Vec::new()),
                    ..Default::default()
                }],
            );
            self.pc.add_track(track).map_err(internal)?;
        }
        Ok(())
    }

    fn new(pc: RTCPeerConnection) -> Self {
        Self {
            pc,
            ufrag: String::new(),
            ice_pwd: String::new(),
            connected: false,
            gone: false,
            inbound: Vec::new(),
            video_ssrc: None,
            sinks: Vec::new(),
            rtx_payload: None,
            recovery: LossRecovery::default(),
            pending: VecDeque::new(),
            link: None,
        }
    }

    /// Answers `offer`: the answer as text and as read back.
    fn answer(
        &mut self,
        offer: RTCSessionDescription,
        candidates: &LocalCandidates,
        now: Instant,
    ) -> Result<(String, Sdp), MediaError> {
        self.pc
            .set_remote_description(now, offer)
            .map_err(bad_offer)?;
        for init in candidate_inits(candidates)? {
            self.pc.add_local_candidate(init).map_err(internal)?;
        }
        // The empty candidate ends gathering: the answer carries all of them.
        self.pc
            .add_local_candidate(RTCIceCandidateInit::default())
            .map_err(internal)?;
        let answer = self.pc.create_answer(None).map_err(bad_offer)?;
        self.pc
            .set_local_description(now, answer)
            .map_err(bad_offer)?;
        let sdp = self
            .pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or_else(|| internal("no local description after answering"))?;
        let answer = Sdp::parse(&sdp)
            .map_err(|e| internal(format!("the answer rtc wrote does not read back: {e}")))?;
        self.ufrag = answer
            .ice_ufrag()
            .ok_or_else(|| internal("the answer has no ice-ufrag"))?
            .to_owned();
        self.ice_pwd = answer
            .ice_pwd()
            .ok_or_else(|| internal("the answer has no ice-pwd"))?
            .to_owned();
        Ok((sdp, answer))
    }

    /// The tracks a publisher sends, from the receivers negotiation created.
    fn negotiated_sources(&mut self) -> Vec<SourceTrack> {
        let receiver_ids: Vec<_> = self.pc.get_receivers().collect();
        let mut sources = Vec::new();
        for id in receiver_ids {
            let Some(mut receiver) = self.pc.rtp_receiver(id) else {
                continue;
            };
            let kind = match receiver.track().kind() {
                RtpCodecKind::Audio => MediaKind::Audio,
                RtpCodecKind::Video => MediaKind::Video,
                _ => continue,
            };
            if kind == MediaKind::Video {
                self.video_ssrc = receiver.track().ssrcs().next();
            }
            let params = receiver.get_parameters().rtp_parameters.clone();
            if kind == MediaKind::Video {
                self.rtx_payload = rtx_payload_for(&params.codecs);
            }
            // The first codec that is not a repair stream is what the camera sends.
            let Some(codec) = params.codecs.iter().find(|c| {
                let mime = c.rtp_codec.mime_type.to_ascii_lowercase();
                !mime.ends_with("/rtx") && !mime.contains("fec") && !mime.ends_with("/red")
            }) else {
                continue;
            };
            sources.push(SourceTrack {
                kind,
                codec: Codec {
                    mime_type: codec.rtp_codec.mime_type.clone(),
                    clock_rate: codec.rtp_codec.clock_rate,
                    channels: codec.rtp_codec.channels,
                    fmtp: codec.rtp_codec.sdp_fmtp_line.clone(),
                    payload_type: codec.payload_type,
                },
                extensions: params
                    .header_extensions
                    .iter()
                    .filter(|e| FORWARDED_EXTENSIONS.contains(&e.uri.as_str()))
                    .map(|e| (e.id as u8, e.uri.clone()))
                    .collect(),
            });
        }
        sources
    }

    /// What this viewer receives, or why it cannot: the camera's video
    /// (`video_source`), and audio in `audio` on every audio m-line.
    fn negotiated_sinks(
        &mut self,
        video_source: Option<&SourceTrack>,
        audio: &Codec,
        listener: Listener,
    ) -> Result<Vec<SinkTrack>, MediaError> {
        let sender_ids: Vec<_> = self.pc.get_senders().collect();
        let mut sinks = Vec::new();
        let mut camera_audio_taken = listener == Listener::Camera;
        for id in sender_ids {
            let Some(mut sender) = self.pc.rtp_sender(id) else {
                continue;
            };
            let kind = match sender.track().kind() {
                RtpCodecKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            let Some(ssrc) = sender.track().ssrcs().next() else {
                continue;
            };
            let params = sender.get_parameters().rtp_parameters.clone();
            let expected = match kind {
                MediaKind::Video => match video_source {
                    Some(source) => &source.codec,
                    None => continue,
                },
                MediaKind::Audio => audio,
            };
            let Some(codec) = params.codecs.iter().find(|c| {
                c.rtp_codec
                    .mime_type
                    .eq_ignore_ascii_case(&expected.mime_type)
            }) else {
                if let (MediaKind::Video, Some(source)) = (kind, video_source) {
                    return Err(cannot_receive_the_cameras_video(source));
                }
                continue;
            };
            if let (MediaKind::Video, Some(source)) = (kind, video_source)
                && let Some(reason) = self.undecodable_h264(source, codec.payload_type)
            {
                return Err(MediaError::CodecMismatch(reason));
            }
            let feed = match kind {
                MediaKind::Audio if camera_audio_taken => Feed::Talkback,
                MediaKind::Audio | MediaKind::Video => {
                    camera_audio_taken |= kind == MediaKind::Audio;
                    Feed::Camera
                }
            };
            sinks.push(SinkTrack {
                kind,
                feed,
                ssrc,
                payload_type: codec.payload_type,
                extensions: params
                    .header_extensions
                    .iter()
                    .map(|e| (e.id as u8, e.uri.clone()))
                    .collect(),
            });
        }
        match listener {
            Listener::Camera if !sinks.iter().any(|s| s.kind == MediaKind::Audio) => {
                Err(no_talkback_audio())
            }
            Listener::Specialist | Listener::Observer
                if !sinks.iter().any(|s| s.kind == MediaKind::Video) =>
            {
                Err(MediaError::CodecMismatch(
                    "the offer has no video m-line that can receive the camera's stream \
                     (it must be recvonly or sendrecv and offer the same codec)"
                        .into(),
                ))
            }
            _ => Ok(sinks),
        }
    }

    /// Why this viewer cannot decode the camera's H.264, judged from the
    /// fmtp it offered for payload type `pt`; `None` when it can.
    fn undecodable_h264(&self, source: &SourceTrack, pt: u8) -> Option<String> {
        let camera = H264Profile::from_fmtp(&source.codec.fmtp)?;
        let offer = Sdp::parse(&self.pc.remote_description()?.sdp).ok()?;
        let viewer_fmtp = offer
            .sections_of(MediaKind::Video)
            .find_map(|video| video.fmtp(pt))?;
        let viewer = H264Profile::from_fmtp(&viewer_fmtp)?;
        (!camera.decodable_by(viewer)).then(|| {
            format!(
                "this viewer offered H.264 profile-level-id {:02x}{:02x}.. but the camera sends \
                 {:02x}{:02x}..; use a browser that decodes it (Chrome, Edge, Firefox)",
                viewer.profile_idc, viewer.constraints, camera.profile_idc, camera.constraints
            )
        })
    }

    /// Our ICE username fragment: STUN requests for this peer carry it.
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// Our ICE password, the key of this peer's STUN checks.
    pub fn ice_pwd(&self) -> &str {
        &self.ice_pwd
    }

    /// The tracks a viewer receives.
    pub fn sinks(&self) -> &[SinkTrack] {
        &self.sinks
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Feeds one datagram received on `local` from `remote`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) {
        let result = self.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr: local,
                peer_addr: remote,
                ecn: None,
                transport_protocol: TransportProtocol::UDP,
            },
            message: BytesMut::from(data),
        });
        if let Err(err) = result {
            tracing::debug!(ufrag = %self.ufrag, "datagram not accepted: {err}");
        }
    }

    /// The next datagram this peer wants sent.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.pc.poll_write().map(|msg| Transmit {
            local: msg.transport.local_addr,
            remote: msg.transport.peer_addr,
            data: msg.message,
        })
    }

    /// The next thing that happened on this peer.
    pub fn poll_event(&mut self, now: Instant) -> Option<PeerEvent> {
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event {
                tracing::debug!(ufrag = %self.ufrag, "peer connection {state}");
                match state {
                    RTCPeerConnectionState::Connected if !self.connected => {
                        self.connected = true;
                        return Some(PeerEvent::Connected);
                    }
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                        if !self.gone =>
                    {
                        self.gone = true;
                        return Some(PeerEvent::Gone);
                    }
                    _ => {}
                }
            }
        }
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
            match message {
                RTCMessage::RtpPacket(_, packet) => {
                    let packet = match self.rtx_payload {
                        Some(rtx) if packet.header.payload_type == rtx => {
                            match self.unwrap_retransmission(packet) {
                                Some(packet) => packet,
                                None => continue,
                            }
                        }
                        _ => packet,
                    };
                    let kind = self
                        .inbound
                        .iter()
                        .find(|(pt, _)| *pt == packet.header.payload_type)
                        .map(|(_, kind)| *kind);
                    if let Some(kind) = kind {
                        if kind == MediaKind::Video {
                            self.video_ssrc = Some(packet.header.ssrc);
                            self.recovery.on_packet(now, packet.header.sequence_number);
                        }
                        return Some(PeerEvent::Rtp(kind, packet));
                    }
                }
                RTCMessage::RtcpPacket(_, packets) if asks_for_keyframe(&packets) => {
                    return Some(PeerEvent::KeyframeRequest);
                }
                _ => {}
            }
        }
        None
    }

    /// Sends a forwarded packet on sink `index`: `header` already rewritten
    /// for this viewer, `payload` shared with every other viewer.
    pub fn send_rtp(
        &mut self,
        now: Instant,
        index: usize,
        header: rtp::header::Header,
        payload: Bytes,
    ) {
        if index >= self.sinks.len() {
            return;
        }
        // rtc 0.21 routes a written packet by its SSRC and ignores the track
        // id (peer_connection/handler/mod.rs, handle_write): an empty one
        // spares an allocation and a copy per packet per viewer.
        let message = RTCMessage::RtpPacket(String::new(), rtp::Packet { header, payload });
        if let Err(err) = self.pc.handle_write(TaggedRTCMessage { now, message }) {
            tracing::trace!(ufrag = %self.ufrag, "forwarding failed: {err}");
        }
    }

    /// Asks the publisher for a keyframe (RTCP PLI).
    pub fn request_keyframe(&mut self, now: Instant) {
        let Some(media_ssrc) = self.video_ssrc else {
            return;
        };
        let pli = PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        self.write_video_rtcp(now, Box::new(pli), "keyframe request");
    }

    /// Tells the publisher the most the room's viewers can take (REMB).
    pub fn send_receiver_estimate(&mut self, now: Instant, bps: u64) {
        let Some(media_ssrc) = self.video_ssrc else {
            return;
        };
        let remb = ReceiverEstimatedMaximumBitrate {
            sender_ssrc: 0,
            bitrate: bps as f32,
            ssrcs: vec![media_ssrc],
        };
        self.write_video_rtcp(now, Box::new(remb), "receiver estimate");
    }

    /// How the camera's uplink losses were repaired so far.
    pub fn recovery_stats(&self) -> RecoveryStats {
        self.recovery.stats()
    }

    /// Viewer side: what this viewer's link can take, as far as known.
    pub fn link_estimate(&self) -> Option<&LinkEstimate> {
        self.link.as_deref()
    }

    fn write_video_rtcp(&mut self, now: Instant, packet: Box<dyn rtc::rtcp::Packet>, what: &str) {
        // Before DTLS there are no SRTP keys: rtc would drop the packet with
        // a warning in the hospital's log. Nothing is lost: a camera's first
        // frame is a keyframe, and estimates and NACKs follow its packets.
        if !self.connected {
            tracing::debug!(ufrag = %self.ufrag, "{what} not sent: not connected yet");
            return;
        }
        let receiver_ids: Vec<_> = self.pc.get_receivers().collect();
        for id in receiver_ids {
            if let Some(mut receiver) = self.pc.rtp_receiver(id)
                && receiver.track().kind() == RtpCodecKind::Video
            {
                if let Err(err) = receiver.write_rtcp(now, vec![packet]) {
                    tracing::debug!(ufrag = %self.ufrag, "{what} not sent: {err}");
                }
                return;
            }
        }
    }

    /// An RTX packet (RFC 4588) as the packet it repairs: the original
    /// sequence number from the first two payload bytes, the camera's SSRC and
    /// payload type. Padding-only RTX (bandwidth probes) yields `None`.
    fn unwrap_retransmission(&self, mut packet: rtp::Packet) -> Option<rtp::Packet> {
        if packet.payload.len() <= 2 {
            return None;
        }
        let (media_ssrc, media_payload) = (
            self.video_ssrc?,
            self.inbound
                .iter()
                .find(|(_, kind)| *kind == MediaKind::Video)
                .map(|(pt, _)| *pt)?,
        );
        let original = u16::from_be_bytes([packet.payload[0], packet.payload[1]]);
        packet.header.sequence_number = original;
        packet.header.ssrc = media_ssrc;
        packet.header.payload_type = media_payload;
        packet.header.padding = false;
        packet.payload = packet.payload.slice(2..);
        Some(packet)
    }

    /// NACKs what the camera's video is missing, and reports losses that can
    /// no longer be repaired.
    fn recover_losses(&mut self, now: Instant) {
        let due = self.recovery.poll(now);
        if let (false, Some(media_ssrc)) = (due.nack.is_empty(), self.video_ssrc) {
            let nack = TransportLayerNack {
                sender_ssrc: 0,
                media_ssrc,
                nacks: nack_pairs_from_sequence_numbers(&due.nack),
            };
            self.write_video_rtcp(now, Box::new(nack), "NACK");
        }
        if due.given_up > 0 {
            tracing::debug!(ufrag = %self.ufrag, packets = due.given_up, "camera packets lost for good");
            self.pending.push_back(PeerEvent::UnrepairableLoss);
        }
    }

    /// True when `ufrag` is the remote side's current ICE ufrag (so a PATCH
    /// carrying it is trickle, not an ICE restart).
    pub fn remote_ufrag_is(&self, ufrag: &str) -> bool {
        self.pc
            .remote_description()
            .and_then(|d| Sdp::parse(&d.sdp).ok())
            .is_none_or(|current| current.ice_ufrag().is_none_or(|current| current == ufrag))
    }

    /// Restarts ICE with the remote side's new credentials (RFC 9725 §4.4.2):
    /// renegotiates with the current offer under the new ufrag and password,
    /// and returns the answer as an `application/trickle-ice-sdpfrag`.
    pub fn restart_ice(
        &mut self,
        now: Instant,
        remote_ufrag: &str,
        remote_pwd: &str,
        candidates: &LocalCandidates,
    ) -> Result<String, MediaError> {
        let current = self
            .pc
            .remote_description()
            .ok_or_else(|| internal("no remote description to restart"))?;
        let offer = Sdp::parse(&current.sdp)
            .map_err(|e| internal(format!("the current offer does not read back: {e}")))?
            .with_ice_credentials(remote_ufrag, remote_pwd)
            .to_text();
        let (_, answer) = parse_offer(&offer)
            .and_then(|(offer, _)| self.answer(offer, candidates, now))
            .map_err(|e| MediaError::BadFragment(e.to_string()))?;
        Ok(answer.ice_fragment())
    }

    /// Applies a trickled remote candidate (`a=candidate:` line content).
    pub fn add_remote_candidate(&mut self, candidate: String) -> Result<(), MediaError> {
        self.pc
            .add_remote_candidate(RTCIceCandidateInit {
                candidate,
                sdp_mline_index: Some(0),
                ..Default::default()
            })
            .map_err(|e| MediaError::BadFragment(e.to_string()))
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [self.pc.poll_timeout(), self.recovery.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Err(err) = self.pc.handle_timeout(now) {
            tracing::debug!(ufrag = %self.ufrag, "timeout handling failed: {err}");
        }
        if self.recovery.deadline().is_some_and(|due| due <= now) {
            self.recover_losses(now);
        }
    }

    /// Closes the connection; pending datagrams (DTLS close) can still be polled.
    pub fn close(&mut self) {
        let _ = self.pc.close();
        self.gone = true;
    }
}

/// The peer connection with the gateway's interceptor chain:
///
/// - viewers' NACKs are answered from what was sent to them (the NACK
///   responder, its buffer sized from the configuration), within a budget
///   ([`budget`]) so repairs cannot swamp a congested viewer;
/// - the camera's losses are NACKed by the peer itself ([`LossRecovery`]),
///   which also knows when a loss is beyond repair; its RTX stream is
///   unwrapped into the original packets;
/// - transport-wide feedback (TWCC) goes to the camera for its congestion
///   control; for a viewer (`link` given), what the gateway sends is numbered
///   and the viewer's feedback drives a GCC estimate of its link
///   ([`link_feedback`]).
fn build_peer_connection(
    mut media_engine: MediaEngine,
    settings: &PeerSettings,
    link: Option<Arc<LinkEstimate>>,
    offer: &Sdp,
    now: Instant,
) -> Result<RTCPeerConnection, MediaError> {
    for parameter in ["", "pli"] {
        media_engine.register_feedback(
            RTCPFeedback {
                typ: "nack".to_owned(),
                parameter: parameter.to_owned(),
            },
            RtpCodecKind::Video,
        );
    }
    let mut registry = Registry::new()
        .with(KeyframeRequestTap::slot(), KeyframeRequestTap::default())
        .with(
            WireTap::slot(),
            WireTap::new(settings.wire_counters.clone()),
        )
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new()
                .with_size(settings.retransmit_buffer_packets)
                .build(),
        );
    if let Some(link) = link {
        registry = registry
            .with(
                budget::RetransmitBudget::slot(),
                budget::RetransmitBudget::default(),
            )
            .with(
                LinkFeedback::slot(),
                LinkFeedback::new(ObservedGcc::new(link)),
            );
    }
    configure_simulcast_extension_headers(&mut media_engine).map_err(internal)?;
    let registry = configure_twcc_receiver_only(registry, &mut media_engine).map_err(internal)?;
    let registry = configure_rtcp_reports(registry);
    // ICE-lite: the gateway has public host candidates and answers checks;
    // browsers and webrtcbin do the checking. DTLS server: clients offer
    // `actpass`, and being the server saves one round trip; an offer that
    // insists on being the server (`passive`) gets `active` (RFC 5763 §5).
    // No mDNS: browsers hide their host addresses behind `.local` names,
    // but an ICE-lite gateway learns each browser's address from its checks
    // (peer-reflexive), and must not send multicast queries into the
    // hospital network.
    let setting_engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .with_lite(true)
        .with_answering_dtls_role(offer_sdp::answering_dtls_role(offer))
        .build();
    RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(setting_engine)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .build(now)
        .map_err(internal)
}

/// A client's offer as rtc will read it (see [`offer_sdp`]), and as the
/// gateway reads it; or why it is not one.
/// What a viewer's session carries, read from its offer and the camera's
/// tracks before anything is negotiated.
struct ViewerPlan<'a> {
    /// The camera's tracks this session receives: none for the camera's own
    /// talk-back session, which hears only the speakers.
    camera_sources: &'a [SourceTrack],
    video_source: Option<&'a SourceTrack>,
    /// The Opus every audio m-line negotiates (talk-back included): the
    /// camera's when it has one.
    audio: SourceTrack,
    /// The offer's audio m-lines, at most [`MAX_AUDIO_LINES`].
    audio_lines: usize,
}

impl<'a> ViewerPlan<'a> {
    /// Refuses an offer the session could not serve, saying why.
    fn new(
        offer: &Sdp,
        sources: &'a [SourceTrack],
        listener: Listener,
    ) -> Result<Self, MediaError> {
        let camera_sources: &[SourceTrack] = match listener {
            Listener::Camera => &[],
            Listener::Specialist | Listener::Observer => sources,
        };
        let audio_lines = offer
            .sections_of(MediaKind::Audio)
            .count()
            .min(MAX_AUDIO_LINES);
        if listener == Listener::Camera && audio_lines == 0 {
            return Err(no_talkback_audio());
        }
        let video_source = camera_sources.iter().find(|s| s.kind == MediaKind::Video);
        // rtc would refuse such an offer with "RTPSender created with no
        // codecs"; the viewer deserves to hear which codec it lacks.
        if let Some(source) = video_source
            && !offer_sdp::offers_codec(offer, &source.codec.mime_type)
        {
            return Err(cannot_receive_the_cameras_video(source));
        }
        // Talk-back uses the camera's Opus when there is one, so every
        // audio m-line of the session negotiates the same codec.
        let audio = sources
            .iter()
            .find(|s| s.kind == MediaKind::Audio)
            .cloned()
            .unwrap_or_else(talkback_source);
        Ok(Self {
            camera_sources,
            video_source,
            audio,
            audio_lines,
        })
    }

    /// The codecs and header extensions the session negotiates: the
    /// camera's tracks, and Opus for talk-back when the camera sends none.
    fn media_engine(&self) -> Result<MediaEngine, MediaError> {
        let mut media_engine = MediaEngine::default();
        let mut registered: Vec<&SourceTrack> = self.camera_sources.iter().collect();
        if self.audio_lines > 0 && !registered.iter().any(|s| s.kind == MediaKind::Audio) {
            registered.push(&self.audio);
        }
        for source in registered {
            register_viewer_source(&mut media_engine, source)?;
        }
        Ok(media_engine)
    }
}

/// Registers `source`'s codec and header extensions for a viewer.
fn register_viewer_source(
    media_engine: &mut MediaEngine,
    source: &SourceTrack,
) -> Result<(), MediaError> {
    let kind = rtc_kind(source.kind);
    let feedback = if source.kind == MediaKind::Video {
        video_feedback()
    } else {
        Vec::new()
    };
    media_engine
        .register_codec(
            RTCRtpCodecParameters {
                rtp_codec: rtc_codec(&source.codec, feedback),
                payload_type: source.codec.payload_type,
            },
            kind,
        )
        .map_err(internal)?;
    let mut uris: Vec<&str> = source.extensions.iter().map(|(_, u)| u.as_str()).collect();
    if source.kind == MediaKind::Audio && !uris.contains(&AUDIO_LEVEL_URI) {
        // Speakers' levels: forwarded, and read for "who is speaking".
        uris.push(AUDIO_LEVEL_URI);
    }
    for uri in uris {
        media_engine
            .register_header_extension(
                RTCRtpHeaderExtensionCapability {
                    uri: uri.to_owned(),
                },
                kind,
                None,
            )
            .map_err(internal)?;
    }
    Ok(())
}

/// What a specialist's microphone arrives in: the session's Opus, on its
/// first audio m-line.
fn microphone_inbound(sinks: &[SinkTrack]) -> Vec<(u8, MediaKind)> {
    sinks
        .iter()
        .filter(|sink| sink.kind == MediaKind::Audio)
        .map(|sink| (sink.payload_type, MediaKind::Audio))
        .take(1)
        .collect()
}

fn parse_offer(sdp: &str) -> Result<(RTCSessionDescription, Sdp), MediaError> {
    let mut offer = Sdp::parse(sdp)
        .map_err(|e| MediaError::BadOffer(format!("it is not a readable SDP offer: {e}")))?;
    offer_sdp::prepare_for_rtc(&mut offer).map_err(MediaError::BadOffer)?;
    let for_rtc = RTCSessionDescription::offer(offer.to_text()).map_err(bad_offer)?;
    Ok((for_rtc, offer))
}

/// A viewer's offer has no codec the camera sends. (Signaling adds which
/// players can.)
fn cannot_receive_the_cameras_video(source: &SourceTrack) -> MediaError {
    let codec = &source.codec;
    let switch = if codec.mime_type.eq_ignore_ascii_case("video/VP8") {
        "samsyn-capture sends H.264 unless started with --codec vp8"
    } else {
        "samsyn-capture sends VP8 when started with --codec vp8"
    };
    let fmtp = if codec.fmtp.is_empty() {
        String::new()
    } else {
        format!(" {}", codec.fmtp)
    };
    MediaError::CodecMismatch(format!(
        "this viewer cannot receive the camera's video ({}{fmtp}); {switch}",
        codec.mime_type
    ))
}

fn candidate_inits(candidates: &LocalCandidates) -> Result<Vec<RTCIceCandidateInit>, MediaError> {
    let mut inits = Vec::new();
    for host in &candidates.host {
        let candidate = CandidateHostConfig {
            base_config: CandidateConfig {
                network: "udp".to_owned(),
                address: host.ip().to_string(),
                port: host.port(),
                component: 1,
                ..Default::default()
            },
            ..Default::default()
        }
        .new_candidate_host()
        .map_err(internal)?;
        inits.push(
            RTCIceCandidate::from(&candidate)
                .to_json()
                .map_err(internal)?,
        );
        // A 1:1 NAT maps a public address onto this host address.
        for public in &candidates.public {
            let candidate = CandidateServerReflexiveConfig {
                base_config: CandidateConfig {
                    network: "udp".to_owned(),
                    address: public.to_string(),
                    port: host.port(),
                    component: 1,
                    ..Default::default()
                },
                rel_addr: host.ip().to_string(),
                rel_port: host.port(),
                ..Default::default()
            }
            .new_candidate_server_reflexive()
            .map_err(internal)?;
            inits.push(
                RTCIceCandidate::from(&candidate)
                    .to_json()
                    .map_err(internal)?,
            );
        }
    }
    Ok(inits)
}

/// The payload type of the RTX codec that repairs the first non-repair
/// codec in `codecs` (its `apt`).
fn rtx_payload_for(codecs: &[RTCRtpCodecParameters]) -> Option<u8> {
    let media = codecs.iter().find(|c| {
        let mime = c.rtp_codec.mime_type.to_ascii_lowercase();
        !mime.ends_with("/rtx") && !mime.contains("fec") && !mime.ends_with("/red")
    })?;
    codecs
        .iter()
        .filter(|c| c.rtp_codec.mime_type.to_ascii_lowercase().ends_with("/rtx"))
        .find(|c| {
            c.rtp_codec
                .sdp_fmtp_line
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("apt="))
                .any(|apt| apt.parse::<u8>().ok() == Some(media.payload_type))
        })
        .map(|c| c.payload_type)
}

fn video_feedback() -> Vec<RTCPFeedback> {
    [
        ("nack", ""),
        ("nack", "pli"),
        ("ccm", "fir"),
        ("transport-cc", ""),
    ]
    .into_iter()
    .map(|(typ, parameter)| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    })
    .collect()
}

fn rtc_codec(codec: &Codec, rtcp_feedback: Vec<RTCPFeedback>) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: codec.mime_type.clone(),
        clock_rate: codec.clock_rate,
        channels: codec.channels,
        sdp_fmtp_line: codec.fmtp.clone(),
        rtcp_feedback,
    }
}

/// Talk-back's codec when the camera sends no audio to take it from: Opus
/// as browsers offer it.
fn talkback_source() -> SourceTrack {
    SourceTrack {
        kind: MediaKind::Audio,
        codec: Codec {
            mime_type: "audio/opus".to_owned(),
            clock_rate: 48_000,
            channels: 2,
            fmtp: "minptime=10;useinbandfec=1".to_owned(),
            payload_type: 111,
        },
        extensions: Vec::new(),
    }
}

fn no_talkback_audio() -> MediaError {
    MediaError::BadOffer(
        "a camera's talk-back session needs at least one audio m-line (recvonly, Opus)".into(),
    )
}

fn rtc_kind(kind: MediaKind) -> RtpCodecKind {
    match kind {
        MediaKind::Audio => RtpCodecKind::Audio,
        MediaKind::Video => RtpCodecKind::Video,
    }
}

fn bad_offer(err: impl std::fmt::Display) -> MediaError {
    MediaError::BadOffer(err.to_string())
}

fn internal(err: impl std::fmt::Display) -> MediaError {
    MediaError::Unavailable(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_fragment_carries_credentials_and_candidates() {
        let answer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-lite\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n\
            a=ice-ufrag:abcd\r\na=ice-pwd:secretsecretsecretsecret\r\na=rtpmap:96 H264/90000\r\n\
            a=candidate:1 1 udp 2130706431 10.213.0.1 50000 typ host\r\na=end-of-candidates\r\n";
        let frag = Sdp::parse(answer).unwrap().ice_fragment();
        assert_eq!(
            frag,
            "a=ice-lite\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:abcd\r\n\
             a=ice-pwd:secretsecretsecretsecret\r\n\
             a=candidate:1 1 udp 2130706431 10.213.0.1 50000 typ host\r\na=end-of-candidates\r\n"
        );
    }

    fn settings() -> PeerSettings {
        PeerSettings {
            candidates: LocalCandidates {
                host: vec!["10.213.0.1:50000".parse().unwrap()],
                public: Vec::new(),
            },
            retransmit_buffer_packets: 512,
            wire_counters: Default::default(),
        }
    }

    const WEBRTCBIN: &str = include_str!("../../../tests/data/offers/webrtcbin-whip.sdp");

    #[test]
    fn the_answer_takes_the_dtls_role_the_offer_leaves_open() {
        let now = Instant::now();
        let (peer, answer, _) = Peer::publisher(WEBRTCBIN.to_owned(), &settings(), now).unwrap();
        assert!(answer.contains("a=setup:passive"), "{answer}");
        assert!(!peer.ice_pwd().is_empty());
        assert!(answer.contains(&format!("a=ice-pwd:{}", peer.ice_pwd())));

        // RFC 5763 §5: an offerer that must be the DTLS server gets `active`.
        let passive = WEBRTCBIN.replace("a=setup:actpass", "a=setup:passive");
        let (_, answer, _) = Peer::publisher(passive, &settings(), now).unwrap();
        assert!(answer.contains("a=setup:active"), "{answer}");
        assert!(!answer.contains("a=setup:passive"), "{answer}");
    }
}
