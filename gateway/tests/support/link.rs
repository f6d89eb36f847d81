//! An emulated network path between the test's namespace (the near side:
//! the gateway and its viewers, in most tests) and a second namespace (the
//! far side: the nurse's laptop, in most tests), with `tc netem`'s
//! impairments done in user space: delay, jitter, random loss, a rate limit
//! with a bounded queue, and blackouts. The uplink is far → near (the
//! camera's uplink), the downlink near → far.
//!
//! Why user space: the kernels these tests run on are built without
//! `sch_netem` (only `tbf`/`htb`), and a rate limiter alone cannot delay or
//! black out a path. A TUN device in each namespace hands every IP packet to
//! a thread of the test, which holds it for the configured time, drops it at
//! the configured odds, or serialises it at the configured rate before writing
//! it into the other namespace. Both ends keep their ordinary kernel stacks:
//! webrtcbin, the gateway and reqwest see a plain routed IPv4 path.
//!
//! Each direction keeps its own statistics (packets passed, dropped by loss,
//! by blackout, by a full queue; the queueing delay a rate limit built up),
//! so a test can report what the path really did.
//!
//! Packets leave in the order they came (jitter never reorders), like a
//! queue on a real access link, unlike `netem delay … <jitter>`.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::netns::ip;

/// The near side's address on the emulated path (the test's namespace).
pub const NEAR_IP: &str = "10.213.1.1";
/// The far side's address (the second namespace).
pub const FAR_IP: &str = "10.213.1.2";
/// A second pair of addresses inside the far namespace, joined by their own
/// veth pair: a gateway and a camera both on the far side talk over it, so
/// only their traffic with this side crosses the emulated path.
pub const FAR_GATEWAY_IP: &str = "10.213.2.1";
/// The far side's client end of that pair.
pub const FAR_CLIENT_IP: &str = "10.213.2.2";

const NEAR_TUN: &str = "tun-near";
const FAR_TUN: &str = "tun-far";

/// Call first in a network-fault test:
/// `let Some(link) = link::isolate_with_link("name") else { return };`
///
/// Like [`super::netns::isolate`], plus a second namespace joined to the
/// test's by an emulated path: processes run there with
/// [`EmulatedLink::far_command`] and reach this side at [`NEAR_IP`]; this
/// side reaches them at [`FAR_IP`]. Outside it returns `None` after the run;
/// where namespaces or TUN devices cannot be made (not root, no
/// /dev/net/tun) it says SKIPPED and why, and returns `None` without running
/// the test.
pub fn isolate_with_link(test_name: &str) -> Option<EmulatedLink> {
    match super::netns::isolate_with_second_namespace(test_name) {
        Ok(Some(far)) => Some(EmulatedLink::create(&far)),
        Ok(None) => None,
        Err(why) => {
            eprintln!("SKIPPED {test_name}: {why}");
            println!("SKIPPED {test_name}: {why}");
            None
        }
    }
}

/// What one direction of the path does to packets; the default is a clean
/// path. Change it at any time with [`EmulatedLink::set_uplink`] and friends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// One-way delay added to every packet.
    pub delay: Duration,
    /// Each packet's delay varies uniformly within `delay ± jitter`.
    pub jitter: Duration,
    /// Probability that a packet is lost, 0.0..=1.0.
    pub loss: f64,
    /// Bottleneck rate in bits per second; `None` for no limit.
    pub rate_bps: Option<u64>,
    /// A rate-limited packet that would wait longer than this in the queue is
    /// dropped (tail drop). At 1 Mbit/s, 1 s is about 80 full packets.
    pub queue_limit: Duration,
    /// Everything is dropped: the cable is out.
    pub blackout: bool,
}

impl Default for Impairment {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            rate_bps: None,
            queue_limit: Duration::from_secs(1),
            blackout: false,
        }
    }
}

impl Impairment {
    /// A clean path.
    pub fn clean() -> Self {
        Self::default()
    }

    /// Random loss of `percent` % of the packets.
    pub fn loss_percent(percent: f64) -> Self {
        Self {
            loss: percent / 100.0,
            ..Self::default()
        }
    }

