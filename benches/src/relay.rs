//! The bench's own TURN client (RFC 8656): rtc-turn's sans-IO client on a
//! socket the bench drives, so a connection test, or a load test's viewers,
//! reach the gateway only through a relay, as a laptop or a browser on a
//! network that drops UDP does.
//!
//! A peer connection that uses a [`RelayLink`] offers one local candidate,
//! the allocation's relayed address, and sends everything through it: the
//! bench's form of `ice-transport-policy=relay` with only that server.
//!
//! TURN over TCP (`turn:…?transport=tcp`, the gateway's built-in relay) and
//! over UDP (`turn:`, most external relays) are spoken here. TURN over TLS
//! (`turns:`) is not: the bench has no TLS of its own for a TURN connection.
//! The gateway's TLS relay is the same relay behind TLS on the same port, so
//! plain TCP measures what it costs the gateway apart from the encryption.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc::stun::message::TransactionId;
use rtc::turn::client::{Client, ClientConfig, Event};
use samsyn_capture::webrtc::relays::{Kind, ServerUri};
use samsyn_capture::whip::IceServer;
use samsyn_gateway::relay::FrameReader;

/// How long reaching a relay and getting an allocation may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes waiting to go down a TCP connection beyond which new frames are
/// dropped, as a full queue of a congested line would.
const MAX_QUEUED: usize = 1 << 20;
/// Largest read from a relay connection at once.
const READ_CHUNK: usize = 16 * 1024;

/// Why the bench cannot speak TURN over TLS, for errors and reports.
pub const NO_TLS: &str = "the bench's TURN client speaks TURN over UDP and over plain TCP, not \
    over TLS (it has no TLS of its own for a TURN connection)";

/// A relay to go through, with the credentials the gateway handed out.
#[derive(Clone, PartialEq, Eq)]
pub struct RelayServer {
    /// The URI as announced (it holds no credentials).
    pub uri: String,
    pub server: ServerUri,
    pub username: String,
    pub credential: String,
}

impl std::fmt::Debug for RelayServer {
    // The credential is a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayServer")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// Why an announced ICE server is no relay the bench can go through; the
/// message goes into the report as the reason a path was not tested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotARelay {
    #[error("{url} is not a TURN URI: {why}")]
    BadUri { url: String, why: String },
    #[error("{url} is a STUN server: it relays nothing")]
    Stun { url: String },
    #[error("{url} was announced without username and credential")]
    NoCredentials { url: String },
}

impl RelayServer {
    /// An announced ICE server as a relay; the error says why it is none.
    pub fn from_announced(announced: &IceServer) -> Result<Self, NotARelay> {
        let url = || announced.url.clone();
        let server = ServerUri::parse(&announced.url)
            .map_err(|why| NotARelay::BadUri { url: url(), why })?;
        if server.kind == Kind::Stun {
            return Err(NotARelay::Stun { url: url() });
        }
        let (Some(username), Some(credential)) = (
            announced.username.clone().filter(|u| !u.is_empty()),
            announced.credential.clone().filter(|c| !c.is_empty()),
        ) else {
            return Err(NotARelay::NoCredentials { url: url() });
        };
        Ok(Self {
            uri: announced.url.clone(),
            server,
            username,
            credential,
        })
    }

    /// `host:port (TCP)`, for messages.
    pub fn describe(&self) -> String {
        let how = match self.server.kind {
            Kind::TurnTcp => "TCP",
            Kind::TurnTls => "TLS",
            Kind::TurnUdp | Kind::Stun => "UDP",
        };
        format!("{}:{} ({how})", self.server.host, self.server.port)
    }
}

/// The connection to the relay server.
enum Io {
    Udp(UdpSocket),
    Tcp(Stream),
}

/// A TCP connection carrying TURN frames, non-blocking.
struct Stream {
    stream: TcpStream,
    reader: FrameReader,
    out: VecDeque<Bytes>,
    /// Bytes of `out.front()` already written.
    written: usize,
    queued: usize,
    open: bool,
}

impl Stream {
    fn queue(&mut self, frame: Bytes) {
        if self.queued + frame.len() > MAX_QUEUED {
            return;
        }
        self.queued += frame.len();
        self.out.push_back(frame);
    }

