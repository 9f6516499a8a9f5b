//! The write side's answers to the domain's cross-aggregate questions, read from
//! the event store itself so that rules hold even while projections lag.

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::EventStore as _;
use qicoo_domain::{
    LookupError, Meetup, MeetupFacts, MeetupId, MeetupLookup, Question, QuestionFacts, QuestionId,
    QuestionLookup,
};

use crate::load::BatchedLoads;
use crate::repository::AnyEventRepository;
use crate::store::EventStore;

/// Loads meetups and questions from the event store.
pub struct StoreLookups {
    meetups: PersistedEventStore<AnyEventRepository, Meetup>,
    questions: PersistedEventStore<AnyEventRepository, Question>,
}

impl StoreLookups {
    pub fn new(store: &EventStore, loads: &BatchedLoads) -> Arc<Self> {
        let repository = || AnyEventRepository::new(store, loads.clone());
        Arc::new(Self {
            meetups: PersistedEventStore::new_event_store(repository()),
            questions: PersistedEventStore::new_event_store(repository()),
        })
    }
}

#[async_trait]
impl MeetupLookup for StoreLookups {
    async fn meetup(&self, id: MeetupId) -> Result<Option<MeetupFacts>, LookupError> {
        let loaded = self
            .meetups
            .load_aggregate(&id.to_string())
            .await
            .map_err(|e| LookupError(e.to_string()))?;
        let meetup = loaded.aggregate;
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
        let loaded = self
            .questions
            .load_aggregate(&id.to_string())
            .await
            .map_err(|e| LookupError(e.to_string()))?;
        let question = loaded.aggregate;
        Ok(question.meetup_id.map(|meetup_id| QuestionFacts {
            meetup_id,
            status: question.status,
        }))
    }
}
