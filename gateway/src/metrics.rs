//! `GET /metrics`: the gateway's figures in the Prometheus text format.
//!
//! The media loop fills these once a second from the SFU's counters
//! ([`MetricsUpdate`]); scraping only encodes them. Labels never carry a room,
//! a session, a token or a name: a scrape says how busy the gateway is, not
//! who is in a consultation.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use samsyn_signaling::media::MediaPath;

use crate::media::relay_port::RelayPortStats;
use crate::media::{SfuOccupancy, SfuStats, Timing};

/// The `Content-Type` of a scrape (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The window over which CPU per forwarded packet is averaged.
const CPU_WINDOW: Duration = Duration::from_secs(10);

/// Why a packet did not reach a viewer.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum DropReason {
    /// Held back while the viewer waits for a keyframe.
    KeyframeGate,
    /// A datagram that matched no peer connection.
    Unroutable,
    /// A STUN check naming a session without that session's ICE password.
    Unauthenticated,
    /// The socket refused it (send buffer full).
    SendFailed,
    /// A relayed viewer's connection could not keep up (its queue was full).
    RelayBackpressure,
}

impl DropReason {
    fn label(self) -> &'static str {
        match self {
            Self::KeyframeGate => "keyframe_gate",
            Self::Unroutable => "unroutable",
            Self::Unauthenticated => "unauthenticated",
            Self::SendFailed => "send_failed",
            Self::RelayBackpressure => "relay_backpressure",
        }
    }
}

impl EncodeLabelValue for DropReason {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.label())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    reason: DropReason,
}

/// [`MediaPath`] as a label value.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct PathLabel(MediaPath);

impl EncodeLabelValue for PathLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(self.0.as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    path: PathLabel,
}

/// A count per [`MediaPath`]: connected cameras and viewers, or packets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PathCounts {
    pub udp: usize,
    pub relay_tcp: usize,
    pub relay_tls: usize,
    pub external_relay: usize,
}

impl PathCounts {
    pub fn add(&mut self, path: MediaPath) {
        *self.slot(path) += 1;
    }

    pub fn get(&self, path: MediaPath) -> usize {
        match path {
            MediaPath::Udp => self.udp,
            MediaPath::RelayTcp => self.relay_tcp,
            MediaPath::RelayTls => self.relay_tls,
            MediaPath::ExternalRelay => self.external_relay,
        }
    }

    fn slot(&mut self, path: MediaPath) -> &mut usize {
        match path {
            MediaPath::Udp => &mut self.udp,
            MediaPath::RelayTcp => &mut self.relay_tcp,
            MediaPath::RelayTls => &mut self.relay_tls,
            MediaPath::ExternalRelay => &mut self.external_relay,
        }
    }
}

/// The label set of a metric without labels that is kept in a
/// [`Family`] so that it is absent from scrapes until it has a value.
type NoLabels = [(&'static str, &'static str); 0];

