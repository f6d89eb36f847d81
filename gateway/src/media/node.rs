//! The media node: one UDP port, one thread, one event loop over the [`Sfu`].
//!
//! Signaling talks to it through [`MediaPlane`]; each call becomes a command
//! on a channel, answered by the loop. Datagrams never cross a channel: the
//! loop reads the sockets itself, feeds the SFU with the current time, and
//! sends what the SFU produced, so no task is woken per viewer or per packet.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use samsyn_signaling::RoomId;
use samsyn_signaling::media::{
    LinkReport, Listener, MediaError, MediaEvent, MediaFuture, MediaPath, MediaPlane, MediaStalled,
    SessionAnswer, SessionId, SessionKind, TrafficCount,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::gso;
use super::heartbeat::{Heartbeat, MAX_SLEEP};
use super::peer::{LocalCandidates, Transmit};
use super::probe::ProbeReport;
use super::relay_port::RelayPort;
use super::sfu::{Sfu, SfuSettings, SfuStats};
use crate::metrics::{GatewayMetrics, MetricsUpdate, MetricsUpdater, PathCounts};
use crate::relay::connection::EVENTS_CAPACITY;
use crate::relay::server::is_rtp;
use crate::relay::{CredentialLookup, RelayDoor, RelaySettings, RelayTransport};

/// Largest datagram we accept; WebRTC keeps packets under the path MTU.
const MAX_DATAGRAM: usize = 2048;
/// Datagrams read per wake-up before the loop looks at commands and timers.
const READ_BATCH: usize = 64;

/// Where and how the media node runs.
#[derive(Debug)]
pub struct MediaNodeConfig {
    pub addresses: Vec<IpAddr>,
    pub public_addresses: Vec<IpAddr>,
    pub udp_port: u16,
    pub sfu: SfuSettings,
    /// The built-in TURN relay, if it is on.
    pub relay: Option<RelaySetup>,
    /// Addresses of the external relays (`turn.urls`): media from them
    /// counts as relayed.
    pub external_relay_ips: Vec<IpAddr>,
}

/// How the built-in relay is set up (see [`crate::relay`]).
pub struct RelaySetup {
    /// `allowed_peers` and `relayed_ips` are filled in from the media
    /// addresses when the node starts.
    pub settings: RelaySettings,
    pub credentials: CredentialLookup,
}

impl std::fmt::Debug for RelaySetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelaySetup")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

enum Command {
    Publish(
        RoomId,
        String,
        oneshot::Sender<Result<SessionAnswer, MediaError>>,
    ),
    View(
        RoomId,
        Listener,
        String,
        oneshot::Sender<Result<SessionAnswer, MediaError>>,
    ),
    Patch(
        RoomId,
        SessionKind,
        SessionId,
        String,
        oneshot::Sender<Result<Option<String>, MediaError>>,
    ),
    End(
        RoomId,
        SessionKind,
        SessionId,
        oneshot::Sender<Result<(), MediaError>>,
    ),
    Link(
        RoomId,
        SessionId,
        oneshot::Sender<Result<LinkReport, MediaError>>,
    ),
    /// Room, owner (token id), offer.
    StartConnectionTest(
        RoomId,
        String,
        String,
        oneshot::Sender<Result<SessionAnswer, MediaError>>,
    ),
    /// Room, owner, session.
    ConnectionTestReport(
        RoomId,
        String,
        SessionId,
        oneshot::Sender<Result<ProbeReport, MediaError>>,
    ),
    EndConnectionTest(
        RoomId,
        String,
        SessionId,
        oneshot::Sender<Result<(), MediaError>>,
    ),
    EndRoom(RoomId, oneshot::Sender<Result<(), MediaError>>),
    Rooms(oneshot::Sender<Result<Vec<RoomId>, MediaError>>),
    Traffic(oneshot::Sender<Result<Vec<TrafficCount>, MediaError>>),
}

/// Handle to the running media node; cheap to share.
#[derive(Clone)]
pub struct MediaNode {
    commands: mpsc::Sender<Command>,
    stats: Arc<Mutex<SfuStats>>,
    metrics: Arc<GatewayMetrics>,
    local_addresses: Vec<SocketAddr>,
    heartbeat: Arc<Heartbeat>,
    /// Where the HTTPS listener hands TURN connections; `None` without the
    /// built-in relay.
    relay_door: Option<Arc<RelayDoor>>,
}

impl MediaNode {
    /// Binds the media port on every address and starts the loop thread.
    /// Sessions that connect or end are reported on `events`.
    pub fn start(
        config: MediaNodeConfig,
        events: mpsc::UnboundedSender<MediaEvent>,
    ) -> io::Result<Self> {
        let mut sockets = Vec::new();
        for ip in &config.addresses {
            let addr = SocketAddr::new(*ip, config.udp_port);
            let socket = std::net::UdpSocket::bind(addr).map_err(|err| {
                io::Error::new(
                    err.kind(),
                    format!(
                        "cannot bind the media port {addr}: {err}; choose another with \
                         --media-udp-port / media.udp_port, or check that no other gateway runs"
                    ),
                )
            })?;
            socket.set_nonblocking(true)?;
            super::socket_buffers::enlarge(&socket)?;
            sockets.push(socket);
        }
        if sockets.is_empty() {
            return Err(io::Error::other(
                "no address to offer media on; set media.addresses (--media-address)",
            ));
        }
        let local_addresses = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<io::Result<Vec<_>>>()?;
        let candidates = LocalCandidates {
            host: local_addresses.clone(),
            public: config.public_addresses.clone(),
        };
        let (commands, receiver) = mpsc::channel(256);
        let stats = Arc::new(Mutex::new(SfuStats::default()));
        let loop_stats = stats.clone();
        let metrics = Arc::new(GatewayMetrics::new());
        let loop_metrics = metrics.clone();
        let sfu = Sfu::new(config.sfu, candidates);
        let (relay_door, relay) = match config.relay {
            Some(setup) => {
                let (sender, receiver) = mpsc::channel(EVENTS_CAPACITY);
                let settings =
                    relay_settings(setup.settings, &local_addresses, &config.public_addresses);
                (
                    Some(Arc::new(RelayDoor::new(sender))),
                    Some(RelayPort::new(settings, setup.credentials, receiver)),
                )
            }
            None => (None, None),
        };
        let loop_addresses = local_addresses.clone();
        let external_relay_ips = config.external_relay_ips;
        let heartbeat = Arc::new(Heartbeat::new(Instant::now()));
        let loop_heartbeat = heartbeat.clone();
        std::thread::Builder::new()
            .name("samsyn-media".into())
            .spawn(move || {
                // Marks the loop stopped however the thread ends, a panic
                // included, so `/healthz` says so at once.
                let _stopped = StopOnDrop(loop_heartbeat.clone());
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime builds");
                runtime.block_on(async move {
                    let sockets = sockets
                        .into_iter()
                        .map(UdpSocket::from_std)
                        .collect::<io::Result<Vec<_>>>()
                        .expect("sockets register with the runtime");
                    MediaLoop {
                        sfu,
                        sockets,
                        local_addresses: loop_addresses,
                        commands: receiver,
                        events,
                        stats: loop_stats,
                        metrics: loop_metrics,
                        send_failures: 0,
                        gso: gso_enabled(),
                        heartbeat: loop_heartbeat,
                        relay,
                        external_relay_ips,
                        rtp_sent: PathCounts::default(),
                    }
                    .run()
                    .await;
                });
            })?;
        Ok(Self {
            commands,
            stats,
            metrics,
            local_addresses,
            heartbeat,
            relay_door,
        })
    }

    /// Where the HTTPS listener hands connections that speak TURN; `None`
    /// when the built-in relay is off.
    pub fn turn_handoff(&self) -> Option<Arc<dyn samsyn_signaling::server::TurnHandoff>> {
        self.relay_door
            .clone()
            .map(|door| door as Arc<dyn samsyn_signaling::server::TurnHandoff>)
    }

    /// Whether the loop still turns (see [`Heartbeat::check`]).
    pub fn loop_health(&self) -> Result<(), String> {
        self.heartbeat.check(Instant::now())
    }

    /// How long ago the loop last turned; `None` once it has ended (see
    /// [`Heartbeat::silence`]).
    pub fn loop_silence(&self) -> Option<Duration> {
        self.heartbeat.silence(Instant::now())
    }

    /// The gateway's metrics, updated by the loop once a second.
    pub fn metrics(&self) -> &Arc<GatewayMetrics> {
        &self.metrics
    }

    /// Starts a connection test in `room` (see [`super::probe`]) for the
    /// token `owner`, the only one that may read or end it.
    pub async fn start_connection_test(
        &self,
        room: &RoomId,
        owner: &str,
        offer_sdp: String,
    ) -> Result<SessionAnswer, MediaError> {
        self.call(|reply| {
            Command::StartConnectionTest(room.clone(), owner.to_owned(), offer_sdp, reply)
        })
        .await
    }

    /// What a connection test has received so far.
    pub async fn connection_test_report(
        &self,
        room: &RoomId,
        owner: &str,
        session: &SessionId,
    ) -> Result<ProbeReport, MediaError> {
        self.call(|reply| {
            Command::ConnectionTestReport(room.clone(), owner.to_owned(), session.clone(), reply)
        })
        .await
    }

    /// Ends a connection test.
    pub async fn end_connection_test(
        &self,
        room: &RoomId,
        owner: &str,
        session: &SessionId,
    ) -> Result<(), MediaError> {
        self.call(|reply| {
            Command::EndConnectionTest(room.clone(), owner.to_owned(), session.clone(), reply)
        })
        .await
    }

    /// The bound media sockets (one port, one per address).
    pub fn local_addresses(&self) -> &[SocketAddr] {
        &self.local_addresses
    }

    /// A snapshot of the SFU's counters (updated about once a second).
    pub fn stats(&self) -> SfuStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, MediaError>>) -> Command,
    ) -> Result<T, MediaError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| MediaError::Unavailable("the media loop has stopped".into()))?;
        answer.await.map_err(|_| {
            MediaError::Unavailable(
                "the media plane could not handle this request; try again, and if it \
                 fails again report the gateway's log"
                    .into(),
            )
        })?
    }
}