    /// `delay ± jitter` one way.
    pub fn delay(delay: Duration, jitter: Duration) -> Self {
        Self {
            delay,
            jitter,
            ..Self::default()
        }
    }

    /// A bottleneck of `bps` bits per second with a queue of at most `queue_limit`.
    pub fn rate(bps: u64, queue_limit: Duration) -> Self {
        Self {
            rate_bps: Some(bps),
            queue_limit,
            ..Self::default()
        }
    }

    /// Nothing gets through.
    pub fn blackout() -> Self {
        Self {
            blackout: true,
            ..Self::default()
        }
    }
}

/// What one direction did so far (cumulative).
#[derive(Debug, Clone, Default)]
pub struct DirectionStats {
    /// Packets delivered to the other side.
    pub passed: u64,
    /// Bytes (IP packets) delivered.
    pub passed_bytes: u64,
    /// Bytes (IP packets) that arrived at the link, delivered or not: what
    /// the sender sent.
    pub offered_bytes: u64,
    /// Packets dropped by random loss.
    pub lost: u64,
    /// Packets dropped during a blackout.
    pub blacked_out: u64,
    /// Packets dropped because the rate limiter's queue was full.
    pub queue_dropped: u64,
    /// Queueing delay each rate-limited packet waited, in milliseconds.
    pub queue_delays_ms: Vec<f64>,
    /// RTP packets delivered, by payload type (SRTP leaves the header clear).
    pub passed_rtp: BTreeMap<u8, u64>,
    /// RTP packets dropped by random loss, by payload type.
    pub lost_rtp: BTreeMap<u8, u64>,
}

impl DirectionStats {
    /// RTP packets of payload type `pt` that arrived at the link.
    pub fn rtp_offered(&self, pt: u8) -> u64 {
        self.passed_rtp.get(&pt).copied().unwrap_or(0) + self.rtp_lost(pt)
    }

    /// RTP packets of payload type `pt` dropped by random loss.
    pub fn rtp_lost(&self, pt: u8) -> u64 {
        self.lost_rtp.get(&pt).copied().unwrap_or(0)
    }

    /// Packets that arrived at the link (delivered or dropped).
    pub fn offered(&self) -> u64 {
        self.passed + self.lost + self.blacked_out + self.queue_dropped
    }

    /// The largest queueing delay seen, in ms (0 without a rate limit).
    pub fn max_queue_delay_ms(&self) -> f64 {
        self.queue_delays_ms.iter().copied().fold(0.0, f64::max)
    }

    /// The `p`-th percentile (0..=100) of the queueing delay, in ms.
    pub fn queue_delay_percentile_ms(&self, p: f64) -> f64 {
        if self.queue_delays_ms.is_empty() {
            return 0.0;
        }
        let mut sorted = self.queue_delays_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let index = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[index.min(sorted.len() - 1)]
    }
}

/// One direction of the path: its settings and its statistics.
struct Direction {
    impairment: Mutex<Impairment>,
    stats: Mutex<DirectionStats>,
}

impl Direction {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            impairment: Mutex::new(Impairment::default()),
            stats: Mutex::new(DirectionStats::default()),
        })
    }
}

