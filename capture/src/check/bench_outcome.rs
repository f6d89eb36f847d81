//! Reading the JSON verdict `samsyn-bench connect --json` prints, and
//! turning it into the line's finding in both languages.
//!
//! The fields read are those of the bench's `ConnectOutcome`: `verdict`,
//! `headline`, `advice`, `exit_code`, `connected`, `rtt_ms`,
//! `max_sustainable_kbps`, `profile`, `paths`, `consultation_path`,
//! `consultation_path_url` and `path_summary`. Its verdict, headline and
//! advice become the line's; the path a consultation will take is named from
//! `consultation_path` (or, failing that, the first path in `paths` that
//! works: the bench lists them in ICE's order of preference).

use serde::Deserialize;

use super::report::{CheckLevel, Finding, LineFinding, LinePath};
use crate::webrtc::relays::{Kind, ServerUri};

/// The bench's verdict on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchLevel {
    Good,
    Marginal,
    Unusable,
}

impl From<BenchLevel> for CheckLevel {
    fn from(level: BenchLevel) -> Self {
        match level {
            BenchLevel::Good => CheckLevel::Good,
            BenchLevel::Marginal => CheckLevel::Marginal,
            BenchLevel::Unusable => CheckLevel::Unusable,
        }
    }
}

/// One path the bench tried.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BenchPath {
    pub path: LinePath,
    /// The relay's URI; `None` for UDP.
    pub url: Option<String>,
    pub works: bool,
}

/// The parts of `samsyn-bench connect --json` the check uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BenchOutcome {
    pub verdict: BenchLevel,
    pub headline: String,
    pub advice: Vec<String>,
    pub exit_code: u8,
    /// False when no media got through at all.
    pub connected: bool,
    pub rtt_ms: Option<f64>,
    pub max_sustainable_kbps: u32,
    /// `1080p30`, `720p30`, `540p30`, `360p`, `audio only` or `none`.
    pub profile: String,
    #[serde(default)]
    pub paths: Vec<BenchPath>,
    #[serde(default)]
    pub consultation_path: Option<LinePath>,
    #[serde(default)]
    pub consultation_path_url: Option<String>,
    /// Which path the video takes, `norsk · English`; the bench also puts
    /// it first among its advice.
    #[serde(default)]
    pub path_summary: String,
}

impl BenchOutcome {
    /// Reads the bench's JSON object.
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The path a consultation will take, and its relay's URI.
    pub fn chosen_path(&self) -> Option<(LinePath, Option<String>)> {
        match self.consultation_path {
            Some(path) => Some((path, self.consultation_path_url.clone())),
            None => self
                .paths
                .iter()
                .find(|p| p.works)
                .map(|p| (p.path, p.url.clone())),
        }
    }

    /// The line's finding: the bench's verdict, headline and advice, with
    /// the path named and the Norwegian beside.
    pub fn finding(&self) -> LineFinding {
        let level = CheckLevel::from(self.verdict);
        let (quality, quality_nb) = match level {
            CheckLevel::Good => ("good", "god"),
            CheckLevel::Marginal => ("weak", "svak"),
            _ => ("too poor", "for dårlig"),
        };
        let chosen = self.chosen_path();
        let path_words = chosen
            .as_ref()
            .map(|(path, url)| path_in_words(*path, url.as_deref()));
        let mut headline = format!("Line to the hospital: {quality}. {}", self.headline.trim());
        let mut headline_nb = format!("Linjen til sykehuset: {quality_nb}. {}", self.headline_nb());
        if let Some((en, nb)) = &path_words {
            headline.push_str(&format!(" The video goes {en}."));
            headline_nb.push_str(&format!(" Videoen går {nb}."));
        }
        let mut finding = Finding::new(level, headline, headline_nb);
        // Once the headline names the path, the bench's sentence about it
        // says nothing more; without a path it says why there is none.
        let advice = self
            .advice
            .iter()
            .filter(|a| path_words.is_none() || **a != self.path_summary);
        for advice in advice {
            let (en, nb) = in_both_languages(advice);
            finding = finding.advise(en, nb);
        }
        LineFinding {
            finding,
            path: chosen.as_ref().map(|(path, _)| *path),
            path_url: chosen.and_then(|(_, url)| url),
            profile: Some(self.profile.clone()),
            max_sustainable_kbps: Some(self.max_sustainable_kbps),
            rtt_ms: self.rtt_ms.map(|ms| (ms * 10.0).round() / 10.0),
        }
    }

    /// The bench's headline said in Norwegian, from its verdict and
    /// profile (the bench words it in English only).
    fn headline_nb(&self) -> String {
        let profile = profile_nb(&self.profile);
        match self.verdict {
            BenchLevel::Good => format!("Forbindelsen kan bære {profile}."),
            BenchLevel::Marginal => format!("Konsultasjonen vil fungere, med {profile}."),
            BenchLevel::Unusable if !self.connected => {
                "Videoen kommer ikke frem til sykehuset fra dette nettet.".to_owned()
            }
            BenchLevel::Unusable if self.max_sustainable_kbps >= 500 => {
                "Forbindelsen svarer for sent til en direkte konsultasjon.".to_owned()
            }
            BenchLevel::Unusable => {
                format!("Forbindelsen er for treg til video: den bærer {profile}.")
            }
        }
    }
}

