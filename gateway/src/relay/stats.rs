//! What the relay counts, for `/metrics` and for tests.

/// A snapshot of the relay's state and counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Open TURN connections (TCP and TLS).
    pub connections: usize,
    /// Live allocations.
    pub allocations: usize,
    /// Requests refused for a wrong password or an unknown or expired username.
    pub refused_credentials: u64,
    /// Permissions refused for a peer that is not one of the gateway's media addresses.
    pub refused_forbidden_peer: u64,
    /// Allocations or connections refused for a limit (per client IP, total, ports).
    pub refused_quota: u64,
    /// Connections closed for sending something that is not TURN.
    pub closed_malformed: u64,
    /// Connections closed for holding no allocation past the authentication timeout.
    pub closed_unauthenticated: u64,
    /// Allocations that expired without a refresh.
    pub expired_allocations: u64,
    /// Frames received from clients (STUN and ChannelData).
    pub frames_from_clients: u64,
    /// Frames sent to clients (responses and relayed datagrams).
    pub frames_to_clients: u64,
    /// Datagrams relayed from clients to the SFU.
    pub datagrams_to_sfu: u64,
    /// Datagrams relayed from the SFU to clients.
    pub datagrams_to_clients: u64,
    /// Datagrams dropped for want of an allocation, permission or channel.
    pub dropped_datagrams: u64,
}
