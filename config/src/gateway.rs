//! Configuration of `samsyn-gateway`: HTTP(S) listener and TLS, data
//! directory, the one media UDP port, TURN relays, SFU tuning, request
//! limits, token lifetime and the audit trail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::ConfigError;
use crate::log::LogConfig;
use crate::rules::{Checks, quoted};
use crate::turn::{TURN_URI_FORM, TurnConfig, is_turn_uri};

/// Everything `samsyn-gateway` reads from file, environment and flags.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address and port of the HTTP(S) listener (WHIP, WHEP, room API, web page).
    pub listen: SocketAddr,
    /// Where rooms and signing keys are kept between restarts.
    pub data_dir: PathBuf,
    /// The URL specialists and the capture daemon reach the gateway at, used in
    /// links and `Location` headers. Unset: `http(s)://{listen}`.
    pub public_url: Option<Url>,
    /// The gateway's name as people know it ("Wound clinic, St. Olav"), shown
    /// on the viewer page so a specialist can see the link leads to the right
    /// place. Unset: the host of the public URL.
    pub display_name: Option<String>,
    /// TLS on the HTTP listener.
    pub tls: TlsConfig,
    /// Browser access from other web origins.
    pub http: HttpConfig,
    /// The media plane's UDP socket and the addresses it announces.
    pub media: MediaConfig,
    /// TURN relays for clients whose UDP cannot reach the media port.
    pub turn: TurnConfig,
    /// Forwarding behaviour of the SFU.
    pub sfu: SfuConfig,
    /// Bounds on what clients may send.
    pub limits: LimitsConfig,
    /// Access tokens for publishers and viewers.
    pub tokens: TokenConfig,
    /// The audit trail of consultations (who joined and left which room).
    pub audit: AuditConfig,
    /// How the log is written.
    pub log: LogConfig,
}

/// TLS on the HTTP listener (rustls; TLS 1.2 and 1.3).
///
/// Plain HTTP is only accepted on a loopback listen address: anywhere else
/// tokens and invite links would cross the network unencrypted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve HTTPS. Without `cert_file`/`key_file` a self-signed certificate
    /// is generated on first start and kept in `<data_dir>/tls/`.
    pub enabled: bool,
    /// PEM certificate chain (the server's certificate first).
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of that certificate.
    pub key_file: Option<PathBuf>,
}

/// Browser access from other web origins.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Web origins (`https://journal.hospital.example`) whose pages may call
    /// WHIP/WHEP and the API from a browser. Empty: none but the gateway's own page.
    pub cors_origins: Vec<Url>,
}

/// The audit trail: an append-only file of consultation events in
/// `<data_dir>/audit/`, rotated by size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Keep the audit trail. It holds participants' display names and
    /// addresses: the record the hospital needs to answer who watched.
    pub enabled: bool,
    /// Size at which the current file is rotated, in bytes.
    pub max_file_bytes: u64,
    /// Rotated files kept besides the current one; older ones are deleted.
    pub max_files: u32,
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
    /// every viewer that loses its picture wants one, and the nurse's uplink
    /// pays for each. Joining viewers may ask sooner a few times in a burst
    /// (see the gateway's keyframe throttle).
    pub pli_throttle_ms: u64,
    /// How many recent packets per stream are kept to answer NACKs. 512 is
    /// about 2 s of a 2.5 Mbit/s stream: a resend arriving later than that
    /// is too late for a live picture, and each packet kept costs memory per
    /// viewer (the buffer is allocated when the viewer joins).
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
    /// Rooms that may be open (created, not ended, not expired) at once.
    pub max_rooms: usize,
    /// Requests per minute one client address may make to token-checked
    /// endpoints (WHIP, WHEP, the API), on average.
    pub requests_per_minute: u32,
    /// Requests one client address may make at once before the per-minute
    /// rate applies (a page starting up makes several).
    pub request_burst: u32,
    /// Time a client has to send a request's headers; also how long an idle
    /// connection is kept open.
    pub header_timeout_secs: u64,
    /// Longest time one request may take, body and media plane included.
    pub request_timeout_secs: u64,
    /// Largest still photo the camera may upload, in bytes. Photos are kept
    /// in memory for the room's lifetime, never on disk.
    pub max_photo_bytes: usize,
    /// Photos one room keeps; the oldest goes when a new one would exceed it.
    pub max_photos_per_room: usize,
    /// Memory all rooms' photos may take together, in bytes. A photo that
    /// would go beyond it is refused (the camera is told to end finished
    /// rooms), so photos can never take the gateway's memory.
    pub max_photo_memory_bytes: usize,
    /// TCP and TLS connections the built-in TURN relay holds open at once.
    pub max_relay_connections: usize,
    /// Relay allocations (one per client relaying through the gateway) at once.
    pub max_relay_allocations: usize,
    /// Relay allocations one client address may hold at once.
    pub max_relay_allocations_per_ip: usize,
}