/// The bench's profile names in Norwegian words.
fn profile_nb(profile: &str) -> &'static str {
    match profile {
        "1080p30" => "full HD-video (1080p, 30 bilder i sekundet)",
        "720p30" => "HD-video (720p, 30 bilder i sekundet)",
        "540p30" => "video i redusert kvalitet (540p)",
        "360p" => "video i lav kvalitet (360p): nok til å følge med, ikke til sårdetaljer",
        "audio only" => "bare lyd, ikke video",
        _ => "ingenting",
    }
}

/// How the video reaches the hospital, (English, Norwegian).
pub fn path_in_words(path: LinePath, url: Option<&str>) -> (String, String) {
    let uri = url.and_then(|u| ServerUri::parse(u).ok());
    let carrier = match uri.as_ref().map(|u| u.kind) {
        Some(Kind::TurnTcp) => "TCP",
        Some(Kind::TurnTls) => "TLS",
        _ if path == LinePath::RelayTls => "TLS",
        _ if path == LinePath::RelayTcp => "TCP",
        _ => "UDP",
    };
    let port = uri
        .as_ref()
        .map(|u| format!(" (port {})", u.port))
        .unwrap_or_default();
    match path {
        LinePath::Udp => (
            "straight to the hospital over UDP".to_owned(),
            "direkte til sykehuset over UDP".to_owned(),
        ),
        LinePath::RelayTcp | LinePath::RelayTls => (
            format!(
                "through the hospital's relay over {carrier}{port}, since UDP is blocked on \
                 this network"
            ),
            format!(
                "gjennom sykehusets relé over {carrier}{port}, fordi UDP er blokkert på dette \
                 nettet"
            ),
        ),
        LinePath::ExternalRelay => {
            let relay = uri
                .map(|u| format!(" {}:{}", u.host, u.port))
                .unwrap_or_default();
            (
                format!(
                    "through the relay{relay} over {carrier}, since UDP is blocked on this network"
                ),
                format!(
                    "gjennom reléet{relay} over {carrier}, fordi UDP er blokkert på dette nettet"
                ),
            )
        }
    }
}

/// One piece of the bench's advice as (English, Norwegian). The bench
/// writes some as `norsk · English`; the others, in English only, are
/// said in Norwegian here, or left in English (the lines meant for IT).
fn in_both_languages(advice: &str) -> (String, String) {
    if let Some((nb, en)) = advice.split_once(" · ") {
        return (en.trim().to_owned(), nb.trim().to_owned());
    }
    let nb = NORWEGIAN
        .iter()
        .find(|(start, _)| advice.starts_with(start))
        .map(|(_, nb)| (*nb).to_owned());
    let nb = match nb {
        Some(nb) => nb,
        None if advice.starts_with("The connection is very slow to answer") => {
            "Forbindelsen svarer svært sent: spesialisten ville se og høre alt forsinket. Prøv \
             et annet nett."
                .to_owned()
        }
        None if advice.starts_with("The connection answers slowly") => {
            "Forbindelsen svarer sent: regn med litt forsinkelse når dere snakker.".to_owned()
        }
        None => advice.to_owned(),
    };
    (advice.to_owned(), nb)
}

