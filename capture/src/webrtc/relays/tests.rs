use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

fn turn(url: &str, username: &str, credential: &str) -> IceServer {
    IceServer {
        url: url.to_owned(),
        username: Some(username.to_owned()),
        credential: Some(credential.to_owned()),
    }
}

fn stun(url: &str) -> IceServer {
    IceServer {
        url: url.to_owned(),
        username: None,
        credential: None,
    }
}

/// How webrtcbin 1.22 reads a TURN URI's user and password (`nice.c`):
/// `gst_uri_from_string_escaped` takes the user info up to the first `@`
/// of the authority (which ends at the first `/`, `?` or `#`) and keeps it
/// escaped; `_parse_userinfo` splits it at the first `:` and unescapes
/// each side with `g_uri_unescape_*`, which fails on a bad `%` escape.
fn as_webrtcbin_reads_it(uri: &str) -> Option<(String, String, String)> {
    let rest = uri.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, host_port) = authority.split_once('@')?;
    let (user, pass) = userinfo.split_once(':')?;
    Some((unescape(user)?, unescape(pass)?, host_port.to_owned()))
}

fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[test]
fn rfc_7065_uris_are_taken_apart() {
    let parsed = |s: &str| ServerUri::parse(s).unwrap();
    assert_eq!(
        parsed("turn:gw.example:443?transport=tcp"),
        ServerUri {
            kind: Kind::TurnTcp,
            host: "gw.example".into(),
            port: 443
        }
    );
    assert_eq!(parsed("turn:relay.example").kind, Kind::TurnUdp);
    assert_eq!(parsed("turn:relay.example").port, 3478);
    assert_eq!(
        parsed("TURN:relay.example?Transport=UDP").kind,
        Kind::TurnUdp
    );
    assert_eq!(parsed("turns:gw.example").port, 5349);
    assert_eq!(
        parsed("turns:gw.example:443?transport=tcp").kind,
        Kind::TurnTls
    );
    assert_eq!(parsed("stun:stun.example.net").port, 3478);
    let v6 = parsed("turn:[fd00::1]:443?transport=tcp");
    assert_eq!(v6.host, "[fd00::1]");
    assert_eq!(v6.ip(), Some("fd00::1".parse().unwrap()));
    assert_eq!(parsed("turn:[fd00::1]").port, 3478);
    assert_eq!(
        parsed("turn:192.0.2.7:3478").ip(),
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)))
    );
    assert_eq!(parsed("turn:gw.example").ip(), None);
}

#[test]
fn malformed_uris_say_what_is_wrong() {
    for (uri, why) in [
        ("relay.example", "no scheme"),
        ("https://relay.example", "scheme https"),
        ("turn:relay.example?transport=sctp", "transport sctp"),
        ("turn:relay.example?foo=bar", "query"),
        ("stun:s.example?transport=udp", "no transport"),
        ("turn:", "not a host"),
        ("turn:user@relay.example", "not a host"),
        ("turn://relay.example", "not a host"),
        ("turn:relay.example:0", "not a port"),
        ("turn:relay.example:65536", "not a port"),
        ("turn:[fd00::1", "closing ]"),
        ("turn:[not-v6]:443", "not an IPv6"),
        ("turn:[fd00::1]443", "follows"),
    ] {
        let err = ServerUri::parse(uri).unwrap_err();
        assert!(err.contains(why), "{uri}: {err}");
    }
}

#[test]
fn credentials_are_percent_encoded_for_webrtcbin() {
    let server = ServerUri::parse("turn:gw.example:443?transport=tcp").unwrap();
    let uri = webrtcbin_turn_uri(&server, "1700000000:abc", "a/b+c==");
    assert_eq!(
        uri,
        "turn://1700000000%3Aabc:a%2Fb%2Bc%3D%3D@gw.example:443?transport=tcp"
    );
    assert_eq!(
        as_webrtcbin_reads_it(&uri).unwrap(),
        (
            "1700000000:abc".into(),
            "a/b+c==".into(),
            "gw.example:443".into()
        )
    );
    let v6 = ServerUri::parse("turn:[fd00::1]:443?transport=tcp").unwrap();
    assert_eq!(
        webrtcbin_turn_uri(&v6, "u", "p"),
        "turn://u:p@[fd00::1]:443?transport=tcp"
    );
    let udp = ServerUri::parse("turn:relay.example").unwrap();
    assert_eq!(
        webrtcbin_turn_uri(&udp, "u", "p"),
        "turn://u:p@relay.example:3478?transport=udp"
    );
    let stun = ServerUri::parse("stun:stun.example.net:19302").unwrap();
    assert_eq!(webrtcbin_stun_uri(&stun), "stun://stun.example.net:19302");
}

proptest! {
    #[test]
    fn any_credentials_survive_webrtcbins_reading(
        username in "[^\u{0}]{0,40}",
        credential in "[^\u{0}]{0,60}",
    ) {
        let server = ServerUri::parse("turn:gw.example:443?transport=tcp").unwrap();
        let uri = webrtcbin_turn_uri(&server, &username, &credential);
        prop_assert_eq!(
            as_webrtcbin_reads_it(&uri),
            Some((username, credential, "gw.example:443".to_owned()))
        );
    }
}

