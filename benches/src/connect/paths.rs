//! The ways the video can take to the gateway, and which of them a
//! consultation from here will use, in plain words.
//!
//! Straight to the gateway's media port over UDP first; where UDP cannot
//! pass, through a TURN relay the gateway announces (`Link: <turn:…>;
//! rel="ice-server"`): its built-in relay on its HTTPS port, over TCP
//! (`turn:…?transport=tcp`) or TLS (`turns:`), and external relays
//! (`turn.urls`). The bench tries each relay it can speak with relayed
//! candidates only (see [`crate::relay`]); TLS relays it lists as not tested.
//!
//! ICE takes the direct path when it works, and of the relays one reached
//! over UDP before one reached over TCP: the order of [`plan`]'s routes.

use reqwest::Url;
use samsyn_capture::webrtc::relays::{Kind, ServerUri};
use samsyn_capture::whip::IceServer;
use serde::Serialize;

use crate::relay::RelayServer;

/// A kind of path, as `--json` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// Straight to the gateway's media port.
    Udp,
    /// The gateway's built-in relay over plain TCP on its HTTPS port.
    RelayTcp,
    /// The gateway's built-in relay over TLS on its HTTPS port.
    RelayTls,
    /// A relay of `turn.urls`.
    ExternalRelay,
}

/// A path to try: UDP, or a relay with its credentials.
#[derive(Debug, Clone)]
pub struct Route {
    pub kind: PathKind,
    pub relay: Option<RelayServer>,
}

impl Route {
    /// The announced URI, which holds no credentials.
    pub fn url(&self) -> Option<String> {
        self.relay.as_ref().map(|r| r.uri.clone())
    }

    /// The path in English, for progress lines.
    pub fn describe(&self) -> String {
        name(self.kind, self.url().as_deref()).1
    }
}

/// A path that was announced but not tried, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UntestedPath {
    pub path: PathKind,
    pub url: String,
    pub why: String,
}

/// What the bench tries, in ICE's order of preference, and what it cannot.
#[derive(Debug, Clone)]
pub struct Plan {
    pub routes: Vec<Route>,
    pub untested: Vec<UntestedPath>,
}

/// What was found on one path (`paths` in `--json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PathResult {
    pub path: PathKind,
    /// The relay's URI (no credentials); null for UDP.
    pub url: Option<String>,
    pub works: bool,
    /// Median round trip on the path, ms.
    pub rtt_ms: Option<f64>,
    /// The highest media bitrate the path sustained, kbit/s: measured on
    /// the path a consultation will use, null on the others (only checked).
    pub max_sustainable_kbps: Option<u32>,
    /// Why it does not work.
    pub problem: Option<String>,
}

/// The reason given for TLS relays.
pub const TLS_NOT_TESTED: &str = "not tested from this tool (browsers use it)";

/// Which paths to try and to list, from the relays the gateway announced
/// to a client of `base`.
pub fn plan(announced: &[IceServer], base: &Url) -> Plan {
    let mut relays = Vec::new();
    let mut untested = Vec::new();
    for server in announced {
        let Ok(uri) = ServerUri::parse(&server.url) else {
            continue;
        };
        if uri.kind == Kind::Stun {
            continue;
        }
        let kind = classify(&uri, base);
        if uri.kind == Kind::TurnTls {
            untested.push(UntestedPath {
                path: kind,
                url: server.url.clone(),
                why: TLS_NOT_TESTED.into(),
            });
            continue;
        }
        match RelayServer::from_announced(server) {
            Ok(relay) => {
                if !relays
                    .iter()
                    .any(|r: &Route| r.url() == Some(server.url.clone()))
                {
                    relays.push(Route {
                        kind,
                        relay: Some(relay),
                    });
                }
            }
            Err(why) => untested.push(UntestedPath {
                path: kind,
                url: server.url.clone(),
                why: why.to_string(),
            }),
        }
    }
    // Stable: announced order within each carrier.
    relays.sort_by_key(|r| carrier_rank(r.url().as_deref()));
    let mut routes = vec![Route {
        kind: PathKind::Udp,
        relay: None,
    }];
    routes.extend(relays);
    Plan { routes, untested }
}

/// The built-in relay is announced on the public URL's host and port.
fn classify(uri: &ServerUri, base: &Url) -> PathKind {
    let builtin = base
        .host_str()
        .is_some_and(|host| host.eq_ignore_ascii_case(&uri.host))
        && base.port_or_known_default() == Some(uri.port);
    match (builtin, uri.kind) {
        (true, Kind::TurnTcp) => PathKind::RelayTcp,
        (true, Kind::TurnTls) => PathKind::RelayTls,
        _ => PathKind::ExternalRelay,
    }
}

