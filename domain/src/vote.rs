//! The `Vote` aggregate: one per (question, participant). Keeping each like in an
//! aggregate of its own makes a like cost the same however popular the question
//! is, and makes "one like per participant" a property of the event store.

use std::sync::Arc;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::{MeetupId, ParticipantId, QuestionId};
use crate::lookup::{LookupError, MeetupLookup, QuestionLookup};
use crate::question::QuestionStatus;
use crate::InMeetup;

/// A participant's like of a question.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    pub question_id: Option<QuestionId>,
    pub meetup_id: Option<MeetupId>,
    pub participant: Option<ParticipantId>,
    /// Whether the like currently stands.
    pub cast: bool,
}

impl Vote {
    /// The aggregate id of the vote of `participant` on `question`.
    pub fn aggregate_id(question: QuestionId, participant: ParticipantId) -> String {
        format!("{question}:{participant}")
    }
}

/// What can be asked of a vote. Both are idempotent.
#[derive(Debug, Clone, PartialEq)]
pub enum VoteCommand {
    Cast {
        question_id: QuestionId,
        participant: ParticipantId,
    },
    Withdraw {
        question_id: QuestionId,
        participant: ParticipantId,
    },
}

/// What happened to a vote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum VoteEvent {
    VoteCast {
        question_id: QuestionId,
        meetup_id: MeetupId,
        participant: ParticipantId,
    },
    VoteWithdrawn {
        question_id: QuestionId,
        meetup_id: MeetupId,
        participant: ParticipantId,
    },
}

