//! Which local addresses the gateway offers as ICE host candidates.

use std::net::{IpAddr, Ipv4Addr};

/// The addresses to bind the media port on: the configured ones, else the
/// loopback address when HTTP listens on loopback (the local demo), else the
/// listen address when it is a specific one, else every non-loopback IPv4
/// address of the machine.
pub fn media_addresses(configured: &[IpAddr], listen: IpAddr) -> Vec<IpAddr> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    if listen.is_loopback() {
        return vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    }
    if !listen.is_unspecified() {
        return vec![listen];
    }
    interface_addresses()
        .into_iter()
        .filter(|ip| !ip.is_loopback() && !is_link_local(ip))
        .collect()
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(_) => true, // IPv4 only for now: see the media module docs.
    }
}

/// The machine's interface addresses (IPv4), from `getifaddrs(3)`.
fn interface_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we free below; we only
    // read `ifa_addr` when it is non-null and of family AF_INET.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut cursor = list;
        while !cursor.is_null() {
            let addr = (*cursor).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                found.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))));
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

    #[test]
    fn configured_addresses_win() {
        let configured = vec!["10.213.0.1".parse().unwrap()];
        assert_eq!(
            media_addresses(&configured, "127.0.0.1".parse().unwrap()),
            configured
        );
    }

    #[test]
    fn loopback_listen_means_loopback_media() {
        assert_eq!(
            media_addresses(&[], "127.0.0.1".parse().unwrap()),
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        );
    }

    #[test]
    fn a_specific_listen_address_is_used() {
        let listen: IpAddr = "10.213.0.1".parse().unwrap();
        assert_eq!(media_addresses(&[], listen), vec![listen]);
    }

    #[test]
    fn wildcard_listen_enumerates_interfaces_without_loopback() {
        let found = media_addresses(&[], "0.0.0.0".parse().unwrap());
        assert!(found.iter().all(|ip| !ip.is_loopback()));
    }
}