/// The bench's fixed English advice, by how it starts, in Norwegian.
const NORWEGIAN: &[(&str, &str)] = &[
    (
        "Move closer to the Wi-Fi router",
        "Gå nærmere Wi-Fi-ruteren, eller bruk kabel eller et annet nett (4G), og test igjen.",
    ),
    (
        "Pause other things that use the network",
        "Sett andre ting som bruker nettet her på pause (videosamtaler, oppdateringer, \
         strømming).",
    ),
    (
        "If it stays like this, call IT",
        "Hvis det fortsetter slik, ring IT og send dem denne rapporten.",
    ),
    (
        "Try another network",
        "Prøv et annet nett (et annet Wi-Fi, eller 4G) og test igjen.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// What `samsyn-bench connect --json` printed against a real gateway
    /// over a clean path.
    const UDP_GOOD: &str = include_str!("testdata/connect_udp_good.json");
    /// … with UDP to the media port dropped and the built-in relay on: the
    /// test ran through the relay over TCP, up to 1000 kbit/s.
    const RELAY_MARGINAL: &str = include_str!("testdata/connect_relay_tcp_marginal.json");
    /// … with UDP dropped and no relay.
    const BLOCKED: &str = include_str!("testdata/connect_udp_blocked_unusable.json");

    #[test]
    fn a_good_line_straight_over_udp() {
        let outcome = BenchOutcome::parse(UDP_GOOD).unwrap();
        assert_eq!(outcome.verdict, BenchLevel::Good);
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(outcome.profile, "720p30");
        let line = outcome.finding();
        assert_eq!(line.finding.level, CheckLevel::Good);
        assert_eq!(line.path, Some(LinePath::Udp));
        assert_eq!(line.path_url, None);
        assert_eq!(line.max_sustainable_kbps, Some(2000));
        assert_eq!(
            line.finding.headline,
            "Line to the hospital: good. This connection can carry HD video (720p, 30 frames a \
             second). The video goes straight to the hospital over UDP."
        );
        assert_eq!(
            line.finding.headline_nb,
            "Linjen til sykehuset: god. Forbindelsen kan bære HD-video (720p, 30 bilder i \
             sekundet). Videoen går direkte til sykehuset over UDP."
        );
        // The path is in the headline; the bench's sentence about it
        // was its only advice.
        assert!(line.finding.advice.is_empty(), "{:?}", line.finding.advice);
    }

    #[test]
    fn a_weak_line_through_the_relay_over_tcp() {
        let outcome = BenchOutcome::parse(RELAY_MARGINAL).unwrap();
        let line = outcome.finding();
        assert_eq!(line.finding.level, CheckLevel::Marginal);
        assert_eq!(line.finding.level.exit_code(), outcome.exit_code);
        assert_eq!(line.path, Some(LinePath::RelayTcp));
        assert_eq!(
            line.path_url.as_deref(),
            Some("turn:127.0.0.1:18080?transport=tcp")
        );
        let headline = &line.finding.headline;
        assert!(headline.starts_with("Line to the hospital: weak. The consultation will work"));
        assert!(
            headline.ends_with(
                "The video goes through the hospital's relay over TCP (port 18080), since UDP \
                 is blocked on this network."
            ),
            "{headline}"
        );
        assert!(
            line.finding
                .headline_nb
                .contains("video i lav kvalitet (360p)"),
            "{}",
            line.finding.headline_nb
        );
        // The bench's advice, each in both languages, in its order; its
        // sentence about the path is in the headline.
        let (advice, advice_nb) = (&line.finding.advice, &line.finding.advice_nb);
        assert_eq!(advice.len(), 5, "{advice:?}");
        assert_eq!(advice.len(), advice_nb.len());
        assert!(advice[0].starts_with("Move closer to the Wi-Fi router"));
        assert!(advice_nb[0].starts_with("Gå nærmere Wi-Fi-ruteren"));
        assert!(advice_nb[1].starts_with("Sett andre ting"));
        assert!(advice[2].starts_with("IT: outgoing UDP to the gateway's media port"));
        assert!(advice_nb[2].starts_with("IT: utgående UDP til gatewayens medieport"));
        assert!(advice[3].starts_with("UDP straight to the gateway: does not work"));
    }

    #[test]
    fn a_blocked_line_names_no_path() {
        let outcome = BenchOutcome::parse(BLOCKED).unwrap();
        assert!(!outcome.connected);
        let line = outcome.finding();
        assert_eq!(line.finding.level, CheckLevel::Unusable);
        assert_eq!(line.path, None);
        assert_eq!(
            line.finding.headline,
            "Line to the hospital: too poor. The video cannot reach the hospital from this \
             network."
        );
        assert_eq!(
            line.finding.headline_nb,
            "Linjen til sykehuset: for dårlig. Videoen kommer ikke frem til sykehuset fra dette \
             nettet."
        );
        // Without a path, the bench's sentence about paths says why.
        assert!(line.finding.advice[0].starts_with("UDP to the gateway is blocked"));
        assert!(line.finding.advice_nb[0].starts_with("UDP til gatewayen er blokkert"));
        assert_eq!(line.finding.advice_nb[1], NORWEGIAN[3].1);
        // The line for IT stays in English.
        assert!(line.finding.advice_nb[2].starts_with("IT: this network must allow"));
    }

    #[test]
    fn the_path_falls_back_to_the_first_that_works() {
        let mut outcome = BenchOutcome::parse(RELAY_MARGINAL).unwrap();
        outcome.consultation_path = None;
        outcome.consultation_path_url = None;
        assert_eq!(
            outcome.chosen_path(),
            Some((
                LinePath::RelayTcp,
                Some("turn:127.0.0.1:18080?transport=tcp".to_owned())
            ))
        );
    }

    #[test]
    fn relays_are_named_with_how_they_are_reached() {
        let (en, nb) = path_in_words(
            LinePath::RelayTls,
            Some("turns:gw.example:443?transport=tcp"),
        );
        assert!(en.contains("relay over TLS (port 443)"), "{en}");
        assert!(nb.contains("relé over TLS (port 443)"), "{nb}");
        let (en, _) = path_in_words(
            LinePath::ExternalRelay,
            Some("turn:turn.hospital.example:3478"),
        );
        assert!(
            en.starts_with("through the relay turn.hospital.example:3478 over UDP"),
            "{en}"
        );
    }

    #[test]
    fn a_verdict_that_is_not_the_benchs_is_refused() {
        assert!(BenchOutcome::parse("{}").is_err());
        assert!(BenchOutcome::parse(&UDP_GOOD.replace("\"good\"", "\"fine\"")).is_err());
    }
}
