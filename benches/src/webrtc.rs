//! The bench's own WebRTC endpoints: webrtc-rs's sans-IO `rtc` peer
//! connections, each on a UDP socket the bench drives itself.
//!
//! The same path the video takes: ICE (the gateway is ICE-lite, the bench
//! checks), DTLS, SRTP. No decoding, no encoding: senders write RTP packets
//! the bench builds, receivers count what they decrypt.
//!
//! A peer either has a UDP socket of its own (a host candidate), or reaches
//! the gateway only through a TURN relay ([`crate::relay`]: one relayed
//! candidate, nothing else).
//!
//! The codec table, the camera's H.264 track and the host candidate come
//! from [`samsyn_testkit::rtc_client`], shared with the gateway's in-memory
//! SFU tests; the interceptors, ICE pacing and I/O here are the bench's own.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::interceptor_registry::configure_rtcp_reports;
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateRelayConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::sansio::Protocol;
use rtc::shared::TaggedBytesMut;
use rtc::statistics::StatsSelector;
use samsyn_gateway::media::peer::sdp::Sdp;
use samsyn_gateway::media::peer::{KeyframeRequestTap, MediaKind, asks_for_keyframe};
use samsyn_testkit::rtc_client::{self, udp_transport};

use crate::relay::{self, RelayLink};

/// Time between ICE connectivity checks (200 of them: 5 s).
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(25);
/// Largest datagram the bench reads.
const MAX_DATAGRAM: usize = 2048;

/// What a peer connection reported since it was last asked.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PeerState {
    pub connected: bool,
    pub failed: bool,
}

/// One RTP packet a receiving peer decrypted.
#[derive(Debug)]
pub struct Received {
    pub at: Instant,
    pub packet: rtp::Packet,
}

/// How a peer's datagrams travel.
enum Transport {
    /// Its own UDP socket.
    Udp(UdpSocket),
    /// Only through a TURN relay.
    Relay(Box<RelayLink>),
}

/// An `rtc` peer connection on its own non-blocking UDP socket, or relayed.
pub struct ClientPeer {
    pub pc: RTCPeerConnection,
    transport: Transport,
    /// The socket's address, or the relayed address.
    local: SocketAddr,
    state: PeerState,
    /// Keyframe requests (PLI, FIR) received and not yet taken.
    keyframe_requests: u64,
    buf: Vec<u8>,
}

/// Which way the media goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sends one H.264 video track (a camera, or a connection test).
    SendVideo { ssrc: u32 },
    /// Receives audio and video (a WHEP viewer).
    Receive,
}

/// Where a peer's socket lives.
#[derive(Debug, Clone, Default)]
pub struct SocketOptions {
    /// The local address; `None` picks the one the system routes to `towards`.
    pub address: Option<IpAddr>,
    /// Send through this network interface only (`IP_UNICAST_IF`), e.g. to
    /// test the Wi-Fi and the 4G modem of one laptop separately.
    pub interface: Option<String>,
    /// STUN keepalive interval: each answered check is one RTT sample.
    pub keepalive: Option<Duration>,
}

/// A peer connection that has offered and waits for the gateway's answer.
///
/// Its socket is opened only then: the answer names the gateway's media
/// address, and the socket goes on the local address that routes there.
/// The gateway (ICE-lite) learns the socket's address from our checks.
pub struct OfferingPeer {
    pc: RTCPeerConnection,
    options: SocketOptions,
}

impl OfferingPeer {
    /// A peer connection and its SDP offer.
    pub fn offer(direction: Direction, options: &SocketOptions) -> anyhow::Result<(Self, String)> {
        let mut pc = peer_connection(direction, options.keepalive)?;
        let offer = pc.create_offer(None)?;
        pc.set_local_description(Instant::now(), offer)?;
        let sdp = pc
            .local_description()
            .context("no local description after the offer")?
            .sdp;
        Ok((
            Self {
                pc,
                options: options.clone(),
            },
            sdp,
        ))
    }

