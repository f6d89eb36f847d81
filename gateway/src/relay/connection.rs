//! The relay's side of the HTTPS port: connections handed over by the
//! listener ([`RelayDoor`]) and the task that carries each one.
//!
//! A connection task only moves bytes. It cuts what the client sends into
//! frames and passes them to the media loop, where the [`RelayServer`]
//! (the state) and the SFU live; it writes what the loop queued for it. The
//! loop never waits for a connection ([`SendQueue`]), and a connection waits
//! for the loop only as long as the events channel is full, which slows
//! that client's reading and nobody else's sending.
//!
//! [`RelayServer`]: super::RelayServer

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use samsyn_signaling::server::{Protocol, TurnHandoff, TurnStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::framing::{FirstBytes, FrameReader, MAX_BUFFERED, MAX_FRAME_LEN, classify};
use super::send_queue::SendQueue;
use super::server::{ConnId, RelayTransport};

/// Frames on their way from connections to the media loop, all connections
/// together.
pub const EVENTS_CAPACITY: usize = 4096;

/// What a connection task tells the media loop.
#[derive(Debug)]
pub enum RelayEvent {
    Opened {
        conn: ConnId,
        client: SocketAddr,
        transport: RelayTransport,
        queue: Arc<SendQueue>,
    },
    Frame {
        conn: ConnId,
        frame: Bytes,
    },
    /// The queue drained after RTP was dropped from it.
    DrainedAfterLoss {
        conn: ConnId,
    },
    /// The client sent something that is not TURN framing; `Closed`
    /// follows.
    Malformed {
        conn: ConnId,
    },
    Closed {
        conn: ConnId,
    },
}

/// Takes TURN connections from the HTTPS listener and starts their tasks.
pub struct RelayDoor {
    events: mpsc::Sender<RelayEvent>,
    next_conn: AtomicU64,
}

impl RelayDoor {
    pub fn new(events: mpsc::Sender<RelayEvent>) -> Self {
        Self {
            events,
            next_conn: AtomicU64::new(1),
        }
    }
}

impl TurnHandoff for RelayDoor {
    fn protocol(&self, first_bytes: &[u8]) -> Protocol {
        // At the start of a connection only STUN opens TURN (see `classify`).
        match classify(first_bytes) {
            FirstBytes::Stun => Protocol::Turn,
            FirstBytes::NeedMore => Protocol::NeedMore,
            FirstBytes::Tls | FirstBytes::ChannelData | FirstBytes::Other => Protocol::Other,
        }
    }

    fn take(&self, stream: TurnStream, client: SocketAddr, over_tls: bool) {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let transport = if over_tls {
            RelayTransport::Tls
        } else {
            RelayTransport::Tcp
        };
        tokio::spawn(carry(stream, conn, client, transport, self.events.clone()));
    }
}

/// Carries one connection until either side ends it.
async fn carry(
    stream: TurnStream,
    conn: ConnId,
    client: SocketAddr,
    transport: RelayTransport,
    events: mpsc::Sender<RelayEvent>,
) {
    let queue = Arc::new(SendQueue::default());
    let opened = RelayEvent::Opened {
        conn,
        client,
        transport,
        queue: queue.clone(),
    };
    if events.send(opened).await.is_err() {
        return;
    }
    let (mut reader, mut writer) = tokio::io::split(stream);
    let read = async {
        let mut frames = FrameReader::new(MAX_FRAME_LEN, MAX_BUFFERED);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let read = match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            if let Err(err) = frames.push(&buf[..read]) {
                tracing::debug!(conn, %err, "TURN connection closed");
                let _ = events.send(RelayEvent::Malformed { conn }).await;
                return;
            }
            loop {
                match frames.next_frame() {
                    Ok(Some(frame)) => {
                        if events
                            .send(RelayEvent::Frame { conn, frame })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(err) => {
                        tracing::debug!(conn, %err, "TURN connection closed");
                        let _ = events.send(RelayEvent::Malformed { conn }).await;
                        return;
                    }
                }
            }
        }
    };
    let write = async {
        while let Some(batch) = queue.next_batch().await {
            for frame in &batch.frames {
                if writer.write_all(frame).await.is_err() {
                    return;
                }
            }
            if writer.flush().await.is_err() {
                return;
            }
            if batch.drained_after_loss {
                let _ = events.send(RelayEvent::DrainedAfterLoss { conn }).await;
            }
        }
        let _ = writer.shutdown().await;
    };
    tokio::select! {
        () = read => {}
        () = write => {}
        () = queue.until_abandoned() => {}
    }
    queue.close();
    let _ = events.send(RelayEvent::Closed { conn }).await;
}
