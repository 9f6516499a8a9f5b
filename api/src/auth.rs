//! Credentials: signed participant tokens and organizer keys, both presented as
//! `Authorization: Bearer …`.
//!
//! - A participant token is `qp1.<participant id>.<HMAC-SHA256 of the id>`; the
//!   server can verify it without storing anything.
//! - An organizer key is `qo1.<meetup id>.<32 random bytes>`; only its SHA-256 is
//!   stored (in the meetup's creation event), and it is compared in constant time.
//!
//! Ids and secrets are base64url without padding. Tokens never reach the logs.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use qicoo_domain::{Meetup, MeetupId, OrganizerKeyHash, ParticipantId};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::error::ApiError;

const PARTICIPANT_PREFIX: &str = "qp1";
const ORGANIZER_PREFIX: &str = "qo1";

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks participant tokens, and hashes client addresses, with the
/// server secret.
#[derive(Clone)]
pub struct Signer {
    secret: SecretSlice<u8>,
}

impl Signer {
    pub fn new(secret: SecretSlice<u8>) -> Self {
        Self { secret }
    }

    fn mac(&self, domain: &str, data: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.secret.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(domain.as_bytes());
        mac.update(b":");
        mac.update(data);
        mac
    }

    /// Issues a token for a new participant.
    pub fn participant_token(&self, participant: ParticipantId) -> String {
        let id = participant.as_uuid();
        let tag = self
            .mac("participant", id.as_bytes())
            .finalize()
            .into_bytes();
        format!(
            "{PARTICIPANT_PREFIX}.{}.{}",
            URL_SAFE_NO_PAD.encode(id.as_bytes()),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The participant a token was issued to, if its signature is ours.
    pub fn verify_participant(&self, token: &str) -> Option<ParticipantId> {
        let (id, tag) = split_credential(token, PARTICIPANT_PREFIX)?;
        let id = Uuid::from_slice(&id).ok()?;
        self.mac("participant", id.as_bytes())
            .verify_slice(&tag)
            .ok()?;
        Some(ParticipantId::from_uuid(id))
    }

    /// A salted hash of a client address, for audit without storing the address.
    pub fn client_hash(&self, address: &str) -> String {
        let tag = self
            .mac("client", address.as_bytes())
            .finalize()
            .into_bytes();
        hex::encode(&tag[..16])
    }
}

/// A new organizer key and the hash to store.
pub fn new_organizer_key(meetup: MeetupId) -> (String, OrganizerKeyHash) {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let key = format!(
        "{ORGANIZER_PREFIX}.{}.{}",
        URL_SAFE_NO_PAD.encode(meetup.as_uuid().as_bytes()),
        URL_SAFE_NO_PAD.encode(secret)
    );
    let hash = hash_organizer_key(&key);
    (key, hash)
}

fn hash_organizer_key(key: &str) -> OrganizerKeyHash {
    OrganizerKeyHash::new(hex::encode(Sha256::digest(key.as_bytes())))
}

/// Splits `prefix.<b64>.<b64>` into its two decoded parts.
fn split_credential(token: &str, prefix: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut parts = token.split('.');
    if parts.next()? != prefix {
        return None;
    }
    let id = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    let tail = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    parts.next().is_none().then_some((id, tail))
}

/// What the `Authorization` header presented, not yet checked against a meetup.
#[derive(Clone)]
pub enum Credential {
    None,
    /// A valid participant token.
    Participant(ParticipantId),
    /// Something shaped like an organizer key for this meetup; checked against the
    /// meetup's stored hash by [`Credential::organizer_of`].
    OrganizerKey {
        meetup: MeetupId,
        key: String,
    },
}

impl Credential {
    /// The participant, or 401 without a credential / 403 with an organizer key.
    pub fn participant(&self) -> Result<ParticipantId, ApiError> {
        match self {
            Self::Participant(id) => Ok(*id),
            Self::None => Err(ApiError::Unauthorized(
                "A participant token is required (POST /api/v1/participants).",
            )),
            Self::OrganizerKey { .. } => Err(ApiError::Forbidden(
                "This action needs a participant token, not an organizer key.".into(),
            )),
        }
    }

    /// Whether this is a valid organizer key of `meetup` (given its state).
    pub fn is_organizer_of(&self, meetup: &Meetup) -> bool {
        meetup
            .id
            .is_some_and(|id| self.holds_key_of(id, &meetup.organizer_key_hash))
    }

    /// True for the organizer key of `meetup`, whose key hashes to `stored`
    /// (compared in constant time).
    pub fn holds_key_of(&self, meetup: MeetupId, stored: &OrganizerKeyHash) -> bool {
        match self {
            Self::OrganizerKey { meetup: id, key } if *id == meetup => {
                let presented = hash_organizer_key(key);
                presented
                    .as_str()
                    .as_bytes()
                    .ct_eq(stored.as_str().as_bytes())
                    .into()
            }
            _ => false,
        }
    }

    /// 401 without a credential, 403 with the wrong one, for organizer actions.
    pub fn require_organizer_of(&self, meetup: &Meetup) -> Result<(), ApiError> {
        match self {
            Self::None => Err(ApiError::Unauthorized(
                "The meetup's organizer key is required.",
            )),
            _ if self.is_organizer_of(meetup) => Ok(()),
            _ => Err(ApiError::Forbidden(
                "This credential does not authorize organizing this meetup.".into(),
            )),
        }
    }

    /// The meetup this organizer key claims to be for, if it is one.
    pub fn claimed_meetup(&self) -> Option<MeetupId> {
        match self {
            Self::OrganizerKey { meetup, .. } => Some(*meetup),
            _ => None,
        }
    }
}

/// Something that can check credentials (the app state).
pub trait HasSigner {
    fn signer(&self) -> &Signer;
}

impl<S> FromRequestParts<S> for Credential
where
    S: HasSigner + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Self::None);
        };
        let invalid = || ApiError::Unauthorized("The credential is malformed or not valid.");
        let value = value.to_str().map_err(|_| invalid())?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(invalid)?
            .trim();
        if token.starts_with(PARTICIPANT_PREFIX) {
            let id = state
                .signer()
                .verify_participant(token)
                .ok_or_else(invalid)?;
            return Ok(Self::Participant(id));
        }
        if token.starts_with(ORGANIZER_PREFIX) {
            let (id, secret) = split_credential(token, ORGANIZER_PREFIX).ok_or_else(invalid)?;
            let id = Uuid::from_slice(&id).map_err(|_| invalid())?;
            if secret.len() != 32 {
                return Err(invalid());
            }
            return Ok(Self::OrganizerKey {
                meetup: MeetupId::from_uuid(id),
                key: token.to_owned(),
            });
        }
        Err(invalid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(secret: &[u8]) -> Signer {
        Signer::new(SecretSlice::from(secret.to_vec()))
    }

    #[test]
    fn a_participant_token_verifies_with_the_same_secret_only() {
        let participant = ParticipantId::new();
        let token = signer(b"one").participant_token(participant);
        assert_eq!(signer(b"one").verify_participant(&token), Some(participant));
        assert_eq!(signer(b"two").verify_participant(&token), None);
    }

    #[test]
    fn a_tampered_participant_token_is_refused() {
        let s = signer(b"one");
        let token = s.participant_token(ParticipantId::new());
        let other = s.participant_token(ParticipantId::new());
        let (head, _) = token.rsplit_once('.').expect("three parts");
        let (_, other_tag) = other.rsplit_once('.').expect("three parts");
        assert_eq!(s.verify_participant(&format!("{head}.{other_tag}")), None);
        assert_eq!(s.verify_participant("qp1.garbage"), None);
    }

    #[test]
    fn an_organizer_key_matches_only_its_own_meetup() {
        let id = MeetupId::new();
        let (key, hash) = new_organizer_key(id);
        let meetup = Meetup {
            id: Some(id),
            organizer_key_hash: hash,
            ..Meetup::default()
        };
        let presented = Credential::OrganizerKey {
            meetup: id,
            key: key.clone(),
        };
        assert!(presented.is_organizer_of(&meetup));
        let (other_key, _) = new_organizer_key(id);
        let wrong = Credential::OrganizerKey {
            meetup: id,
            key: other_key,
        };
        assert!(!wrong.is_organizer_of(&meetup));
    }

    #[test]
    fn client_hashes_are_stable_and_hide_the_address() {
        let s = signer(b"one");
        assert_eq!(s.client_hash("10.0.0.1"), s.client_hash("10.0.0.1"));
        assert_ne!(s.client_hash("10.0.0.1"), s.client_hash("10.0.0.2"));
        assert!(!s.client_hash("10.0.0.1").contains("10.0.0.1"));
    }
}
