//! The room events WebSocket over a real server and a real WebSocket
//! client: admission, roles, refusals, ordering, and that a bad message
//! breaks nothing else.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use samsyn_signaling::Role;
use samsyn_signaling::events::policy::{MAX_CHAT_CHARS, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const ROOM: &str = "ward7abc23";

fn participant_ids(welcome: &Value) -> Vec<String> {
    let mut ids: Vec<String> = welcome["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn participants_see_each_other_with_role_and_name() {
    let gw = TestGateway::start().await;
    let berg = gw.named_token(ROOM, Role::Specialist, Some("Dr. Berg"));
    let camera = gw.token(ROOM, Role::Publisher);

    let (mut specialist, welcome) = Socket::join(&gw, ROOM, &berg).await;
    let me = welcome["you"].as_str().unwrap().to_owned();
    assert_eq!(welcome["room"], ROOM);
    assert_eq!(
        welcome["participants"],
        json!([{"id": me, "role": "specialist", "name": "Dr. Berg", "sockets": 1, "media": "none", "quality": null, "speaking": false}])
    );
    let first_seq = welcome["seq"].as_u64().unwrap();

    let (nurse, welcome) = Socket::join(&gw, ROOM, &camera).await;
    let nurse_id = welcome["you"].as_str().unwrap().to_owned();
    let mut both = vec![me.clone(), nurse_id.clone()];
    both.sort();
    assert_eq!(participant_ids(&welcome), both);

    let joined = specialist.next().await;
    assert_eq!(joined["type"], "participant");
    assert_eq!(joined["seq"].as_u64(), Some(first_seq + 1));
    assert_eq!(
        joined["participant"],
        json!({"id": nurse_id, "role": "publisher", "name": null, "sockets": 1, "media": "none", "quality": null, "speaking": false})
    );

    drop(nurse);
    let left = specialist.next().await;
    assert_eq!(
        left,
        json!({"v": 1, "seq": first_seq + 2, "type": "left", "id": nurse_id})
    );

    // The audit trail has both sockets, with the name, and the nurse's leaving.
    let trail: Vec<Value> = samsyn_signaling::audit::read_trail(gw.data_dir.path(), |_, _| {})
        .unwrap()
        .iter()
        .map(|record| serde_json::to_value(record).unwrap())
        .collect();
    let events =
        |kind: &str| -> Vec<&Value> { trail.iter().filter(|r| r["event"] == kind).collect() };
    let joined = events("events_joined");
    assert_eq!(joined.len(), 2, "{trail:?}");
    assert_eq!(joined[0]["name"], "Dr. Berg");
    assert_eq!(joined[0]["token_id"], me.as_str());
    assert_eq!(joined[0]["address"], "127.0.0.1");
    let left = events("events_left");
    assert_eq!(left.len(), 1, "{trail:?}");
    assert_eq!(left[0]["token_id"], nurse_id.as_str());
}

#[tokio::test]
async fn the_camera_session_and_the_daemon_socket_are_one_participant() {
    let gw = TestGateway::start().await;
    let camera = gw.token(ROOM, Role::Publisher);
    let (mut specialist, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    let (_daemon, welcome) = Socket::join(&gw, ROOM, &camera).await;
    let camera_id = welcome["you"].as_str().unwrap().to_owned();
    specialist.next_of("participant").await;

    let response = gw.offer(&format!("/whip/{ROOM}"), &camera, OFFER).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let update = specialist.next_of("participant").await;
    assert_eq!(update["participant"]["id"], camera_id.as_str());
    assert_eq!(update["participant"]["sockets"], 1);
    assert_eq!(update["participant"]["media"], "connecting");

    let ended = gw
        .http
        .delete(gw.url(&format!("/whip/{ROOM}/pub-1")))
        .bearer_auth(&camera)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    let update = specialist.next_of("participant").await;
    assert_eq!(update["participant"]["media"], "none");
    assert_eq!(gw.state.events.participants(&room_id()).len(), 2);
}

fn room_id() -> samsyn_signaling::RoomId {
    samsyn_signaling::RoomId::parse(ROOM).unwrap()
}

#[tokio::test]
async fn quality_reports_reach_everyone_with_their_level() {
    let gw = TestGateway::start().await;
    // Quality is about one's own video session: the reporter watches.
    let token = gw.token(ROOM, Role::Observer);
    let watching = gw.offer(&format!("/whep/{ROOM}"), &token, OFFER).await;
    assert_eq!(watching.status(), StatusCode::CREATED);
    let (mut reporter, welcome) = Socket::join(&gw, ROOM, &token).await;
    let id = welcome["you"].as_str().unwrap().to_owned();
    let (mut other, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    reporter.next_of("participant").await;

    for (report, level) in [
        (
            json!({"rtt_ms": 20, "loss_percent": 0.2, "fps": 29.8, "bitrate_kbps": 1800}),
            "good",
        ),
        (json!({"rtt_ms": 200, "loss_percent": 0.0}), "fair"),
        (json!({"loss_percent": 12.5}), "poor"),
    ] {
        let mut message = report.clone();
        message["v"] = json!(1);
        message["type"] = json!("quality");
        reporter.send(message).await;
        for socket in [&mut reporter, &mut other] {
            let update = socket.next_of("participant").await;
            assert_eq!(update["participant"]["id"], id.as_str());
            let quality = &update["participant"]["quality"];
            assert_eq!(quality["level"], level, "{update}");
            for (field, value) in report.as_object().unwrap() {
                assert_eq!(&quality[field], value, "{field} in {update}");
            }
        }
    }
    reporter
        .send(json!({"v": 1, "type": "quality", "loss_percent": 150}))
        .await;
    assert!(reporter.refused("bad_quality").await.contains("0 to 100"));
    other.quiet().await;
}

#[tokio::test]
async fn a_bad_hello_is_refused_with_the_http_codes_and_closes_only_that_socket() {
    let gw = TestGateway::start().await;
    let (mut specialist, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    gw.room("otherroom1");

    let cases = [
        ("garbage".to_owned(), "invalid_token"),
        (gw.token("otherroom1", Role::Specialist), "wrong_room"),
        (gw.admin_token(), "wrong_role"),
    ];
    for (token, code) in cases {
        let mut socket = Socket::open(&gw, ROOM).await;
        socket
            .send(json!({"v": 1, "type": "hello", "token": token}))
            .await;
        let message = socket.refused(code).await;
        assert!(!message.is_empty());
        socket.closed_with(CloseCode::Policy).await;
    }

    // A first message that is not hello: the token is asked for.
    let mut socket = Socket::open(&gw, ROOM).await;
    socket.chat("hello?").await;
    assert!(socket.refused("hello_expected").await.contains("token"));
    socket.closed_with(CloseCode::Policy).await;

    // The room's participant saw none of it and still chats.
    specialist.quiet().await;
    specialist.chat("still here").await;
    assert_eq!(specialist.next_of("chat").await["text"], "still here");
}

#[tokio::test]
async fn a_socket_in_an_ended_room_is_refused() {
    let gw = TestGateway::start().await;
    let token = gw.token(ROOM, Role::Specialist);
    let (mut specialist, _) = Socket::join(&gw, ROOM, &token).await;
    let ended = gw.end_room_via_api(ROOM).await;
    assert!(ended.status().is_success(), "{}", ended.status());
    assert_eq!(specialist.next_of("room_ended").await["type"], "room_ended");
    specialist.closed_with(CloseCode::Away).await;

    let mut late = Socket::open(&gw, ROOM).await;
    late.send(json!({"v": 1, "type": "hello", "token": token}))
        .await;
    late.refused("room_ended").await;
    late.closed_with(CloseCode::Policy).await;
}

#[tokio::test]
async fn roles_decide_who_chats_and_who_asks_for_photos() {
    let gw = TestGateway::start().await;
    let (mut specialist, _) = Socket::join(
        &gw,
        ROOM,
        &gw.named_token(ROOM, Role::Specialist, Some("Dr. Berg")),
    )
    .await;
    let (mut nurse, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Publisher)).await;
    let (mut observer, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Observer)).await;

    observer.chat("may I?").await;
    assert!(observer.refused("wrong_role").await.contains("observers"));
    observer
        .send(json!({"v": 1, "type": "photo_request"}))
        .await;
    observer.refused("wrong_role").await;
    nurse.send(json!({"v": 1, "type": "photo_request"})).await;
    assert!(nurse.refused("wrong_role").await.contains("specialist"));

    nurse.chat("the foot is turned").await;
    specialist
        .send(json!({"v": 1, "type": "photo_request"}))
        .await;
    for socket in [&mut specialist, &mut nurse, &mut observer] {
        let chat = socket.next_of("chat").await;
        assert_eq!(chat["text"], "the foot is turned");
        assert_eq!(chat["from"]["role"], "publisher");
        assert!(chat["sent_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
        let request = socket.next_of("photo_requested").await;
        assert_eq!(request["by"]["role"], "specialist");
        assert_eq!(request["by"]["name"], "Dr. Berg");
        assert_eq!(
            request["seq"].as_u64(),
            Some(chat["seq"].as_u64().unwrap() + 1)
        );
    }
}

#[tokio::test]
async fn every_socket_sees_the_chat_in_one_order() {
    let gw = TestGateway::start().await;
    let mut sockets = Vec::new();
    for role in [Role::Specialist, Role::Specialist, Role::Publisher] {
        sockets.push(Socket::join(&gw, ROOM, &gw.token(ROOM, role)).await.0);
    }
    const EACH: usize = 5;
    for round in 0..EACH {
        for (i, socket) in sockets.iter_mut().enumerate() {
            socket.chat(&format!("{i}:{round}")).await;
        }
    }
    let mut orders = Vec::new();
    for socket in &mut sockets {
        let mut order = Vec::new();
        let mut last_seq = None;
        for _ in 0..EACH * 3 {
            let chat = socket.next_of("chat").await;
            let seq = chat["seq"].as_u64().unwrap();
            if let Some(last) = last_seq {
                assert_eq!(seq, last + 1, "chat events are consecutive");
            }
            last_seq = Some(seq);
            order.push(chat["text"].as_str().unwrap().to_owned());
        }
        // Each sender's messages in the order it sent them.
        for sender in 0..3 {
            let own: Vec<&String> = order
                .iter()
                .filter(|t| t.starts_with(&format!("{sender}:")))
                .collect();
            let sent: Vec<String> = (0..EACH).map(|r| format!("{sender}:{r}")).collect();
            assert_eq!(own, sent.iter().collect::<Vec<_>>());
        }
        orders.push(order);
    }
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[1], orders[2]);
}

#[tokio::test]
async fn bad_messages_are_refused_on_their_socket_and_break_nothing_else() {
    let gw = TestGateway::start().await;
    let (mut sender, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    let (mut other, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    sender.next_of("participant").await;

    sender.send_text("{not json".into()).await;
    sender.refused("bad_message").await;
    sender
        .send(json!({"v": 2, "type": "chat", "text": "x"}))
        .await;
    assert!(
        sender
            .refused("unsupported_version")
            .await
            .contains("version 1")
    );
    sender.send(json!({"v": 1, "type": "dance"})).await;
    sender.refused("unknown_type").await;
    sender.send(json!({"v": 1, "type": "chat"})).await;
    sender.refused("bad_message").await;
    sender
        .send(json!({"v": 1, "type": "hello", "token": "again"}))
        .await;
    sender.refused("already_joined").await;
    sender.chat(&"x".repeat(MAX_CHAT_CHARS + 1)).await;
    sender.refused("chat_too_long").await;
    sender.chat("  ").await;
    sender.refused("empty_chat").await;
    sender.send_text("x".repeat(MAX_MESSAGE_BYTES + 1)).await;
    assert!(sender.refused("message_too_large").await.contains("4096"));
    sender
        .ws
        .send(Message::binary(vec![0u8; 16]))
        .await
        .unwrap();
    sender.refused("bad_message").await;

    // The other participant saw none of it; both still chat.
    other.quiet().await;
    sender.chat("after all that").await;
    other.chat("reply").await;
    for socket in [&mut sender, &mut other] {
        assert_eq!(socket.next_of("chat").await["text"], "after all that");
        assert_eq!(socket.next_of("chat").await["text"], "reply");
    }
}

#[tokio::test]
async fn a_flood_is_rate_limited_and_the_socket_recovers() {
    let gw = TestGateway::start().await;
    let (mut sender, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    for i in 0..20 {
        sender.chat(&format!("flood {i}")).await;
    }
    let mut delivered = 0;
    let mut limited = 0;
    for _ in 0..20 {
        let message = sender.next().await;
        match message["type"].as_str().unwrap() {
            "chat" => delivered += 1,
            "error" => {
                assert_eq!(message["error"], "rate_limited");
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    println!("flood of 20: {delivered} delivered, {limited} refused");
    assert!(limited >= 5, "a burst of 10 lets at most ~11 through");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sender.chat("calm again").await;
    assert_eq!(sender.next_of("chat").await["text"], "calm again");
}

#[tokio::test]
async fn a_frame_beyond_the_hard_limit_closes_only_its_socket() {
    let gw = TestGateway::start().await;
    let (mut sender, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    let (mut other, _) = Socket::join(&gw, ROOM, &gw.token(ROOM, Role::Specialist)).await;
    sender.next_of("participant").await;

    sender.send_text("x".repeat(MAX_FRAME_BYTES + 1)).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match sender.ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the socket closes");
    assert!(
        matches!(closed, None | Some(CloseCode::Size)),
        "closed with {closed:?}"
    );

    let left = other.next().await;
    assert_eq!(left["type"], "left");
    other.chat("still fine").await;
    assert_eq!(other.next_of("chat").await["text"], "still fine");
}

#[tokio::test]
async fn a_plain_request_is_told_to_use_a_websocket() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(gw.url(&format!("/events/{ROOM}")))
        .send()
        .await
        .unwrap();
    let message = assert_error(response, StatusCode::UPGRADE_REQUIRED, "websocket_required").await;
    assert!(message.contains("WebSocket"));
}

#[tokio::test]
async fn a_socket_that_never_says_hello_is_closed() {
    // The hello timeout is 10 s; this test checks the refusal, not the clock.
    let gw = TestGateway::start().await;
    let mut socket = Socket::open(&gw, ROOM).await;
    socket.ws.send(Message::Ping(vec![1].into())).await.unwrap();
    let message = tokio::time::timeout(Duration::from_secs(15), socket.ws.next())
        .await
        .expect("an answer within the hello timeout");
    let mut saw_timeout = false;
    let mut next = message;
    loop {
        match next {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(value["error"], "hello_timeout");
                saw_timeout = true;
            }
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(close.code, CloseCode::Policy);
                break;
            }
            Some(Ok(Message::Pong(_))) => {}
            other => panic!("unexpected {other:?}"),
        }
        next = tokio::time::timeout(Duration::from_secs(15), socket.ws.next())
            .await
            .unwrap();
    }
    assert!(saw_timeout);
}
