//! Participants in an audit: a pseudonym per meetup instead of their id.
//!
//! The pseudonym is HMAC-SHA256 of the participant id, keyed by the
//! meetup's organizer-key hash (kept only in the stores, never shown), cut
//! to 10 hex characters: the same participant has the same pseudonym
//! throughout one meetup's history and exports, different ones in different
//! meetups, and nobody without the stores can tell who is behind one.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Turns participant ids into a meetup's pseudonyms.
#[derive(Clone)]
pub struct Pseudonyms {
    key: Vec<u8>,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

impl Pseudonyms {
    /// The pseudonyms of the meetup whose organizer key hashes to
    /// `organizer_key_hash`.
    pub fn for_meetup(organizer_key_hash: &str) -> Self {
        Self {
            key: organizer_key_hash.as_bytes().to_vec(),
        }
    }

    /// The pseudonym of `participant` (an id as the events hold it).
    pub fn of(&self, participant: &str) -> String {
        // HMAC takes a key of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::from("unknown");
        };
        mac.update(participant.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(&digest[..5])
    }

    /// An event's `actor` metadata with the participant id replaced by its
    /// pseudonym: `participant:<pseudonym>`, `organizer`, `system`.
    pub fn actor(&self, actor: &str) -> String {
        match actor.strip_prefix("participant:") {
            Some(id) => format!("participant:{}", self.of(id)),
            None => actor.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_within_a_meetup_and_different_across_meetups() {
        let a = Pseudonyms::for_meetup("hash-a");
        let b = Pseudonyms::for_meetup("hash-b");
        let p = "0190c0de-0000-7000-8000-000000000001";
        assert_eq!(a.of(p), a.of(p));
        assert_eq!(a.of(p).len(), 10);
        assert_ne!(a.of(p), b.of(p));
        assert_ne!(a.of(p), a.of("0190c0de-0000-7000-8000-000000000002"));
        assert!(!a.of(p).contains("0190c0de"));
        assert_eq!(
            a.actor(&format!("participant:{p}")),
            format!("participant:{}", a.of(p))
        );
        assert_eq!(a.actor("organizer"), "organizer");
        assert_eq!(a.actor("system"), "system");
    }
}
