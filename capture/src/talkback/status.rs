//! Talk-back in the daemon's status (`GET /status` → `talkback`, and the
//! terminal's status line).

use serde::{Deserialize, Serialize};

use super::playout::PlayoutLevels;

/// Where the talk-back session stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TalkbackState {
    /// Talk-back is turned off (`--no-talkback`) or could not start.
    #[default]
    Off,
    /// Waiting for the video to connect, or opening the session.
    Connecting,
    /// The session is up: the specialists' voices play as they speak.
    Connected,
    /// The last try failed; another follows.
    Failed,
}

/// Talk-back as `GET /status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TalkbackStatus {
    /// Where the session stands.
    pub state: TalkbackState,
    /// The nurse's volume, percent of the received level.
    pub volume_percent: u32,
    /// RMS of the mixed output (after the volume) over the last second, dBFS.
    pub mix_level_db: f64,
    /// Each slot (m-line) before the volume.
    pub slots: Vec<SlotStatus>,
}

/// One slot: one specialist's voice while they are in the room.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotStatus {
    /// The slot (the m-line index of the talk-back session).
    pub slot: usize,
    /// RMS over the last second, dBFS.
    pub level_db: f64,
    /// Whether someone is heard on it.
    pub active: bool,
}

impl TalkbackStatus {
    /// The status from the session's state, the volume and the levels.
    pub fn new(state: TalkbackState, volume_percent: u32, levels: &PlayoutLevels) -> Self {
        let tenth = |db: f64| (db * 10.0).round() / 10.0;
        Self {
            state,
            volume_percent,
            mix_level_db: tenth(levels.mix_db),
            slots: levels
                .slots_db
                .iter()
                .enumerate()
                .map(|(slot, db)| SlotStatus {
                    slot,
                    level_db: tenth(*db),
                    active: levels.active(slot),
                })
                .collect(),
        }
    }

    /// The talk-back part of the terminal's status line, `None` when off:
    /// `talk-back: hearing 2, volume 150 %`.
    pub fn summary(&self) -> Option<String> {
        let what = match self.state {
            TalkbackState::Off => return None,
            TalkbackState::Connecting => "connecting".to_owned(),
            TalkbackState::Failed => "not connected".to_owned(),
            TalkbackState::Connected => match self.slots.iter().filter(|s| s.active).count() {
                0 => "quiet".to_owned(),
                n => format!("hearing {n}"),
            },
        };
        Some(format!(
            "talk-back: {what}, volume {} %",
            self.volume_percent
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(slots_db: &[f64]) -> PlayoutLevels {
        PlayoutLevels {
            mix_db: -18.04,
            slots_db: slots_db.to_vec(),
        }
    }

    #[test]
    fn the_summary_counts_who_is_heard() {
        let status = TalkbackStatus::new(
            TalkbackState::Connected,
            150,
            &levels(&[-20.0, -100.0, -30.0, -100.0]),
        );
        assert_eq!(
            status.summary().unwrap(),
            "talk-back: hearing 2, volume 150 %"
        );
        assert_eq!(status.mix_level_db, -18.0);
        assert!(status.slots[0].active && !status.slots[1].active);
        let quiet = TalkbackStatus::new(TalkbackState::Connected, 100, &levels(&[-100.0; 4]));
        assert_eq!(quiet.summary().unwrap(), "talk-back: quiet, volume 100 %");
        let off = TalkbackStatus::default();
        assert_eq!(off.summary(), None);
    }

    #[test]
    fn the_json_has_the_documented_shape() {
        let status = TalkbackStatus::new(TalkbackState::Connected, 100, &levels(&[-20.0]));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "connected");
        assert_eq!(json["volume_percent"], 100);
        assert_eq!(json["mix_level_db"], -18.0);
        assert_eq!(json["slots"][0]["slot"], 0);
        assert_eq!(json["slots"][0]["level_db"], -20.0);
        assert_eq!(json["slots"][0]["active"], true);
    }
}
