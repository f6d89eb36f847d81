//! The thread that drives every WebRTC endpoint of a load test: synthetic
//! cameras sending H.264-shaped RTP, and viewers receiving and decrypting
//! it (no decoding). One thread, one `poll` over all sockets, so the bench
//! itself stays light next to the gateway it measures.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp;

use crate::connect::frames;
use crate::webrtc::{ClientPeer, poll_ready};

/// What one viewer received, readable from any thread.
#[derive(Debug, Default)]
pub struct ViewerCounters {
    /// RTP packets of any kind.
    pub packets: AtomicU64,
    /// Their payload bytes.
    pub bytes: AtomicU64,
    /// Video packets the sequence numbers say were sent since the first.
    pub video_expected: AtomicU64,
    pub video_received: AtomicU64,
    /// From the WHEP offer to the first video packet, µs; 0 until then.
    pub first_frame_us: AtomicU64,
    /// From the WHEP offer to ICE and DTLS being up, µs; 0 until then.
    pub connected_us: AtomicU64,
    pub failed: AtomicBool,
}

/// A synthetic camera's state, readable from any thread.
#[derive(Debug, Default)]
pub struct PublisherCounters {
    pub connected: AtomicBool,
    pub failed: AtomicBool,
    pub packets: AtomicU64,
    /// Keyframe requests (PLI, FIR) it answered.
    pub keyframe_requests: AtomicU64,
}

/// A new endpoint for the driver.
pub enum Member {
    Publisher {
        peer: ClientPeer,
        payload_type: u8,
        ssrc: u32,
        kbps: u32,
        counters: Arc<PublisherCounters>,
    },
    Viewer {
        peer: ClientPeer,
        /// Payload types of the video the gateway sends this viewer.
        video_payload_types: Vec<u8>,
        offered_at: Instant,
        counters: Arc<ViewerCounters>,
    },
}

/// Handle to the running driver.
pub struct Driver {
    members: Sender<Member>,
    publishing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Driver {
    pub fn start() -> std::io::Result<Self> {
        let (members, incoming) = channel();
        let publishing = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (publishing, stop) = (publishing.clone(), stop.clone());
            std::thread::Builder::new()
                .name("bench-driver".into())
                .spawn(move || drive(&incoming, &publishing, &stop))?
        };
        Ok(Self {
            members,
            publishing,
            stop,
            thread: Some(thread),
        })
    }

    pub fn add(&self, member: Member) {
        // The driver only ends when told to, after every member was added.
        let _ = self.members.send(member);
    }

    /// Stops or restarts every synthetic camera.
    pub fn set_publishing(&self, on: bool) {
        self.publishing.store(on, Ordering::Relaxed);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Publisher {
    peer: ClientPeer,
    payload_type: u8,
    ssrc: u32,
    kbps: u32,
    counters: Arc<PublisherCounters>,
    seq: u16,
    timestamp: u32,
    frame: u32,
    next_frame: Instant,
    keyframe_due: bool,
}

struct Viewer {
    peer: ClientPeer,
    video_payload_types: Vec<u8>,
    offered_at: Instant,
    counters: Arc<ViewerCounters>,
    first_seq: Option<u64>,
    highest_seq: Option<u64>,
    last_seq: Option<u16>,
}

/// The longest the loop sleeps without looking at timers.
const MAX_WAIT: Duration = Duration::from_millis(5);

fn drive(incoming: &Receiver<Member>, publishing: &AtomicBool, stop: &AtomicBool) {
    let mut publishers: Vec<Publisher> = Vec::new();
    let mut viewers: Vec<Viewer> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        while let Ok(member) = incoming.try_recv() {
            match member {
                Member::Publisher {
                    peer,
                    payload_type,
                    ssrc,
                    kbps,
                    counters,
                } => publishers.push(Publisher {
                    peer,
                    payload_type,
                    ssrc,
                    kbps,
                    counters,
                    seq: rand::random(),
                    timestamp: rand::random(),
                    frame: 0,
                    next_frame: Instant::now(),
                    keyframe_due: true,
                }),
                Member::Viewer {
                    peer,
                    video_payload_types,
                    offered_at,
                    counters,
                } => viewers.push(Viewer {
                    peer,
                    video_payload_types,
                    offered_at,
                    counters,
                    first_seq: None,
                    highest_seq: None,
                    last_seq: None,
                }),
            }
        }
        let sending = publishing.load(Ordering::Relaxed);
        let now = Instant::now();
        let mut until = now + MAX_WAIT;
        if sending {
            for p in publishers
                .iter()
                .filter(|p| p.counters.connected.load(Ordering::Relaxed))
            {
                until = until.min(p.next_frame);
            }
        }
        let peers: Vec<&ClientPeer> = publishers
            .iter()
            .map(|p| &p.peer)
            .chain(viewers.iter().map(|v| &v.peer))
            .collect();
        let ready = poll_ready(&peers, until.saturating_duration_since(now));
        let now = Instant::now();
        for (i, p) in publishers.iter_mut().enumerate() {
            if ready[i] || p.peer.timer_due(now) {
                p.peer.pump(|_| {});
            }
            p.service(now, sending);
        }
        let offset = publishers.len();
        for (i, v) in viewers.iter_mut().enumerate() {
            if ready[offset + i] || v.peer.timer_due(now) {
                v.pump();
            }
        }
    }
    for p in &mut publishers {
        p.peer.close();
    }
    for v in &mut viewers {
        v.peer.close();
    }
}

impl Publisher {
    fn service(&mut self, now: Instant, sending: bool) {
        let state = self.peer.state();
        self.counters
            .connected
            .store(state.connected, Ordering::Relaxed);
        self.counters.failed.store(state.failed, Ordering::Relaxed);
        if !state.connected || state.failed {
            return;
        }
        let requests = self.peer.take_keyframe_requests();
        if requests > 0 {
            self.keyframe_due = true;
            self.counters
                .keyframe_requests
                .fetch_add(requests, Ordering::Relaxed);
        }
        if !sending {
            self.next_frame = now;
            return;
        }
        if now < self.next_frame {
            return;
        }
        self.send_frame();
        self.next_frame += frames::frame_interval();
        if self.next_frame < now {
            // Fell behind (a busy machine): skip, as a live encoder would.
            self.next_frame = now + frames::frame_interval();
        }
    }

