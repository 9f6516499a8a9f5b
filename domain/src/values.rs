//! Value types that validate on construction. Once a `QuestionText` exists it is
//! known to be trimmed, non-empty, within its length and free of control
//! characters, so no later layer checks again.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a piece of user input was refused. The messages are shown to users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Nothing left after trimming white space.
    #[error("must not be empty")]
    Empty,
    /// Longer than allowed, counted in characters.
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    /// Shorter or longer than a fixed-size value allows.
    #[error("must be {min} to {max} characters")]
    WrongLength { min: usize, max: usize },
    /// Contains a control character (a newline is allowed only in question text).
    #[error("must not contain control characters")]
    ControlCharacter,
    /// Contains a character outside the allowed alphabet.
    #[error("contains a character that is not allowed: {0:?}")]
    InvalidCharacter(char),
}

/// Bidirectional embedding, override and isolate controls (LRE, RLE, PDF,
/// LRO, RLO, LRI, RLI, FSI, PDI). One of them inside a question could reverse
/// the text around it on every screen that shows it, so they are removed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing to a reader: white space, zero-width and
/// joining characters, direction marks, invisible operators, fillers that
/// render as blanks, variation selectors and tags. A text made only of these
/// is blank, however many there are. (Joiners stay inside a text: emoji
/// sequences need them.)
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

/// Trims `raw`, normalises line endings when newlines are allowed, removes
/// bidirectional controls, and checks that something visible is left, the
/// length and the characters.
fn clean(raw: &str, max: usize, newlines: bool) -> Result<String, ValidationError> {
    let text = if newlines {
        raw.replace("\r\n", "\n")
    } else {
        raw.to_owned()
    };
    let text: String = text.chars().filter(|c| !is_bidi_control(*c)).collect();
    let text = text.trim();
    if text.chars().all(is_invisible) {
        return Err(ValidationError::Empty);
    }
    if text.chars().count() > max {
        return Err(ValidationError::TooLong { max });
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(newlines && c == '\n'))
    {
        return Err(ValidationError::ControlCharacter);
    }
    Ok(text.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, max = $max:expr, newlines = $newlines:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The most characters allowed.
            pub const MAX_CHARS: usize = $max;

            /// Validates user input.
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                clean(raw, Self::MAX_CHARS, $newlines).map(Self)
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A meetup's title: 1 to 120 characters on one line.
    MeetupTitle, max = 120, newlines = false
);
text_type!(
    /// A question's text: 1 to 1000 characters; newlines allowed.
    QuestionText, max = 1000, newlines = true
);
text_type!(
    /// The name a participant chose to show with a question: up to 40 characters.
    AuthorName, max = 40, newlines = false
);
text_type!(
    /// Why the organizer removed a question: up to 500 characters.
    RemovalReason, max = 500, newlines = true
);

impl AuthorName {
    /// An absent name, or one left empty (only white space), means
    /// "anonymous"; a name made of invisible characters is refused.
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, ValidationError> {
        match raw {
            None => Ok(None),
            Some(raw) if raw.trim().is_empty() => Ok(None),
            Some(raw) => Self::parse(raw).map(Some),
        }
    }
}

/// A meetup's short join code, typed by attendees: 6 to 8 characters from an
/// alphabet without look-alikes (no 0/O, 1/I/L).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JoinCode(String);

impl JoinCode {
    /// The characters a code is made of.
    pub const ALPHABET: &'static [u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    /// Length of generated codes.
    pub const GENERATED_LEN: usize = 6;
    const MIN: usize = 6;
    const MAX: usize = 8;

    /// Validates a code as typed; lower case is accepted and upper-cased.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let code = raw.trim().to_ascii_uppercase();
        let len = code.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return Err(ValidationError::WrongLength {
                min: Self::MIN,
                max: Self::MAX,
            });
        }
        if let Some(bad) = code
            .chars()
            .find(|c| !c.is_ascii() || !Self::ALPHABET.contains(&(*c as u8)))
        {
            return Err(ValidationError::InvalidCharacter(bad));
        }
        Ok(Self(code))
    }

    /// Builds a code from indices into [`Self::ALPHABET`] (the caller supplies the
    /// randomness; indices wrap around).
    pub fn from_indices(indices: &[usize]) -> Result<Self, ValidationError> {
        let code: String = indices
            .iter()
            .map(|i| Self::ALPHABET[i % Self::ALPHABET.len()] as char)
            .collect();
        Self::parse(&code)
    }

    /// The code, upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JoinCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The hash of a meetup's organizer key. The key itself is shown once and never
