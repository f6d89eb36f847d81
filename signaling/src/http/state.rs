//! What every handler shares, and the work signaling does besides answering
//! requests: following the media plane's reports, and ending the sessions
//! of rooms that expired or were ended from the command line.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota};
use tokio::sync::mpsc;

use crate::audit::{AuditEvent, AuditLog};
use crate::clock::unix_now;
use crate::consultation_log::{ConsultationLog, ConsultationRecord};
use crate::events::RoomEvents;
use crate::ice_servers::TurnSecret;
use crate::media::{EndReason, MediaEvent, MediaPlane, SessionId};
use crate::participants::{Participant, Participants};
use crate::photos::PhotoStore;
use crate::private_files::PathError;
use crate::rooms::{RegistryError, RoomId, RoomRegistry};
use crate::settings::SignalingSettings;
use crate::tokens::TokenAuthority;

/// How long a stopping gateway waits for the media plane's byte counts.
const TRAFFIC_WAIT: Duration = Duration::from_secs(2);

/// The pages' files, compiled into the gateway binary: the specialists'
/// viewer page (`/r/{room}`) and the nurse's page (`/n/{room}`).
///
/// Signaling serves them but does not own them: the gateway passes them in
/// (`include_str!`), so this crate has no path into the gateway's tree.
#[derive(Debug, Clone, Copy)]
pub struct PageAssets {
    pub viewer_html: &'static str,
    pub viewer_js: &'static str,
    pub viewer_css: &'static str,
    /// The consultation panel: participants and chat over the room events.
    pub consultation_js: &'static str,
    pub consultation_css: &'static str,
    /// Talk-back: the page's microphone and the other speakers.
    pub talkback_js: &'static str,
    /// The viewer page's texts in each language (`i18n/viewer.js`).
    pub viewer_strings_js: &'static str,
    /// Picks a page's language and fills in its texts (`i18n/lang.js`);
    /// both pages load it.
    pub lang_js: &'static str,
    /// The nurse's page: what a browser shows for the nurse's link
    /// (open it in samsyn), and its files.
    pub nurse_html: &'static str,
    pub nurse_js: &'static str,
    pub nurse_css: &'static str,
    /// The nurse's page's texts in each language (`i18n/nurse.js`).
    pub nurse_strings_js: &'static str,
}