/// Access tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// How long a new room (and its tokens) stays open, in hours.
    pub ttl_hours: u64,
    /// An Ed25519 PKCS#8 key (PEM or DER, mode 0600) to sign tokens with,
    /// kept outside the data directory; unset: `<data_dir>/keys/`, made on
    /// first start.
    pub signing_key_file: Option<PathBuf>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            data_dir: PathBuf::from("samsyn-data"),
            public_url: None,
            display_name: None,
            tls: TlsConfig::default(),
            http: HttpConfig::default(),
            media: MediaConfig::default(),
            turn: TurnConfig::default(),
            sfu: SfuConfig::default(),
            limits: LimitsConfig::default(),
            tokens: TokenConfig::default(),
            audit: AuditConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            max_file_bytes: 10 * 1024 * 1024,
            max_files: 10,
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
            retransmit_buffer_packets: 512,
            viewer_floor_kbps: 500,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_sdp_bytes: 65536,
            max_viewers_per_room: 50,
            max_rooms: 200,
            requests_per_minute: 120,
            request_burst: 30,
            header_timeout_secs: 10,
            request_timeout_secs: 15,
            max_photo_bytes: 8 * 1024 * 1024,
            max_photos_per_room: 50,
            max_photo_memory_bytes: 512 * 1024 * 1024,
            max_relay_connections: 1024,
            max_relay_allocations: 256,
            max_relay_allocations_per_ip: 16,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            ttl_hours: 12,
            signing_key_file: None,
        }
    }
}

impl GatewayConfig {
    /// The base URL put into links: `public_url` if set, otherwise
    /// `https://{listen}` with TLS and `http://{listen}` without.
    ///
    /// A wildcard listen address (`0.0.0.0`, `::`) makes a link nobody can
    /// open, so validation requires `public_url` in that case.
    pub fn public_base_url(&self) -> Url {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let scheme = if self.tls.enabled { "https" } else { "http" };
        // `SocketAddr`'s Display brackets IPv6 ("[::1]:8080"), which is exactly
        // the URL authority form, so this always parses.
        Url::parse(&format!("{scheme}://{}/", self.listen))
            .expect("http(s)://<socket address>/ is a valid URL")
    }

