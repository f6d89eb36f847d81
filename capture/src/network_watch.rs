//! Tells the daemon when the laptop's network addresses change.
//!
//! A laptop that moves to another access point, or from Wi-Fi to 4G, gets a
//! new address and loses the old one. A session whose address went away is
//! dead at once, but from the outside that only shows as silence, which
//! takes seconds to trust. The kernel announces every address added and
//! removed on a netlink route socket (`RTMGRP_IPV4_IFADDR`,
//! `RTMGRP_IPV6_IFADDR`), so the daemon can act on the change itself.
//!
//! A thread reads the socket and sends each change on a channel;
//! [`parse`] turns the kernel's messages into changes and is a pure
//! function. Without the socket (not Linux, or a sandbox that forbids it)
//! the daemon carries on: a changed address is then noticed by the silence
//! alone.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tokio::sync::mpsc;

/// An address of the laptop appeared or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressChange {
    /// A usable address appeared (IPv6 addresses once their duplicate
    /// check has passed).
    Added(IpAddr),
    /// An address went away.
    Removed(IpAddr),
}

impl AddressChange {
    /// The address that changed.
    pub fn address(&self) -> IpAddr {
        match *self {
            AddressChange::Added(address) | AddressChange::Removed(address) => address,
        }
    }

    /// Whether the change can concern a session to the gateway: loopback and
    /// link-local addresses never carry one, and with ICE pinned to
    /// `pinned` addresses (none: any address) only those do.
    pub fn concerns(&self, pinned: &[IpAddr]) -> bool {
        let address = self.address();
        let local_only = match address {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_loopback() || v6.is_unicast_link_local(),
        };
        !local_only && (pinned.is_empty() || pinned.contains(&address))
    }
}

/// The changes of the laptop's addresses as they happen.
#[derive(Debug)]
pub struct AddressWatch {
    changes: Option<mpsc::UnboundedReceiver<AddressChange>>,
}

impl AddressWatch {
    /// Starts listening to the kernel; when that is not possible, a watch
    /// that never reports anything.
    pub fn start() -> Self {
        match socket::open() {
            Ok(socket) => {
                let (sender, changes) = mpsc::unbounded_channel();
                let reader = std::thread::Builder::new()
                    .name("address-watch".into())
                    .spawn(move || socket::forward(&socket, &sender));
                match reader {
                    Ok(_) => Self {
                        changes: Some(changes),
                    },
                    Err(e) => Self::unavailable(&e.to_string()),
                }
            }
            Err(e) => Self::unavailable(&e.to_string()),
        }
    }

    /// A watch that never reports anything.
    pub fn none() -> Self {
        Self { changes: None }
    }

    fn unavailable(why: &str) -> Self {
        tracing::debug!(
            "cannot follow the laptop's network addresses ({why}); a changed address is noticed \
             when the gateway goes quiet"
        );
        Self::none()
    }

    /// The next change; never resolves when there is no watch. Cancel-safe
    /// (a change is not lost when the future is dropped unfinished).
    pub async fn next(&mut self) -> AddressChange {
        if let Some(changes) = &mut self.changes {
            if let Some(change) = changes.recv().await {
                return change;
            }
            self.changes = None;
        }
        std::future::pending().await
    }
}

/// The message types and attributes of the route netlink protocol
/// (`linux/rtnetlink.h`, `linux/if_addr.h`).
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// An IPv6 address still in its duplicate address check: not usable yet.
const IFA_F_TENTATIVE: u8 = 0x40;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// `struct nlmsghdr` and `struct ifaddrmsg`.
const NLMSG_HEADER_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;