#[test]
fn the_gateways_relays_become_webrtcbins() {
    let relays = Relays::from_announced(&[
        turn(
            "turns:gw.example:443?transport=tcp",
            "1700000000:abc",
            "pw==",
        ),
        turn(
            "turn:gw.example:443?transport=tcp",
            "1700000000:abc",
            "pw==",
        ),
        turn("turn:relay.example:3478", "1700000000:abc", "other/pw"),
        stun("stun:stun.example.net"),
    ]);
    let uris: Vec<&str> = relays.turn.iter().map(|e| e.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "turn://1700000000%3Aabc:pw%3D%3D@gw.example:443?transport=tcp",
            "turn://1700000000%3Aabc:other%2Fpw@relay.example:3478?transport=udp",
        ]
    );
    assert_eq!(
        relays.stun.as_ref().map(|e| e.uri.as_str()),
        Some("stun://stun.example.net:3478")
    );
    assert_eq!(relays.relay_count(), 2);
    assert_eq!(relays.gather_timeout(), RELAY_GATHER_TIMEOUT);
    assert_eq!(
        relays.summary(),
        "4 (TURN over TCP, TURN over UDP, STUN; left out: TURN over TLS, as GStreamer's ICE \
         agent (libnice) cannot reach a relay over TLS)"
    );
    let debug = format!("{relays:?}");
    assert!(!debug.contains("pw") && !debug.contains("abc"), "{debug}");
}

#[test]
fn unusable_announcements_are_left_out() {
    let relays = Relays::from_announced(&[
        stun("turn:relay.example?transport=tcp"),
        turn("turn:relay.example?transport=tcp", "", "p"),
        turn("https://relay.example", "u", "p"),
        turn("turn:a.example?transport=tcp", "u", "p"),
        turn("turn:a.example?transport=tcp", "u", "p"),
        stun("stun:one.example"),
        stun("stun:two.example"),
    ]);
    assert_eq!(relays.relay_count(), 1, "{relays:?}");
    assert_eq!(
        relays.summary(),
        "5 (TURN over TCP, STUN; left out: TURN over TCP, as announced without username and \
         credential; TURN over TCP, as announced without username and credential; STUN, as \
         webrtcbin takes one STUN server)"
    );
    assert!(Relays::from_announced(&[]).is_empty());
    assert_eq!(Relays::from_announced(&[]).gather_timeout(), GATHER_TIMEOUT);
    let only_tls = Relays::from_announced(&[turn("turns:gw.example:443", "u", "p")]);
    assert!(!only_tls.is_empty());
    assert_eq!(only_tls.relay_count(), 0);
    assert_eq!(only_tls.gather_timeout(), GATHER_TIMEOUT);
    assert!(
        only_tls.summary().starts_with("1 (left out: TURN over TLS"),
        "{}",
        only_tls.summary()
    );
}

#[test]
fn a_summary_counts_kinds() {
    let relays = Relays::from_announced(&[
        turn("turn:a.example?transport=tcp", "u", "p"),
        turn("turn:b.example?transport=tcp", "u", "p"),
    ]);
    assert_eq!(relays.summary(), "2 (2 TURN over TCP)");
}

#[test]
fn pinning_leaves_relays_reachable_or_says_why_not() {
    let v4: IpAddr = "10.213.0.2".parse().unwrap();
    let v6: IpAddr = "2001:db8::2".parse().unwrap();
    let relay_v4: IpAddr = "192.0.2.7".parse().unwrap();
    let relay_v6: IpAddr = "2001:db8::7".parse().unwrap();
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(
        pinning_problem(&[], relay_v4),
        None,
        "not pinned: every interface"
    );
    assert_eq!(pinning_problem(&[v4], relay_v4), None);
    assert_eq!(pinning_problem(&[v4, v6], relay_v6), None);
    assert!(
        pinning_problem(&[v4], relay_v6)
            .unwrap()
            .contains("no IPv6 address")
    );
    let link_local: IpAddr = "fe80::1".parse().unwrap();
    assert!(
        pinning_problem(&[link_local], relay_v6)
            .unwrap()
            .contains("link-local")
    );
    assert!(
        pinning_problem(&["169.254.3.4".parse().unwrap()], relay_v4)
            .unwrap()
            .contains("link-local")
    );
    assert_eq!(pinning_problem(&[loopback], loopback), None);
    assert!(
        pinning_problem(&[loopback], relay_v4)
            .unwrap()
            .contains("loopback")
    );
    assert_eq!(
        pinning_problem(
            &[IpAddr::V6(Ipv6Addr::LOCALHOST)],
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        ),
        None
    );
}

/// The real webrtcbin takes the URIs: it reads back `turn-server` and
/// `stun-server` (its `gst_uri_to_string` escapes the user info once more).
#[test]
fn webrtcbin_accepts_them() {
    gst::init().unwrap();
    let webrtcbin = gst::ElementFactory::make("webrtcbin")
        .build()
        .expect("webrtcbin (gstreamer1.0-plugins-bad) is installed");
    let relays = Relays::from_announced(&[
        turn(
            "turn:[fd00::1]:443?transport=tcp",
            "1700000000:abc",
            "a/b+c==",
        ),
        turn("turn:relay.example:3478", "u", "p"),
        stun("stun:stun.example.net"),
    ]);
    relays.apply(&webrtcbin, &[]);
    let read = webrtcbin.property::<Option<String>>("turn-server").unwrap();
    let once_unescaped = unescape(&read).unwrap();
    assert_eq!(
        as_webrtcbin_reads_it(&once_unescaped).unwrap(),
        (
            "1700000000:abc".into(),
            "a/b+c==".into(),
            "[fd00::1]:443".into()
        ),
        "{read}"
    );
    assert!(once_unescaped.ends_with("?transport=tcp"), "{read}");
    assert_eq!(
        webrtcbin
            .property::<Option<String>>("stun-server")
            .as_deref(),
        Some("stun://stun.example.net:3478")
    );
}
