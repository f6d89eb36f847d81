//! Sending a viewer's burst in one system call: UDP generic segmentation
//! offload (GSO, `UDP_SEGMENT`, Linux 4.18+).
//!
//! A camera's frame arrives as a burst of equal-size packets, and each viewer
//! gets its own copy of the burst. Instead of one `sendto` per packet per
//! viewer, the datagrams for one viewer are concatenated and handed to the
//! kernel once, with the segment size; the kernel splits them late in its
//! send path (or the NIC does). Only runs of equal size (the last may be
//! shorter) to the same address can go together.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// The kernel's limit on segments per send (`UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;
/// And on the whole send: one IPv4 datagram's payload (an IPv6 one may be
/// 20 bytes larger; the smaller limit serves both).
const MAX_BYTES: usize = 65_507;

/// One send: datagrams `range` of the (grouped) list, all to `remote` from
/// socket `socket`, each `segment` bytes except perhaps the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub socket: usize,
    pub remote: SocketAddr,
    pub range: std::ops::Range<usize>,
    pub segment: usize,
}

/// Orders `datagrams` (socket, remote, length) so each destination's stay
/// together in their original order, and cuts them into GSO runs. Returns
/// the new order (indices into `datagrams`) and the runs over it.
pub fn plan(datagrams: &[(usize, SocketAddr, usize)]) -> (Vec<usize>, Vec<Run>) {
    let mut order: Vec<usize> = (0..datagrams.len()).collect();
    // Stable: a destination's packets keep their order.
    order.sort_by_key(|&i| (datagrams[i].0, datagrams[i].1));
    let mut runs: Vec<Run> = Vec::new();
    for (position, &i) in order.iter().enumerate() {
        let (socket, remote, len) = datagrams[i];
        if let Some(run) = runs.last_mut() {
            let count = run.range.len();
            let last_len = datagrams[order[position - 1]].2;
            let fits = run.socket == socket
                && run.remote == remote
                && count < MAX_SEGMENTS
                // Only the last segment may be shorter: the run so far must
                // be all full, and this one no longer than a segment.
                && last_len == run.segment
                && len <= run.segment
                && (count + 1) * run.segment <= MAX_BYTES;
            if fits {
                run.range.end += 1;
                continue;
            }
        }
        runs.push(Run {
            socket,
            remote,
            range: position..position + 1,
            segment: len,
        });
    }
    (order, runs)
}

/// A socket address as `sendmsg(2)` takes it.
enum RawAddress {
    V4(libc::sockaddr_in),
    V6(libc::sockaddr_in6),
}

impl RawAddress {
    fn of(remote: SocketAddr) -> Self {
        match remote {
            SocketAddr::V4(v4) => Self::V4(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(v6) => Self::V6(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                // As the standard library passes them (its `send_to`).
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            }),
        }
    }

