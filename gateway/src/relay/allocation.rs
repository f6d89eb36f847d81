//! One allocation: its relayed address, the key that authenticates its
//! requests, its lifetime, and its permissions and channel bindings
//! (RFC 8656 §9 and §12), with time passed in.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a permission lasts unless refreshed (RFC 8656 §9).
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// How long a channel binding lasts unless refreshed (RFC 8656 §12).
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// Why a ChannelBind cannot be honoured (RFC 8656 §11.2): both answer 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelConflict {
    #[error("the channel is bound to another peer")]
    ChannelTaken,
    #[error("the peer is bound to another channel")]
    PeerOnOtherChannel,
}

#[derive(Debug, Clone, Copy)]
struct Binding {
    peer: SocketAddr,
    expires: Instant,
}

/// A client's allocation on the relay.
pub struct Allocation {
    relayed: SocketAddr,
    username: String,
    /// The long-term key, MD5(username:realm:password), fixed when the
    /// allocation was created: every later request must be signed with it.
    key: Vec<u8>,
    expires: Instant,
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<u16, Binding>,
    channel_by_peer: HashMap<SocketAddr, u16>,
}

impl fmt::Debug for Allocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the username (it comes from outside) nor the key belongs in a log.
        f.debug_struct("Allocation")
            .field("relayed", &self.relayed)
            .field("expires", &self.expires)
            .field("permissions", &self.permissions.len())
            .field("channels", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl Allocation {
    pub fn new(relayed: SocketAddr, username: String, key: Vec<u8>, expires: Instant) -> Self {
        Self {
            relayed,
            username,
            key,
            expires,
            permissions: HashMap::new(),
            channels: HashMap::new(),
            channel_by_peer: HashMap::new(),
        }
    }

    pub fn relayed(&self) -> SocketAddr {
        self.relayed
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn expires(&self) -> Instant {
        self.expires
    }

    /// Sets a new lifetime from `now`.
    pub fn refresh(&mut self, now: Instant, lifetime: Duration) {
        self.expires = now + lifetime;
    }

    /// Installs or refreshes the permission for `peer_ip`.
    pub fn permit(&mut self, now: Instant, peer_ip: IpAddr) {
        self.permissions.insert(peer_ip, now + PERMISSION_LIFETIME);
    }

    /// Whether datagrams from and to `peer_ip` may pass.
    pub fn is_permitted(&self, now: Instant, peer_ip: IpAddr) -> bool {
        self.permissions
            .get(&peer_ip)
            .is_some_and(|expires| *expires > now)
    }

    /// Binds `channel` to `peer`, or refreshes that binding; either also
    /// installs or refreshes the permission for the peer's IP.
    pub fn bind_channel(
        &mut self,
        now: Instant,
        channel: u16,
        peer: SocketAddr,
    ) -> Result<(), ChannelConflict> {
        if let Some(binding) = self.live_binding(now, channel)
            && binding.peer != peer
        {
            return Err(ChannelConflict::ChannelTaken);
        }
        if let Some(bound) = self.channel_of(now, peer)
            && bound != channel
        {
            return Err(ChannelConflict::PeerOnOtherChannel);
        }
        // An expired binding may still be in the maps until the next sweep.
        if let Some(old) = self.channels.remove(&channel) {
            self.channel_by_peer.remove(&old.peer);
        }
        if let Some(old) = self.channel_by_peer.remove(&peer) {
            self.channels.remove(&old);
        }
        self.channels.insert(
            channel,
            Binding {
                peer,
                expires: now + CHANNEL_LIFETIME,
            },
        );
        self.channel_by_peer.insert(peer, channel);
        self.permit(now, peer.ip());
        Ok(())
    }

    /// The peer `channel` is bound to.
    pub fn channel_peer(&self, now: Instant, channel: u16) -> Option<SocketAddr> {
        self.live_binding(now, channel).map(|binding| binding.peer)
    }

    /// The channel bound to `peer`.
    pub fn channel_of(&self, now: Instant, peer: SocketAddr) -> Option<u16> {
        let channel = *self.channel_by_peer.get(&peer)?;
        self.live_binding(now, channel).map(|_| channel)
    }

    fn live_binding(&self, now: Instant, channel: u16) -> Option<Binding> {
        self.channels
            .get(&channel)
            .filter(|binding| binding.expires > now)
            .copied()
    }

    /// Forgets permissions and channel bindings that have expired.
    pub fn sweep(&mut self, now: Instant) {
        self.permissions.retain(|_, expires| *expires > now);
        let channel_by_peer = &mut self.channel_by_peer;
        self.channels.retain(|_, binding| {
            let live = binding.expires > now;
            if !live {
                channel_by_peer.remove(&binding.peer);
            }
            live
        });
    }

    /// Whether the allocation itself has expired.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires <= now
    }

    /// The next moment something of this allocation expires.
    pub fn next_deadline(&self) -> Instant {
        let permissions = self.permissions.values().copied();
        let channels = self.channels.values().map(|binding| binding.expires);
        permissions.chain(channels).fold(self.expires, Instant::min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocation(now: Instant) -> Allocation {
        Allocation::new(
            "10.213.0.1:50000".parse().unwrap(),
            "user".into(),
            vec![0; 16],
            now + Duration::from_secs(600),
        )
    }

    #[test]
    fn permissions_expire_after_five_minutes_unless_refreshed() {
        let t0 = Instant::now();
        let mut alloc = allocation(t0);
        let peer: IpAddr = "10.213.0.1".parse().unwrap();
        assert!(!alloc.is_permitted(t0, peer));
        alloc.permit(t0, peer);
        assert!(alloc.is_permitted(t0 + Duration::from_secs(299), peer));
        assert!(!alloc.is_permitted(t0 + Duration::from_secs(300), peer));
        alloc.permit(t0 + Duration::from_secs(200), peer);
        assert!(alloc.is_permitted(t0 + Duration::from_secs(499), peer));
        assert_eq!(alloc.next_deadline(), t0 + Duration::from_secs(500));
        alloc.sweep(t0 + Duration::from_secs(500));
        assert_eq!(alloc.next_deadline(), t0 + Duration::from_secs(600));
    }

    #[test]
    fn channel_rules_of_rfc_8656() {
        let t0 = Instant::now();
        let mut alloc = allocation(t0);
        let a: SocketAddr = "10.213.0.1:4000".parse().unwrap();
        let b: SocketAddr = "10.213.0.1:4001".parse().unwrap();
        alloc.bind_channel(t0, 0x4000, a).unwrap();
        assert!(alloc.is_permitted(t0, a.ip()), "a binding permits the peer");
        // Refreshing the same binding is fine.
        alloc.bind_channel(t0, 0x4000, a).unwrap();
        assert_eq!(
            alloc.bind_channel(t0, 0x4000, b),
            Err(ChannelConflict::ChannelTaken)
        );
        assert_eq!(
            alloc.bind_channel(t0, 0x4001, a),
            Err(ChannelConflict::PeerOnOtherChannel)
        );
        assert_eq!(alloc.channel_peer(t0, 0x4000), Some(a));
        assert_eq!(alloc.channel_of(t0, a), Some(0x4000));

        let later = t0 + CHANNEL_LIFETIME;
        assert_eq!(alloc.channel_peer(later, 0x4000), None);
        alloc.bind_channel(later, 0x4000, b).unwrap();
        assert_eq!(alloc.channel_of(later, a), None);
        assert_eq!(alloc.channel_of(later, b), Some(0x4000));
    }
}
