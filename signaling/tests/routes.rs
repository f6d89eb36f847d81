//! The viewer page, health, and what happens off the routes.

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn healthz_is_ok() {
    let gw = TestGateway::start().await;
    let response = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn healthz_says_so_when_the_media_plane_has_stalled() {
    let gw = TestGateway::start().await;
    gw.media
        .stall("the media loop has not turned for 4.2 s: streams are standing still");
    let response = gw.http.get(gw.url("/healthz")).send().await.unwrap();
    let message = assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "media_stalled").await;
    assert!(message.contains("has not turned for 4.2 s"), "{message}");
    assert!(message.contains("restart samsyn-gateway"), "{message}");
}

#[tokio::test]
async fn viewer_page_is_served_with_its_headers() {
    let gw = TestGateway::start().await;
    let response = gw.http.get(gw.url("/r/ward7abc23")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(response.text().await.unwrap(), PAGES.viewer_html);
}

#[tokio::test]
async fn nurse_page_is_served_with_the_viewer_pages_headers() {
    let gw = TestGateway::start().await;
    let viewer = gw.http.get(gw.url("/r/ward7abc23")).send().await.unwrap();
    let response = gw.http.get(gw.url("/n/ward7abc23")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    for name in [
        "cache-control",
        "referrer-policy",
        "x-content-type-options",
        "content-security-policy",
    ] {
        assert_eq!(headers[name], viewer.headers()[name], "{name}");
    }
    assert_eq!(response.text().await.unwrap(), PAGES.nurse_html);

    let response = gw
        .http
        .get(gw.url("/n/Not%20A%20Room"))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::BAD_REQUEST, "bad_room").await;
}

#[tokio::test]
async fn nurse_and_language_assets_are_served() {
    let gw = TestGateway::start().await;
    for (path, content_type, body) in [
        (
            "/n/assets/nurse.js",
            "text/javascript; charset=utf-8",
            PAGES.nurse_js,
        ),
        (
            "/n/assets/nurse.css",
            "text/css; charset=utf-8",
            PAGES.nurse_css,
        ),
        (
            "/n/assets/i18n/nurse.js",
            "text/javascript; charset=utf-8",
            PAGES.nurse_strings_js,
        ),
        (
            "/n/assets/i18n/lang.js",
            "text/javascript; charset=utf-8",
            PAGES.lang_js,
        ),
        (
            "/r/assets/i18n/viewer.js",
            "text/javascript; charset=utf-8",
            PAGES.viewer_strings_js,
        ),
        (
            "/r/assets/i18n/lang.js",
            "text/javascript; charset=utf-8",
            PAGES.lang_js,
        ),
    ] {
        let response = gw.http.get(gw.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.text().await.unwrap(), body);
    }
}

#[tokio::test]
async fn viewer_assets_are_served() {
    let gw = TestGateway::start().await;
    for (path, content_type, body) in [
        (
            "/r/assets/viewer.js",
            "text/javascript; charset=utf-8",
            PAGES.viewer_js,
        ),
        (
            "/r/assets/viewer.css",
            "text/css; charset=utf-8",
            PAGES.viewer_css,
        ),
        (
            "/r/assets/consultation.js",
            "text/javascript; charset=utf-8",
            PAGES.consultation_js,
        ),
        (
            "/r/assets/consultation.css",
            "text/css; charset=utf-8",
            PAGES.consultation_css,
        ),
        (
            "/r/assets/talkback.js",
            "text/javascript; charset=utf-8",
            PAGES.talkback_js,
        ),
    ] {
        let response = gw.http.get(gw.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.text().await.unwrap(), body);
    }
}

#[tokio::test]
async fn viewer_page_checks_the_room_id() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(gw.url("/r/Not%20A%20Room"))
        .send()
        .await
        .unwrap();
    let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_room").await;
    assert!(message.contains("lowercase"), "{message}");
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let gw = TestGateway::start().await;
    for path in ["/", "/nope", "/whip", "/r/a/b/c", "/whip/room1/s1/extra"] {
        let response = gw.http.get(gw.url(path)).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn wrong_method_is_405_json() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(gw.url("/whip/ward7abc23"))
        .send()
        .await
        .unwrap();
    let allow = response.headers().get("allow").cloned();
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let allow = allow.expect("405 lists the allowed methods");
    assert!(allow.to_str().unwrap().contains("POST"), "{allow:?}");

    let response = gw.http.post(gw.url("/healthz")).send().await.unwrap();
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let gw = TestGateway::start_with(|s| {
        s.cors_origins = vec!["https://journal.hospital.example".to_owned()];
    })
    .await;
    let preflight = |origin: &'static str| {
        gw.http
            .request(reqwest::Method::OPTIONS, gw.url("/whep/ward7abc23"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };

    let allowed = preflight("https://journal.hospital.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://journal.hospital.example"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );

    let stranger = preflight("https://evil.example").await.unwrap();
    assert!(
        stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "an origin that is not configured gets no CORS access"
    );

    // A real cross-origin POST from the allowed origin can read Location.
    let token = gw.token("ward7abc23", samsyn_signaling::Role::Publisher);
    let response = gw
        .http
        .post(gw.url("/whip/ward7abc23"))
        .header("origin", "https://journal.hospital.example")
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("location"), "{exposed}");
}

#[tokio::test]
async fn without_configured_origins_there_is_no_cors() {
    let gw = TestGateway::start().await;
    let response = gw
        .http
        .get(gw.url("/healthz"))
        .header("origin", "https://journal.hospital.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