impl DomainEvent for VoteEvent {
    fn event_type(&self) -> String {
        match self {
            Self::VoteCast { .. } => "VoteCast",
            Self::VoteWithdrawn { .. } => "VoteWithdrawn",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why a vote command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    #[error("no such question")]
    QuestionNotFound,
    #[error("only published questions can be liked (this one is {0})")]
    QuestionNotPublished(&'static str),
    #[error("the meetup is archived")]
    MeetupArchived,
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// What a vote needs to know about other aggregates.
#[derive(Clone)]
pub struct VoteServices {
    /// Whether the question exists, where, and whether it may be liked.
    pub questions: Arc<dyn QuestionLookup>,
    /// Whether the question's meetup is archived, which freezes its likes.
    pub meetups: Arc<dyn MeetupLookup>,
}

impl VoteServices {
    /// Services that answer through the given lookups.
    pub fn new(questions: Arc<dyn QuestionLookup>, meetups: Arc<dyn MeetupLookup>) -> Self {
        Self { questions, meetups }
    }

    /// Refuses any vote once the meetup is archived: its like counts are final.
    async fn check_not_archived(&self, meetup_id: MeetupId) -> Result<(), VoteError> {
        match self.meetups.meetup(meetup_id).await? {
            Some(meetup) if meetup.archived => Err(VoteError::MeetupArchived),
            _ => Ok(()),
        }
    }
}

impl Aggregate for Vote {
    const TYPE: &'static str = "Vote";
    type Command = VoteCommand;
    type Event = VoteEvent;
    type Error = VoteError;
    type Services = VoteServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            VoteCommand::Cast {
                question_id,
                participant,
            } => {
                let question = services
                    .questions
                    .question(question_id)
                    .await?
                    .ok_or(VoteError::QuestionNotFound)?;
                // Checked before "already liked", so that an archived meetup
                // answers every like the same way.
                services.check_not_archived(question.meetup_id).await?;
                if self.cast {
                    return Ok(());
                }
                if question.status != QuestionStatus::Published {
                    return Err(VoteError::QuestionNotPublished(question.status.as_str()));
                }
                let event = VoteEvent::VoteCast {
                    question_id,
                    meetup_id: question.meetup_id,
                    participant,
                };
                sink.write(event, self).await;
            }
            VoteCommand::Withdraw {
                question_id,
                participant,
            } => {
                // A vote that was never cast does not know its meetup; the
                // question does. An unknown question has no vote to withdraw.
                let meetup_id = match self.meetup_id {
                    Some(meetup_id) => Some(meetup_id),
                    None => services
                        .questions
                        .question(question_id)
                        .await?
                        .map(|q| q.meetup_id),
                };
                if let Some(meetup_id) = meetup_id {
                    services.check_not_archived(meetup_id).await?;
                }
                let Some(meetup_id) = self.meetup_id.filter(|_| self.cast) else {
                    return Ok(());
                };
                let event = VoteEvent::VoteWithdrawn {
                    question_id,
                    meetup_id,
                    participant,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            VoteEvent::VoteCast {
                question_id,
                meetup_id,
                participant,
            } => {
                *self = Self {
                    question_id: Some(question_id),
                    meetup_id: Some(meetup_id),
                    participant: Some(participant),
                    cast: true,
                }
            }
            VoteEvent::VoteWithdrawn { .. } => self.cast = false,
        }
    }
}

impl InMeetup for Vote {
    fn meetup_id(&self) -> Option<MeetupId> {
        self.meetup_id
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::lookup::{MeetupFacts, QuestionFacts};

    type VoteTest = TestFramework<Vote>;

    struct FixedQuestion(Result<Option<QuestionFacts>, LookupError>);

    #[async_trait]
    impl QuestionLookup for FixedQuestion {
        async fn question(&self, _id: QuestionId) -> Result<Option<QuestionFacts>, LookupError> {
            self.0.clone()
        }
    }

    /// A meetup lookup with a fixed answer.
    struct FixedMeetup(Result<Option<MeetupFacts>, LookupError>);

    #[async_trait]
    impl MeetupLookup for FixedMeetup {
        async fn meetup(&self, _id: MeetupId) -> Result<Option<MeetupFacts>, LookupError> {
            self.0.clone()
        }
    }

    fn meetup_facts(archived: bool) -> Arc<FixedMeetup> {
        Arc::new(FixedMeetup(Ok(Some(MeetupFacts {
            qa_open: true,
            archived,
            moderated: false,
        }))))
    }

    fn services(question: Option<QuestionFacts>, archived: bool) -> VoteServices {
        VoteServices::new(
            Arc::new(FixedQuestion(Ok(question))),
            meetup_facts(archived),
        )
    }

    fn meetup() -> MeetupId {
        MeetupId::from_uuid(uuid::Uuid::from_u128(1))
    }
    fn qid() -> QuestionId {
        QuestionId::from_uuid(uuid::Uuid::from_u128(2))
    }
    fn alice() -> ParticipantId {
        ParticipantId::from_uuid(uuid::Uuid::from_u128(3))
    }

    fn question(status: QuestionStatus) -> VoteServices {
        services(
            Some(QuestionFacts {
                meetup_id: meetup(),
                status,
            }),
            false,
        )
    }

    fn archived_question() -> VoteServices {
        services(
            Some(QuestionFacts {
                meetup_id: meetup(),
                status: QuestionStatus::Published,
            }),
            true,
        )
    }

    fn cast() -> VoteCommand {
        VoteCommand::Cast {
            question_id: qid(),
            participant: alice(),
        }
    }

    fn withdraw() -> VoteCommand {
        VoteCommand::Withdraw {
            question_id: qid(),
            participant: alice(),
        }
    }

    fn vote_cast() -> VoteEvent {
        VoteEvent::VoteCast {
            question_id: qid(),
            meetup_id: meetup(),
            participant: alice(),
        }
    }

    fn vote_withdrawn() -> VoteEvent {
        VoteEvent::VoteWithdrawn {
            question_id: qid(),
            meetup_id: meetup(),
            participant: alice(),
        }
    }

    #[test]
    fn liking_a_published_question_casts_a_vote() {
        VoteTest::with(question(QuestionStatus::Published))
            .given_no_previous_events()
            .when(cast())
            .then_expect_events(vec![vote_cast()]);
    }

    #[test]
    fn a_second_like_by_the_same_participant_records_nothing() {
        VoteTest::with(question(QuestionStatus::Published))
            .given(vec![vote_cast()])
            .when(cast())
            .then_expect_events(vec![]);
    }

    #[test]
    fn liking_again_after_unliking_casts_a_new_vote() {
        VoteTest::with(question(QuestionStatus::Published))
            .given(vec![vote_cast(), vote_withdrawn()])
            .when(cast())
            .then_expect_events(vec![vote_cast()]);
    }

    #[test]
    fn unliking_withdraws_the_vote() {
        VoteTest::with(question(QuestionStatus::Published))
            .given(vec![vote_cast()])
            .when(withdraw())
            .then_expect_events(vec![vote_withdrawn()]);
    }

    #[test]
    fn unliking_without_a_like_records_nothing() {
        VoteTest::with(question(QuestionStatus::Published))
            .given_no_previous_events()
            .when(withdraw())
            .then_expect_events(vec![]);
        VoteTest::with(question(QuestionStatus::Published))
            .given(vec![vote_cast(), vote_withdrawn()])
            .when(withdraw())
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_question_that_is_not_published_cannot_be_liked() {
        for status in [
            QuestionStatus::Pending,
            QuestionStatus::Rejected,
            QuestionStatus::Withdrawn,
            QuestionStatus::Removed,
        ] {
            VoteTest::with(question(status))
                .given_no_previous_events()
                .when(cast())
                .then_expect_error(VoteError::QuestionNotPublished(status.as_str()));
        }
    }

    #[test]
    fn an_unknown_question_cannot_be_liked() {
        VoteTest::with(services(None, false))
            .given_no_previous_events()
            .when(cast())
            .then_expect_error(VoteError::QuestionNotFound);
    }

    #[test]
    fn a_failed_question_lookup_is_reported() {
        VoteTest::with(VoteServices::new(
            Arc::new(FixedQuestion(Err(LookupError("down".into())))),
            meetup_facts(false),
        ))
        .given_no_previous_events()
        .when(cast())
        .then_expect_error(VoteError::Lookup(LookupError("down".into())));
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_liked() {
        VoteTest::with(archived_question())
            .given_no_previous_events()
            .when(cast())
            .then_expect_error(VoteError::MeetupArchived);
    }

    #[test]
    fn a_like_sent_again_into_an_archived_meetup_is_refused() {
        VoteTest::with(archived_question())
            .given(vec![vote_cast()])
            .when(cast())
            .then_expect_error(VoteError::MeetupArchived);
    }

    #[test]
    fn a_like_in_an_archived_meetup_cannot_be_withdrawn() {
        VoteTest::with(archived_question())
            .given(vec![vote_cast()])
            .when(withdraw())
            .then_expect_error(VoteError::MeetupArchived);
    }

    #[test]
    fn unliking_without_a_like_is_refused_once_the_meetup_is_archived() {
        VoteTest::with(archived_question())
            .given_no_previous_events()
            .when(withdraw())
            .then_expect_error(VoteError::MeetupArchived);
    }

    #[test]
    fn unliking_an_unknown_question_records_nothing() {
        VoteTest::with(services(None, true))
            .given_no_previous_events()
            .when(withdraw())
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_failed_meetup_lookup_is_reported() {
        VoteTest::with(VoteServices::new(
            Arc::new(FixedQuestion(Ok(Some(QuestionFacts {
                meetup_id: meetup(),
                status: QuestionStatus::Published,
            })))),
            Arc::new(FixedMeetup(Err(LookupError("down".into())))),
        ))
        .given(vec![vote_cast()])
        .when(withdraw())
        .then_expect_error(VoteError::Lookup(LookupError("down".into())));
    }
}