    /// Applies the gateway's answer, opens the socket and starts ICE.
    pub fn connect(mut self, answer: String) -> anyhow::Result<ClientPeer> {
        let gateway = self.answer(answer)?[0].ip();
        let address = match self.options.address {
            Some(address) => address,
            None => route_source(gateway)?,
        };
        let socket = UdpSocket::bind((address, 0))
            .with_context(|| format!("cannot open a UDP socket on {address}"))?;
        if let Some(interface) = &self.options.interface {
            bind_interface(&socket, interface)?;
        }
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        self.pc
            .add_local_candidate(rtc_client::host_candidate(local)?)?;
        self.pc
            .add_local_candidate(RTCIceCandidateInit::default())?;
        Ok(ClientPeer::new(self.pc, Transport::Udp(socket), local))
    }

    /// Applies the gateway's answer and starts ICE through `link` only: its
    /// relayed address is the one local candidate, after the relay granted
    /// permissions for the gateway's media addresses.
    pub fn connect_relayed(
        mut self,
        answer: String,
        mut link: RelayLink,
    ) -> anyhow::Result<ClientPeer> {
        let gateway = self.answer(answer)?;
        link.permit(&gateway, Instant::now() + relay::SETUP_TIMEOUT)?;
        let relayed = link.relayed_address();
        let base = link.local_address();
        let candidate = CandidateRelayConfig {
            base_config: CandidateConfig {
                network: "udp".into(),
                address: relayed.ip().to_string(),
                port: relayed.port(),
                component: 1,
                ..Default::default()
            },
            rel_addr: base.ip().to_string(),
            rel_port: base.port(),
            ..Default::default()
        }
        .new_candidate_relay()?;
        self.pc
            .add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
        self.pc
            .add_local_candidate(RTCIceCandidateInit::default())?;
        Ok(ClientPeer::new(
            self.pc,
            Transport::Relay(Box::new(link)),
            relayed,
        ))
    }

    /// Sets the gateway's answer; returns its media addresses.
    fn answer(&mut self, answer: String) -> anyhow::Result<Vec<SocketAddr>> {
        let parsed = Sdp::parse(&answer).context("the gateway's answer is not SDP")?;
        let gateway = answer_addresses(&parsed);
        if gateway.is_empty() {
            bail!(
                "the gateway's answer names no media address (a=candidate); check the gateway's \
                 media.addresses"
            );
        }
        self.pc.set_remote_description(
            Instant::now(),
            RTCSessionDescription::answer(answer).context("the gateway's answer is not SDP")?,
        )?;
        Ok(gateway)
    }
}

/// The UDP candidates' addresses in an SDP answer, in order.
fn answer_addresses(answer: &Sdp) -> Vec<SocketAddr> {
    answer
        .sections()
        .flat_map(|section| section.candidates())
        .filter_map(|candidate| candidate.udp_address())
        .collect()
}

impl ClientPeer {
    fn new(pc: RTCPeerConnection, transport: Transport, local: SocketAddr) -> Self {
        Self {
            pc,
            transport,
            local,
            state: PeerState::default(),
            keyframe_requests: 0,
            buf: vec![0; MAX_DATAGRAM],
        }
    }

    /// The socket's address, or the relayed address.
    pub fn local_address(&self) -> SocketAddr {
        self.local
    }

    pub fn state(&self) -> PeerState {
        self.state
    }

    /// Keyframe requests received since the last call.
    pub fn take_keyframe_requests(&mut self) -> u64 {
        std::mem::take(&mut self.keyframe_requests)
    }

    /// True when a timer of the connection is due at `now`.
    pub fn timer_due(&mut self, now: Instant) -> bool {
        let relay_due = match &mut self.transport {
            Transport::Relay(link) => link.poll_timeout().is_some_and(|t| t <= now),
            Transport::Udp(_) => false,
        };
        relay_due || self.pc.poll_timeout().is_some_and(|t| t <= now)
    }

    /// Whether the connection is relayed.
    pub fn is_relayed(&self) -> bool {
        matches!(self.transport, Transport::Relay(_))
    }

