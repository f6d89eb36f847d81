//! Which local addresses ICE may gather on.
//!
//! libnice skips loopback addresses unless told to use them, and gathers on
//! every interface otherwise. The rule here: addresses given explicitly
//! (`--ice-address`) are used exclusively; with none given and the gateway on
//! a loopback host, 127.0.0.1 (::1 for an `[::1]` gateway) is used so a local
//! demo never leaves the machine; otherwise libnice chooses.
//!
//! Relays work on pinned addresses too: libnice connects to a TURN relay
//! from each (non-link-local) host candidate of the relay's IP family, so
//! the relay is reached from the pinned address. What pinning can make
//! unreachable is reported by [`super::relays::pinning_problem`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use gstreamer as gst;
use gstreamer::prelude::*;
use url::{Host, Url};

/// The addresses ICE should be pinned to, or an empty list for "all".
pub fn pinned_addresses(configured: &[IpAddr], gateway: &Url) -> Vec<IpAddr> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    match gateway.host() {
        Some(Host::Ipv6(ip)) if ip.is_loopback() => vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        _ if is_loopback_host(gateway) => vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        _ => Vec::new(),
    }
}

/// Whether the URL's host is 127.0.0.0/8, ::1 or `localhost`.
pub fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// The ICE agent refused an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// webrtcbin has no `ice-agent` (GStreamer older than 1.22).
    #[error(
        "this GStreamer's webrtcbin has no ICE agent property (needs GStreamer 1.22 or newer), \
         so --ice-address cannot be applied"
    )]
    NoAgent,
    /// The agent rejected the address.
    #[error(
        "the ICE agent rejected local address {0}; pass an address of one of this \
         machine's interfaces to --ice-address"
    )]
    Rejected(IpAddr),
}

/// Restricts `webrtcbin`'s ICE agent to `addresses` (no-op when empty).
/// Must be called before the local description is set, when gathering starts.
pub fn pin(webrtcbin: &gst::Element, addresses: &[IpAddr]) -> Result<(), PinError> {
    if addresses.is_empty() {
        return Ok(());
    }
    if webrtcbin.find_property("ice-agent").is_none() {
        return Err(PinError::NoAgent);
    }
    let agent = webrtcbin
        .property::<Option<gst::glib::Object>>("ice-agent")
        .ok_or(PinError::NoAgent)?;
    for address in addresses {
        let accepted = agent.emit_by_name::<bool>("add-local-ip-address", &[&address.to_string()]);
        if !accepted {
            return Err(PinError::Rejected(*address));
        }
        tracing::debug!(%address, "ICE pinned to local address");
    }
    Ok(())
}

/// Turns off ICE-TCP candidates: the gateway takes media on one UDP port
/// only, so TCP candidates would just lengthen the offer and the checks.
///
/// TURN over TCP is not affected: libnice opens the TCP connection to a
/// relay from each UDP host candidate, bound to that candidate's address
/// (`agent_create_tcp_turn_socket` in libnice's `agent/agent.c`); `ice-tcp`
/// only governs ICE-TCP host candidates.
pub fn udp_only(webrtcbin: &gst::Element) {
    let Some(agent) = webrtcbin
        .find_property("ice-agent")
        .and_then(|_| webrtcbin.property::<Option<gst::glib::Object>>("ice-agent"))
    else {
        return;
    };
    if agent.find_property("ice-tcp").is_some() {
        agent.set_property("ice-tcp", false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn configured_addresses_win() {
        let configured: Vec<IpAddr> = vec!["10.213.0.2".parse().unwrap()];
        assert_eq!(
            pinned_addresses(&configured, &url("http://127.0.0.1:8080")),
            configured
        );
    }

    #[test]
    fn loopback_gateway_pins_loopback() {
        for gateway in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:8080/",
            "https://LOCALHOST.",
        ] {
            assert_eq!(
                pinned_addresses(&[], &url(gateway)),
                vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
                "{gateway}"
            );
        }
    }

    #[test]
    fn ipv6_loopback_gateway_pins_ipv6_loopback() {
        assert_eq!(
            pinned_addresses(&[], &url("http://[::1]:8080")),
            vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
    }

    #[test]
    fn remote_gateway_leaves_ice_free() {
        for gateway in ["https://wound.example.org", "http://10.213.0.1:8080"] {
            assert!(pinned_addresses(&[], &url(gateway)).is_empty(), "{gateway}");
        }
    }
}
