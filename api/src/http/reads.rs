//! What the query endpoints share: who is asking (which decides what they may
//! see) and read-your-writes (`min_position`).

use std::time::Duration;

use qicoo_domain::{MeetupId, QuestionStatus};
use qicoo_projections::Viewer;

use crate::auth::Credential;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a query waits for the read model to reach `min_position`.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(2);

/// Waits (briefly) until the read model reflects `min_position`, so a client
/// sees its own writes. Answers anyway when the wait runs out: the `position`
/// in the answer tells the client how far it reflects.
pub async fn reach(state: &AppState, min_position: Option<i64>) -> Result<(), ApiError> {
    if let Some(position) = min_position.filter(|p| *p > 0) {
        state
            .queries
            .wait_for_position(position, MIN_POSITION_WAIT)
            .await?;
    }
    Ok(())
}

/// The viewer a credential makes of its holder, for a meetup. An organizer key
/// is checked against the hash the read model keeps of the meetup's key.
pub async fn viewer(
    state: &AppState,
    credential: &Credential,
    meetup: MeetupId,
) -> Result<Viewer, ApiError> {
    let organizer = match credential.claimed_meetup() {
        Some(claimed) if claimed == meetup => {
            match state.queries.organizer_key_hash(meetup).await? {
                Some(hash) => credential.holds_key_of(meetup, &hash),
                None => false,
            }
        }
        _ => false,
    };
    let participant = match credential {
        Credential::Participant(id) => Some(*id),
        _ => None,
    };
    Ok(Viewer {
        participant,
        organizer,
    })
}

/// Parses a `status` filter.
pub fn parse_status(raw: &str) -> Result<QuestionStatus, ApiError> {
    match raw {
        "pending" => Ok(QuestionStatus::Pending),
        "published" => Ok(QuestionStatus::Published),
        "rejected" => Ok(QuestionStatus::Rejected),
        "withdrawn" => Ok(QuestionStatus::Withdrawn),
        "removed" => Ok(QuestionStatus::Removed),
        _ => Err(field_error(
            "status",
            "must be one of pending, published, rejected, withdrawn, removed",
        )),
    }
}

/// A 422 about one query parameter.
pub fn field_error(field: &str, message: &str) -> ApiError {
    ApiError::Validation(std::collections::BTreeMap::from([(
        field.to_owned(),
        vec![message.to_owned()],
    )]))
}
