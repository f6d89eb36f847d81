//! Reads the ICE servers a WHIP/WHEP endpoint announces in `Link` headers
//! (RFC 9725 §4.6): `<turn:host:443?transport=tcp>; rel="ice-server";
//! username="…"; credential="…"; credential-type="password"`.
//!
//! The syntax is RFC 8288's link-value list: a header may hold several
//! links separated by commas, a comma may also sit inside a quoted
//! parameter or the URI, parameter names are case-insensitive and values
//! are tokens or quoted strings. Anything that is not a usable ICE server
//! (another `rel`, another scheme, a malformed link) is skipped; the rest
//! of the header still counts.

/// An ICE server the gateway announced in a `Link` header.
#[derive(Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:`, `turn:` or `turns:` URI (RFC 7064/7065), as announced.
    pub url: String,
    /// TURN user name.
    pub username: Option<String>,
    /// TURN credential (a password).
    pub credential: Option<String>,
}

impl std::fmt::Debug for IceServer {
    // The credential is a password; the user name identifies the client.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("url", &self.url)
            .field("username", &self.username.as_ref().map(|_| "…"))
            .field("credential", &self.credential.as_ref().map(|_| "…"))
            .finish()
    }
}

/// The URI schemes a WHIP client can use as ICE servers.
const SCHEMES: [&str; 3] = ["stun", "turn", "turns"];

/// The `rel="ice-server"` links of one `Link` header value, in order.
pub fn parse_link_header(value: &str) -> Vec<IceServer> {
    links(value)
        .into_iter()
        .filter_map(|link| ice_server(&link))
        .collect()
}

/// One link-value: `<target>` and its parameters (names in lower case).
#[derive(Debug, Default, PartialEq, Eq)]
struct Link {
    target: String,
    params: Vec<(String, String)>,
}

impl Link {
    /// The first occurrence of a parameter: RFC 8288 §3.3 says later
    /// occurrences of `rel` are ignored, and that is the safe reading for
    /// the others too.
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn ice_server(link: &Link) -> Option<IceServer> {
    let is_ice_server = link.param("rel").is_some_and(|rel| {
        rel.split_ascii_whitespace()
            .any(|r| r.eq_ignore_ascii_case("ice-server"))
    });
    if !is_ice_server {
        return None;
    }
    let (scheme, _) = link.target.split_once(':')?;
    if !SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
        tracing::debug!(scheme, "ignoring an ICE server of an unknown scheme");
        return None;
    }
    // RFC 9725 knows only password credentials; any other kind (OAuth)
    // would be given to libnice as a password and fail.
    if let Some(kind) = link.param("credential-type")
        && !kind.eq_ignore_ascii_case("password")
    {
        tracing::debug!(
            kind,
            "ignoring an ICE server with a credential that is not a password"
        );
        return None;
    }
    Some(IceServer {
        url: link.target.clone(),
        username: link.param("username").map(str::to_owned),
        credential: link.param("credential").map(str::to_owned),
    })
}

