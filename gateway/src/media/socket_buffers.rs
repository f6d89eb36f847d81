//! Kernel buffers of the media port.
//!
//! Every room's camera and every viewer's feedback arrive on the one UDP
//! port, and the media loop reads it between its other work. With the
//! kernel's default receive buffer (about 200 KiB on Debian) a 10 ms pause
//! of the loop at 200 cameras of 2.5 Mbit/s is enough to drop packets, and
//! the send buffer must hold a keyframe's burst to every viewer. So the
//! port asks for [`WANTED_BYTES`] each way; the kernel grants at most
//! `net.core.rmem_max` / `net.core.wmem_max`, and the gateway says so at
//! start when that is less.

use std::net::UdpSocket;

use socket2::SockRef;

/// What the media port asks for, each way.
pub const WANTED_BYTES: usize = 4 * 1024 * 1024;

/// The buffer sizes the kernel granted (as it reports them: Linux counts
/// its bookkeeping too and reports twice what was granted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub receive: usize,
    pub send: usize,
}

/// Asks for [`WANTED_BYTES`] of receive and send buffer on `socket`, and
/// warns (once per socket) when the kernel grants less.
pub fn enlarge(socket: &UdpSocket) -> std::io::Result<Granted> {
    let socket = SockRef::from(socket);
    // Refusals are not errors: the granted size is read back below.
    let _ = socket.set_recv_buffer_size(WANTED_BYTES);
    let _ = socket.set_send_buffer_size(WANTED_BYTES);
    let granted = Granted {
        receive: socket.recv_buffer_size()?,
        send: socket.send_buffer_size()?,
    };
    let short = |granted: usize| granted < WANTED_BYTES;
    if short(granted.receive) || short(granted.send) {
        tracing::warn!(
            "the media port got {} KiB of receive and {} KiB of send buffer from the kernel, \
             not the {} KiB it asks for; with many rooms, bursts may be dropped. Raise the \
             limits: sysctl -w net.core.rmem_max={WANTED_BYTES} net.core.wmem_max={WANTED_BYTES} \
             (and in /etc/sysctl.d/ to keep them)",
            granted.receive / 1024,
            granted.send / 1024,
            WANTED_BYTES / 1024,
        );
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel_limit(name: &str) -> usize {
        std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
            .expect("a Linux kernel")
            .trim()
            .parse()
            .expect("a number")
    }

    #[test]
    fn the_media_port_gets_what_the_kernel_allows_up_to_what_it_asks() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let default = SockRef::from(&socket).recv_buffer_size().unwrap();
        let granted = enlarge(&socket).unwrap();
        let receive_limit = kernel_limit("rmem_max").min(WANTED_BYTES);
        let send_limit = kernel_limit("wmem_max").min(WANTED_BYTES);
        println!("default receive buffer {default} B; granted {granted:?}");
        assert!(granted.receive >= receive_limit, "{granted:?}");
        assert!(granted.send >= send_limit, "{granted:?}");
        if receive_limit > default {
            assert!(granted.receive > default, "the buffer grew: {granted:?}");
        }
    }
}
