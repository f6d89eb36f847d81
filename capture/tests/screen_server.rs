//! The nurse screen's server over real HTTP and a real WebSocket: the page
//! is served only at its secret address, only to its own origin and host;
//! the socket carries the view, the self-view and the page's commands, and
//! a refused or malformed request changes nothing.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use samsyn_capture::screen::view::{LinkView, MicrophoneView, QualityView};
use samsyn_capture::screen::{ScreenCommand, ScreenFeed, ScreenServer, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

struct Screen {
    feed: ScreenFeed,
    server: ScreenServer,
    commands: mpsc::Receiver<ScreenCommand>,
}

impl Screen {
    async fn start() -> Self {
        let (feed, link, commands) = ScreenFeed::new();
        let server = serve(link).await.expect("the screen serves on 127.0.0.1");
        Self {
            feed,
            server,
            commands,
        }
    }

    fn port(&self) -> u16 {
        self.server.url.port().expect("the URL names its port")
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// The secret path segment, read from the URL the daemon would show.
    fn secret(&self) -> String {
        self.server.url.path().trim_matches('/').to_owned()
    }

    fn url(&self, path: &str) -> String {
        self.server.url.join(path).unwrap().to_string()
    }

    fn ws_url(&self, path: &str) -> String {
        self.url(path).replacen("http://", "ws://", 1)
    }

    /// Asserts that no command reached the daemon.
    fn assert_no_command(&mut self) {
        assert_eq!(
            self.commands.try_recv(),
            Err(TryRecvError::Empty),
            "a refused or malformed request must not reach the daemon"
        );
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// One HTTP/1.1 `GET` written by hand, so every header is exactly as given
/// (`Host` included); the status code and the whole answer.
async fn raw_get(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the screen answers")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, answer)
}

/// Opens the page's WebSocket at `url` with `origin` (none if `None`).
async fn open_socket(url: &str, origin: Option<&str>) -> Result<Socket, tungstenite::Error> {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the handshake ends")
        .map(|(socket, _)| socket)
}

async fn own_socket(screen: &Screen) -> Socket {
    open_socket(&screen.ws_url("ws"), Some(&screen.origin()))
        .await
        .expect("the screen's own page opens its socket")
}

fn refused_status(result: Result<Socket, tungstenite::Error>) -> u16 {
    match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the socket opened but must have been refused"),
    }
}

/// The next message that is not a ping or pong.
async fn next_message(socket: &mut Socket) -> Message {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket stays open")
            .expect("a well-formed message");
        if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
            return message;
        }
    }
}

async fn next_json(socket: &mut Socket) -> serde_json::Value {
    match next_message(socket).await {
        Message::Text(text) => serde_json::from_str(&text).expect("text frames are JSON"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Whether a message arrives within `within`.
async fn quiet_for(socket: &mut Socket, within: Duration) -> Option<Message> {
    tokio::time::timeout(within, socket.next())
        .await
        .ok()
        .flatten()
        .map(|message| message.expect("a well-formed message"))
}

/// A real JPEG of `width`×`height`, its shade set by `shade`.
fn jpeg(width: u16, height: u16, shade: u8) -> Vec<u8> {
    let mut pixels = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            pixels.extend_from_slice(&[shade, (x * 4) as u8, (y * 4) as u8]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80)
        .encode(&pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("the test picture encodes");
    out
}

#[tokio::test]
async fn the_page_loads_at_its_secret_address_with_protective_headers() {
    let screen = Screen::start().await;
    let url = &screen.server.url;
    assert_eq!(url.scheme(), "http");
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert!(url.path().ends_with('/'), "{}", url.path());
    assert!(screen.secret().len() >= 43, "32 random bytes or more");
    assert_eq!(screen.server.local_addr.port(), screen.port());

    let client = http();
    let page = client.get(url.clone()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(
        policy.contains(&format!("ws://127.0.0.1:{}", screen.port())),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("screen.js") && html.contains("screen.css"),
        "{html}"
    );

    for (file, kind) in [
        ("screen.js", "text/javascript"),
        ("strings.js", "text/javascript"),
        ("screen.css", "text/css"),
        ("index.html", "text/html"),
    ] {
        let answer = client.get(screen.url(file)).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{file}");
        assert!(
            answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{file}"
        );
        assert_eq!(answer.headers()["cache-control"], "no-store", "{file}");
    }
    // Behind the gate, an unknown file is simply not there.
    let missing = client.get(screen.url("nothing.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_secret_without_its_slash_leads_to_the_page() {
    let screen = Screen::start().await;
    let path = format!("/{}", screen.secret());
    let (status, answer) = raw_get(
        screen.port(),
        &path,
        &[("Host", &format!("127.0.0.1:{}", screen.port()))],
    )
    .await;
    assert_eq!(status, 303, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains(&format!(
            "location: {}/",
            screen.secret().to_ascii_lowercase()
        )),
        "{answer}"
    );
}

#[tokio::test]
async fn without_or_with_a_wrong_secret_everything_is_forbidden() {
    let mut screen = Screen::start().await;
    let secret = screen.secret();
    let mut near_miss = secret.clone().into_bytes();
    near_miss[10] = if near_miss[10] == b'A' { b'B' } else { b'A' };
    let near_miss = String::from_utf8(near_miss).unwrap();
    let base = format!("http://127.0.0.1:{}", screen.port());
    let client = http();
    for path in [
        "/".to_owned(),
        "/index.html".to_owned(),
        "/screen.js".to_owned(),
        "/ws".to_owned(),
        "/nothing".to_owned(),
        format!("/{near_miss}/"),
        format!("/{near_miss}/screen.js"),
        format!("/{secret}x/"),
        format!("/{}/", &secret[..secret.len() - 1]),
        format!("/x/{secret}/"),
    ] {
        let answer = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 403, "{path}");
        assert_eq!(answer.headers()["cache-control"], "no-store", "{path}");
        assert!(
            answer.text().await.unwrap().is_empty(),
            "{path}: a 403 says nothing"
        );
    }
    // Another method on a real route is refused the same way.
    let post = client
        .post(format!("{base}/{near_miss}/ws"))
        .body("{\"type\":\"end_visit\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 403);
    screen.assert_no_command();
}

#[tokio::test]
async fn a_foreign_origin_or_host_is_forbidden() {
    let screen = Screen::start().await;
    let port = screen.port();
    let client = http();
    for origin in [
        "http://evil.example".to_owned(),
        format!("http://127.0.0.1:{}", port + 1),
        format!("https://127.0.0.1:{port}"),
        "null".to_owned(),
    ] {
        let answer = client
            .get(screen.server.url.clone())
            .header("origin", &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "Origin: {origin}");
    }
    let own = client
        .get(screen.url("screen.js"))
        .header("origin", screen.origin())
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "its own origin");
    let embedded = client
        .get(screen.url("screen.js"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(embedded.status(), 403, "a foreign page's request");

    let path = screen.server.url.path().to_owned();
    for host in [
        format!("evil.example:{port}"),
        "127.0.0.1".to_owned(),
        format!("127.0.0.1:{}", port + 1),
        format!("[::1]:{port}"),
    ] {
        let (status, answer) = raw_get(port, &path, &[("Host", &host)]).await;
        assert_eq!(status, 403, "Host: {host}\n{answer}");
    }
    let (status, _) = raw_get(port, &path, &[]).await;
    assert_eq!(status, 403, "no Host at all");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let (status, answer) = raw_get(port, &path, &[("Host", &host)]).await;
        assert_eq!(status, 200, "Host: {host}\n{answer}");
    }
}

#[tokio::test]
async fn the_websocket_is_refused_without_the_secret_or_from_a_foreign_origin() {
    let mut screen = Screen::start().await;
    let port = screen.port();
    let own = screen.origin();
    let no_secret = open_socket(&format!("ws://127.0.0.1:{port}/ws"), Some(&own)).await;
    assert_eq!(refused_status(no_secret), 403);
    let wrong = open_socket(&format!("ws://127.0.0.1:{port}/AAAA/ws"), Some(&own)).await;
    assert_eq!(refused_status(wrong), 403);
    for origin in ["http://evil.example", "null", "http://localhost:1"] {
        let foreign = open_socket(&screen.ws_url("ws"), Some(origin)).await;
        assert_eq!(refused_status(foreign), 403, "Origin: {origin}");
    }
    screen.assert_no_command();
}

#[tokio::test]
async fn the_socket_sends_the_view_and_each_change() {
    let screen = Screen::start().await;
    screen
        .feed
        .update(|view| view.room_label = Some("Sår 12".into()));
    let mut socket = own_socket(&screen).await;
    let first = next_json(&mut socket).await;
    assert_eq!(first["type"], "view");
    assert_eq!(first["view"]["link"]["state"], "connecting");
    assert_eq!(first["view"]["room_label"], "Sår 12");

    screen.feed.update(|view| {
        view.link = LinkView::Live;
        view.quality = QualityView::Reduced;
    });
    let changed = next_json(&mut socket).await;
    assert_eq!(changed["type"], "view");
    assert_eq!(changed["view"]["link"]["state"], "live");
    assert_eq!(changed["view"]["quality"], "reduced");

    screen
        .feed
        .update(|view| view.link = LinkView::Reconnecting { attempt: 3 });
    let again = next_json(&mut socket).await;
    assert_eq!(
        again["view"]["link"],
        serde_json::json!({"state": "reconnecting", "attempt": 3})
    );

    // An update that changes nothing sends nothing.
    screen
        .feed
        .update(|view| view.link = LinkView::Reconnecting { attempt: 3 });
    assert!(
        quiet_for(&mut socket, Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn the_socket_sends_self_view_frames_as_binary_jpegs() {
    let screen = Screen::start().await;
    let before = jpeg(32, 18, 10);
    screen.feed.show_self_view(before.clone());
    let mut socket = own_socket(&screen).await;
    assert_eq!(next_json(&mut socket).await["type"], "view");
    assert_eq!(
        next_message(&mut socket).await,
        Message::Binary(before.into()),
        "the newest frame on connecting"
    );
    let frame = jpeg(32, 18, 200);
    screen.feed.show_self_view(frame.clone());
    let received = next_message(&mut socket).await;
    let Message::Binary(bytes) = received else {
        panic!("expected a binary frame, got {received:?}");
    };
    assert_eq!(&bytes[..], &frame[..]);
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
}

#[tokio::test]
async fn self_view_frames_reach_a_page_at_most_five_times_a_second() {
    let screen = Screen::start().await;
    let mut socket = own_socket(&screen).await;
    assert_eq!(next_json(&mut socket).await["type"], "view");
    let frames: Vec<Vec<u8>> = (0..60).map(|i| jpeg(16, 16, i * 4)).collect();
    let last = frames.last().unwrap().clone();
    let feed = screen.feed.clone();
    let producer = tokio::spawn(async move {
        for frame in frames {
            feed.show_self_view(frame);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    let started = Instant::now();
    let mut received = Vec::new();
    while started.elapsed() < Duration::from_millis(2000) {
        if let Some(Message::Binary(bytes)) =
            quiet_for(&mut socket, Duration::from_millis(100)).await
        {
            received.push(bytes.to_vec());
        }
    }
    producer.await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(
        received.len() >= 4,
        "frames keep coming: {}",
        received.len()
    );
    assert!(
        received.len() as f64 <= seconds * 5.0 + 2.0,
        "{} frames in {seconds:.1} s: more than five a second",
        received.len()
    );
    // The page ends on the newest frame, never an old one queued behind.
    if received.last() != Some(&last) {
        let Message::Binary(bytes) = next_message(&mut socket).await else {
            panic!("expected the newest frame");
        };
        assert_eq!(&bytes[..], &last[..]);
    }
}

#[tokio::test]
async fn commands_from_the_page_reach_the_daemon() {
    let mut screen = Screen::start().await;
    let mut socket = own_socket(&screen).await;
    assert_eq!(next_json(&mut socket).await["type"], "view");
    let sent = [
        (
            r#"{"type":"microphone","muted":true}"#,
            ScreenCommand::Microphone { muted: true },
        ),
        (
            r#"{"type":"microphone","muted":false}"#,
            ScreenCommand::Microphone { muted: false },
        ),
        (r#"{"type":"louder"}"#, ScreenCommand::Louder),
        (r#"{"type":"softer"}"#, ScreenCommand::Softer),
        (r#"{"type":"check"}"#, ScreenCommand::Check),
        (r#"{"type":"end_visit"}"#, ScreenCommand::EndVisit),
    ];
    for (text, expected) in sent {
        socket.send(Message::text(text)).await.unwrap();
        let command = tokio::time::timeout(WAIT, screen.commands.recv())
            .await
            .expect("the command arrives")
            .expect("the channel is open");
        assert_eq!(command, expected, "{text}");
    }
    screen.assert_no_command();
}

#[tokio::test]
async fn a_malformed_command_is_answered_and_changes_nothing() {
    let mut screen = Screen::start().await;
    screen.feed.update(|view| {
        view.link = LinkView::Live;
        view.microphone = Some(MicrophoneView { muted: false });
    });
    let before = screen.feed.current();
    let mut socket = own_socket(&screen).await;
    assert_eq!(
        next_json(&mut socket).await["view"]["link"]["state"],
        "live"
    );
    for text in [
        "not json",
        r#"{"type":"explode"}"#,
        r#"{"type":"microphone"}"#,
        r#"{"type":"microphone","muted":"yes"}"#,
        r#"{"muted":true}"#,
        "",
    ] {
        socket.send(Message::text(text)).await.unwrap();
        let answer = next_json(&mut socket).await;
        assert_eq!(answer["type"], "error", "{text}: {answer}");
        assert_eq!(answer["error"], "bad_command", "{text}");
        assert!(
            answer["message"].as_str().unwrap().contains("microphone"),
            "{answer}"
        );
    }
    socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next_json(&mut socket).await["error"], "binary_not_accepted");
    screen.assert_no_command();
    assert_eq!(screen.feed.current(), before);

    // The socket still works: a good command after the bad ones arrives.
    socket
        .send(Message::text(r#"{"type":"check"}"#))
        .await
        .unwrap();
    let command = tokio::time::timeout(WAIT, screen.commands.recv())
        .await
        .unwrap();
    assert_eq!(command, Some(ScreenCommand::Check));
    screen.assert_no_command();
}

#[tokio::test]
async fn several_pages_follow_the_same_view() {
    let mut screen = Screen::start().await;
    let mut first = own_socket(&screen).await;
    let mut second = own_socket(&screen).await;
    for socket in [&mut first, &mut second] {
        assert_eq!(
            next_json(socket).await["view"]["link"]["state"],
            "connecting"
        );
    }
    screen.feed.update(|view| view.link = LinkView::Live);
    for socket in [&mut first, &mut second] {
        assert_eq!(next_json(socket).await["view"]["link"]["state"], "live");
    }
    second
        .send(Message::text(r#"{"type":"louder"}"#))
        .await
        .unwrap();
    let command = tokio::time::timeout(WAIT, screen.commands.recv())
        .await
        .unwrap();
    assert_eq!(command, Some(ScreenCommand::Louder));
}

#[tokio::test]
async fn a_page_that_stops_reading_does_not_hold_up_the_daemon() {
    let screen = Screen::start().await;
    // Opened and never read again.
    let _stuck = own_socket(&screen).await;
    let started = Instant::now();
    for round in 0..2000u32 {
        screen.feed.update(|view| {
            view.room_label = Some(format!("round {round} {}", "x".repeat(200)));
        });
        if round % 20 == 0 {
            screen.feed.show_self_view(vec![0xFF; 64 * 1024]);
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the daemon waited for the page: {:?}",
        started.elapsed()
    );
    // A page opened now still gets the newest view at once.
    let mut fresh = own_socket(&screen).await;
    let view = next_json(&mut fresh).await;
    assert!(
        view["view"]["room_label"]
            .as_str()
            .unwrap()
            .starts_with("round 1999 ")
    );
}

#[tokio::test]
async fn shutdown_closes_the_pages_and_the_port() {
    let screen = Screen::start().await;
    let mut socket = own_socket(&screen).await;
    assert_eq!(next_json(&mut socket).await["type"], "view");
    let port = screen.port();
    let ws_url = screen.ws_url("ws");
    let origin = screen.origin();
    let started = Instant::now();
    screen.server.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // The page is told, and its socket ends.
    let ended = loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the socket ends")
        {
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(ended, Some(1001), "closed as going away");
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    assert!(open_socket(&ws_url, Some(&origin)).await.is_err());
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let Screen { server, feed, .. } = Screen::start().await;
    let port = server.url.port().unwrap();
    let ws_url = server
        .url
        .join("ws")
        .unwrap()
        .to_string()
        .replacen("http", "ws", 1);
    let origin = format!("http://127.0.0.1:{port}");
    let mut socket = open_socket(&ws_url, Some(&origin)).await.unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "view");
    drop(server);
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening after the drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The open page's socket ends too.
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the page's socket outlived the server");
    drop(feed);
}

#[tokio::test]
async fn the_secret_is_new_for_every_screen_and_not_in_its_debug_print() {
    let (one, two) = (Screen::start().await, Screen::start().await);
    assert_ne!(one.secret(), two.secret());
    assert_ne!(one.port(), two.port());
    let printed = format!("{:?}", one.server);
    assert!(!printed.contains(&one.secret()), "{printed}");
}
