//! The rules for text that one person types and others read: room labels,
//! display names and chat messages.
//!
//! Each is one line of plain text. Control characters (line breaks, tabs,
//! `ESC`, `NUL`, …) would let a sender rewrite what a terminal or a log
//! shows; the Unicode bidirectional embeddings, overrides and isolates
//! (U+202A–U+202E, U+2066–U+2069) make text display in another order than
//! it is stored, so a label can read as a different consultation than the
//! one it names. Labels and names are what people check before they join,
//! so they refuse invisible characters as well (zero-width spaces and
//! joiners, directional marks, the byte-order mark), and are kept in NFC so
//! that two spellings of the same text are stored alike. Chat keeps the
//! joiners and marks that emoji and right-to-left scripts need.
//!
//! [`for_terminal`] is the other side: what a program prints of such text
//! anyway (from an older gateway, or a field these rules do not cover).

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_normalization::UnicodeNormalization;

/// Which text a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// A room's label: may be empty.
    Label,
    /// A participant's display name.
    Name,
    /// One chat message.
    Chat,
}

/// Longest room label, in characters.
pub const MAX_LABEL_CHARS: usize = 60;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// Longest chat message, in characters: chat is for when speech fails.
pub const MAX_CHAT_CHARS: usize = 500;

impl Field {
    fn max_chars(self) -> usize {
        match self {
            Field::Label => MAX_LABEL_CHARS,
            Field::Name => MAX_NAME_CHARS,
            Field::Chat => MAX_CHAT_CHARS,
        }
    }

    fn may_be_empty(self) -> bool {
        self == Field::Label
    }

    /// Whether invisible characters are refused (they are where people
    /// check what they join, and only there).
    fn refuses_invisible(self) -> bool {
        matches!(self, Field::Label | Field::Name)
    }
}

/// Why a text was refused; the message reads after the field's name
/// ("the label holds …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {max} characters")]
    TooLong { max: usize },
    #[error("holds a control character or line break ({0}); it must be one line of plain text")]
    ControlCharacter(Escaped),
    #[error(
        "holds a character that changes the direction text is shown in ({0}), \
         so it would read differently from what it says"
    )]
    DirectionOverride(Escaped),
    #[error("holds an invisible character ({0}); type it again without copying it")]
    Invisible(Escaped),
}

/// A refused character, written as `U+XXXX` so the message itself is safe
/// to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escaped(pub char);

impl std::fmt::Display for Escaped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "U+{:04X}", u32::from(self.0))
    }
}

/// Checks `text` for `field` and returns it in NFC, as it is to be kept.
pub fn check(field: Field, text: &str) -> Result<String, TextError> {
    for c in text.chars() {
        if is_line_break_or_control(c) {
            return Err(TextError::ControlCharacter(Escaped(c)));
        }
        if is_direction_override(c) {
            return Err(TextError::DirectionOverride(Escaped(c)));
        }
        if field.refuses_invisible() && is_invisible(c) {
            return Err(TextError::Invisible(Escaped(c)));
        }
    }
    let normalized: String = text.nfc().collect();
    if !field.may_be_empty() && normalized.trim().is_empty() {
        return Err(TextError::Empty);
    }
    if normalized.chars().count() > field.max_chars() {
        return Err(TextError::TooLong {
            max: field.max_chars(),
        });
    }
    Ok(normalized)
}

/// C0 and C1 controls, `DEL`, and the Unicode line and paragraph separators.
fn is_line_break_or_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Bidirectional embeddings, overrides and isolates.
fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: zero-width space, joiners, word joiner and
/// invisible operators, directional marks, the byte-order mark, the
/// Mongolian vowel separator, the soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
    )
}

/// `text` as a terminal may print it: every control character, line break,
/// direction override and invisible character written out as `\u{…}`, so
/// nothing a sender typed can move the cursor, clear the screen, reorder
/// the line or hide in it.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| is_line_break_or_control(c) || is_direction_override(c) || is_invisible(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_of_plain_text_passes_in_nfc() {
        assert_eq!(
            check(Field::Label, "Home visit, district north").as_deref(),
            Ok("Home visit, district north")
        );
        // "Å" as A + combining ring is kept as the one precomposed character.
        assert_eq!(
            check(Field::Name, "A\u{030A}sa Berg").as_deref(),
            Ok("\u{00C5}sa Berg")
        );
        assert_eq!(check(Field::Label, "").as_deref(), Ok(""));
        assert_eq!(check(Field::Name, " "), Err(TextError::Empty));
        assert_eq!(check(Field::Chat, ""), Err(TextError::Empty));
        // Emoji sequences and right-to-left marks are fine in chat.
        assert!(check(Field::Chat, "👩\u{200D}⚕️ ok \u{200F}").is_ok());
    }

    #[test]
    fn controls_overrides_and_invisible_characters_are_refused() {
        for field in [Field::Label, Field::Name, Field::Chat] {
            for bad in [
                "a\nb",
                "a\rb",
                "\u{1b}[2J",
                "a\0b",
                "a\u{9b}b",
                "a\u{2028}b",
            ] {
                assert!(
                    matches!(check(field, bad), Err(TextError::ControlCharacter(_))),
                    "{field:?} {bad:?}"
                );
            }
            for bad in ["Ward \u{202E}4 tisiv", "a\u{2066}b\u{2069}"] {
                assert!(
                    matches!(check(field, bad), Err(TextError::DirectionOverride(_))),
                    "{field:?} {bad:?}"
                );
            }
        }
        for field in [Field::Label, Field::Name] {
            for bad in ["Dr.\u{200B}Berg", "a\u{FEFF}", "a\u{200D}b", "\u{200F}x"] {
                assert!(
                    matches!(check(field, bad), Err(TextError::Invisible(_))),
                    "{field:?} {bad:?}"
                );
            }
        }
        let message = check(Field::Label, "x\u{202E}y").unwrap_err().to_string();
        assert!(message.contains("U+202E"), "{message}");
    }

    #[test]
    fn lengths_are_counted_in_characters_after_normalisation() {
        assert!(check(Field::Chat, &"å".repeat(MAX_CHAT_CHARS)).is_ok());
        assert_eq!(
            check(Field::Chat, &"å".repeat(MAX_CHAT_CHARS + 1)),
            Err(TextError::TooLong {
                max: MAX_CHAT_CHARS
            })
        );
        assert!(check(Field::Label, &"a\u{030A}".repeat(MAX_LABEL_CHARS)).is_ok());
    }

    #[test]
    fn a_terminal_gets_escapes_instead_of_control_sequences() {
        assert_eq!(for_terminal("plain, å"), "plain, å");
        assert_eq!(
            for_terminal("\u{1b}[2Jhi\r\nx\0\u{202E}"),
            "\\u{1b}[2Jhi\\u{d}\\u{a}x\\u{0}\\u{202e}"
        );
    }
}