/// The address changes in one read from a route netlink socket (any number
/// of messages, in the machine's byte order); other messages and anything
/// malformed are skipped.
pub fn parse(buffer: &[u8]) -> Vec<AddressChange> {
    let mut changes = Vec::new();
    let mut rest = buffer;
    while rest.len() >= NLMSG_HEADER_LEN {
        let length = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if length < NLMSG_HEADER_LEN || length > rest.len() {
            break;
        }
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let body = &rest[NLMSG_HEADER_LEN..length];
        let change = match kind {
            RTM_NEWADDR => address_of(body)
                .filter(|(_, tentative)| !tentative)
                .map(|(address, _)| AddressChange::Added(address)),
            RTM_DELADDR => address_of(body).map(|(address, _)| AddressChange::Removed(address)),
            _ => None,
        };
        changes.extend(change);
        rest = rest.get(align(length)..).unwrap_or_default();
    }
    changes
}

/// The address an `ifaddrmsg` (and its attributes) is about, and whether it
/// is tentative.
fn address_of(body: &[u8]) -> Option<(IpAddr, bool)> {
    if body.len() < IFADDRMSG_LEN {
        return None;
    }
    let (family, flags) = (body[0], body[2]);
    let (mut local, mut address) = (None, None);
    let mut rest = &body[IFADDRMSG_LEN..];
    while rest.len() >= 4 {
        let length = usize::from(u16::from_ne_bytes([rest[0], rest[1]]));
        if length < 4 || length > rest.len() {
            break;
        }
        let kind = u16::from_ne_bytes([rest[2], rest[3]]);
        let value = ip(family, &rest[4..length]);
        match kind {
            IFA_LOCAL => local = value,
            IFA_ADDRESS => address = value,
            _ => {}
        }
        rest = rest.get(align(length)..).unwrap_or_default();
    }
    // On point-to-point links IFA_ADDRESS is the far end's address and
    // IFA_LOCAL the laptop's; elsewhere IPv6 gives only IFA_ADDRESS.
    local
        .or(address)
        .map(|ip| (ip, flags & IFA_F_TENTATIVE != 0))
}