    fn flush(&mut self) -> io::Result<()> {
        while let Some(front) = self.out.front() {
            match self.stream.write(&front[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.written += n;
                    if self.written == front.len() {
                        self.queued -= front.len();
                        self.out.pop_front();
                        self.written = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whole frames read so far.
    fn read(&mut self, frames: &mut Vec<Bytes>) -> io::Result<()> {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.open = false;
                    return Ok(());
                }
                Ok(n) => {
                    self.reader.push(&buf[..n]).map_err(io::Error::other)?;
                    while let Some(frame) = self.reader.next_frame().map_err(io::Error::other)? {
                        frames.push(frame);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// An allocation on a TURN relay, and the connection to it.
pub struct RelayLink {
    client: Client,
    io: Io,
    /// The relay server's address.
    server: SocketAddr,
    /// Our end of the connection to it.
    local: SocketAddr,
    describe: String,
    relayed: Option<SocketAddr>,
    /// Permissions asked for and not yet answered.
    pending: HashMap<TransactionId, SocketAddr>,
    permitted: HashSet<SocketAddr>,
    /// Why the last permission was refused.
    refused: Option<String>,
    received: VecDeque<(SocketAddr, BytesMut)>,
    failure: Option<String>,
}

impl RelayLink {
    /// Connects to the relay (from `local` when given) and allocates a
    /// relayed address, within [`SETUP_TIMEOUT`]. The error says what failed
    /// and what to check.
    pub async fn open(server: &RelayServer, local: Option<IpAddr>) -> anyhow::Result<Self> {
        let describe = format!("the relay at {}", server.describe());
        let deadline = Instant::now() + SETUP_TIMEOUT;
        let host = server
            .server
            .host
            .trim_start_matches('[')
            .trim_end_matches(']');
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, server.server.port))
            .await
            .with_context(|| {
                format!("cannot look up {host}; check the name the gateway announces (turn.urls)")
            })?
            .collect();
        let address = addresses
            .iter()
            .find(|a| local.is_none_or(|l| l.is_ipv4() == a.is_ipv4()))
            .or(addresses.first())
            .copied()
            .with_context(|| format!("{host} has no address"))?;
        let bind = local.filter(|l| l.is_ipv4() == address.is_ipv4());
        let (io, local_addr, protocol) = match server.server.kind {
            Kind::TurnTcp => {
                let socket = if address.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()
                } else {
                    tokio::net::TcpSocket::new_v6()
                }?;
                if let Some(ip) = bind {
                    socket
                        .bind(SocketAddr::new(ip, 0))
                        .with_context(|| format!("cannot open a TCP socket on {ip}"))?;
                }
                let stream =
                    match tokio::time::timeout(SETUP_TIMEOUT, socket.connect(address)).await {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => bail!(
                            "cannot reach {describe}: {err}; a firewall between here and {address} \
                         may block TCP to port {}",
                            address.port()
                        ),
                        Err(_) => bail!(
                            "no answer from {describe} within {} s; a firewall between here and \
                         {address} may drop TCP to port {}",
                            SETUP_TIMEOUT.as_secs(),
                            address.port()
                        ),
                    };
                stream.set_nodelay(true)?;
                let stream = stream.into_std()?;
                stream.set_nonblocking(true)?;
                let local_addr = stream.local_addr()?;
                let io = Io::Tcp(Stream {
                    stream,
                    reader: FrameReader::default(),
                    out: VecDeque::new(),
                    written: 0,
                    queued: 0,
                    open: true,
                });
                (io, local_addr, TransportProtocol::TCP)
            }
            Kind::TurnUdp => {
                let ip = bind.unwrap_or(if address.is_ipv4() {
                    std::net::Ipv4Addr::UNSPECIFIED.into()
                } else {
                    std::net::Ipv6Addr::UNSPECIFIED.into()
                });
                let socket = UdpSocket::bind((ip, 0))
                    .with_context(|| format!("cannot open a UDP socket on {ip}"))?;
                socket.set_nonblocking(true)?;
                let local_addr = socket.local_addr()?;
                (Io::Udp(socket), local_addr, TransportProtocol::UDP)
            }
            Kind::TurnTls => bail!("cannot use {describe}: {NO_TLS}"),
            Kind::Stun => bail!("{} is a STUN server: it relays nothing", server.uri),
        };
        let crypto = rtc::crypto::default_provider()
            .map_err(|e| anyhow::anyhow!("no crypto provider for TURN: {e}"))?;
        let client = Client::new(
            ClientConfig {
                stun_serv_addr: String::new(),
                turn_serv_addr: address.to_string(),
                local_addr,
                transport_protocol: protocol,
                username: server.username.clone(),
                password: server.credential.clone(),
                // Learnt from the relay's 401.
                realm: String::new(),
                software: "samsyn-bench".into(),
                // A stream does not lose requests: retransmit only late.
                rto_in_ms: if protocol == TransportProtocol::TCP {
                    1000
                } else {
                    0
                },
                allocation_refresh_interval_cap: None,
            },
            crypto,
        )
        .map_err(|e| anyhow::anyhow!("cannot set up a TURN client for {describe}: {e}"))?;
        let mut link = Self {
            client,
            io,
            server: address,
            local: local_addr,
            describe,
            relayed: None,
            pending: HashMap::new(),
            permitted: HashSet::new(),
            refused: None,
            received: VecDeque::new(),
            failure: None,
        };
        link.client
            .allocate(Instant::now())
            .map_err(|e| anyhow::anyhow!("cannot ask {} for an allocation: {e}", link.describe))?;
        link.wait_until(deadline, |l| l.relayed.is_some())
            .context("no relayed address")?;
        Ok(link)
    }

    /// Asks for permissions to `peers` (the gateway's media addresses) and
    /// waits until the relay has answered them all; at least one must be
    /// granted.
    pub fn permit(&mut self, peers: &[SocketAddr], deadline: Instant) -> anyhow::Result<()> {
        let relayed = self.relayed_address();
        for &peer in peers {
            let asked = self
                .client
                .relay(relayed)
                .and_then(|mut r| r.create_permission(Instant::now(), peer))
                .map_err(|e| {
                    anyhow::anyhow!("cannot ask {} for a permission: {e}", self.describe)
                })?;
            if let Some(tid) = asked {
                self.pending.insert(tid, peer);
            }
        }
        self.wait_until(deadline, |l| l.pending.is_empty())
            .context("no permission to send to the gateway")?;
        if self.permitted.is_empty() {
            bail!(
                "{} refused to relay to the gateway's media address ({}); an external relay \
                 must allow peers in the gateway's network (coturn: no denied-peer-ip for it)",
                self.describe,
                self.refused.as_deref().unwrap_or("no reason given")
            );
        }
        Ok(())
    }

    /// Drives the link until `done` or `deadline`; fails with what went wrong.
    fn wait_until(
        &mut self,
        deadline: Instant,
        done: impl Fn(&Self) -> bool,
    ) -> anyhow::Result<()> {
        loop {
            self.drive(Instant::now());
            if let Some(failure) = &self.failure {
                bail!("{failure}");
            }
            if done(self) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                bail!(
                    "{} did not answer within {} s",
                    self.describe,
                    SETUP_TIMEOUT.as_secs()
                );
            }
            let mut until = deadline;
            if let Some(timer) = self.poll_timeout() {
                until = until.min(timer);
            }
            poll_fds(
                &[(self.fd(), self.wants_write())],
                until
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(50)),
            );
        }
    }

    /// The allocation's relayed address (set once [`RelayLink::open`] returned).
    pub fn relayed_address(&self) -> SocketAddr {
        self.relayed.unwrap_or(self.local)
    }

    /// Our end of the connection to the relay.
    pub fn local_address(&self) -> SocketAddr {
        self.local
    }

    /// Why the link stopped working, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Reads what arrived, runs the client's timers and handles its events;
    /// never blocks. Datagrams from peers wait in [`RelayLink::take_received`].
    pub fn drive(&mut self, now: Instant) {
        let mut frames = Vec::new();
        let read = match &mut self.io {
            Io::Tcp(stream) => {
                let read = stream.read(&mut frames);
                if read.is_ok() && !stream.open && self.failure.is_none() {
                    self.failure = Some(if self.relayed.is_none() {
                        format!(
                            "{} closed the connection before any allocation: a relay takes a \
                             limited number of connections from one address (the gateway's \
                             built-in relay 32); a load test spreads its viewers over several \
                             with --local-address",
                            self.describe
                        )
                    } else {
                        format!("{} closed the connection", self.describe)
                    });
                }
                read
            }
            Io::Udp(socket) => {
                let mut buf = [0u8; 2048];
                loop {
                    match socket.recv_from(&mut buf) {
                        Ok((n, from)) if from == self.server => {
                            frames.push(Bytes::copy_from_slice(&buf[..n]));
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                }
            }
        };
        if let Err(err) = read
            && self.failure.is_none()
        {
            self.failure = Some(format!("the connection to {} broke: {err}", self.describe));
        }
        for frame in frames {
            let _ = self.client.handle_read(TaggedBytesMut {
                now,
                transport: self.context(),
                message: BytesMut::from(&frame[..]),
            });
        }
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            let _ = self.client.handle_timeout(now);
        }
        while let Some(event) = self.client.poll_event() {
            self.on_event(event);
        }
        self.take_transmits();
        self.flush();
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::AllocateResponse(_, relayed) => self.relayed = Some(relayed),
            Event::AllocateError(_, err) => {
                self.failure = Some(allocate_refusal(&self.describe, &err.to_string()));
            }
            Event::CreatePermissionResponse(tid, peer) => {
                self.pending.remove(&tid);
                self.permitted.insert(peer);
            }
            Event::CreatePermissionError(tid, err) => {
                self.pending.remove(&tid);
                self.refused = Some(err.to_string());
            }
            Event::TransactionTimeout(tid) => {
                if self.relayed.is_none() {
                    self.failure = Some(format!(
                        "{} did not answer the allocation request; is it a TURN relay, and is \
                         the port right?",
                        self.describe
                    ));
                } else if self.pending.remove(&tid).is_some() {
                    self.refused = Some("no answer".into());
                }
            }
            Event::DataIndicationOrChannelData(_, from, data) => {
                self.received.push_back((from, data));
            }
            _ => {}
        }
    }

    /// A datagram a peer sent through the relay: (its address, the data).
    pub fn take_received(&mut self) -> Option<(SocketAddr, BytesMut)> {
        self.received.pop_front()
    }

    /// Sends `data` to `peer` through the relay (a ChannelData message once
    /// the channel is bound); [`RelayLink::flush`] puts it on the wire.
    /// Datagrams to peers without a permission are dropped.
    pub fn send_to(&mut self, now: Instant, data: &[u8], peer: SocketAddr) {
        if let Some(relayed) = self.relayed
            && let Ok(mut relay) = self.client.relay(relayed)
        {
            let _ = relay.send_to(now, data, peer);
        }
        self.take_transmits();
    }

    fn take_transmits(&mut self) {
        while let Some(out) = self.client.poll_write() {
            match &mut self.io {
                Io::Tcp(stream) => stream.queue(out.message.freeze()),
                Io::Udp(socket) => {
                    // A full send buffer drops the datagram, as a congested line would.
                    let _ = socket.send_to(&out.message, self.server);
                }
            }
        }
    }

    /// Writes what waits for the connection, as far as it takes it now.
    pub fn flush(&mut self) {
        if let Io::Tcp(stream) = &mut self.io
            && let Err(err) = stream.flush()
            && self.failure.is_none()
        {
            self.failure = Some(format!("the connection to {} broke: {err}", self.describe));
        }
    }

    /// Whether bytes wait for the connection to take them.
    pub fn wants_write(&self) -> bool {
        matches!(&self.io, Io::Tcp(stream) if !stream.out.is_empty())
    }

    /// When the client's next timer is due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// The connection's file descriptor, to wait on.
    pub fn fd(&self) -> RawFd {
        match &self.io {
            Io::Tcp(stream) => stream.stream.as_raw_fd(),
            Io::Udp(socket) => socket.as_raw_fd(),
        }
    }

    /// Gives the allocation back (a refresh with lifetime 0), best effort.
    pub fn close(&mut self) {
        if let Some(relayed) = self.relayed
            && let Ok(mut relay) = self.client.relay(relayed)
        {
            let _ = relay.close(Instant::now());
        }
        self.take_transmits();
        self.flush();
    }

    fn context(&self) -> TransportContext {
        TransportContext {
            local_addr: self.local,
            peer_addr: self.server,
            ecn: None,
            transport_protocol: match self.io {
                Io::Tcp(_) => TransportProtocol::TCP,
                Io::Udp(_) => TransportProtocol::UDP,
            },
        }
    }
}

/// What a refused allocation means, with what to do about it.
fn allocate_refusal(relay: &str, error: &str) -> String {
    let hint = if error.contains("error 401") {
        "it did not accept the credentials the gateway handed out: an external relay must \
         check them with the gateway's secret (coturn: use-auth-secret with \
         static-auth-secret = the gateway's turn.secret_file)"
    } else if error.contains("error 486") {
        "it allows no more allocations from this address: a load test from one machine needs \
         the gateway's limits.max_relay_allocations_per_ip \
         (SAMSYN_LIMITS__MAX_RELAY_ALLOCATIONS_PER_IP) at least the number of relayed viewers"
    } else if error.contains("error 508") {
        "it has no capacity left: raise the gateway's limits.max_relay_allocations \
         (SAMSYN_LIMITS__MAX_RELAY_ALLOCATIONS)"
    } else {
        "see the relay's log"
    };
    format!("{relay} refused an allocation ({error}); {hint}")
}

/// Waits until one of `fds` is ready (readable, or writable where asked)
/// or `max` has passed; says which are.
pub fn poll_fds(fds: &[(RawFd, bool)], max: Duration) -> Vec<bool> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&(fd, write)| libc::pollfd {
            fd,
            events: libc::POLLIN | if write { libc::POLLOUT } else { 0 },
            revents: 0,
        })
        .collect();
    let timeout = i32::try_from(max.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `polled` is a valid array of `polled.len()` pollfd structs for
    // the duration of the call.
    unsafe {
        libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, timeout);
    }
    polled
        .iter()
        .map(|p| p.revents & (libc::POLLIN | libc::POLLOUT | libc::POLLERR | libc::POLLHUP) != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announced(url: &str, user: Option<&str>) -> IceServer {
        IceServer {
            url: url.into(),
            username: user.map(str::to_owned),
            credential: user.map(|_| "secret".to_owned()),
        }
    }

    #[test]
    fn relays_need_a_turn_uri_and_credentials() {
        let relay =
            RelayServer::from_announced(&announced("turn:gw.example:443?transport=tcp", Some("u")))
                .unwrap();
        assert_eq!(relay.describe(), "gw.example:443 (TCP)");
        assert!(!format!("{relay:?}").contains("secret"));
        let err = RelayServer::from_announced(&announced("turn:gw.example", None)).unwrap_err();
        assert!(matches!(err, NotARelay::NoCredentials { .. }), "{err}");
        assert!(err.to_string().contains("without username"), "{err}");
        let err =
            RelayServer::from_announced(&announced("stun:gw.example", Some("u"))).unwrap_err();
        assert!(matches!(err, NotARelay::Stun { .. }), "{err}");
        assert!(err.to_string().contains("STUN"), "{err}");
        let err =
            RelayServer::from_announced(&announced("http://gw.example", Some("u"))).unwrap_err();
        assert!(matches!(err, NotARelay::BadUri { .. }), "{err}");
    }

    #[test]
    fn refusals_name_the_setting_to_change() {
        let text = allocate_refusal(
            "the relay at gw:443 (TCP)",
            "Allocate error (error 486: quota)",
        );
        assert!(
            text.contains("SAMSYN_LIMITS__MAX_RELAY_ALLOCATIONS_PER_IP"),
            "{text}"
        );
        let text = allocate_refusal("the relay at r:3478 (UDP)", "Allocate error (error 401)");
        assert!(text.contains("static-auth-secret"), "{text}");
    }
}
