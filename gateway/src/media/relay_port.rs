//! The built-in TURN relay as the media loop runs it: the relay's state
//! beside the SFU, so a relayed datagram goes from a client's connection to
//! the SFU (and back) without crossing a thread.
//!
//! To the SFU a relayed client is an ordinary remote address: the virtual
//! relayed address of its allocation. What the SFU sends there goes to the
//! relay instead of a socket; what the relay lets through arrives as a
//! datagram from that address to the media address it was sent to.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::sfu::Sfu;
use crate::relay::send_queue::Pushed;
use crate::relay::{
    ConnId, CredentialLookup, RelayEvent, RelayOutput, RelayServer, RelaySettings, RelayStats,
    RelayTransport, SendQueue,
};

/// The relay, its connections' queues and the events from their tasks.
pub struct RelayPort {
    server: RelayServer,
    events: mpsc::Receiver<RelayEvent>,
    queues: HashMap<ConnId, Arc<SendQueue>>,
    relayed_ips: Vec<IpAddr>,
    relayed_ports: RangeInclusive<u16>,
    /// Media dropped because a connection could not keep up.
    dropped_for_backpressure: u64,
    /// Connections closed because even their control frames piled up.
    closed_for_backpressure: u64,
    /// Connections closed because their bytes were not TURN framing.
    closed_malformed_streams: u64,
}

impl RelayPort {
    pub fn new(
        settings: RelaySettings,
        credentials: CredentialLookup,
        events: mpsc::Receiver<RelayEvent>,
    ) -> Self {
        Self {
            relayed_ips: settings.relayed_ips.clone(),
            relayed_ports: settings.relayed_ports.clone(),
            server: RelayServer::new(settings, credentials),
            events,
            queues: HashMap::new(),
            dropped_for_backpressure: 0,
            closed_for_backpressure: 0,
            closed_malformed_streams: 0,
        }
    }

    /// The next event from a connection task; pending forever once every
    /// sender is gone (the process is stopping).
    pub async fn next_event(&mut self) -> RelayEvent {
        match self.events.recv().await {
            Some(event) => event,
            None => std::future::pending().await,
        }
    }

    /// Applies one event from a connection task.
    pub fn handle_event(&mut self, now: Instant, event: RelayEvent, sfu: &mut Sfu) {
        match event {
            RelayEvent::Opened {
                conn,
                client,
                transport,
                queue,
            } => {
                self.queues.insert(conn, queue);
                self.server.connection_opened(now, conn, client, transport);
            }
            RelayEvent::Frame { conn, frame } => self.server.handle_frame(now, conn, &frame),
            RelayEvent::DrainedAfterLoss { conn } => {
                if let Some(relayed) = self.server.relayed_address_of(conn) {
                    sfu.viewer_lost_media(now, relayed);
                }
            }
            RelayEvent::Malformed { .. } => self.closed_malformed_streams += 1,
            RelayEvent::Closed { conn } => {
                self.queues.remove(&conn);
                self.server.connection_closed(conn);
            }
        }
        self.carry_out(now, sfu);
    }

    /// Sends `data` from our media address `local` to `remote` through the
    /// relay when `remote` is a relayed address; false when it is not ours
    /// and must go to a socket.
    pub fn send(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
    ) -> bool {
        self.server.send_to_client(now, local, remote, data)
    }

    /// Whether a datagram that arrived on a real socket claims to come from
    /// the relay's virtual addresses: a spoof, since no socket is behind
    /// them, and dropped.
    pub fn is_spoofed_source(&self, remote: SocketAddr) -> bool {
        self.relayed_ips.contains(&remote.ip()) && self.relayed_ports.contains(&remote.port())
    }

    /// How the client behind `remote` reaches the relay, if it does.
    pub fn transport_of(&self, remote: SocketAddr) -> Option<RelayTransport> {
        self.server.relayed_transport(remote)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant, sfu: &mut Sfu) {
        self.server.handle_timeout(now);
        self.carry_out(now, sfu);
    }

    /// Does what the relay asked for: frames to the connections' queues,
    /// datagrams into the SFU, connections closed.
    pub fn carry_out(&mut self, now: Instant, sfu: &mut Sfu) {
        while let Some(output) = self.server.poll_output() {
            match output {
                RelayOutput::ToClient {
                    conn,
                    frame,
                    droppable,
                } => {
                    let Some(queue) = self.queues.get(&conn) else {
                        continue;
                    };
                    match queue.push(frame, droppable) {
                        Pushed::Queued | Pushed::Closed => {}
                        Pushed::Purged { dropped } => {
                            self.dropped_for_backpressure += dropped as u64;
                            // Hold its video for a keyframe, and ask for one.
                            if let Some(relayed) = self.server.relayed_address_of(conn) {
                                sfu.viewer_lost_media(now, relayed);
                            }
                        }
                        Pushed::Overflow => {
                            tracing::debug!(conn, "TURN connection closed: it stopped reading");
                            self.closed_for_backpressure += 1;
                            queue.abandon();
                            self.server.connection_closed(conn);
                        }
                    }
                }
                RelayOutput::ToSfu {
                    relayed,
                    peer,
                    payload,
                } => sfu.handle_datagram(now, peer, relayed, &payload),
                RelayOutput::Close { conn } => {
                    if let Some(queue) = self.queues.remove(&conn) {
                        queue.close();
                    }
                }
            }
        }
    }

    /// The relay's counters, with what back-pressure cost.
    pub fn stats(&self) -> RelayPortStats {
        RelayPortStats {
            relay: self.server.stats(),
            dropped_for_backpressure: self.dropped_for_backpressure,
            closed_for_backpressure: self.closed_for_backpressure,
            closed_malformed_streams: self.closed_malformed_streams,
        }
    }
}

/// [`RelayStats`] and what the queues did.
#[derive(Debug, Clone, Default)]
pub struct RelayPortStats {
    pub relay: RelayStats,
    pub dropped_for_backpressure: u64,
    pub closed_for_backpressure: u64,
    pub closed_malformed_streams: u64,
}