    /// Sends what the connection wants sent, reads what arrived, runs due
    /// timers; hands decrypted RTP to `on_rtp`. Never blocks.
    pub fn pump(&mut self, mut on_rtp: impl FnMut(Received)) {
        loop {
            self.send_pending();
            let mut read_any = false;
            match &mut self.transport {
                Transport::Udp(socket) => {
                    while let Ok((len, remote)) = socket.recv_from(&mut self.buf) {
                        read_any = true;
                        let _ = self.pc.handle_read(TaggedBytesMut {
                            now: Instant::now(),
                            transport: udp_transport(self.local, remote),
                            message: BytesMut::from(&self.buf[..len]),
                        });
                    }
                }
                Transport::Relay(link) => {
                    link.drive(Instant::now());
                    while let Some((remote, message)) = link.take_received() {
                        read_any = true;
                        let _ = self.pc.handle_read(TaggedBytesMut {
                            now: Instant::now(),
                            transport: udp_transport(self.local, remote),
                            message,
                        });
                    }
                    if link.failure().is_some() {
                        self.state.failed = true;
                    }
                }
            }
            let now = Instant::now();
            if self.pc.poll_timeout().is_some_and(|t| t <= now) {
                let _ = self.pc.handle_timeout(now);
            }
            self.poll_events();
            while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
                match message {
                    RTCMessage::RtpPacket(_, packet) => on_rtp(Received {
                        at: Instant::now(),
                        packet,
                    }),
                    RTCMessage::RtcpPacket(_, packets) if asks_for_keyframe(&packets) => {
                        self.keyframe_requests += 1;
                    }
                    _ => {}
                }
            }
            if !read_any {
                self.send_pending();
                return;
            }
        }
    }

    fn poll_events(&mut self) {
        while let Some(event) = self.pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) = event {
                match state {
                    RTCPeerConnectionState::Connected => self.state.connected = true,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                        self.state.failed = true;
                    }
                    _ => {}
                }
            }
        }
    }

    fn send_pending(&mut self) {
        match &mut self.transport {
            Transport::Udp(socket) => {
                while let Some(out) = self.pc.poll_write() {
                    // A full send buffer drops the datagram, as a congested line would.
                    let _ = socket.send_to(&out.message, out.transport.peer_addr);
                }
            }
            Transport::Relay(link) => {
                while let Some(out) = self.pc.poll_write() {
                    link.send_to(out.now, &out.message, out.transport.peer_addr);
                }
                link.flush();
            }
        }
    }

    /// Why the relay stopped working, for a relayed peer that failed.
    pub fn relay_failure(&self) -> Option<&str> {
        match &self.transport {
            Transport::Relay(link) => link.failure(),
            Transport::Udp(_) => None,
        }
    }

    /// Writes one RTP packet on the first sender (encrypts it; [`Self::pump`]
    /// or [`Self::flush`] puts it on the wire).
    pub fn write_rtp(&mut self, packet: rtp::Packet) -> anyhow::Result<()> {
        let sender = self.pc.get_senders().next().context("no sender")?;
        self.pc
            .rtp_sender(sender)
            .context("the sender is gone")?
            .write_rtp(Instant::now(), packet)?;
        Ok(())
    }

    /// Puts everything written so far on the wire.
    pub fn flush(&mut self) {
        self.send_pending();
    }

    /// The payload type the gateway accepted for our H.264.
    pub fn negotiated_video_payload_type(&self) -> Option<u8> {
        let answer = Sdp::parse(&self.pc.remote_description()?.sdp).ok()?;
        answer
            .sections_of(MediaKind::Video)
            .find_map(|video| video.codec_named("H264"))
            .map(|h264| h264.payload_type)
    }

    /// The latest STUN round-trip time and how many answered checks it
    /// comes from.
    pub fn ice_rtt(&mut self) -> Option<(Duration, u64)> {
        let report = self.pc.get_stats(Instant::now(), StatsSelector::None);
        report
            .candidate_pairs()
            .filter(|p| p.responses_received > 0)
            .max_by_key(|p| p.responses_received)
            .map(|p| {
                (
                    Duration::from_secs_f64(p.current_round_trip_time.max(0.0)),
                    p.responses_received,
                )
            })
    }

    /// Waits up to `max` for a datagram (or a due timer), so a loop over
    /// [`Self::pump`] does not spin.
    pub fn wait(&self, max: Duration) {
        poll_ready(&[self], max);
    }

    /// What to wait on: the file descriptor, and whether bytes wait to be
    /// written to it (a relay connection the kernel did not take all of).
    fn poll_interest(&self) -> (std::os::fd::RawFd, bool) {
        match &self.transport {
            Transport::Udp(socket) => (socket.as_raw_fd(), false),
            Transport::Relay(link) => (link.fd(), link.wants_write()),
        }
    }

    /// Closes the connection (DTLS close_notify goes out) and gives a
    /// relayed address back.
    pub fn close(&mut self) {
        let _ = self.pc.close();
        self.send_pending();
        if let Transport::Relay(link) = &mut self.transport {
            link.close();
        }
    }
}

