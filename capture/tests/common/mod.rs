//! Helpers shared by the integration tests: GStreamer setup, test media
//! files, and a minimal HTTP server.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

/// The `samsyn-capture` binary without any SAMSYN_* setting from the
/// caller's environment.
pub fn capture_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_samsyn-capture"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SAMSYN_") {
            command.env_remove(key);
        }
    }
    command
}

/// Initialises GStreamer and test logging once per test binary.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        gst::init().expect("GStreamer initialises");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("SAMSYN_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_test_writer()
            .try_init();
    });
}

/// Writes a short H.264 MP4 of `frames` frames at `fps` to `path`.
pub fn make_h264_file(path: &Path, frames: u32, width: u32, height: u32, fps: u32) {
    let description = format!(
        "videotestsrc num-buffers={frames} pattern=smpte ! \
         video/x-raw,width={width},height={height},framerate={fps}/1 ! \
         x264enc speed-preset=ultrafast key-int-max={fps} ! mp4mux ! filesink location={}",
        path.display()
    );
    let pipeline = gst::parse::launch(&description).expect("file writer pipeline parses");
    pipeline
        .set_state(gst::State::Playing)
        .expect("file writer starts");
    let bus = pipeline.bus().expect("pipeline has a bus");
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("file writer finishes");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("file writer failed: {}", e.error());
    }
    pipeline
        .set_state(gst::State::Null)
        .expect("file writer stops");
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One HTTP request as the canned server received it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Request line and headers, as text (header names lower-cased).
    pub head: String,
    /// The body.
    pub body: String,
}

impl Request {
    /// The value of a header (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A plain-TCP HTTP/1.1 server answering each connection with the next
/// canned response (a full response head + body). Returns its base URL and
/// a channel of the requests it received.
pub async fn canned_http(
    responses: Vec<String>,
) -> (url::Url, tokio::sync::mpsc::UnboundedReceiver<Request>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut stream).await;
            let _ = tx.send(request);
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });

    (url::Url::parse(&format!("http://{addr}")).unwrap(), rx)
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Request {
    use tokio::io::AsyncReadExt;
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let n = stream.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&data[end + 4..]).to_string();
            return Request { head, body };
        }
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return Request {
                head: String::from_utf8_lossy(&data).to_string(),
                body: String::new(),
            };
        }
        data.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP response with a body.
pub fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

pub mod peer;

/// A WHIP/WHEP endpoint for tests: the first connection's offer is given to
/// `answer`, whose SDP is returned with 201 and a Location; every later
/// connection (the DELETE) gets 204, as does an `OPTIONS` (announcing no
/// relays). Returns the base URL and the requests.
pub async fn whip_endpoint<F>(
    answer: F,
) -> (url::Url, tokio::sync::mpsc::UnboundedReceiver<Request>)
where
    F: FnOnce(String) -> String + Send + 'static,
{
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut answer = Some(answer);
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut stream).await;
            let options = request.head.starts_with("OPTIONS ");
            let reply = match answer.take_if(|_| !options) {
                Some(answer) => {
                    let offer = request.body.clone();
                    let sdp = tokio::task::spawn_blocking(move || answer(offer))
                        .await
                        .unwrap();
                    response(
                        "201 Created",
                        &[
                            ("content-type", "application/sdp"),
                            ("location", "/session/1"),
                        ],
                        &sdp,
                    )
                }
                None => response("204 No Content", &[], ""),
            };
            let _ = tx.send(request);
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (url::Url::parse(&format!("http://{addr}")).unwrap(), rx)
}
pub mod stand_in;