/// stored; this is what later requests are checked against.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrganizerKeyHash(String);

impl OrganizerKeyHash {
    /// Wraps a hash computed by the caller (hex of SHA-256).
    pub fn new(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    /// The hash as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OrganizerKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OrganizerKeyHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_made_only_of_invisible_characters_is_blank() {
        for raw in [
            "\u{202e}\u{200b}\u{200b}",
            "\u{200b}",
            " \u{200d}\u{2060}\u{feff} ",
            "\u{3164}\u{115f}",
            "\u{2800}\u{200e}\u{200f}",
            "\u{2066}\u{2069}",
        ] {
            assert_eq!(
                QuestionText::parse(raw),
                Err(ValidationError::Empty),
                "{raw:?}"
            );
            assert_eq!(
                MeetupTitle::parse(raw),
                Err(ValidationError::Empty),
                "{raw:?}"
            );
            assert_eq!(
                AuthorName::parse_optional(Some(raw)),
                Err(ValidationError::Empty),
                "{raw:?}"
            );
            assert_eq!(
                RemovalReason::parse(raw),
                Err(ValidationError::Empty),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_bidi_override_cannot_reverse_the_text_around_it() {
        let text = QuestionText::parse("Is \u{202e}gnp.exe\u{202c} safe? \u{2067}x\u{2069}")
            .expect("valid");
        assert_eq!(text.as_str(), "Is gnp.exe safe? x");
        assert!(!text.as_str().chars().any(is_bidi_control));
    }

    #[test]
    fn visible_text_keeps_its_joiners_and_marks() {
        // A family emoji is joined by zero-width joiners; an RTL mark may
        // sit beside Arabic text.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(QuestionText::parse(family).expect("valid").as_str(), family);
        let marked = "\u{645}\u{631}\u{62d}\u{628}\u{627}\u{200f}";
        assert_eq!(AuthorName::parse(marked).expect("valid").as_str(), marked);
    }

    #[test]
    fn question_text_is_trimmed_and_keeps_inner_newlines() {
        let text = QuestionText::parse("  Why Rust?\r\nAnd why now?  \n").expect("valid");
        assert_eq!(text.as_str(), "Why Rust?\nAnd why now?");
    }

    #[test]
    fn blank_question_text_is_refused() {
        assert_eq!(QuestionText::parse(" \n\t "), Err(ValidationError::Empty));
    }

    #[test]
    fn question_text_of_1000_characters_is_accepted_and_1001_refused() {
        assert!(QuestionText::parse(&"é".repeat(1000)).is_ok());
        assert_eq!(
            QuestionText::parse(&"é".repeat(1001)),
            Err(ValidationError::TooLong { max: 1000 })
        );
    }

    #[test]
    fn control_characters_other_than_newline_are_refused() {
        assert_eq!(
            QuestionText::parse("bell\u{7}"),
            Err(ValidationError::ControlCharacter)
        );
        assert_eq!(
            QuestionText::parse("tab\there"),
            Err(ValidationError::ControlCharacter)
        );
        assert_eq!(
            MeetupTitle::parse("two\nlines"),
            Err(ValidationError::ControlCharacter)
        );
    }

    #[test]
    fn titles_longer_than_120_characters_are_refused() {
        assert!(MeetupTitle::parse(&"t".repeat(120)).is_ok());
        assert_eq!(
            MeetupTitle::parse(&"t".repeat(121)),
            Err(ValidationError::TooLong { max: 120 })
        );
    }

    #[test]
    fn a_blank_author_name_means_anonymous() {
        assert_eq!(AuthorName::parse_optional(Some("   ")), Ok(None));
        assert_eq!(AuthorName::parse_optional(None), Ok(None));
        assert_eq!(
            AuthorName::parse_optional(Some(&"n".repeat(41))),
            Err(ValidationError::TooLong { max: 40 })
        );
    }

    #[test]
    fn join_codes_are_upper_cased_and_avoid_look_alikes() {
        assert_eq!(JoinCode::parse("abc234").expect("valid").as_str(), "ABC234");
        assert_eq!(
            JoinCode::parse("ABC0DE"),
            Err(ValidationError::InvalidCharacter('0'))
        );
        assert_eq!(
            JoinCode::parse("ABCDE"),
            Err(ValidationError::WrongLength { min: 6, max: 8 })
        );
        let generated = JoinCode::from_indices(&[0, 5, 30, 31, 100, 7]).expect("valid");
        assert_eq!(generated.as_str().len(), 6);
    }
}
