//! Fuzzing what reaches signaling from outside: tokens, SDP bodies and whole
//! HTTP requests through the real router (with the recording media plane).
//! No input panics, no input is answered with a server error, every refusal
//! has the JSON error body, and a mangled token never admits anyone it was
//! not made for.
//!
//! Bounded for CI: `SAMSYN_FUZZ_CASES` cases per target (default 256); set
//! it higher to fuzz longer on a workstation.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use samsyn_signaling::sdp::check_offer;
use samsyn_signaling::{Role, router};
use tower::ServiceExt;

fn runner() -> TestRunner {
    let cases = std::env::var("SAMSYN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

const ROOM: &str = "ward7abc23";

#[test]
fn any_text_as_a_token_is_refused_without_a_panic() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gw = rt.block_on(TestGateway::start());
    runner()
        .run(&"[ -~]{0,400}", |text| {
            let verdict =
                gw.state
                    .tokens
                    .verify(&text, Some(ROOM), &[Role::Publisher, Role::Specialist]);
            prop_assert!(verdict.is_err(), "{text:?} was admitted");
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_mangled_token_never_admits_anyone_else() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gw = rt.block_on(TestGateway::start());
    let token = gw.token(ROOM, Role::Observer);
    let original = gw
        .state
        .tokens
        .verify(&token, Some(ROOM), &[Role::Observer])
        .unwrap();
    let edits = prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..4);
    runner()
        .run(&edits, |edits| {
            let mut bytes = token.clone().into_bytes();
            for (at, byte, how) in edits {
                let i = at % bytes.len().max(1);
                match how {
                    0 if !bytes.is_empty() => bytes[i] = byte,
                    1 if !bytes.is_empty() => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i.min(bytes.len()), byte),
                }
            }
            let Ok(mangled) = String::from_utf8(bytes) else {
                return Ok(());
            };
            let roles = &[
                Role::Publisher,
                Role::Specialist,
                Role::Observer,
                Role::Admin,
            ];
            if let Ok(claims) = gw.state.tokens.verify(&mangled, Some(ROOM), roles) {
                // Only an edit the signature does not cover (base64 padding
                // bits) may pass, and then it says exactly what it said.
                prop_assert_eq!(claims, original.clone());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn any_body_gets_an_answer_from_the_sdp_check() {
    runner()
        .run(&prop::collection::vec(any::<u8>(), 0..2000), |body| {
            let _ = check_offer(&body);
            Ok(())
        })
        .unwrap();
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PATCH),
        Just(Method::DELETE),
        Just(Method::OPTIONS),
        Just(Method::PUT),
        Just(Method::HEAD),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("whip".to_owned()),
        Just("whep".to_owned()),
        Just("api".to_owned()),
        Just("rooms".to_owned()),
        Just("tokens".to_owned()),
        Just("r".to_owned()),
        Just("assets".to_owned()),
        Just(ROOM.to_owned()),
        Just("pub-1".to_owned()),
        Just("..".to_owned()),
        Just("%2e%2e".to_owned()),
        Just("%2F".to_owned()),
        Just("%00".to_owned()),
        Just("%ff%fe".to_owned()),
        "[a-zA-Z0-9._~-]{0,20}",
        "[!-~]{0,10}".prop_map(|s| s.replace(['?', '#', '/'], "")),
    ];
    prop::collection::vec(segment, 0..5).prop_map(|segments| format!("/{}", segments.join("/")))
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("application/sdp".to_owned())),
        Just(Some("application/trickle-ice-sdpfrag".to_owned())),
        Just(Some("application/json".to_owned())),
        Just(Some("APPLICATION/SDP; charset=\"utf-8\"; x=;".to_owned())),
        "[ -~]{0,40}".prop_map(Some),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(OFFER.as_bytes().to_vec()),
        Just(TRICKLE.as_bytes().to_vec()),
        Just(RESTART.as_bytes().to_vec()),
        Just(br#"{"label":"Ward 4","ttl_hours":1}"#.to_vec()),
        Just(br#"{"role":"observer","name":"x"}"#.to_vec()),
        prop::collection::vec(any::<u8>(), 0..600),
        "[ -~\r\n]{0,600}".prop_map(String::into_bytes),
    ]
}

#[test]
fn any_request_is_answered_without_a_server_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gw = rt.block_on(TestGateway::start_with(|s| {
        s.request_timeout = Duration::from_secs(2);
    }));
    let tokens = [
        String::new(),
        "Bearer garbage".to_owned(),
        format!("Bearer {}", gw.token(ROOM, Role::Publisher)),
        format!("Bearer {}", gw.token(ROOM, Role::Specialist)),
        format!("Bearer {}", gw.admin_token()),
        "Basic dXNlcjpwYXNz".to_owned(),
    ];
    // Requests that are right, as templates: (method, path, token, content
    // type, body). Each case starts from one and breaks up to three parts,
    // so most cases are near the handlers, not only at the first check.
    let sdp = Some("application/sdp".to_owned());
    let frag = Some("application/trickle-ice-sdpfrag".to_owned());
    let json = Some("application/json".to_owned());
    let templates: Vec<Template> = vec![
        (
            Method::POST,
            format!("/whip/{ROOM}"),
            2,
            sdp.clone(),
            OFFER.into(),
        ),
        (Method::POST, format!("/whep/{ROOM}"), 3, sdp, OFFER.into()),
        (
            Method::PATCH,
            format!("/whip/{ROOM}/pub-1"),
            2,
            frag.clone(),
            TRICKLE.into(),
        ),
        (
            Method::PATCH,
            format!("/whep/{ROOM}/view-1"),
            3,
            frag,
            RESTART.into(),
        ),
        (
            Method::DELETE,
            format!("/whep/{ROOM}/view-1"),
            3,
            None,
            Vec::new(),
        ),
        (
            Method::POST,
            "/api/rooms".into(),
            4,
            json.clone(),
            br#"{"label":"Ward 4"}"#.to_vec(),
        ),
        (Method::GET, "/api/rooms".into(), 4, None, Vec::new()),
        (
            Method::GET,
            format!("/api/rooms/{ROOM}"),
            3,
            None,
            Vec::new(),
        ),
        (
            Method::POST,
            format!("/api/rooms/{ROOM}/tokens"),
            4,
            json,
            br#"{"role":"observer"}"#.to_vec(),
        ),
        (Method::GET, format!("/r/{ROOM}"), 0, None, Vec::new()),
        (
            Method::OPTIONS,
            format!("/whip/{ROOM}"),
            0,
            None,
            Vec::new(),
        ),
    ];
    let breakage = prop_oneof![
        method().prop_map(Part::Method),
        path().prop_map(Part::Path),
        (0..tokens.len()).prop_map(Part::Token),
        content_type().prop_map(Part::ContentType),
        body().prop_map(Part::Body),
    ];
    let strategy = (0..templates.len(), prop::collection::vec(breakage, 0..3));
    let app = router(gw.state.clone());
    let created = AtomicUsize::new(0);
    let mut runner = runner();
    let cases = runner.config().cases;
    runner
        .run(&strategy, |(template, parts)| {
            let (mut method, mut path, mut token, mut content_type, mut body) =
                templates[template].clone();
            for part in parts {
                match part {
                    Part::Method(m) => method = m,
                    Part::Path(p) => path = p,
                    Part::Token(t) => token = t,
                    Part::ContentType(c) => content_type = c,
                    Part::Body(b) => body = b,
                }
            }
            let mut request = Request::builder().method(method.clone()).uri(&path);
            if !tokens[token].is_empty() {
                request = request.header("authorization", &tokens[token]);
            }
            if let Some(content_type) = &content_type {
                request = request.header("content-type", content_type.as_str());
            }
            let Ok(request) = request.body(Body::from(body)) else {
                return Ok(()); // not a request http can even express
            };
            let response = rt.block_on(app.clone().oneshot(request)).unwrap();
            let status = response.status();
            if status == StatusCode::CREATED {
                created.fetch_add(1, Ordering::Relaxed);
            }
            prop_assert!(!status.is_server_error(), "{method} {path}: {status}");
            if status.is_client_error() && method != Method::HEAD {
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap_or("").to_owned());
                prop_assert_eq!(
                    content_type.as_deref(),
                    Some("application/json"),
                    "{} {}: {}",
                    method,
                    path,
                    status
                );
            }
            Ok(())
        })
        .unwrap();
    // The generator reaches the handlers, not only the refusals around them.
    assert!(
        created.into_inner() > 0 || cases < 32,
        "no request got as far as creating anything"
    );
}

/// A request as (method, path, index of its token, content type, body).
type Template = (Method, String, usize, Option<String>, Vec<u8>);

/// One part of a request, replaced.
#[derive(Debug, Clone)]
enum Part {
    Method(Method),
    Path(String),
    Token(usize),
    ContentType(Option<String>),
    Body(Vec<u8>),
}
