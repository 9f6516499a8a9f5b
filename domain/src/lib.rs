//! Qicoo's domain: the `Meetup`, `Question` and `Vote` aggregates, their commands,
//! events and refusals, and the value types that validate user input.
//!
//! Nothing here does I/O. Rules that need another aggregate's state (is the meetup
//! open? is the question published?) ask through the small lookup traits in
//! [`lookup`], which the write side implements over the event store.

pub mod ids;
pub mod join_code;
pub mod lookup;
pub mod meetup;
pub mod metadata;
pub mod question;
pub mod values;
pub mod vote;

pub use ids::{MeetupId, ParticipantId, QuestionId};
pub use join_code::{ClaimJoinCode, JoinCodeClaim, JoinCodeError, JoinCodeEvent};
pub use lookup::{LookupError, MeetupFacts, MeetupLookup, QuestionFacts, QuestionLookup};
pub use meetup::{Meetup, MeetupCommand, MeetupError, MeetupEvent, MeetupUpdate};
pub use question::{
    Question, QuestionCommand, QuestionError, QuestionEvent, QuestionServices, QuestionStatus,
};
pub use values::{
    AuthorName, JoinCode, MeetupTitle, OrganizerKeyHash, QuestionText, RemovalReason,
    ValidationError,
};
pub use vote::{Vote, VoteCommand, VoteError, VoteEvent, VoteServices};

/// An aggregate that belongs to one meetup. The write side stamps this id into
/// every event's metadata so the store can be read per meetup.
pub trait InMeetup {
    /// The meetup this aggregate belongs to, once it exists.
    fn meetup_id(&self) -> Option<MeetupId>;
}