/// ICE's preference among paths: direct, then relays reached over UDP,
/// over TCP, over TLS.
fn carrier_rank(url: Option<&str>) -> u8 {
    match url.map(ServerUri::parse) {
        None => 0,
        Some(Ok(ServerUri {
            kind: Kind::TurnUdp,
            ..
        })) => 1,
        Some(Ok(ServerUri {
            kind: Kind::TurnTcp,
            ..
        })) => 2,
        _ => 3,
    }
}

/// The path a consultation from here will take: the one ICE prefers of
/// those that work.
pub fn chosen(paths: &[PathResult]) -> Option<&PathResult> {
    paths
        .iter()
        .filter(|p| p.works)
        .min_by_key(|p| carrier_rank(p.url.as_deref()))
}

/// A path's name, (Norwegian, English).
pub fn name(kind: PathKind, url: Option<&str>) -> (String, String) {
    let uri = url.and_then(|u| ServerUri::parse(u).ok());
    match (kind, uri) {
        (PathKind::Udp, _) | (_, None) => (
            "UDP direkte til gatewayen".into(),
            "UDP straight to the gateway".into(),
        ),
        (PathKind::RelayTcp | PathKind::RelayTls, Some(uri)) => (
            format!("gatewayens relé på port {}", uri.port),
            format!("the gateway's relay on port {}", uri.port),
        ),
        (PathKind::ExternalRelay, Some(uri)) => (
            format!("reléet {}:{}", uri.host, uri.port),
            format!("the relay {}:{}", uri.host, uri.port),
        ),
    }
}

/// A path's name with how it is reached, (Norwegian, English): `… (TCP)`.
fn name_with_carrier(kind: PathKind, url: Option<&str>) -> (String, String) {
    let (no, en) = name(kind, url);
    let carrier = match url.and_then(|u| ServerUri::parse(u).ok()).map(|u| u.kind) {
        None => return (no, en),
        Some(Kind::TurnTcp) => "TCP",
        Some(Kind::TurnTls) => "TLS",
        Some(Kind::TurnUdp | Kind::Stun) => "UDP",
    };
    (format!("{no} ({carrier})"), format!("{en} ({carrier})"))
}

/// Norwegian first, English beside it.
fn both(no: &str, en: &str) -> String {
    format!("{no} · {en}")
}

/// Which path the video will take, in one sentence.
pub fn summary(paths: &[PathResult]) -> String {
    let relays: Vec<&PathResult> = paths.iter().filter(|p| p.path != PathKind::Udp).collect();
    match chosen(paths) {
        Some(p) if p.path == PathKind::Udp => match relays.iter().find(|r| r.works) {
            Some(relay) => {
                let (no, en) = name(relay.path, relay.url.as_deref());
                both(
                    &format!(
                        "Video går direkte til gatewayen over UDP; {no} virker også, om UDP \
                             skulle bli blokkert"
                    ),
                    &format!(
                        "Video goes straight to the gateway over UDP; {en} works too, \
                             should UDP be blocked"
                    ),
                )
            }
            None => both(
                "Video går direkte til gatewayen over UDP",
                "Video goes straight to the gateway over UDP",
            ),
        },
        Some(p) => {
            let (no, en) = name(p.path, p.url.as_deref());
            both(
                &format!(
                    "UDP til gatewayen er blokkert på dette nettet; video går gjennom {no} — \
                     litt mer forsinkelse"
                ),
                &format!(
                    "UDP to the gateway is blocked on this network; video will go through \
                     {en} — a little more delay"
                ),
            )
        }
        None if relays.is_empty() => both(
            "UDP til gatewayen er blokkert på dette nettet, og gatewayen tilbyr ikke noe relé",
            "UDP to the gateway is blocked on this network, and the gateway offers no relay",
        ),
        None if relays.len() == 1 => both(
            "Verken UDP eller reléet når gatewayen fra dette nettet",
            "Neither UDP nor the relay reaches the gateway from this network",
        ),
        None => both(
            "Verken UDP eller reléene når gatewayen fra dette nettet",
            "Neither UDP nor the relays reach the gateway from this network",
        ),
    }
}

/// One line per path: its name, whether it works, and why not.
pub fn lines(paths: &[PathResult], untested: &[UntestedPath]) -> Vec<String> {
    let mut lines: Vec<String> = paths
        .iter()
        .map(|p| {
            let (no, en) = name_with_carrier(p.path, p.url.as_deref());
            if p.works {
                both(&format!("{no}: virker"), &format!("{en}: works"))
            } else {
                let why = p
                    .problem
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default();
                both(
                    &format!("{no}: virker ikke"),
                    &format!("{en}: does not work{why}"),
                )
            }
        })
        .collect();
    lines.extend(untested.iter().map(untested_line));
    lines
}