    /// The pointer and length `msg_name`/`msg_namelen` take.
    fn as_name(&mut self) -> (*mut libc::c_void, libc::socklen_t) {
        match self {
            Self::V4(address) => (
                (address as *mut libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ),
            Self::V6(address) => (
                (address as *mut libc::sockaddr_in6).cast(),
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            ),
        }
    }
}

/// Sends `payload` (segments of `segment` bytes, the last perhaps shorter)
/// to `remote` (IPv4 or IPv6, as the socket is) in one `sendmsg` with
/// `UDP_SEGMENT`. Non-blocking.
pub fn send(fd: RawFd, remote: SocketAddr, payload: &[u8], segment: usize) -> io::Result<()> {
    let mut address = RawAddress::of(remote);
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    let segment = u16::try_from(segment)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment too large"))?;
    // Room for one cmsg carrying a u16, aligned as the kernel expects.
    let mut control = [0u64; 4];
    // SAFETY: every pointer in `msg` points into locals that outlive the
    // call; CMSG_* compute offsets inside `control`, which is large enough
    // (CMSG_SPACE(2) is 24 bytes on 64-bit Linux) and 8-byte aligned.
    #[allow(unsafe_code, reason = "libc: std has no sendmsg with UDP_SEGMENT")]
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as usize;
        debug_assert!(space <= std::mem::size_of_val(&control));
        let mut msg: libc::msghdr = std::mem::zeroed();
        let (name, name_len) = address.as_name();
        msg.msg_name = name;
        msg.msg_namelen = name_len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
        if libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 213, 0, 2], port))
    }

    #[test]
    fn a_burst_per_viewer_becomes_one_run_per_viewer() {
        // Three camera packets (1200, 1200, 700 bytes) forwarded to two
        // viewers, in the order the SFU produces them.
        let datagrams = [
            (0, addr(1), 1200),
            (0, addr(2), 1200),
            (0, addr(1), 1200),
            (0, addr(2), 1200),
            (0, addr(1), 700),
            (0, addr(2), 700),
        ];
        let (order, runs) = plan(&datagrams);
        assert_eq!(order, vec![0, 2, 4, 1, 3, 5]);
        assert_eq!(
            runs,
            vec![
                Run {
                    socket: 0,
                    remote: addr(1),
                    range: 0..3,
                    segment: 1200
                },
                Run {
                    socket: 0,
                    remote: addr(2),
                    range: 3..6,
                    segment: 1200
                },
            ]
        );
    }

    #[test]
    fn a_longer_or_a_following_packet_starts_a_new_run() {
        let datagrams = [
            (0, addr(1), 500),
            (0, addr(1), 1200),
            (0, addr(1), 1200),
            (0, addr(1), 300),
            (0, addr(1), 1200),
            (1, addr(1), 1200),
        ];
        let (_, runs) = plan(&datagrams);
        let ranges: Vec<_> = runs.iter().map(|r| r.range.clone()).collect();
        assert_eq!(ranges, vec![0..1, 1..4, 4..5, 5..6]);
    }

    #[test]
    fn runs_respect_the_kernels_limits() {
        let datagrams: Vec<_> = (0..100).map(|_| (0, addr(1), 1200)).collect();
        let (_, runs) = plan(&datagrams);
        assert!(runs.iter().all(|r| r.range.len() * r.segment <= MAX_BYTES));
        assert!(runs.iter().all(|r| r.range.len() <= MAX_SEGMENTS));
        assert_eq!(runs.iter().map(|r| r.range.len()).sum::<usize>(), 100);
    }

    /// Sends three segments from `sender` to `receiver` in one GSO send
    /// and returns what arrives: (length, first byte) per datagram.
    fn three_segments(
        sender: &std::net::UdpSocket,
        receiver: &std::net::UdpSocket,
    ) -> Vec<(usize, u8)> {
        use std::os::fd::AsRawFd;
        let mut payload = vec![1u8; 1000];
        payload.extend(vec![2u8; 1000]);
        payload.extend(vec![3u8; 400]);
        send(
            sender.as_raw_fd(),
            receiver.local_addr().unwrap(),
            &payload,
            1000,
        )
        .expect("the kernel takes a GSO send");
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut buf = [0u8; 2048];
        (0..3)
            .map(|_| {
                let n = receiver.recv(&mut buf).unwrap();
                (n, buf[0])
            })
            .collect()
    }

    #[test]
    fn segments_arrive_as_separate_datagrams() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            three_segments(&sender, &receiver),
            vec![(1000, 1), (1000, 2), (400, 3)]
        );
    }

    #[test]
    fn ipv6_segments_arrive_as_separate_datagrams() {
        // Machines (or namespaces) without IPv6 on `lo` have nothing to test.
        let Ok(receiver) = std::net::UdpSocket::bind("[::1]:0") else {
            eprintln!("no ::1 here; skipping the IPv6 GSO send");
            return;
        };
        let sender = std::net::UdpSocket::bind("[::1]:0").unwrap();
        assert_eq!(
            three_segments(&sender, &receiver),
            vec![(1000, 1), (1000, 2), (400, 3)]
        );
    }

    #[test]
    fn ipv6_addresses_reach_the_kernel_intact() {
        let remote: SocketAddr = "[fd00:213::2]:50000".parse().unwrap();
        let RawAddress::V6(raw) = RawAddress::of(remote) else {
            panic!("an IPv6 remote makes a sockaddr_in6");
        };
        assert_eq!(i32::from(raw.sin6_family), libc::AF_INET6);
        assert_eq!(u16::from_be(raw.sin6_port), 50000);
        assert_eq!(
            std::net::Ipv6Addr::from(raw.sin6_addr.s6_addr),
            "fd00:213::2".parse::<std::net::Ipv6Addr>().unwrap()
        );
    }
}
