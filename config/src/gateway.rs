//! Configuration of `samsyn-gateway`: HTTP listener, data directory, the one
//! media UDP port, SFU tuning, request limits and token lifetime.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ConfigError;
use crate::rules::{Checks, quoted};

/// Everything `samsyn-gateway` reads from file, environment and flags.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address and port of the HTTP(S) listener (WHIP, WHEP, room API, web page).
    pub listen: SocketAddr,
    /// Where rooms and signing keys are kept between restarts.
    pub data_dir: PathBuf,
    /// The URL specialists and the capture daemon reach the gateway at, used in
    /// links and `Location` headers. Unset: `http://{listen}`.
    pub public_url: Option<Url>,
    /// The media plane's UDP socket and the addresses it announces.
    pub media: MediaConfig,
    /// Forwarding behaviour of the SFU.
    pub sfu: SfuConfig,
    /// Bounds on what clients may send.
    pub limits: LimitsConfig,
    /// Access tokens for publishers and viewers.
    pub tokens: TokenConfig,
}

/// The single UDP port that carries all WebRTC media of the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// UDP port of the media socket; hospital firewalls open exactly this one.
    pub udp_port: u16,
    /// Local addresses to gather ICE host candidates on; empty means all
    /// usable addresses of the machine.
    pub addresses: Vec<IpAddr>,
    /// Addresses announced to peers instead of the local ones, for a gateway
    /// behind 1:1 NAT; empty means announce the local addresses.
    pub public_addresses: Vec<IpAddr>,
}

/// SFU forwarding knobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SfuConfig {
    /// Minimum time between keyframe requests (PLI) forwarded to the publisher;
    /// every joining viewer wants one, and the nurse's uplink pays for each.
    pub pli_throttle_ms: u64,
    /// How many recent packets per stream are kept to answer NACKs.
    pub retransmit_buffer_packets: usize,
    /// The camera is never asked to send less than this for the sake of one
    /// slow viewer (kbit/s): the slowest viewer decides the room's bitrate,
    /// down to this floor.
    pub viewer_floor_kbps: u32,
}

/// Bounds on client input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest SDP offer accepted on WHIP/WHEP, in bytes.
    pub max_sdp_bytes: usize,
    /// Viewers allowed in one room at once.
    pub max_viewers_per_room: usize,
}

/// Access tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// How long a newly issued token stays valid, in hours.
    pub ttl_hours: u64,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            data_dir: PathBuf::from("samsyn-data"),
            public_url: None,
            media: MediaConfig::default(),
            sfu: SfuConfig::default(),
            limits: LimitsConfig::default(),
            tokens: TokenConfig::default(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            udp_port: 50000,
            addresses: Vec::new(),
            public_addresses: Vec::new(),
        }
    }
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            pli_throttle_ms: 500,
            retransmit_buffer_packets: 1024,
            viewer_floor_kbps: 500,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_sdp_bytes: 65536,
            max_viewers_per_room: 50,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig { ttl_hours: 12 }
    }
}

impl GatewayConfig {
    /// The base URL put into links: `public_url` if set, otherwise `http://{listen}`.
    ///
    /// A wildcard listen address (`0.0.0.0`, `::`) makes a link nobody can open;
    /// set `public_url` in that case.
    pub fn public_base_url(&self) -> Url {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        // `SocketAddr`'s Display brackets IPv6 ("[::1]:8080"), which is exactly
        // the URL authority form, so this always parses.
        Url::parse(&format!("http://{}/", self.listen))
            .expect("http://<socket address>/ is a valid URL")
    }

    /// Checks every value against its allowed range; lists all problems found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut checks = Checks::default();
        checks.require(
            !self.data_dir.as_os_str().is_empty(),
            "data_dir",
            quoted(&self.data_dir.to_string_lossy()),
            "must name a directory, e.g. \"samsyn-data\" or \"/var/lib/samsyn\"",
        );
        if let Some(url) = &self.public_url {
            checks.http_url("public_url", url);
        }
        checks.require(
            self.media.udp_port != 0,
            "media.udp_port",
            self.media.udp_port,
            "must be a port number 1-65535 (a fixed port, so firewalls can open it)",
        );
        for (key, addresses) in [
            ("media.addresses", &self.media.addresses),
            ("media.public_addresses", &self.media.public_addresses),
        ] {
            for address in addresses {
                checks.require(
                    !address.is_unspecified(),
                    key,
                    address,
                    "must be a concrete address, not the wildcard; leave the list empty for all",
                );
            }
        }
        checks.in_range(
            "sfu.pli_throttle_ms",
            self.sfu.pli_throttle_ms,
            50..=10_000,
            " ms",
        );
        // RTP sequence numbers wrap at 65536; a buffer over half of that could
        // hold two packets with the same number.
        checks.in_range(
            "sfu.retransmit_buffer_packets",
            self.sfu.retransmit_buffer_packets,
            16..=32_768,
            " packets",
        );
        // The retransmission buffer indexes by sequence number modulo its size.
        checks.require(
            self.sfu.retransmit_buffer_packets.is_power_of_two(),
            "sfu.retransmit_buffer_packets",
            self.sfu.retransmit_buffer_packets,
            "must be a power of two (16, 32, …, 1024, …, 32768)",
        );
        checks.in_range(
            "sfu.viewer_floor_kbps",
            self.sfu.viewer_floor_kbps,
            100..=50_000,
            " kbit/s",
        );
        checks.in_range(
            "limits.max_sdp_bytes",
            self.limits.max_sdp_bytes,
            1024..=1_048_576,
            " bytes",
        );
        checks.in_range(
            "limits.max_viewers_per_room",
            self.limits.max_viewers_per_room,
            1..=1000,
            " viewers",
        );
        checks.in_range("tokens.ttl_hours", self.tokens.ttl_hours, 1..=720, " hours");
        checks.finish()
    }

    /// The configuration as TOML, e.g. for `--print-config`; it loads back to `self`.
    pub fn to_toml(&self) -> String {
        crate::print::to_toml(self)
    }
}
