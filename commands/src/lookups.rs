//! The write side's answers to the domain's cross-aggregate questions, read from
//! the event store itself so that rules hold even while projections lag.
//!
//! A like asks about its question and its meetup. Both change rarely, so each
//! answer keeps the aggregate's state and its sequence number, and the next
//! one reads only the events numbered after it (usually none) instead of
//! replaying the whole stream. Every answer still reads the store after it
//! was asked, so it is as current as a full replay would be.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cqrs_es::{Aggregate, EventEnvelope};
use qicoo_domain::{
    LookupError, Meetup, MeetupFacts, MeetupId, MeetupLookup, Question, QuestionFacts, QuestionId,
    QuestionLookup,
};

use crate::load::BatchedLoads;

/// How many aggregates each cache holds before it starts afresh: a bound on
/// memory, far above the meetups and questions one node serves at a time.
const CACHE_LIMIT: usize = 50_000;

/// Loads meetups and questions from the event store.
pub struct StoreLookups {
    meetups: Cached<Meetup>,
    questions: Cached<Question>,
}

impl StoreLookups {
    pub fn new(loads: &BatchedLoads) -> Arc<Self> {
        Arc::new(Self {
            meetups: Cached::new(loads.clone()),
            questions: Cached::new(loads.clone()),
        })
    }
}

/// An aggregate's state as of its sequence number.
type Known<A> = (A, usize);

/// Aggregates of one type as last read, refreshed by their newer events.
struct Cached<A> {
    loads: BatchedLoads,
    known: Mutex<HashMap<String, Known<A>>>,
}

impl<A: Aggregate + Clone> Cached<A> {
    fn new(loads: BatchedLoads) -> Self {
        Self {
            loads,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The aggregate's current state: what was known of it, plus the events
    /// appended since.
    async fn current(&self, id: &str) -> Result<A, LookupError> {
        let (mut state, mut sequence) = self
            .known
            .lock()
            .ok()
            .and_then(|known| known.get(id).cloned())
            .unwrap_or_default();
        let newer = self
            .loads
            .events_after(A::TYPE, id, sequence)
            .await
            .map_err(|e| LookupError(e.to_string()))?;
        if newer.is_empty() {
            return Ok(state);
        }
        for event in newer {
            let envelope = EventEnvelope::<A>::try_from(event)
                .map_err(|e| LookupError(format!("stored event unreadable: {e}")))?;
            sequence = envelope.sequence;
            state.apply(envelope.payload);
        }
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= CACHE_LIMIT {
                known.clear();
            }
            let newest = known.get(id).is_none_or(|(_, s)| *s < sequence);
            if newest {
                known.insert(id.to_owned(), (state.clone(), sequence));
            }
        }
        Ok(state)
    }
}

#[async_trait]
impl MeetupLookup for StoreLookups {
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupFacts>, LookupError> {
        let meetup = self.meetups.current(&id.to_string()).await?;
        Ok(meetup.id.map(|_| MeetupFacts {
            qa_open: meetup.qa_open,
            archived: meetup.archived,
            moderated: meetup.moderated,
        }))
    }
}

#[async_trait]
impl QuestionLookup for StoreLookups {
    async fn question(&self, id: QuestionId) -> Result<Option<QuestionFacts>, LookupError> {
        let question = self.questions.current(&id.to_string()).await?;
        Ok(question.meetup_id.map(|meetup_id| QuestionFacts {
            meetup_id,
            status: question.status,
        }))
    }
}
