//! Which local addresses the gateway offers as ICE host candidates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The addresses to bind the media port on: the configured ones, else the
/// loopback address of the listen address's family when HTTP listens on
/// loopback (the local demo), else the listen address when it is a specific
/// one, else every usable address of the machine, IPv4 and IPv6 (see
/// [`is_usable`]).
pub fn media_addresses(configured: &[IpAddr], listen: IpAddr) -> Vec<IpAddr> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    if listen.is_loopback() {
        return vec![match listen {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        }];
    }
    if !listen.is_unspecified() {
        return vec![listen];
    }
    let mut found: Vec<IpAddr> = Vec::new();
    for ip in interface_addresses() {
        if is_usable(&ip) && !found.contains(&ip) && can_bind(ip) {
            found.push(ip);
        }
    }
    found
}

/// Whether a peer elsewhere could reach the gateway at `ip`: not loopback,
/// not link-local (169.254/16, fe80::/10: they need a scope and are never
/// routed), not the wildcard or multicast. Global and unique local
/// (fc00::/7) IPv6 addresses are usable.
fn is_usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified() || v4.is_multicast())
        }
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// Whether a socket can be bound on `ip` now. An IPv6 address still in
/// duplicate address detection (or that failed it) is listed but cannot
/// be bound; it is left out rather than failing the whole media port.
fn can_bind(ip: IpAddr) -> bool {
    match std::net::UdpSocket::bind((ip, 0)) {
        Ok(_) => true,
        Err(err) => {
            tracing::warn!("not offering media on {ip}: cannot bind it ({err})");
            false
        }
    }
}

/// The machine's interface addresses (IPv4 and IPv6), from `getifaddrs(3)`.
fn interface_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below; we only
    // read `ifa_addr` when it is non-null, as the structure its family names.
    #[allow(unsafe_code, reason = "libc: std cannot list interface addresses")]
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut cursor = list;
        while !cursor.is_null() {
            let addr = (*cursor).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        found.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            sin.sin_addr.s_addr,
                        ))));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        found.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            cursor = (*cursor).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn configured_addresses_win() {
        let configured = vec![ip("10.213.0.1"), ip("fd00:213::1")];
        assert_eq!(media_addresses(&configured, ip("127.0.0.1")), configured);
    }

    #[test]
    fn loopback_listen_means_loopback_media_of_its_family() {
        assert_eq!(
            media_addresses(&[], ip("127.0.0.1")),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
        assert_eq!(
            media_addresses(&[], ip("::1")),
            vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]
        );
    }

    #[test]
    fn a_specific_listen_address_is_used() {
        for listen in [ip("10.213.0.1"), ip("fd00:213::1")] {
            assert_eq!(media_addresses(&[], listen), vec![listen]);
        }
    }

    #[test]
    fn global_and_unique_local_ipv6_are_usable_link_local_and_loopback_not() {
        for usable in ["10.213.0.1", "2001:db8::1", "fd00:213::1", "fc00::1"] {
            assert!(is_usable(&ip(usable)), "{usable}");
        }
        for unusable in [
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "febf::1",
            "ff02::1",
        ] {
            assert!(!is_usable(&ip(unusable)), "{unusable}");
        }
    }

    #[test]
    fn wildcard_listen_enumerates_usable_interface_addresses() {
        for wildcard in ["0.0.0.0", "::"] {
            let found = media_addresses(&[], ip(wildcard));
            assert!(found.iter().all(is_usable), "{wildcard}: {found:?}");
        }
    }

    #[test]
    fn the_interfaces_ipv6_addresses_are_listed() {
        // Where IPv6 is on, `lo` has ::1 (and it can be bound).
        let all = interface_addresses();
        if std::net::UdpSocket::bind("[::1]:0").is_ok() {
            assert!(all.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST)), "{all:?}");
        }
    }
}