/// Every metric the gateway exports.
pub struct GatewayMetrics {
    registry: Registry,
    rooms: Gauge,
    publishers: Gauge,
    viewers: Gauge,
    connection_tests: Gauge,
    peers_by_path: Family<PathLabels, Gauge>,
    rtp_sent_by_path: Family<PathLabels, Counter>,
    relay_connections: Gauge,
    relay_allocations: Gauge,
    relay_refused: Counter,
    received_packets: Counter,
    received_bytes: Counter,
    forwarded_packets: Counter,
    forwarded_bytes: Counter,
    dropped: Family<DropLabels, Counter>,
    retransmitted: Counter,
    nacked: Counter,
    keyframe_requests_received: Counter,
    keyframe_requests_sent: Counter,
    connection_test_packets: Counter,
    talkback_packets: Counter,
    talkback_without_slot: Counter,
    bitrate_in: Gauge<f64, AtomicU64>,
    bitrate_out: Gauge<f64, AtomicU64>,
    keyframe_wait: Histogram,
    time_to_first_frame: Histogram,
    cpu_per_forwarded_packet: Gauge<f64, AtomicU64>,
    process_cpu: Counter<f64, AtomicU64>,
    resident_memory: Gauge,
    /// Absent without TLS: a 0 would read as a certificate long expired.
    tls_certificate_expiry: Family<NoLabels, Gauge>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let mut m = Self {
            registry: Registry::default(),
            rooms: Gauge::default(),
            publishers: Gauge::default(),
            viewers: Gauge::default(),
            connection_tests: Gauge::default(),
            peers_by_path: Family::default(),
            rtp_sent_by_path: Family::default(),
            relay_connections: Gauge::default(),
            relay_allocations: Gauge::default(),
            relay_refused: Counter::default(),
            received_packets: Counter::default(),
            received_bytes: Counter::default(),
            forwarded_packets: Counter::default(),
            forwarded_bytes: Counter::default(),
            dropped: Family::default(),
            retransmitted: Counter::default(),
            nacked: Counter::default(),
            keyframe_requests_received: Counter::default(),
            keyframe_requests_sent: Counter::default(),
            connection_test_packets: Counter::default(),
            talkback_packets: Counter::default(),
            talkback_without_slot: Counter::default(),
            bitrate_in: Gauge::default(),
            bitrate_out: Gauge::default(),
            // 10 ms … 20 s.
            keyframe_wait: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
            time_to_first_frame: Histogram::new(exponential_buckets(0.01, 2.0, 12)),
            cpu_per_forwarded_packet: Gauge::default(),
            process_cpu: Counter::default(),
            resident_memory: Gauge::default(),
            tls_certificate_expiry: Family::default(),
        };
        let r = &mut registry;
        r.register(
            "samsyn_peers",
            "Connected cameras and viewers by how their media reaches the gateway",
            m.peers_by_path.clone(),
        );
        r.register(
            "samsyn_rtp_sent_packets",
            "RTP packets sent to cameras and viewers (forwarded media and retransmissions), \
             by how they reach them",
            m.rtp_sent_by_path.clone(),
        );
        r.register(
            "samsyn_relay_connections",
            "TCP and TLS connections open to the built-in TURN relay",
            m.relay_connections.clone(),
        );
        r.register(
            "samsyn_relay_allocations",
            "Allocations (relayed clients) of the built-in TURN relay",
            m.relay_allocations.clone(),
        );
        r.register(
            "samsyn_relay_refused",
            "Relay requests refused or connections closed: wrong or expired credentials, \
             forbidden peers, quotas, malformed or unauthenticated connections",
            m.relay_refused.clone(),
        );
        r.register(
            "samsyn_rooms",
            "Rooms with a camera or viewers",
            m.rooms.clone(),
        );
        r.register(
            "samsyn_publishers",
            "Cameras connected",
            m.publishers.clone(),
        );
        r.register(
            "samsyn_viewers",
            "Viewers (WHEP sessions)",
            m.viewers.clone(),
        );
        r.register(
            "samsyn_connection_tests",
            "Connection tests (samsyn-bench connect) running; their media is never forwarded",
            m.connection_tests.clone(),
        );
        r.register(
            "samsyn_rtp_received_packets",
            "RTP packets received from cameras",
            m.received_packets.clone(),
        );
        r.register_with_unit(
            "samsyn_rtp_received",
            "RTP payload received from cameras",
            Unit::Bytes,
            m.received_bytes.clone(),
        );
        r.register(
            "samsyn_rtp_forwarded_packets",
            "RTP packets sent to viewers (one per viewer per camera packet)",
            m.forwarded_packets.clone(),
        );
        r.register_with_unit(
            "samsyn_rtp_forwarded",
            "RTP payload sent to viewers",
            Unit::Bytes,
            m.forwarded_bytes.clone(),
        );
        r.register(
            "samsyn_dropped_packets",
            "Packets not delivered: held for a keyframe, unroutable datagrams, STUN checks without \
             the session's ICE password, failed sends",
            m.dropped.clone(),
        );
        r.register(
            "samsyn_rtp_retransmitted_packets",
            "RTP packets resent to viewers after a NACK",
            m.retransmitted.clone(),
        );
        r.register(
            "samsyn_nack_requested_packets",
            "Packets viewers asked to have resent (NACK)",
            m.nacked.clone(),
        );
        r.register(
            "samsyn_keyframe_requests_received",
            "Keyframe requests (PLI, FIR) from viewers",
            m.keyframe_requests_received.clone(),
        );
        r.register(
            "samsyn_keyframe_requests_sent",
            "Keyframe requests (PLI) sent to cameras, after throttling",
            m.keyframe_requests_sent.clone(),
        );
        r.register(
            "samsyn_talkback_received_packets",
            "Talk-back packets from specialists' microphones",
            m.talkback_packets.clone(),
        );
        r.register(
            "samsyn_talkback_without_slot_packets",
            "Talk-back packets a listener had no free audio m-line for (more speakers at once than it offered)",
            m.talkback_without_slot.clone(),
        );
        r.register(
            "samsyn_connection_test_rtp_received_packets",
            "RTP packets received from connection tests",
            m.connection_test_packets.clone(),
        );
        r.register(
            "samsyn_bitrate_in_bits_per_second",
            "RTP payload bitrate from cameras over the last second",
            m.bitrate_in.clone(),
        );
        r.register(
            "samsyn_bitrate_out_bits_per_second",
            "RTP payload bitrate to viewers over the last second",
            m.bitrate_out.clone(),
        );
        r.register_with_unit(
            "samsyn_keyframe_wait",
            "Time a viewer's picture waited for a keyframe",
            Unit::Seconds,
            m.keyframe_wait.clone(),
        );
        r.register_with_unit(
            "samsyn_time_to_first_frame",
            "From a viewer's WHEP offer to the first video packet sent to it",
            Unit::Seconds,
            m.time_to_first_frame.clone(),
        );
        r.register_with_unit(
            "samsyn_cpu_per_forwarded_packet",
            "Process CPU time per forwarded packet over the last 10 s (0 when none was forwarded)",
            Unit::Seconds,
            m.cpu_per_forwarded_packet.clone(),
        );
        r.register_with_unit(
            "process_cpu",
            "User and system CPU time of the gateway process",
            Unit::Seconds,
            m.process_cpu.clone(),
        );
        r.register_with_unit(
            "process_resident_memory",
            "Resident memory of the gateway process",
            Unit::Bytes,
            m.resident_memory.clone(),
        );
        r.register_with_unit(
            "samsyn_tls_certificate_expiry_timestamp",
            "When the TLS certificate served to new connections expires (its notAfter, Unix time)",
            Unit::Seconds,
            m.tls_certificate_expiry.clone(),
        );
        m.registry = registry;
        m
    }

    /// The served certificate's notAfter, in Unix seconds: at start, and
    /// after each reload that replaced it.
    pub fn set_tls_certificate_expiry(&self, not_after_unix: i64) {
        self.tls_certificate_expiry
            .get_or_create(&[])
            .set(not_after_unix);
    }

    /// The current figures in the text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// What the media loop hands over once a second.