/// Why signaling could not start.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot open the room registry: {0}")]
    Rooms(#[from] RegistryError),
    #[error("cannot open the audit trail: {0}")]
    Audit(#[from] PathError),
}

/// The state behind every route.
pub struct AppState {
    pub media: Arc<dyn MediaPlane>,
    pub tokens: TokenAuthority,
    pub rooms: RoomRegistry,
    pub participants: Participants,
    /// The room events sockets: participants, chat, requests.
    pub events: RoomEvents,
    /// Consultations in progress, logged when they are over.
    pub consultations: ConsultationLog,
    /// Still photos, in memory while their room is open.
    pub photos: PhotoStore,
    pub audit: AuditLog,
    pub settings: SignalingSettings,
    pub pages: PageAssets,
    /// The secret relay credentials are made with; without one no relay is
    /// announced, whatever `settings.ice_servers` says.
    pub turn_secret: Option<TurnSecret>,
    pub(crate) limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl AppState {
    /// Opens the room registry and the audit trail in the data directory.
    pub fn new(
        media: Arc<dyn MediaPlane>,
        tokens: TokenAuthority,
        settings: SignalingSettings,
        pages: PageAssets,
    ) -> Result<Self, StateError> {
        let rooms = RoomRegistry::open(&settings.data_dir, settings.max_rooms)?;
        let (audit, consultations) = match settings.audit {
            Some(rotation) => (
                AuditLog::open(&settings.data_dir, rotation)?,
                ConsultationLog::open(&settings.data_dir)?,
            ),
            None => (AuditLog::disabled(), ConsultationLog::disabled()),
        };
        let limit = settings.rate_limit;
        let quota = Quota::per_minute(NonZeroU32::new(limit.per_minute).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN));
        Ok(Self {
            media,
            tokens,
            rooms,
            participants: Participants::default(),
            events: RoomEvents::default(),
            consultations,
            photos: PhotoStore::new(
                settings.max_photos_per_room,
                settings.max_photo_memory_bytes,
            ),
            audit,
            settings,
            pages,
            turn_secret: None,
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        })
    }

    /// Announces the relays of `settings.ice_servers` to WHIP/WHEP clients,
    /// with credentials made with `secret` (the one the relays check).
    pub fn with_turn_secret(mut self, secret: TurnSecret) -> Self {
        self.turn_secret = Some(secret);
        self
    }

    /// Follows the media plane's reports until the channel closes: sessions
    /// that connect, and sessions that end without a `DELETE`.
    pub async fn watch_media(self: Arc<Self>, mut events: mpsc::UnboundedReceiver<MediaEvent>) {
        while let Some(event) = events.recv().await {
            match event {
                MediaEvent::Connected { session, path } => {
                    if self.participants.connected(&session)
                        && let Some(participant) = self.participants.get(&session)
                    {
                        self.events.media_connected(&participant);
                        self.consultations.connected(&participant.room, path);
                        self.audit.record(AuditEvent::Connected {
                            room: participant.room.to_string(),
                            session: participant.session.to_string(),
                            role: participant.role.to_string(),
                            token_id: participant.token_id.clone(),
                            path: path.as_str().to_owned(),
                        });
                    }
                }
                MediaEvent::Ended { session, reason } => {
                    self.session_ended(&session, reason);
                }
                MediaEvent::Speaking { session, speaking } => {
                    if let Some(participant) = self.participants.get(&session) {
                        self.events.set_speaking(
                            &participant.room,
                            &participant.token_id,
                            speaking,
                        );
                    }
                }
                MediaEvent::RoomTraffic {
                    room,
                    bytes_from_camera,
                    bytes_to_viewers,
                } => {
                    self.consultations
                        .traffic(&room, bytes_from_camera, bytes_to_viewers);
                }
            }
        }
    }

    /// Every `interval`: ends the sessions and sockets of rooms that are no
    /// longer open (expired, or ended by `samsyn-gateway room end`), writes
    /// the audit trail's due summaries, forgets expired room records and
    /// idle rate-limit entries.
    pub async fn keep_house(self: Arc<Self>, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        loop {
            ticker.tick().await;
            self.close_rooms_no_longer_open().await;
            self.audit.write_summaries(unix_now());
            self.consultations
                .finish(unix_now(), self.settings.consultation_idle);
            if let Err(err) = self.rooms.sweep_expired() {
                tracing::warn!("expired room records could not be removed: {err}");
            }
            self.limiter.retain_recent();
        }
    }

    /// The gateway stops: asks the media plane what the rooms still in use
    /// have carried, then writes every consultation still running. The
    /// media plane gets [`TRAFFIC_WAIT`] to answer; without an answer the
    /// records are written with the bytes reported so far.
    pub async fn finish_consultations(&self) -> Vec<ConsultationRecord> {
        match tokio::time::timeout(TRAFFIC_WAIT, self.media.traffic()).await {
            Ok(Ok(counts)) => {
                for count in counts {
                    self.consultations.traffic(
                        &count.room,
                        count.bytes_from_camera,
                        count.bytes_to_viewers,
                    );
                }
            }
            Ok(Err(err)) => tracing::warn!(
                "the media plane did not say what the running consultations carried \
                 ({err}); they are logged with the bytes reported before"
            ),
            Err(_) => tracing::warn!(
                "the media plane did not say within {} s what the running consultations \
                 carried; they are logged with the bytes reported before",
                TRAFFIC_WAIT.as_secs()
            ),
        }
        self.consultations.finish_all(unix_now())
    }

    async fn close_rooms_no_longer_open(&self) {
        let now = unix_now();
        // Everything that can hold a room open: media sessions, photos, and
        // events sockets (a participant without video still reads the chat).
        let mut rooms = self.participants.rooms();
        rooms.extend(self.photos.rooms());
        rooms.extend(self.events.rooms());
        match self.media.rooms().await {
            Ok(media_rooms) => rooms.extend(media_rooms),
            Err(err) => tracing::warn!("the media plane did not list its rooms: {err}"),
        }
        for room in rooms {
            let open = match self.rooms.get(&room) {
                Ok(record) => record.is_some_and(|r| r.is_open(now)),
                // Unreadable: keep the consultation going; IT sees the warning.
                Err(err) => {
                    tracing::warn!(%room, "room record unreadable: {err}");
                    true
                }
            };
            if !open {
                tracing::info!(%room, "room is no longer open; disconnecting everyone");
                self.close_room(&room).await;
            }
        }
    }

    /// Disconnects everyone in `room` and records that they left.
    pub(crate) async fn close_room(&self, room: &RoomId) {
        if let Err(err) = self.media.end_room(room).await {
            tracing::warn!(%room, "media plane could not end the room: {err}");
        }
        for participant in self.participants.clear_room(room) {
            self.record_left(&participant, "room ended");
        }
        self.events.close_room(room);
        self.consultations.room_ended(room, unix_now());
        self.photos.clear_room(room);
    }

    /// A session is gone: forget it and record that it left, once.
    pub(crate) fn session_ended(&self, session: &SessionId, reason: EndReason) {
        if let Some(participant) = self.participants.leave(session) {
            self.events.media_left(&participant);
            self.consultations
                .session_ended(&participant, reason, unix_now());
            let words = match reason {
                EndReason::Closed => "left",
                other => other.as_str(),
            };
            self.record_left(&participant, words);
        }
    }

    fn record_left(&self, participant: &Participant, reason: &str) {
        tracing::info!(
            room = %participant.room,
            session = %participant.session,
            role = %participant.role,
            reason,
            "participant left"
        );
        self.audit.record(AuditEvent::Left {
            room: participant.room.to_string(),
            session: participant.session.to_string(),
            role: participant.role.to_string(),
            name: participant.name.clone(),
            token_id: participant.token_id.clone(),
            reason: reason.to_owned(),
            seconds: unix_now().saturating_sub(participant.joined_at),
        });
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("tokens", &self.tokens)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