/// The emulated path to the far namespace. Dropping it stops the pumping
/// threads (the path goes dead) and leaves the namespaces to the harness that
/// made them.
pub struct EmulatedLink {
    far_namespace: String,
    uplink: Arc<Direction>,
    downlink: Arc<Direction>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl EmulatedLink {
    /// Creates the TUN devices (`tun-near` here, `tun-far` in
    /// `far_namespace`), addresses them and starts pumping packets. Called
    /// by [`isolate_with_link`] inside the test's namespace.
    fn create(far_namespace: &str) -> Self {
        let near_tun = open_tun(NEAR_TUN);
        let far_tun = {
            let namespace = far_namespace.to_owned();
            in_namespace(&namespace, || open_tun(FAR_TUN))
        };
        ip(&["addr", "add", &format!("{NEAR_IP}/24"), "dev", NEAR_TUN]);
        ip(&["link", "set", NEAR_TUN, "up"]);
        let far_address = format!("{FAR_IP}/24");
        for args in [
            ["addr", "add", far_address.as_str(), "dev", FAR_TUN].as_slice(),
            &["link", "set", "lo", "up"],
            &["link", "set", FAR_TUN, "up"],
            // Every stack wants a default route to gather candidates on.
            &["route", "add", "default", "dev", FAR_TUN],
        ] {
            let mut full = vec!["-n", far_namespace];
            full.extend_from_slice(args);
            ip(&full);
        }
        super::netns::add_local_pair(
            far_namespace,
            ("far-gw", FAR_GATEWAY_IP),
            ("far-cl", FAR_CLIENT_IP),
        );

        let uplink = Direction::new();
        let downlink = Direction::new();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = vec![
            pump(
                "link-uplink",
                clone_file(&far_tun),
                clone_file(&near_tun),
                uplink.clone(),
                stop.clone(),
                1,
            ),
            pump(
                "link-downlink",
                near_tun,
                far_tun,
                downlink.clone(),
                stop.clone(),
                2,
            ),
        ];
        Self {
            far_namespace: far_namespace.to_owned(),
            uplink,
            downlink,
            stop,
            threads,
        }
    }

    /// Impairs the far → near direction (the camera's uplink) from now on.
    pub fn set_uplink(&self, impairment: Impairment) {
        *lock(&self.uplink.impairment) = impairment;
    }

    /// Impairs the near → far direction from now on.
    pub fn set_downlink(&self, impairment: Impairment) {
        *lock(&self.downlink.impairment) = impairment;
    }

    /// Impairs both directions alike.
    pub fn set_both(&self, impairment: Impairment) {
        self.set_uplink(impairment);
        self.set_downlink(impairment);
    }

    /// What the far → near direction did so far.
    pub fn uplink_stats(&self) -> DirectionStats {
        lock(&self.uplink.stats).clone()
    }

    /// What the near → far direction did so far.
    pub fn downlink_stats(&self) -> DirectionStats {
        lock(&self.downlink.stats).clone()
    }

    /// Forgets the statistics of both directions.
    pub fn reset_stats(&self) {
        *lock(&self.uplink.stats) = DirectionStats::default();
        *lock(&self.downlink.stats) = DirectionStats::default();
    }

    /// The far namespace (`ip netns` name).
    pub fn far_namespace(&self) -> &str {
        &self.far_namespace
    }

    /// A command that runs `program` on the far side of the path.
    pub fn far_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.far_namespace])
            .arg(program);
        command
    }

    /// Makes a loopback listener of this (near) side, 127.0.0.1:`port`,
    /// reachable at 127.0.0.1:<returned port> on the far side, carried over
    /// the emulated path: a blackout cuts it too. Plain HTTP stays on
    /// loopback addresses at both ends.
    pub fn relay_to_near(&self, port: u16) -> u16 {
        // Near end: a listener on the path's address, forwarding to the
        // loopback listener.
        let hop = TcpListener::bind((NEAR_IP, 0)).expect("relay listener");
        let hop_port = hop.local_addr().expect("relay address").port();
        spawn_relay(hop, loopback(port), None, self.stop.clone());
        // Far end: a loopback listener whose outgoing connections are made
        // there too, so they cross the path.
        let entry = in_namespace(&self.far_namespace, || {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("relay listener")
        });
        let entry_port = entry.local_addr().expect("relay address").port();
        spawn_relay(
            entry,
            (ip_addr(NEAR_IP), hop_port).into(),
            Some(self.far_namespace.clone()),
            self.stop.clone(),
        );
        entry_port
    }

    /// A relay from this side's loopback to `port` on the far side's
    /// loopback that does not cross the emulated path: the test process
    /// copies the bytes itself. For a test's own look at the far side (a
    /// figure it must read whatever the path does), never for the traffic
    /// under test. Returns the local port.
    pub fn side_channel_to_far(&self, port: u16) -> u16 {
        let entry = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("relay listener");
        let entry_port = entry.local_addr().expect("relay address").port();
        spawn_relay(
            entry,
            loopback(port),
            Some(self.far_namespace.clone()),
            self.stop.clone(),
        );
        entry_port
    }

    /// The other way round: a loopback listener of the far side
    /// (127.0.0.1:`port` there) reachable at 127.0.0.1:<returned port> here.
    pub fn relay_to_far(&self, port: u16) -> u16 {
        let hop = in_namespace(&self.far_namespace, || {
            TcpListener::bind((FAR_IP, 0)).expect("relay listener")
        });
        let hop_port = hop.local_addr().expect("relay address").port();
        spawn_relay(
            hop,
            loopback(port),
            Some(self.far_namespace.clone()),
            self.stop.clone(),
        );
        let entry = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("relay listener");
        let entry_port = entry.local_addr().expect("relay address").port();
        spawn_relay(
            entry,
            (ip_addr(FAR_IP), hop_port).into(),
            None,
            self.stop.clone(),
        );
        entry_port
    }
}