/// Waits until one of `peers` has something to read (or, relayed, can take
/// what waits to be written) or `max` has passed; says which.
pub fn poll_ready(peers: &[&ClientPeer], max: Duration) -> Vec<bool> {
    let fds: Vec<_> = peers.iter().map(|p| p.poll_interest()).collect();
    relay::poll_fds(&fds, max)
}

/// The payload types of the first video section of an SDP (`m=video … <pt> <pt>`);
/// none when it has none or does not read as SDP.
pub fn video_payload_types(sdp: &str) -> Vec<u8> {
    Sdp::parse(sdp)
        .ok()
        .and_then(|sdp| Some(sdp.first_section(MediaKind::Video)?.payload_types()))
        .unwrap_or_default()
}

fn peer_connection(
    direction: Direction,
    keepalive: Option<Duration>,
) -> anyhow::Result<RTCPeerConnection> {
    let media_engine = rtc_client::media_engine()?;
    // Reports only: no NACK responder, so a connection test's losses stay
    // losses instead of coming back as retransmissions, and no NACK
    // generator, so viewers measure the loss the gateway's forwarding has.
    // Keyframe requests reach the application, for synthetic cameras.
    let registry = configure_rtcp_reports(
        Registry::new().with(KeyframeRequestTap::slot(), KeyframeRequestTap::default()),
    );
    // Check as browsers do, at once and then paced, not on rtc's 200 ms
    // tick: the time to the first frame is the gateway's, not the bench's.
    // A relayed peer has its relayed candidate only (relay policy): nothing
    // better can come, so its pair is nominated at once, not after rtc's
    // 2 s wait for host candidates (browsers do not wait either).
    let mut settings = SettingEngineBuilder::new()
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(200))
        .with_relay_acceptance_min_wait(Some(Duration::ZERO));
    if keepalive.is_some() {
        settings = settings.with_ice_timeouts(None, None, keepalive);
    }
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings.build())
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .build(Instant::now())?;
    match direction {
        Direction::SendVideo { ssrc } => {
            pc.add_track(rtc_client::h264_track("samsyn-bench", ssrc))?;
        }
        Direction::Receive => {
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                rtc_client::add_recvonly(&mut pc, kind)?;
            }
        }
    }
    Ok(pc)
}

/// The local address the system would send from towards `remote`.
fn route_source(remote: IpAddr) -> anyhow::Result<IpAddr> {
    let unspecified: IpAddr = if remote.is_ipv4() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    };
    let probe = UdpSocket::bind((unspecified, 0))?;
    // No datagram is sent: connect only asks the routing table.
    probe
        .connect((remote, 9))
        .with_context(|| format!("no route to {remote}; check the network connection"))?;
    Ok(probe.local_addr()?.ip())
}

/// Sends through `interface` only (`IP_UNICAST_IF`; needs no privileges).
fn bind_interface(socket: &UdpSocket, interface: &str) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let name = std::ffi::CString::new(interface)?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        bail!("no network interface named {interface}; `ip link` lists them");
    }
    // IP_UNICAST_IF takes the index in network byte order for IPv4.
    let value = index.to_be();
    // SAFETY: a valid socket and a pointer to a u32 of the given length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_UNICAST_IF,
            (&value as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        bail!(
            "cannot send through {interface}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}