fn ip(family: u8, bytes: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        AF_INET6 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// Netlink messages and attributes start on 4-byte boundaries.
fn align(length: usize) -> usize {
    (length + 3) & !3
}

#[cfg(target_os = "linux")]
mod socket {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use tokio::sync::mpsc;

    use super::{AddressChange, parse};

    /// A route netlink socket subscribed to IPv4 and IPv6 address changes.
    pub fn open() -> io::Result<OwnedFd> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a new socket that nothing else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; the fields are set below.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        address.nl_groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        // SAFETY: address is a valid sockaddr_nl of the given size.
        let bound = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                std::ptr::from_ref(&address).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(socket)
    }

    /// Reads the socket and sends every change until the receiver is gone
    /// or the socket fails.
    pub fn forward(socket: &OwnedFd, changes: &mpsc::UnboundedSender<AddressChange>) {
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: buffer is valid for writes of its length.
            let read = unsafe {
                libc::recv(
                    socket.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    0,
                )
            };
            if read < 0 {
                let error = io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // The kernel had more changes than the socket could
                    // hold; the next ones still arrive.
                    Some(libc::ENOBUFS) => {
                        tracing::debug!("some network address changes were missed");
                        continue;
                    }
                    _ => {
                        tracing::debug!(
                            "stopped following the laptop's network addresses: {error}"
                        );
                        return;
                    }
                }
            }
            for change in parse(&buffer[..read as usize]) {
                tracing::debug!(?change, "network address change");
                if changes.send(change).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod socket {
    use std::io;

    use tokio::sync::mpsc;

    use super::AddressChange;

    pub struct Unsupported;

    pub fn open() -> io::Result<Unsupported> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "only Linux announces address changes this way",
        ))
    }

    pub fn forward(_: &Unsupported, _: &mpsc::UnboundedSender<AddressChange>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One netlink message: header, `ifaddrmsg`, then the attributes, each
    /// padded to 4 bytes, as the kernel writes them.
    fn message(kind: u16, family: u8, flags: u8, attributes: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = vec![family, 24, flags, 0];
        body.extend(3u32.to_ne_bytes()); // interface index
        for (attribute, value) in attributes {
            let length = 4 + value.len() as u16;
            body.extend(length.to_ne_bytes());
            body.extend(attribute.to_ne_bytes());
            body.extend(*value);
            body.resize(align(body.len()), 0);
        }
        let length = (16 + body.len()) as u32;
        let mut out = Vec::new();
        out.extend(length.to_ne_bytes());
        out.extend(kind.to_ne_bytes());
        out.extend(0u16.to_ne_bytes()); // flags
        out.extend(0u32.to_ne_bytes()); // sequence
        out.extend(0u32.to_ne_bytes()); // port id
        out.extend(body);
        out
    }

    const V4_OLD: [u8; 4] = [10, 213, 0, 3];
    const V6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42,
    ];

    #[test]
    fn an_ipv4_address_added_and_removed() {
        let added = message(20, 2, 0, &[(1, &V4_OLD), (2, &V4_OLD), (3, b"veth-cl\0")]);
        let removed = message(21, 2, 0, &[(1, &V4_OLD), (2, &V4_OLD)]);
        let ip = IpAddr::from(V4_OLD);
        assert_eq!(parse(&added), [AddressChange::Added(ip)]);
        assert_eq!(parse(&removed), [AddressChange::Removed(ip)]);
    }

    #[test]
    fn several_messages_in_one_read() {
        let mut read = message(20, 2, 0, &[(2, &[10, 213, 0, 4])]);
        read.extend(message(21, 2, 0, &[(2, &V4_OLD)]));
        assert_eq!(
            parse(&read),
            [
                AddressChange::Added("10.213.0.4".parse().unwrap()),
                AddressChange::Removed(IpAddr::from(V4_OLD)),
            ]
        );
    }

    #[test]
    fn the_local_address_wins_over_the_far_end_of_a_point_to_point_link() {
        let ppp = message(20, 2, 0, &[(1, &[192, 0, 2, 1]), (2, &[100, 64, 7, 9])]);
        assert_eq!(
            parse(&ppp),
            [AddressChange::Added("100.64.7.9".parse().unwrap())]
        );
    }

    #[test]
    fn ipv6_comes_as_ifa_address_and_waits_for_its_duplicate_check() {
        let ip = IpAddr::from(V6);
        assert_eq!(
            parse(&message(20, 10, 0, &[(1, &V6)])),
            [AddressChange::Added(ip)]
        );
        assert!(parse(&message(20, 10, 0x40, &[(1, &V6)])).is_empty());
        assert_eq!(
            parse(&message(21, 10, 0x40, &[(1, &V6)])),
            [AddressChange::Removed(ip)]
        );
    }

    #[test]
    fn other_messages_and_broken_ones_are_skipped() {
        // A new link (RTM_NEWLINK), a message without an address, a
        // truncated attribute, a wrong address length, a short read.
        let mut read = message(16, 0, 0, &[]);
        read.extend(message(20, 2, 0, &[(8, &[0; 4])]));
        read.extend(message(20, 2, 0, &[(2, &[10, 213])]));
        assert!(parse(&read).is_empty());
        let mut truncated = message(21, 2, 0, &[(2, &V4_OLD)]);
        truncated.truncate(truncated.len() - 2);
        assert!(parse(&truncated).is_empty());
        assert!(parse(&[1, 2, 3]).is_empty());
        let mut lying = message(21, 2, 0, &[(2, &V4_OLD)]);
        lying[0] = 200; // longer than the read
        assert!(parse(&lying).is_empty());
    }

    #[test]
    fn only_addresses_that_can_carry_the_session_concern_it() {
        let removed = |s: &str| AddressChange::Removed(s.parse().unwrap());
        let pinned: Vec<IpAddr> = vec!["10.213.0.3".parse().unwrap()];
        assert!(removed("192.168.1.20").concerns(&[]));
        assert!(removed("2001:db8::42").concerns(&[]));
        for local in ["127.0.0.1", "::1", "169.254.3.4", "fe80::1"] {
            assert!(!removed(local).concerns(&[]), "{local}");
        }
        assert!(removed("10.213.0.3").concerns(&pinned));
        assert!(!removed("10.213.0.9").concerns(&pinned));
    }
}