#[derive(Debug, Default, Clone)]
pub struct MetricsUpdate {
    pub stats: SfuStats,
    pub occupancy: SfuOccupancy,
    pub timings: Vec<Timing>,
    /// Datagrams the sockets refused, since start.
    pub send_failures: u64,
    pub paths: PathCounts,
    /// RTP packets sent since start, by path.
    pub rtp_sent: PathCounts,
    /// The built-in relay's counters, when it is on.
    pub relay: Option<RelayPortStats>,
}

/// Turns the SFU's running totals into metric increments and rates.
pub struct MetricsUpdater {
    last: SfuStats,
    last_send_failures: u64,
    last_relay: RelayPortStats,
    last_rtp_sent: PathCounts,
    last_cpu: f64,
    last_at: Instant,
    /// (when, process CPU seconds, packets forwarded) over [`CPU_WINDOW`].
    cpu_window: VecDeque<(Instant, f64, u64)>,
}

impl Default for MetricsUpdater {
    fn default() -> Self {
        Self {
            last: SfuStats::default(),
            last_send_failures: 0,
            last_relay: RelayPortStats::default(),
            last_rtp_sent: PathCounts::default(),
            last_cpu: 0.0,
            last_at: Instant::now(),
            cpu_window: VecDeque::new(),
        }
    }
}