    /// One frame as a burst of H.264 RTP packets: a single NAL unit when it
    /// fits, FU-A fragments otherwise; IDR when a keyframe is due.
    fn send_frame(&mut self) {
        let keyframe = self.keyframe_due || self.frame.is_multiple_of(frames::KEYFRAME_EVERY * 2);
        self.keyframe_due = false;
        // frame_packets makes index 0 of each cycle the big one: ask for a
        // keyframe's size by index when one is due.
        let index = if keyframe {
            0
        } else {
            1 + self.frame % (frames::KEYFRAME_EVERY - 1)
        };
        let sizes = frames::frame_packets(self.kbps, index, 2);
        let nal_type: u8 = if keyframe { 5 } else { 1 };
        let count = sizes.len();
        for (i, size) in sizes.into_iter().enumerate() {
            let mut payload = vec![0u8; size.max(2)];
            if count == 1 {
                payload[0] = 0x60 | nal_type;
            } else {
                payload[0] = 0x60 | 28; // FU-A, NRI 3
                let start = if i == 0 { 0x80 } else { 0 };
                let end = if i == count - 1 { 0x40 } else { 0 };
                payload[1] = start | end | nal_type;
            }
            let packet = rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker: i == count - 1,
                    payload_type: self.payload_type,
                    sequence_number: self.seq,
                    timestamp: self.timestamp,
                    ssrc: self.ssrc,
                    ..Default::default()
                },
                payload: Bytes::from(payload),
            };
            if self.peer.write_rtp(packet).is_ok() {
                self.counters.packets.fetch_add(1, Ordering::Relaxed);
            }
            self.seq = self.seq.wrapping_add(1);
        }
        self.peer.flush();
        self.frame += 1;
        self.timestamp = self
            .timestamp
            .wrapping_add(frames::CLOCK_RATE / frames::FPS);
    }
}

impl Viewer {
    fn pump(&mut self) {
        let Self {
            peer,
            video_payload_types,
            offered_at,
            counters,
            first_seq,
            highest_seq,
            last_seq,
        } = self;
        peer.pump(|received| {
            counters.packets.fetch_add(1, Ordering::Relaxed);
            counters
                .bytes
                .fetch_add(received.packet.payload.len() as u64, Ordering::Relaxed);
            let header = &received.packet.header;
            if !video_payload_types.contains(&header.payload_type) {
                return;
            }
            if counters.first_frame_us.load(Ordering::Relaxed) == 0 {
                let ttff = received.at.saturating_duration_since(*offered_at);
                counters
                    .first_frame_us
                    .store((ttff.as_micros() as u64).max(1), Ordering::Relaxed);
            }
            // Extend the 16-bit sequence number across wrap-arounds.
            let seq = match (*last_seq, *highest_seq) {
                (Some(last), Some(high)) => {
                    let delta = header.sequence_number.wrapping_sub(last) as i16;
                    (high as i64 + i64::from(delta)).max(0) as u64
                }
                _ => u64::from(header.sequence_number) + (1 << 16),
            };
            if highest_seq.is_none_or(|h| seq > h) {
                *highest_seq = Some(seq);
                *last_seq = Some(header.sequence_number);
            }
            let first = *first_seq.get_or_insert(seq);
            counters
                .video_expected
                .store(highest_seq.unwrap_or(seq) - first + 1, Ordering::Relaxed);
            counters.video_received.fetch_add(1, Ordering::Relaxed);
        });
        if peer.state().failed {
            counters.failed.store(true, Ordering::Relaxed);
        }
        if peer.state().connected && counters.connected_us.load(Ordering::Relaxed) == 0 {
            let took = offered_at.elapsed().as_micros() as u64;
            counters.connected_us.store(took.max(1), Ordering::Relaxed);
        }
    }
}