fn loopback(port: u16) -> SocketAddr {
    (Ipv4Addr::LOCALHOST, port).into()
}

fn ip_addr(text: &str) -> Ipv4Addr {
    text.parse().expect("an IPv4 address")
}

impl Drop for EmulatedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Moves the calling thread into the named network namespace.
fn enter_namespace(name: &str) {
    let path = format!("/var/run/netns/{name}");
    let file = File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    // SAFETY: setns on a valid namespace fd affects only the calling thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns into {name} failed: {}",
        std::io::Error::last_os_error()
    );
}

/// Runs `make` on a thread inside the named namespace: sockets and devices
/// it creates belong to that namespace, whoever uses them later.
fn in_namespace<T: Send + 'static>(name: &str, make: impl FnOnce() -> T + Send + 'static) -> T {
    let name = name.to_owned();
    std::thread::spawn(move || {
        enter_namespace(&name);
        make()
    })
    .join()
    .expect("namespace thread")
}

/// Opens (creating) the TUN device `name`: IP packets, no extra header.
fn open_tun(name: &str) -> File {
    /// `_IOW('T', 202, int)` from linux/if_tun.h.
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .unwrap_or_else(|e| panic!("cannot open /dev/net/tun: {e}"));
    let mut request = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
        _pad: [0; 22],
    };
    request.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: TUNSETIFF reads and writes an ifreq, which IfReq lays out.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut request) };
    assert_eq!(
        rc,
        0,
        "cannot create TUN device {name}: {}",
        std::io::Error::last_os_error()
    );
    file
}

fn clone_file(file: &File) -> File {
    file.try_clone().expect("a TUN descriptor duplicates")
}

/// A packet waiting to leave.
struct Queued {
    release: Instant,
    packet: Vec<u8>,
}