impl MediaPlane for MediaNode {
    fn publish<'a>(
        &'a self,
        room: &'a RoomId,
        offer_sdp: String,
    ) -> MediaFuture<'a, SessionAnswer> {
        Box::pin(self.call(|reply| Command::Publish(room.clone(), offer_sdp, reply)))
    }

    fn view<'a>(
        &'a self,
        room: &'a RoomId,
        listener: Listener,
        offer_sdp: String,
    ) -> MediaFuture<'a, SessionAnswer> {
        Box::pin(self.call(move |reply| Command::View(room.clone(), listener, offer_sdp, reply)))
    }

    fn patch<'a>(
        &'a self,
        room: &'a RoomId,
        kind: SessionKind,
        session: &'a SessionId,
        sdpfrag: String,
    ) -> MediaFuture<'a, Option<String>> {
        Box::pin(
            self.call(move |reply| {
                Command::Patch(room.clone(), kind, session.clone(), sdpfrag, reply)
            }),
        )
    }

    fn end<'a>(
        &'a self,
        room: &'a RoomId,
        kind: SessionKind,
        session: &'a SessionId,
    ) -> MediaFuture<'a, ()> {
        Box::pin(self.call(move |reply| Command::End(room.clone(), kind, session.clone(), reply)))
    }

    fn link_report<'a>(
        &'a self,
        room: &'a RoomId,
        session: &'a SessionId,
    ) -> MediaFuture<'a, LinkReport> {
        Box::pin(self.call(move |reply| Command::Link(room.clone(), session.clone(), reply)))
    }

    fn end_room<'a>(&'a self, room: &'a RoomId) -> MediaFuture<'a, ()> {
        Box::pin(self.call(move |reply| Command::EndRoom(room.clone(), reply)))
    }

    fn rooms(&self) -> MediaFuture<'_, Vec<RoomId>> {
        Box::pin(self.call(Command::Rooms))
    }

    fn traffic(&self) -> MediaFuture<'_, Vec<TrafficCount>> {
        Box::pin(self.call(Command::Traffic))
    }

    fn health(&self) -> Result<(), MediaStalled> {
        self.loop_health().map_err(MediaStalled)
    }
}