impl MetricsUpdater {
    pub fn apply(&mut self, metrics: &GatewayMetrics, now: Instant, update: MetricsUpdate) {
        let MetricsUpdate {
            stats,
            occupancy,
            timings,
            send_failures,
            paths,
            rtp_sent,
            relay,
        } = update;
        let last = self.last;
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        for path in MediaPath::ALL {
            let labels = PathLabels {
                path: PathLabel(path),
            };
            metrics
                .peers_by_path
                .get_or_create(&labels)
                .set(paths.get(path) as i64);
            let sent = rtp_sent
                .get(path)
                .saturating_sub(self.last_rtp_sent.get(path));
            metrics
                .rtp_sent_by_path
                .get_or_create(&labels)
                .inc_by(sent as u64);
        }
        self.last_rtp_sent = rtp_sent;
        let relay = relay.unwrap_or_default();
        let r = &relay.relay;
        metrics.relay_connections.set(r.connections as i64);
        metrics.relay_allocations.set(r.allocations as i64);
        let refused = |s: &RelayPortStats| {
            let r = &s.relay;
            r.refused_credentials
                + r.refused_forbidden_peer
                + r.refused_quota
                + r.closed_malformed
                + r.closed_unauthenticated
                + s.closed_malformed_streams
                + s.closed_for_backpressure
        };
        metrics
            .relay_refused
            .inc_by(refused(&relay).saturating_sub(refused(&self.last_relay)));
        metrics.rooms.set(occupancy.rooms as i64);
        metrics.publishers.set(occupancy.publishers as i64);
        metrics.viewers.set(occupancy.viewers as i64);
        metrics
            .connection_tests
            .set(occupancy.connection_tests as i64);
        metrics
            .received_packets
            .inc_by(delta(stats.rtp_in, last.rtp_in));
        let bytes_in = delta(stats.rtp_in_bytes, last.rtp_in_bytes);
        metrics.received_bytes.inc_by(bytes_in);
        metrics
            .forwarded_packets
            .inc_by(delta(stats.rtp_forwarded, last.rtp_forwarded));
        let bytes_out = delta(stats.rtp_forwarded_bytes, last.rtp_forwarded_bytes);
        metrics.forwarded_bytes.inc_by(bytes_out);
        for (reason, count) in [
            (
                DropReason::KeyframeGate,
                delta(stats.rtp_gated, last.rtp_gated),
            ),
            (
                DropReason::Unroutable,
                delta(stats.datagrams_unroutable, last.datagrams_unroutable),
            ),
            (
                DropReason::Unauthenticated,
                delta(stats.stun_unauthenticated, last.stun_unauthenticated),
            ),
            (
                DropReason::SendFailed,
                delta(send_failures, self.last_send_failures),
            ),
            (
                DropReason::RelayBackpressure,
                delta(
                    relay.dropped_for_backpressure,
                    self.last_relay.dropped_for_backpressure,
                ),
            ),
        ] {
            metrics
                .dropped
                .get_or_create(&DropLabels { reason })
                .inc_by(count);
        }
        metrics.retransmitted.inc_by(delta(
            stats.retransmitted_packets,
            last.retransmitted_packets,
        ));
        metrics
            .nacked
            .inc_by(delta(stats.nacked_packets, last.nacked_packets));
        metrics.keyframe_requests_received.inc_by(delta(
            stats.keyframe_requests_received,
            last.keyframe_requests_received,
        ));
        metrics.keyframe_requests_sent.inc_by(delta(
            stats.keyframe_requests_sent,
            last.keyframe_requests_sent,
        ));
        metrics.connection_test_packets.inc_by(delta(
            stats.connection_test_rtp_in,
            last.connection_test_rtp_in,
        ));
        metrics
            .talkback_packets
            .inc_by(delta(stats.talkback_in, last.talkback_in));
        metrics.talkback_without_slot.inc_by(delta(
            stats.talkback_without_slot,
            last.talkback_without_slot,
        ));
        for timing in timings {
            match timing {
                Timing::FirstFrame(d) => metrics.time_to_first_frame.observe(d.as_secs_f64()),
                Timing::KeyframeWait(d) => metrics.keyframe_wait.observe(d.as_secs_f64()),
            }
        }

        let seconds = now.saturating_duration_since(self.last_at).as_secs_f64();
        if seconds > 0.0 {
            metrics.bitrate_in.set(bytes_in as f64 * 8.0 / seconds);
            metrics.bitrate_out.set(bytes_out as f64 * 8.0 / seconds);
        }
        let cpu = process_cpu_seconds();
        metrics.process_cpu.inc_by((cpu - self.last_cpu).max(0.0));
        self.cpu_window.push_back((now, cpu, stats.rtp_forwarded));
        while self
            .cpu_window
            .front()
            .is_some_and(|(at, ..)| now.saturating_duration_since(*at) > CPU_WINDOW)
        {
            self.cpu_window.pop_front();
        }
        if let Some(&(_, cpu_then, forwarded_then)) = self.cpu_window.front() {
            let packets = stats.rtp_forwarded.saturating_sub(forwarded_then);
            let per_packet = if packets == 0 {
                0.0
            } else {
                (cpu - cpu_then) / packets as f64
            };
            metrics.cpu_per_forwarded_packet.set(per_packet);
        }
        if let Some(resident) = resident_memory_bytes() {
            metrics.resident_memory.set(resident as i64);
        }
        self.last = stats;
        self.last_send_failures = send_failures;
        self.last_relay = relay;
        self.last_cpu = cpu;
        self.last_at = now;
    }
}

