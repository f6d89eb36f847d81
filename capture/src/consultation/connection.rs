//! The daemon's room events socket: `wss://<gateway>/events/{room}`,
//! verified as the WHIP client verifies the gateway, joined with the
//! publisher token in the first message.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use samsyn_signaling::events::{
    ClientMessage, DecodeError, Envelope, ServerMessage, decode_server, encode_client,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use crate::gateway_tls::{GatewayTrust, TrustError};

/// The events socket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("the gateway URL {0} has no host or port")]
    BadUrl(Url),
    #[error("cannot reach the gateway's room events at {url}: {why}")]
    Connect { url: Url, why: String },
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error("the room events connection failed: {0}")]
    Socket(String),
    #[error("the gateway sent a message this daemon does not understand: {0}")]
    Decode(String),
    /// The gateway refused the socket (`hello`): the token or the room.
    #[error("the gateway refused the room events ({code}): {message}")]
    Refused { code: String, message: String },
}

impl From<DecodeError> for EventsError {
    fn from(err: DecodeError) -> Self {
        EventsError::Decode(err.message())
    }
}

/// The host to connect to and to name in TLS: a name, or an IP address
/// without the brackets an IPv6 address has in URLs (`[fd00::1]`), which
/// neither address lookup nor TLS server names take.
fn connect_host(url: &Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(name) => Some(name.to_owned()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// The `wss://` (or, on loopback, `ws://`) address of a room's events.
pub fn events_url(gateway: &Url, room: &str) -> Result<Url, EventsError> {
    let bad = || EventsError::BadUrl(gateway.clone());
    let mut url = super::gateway_path(gateway, &["events", room]).ok_or_else(bad)?;
    let scheme = if gateway.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    url.set_scheme(scheme).map_err(|()| bad())?;
    Ok(url)
}

/// The byte stream under the socket: TCP, or TLS over TCP.
trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// A joined events socket to the gateway.
pub struct GatewayEvents {
    ws: WebSocketStream<Box<dyn Transport>>,
}

impl GatewayEvents {
    /// Connects (TLS for `wss`, verified as `trust` says), says hello with
    /// `token`, and returns the socket with the gateway's `welcome`.
    pub async fn join(
        url: &Url,
        token: &str,
        trust: &GatewayTrust,
    ) -> Result<(Self, ServerMessage), EventsError> {
        let host = connect_host(url).ok_or_else(|| EventsError::BadUrl(url.clone()))?;
        let host = host.as_str();
        let port = url
            .port_or_known_default()
            .ok_or_else(|| EventsError::BadUrl(url.clone()))?;
        let connect_error = |why: String| EventsError::Connect {
            url: url.clone(),
            why,
        };
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        tcp.set_nodelay(true).ok();
        let transport: Box<dyn Transport> = if url.scheme() == "wss" {
            let config = Arc::new(trust.rustls_config()?);
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| connect_error(e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| connect_error(e.to_string()))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), transport)
            .await
            .map_err(|e| connect_error(e.to_string()))?;
        let mut socket = Self { ws };
        let welcome = socket.hello(token).await?;
        Ok((socket, welcome))
    }

    /// Sends `hello` and waits for `welcome` (or the refusal).
    async fn hello(&mut self, token: &str) -> Result<ServerMessage, EventsError> {
        self.send(ClientMessage::Hello {
            token: token.to_owned(),
        })
        .await?;
        match self.next().await {
            Some(Ok(Envelope {
                body: welcome @ ServerMessage::Welcome { .. },
                ..
            })) => Ok(welcome),
            Some(Ok(Envelope {
                body: ServerMessage::Error { error, message },
                ..
            })) => Err(EventsError::Refused {
                code: error,
                message,
            }),
            Some(Ok(other)) => Err(EventsError::Decode(format!(
                "expected welcome, got {:?}",
                other.body
            ))),
            Some(Err(err)) => Err(err),
            None => Err(EventsError::Socket(
                "the gateway closed the socket before welcome".to_owned(),
            )),
        }
    }

    /// The next message from the gateway; `None` when the socket closed.
    pub async fn next(&mut self) -> Option<Result<Envelope<ServerMessage>, EventsError>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(decode_server(&text).map_err(EventsError::from));
                }
                Ok(Message::Close(_)) => return None,
                // Pings are answered by tungstenite itself.
                Ok(_) => {}
                Err(err) => return Some(Err(EventsError::Socket(err.to_string()))),
            }
        }
    }

    /// Sends a message to the room.
    pub async fn send(&mut self, message: ClientMessage) -> Result<(), EventsError> {
        self.ws
            .send(Message::text(encode_client(message)))
            .await
            .map_err(|e| EventsError::Socket(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_gateway_is_connected_to_without_brackets() {
        let url = events_url(&Url::parse("https://[fd00:213::1]:8443/").unwrap(), "r1").unwrap();
        assert_eq!(url.as_str(), "wss://[fd00:213::1]:8443/events/r1");
        let host = connect_host(&url).unwrap();
        assert_eq!(host, "fd00:213::1");
        assert!(rustls::pki_types::ServerName::try_from(host).is_ok());
        for (gateway, host) in [
            ("https://gw.example/", "gw.example"),
            ("https://10.213.0.1:8443/", "10.213.0.1"),
        ] {
            let url = events_url(&Url::parse(gateway).unwrap(), "r1").unwrap();
            assert_eq!(connect_host(&url).as_deref(), Some(host));
        }
    }
}