/// Splits a header value into its link-values. A malformed one is skipped
/// up to the next comma outside quotes and angle brackets.
fn links(value: &str) -> Vec<Link> {
    let mut cursor = Cursor::new(value);
    let mut out = Vec::new();
    loop {
        cursor.skip(|c| c == ',' || is_ows(c));
        if cursor.at_end() {
            return out;
        }
        match cursor.link() {
            Some(link) => out.push(link),
            // A target cut short by the next `<` spoils only itself.
            None if cursor.peek() == Some('<') => {}
            None => cursor.skip_element(),
        }
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 `tchar`: what a parameter name is made of.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self { rest: s }
    }

    fn at_end(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn skip(&mut self, keep_skipping: impl Fn(char) -> bool) {
        let end = self
            .rest
            .find(|c| !keep_skipping(c))
            .unwrap_or(self.rest.len());
        self.rest = &self.rest[end..];
    }

    fn take_while(&mut self, take: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !take(c)).unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at(end);
        self.rest = rest;
        taken
    }

    /// `"<" URI-Reference ">" *( OWS ";" OWS link-param )`, up to the comma
    /// that ends it (not consumed) or the end.
    fn link(&mut self) -> Option<Link> {
        if !self.eat('<') {
            return None;
        }
        // A URI has no spaces, quotes or angle brackets: meeting one means
        // the `>` is missing.
        let target = self.take_while(|c| !matches!(c, '<' | '>' | '"') && !c.is_whitespace());
        if !self.eat('>') {
            return None;
        }
        let mut link = Link {
            target: target.to_owned(),
            params: Vec::new(),
        };
        loop {
            self.skip(is_ows);
            match self.peek() {
                None | Some(',') => return Some(link),
                Some(';') => {
                    self.bump();
                }
                Some(_) => return None,
            }
            self.skip(is_ows);
            // An empty parameter (`;;` or a trailing `;`) is harmless.
            if matches!(self.peek(), None | Some(',' | ';')) {
                continue;
            }
            let name = self.take_while(is_tchar);
            if name.is_empty() {
                return None;
            }
            self.skip(is_ows);
            let value = if self.eat('=') {
                self.skip(is_ows);
                self.param_value()?
            } else {
                String::new()
            };
            link.params.push((name.to_ascii_lowercase(), value));
        }
    }

    /// A quoted string (with `\` escapes) or a bare value. Bare values are
    /// read up to the next `;`, `,` or space rather than strictly as tokens:
    /// a base64 credential sent unquoted holds `/` and `=`.
    fn param_value(&mut self) -> Option<String> {
        if !self.eat('"') {
            return Some(
                self.take_while(|c| !matches!(c, ';' | ',') && !is_ows(c))
                    .to_owned(),
            );
        }
        let mut value = String::new();
        loop {
            match self.bump()? {
                '"' => return Some(value),
                '\\' => value.push(self.bump()?),
                c => value.push(c),
            }
        }
    }

    /// Skips the rest of a malformed link-value: up to the next comma that
    /// is not inside a quoted string or angle brackets.
    fn skip_element(&mut self) {
        let mut quoted = false;
        let mut angled = false;
        while let Some(c) = self.peek() {
            match c {
                '\\' if quoted => {
                    self.bump();
                }
                '"' if !angled => quoted = !quoted,
                '<' if !quoted => angled = true,
                '>' if !quoted => angled = false,
                ',' if !quoted && !angled => return,
                _ => {}
            }
            self.bump();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str, username: Option<&str>, credential: Option<&str>) -> IceServer {
        IceServer {
            url: url.to_owned(),
            username: username.map(str::to_owned),
            credential: credential.map(str::to_owned),
        }
    }

    #[test]
    fn the_gateways_form() {
        let servers = parse_link_header(
            r#"<turn:gw.example:443?transport=tcp>; rel="ice-server"; username="1700000000:abc"; credential="base64pw=="; credential-type="password""#,
        );
        assert_eq!(
            servers,
            [server(
                "turn:gw.example:443?transport=tcp",
                Some("1700000000:abc"),
                Some("base64pw==")
            )]
        );
    }

    #[test]
    fn several_links_in_one_header() {
        let servers = parse_link_header(
            r#"<stun:stun.example.net>; rel="ice-server", <turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password",<turns:gw.example:443?transport=tcp>;rel=ice-server;username=u2;credential=a/b+c="#,
        );
        assert_eq!(
            servers,
            [
                server("stun:stun.example.net", None, None),
                server("turn:turn.example.net?transport=udp", Some("u"), Some("p")),
                server(
                    "turns:gw.example:443?transport=tcp",
                    Some("u2"),
                    Some("a/b+c=")
                ),
            ]
        );
    }

    #[test]
    fn quoted_commas_semicolons_and_escapes_stay_in_the_value() {
        let servers = parse_link_header(
            r#"<turn:relay.example:3478>; rel="ice-server"; username="a,b;c"; credential="q\"uo\\te", <stun:s.example>; rel="ice-server""#,
        );
        assert_eq!(
            servers,
            [
                server("turn:relay.example:3478", Some("a,b;c"), Some(r#"q"uo\te"#)),
                server("stun:s.example", None, None),
            ]
        );
    }

    #[test]
    fn names_are_case_insensitive_and_the_first_occurrence_counts() {
        let servers = parse_link_header(
            r#"<TURN:relay.example>; REL="Ice-Server"; UserName="u"; Credential="p"; username="other"; rel="next""#,
        );
        assert_eq!(
            servers,
            [server("TURN:relay.example", Some("u"), Some("p"))]
        );
    }

    #[test]
    fn rel_may_list_several_relation_types() {
        let servers = parse_link_header(r#"<stun:s.example>; rel="preload ice-server""#);
        assert_eq!(servers.len(), 1);
    }

    #[test]
    fn missing_parameters_are_none() {
        let servers = parse_link_header(r#"<turn:relay.example>; rel="ice-server"; username"#);
        assert_eq!(servers, [server("turn:relay.example", Some(""), None)]);
        let servers = parse_link_header(r#"<turn:relay.example>; rel="ice-server""#);
        assert_eq!(servers, [server("turn:relay.example", None, None)]);
    }

    #[test]
    fn other_rels_and_schemes_are_ignored() {
        assert!(parse_link_header(r#"<https://x>; rel="next""#).is_empty());
        assert!(parse_link_header(r#"<turn:relay.example>; rel="next""#).is_empty());
        assert!(parse_link_header(r#"<turn:relay.example>"#).is_empty());
        assert!(parse_link_header(r#"<https://relay.example>; rel="ice-server""#).is_empty());
        assert!(parse_link_header(r#"<relay.example>; rel="ice-server""#).is_empty());
        assert!(
            parse_link_header(r#"<turn:relay.example>; rel="ice-server"; credential-type="oauth""#)
                .is_empty()
        );
    }

    #[test]
    fn ipv6_hosts() {
        let servers = parse_link_header(
            r#"<turn:[fd00::1]:443?transport=tcp>; rel="ice-server"; username="u"; credential="p""#,
        );
        assert_eq!(servers[0].url, "turn:[fd00::1]:443?transport=tcp");
    }

    #[test]
    fn a_malformed_link_spoils_only_itself() {
        let servers = parse_link_header(
            r#"turn:bare.example; rel="ice-server", <stun:a.example> junk; rel="ice-server", <stun:b.example>; rel="ice-server"; title="x, <y>", <turn:c.example; rel="ice-server""#,
        );
        assert_eq!(servers, [server("stun:b.example", None, None)]);
        let servers = parse_link_header(
            r#"<turn:c.example; rel="ice-server", <stun:d.example>; rel="ice-server""#,
        );
        assert_eq!(servers, [server("stun:d.example", None, None)]);
        assert!(parse_link_header("").is_empty());
        assert!(parse_link_header(" , ,").is_empty());
        assert!(parse_link_header(r#"<stun:a.example>; rel="ice-server"; title="open"#).is_empty());
    }

    #[test]
    fn debug_output_hides_credentials() {
        let text = format!(
            "{:?}",
            server("turn:r.example", Some("1700000000:abc"), Some("s3cret"))
        );
        assert!(!text.contains("s3cret") && !text.contains("abc"), "{text}");
        assert!(text.contains("turn:r.example"), "{text}");
    }
}