/// A path not tried, in words.
pub fn untested_line(path: &UntestedPath) -> String {
    let (no, en) = name_with_carrier(path.path, Some(&path.url));
    if path.why == TLS_NOT_TESTED {
        both(
            &format!("{no}: ikke testet fra dette verktøyet (nettlesere bruker det)"),
            &format!("{en}: {TLS_NOT_TESTED}"),
        )
    } else {
        both(
            &format!("{no}: ikke testet"),
            &format!("{en}: not tested ({})", path.why),
        )
    }
}

/// What IT can do about the path, if anything: open UDP when the video
/// goes through a relay, or a relay's port when nothing works.
pub fn it_advice(paths: &[PathResult], media_port_hint: &str) -> Option<String> {
    match chosen(paths) {
        Some(p) if p.path == PathKind::Udp => None,
        Some(_) => Some(both(
            &format!(
                "IT: utgående UDP til gatewayens medieport ({media_port_hint}) gir den direkte \
                 veien"
            ),
            &format!(
                "IT: outgoing UDP to the gateway's media port ({media_port_hint}) gives the \
                 direct path"
            ),
        )),
        None => {
            let relay = paths.iter().find(|p| p.path == PathKind::RelayTcp)?;
            let port = relay
                .url
                .as_deref()
                .and_then(|u| ServerUri::parse(u).ok())?
                .port;
            Some(both(
                &format!("IT: eller utgående TCP til gatewayens port {port} (reléet)"),
                &format!("IT: or outgoing TCP to the gateway's port {port} (its relay)"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announced(url: &str) -> IceServer {
        IceServer {
            url: url.into(),
            username: Some("1700000000:abc".into()),
            credential: Some("c3VwZXI=".into()),
        }
    }

    fn base() -> Url {
        Url::parse("https://gw.example/").unwrap()
    }

    fn result(path: PathKind, url: Option<&str>, works: bool) -> PathResult {
        PathResult {
            path,
            url: url.map(str::to_owned),
            works,
            rtt_ms: works.then_some(12.0),
            max_sustainable_kbps: None,
            problem: (!works).then(|| "no answer".to_owned()),
        }
    }

    const BUILTIN_TCP: &str = "turn:gw.example:443?transport=tcp";
    const EXTERNAL_UDP: &str = "turn:turn.hospital.example:3478";

    #[test]
    fn the_plan_tries_udp_then_udp_relays_then_tcp_relays_and_lists_tls() {
        let plan = plan(
            &[
                announced("turns:gw.example:443?transport=tcp"),
                announced(BUILTIN_TCP),
                announced(EXTERNAL_UDP),
                announced("turns:turn.hospital.example:5349"),
                announced("stun:stun.example"),
            ],
            &base(),
        );
        let routes: Vec<(PathKind, Option<String>)> =
            plan.routes.iter().map(|r| (r.kind, r.url())).collect();
        assert_eq!(
            routes,
            vec![
                (PathKind::Udp, None),
                (PathKind::ExternalRelay, Some(EXTERNAL_UDP.into())),
                (PathKind::RelayTcp, Some(BUILTIN_TCP.into())),
            ]
        );
        let untested: Vec<PathKind> = plan.untested.iter().map(|u| u.path).collect();
        assert_eq!(untested, vec![PathKind::RelayTls, PathKind::ExternalRelay]);
        assert!(plan.untested.iter().all(|u| u.why == TLS_NOT_TESTED));
    }

    #[test]
    fn a_relay_without_credentials_is_listed_not_tried() {
        let mut bare = announced(BUILTIN_TCP);
        bare.credential = None;
        let plan = plan(&[bare], &base());
        assert_eq!(plan.routes.len(), 1);
        assert!(plan.untested[0].why.contains("without username"));
    }

    #[test]
    fn the_built_in_relay_is_the_one_on_the_public_urls_port() {
        let on = |url: &str, base: &str| {
            classify(&ServerUri::parse(url).unwrap(), &Url::parse(base).unwrap())
        };
        assert_eq!(on(BUILTIN_TCP, "https://gw.example"), PathKind::RelayTcp);
        assert_eq!(
            on(
                "turn:GW.example:8443?transport=tcp",
                "https://gw.example:8443/"
            ),
            PathKind::RelayTcp
        );
        assert_eq!(
            on(BUILTIN_TCP, "https://gw.example:8443"),
            PathKind::ExternalRelay
        );
        assert_eq!(
            on(EXTERNAL_UDP, "https://gw.example"),
            PathKind::ExternalRelay
        );
    }

    #[test]
    fn udp_wins_when_it_works_then_a_udp_relay_then_tcp() {
        let udp = result(PathKind::Udp, None, true);
        let tcp = result(PathKind::RelayTcp, Some(BUILTIN_TCP), true);
        let external = result(PathKind::ExternalRelay, Some(EXTERNAL_UDP), true);
        let paths = [udp.clone(), tcp.clone(), external.clone()];
        assert_eq!(chosen(&paths), Some(&udp));
        let blocked = result(PathKind::Udp, None, false);
        assert_eq!(
            chosen(&[blocked.clone(), tcp.clone(), external.clone()]),
            Some(&external)
        );
        assert_eq!(chosen(&[blocked.clone(), tcp.clone()]), Some(&tcp));
        let tcp_down = result(PathKind::RelayTcp, Some(BUILTIN_TCP), false);
        assert_eq!(chosen(&[blocked, tcp_down]), None);
    }

    #[test]
    fn blocked_udp_through_the_gateways_relay_reads_as_the_nurse_needs_it() {
        let paths = [
            result(PathKind::Udp, None, false),
            result(PathKind::RelayTcp, Some(BUILTIN_TCP), true),
        ];
        assert_eq!(
            summary(&paths),
            "UDP til gatewayen er blokkert på dette nettet; video går gjennom gatewayens relé \
             på port 443 — litt mer forsinkelse · UDP to the gateway is blocked on this \
             network; video will go through the gateway's relay on port 443 — a little more \
             delay"
        );
        let advice = it_advice(&paths, "UDP 10.0.0.1 port 5000").unwrap();
        assert!(advice.starts_with("IT: utgående UDP"), "{advice}");
        assert!(advice.contains("(UDP 10.0.0.1 port 5000) gives the direct path"));
    }

    #[test]
    fn the_other_verdicts_say_what_works() {
        let udp = result(PathKind::Udp, None, true);
        let tcp = result(PathKind::RelayTcp, Some(BUILTIN_TCP), true);
        let text = summary(&[udp.clone(), tcp]);
        assert!(
            text.starts_with("Video går direkte til gatewayen over UDP; gatewayens relé"),
            "{text}"
        );
        assert!(text.contains(" · Video goes straight"), "{text}");
        assert_eq!(it_advice(std::slice::from_ref(&udp), "x"), None);
        let blocked = result(PathKind::Udp, None, false);
        assert!(summary(std::slice::from_ref(&blocked)).contains("offers no relay"));
        let external = result(PathKind::ExternalRelay, Some(EXTERNAL_UDP), true);
        let text = summary(&[blocked.clone(), external]);
        assert!(
            text.contains("gjennom reléet turn.hospital.example:3478")
                && text.contains("through the relay turn.hospital.example:3478"),
            "{text}"
        );
        let tcp_down = result(PathKind::RelayTcp, Some(BUILTIN_TCP), false);
        let paths = [blocked, tcp_down];
        assert!(summary(&paths).contains("Neither UDP nor the relay reaches"));
        let advice = it_advice(&paths, "x").unwrap();
        assert!(advice.contains("TCP to the gateway's port 443"), "{advice}");
    }

    #[test]
    fn every_path_gets_a_line_and_tls_is_not_pretended() {
        let untested = UntestedPath {
            path: PathKind::RelayTls,
            url: "turns:gw.example:443?transport=tcp".into(),
            why: TLS_NOT_TESTED.into(),
        };
        let lines = lines(
            &[
                result(PathKind::Udp, None, false),
                result(PathKind::RelayTcp, Some(BUILTIN_TCP), true),
            ],
            &[untested],
        );
        assert_eq!(
            lines,
            vec![
                "UDP direkte til gatewayen: virker ikke · UDP straight to the gateway: does not \
                 work (no answer)",
                "gatewayens relé på port 443 (TCP): virker · the gateway's relay on port 443 \
                 (TCP): works",
                "gatewayens relé på port 443 (TLS): ikke testet fra dette verktøyet (nettlesere \
                 bruker det) · the gateway's relay on port 443 (TLS): not tested from this tool \
                 (browsers use it)",
            ]
        );
    }

    #[test]
    fn paths_serialise_as_the_json_names() {
        let json =
            serde_json::to_value(result(PathKind::RelayTcp, Some(BUILTIN_TCP), true)).unwrap();
        assert_eq!(json["path"], "relay_tcp");
        assert_eq!(json["url"], BUILTIN_TCP);
        assert_eq!(json["works"], true);
        assert!(json["max_sustainable_kbps"].is_null());
        assert_eq!(
            serde_json::to_value(PathKind::ExternalRelay).unwrap(),
            "external_relay"
        );
    }
}