/// Stops the heartbeat when dropped: when the loop's thread ends.
struct StopOnDrop(Arc<Heartbeat>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

struct MediaLoop {
    sfu: Sfu,
    sockets: Vec<UdpSocket>,
    /// The sockets' bound addresses, by the same index.
    local_addresses: Vec<SocketAddr>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::UnboundedSender<MediaEvent>,
    stats: Arc<Mutex<SfuStats>>,
    metrics: Arc<GatewayMetrics>,
    /// Datagrams the sockets refused.
    send_failures: u64,
    /// Send each viewer's burst with UDP GSO (see [`gso`]).
    gso: bool,
    heartbeat: Arc<Heartbeat>,
    /// The built-in TURN relay, when it is on.
    relay: Option<RelayPort>,
    external_relay_ips: Vec<IpAddr>,
    /// RTP packets sent since start, by path.
    rtp_sent: PathCounts,
}

/// The relay may give permissions only for the node's own media addresses
/// (and the public ones it announces), and hands out relayed addresses on
/// the first media address of each family.
fn relay_settings(
    mut settings: RelaySettings,
    local: &[SocketAddr],
    public: &[IpAddr],
) -> RelaySettings {
    settings.allowed_peers = local
        .iter()
        .map(SocketAddr::ip)
        .chain(public.iter().copied())
        .collect();
    settings.relayed_ips.clear();
    for ip in local.iter().map(SocketAddr::ip) {
        if !settings
            .relayed_ips
            .iter()
            .any(|known| known.is_ipv4() == ip.is_ipv4())
        {
            settings.relayed_ips.push(ip);
        }
    }
    settings
}

/// The next event of the relay's connections; never, without a relay.
async fn next_relay_event(relay: &mut Option<RelayPort>) -> crate::relay::RelayEvent {
    match relay {
        Some(relay) => relay.next_event().await,
        None => std::future::pending().await,
    }
}

/// GSO is on unless `SAMSYN_MEDIA_GSO=off`: a diagnostic switch, to compare
/// the two send paths on one machine.
fn gso_enabled() -> bool {
    !matches!(
        std::env::var("SAMSYN_MEDIA_GSO").as_deref(),
        Ok("off" | "0" | "false")
    )
}

impl MediaLoop {
    async fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut stats_published = Instant::now();
        let mut metrics = MetricsUpdater::default();
        loop {
            let now = Instant::now();
            self.heartbeat.beat(now);
            // Never asleep for long, so the heartbeat says the truth.
            let latest = now + MAX_SLEEP;
            let relay_deadline = self.relay.as_ref().and_then(RelayPort::poll_timeout);
            let deadline = [self.sfu.poll_timeout(), relay_deadline]
                .into_iter()
                .flatten()
                .fold(latest, Instant::min);
            tokio::select! {
                command = self.commands.recv() => {
                    let Some(command) = command else { return };
                    // A request that trips up the WebRTC stack is refused
                    // (its reply is dropped); every session goes on.
                    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.apply(command);
                    }));
                    if applied.is_err() {
                        tracing::error!(
                            "a session request failed inside the WebRTC stack and was refused; \
                             every other session goes on"
                        );
                    }
                }
                ready = readable(&self.sockets) => {
                    if let Ok(index) = ready {
                        self.read_batch(index, &mut buf);
                    }
                }
                event = next_relay_event(&mut self.relay) => {
                    if let Some(relay) = &mut self.relay {
                        relay.handle_event(Instant::now(), event, &mut self.sfu);
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    self.sfu.handle_timeout(now);
                    if let Some(relay) = &mut self.relay {
                        relay.handle_timeout(now, &mut self.sfu);
                    }
                }
            }
            self.flush();
            let events: Vec<MediaEvent> = self.sfu.drain_events().collect();
            for mut event in events {
                if let MediaEvent::Connected { session, path } = &mut event
                    && let Some(remote) = self.sfu.remote_of_session(session)
                {
                    *path = self.path_of(remote);
                }
                // Signaling gone means the process is stopping.
                let _ = self.events.send(event);
            }
            if stats_published.elapsed() >= Duration::from_secs(1) {
                let stats = self.sfu.stats();
                *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
                stats_published = Instant::now();
                let update = MetricsUpdate {
                    stats,
                    occupancy: self.sfu.occupancy(),
                    timings: self.sfu.drain_timings(),
                    send_failures: self.send_failures,
                    paths: self.path_counts(),
                    rtp_sent: self.rtp_sent,
                    relay: self.relay.as_ref().map(RelayPort::stats),
                };
                metrics.apply(&self.metrics, stats_published, update);
            }
        }
    }

    fn apply(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Publish(room, offer, reply) => {
                let _ = reply.send(self.sfu.publish(now, &room, offer));
            }
            Command::View(room, listener, offer, reply) => {
                let _ = reply.send(self.sfu.view(now, &room, listener, offer));
            }
            Command::Patch(room, kind, session, frag, reply) => {
                let _ = reply.send(self.sfu.patch(now, &room, kind, &session, &frag));
            }
            Command::End(room, kind, session, reply) => {
                let _ = reply.send(self.sfu.end(&room, kind, &session));
            }
            Command::Link(room, session, reply) => {
                let _ = reply.send(self.sfu.link_report(&room, &session));
            }
            Command::StartConnectionTest(room, owner, offer, reply) => {
                let _ = reply.send(self.sfu.start_connection_test(now, &room, &owner, offer));
            }
            Command::ConnectionTestReport(room, owner, session, reply) => {
                let _ = reply.send(
                    self.sfu
                        .connection_test_report(now, &room, &owner, &session),
                );
            }
            Command::EndConnectionTest(room, owner, session, reply) => {
                let _ = reply.send(self.sfu.end_connection_test(&room, &owner, &session));
            }
            Command::EndRoom(room, reply) => {
                self.sfu.end_room(&room);
                let _ = reply.send(Ok(()));
            }
            Command::Rooms(reply) => {
                let _ = reply.send(Ok(self.sfu.rooms_in_use()));
            }
            Command::Traffic(reply) => {
                let _ = reply.send(Ok(self.sfu.traffic_counts()));
            }
        }
    }

    /// Reads what is queued on socket `index`, up to a batch.
    fn read_batch(&mut self, index: usize, buf: &mut [u8]) {
        let (socket, local) = (&self.sockets[index], self.local_addresses[index]);
        for _ in 0..READ_BATCH {
            match socket.try_recv_from(buf) {
                Ok((_, remote))
                    if self
                        .relay
                        .as_ref()
                        .is_some_and(|relay| relay.is_spoofed_source(remote)) => {}
                Ok((len, remote)) => {
                    self.sfu
                        .handle_datagram(Instant::now(), local, remote, &buf[..len]);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) => {
                    // ICMP port unreachable from a departed peer shows up here.
                    tracing::debug!("media socket read: {err}");
                }
            }
        }
    }

    fn flush(&mut self) {
        // What the relay passes on can make the SFU answer at once (a STUN
        // check, a DTLS flight), and that answer may go to the relay again:
        // a few rounds settle it, the rest goes on the next turn.
        for _ in 0..4 {
            let transmits: Vec<Transmit> = self.sfu.drain_transmits().collect();
            if transmits.is_empty() {
                return;
            }
            self.count_rtp_sent(&transmits);
            let transmits = self.relay_transmits(transmits);
            if self.gso && transmits.len() > 1 {
                self.send_batched(&transmits);
            } else {
                for transmit in &transmits {
                    let index = self.socket_index(transmit.local);
                    self.send_one(index, transmit.remote, &transmit.data);
                }
            }
        }
    }

    /// Counts the RTP among `transmits` by the path it leaves on.
    fn count_rtp_sent(&mut self, transmits: &[Transmit]) {
        for transmit in transmits {
            if is_rtp(&transmit.data) {
                let path = self.path_of(transmit.remote);
                self.rtp_sent.add(path);
            }
        }
    }

    /// How the connected cameras and viewers reach the gateway.
    fn path_counts(&self) -> PathCounts {
        let mut counts = PathCounts::default();
        for remote in self.sfu.connected_remotes() {
            counts.add(self.path_of(remote));
        }
        counts
    }

    /// How media from `remote` reaches the gateway: through the built-in
    /// relay, through an external one (its address is a relay's), or UDP.
    fn path_of(&self, remote: SocketAddr) -> MediaPath {
        match self
            .relay
            .as_ref()
            .and_then(|relay| relay.transport_of(remote))
        {
            Some(RelayTransport::Tcp) => MediaPath::RelayTcp,
            Some(RelayTransport::Tls) => MediaPath::RelayTls,
            None if self.external_relay_ips.contains(&remote.ip()) => MediaPath::ExternalRelay,
            None => MediaPath::Udp,
        }
    }

    /// Hands the datagrams for relayed addresses to the relay; returns the
    /// ones for sockets.
    fn relay_transmits(&mut self, mut transmits: Vec<Transmit>) -> Vec<Transmit> {
        let Some(relay) = &mut self.relay else {
            return transmits;
        };
        let now = Instant::now();
        transmits.retain(|t| !relay.send(now, t.local, t.remote, &t.data));
        relay.carry_out(now, &mut self.sfu);
        transmits
    }

    fn socket_index(&self, local: SocketAddr) -> usize {
        self.local_addresses
            .iter()
            .position(|a| *a == local)
            .unwrap_or(0)
    }

    fn send_one(&mut self, index: usize, remote: SocketAddr, data: &[u8]) {
        if let Err(err) = self.sockets[index].try_send_to(data, remote) {
            // A full socket buffer drops this datagram, as a router would;
            // NACK/PLI repair it. Blocking here would stall every room.
            self.send_failures += 1;
            tracing::debug!("media socket send to {remote}: {err}");
        }
    }

    /// Each destination's datagrams of this wake-up (a frame's burst, per
    /// viewer) in as few GSO sends as their sizes allow.
    fn send_batched(&mut self, transmits: &[Transmit]) {
        use std::os::fd::AsRawFd;
        let datagrams: Vec<(usize, SocketAddr, usize)> = transmits
            .iter()
            .map(|t| (self.socket_index(t.local), t.remote, t.data.len()))
            .collect();
        let (order, runs) = gso::plan(&datagrams);
        let mut buffer = Vec::with_capacity(gso::MAX_SEGMENTS * 1500);
        for run in runs {
            let members = &order[run.range.clone()];
            if members.len() == 1 || !self.gso {
                for &i in members {
                    self.send_one(run.socket, run.remote, &transmits[i].data);
                }
                continue;
            }
            buffer.clear();
            for &i in members {
                buffer.extend_from_slice(&transmits[i].data);
            }
            let fd = self.sockets[run.socket].as_raw_fd();
            match gso::send(fd, run.remote, &buffer, run.segment) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.send_failures += members.len() as u64;
                }
                Err(err) => {
                    // No GSO on this kernel or device: send one by one from now on.
                    tracing::info!("UDP GSO unavailable ({err}); sending datagrams singly");
                    self.gso = false;
                    for &i in members {
                        self.send_one(run.socket, run.remote, &transmits[i].data);
                    }
                }
            }
        }
    }
}

/// Waits until one of the sockets is readable; yields its index.
async fn readable(sockets: &[UdpSocket]) -> io::Result<usize> {
    std::future::poll_fn(|cx| {
        for (index, socket) in sockets.iter().enumerate() {
            match socket.poll_recv_ready(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(index)),
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}