/// Moves packets from `from` to `to` with `direction`'s impairments.
fn pump(
    name: &str,
    from: File,
    mut to: File,
    direction: Arc<Direction>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            // Seeded: a run's losses are the same every time.
            let mut rng = StdRng::seed_from_u64(seed);
            let mut queue: VecDeque<Queued> = VecDeque::new();
            // When the bottleneck finishes sending what it holds.
            let mut link_free_at = Instant::now();
            let mut last_release = Instant::now();
            let mut from = from;
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                let wait = queue
                    .front()
                    .map(|q| q.release.saturating_duration_since(now))
                    .unwrap_or(Duration::from_millis(20))
                    .min(Duration::from_millis(20));
                if readable(&from, wait) {
                    let Ok(len) = from.read(&mut buf) else {
                        continue;
                    };
                    let now = Instant::now();
                    let impairment = *lock(&direction.impairment);
                    let mut stats = lock(&direction.stats);
                    stats.offered_bytes += len as u64;
                    if impairment.blackout {
                        stats.blacked_out += 1;
                    } else if impairment.loss > 0.0 && rng.random::<f64>() < impairment.loss {
                        stats.lost += 1;
                        if let Some(pt) = rtp_payload_type(&buf[..len]) {
                            *stats.lost_rtp.entry(pt).or_default() += 1;
                        }
                    } else {
                        let mut sent_at = now;
                        if let Some(rate) = impairment.rate_bps {
                            let start = link_free_at.max(now);
                            let waited = start - now;
                            if waited > impairment.queue_limit {
                                stats.queue_dropped += 1;
                                continue;
                            }
                            stats.queue_delays_ms.push(waited.as_secs_f64() * 1000.0);
                            let transmission =
                                Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
                            link_free_at = start + transmission;
                            sent_at = link_free_at;
                        }
                        let jitter = if impairment.jitter.is_zero() {
                            0.0
                        } else {
                            let j = impairment.jitter.as_secs_f64();
                            rng.random_range(-j..=j)
                        };
                        let delay = (impairment.delay.as_secs_f64() + jitter).max(0.0);
                        let release = (sent_at + Duration::from_secs_f64(delay)).max(last_release);
                        last_release = release;
                        queue.push_back(Queued {
                            release,
                            packet: buf[..len].to_vec(),
                        });
                    }
                }
                let now = Instant::now();
                while queue.front().is_some_and(|q| q.release <= now) {
                    let Some(q) = queue.pop_front() else { break };
                    if to.write_all(&q.packet).is_ok() {
                        let mut stats = lock(&direction.stats);
                        stats.passed += 1;
                        stats.passed_bytes += q.packet.len() as u64;
                        if let Some(pt) = rtp_payload_type(&q.packet) {
                            *stats.passed_rtp.entry(pt).or_default() += 1;
                        }
                    }
                }
            }
        })
        .expect("link thread")
}

/// The payload type of an IPv4 UDP packet carrying RTP (not RTCP, STUN or
/// DTLS), read from the RTP header, which SRTP leaves in the clear.
fn rtp_payload_type(ip: &[u8]) -> Option<u8> {
    let header = usize::from(ip.first()? & 0x0f) * 4;
    if ip.first()? >> 4 != 4 || *ip.get(9)? != 17 {
        return None;
    }
    let rtp = ip.get(header + 8..)?;
    let (first, second) = (*rtp.first()?, *rtp.get(1)?);
    // Version 2; RTCP packet types 200–206 read as payload types 72–78.
    let pt = second & 0x7f;
    (first >> 6 == 2 && !(72..=78).contains(&pt)).then_some(pt)
}

/// Waits up to `timeout` for `file` to have a packet.
fn readable(file: &File, timeout: Duration) -> bool {
    let mut fd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().clamp(0, 20) as libc::c_int;
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut fd, 1, ms) };
    rc > 0 && fd.revents & libc::POLLIN != 0
}

/// Serves `listener` on a thread in `namespace` (this one when `None`),
/// joining each connection to a new one to `target` made there.
fn spawn_relay(
    listener: TcpListener,
    target: SocketAddr,
    namespace: Option<String>,
    stop: Arc<AtomicBool>,
) {
    std::thread::Builder::new()
        .name("relay".into())
        .spawn(move || {
            if let Some(namespace) = namespace {
                enter_namespace(&namespace);
            }
            serve_relay(listener, target, stop);
        })
        .expect("relay thread");
}

/// Accepts connections and joins each to a new connection to `target`.
fn serve_relay(listener: TcpListener, target: SocketAddr, stop: Arc<AtomicBool>) {
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => {
                let _ = client.set_nonblocking(false);
                // Threads inherit the namespace of the thread that starts
                // them, so the connection is made where the listener lives.
                std::thread::spawn(move || {
                    // A failed connect closes the client: the daemon sees the
                    // gateway unreachable, as it would without the relay.
                    if let Ok(upstream) =
                        TcpStream::connect_timeout(&target, Duration::from_secs(30))
                    {
                        splice(client, upstream);
                    }
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Copies both ways until either side closes.
fn splice(a: TcpStream, b: TcpStream) {
    for (mut from, mut to) in [
        (a.try_clone().expect("clone"), b.try_clone().expect("clone")),
        (b, a),
    ] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}
