//! Events as the feed delivers them, positions in the feed, checkpoints, and
//! the decoding of stored payloads into the domain's event types.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupEvent, MeetupId, QuestionEvent, QuestionId, VoteEvent};
use serde::{Deserialize, Serialize};

/// A place in the feed's order. Postgres orders by `(transaction_id,
/// global_position)`; SQLite by `global_position` alone, with `transaction_id`
/// always 0. The default is "before the first event".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct FeedPosition {
    /// The writing transaction's id (Postgres `xid8`), 0 in SQLite.
    pub transaction_id: i64,
    /// The event's `global_position`.
    pub global_position: i64,
}

impl FeedPosition {
    /// Before every event.
    pub const START: Self = Self {
        transaction_id: 0,
        global_position: 0,
    };
}

/// How far a projection has got: the feed position of the last applied event,
/// the largest global position applied, and the read-your-writes watermark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last event applied, in feed order.
    pub feed: FeedPosition,
    /// The largest `global_position` among the applied events (not the same as
    /// `feed.global_position` in Postgres, where feed order is by transaction).
    pub max_position: i64,
    /// Every event with `global_position <= watermark` has been applied.
    pub watermark: i64,
}

/// One stored event, as read from the event store.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Where the event is in feed order.
    pub feed: FeedPosition,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    /// The serialised domain event (externally tagged JSON).
    pub payload: serde_json::Value,
    /// String keys from `qicoo_domain::metadata`.
    pub metadata: HashMap<String, String>,
    /// When the event store recorded it; the read model's timestamps.
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The event's global position.
    pub fn position(&self) -> i64 {
        self.feed.global_position
    }

    /// Decodes the payload into the domain event it stores.
    pub fn decode(&self) -> Result<DomainEvent, String> {
        fn parse<T: for<'de> Deserialize<'de>>(event: &StoredEvent) -> Result<T, String> {
            // From a reference: the payload is not copied.
            T::deserialize(&event.payload)
                .map_err(|e| format!("{} payload does not decode: {e}", event.event_type))
        }
        match self.aggregate_type.as_str() {
            "Meetup" => {
                let id: MeetupId = self
                    .aggregate_id
                    .parse()
                    .map_err(|e| format!("meetup id {:?}: {e}", self.aggregate_id))?;
                Ok(DomainEvent::Meetup(id, parse(self)?))
            }
            "Question" => {
                let id: QuestionId = self
                    .aggregate_id
                    .parse()
                    .map_err(|e| format!("question id {:?}: {e}", self.aggregate_id))?;
                Ok(DomainEvent::Question(id, parse(self)?))
            }
            "Vote" => Ok(DomainEvent::Vote(parse(self)?)),
            // Join-code claims only guard uniqueness on the write side; the
            // code itself arrives with `MeetupCreated`.
            "JoinCode" => Ok(DomainEvent::Ignored),
            other => Err(format!("unknown aggregate type {other:?}")),
        }
    }
}

/// A decoded event, with the id of the aggregate it happened to where the
/// payload does not carry it.
#[derive(Clone, Debug, PartialEq)]
pub enum DomainEvent {
    Meetup(MeetupId, MeetupEvent),
    Question(QuestionId, QuestionEvent),
    Vote(VoteEvent),
    /// An event the projections have no use for.
    Ignored,
}

/// The events of a batch that decoded, each with its stored form.
pub(crate) type Decoded<'a> = Vec<(&'a StoredEvent, DomainEvent)>;

/// Decodes a batch up to the first event that does not decode. Returns the
/// decoded prefix and, if any, the position and reason of the bad event.
pub(crate) fn decode_batch(events: &[StoredEvent]) -> (Decoded<'_>, Option<(i64, String)>) {
    let mut decoded = Vec::with_capacity(events.len());
    for event in events {
        match event.decode() {
            Ok(d) => decoded.push((event, d)),
            Err(reason) => return (decoded, Some((event.position(), reason))),
        }
    }
    (decoded, None)
}

/// The checkpoint after applying `events` on top of `from`, keeping `watermark`.
pub(crate) fn advance(from: &Checkpoint, events: &[&StoredEvent], watermark: i64) -> Checkpoint {
    let mut next = *from;
    for event in events {
        next.feed = next.feed.max(event.feed);
        next.max_position = next.max_position.max(event.position());
    }
    next.watermark = watermark.max(from.watermark);
    next
}