    /// The name shown to people: `display_name`, else the public URL's host.
    pub fn display_name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| {
            self.public_base_url()
                .host_str()
                .unwrap_or("samsyn gateway")
                .to_owned()
        })
    }

    /// Whether the gateway's listener also serves as a TURN relay:
    /// `turn.builtin`, on by default when the gateway serves TLS.
    pub fn turn_builtin_enabled(&self) -> bool {
        self.turn.builtin.unwrap_or(self.tls.enabled)
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
            checks.require(
                !(self.tls.enabled && url.scheme() == "http"),
                "public_url",
                quoted(url.as_str()),
                "must be an https:// URL when TLS is on (tls.enabled), or links would \
                 point browsers at plain HTTP",
            );
        } else {
            checks.require(
                !self.listen.ip().is_unspecified(),
                "listen",
                self.listen,
                "listens on every address, so links cannot be built from it; set \
                 public_url (--public-url) to the URL people reach the gateway at",
            );
        }
        self.validate_tls(&mut checks);
        if let Some(name) = &self.display_name {
            checks.require(
                (1..=80).contains(&name.chars().count()) && !name.contains(char::is_control),
                "display_name",
                quoted(name),
                "must be 1-80 characters of plain text, e.g. \"Wound clinic, St. Olav\"",
            );
        }
        for origin in &self.http.cors_origins {
            checks.require(
                matches!(origin.scheme(), "http" | "https")
                    && origin.host_str().is_some()
                    && origin.path() == "/"
                    && origin.query().is_none(),
                "http.cors_origins",
                quoted(origin.as_str()),
                "must be a web origin: scheme, host and optional port, no path \
                 (e.g. https://journal.hospital.example)",
            );
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
        self.validate_turn(&mut checks);
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
            "limits.max_photo_bytes",
            self.limits.max_photo_bytes,
            16_384..=67_108_864,
            " bytes",
        );
        checks.in_range(
            "limits.max_photos_per_room",
            self.limits.max_photos_per_room,
            1..=1000,
            " photos",
        );
        checks.in_range(
            "limits.max_photo_memory_bytes",
            self.limits.max_photo_memory_bytes,
            16_384..=68_719_476_736,
            " bytes",
        );
        for (key, value) in [
            (
                "limits.max_relay_connections",
                self.limits.max_relay_connections,
            ),
            (
                "limits.max_relay_allocations",
                self.limits.max_relay_allocations,
            ),
            (
                "limits.max_relay_allocations_per_ip",
                self.limits.max_relay_allocations_per_ip,
            ),
        ] {
            checks.require(value >= 1, key, value, "must be at least 1");
        }
        checks.in_range(
            "limits.max_viewers_per_room",
            self.limits.max_viewers_per_room,
            1..=1000,
            " viewers",
        );
        checks.in_range(
            "limits.max_rooms",
            self.limits.max_rooms,
            1..=100_000,
            " rooms",
        );
        checks.in_range(
            "limits.requests_per_minute",
            self.limits.requests_per_minute,
            1..=100_000,
            " requests",
        );
        checks.in_range(
            "limits.request_burst",
            self.limits.request_burst,
            1..=10_000,
            " requests",
        );
        checks.in_range(
            "limits.header_timeout_secs",
            self.limits.header_timeout_secs,
            1..=300,
            " s",
        );
        checks.in_range(
            "limits.request_timeout_secs",
            self.limits.request_timeout_secs,
            1..=300,
            " s",
        );
        checks.in_range("tokens.ttl_hours", self.tokens.ttl_hours, 1..=720, " hours");
        checks.in_range(
            "audit.max_file_bytes",
            self.audit.max_file_bytes,
            4096..=1 << 32,
            " bytes",
        );
        checks.in_range("audit.max_files", self.audit.max_files, 1..=1000, " files");
        checks.finish()
    }

    /// Relay URIs of the RFC 7065 form, the shared secret for external
    /// relays, and credentials that live long enough to connect but not for days.
    fn validate_turn(&self, checks: &mut Checks) {
        for uri in &self.turn.urls {
            checks.require(is_turn_uri(uri), "turn.urls", quoted(uri), TURN_URI_FORM);
        }
        match &self.turn.secret_file {
            Some(path) => checks.require(
                !path.as_os_str().is_empty(),
                "turn.secret_file",
                quoted(&path.to_string_lossy()),
                "must name the file holding coturn's static-auth-secret, e.g. \
                 \"/etc/samsyn/turn-secret\"",
            ),
            // The gateway cannot learn an external relay's secret, and a
            // credential the relay cannot check is worse than none: clients
            // would try it and wait for the refusal.
            None if !self.turn.urls.is_empty() => checks.unset(
                "turn.secret_file",
                "not set, but turn.urls is: external relays check credentials with coturn's \
                 static-auth-secret; put it in a file (mode 0600) and set turn.secret_file \
                 (SAMSYN_TURN__SECRET_FILE)",
            ),
            None => {}
        }
        checks.in_range(
            "turn.credential_ttl_secs",
            self.turn.credential_ttl_secs,
            60..=86_400,
            " s",
        );
    }

    /// TLS must be on unless the listener is on loopback, and certificate
    /// and key come as a pair.
    fn validate_tls(&self, checks: &mut Checks) {
        checks.require(
            self.tls.enabled || self.listen.ip().is_loopback(),
            "listen",
            self.listen,
            "plain HTTP is only served on a loopback address (127.0.0.1, ::1): anywhere \
             else tokens and links would cross the network unencrypted. Turn TLS on with \
             --tls (tls.enabled = true; a self-signed certificate is generated and kept in \
             the data directory), or give the hospital's certificate with --tls-cert and \
             --tls-key (tls.cert_file, tls.key_file)",
        );
        let pair = [
            ("tls.cert_file", &self.tls.cert_file, "tls.key_file"),
            ("tls.key_file", &self.tls.key_file, "tls.cert_file"),
        ];
        for (key, file, other) in pair {
            if let Some(path) = file {
                checks.require(
                    self.tls.enabled,
                    key,
                    quoted(&path.to_string_lossy()),
                    "is set but TLS is off; set tls.enabled = true (--tls)",
                );
            }
            if file.is_none() && (self.tls.cert_file.is_some() || self.tls.key_file.is_some()) {
                checks.unset(
                    key,
                    format!("not set, but {other} is; give both (--tls-cert and --tls-key)"),
                );
            }
        }
    }

    /// The configuration as TOML, e.g. for `--print-config`; it loads back to `self`.
    pub fn to_toml(&self) -> String {
        crate::print::to_toml(self)
    }
}
