//! Virtual relayed ports: the port half of each allocation's relayed address.
//!
//! No socket is bound to them. A relayed address is a name the SFU sees as
//! the source of a relayed client's datagrams and answers to; it only has to
//! be unique among the live allocations on the same IP.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

/// Hands out relayed addresses from a port range, each once at a time.
#[derive(Debug)]
pub struct VirtualPorts {
    range: RangeInclusive<u16>,
    in_use: HashSet<SocketAddr>,
    /// Where the next search starts, so a freed port is not handed out again
    /// at once (a late datagram for the old allocation must not reach a new one).
    cursor: u16,
}

impl VirtualPorts {
    /// Ports from `range`; an empty range hands out nothing.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        Self {
            cursor: *range.start(),
            range,
            in_use: HashSet::new(),
        }
    }

    /// A free relayed address on `ip`, now taken; `None` when the range is
    /// exhausted for that IP.
    pub fn take(&mut self, ip: IpAddr) -> Option<SocketAddr> {
        let (start, end) = (*self.range.start(), *self.range.end());
        if start > end {
            return None;
        }
        let size = u32::from(end - start) + 1;
        let offset = u32::from(self.cursor.clamp(start, end) - start);
        for step in 0..size {
            // Fits in u16: start + ((offset + step) mod size) <= end.
            let port = start + ((offset + step) % size) as u16;
            let addr = SocketAddr::new(ip, port);
            if self.in_use.insert(addr) {
                self.cursor = if port == end { start } else { port + 1 };
                return Some(addr);
            }
        }
        None
    }

    /// Gives `addr` back.
    pub fn release(&mut self, addr: SocketAddr) {
        self.in_use.remove(&addr);
    }

    /// Whether `addr` is currently handed out.
    pub fn is_taken(&self, addr: SocketAddr) -> bool {
        self.in_use.contains(&addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 213, 0, 1));

    #[test]
    fn hands_out_each_port_once_until_released() {
        let mut ports = VirtualPorts::new(50000..=50002);
        let a = ports.take(IP).unwrap();
        let b = ports.take(IP).unwrap();
        let c = ports.take(IP).unwrap();
        assert_eq!([a.port(), b.port(), c.port()], [50000, 50001, 50002]);
        assert_eq!(ports.take(IP), None, "the range is exhausted");
        ports.release(b);
        assert_eq!(ports.take(IP), Some(b));
    }

    #[test]
    fn a_released_port_is_not_reused_while_others_are_free() {
        let mut ports = VirtualPorts::new(50000..=50009);
        let a = ports.take(IP).unwrap();
        ports.release(a);
        assert_ne!(ports.take(IP), Some(a));
        assert!(!ports.is_taken(a));
    }

    #[test]
    fn ports_are_per_ip_and_the_full_range_works() {
        let mut ports = VirtualPorts::new(65535..=65535);
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(ports.take(IP).map(|a| a.port()), Some(65535));
        assert_eq!(ports.take(v6).map(|a| a.port()), Some(65535));
        assert_eq!(ports.take(IP), None);
        #[allow(clippy::reversed_empty_ranges)]
        let mut empty = VirtualPorts::new(2..=1);
        assert_eq!(empty.take(IP), None);
    }
}
