//! Is a gateway up? A bare `GET /healthz` over TCP, so that test support
//! and benches need no HTTP client for it.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// True once `http://{addr}/healthz` answers 200, polling until `timeout`.
pub fn wait_healthy(addr: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
            let _ = write!(
                stream,
                "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            if response.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