/// User plus system CPU time of this process, in seconds (getrusage: µs
/// resolution, unlike /proc's clock ticks).
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we pass; no other
    // preconditions.
    #[allow(unsafe_code, reason = "libc: std has no getrusage")]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Resident memory of this process, from /proc/self/statm.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code, reason = "libc: std has no sysconf")]
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page_size).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_carries_every_family_and_no_identifying_label() {
        let metrics = GatewayMetrics::new();
        let mut updater = MetricsUpdater::default();
        let t0 = Instant::now();
        updater.apply(
            &metrics,
            t0 + Duration::from_secs(1),
            MetricsUpdate {
                stats: SfuStats {
                    rtp_in: 100,
                    rtp_in_bytes: 100_000,
                    rtp_forwarded: 1000,
                    rtp_forwarded_bytes: 1_000_000,
                    rtp_gated: 7,
                    ..Default::default()
                },
                occupancy: SfuOccupancy {
                    rooms: 1,
                    publishers: 1,
                    viewers: 10,
                    connection_tests: 0,
                },
                timings: vec![
                    Timing::FirstFrame(Duration::from_millis(120)),
                    Timing::KeyframeWait(Duration::from_millis(40)),
                ],
                send_failures: 2,
                paths: PathCounts {
                    udp: 9,
                    relay_tls: 2,
                    ..Default::default()
                },
                rtp_sent: PathCounts {
                    udp: 900,
                    relay_tls: 200,
                    ..Default::default()
                },
                relay: Some(RelayPortStats {
                    relay: crate::relay::RelayStats {
                        connections: 3,
                        allocations: 2,
                        refused_credentials: 4,
                        ..Default::default()
                    },
                    dropped_for_backpressure: 5,
                    ..Default::default()
                }),
            },
        );
        let text = metrics.encode();
        for line in [
            "samsyn_peers{path=\"udp\"} 9",
            "samsyn_peers{path=\"relay_tls\"} 2",
            "samsyn_peers{path=\"relay_tcp\"} 0",
            "samsyn_peers{path=\"external_relay\"} 0",
            "samsyn_rtp_sent_packets_total{path=\"udp\"} 900",
            "samsyn_rtp_sent_packets_total{path=\"relay_tls\"} 200",
            "samsyn_relay_connections 3",
            "samsyn_relay_allocations 2",
            "samsyn_relay_refused_total 4",
            "samsyn_dropped_packets_total{reason=\"relay_backpressure\"} 5",
            "samsyn_viewers 10",
            "samsyn_rtp_forwarded_packets_total 1000",
            "samsyn_rtp_forwarded_bytes_total 1000000",
            "samsyn_dropped_packets_total{reason=\"keyframe_gate\"} 7",
            "samsyn_dropped_packets_total{reason=\"send_failed\"} 2",
            "samsyn_time_to_first_frame_seconds_count 1",
            "samsyn_keyframe_wait_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        for family in [
            "samsyn_cpu_per_forwarded_packet_seconds",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "samsyn_bitrate_out_bits_per_second",
        ] {
            assert!(text.contains(family), "{family} missing from:\n{text}");
        }
        // No TLS certificate given: no expiry, rather than a 0 that reads as
        // expired.
        assert!(
            !text.contains("samsyn_tls_certificate_expiry_timestamp_seconds "),
            "{text}"
        );
        metrics.set_tls_certificate_expiry(1_893_456_000);
        assert!(
            metrics
                .encode()
                .contains("\nsamsyn_tls_certificate_expiry_timestamp_seconds 1893456000\n"),
            "{}",
            metrics.encode()
        );
        // Only the drop reason and the media path are labels.
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains('{'))
        {
            assert!(
                line.contains("reason=") || line.contains("le=") || line.contains("path="),
                "unexpected label in {line}"
            );
        }
    }
}
