//! The nurse's commands on standard input: lines starting with `/` (every
//! other line is chat).
//!
//! ```text
//! /volume 150   play the specialists at 150 % (0 to 400)
//! /louder       25 points louder
//! /softer       25 points softer
//! /help         these commands
//! ```

use samsyn_config::MAX_TALKBACK_VOLUME_PERCENT;

use super::playout::Playout;

/// How much `/louder` and `/softer` change the volume, in points.
pub const VOLUME_STEP: u32 = 25;

/// A command the nurse typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `/volume <percent>`.
    Volume(u32),
    /// `/louder`.
    Louder,
    /// `/softer`.
    Softer,
    /// `/help`.
    Help,
}

/// A typed command that cannot be used; the message says what to type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `/volume` without a value.
    #[error("/volume needs a percentage: /volume 150 (0 to {MAX_TALKBACK_VOLUME_PERCENT})")]
    MissingVolume,
    /// A value that is no percentage in range.
    #[error(
        "{0} is not a volume; type a percentage from 0 to {MAX_TALKBACK_VOLUME_PERCENT}, e.g. \
         /volume 150"
    )]
    BadVolume(String),
    /// A known command with words after it that it does not take.
    #[error("/{0}: too many words; type /help for the commands")]
    TooManyWords(String),
    /// A line starting with `/` that names no command.
    #[error("/{0} is not a command; type /help for the commands")]
    Unknown(String),
}

/// The help text, one line per command.
pub const HELP: &[&str] = &[
    "commands: /volume <0-400>  the specialists' volume in percent (100: as received)",
    "          /louder, /softer  25 points up or down",
    "          /help             this list; any other line is sent as chat",
];

impl Command {
    /// Reads a typed line: `None` when it is not a command (chat), an
    /// error saying what to type when it is a command that cannot be used.
    pub fn parse(line: &str) -> Option<Result<Command, CommandError>> {
        let rest = line.trim().strip_prefix('/')?;
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap_or_default().to_ascii_lowercase();
        let argument = words.next();
        let extra = words.next().is_some();
        Some(match (name.as_str(), argument, extra) {
            ("volume", Some(value), false) => parse_percent(value).map(Command::Volume),
            ("volume", None, _) => Err(CommandError::MissingVolume),
            ("louder", None, _) => Ok(Command::Louder),
            ("softer", None, _) => Ok(Command::Softer),
            ("help", _, _) => Ok(Command::Help),
            ("volume" | "louder" | "softer", _, _) => Err(CommandError::TooManyWords(name)),
            _ => Err(CommandError::Unknown(name)),
        })
    }

    /// The volume after this command, from `current`; `None` for commands
    /// that do not change it.
    pub fn volume_after(self, current: u32) -> Option<u32> {
        match self {
            Command::Volume(percent) => Some(percent),
            Command::Louder => Some((current + VOLUME_STEP).min(MAX_TALKBACK_VOLUME_PERCENT)),
            Command::Softer => Some(current.saturating_sub(VOLUME_STEP)),
            Command::Help => None,
        }
    }
}

/// Carries out a command on the playout (`None`: talk-back is off);
/// returns what to tell the nurse.
pub fn run(command: Command, playout: Option<&Playout>) -> Vec<String> {
    if command == Command::Help {
        return HELP.iter().map(|line| (*line).to_owned()).collect();
    }
    let Some(playout) = playout else {
        return vec![
            "talk-back is off (--no-talkback, or it could not start): there is no volume to \
             change"
                .to_owned(),
        ];
    };
    let Some(volume) = command.volume_after(playout.volume_percent()) else {
        return Vec::new();
    };
    playout.set_volume_percent(volume);
    tracing::info!(volume_percent = volume, "talk-back volume changed");
    let note = match volume {
        0 => " (the specialists are muted; /volume 100 brings them back)",
        MAX_TALKBACK_VOLUME_PERCENT => " (the loudest)",
        _ => "",
    };
    vec![format!("talk-back volume {volume} %{note}")]
}

fn parse_percent(text: &str) -> Result<u32, CommandError> {
    let digits = text.trim_end_matches('%');
    match digits.parse::<u32>() {
        Ok(percent) if percent <= MAX_TALKBACK_VOLUME_PERCENT => Ok(percent),
        _ => Err(CommandError::BadVolume(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_and_chat_is_left_alone() {
        assert_eq!(
            Command::parse("/volume 150"),
            Some(Ok(Command::Volume(150)))
        );
        assert_eq!(
            Command::parse("  /Volume 0% "),
            Some(Ok(Command::Volume(0)))
        );
        assert_eq!(Command::parse("/louder"), Some(Ok(Command::Louder)));
        assert_eq!(Command::parse("/softer"), Some(Ok(Command::Softer)));
        assert_eq!(Command::parse("/help"), Some(Ok(Command::Help)));
        assert_eq!(Command::parse("turn the foot, please"), None);
        assert_eq!(Command::parse("50/50"), None);
    }

    #[test]
    fn unusable_commands_say_what_to_type() {
        let error = |line: &str| Command::parse(line).unwrap().unwrap_err().to_string();
        assert!(
            error("/volume 401").contains("0 to 400"),
            "{}",
            error("/volume 401")
        );
        assert!(error("/volume loud").contains("/volume 150"));
        assert!(error("/volume -5").contains("percentage"));
        assert!(error("/volume").contains("/volume 150"));
        assert!(error("/volume 100 200").contains("/help"));
        assert!(error("/louder please").contains("/help"));
        assert!(error("/mute").contains("/mute is not a command"));
        assert_eq!(
            error("/volume loud"),
            "loud is not a volume; type a percentage from 0 to 400, e.g. /volume 150"
        );
        assert_eq!(
            Command::parse("/Mute now"),
            Some(Err(CommandError::Unknown("mute".into())))
        );
    }

    #[test]
    fn louder_and_softer_stop_at_the_ends() {
        assert_eq!(Command::Louder.volume_after(100), Some(125));
        assert_eq!(Command::Louder.volume_after(390), Some(400));
        assert_eq!(Command::Softer.volume_after(100), Some(75));
        assert_eq!(Command::Softer.volume_after(10), Some(0));
        assert_eq!(Command::Volume(30).volume_after(100), Some(30));
        assert_eq!(Command::Help.volume_after(100), None);
    }
}
