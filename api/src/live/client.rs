//! What a client may say on the live stream. The stream runs server → client;
//! a client sends pings, pongs and close frames, and small text frames that
//! are JSON objects with a `type`. The one defined is `auth` (the organizer's
//! key, see [`super::session`]); each new client message becomes a variant of
//! [`ClientMessage`], parsed in [`interpret`].
//!
//! Anything else ends the connection with a close code of RFC 6455 (§7.4.1):
//! 1003 (unsupported data) for a binary frame or text that is not a known
//! message, 1007 for text that is not UTF-8, 1009 for a message over
//! [`MAX_MESSAGE_BYTES`], 1008 (policy violation) for more than
//! [`MAX_MESSAGES_PER_SECOND`] messages of any kind in a second, 1002 for a
//! frame that breaks the protocol.

use serde_json::Value;

/// Largest message (and frame) a client may send.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;

/// Most messages (pings and pongs included) a client may send per second.
/// A well-behaved client sends one pong per heartbeat.
pub const MAX_MESSAGES_PER_SECOND: u32 = 20;

/// A message the server understands. A message this server does not know is
/// refused (1003) rather than ignored, so that a client learns at once that
/// the server cannot do what it asked.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// `{"type":"auth","organizer_key":"…"}`: the organizer asks for the
    /// organizer's view (pending and rejected questions too). A missing key
    /// is an empty one, which is refused as a wrong key.
    Auth { organizer_key: String },
}

/// Why a text frame was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("messages are JSON objects with a type")]
    NotAMessage,
    #[error("unknown message type")]
    UnknownType,
}

/// Reads one text frame of a client.
pub fn interpret(text: &str) -> Result<ClientMessage, Refusal> {
    let value: Value = serde_json::from_str(text).map_err(|_| Refusal::NotAMessage)?;
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(Refusal::NotAMessage);
    };
    match kind {
        "auth" => Ok(ClientMessage::Auth {
            organizer_key: value
                .get("organizer_key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }),
        _ => Err(Refusal::UnknownType),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_a_json_object_with_a_type_is_not_a_message() {
        for garbage in ["hello", "{", "[1,2]", "{\"kind\":\"auth\"}", "{\"type\":5}"] {
            assert_eq!(
                interpret(garbage).err(),
                Some(Refusal::NotAMessage),
                "{garbage}"
            );
        }
    }

    #[test]
    fn an_auth_message_carries_its_key() {
        assert_eq!(
            interpret(r#"{"type":"auth","organizer_key":"k"}"#),
            Ok(ClientMessage::Auth {
                organizer_key: "k".to_owned()
            })
        );
        assert_eq!(
            interpret(r#"{"type":"auth"}"#),
            Ok(ClientMessage::Auth {
                organizer_key: String::new()
            })
        );
    }

    #[test]
    fn a_message_of_a_type_this_server_does_not_know_is_refused() {
        assert_eq!(
            interpret("{\"type\":\"subscribe\"}").err(),
            Some(Refusal::UnknownType)
        );
    }
}
