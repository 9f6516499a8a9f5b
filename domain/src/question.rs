//! The `Question` aggregate: posted by a participant into a meetup, edited or
//! withdrawn by its author, moderated by the meetup's organizer.

use std::sync::Arc;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::ids::{MeetupId, ParticipantId, QuestionId};
use crate::lookup::{LookupError, MeetupLookup};
use crate::values::{AuthorName, QuestionText, RemovalReason};
use crate::InMeetup;

/// Where a question stands. Only `Published` questions are shown to everyone and
/// can be liked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionStatus {
    /// Not posted yet (the aggregate's state before `QuestionPosted`).
    #[default]
    New,
    /// Waiting for the organizer's approval (moderated meetups).
    Pending,
    Published,
    Rejected,
    /// Taken back by its author.
    Withdrawn,
    /// Taken down by the organizer.
    Removed,
}

impl QuestionStatus {
    /// The name used on the wire and in the read model.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Pending => "pending",
            Self::Published => "published",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Removed => "removed",
        }
    }
}

/// A question as the write side knows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub id: Option<QuestionId>,
    pub meetup_id: Option<MeetupId>,
    pub author: Option<ParticipantId>,
    pub text: String,
    pub author_name: Option<String>,
    pub status: QuestionStatus,
    pub answered: bool,
    pub highlighted: bool,
}

/// What can be asked of a question. Organizer commands name the meetup whose key
/// authorised them, so a key cannot moderate another meetup's questions.
#[derive(Debug, Clone, PartialEq)]
pub enum QuestionCommand {
    Post {
        id: QuestionId,
        meetup_id: MeetupId,
        author: ParticipantId,
        text: QuestionText,
        author_name: Option<AuthorName>,
    },
    Edit {
        by: ParticipantId,
        text: QuestionText,
    },
    Withdraw {
        by: ParticipantId,
    },
    Approve {
        meetup_id: MeetupId,
    },
    Reject {
        meetup_id: MeetupId,
    },
    Answer {
        meetup_id: MeetupId,
    },
    Reopen {
        meetup_id: MeetupId,
    },
    Highlight {
        meetup_id: MeetupId,
    },
    Unhighlight {
        meetup_id: MeetupId,
    },
    Remove {
        meetup_id: MeetupId,
        reason: Option<RemovalReason>,
    },
}

/// What happened to a question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QuestionEvent {
    QuestionPosted {
        id: QuestionId,
        meetup_id: MeetupId,
        author: ParticipantId,
        text: String,
        author_name: Option<String>,
        /// True when the meetup was moderated: the question starts pending.
        pending: bool,
    },
    QuestionEdited {
        text: String,
    },
    QuestionWithdrawn,
    QuestionApproved,
    QuestionRejected,
    QuestionAnswered,
    QuestionReopened,
    QuestionHighlighted,
    QuestionUnhighlighted,
    QuestionRemoved {
        reason: Option<String>,
    },
}

impl DomainEvent for QuestionEvent {
    fn event_type(&self) -> String {
        match self {
            Self::QuestionPosted { .. } => "QuestionPosted",
            Self::QuestionEdited { .. } => "QuestionEdited",
            Self::QuestionWithdrawn => "QuestionWithdrawn",
            Self::QuestionApproved => "QuestionApproved",
            Self::QuestionRejected => "QuestionRejected",
            Self::QuestionAnswered => "QuestionAnswered",
            Self::QuestionReopened => "QuestionReopened",
            Self::QuestionHighlighted => "QuestionHighlighted",
            Self::QuestionUnhighlighted => "QuestionUnhighlighted",
            Self::QuestionRemoved { .. } => "QuestionRemoved",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why a question command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuestionError {
    #[error("no such question")]
    NotFound,
    #[error("no such meetup")]
    MeetupNotFound,
    #[error("Q&A is closed for this meetup")]
    QaClosed,
    #[error("the meetup is archived")]
    MeetupArchived,
    #[error("a different question was already posted with this id")]
    IdTaken,
    #[error("only the author may change this question")]
    NotAuthor,
    #[error("the question belongs to another meetup")]
    OtherMeetup,
    #[error("the question has been answered and can no longer be changed by its author")]
    AlreadyAnswered,
    #[error("cannot {action} a question that is {status}")]
    InvalidState {
        action: &'static str,
        status: &'static str,
    },
    #[error(transparent)]
    Lookup(#[from] LookupError),
}

/// What a question needs to know about other aggregates.
#[derive(Clone)]
pub struct QuestionServices {
    pub meetups: Arc<dyn MeetupLookup>,
}

impl QuestionServices {
    pub fn new(meetups: Arc<dyn MeetupLookup>) -> Self {
        Self { meetups }
    }
}

impl Aggregate for Question {
    const TYPE: &'static str = "Question";
    type Command = QuestionCommand;
    type Event = QuestionEvent;
    type Error = QuestionError;
    type Services = QuestionServices;

    async fn handle(
        &mut self,
        command: Self::Command,
        services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        if let Some(event) = self.decide(command, services).await? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            QuestionEvent::QuestionPosted {
                id,
                meetup_id,
                author,
                text,
                author_name,
                pending,
            } => {
                *self = Self {
                    id: Some(id),
                    meetup_id: Some(meetup_id),
                    author: Some(author),
                    text,
                    author_name,
                    status: if pending {
                        QuestionStatus::Pending
                    } else {
                        QuestionStatus::Published
                    },
                    answered: false,
                    highlighted: false,
                }
            }
            QuestionEvent::QuestionEdited { text } => self.text = text,
            QuestionEvent::QuestionWithdrawn => self.status = QuestionStatus::Withdrawn,
            QuestionEvent::QuestionApproved => self.status = QuestionStatus::Published,
            QuestionEvent::QuestionRejected => self.status = QuestionStatus::Rejected,
            QuestionEvent::QuestionAnswered => self.answered = true,
            QuestionEvent::QuestionReopened => self.answered = false,
            QuestionEvent::QuestionHighlighted => self.highlighted = true,
            QuestionEvent::QuestionUnhighlighted => self.highlighted = false,
            QuestionEvent::QuestionRemoved { .. } => {
                self.status = QuestionStatus::Removed;
                self.highlighted = false;
            }
        }
    }
}

impl Question {
    /// Decides a command: `Ok(None)` when it is already satisfied (a retry, or a
    /// switch already in the asked position), which is not an error.
    async fn decide(
        &self,
        command: QuestionCommand,
        services: &QuestionServices,
    ) -> Result<Option<QuestionEvent>, QuestionError> {
        use QuestionCommand as C;
        use QuestionEvent as E;
        use QuestionStatus as S;

        if let C::Post {
            id,
            meetup_id,
            author,
            text,
            author_name,
        } = command
        {
            return self
                .post(id, meetup_id, author, text, author_name, services)
                .await;
        }
        // Who may ask is settled first, so that a stranger is told "not yours"
        // rather than anything about the meetup; then an archived meetup refuses
        // everything, even what would change nothing, because it is read-only.
        self.check_authority(&command)?;
        self.check_meetup_not_archived(services).await?;

        let event = match command {
            // Decided by `post` above.
            C::Post { .. } => None,
            C::Edit { by, text } => {
                self.check_author_may_change(by, "edit")?;
                (text.as_str() != self.text).then(|| E::QuestionEdited {
                    text: text.as_str().to_owned(),
                })
            }
            C::Withdraw { by } => {
                if self.status == S::Withdrawn && self.author == Some(by) {
                    return Ok(None);
                }
                self.check_author_may_change(by, "withdraw")?;
                Some(E::QuestionWithdrawn)
            }
            C::Approve { meetup_id } => {
                self.check_meetup(meetup_id)?;
                match self.status {
                    S::Pending => Some(E::QuestionApproved),
                    S::Published => None,
                    _ => return Err(self.invalid("approve")),
                }
            }
            C::Reject { meetup_id } => {
                self.check_meetup(meetup_id)?;
                match self.status {
                    S::Pending => Some(E::QuestionRejected),
                    S::Rejected => None,
                    _ => return Err(self.invalid("reject")),
                }
            }
            C::Answer { meetup_id } => {
                self.check_published(meetup_id, "answer")?;
                (!self.answered).then_some(E::QuestionAnswered)
            }
            C::Reopen { meetup_id } => {
                self.check_published(meetup_id, "reopen")?;
                self.answered.then_some(E::QuestionReopened)
            }
            C::Highlight { meetup_id } => {
                self.check_published(meetup_id, "highlight")?;
                (!self.highlighted).then_some(E::QuestionHighlighted)
            }
            C::Unhighlight { meetup_id } => {
                self.check_meetup(meetup_id)?;
                self.highlighted.then_some(E::QuestionUnhighlighted)
            }
            C::Remove { meetup_id, reason } => {
                self.check_meetup(meetup_id)?;
                (self.status != S::Removed).then(|| E::QuestionRemoved {
                    reason: reason.map(|r| r.as_str().to_owned()),
                })
            }
        };
        Ok(event)
    }

    async fn post(
        &self,
        id: QuestionId,
        meetup_id: MeetupId,
        author: ParticipantId,
        text: QuestionText,
        author_name: Option<AuthorName>,
        services: &QuestionServices,
    ) -> Result<Option<QuestionEvent>, QuestionError> {
        let author_name = author_name.map(|n| n.as_str().to_owned());
        let meetup = services
            .meetups
            .meetup(meetup_id)
            .await?
            .ok_or(QuestionError::MeetupNotFound)?;
        // Before the retry check: an archived meetup is read-only, and says so
        // to every request, a resent one included.
        if meetup.archived {
            return Err(QuestionError::MeetupArchived);
        }
        if self.id.is_some() {
            // The same post sent again (a client retry) is satisfied already;
            // anything else under this id is a conflict.
            let same = self.meetup_id == Some(meetup_id)
                && self.author == Some(author)
                && self.text == text.as_str()
                && self.author_name == author_name;
            return if same {
                Ok(None)
            } else {
                Err(QuestionError::IdTaken)
            };
        }
        if !meetup.qa_open {
            return Err(QuestionError::QaClosed);
        }
        Ok(Some(QuestionEvent::QuestionPosted {
            id,
            meetup_id,
            author,
            text: text.as_str().to_owned(),
            author_name,
            pending: meetup.moderated,
        }))
    }

    /// Checks that the question exists and that whoever asks may ask: its
    /// author for edits and withdrawals, its meetup's organizer for moderation.
    fn check_authority(&self, command: &QuestionCommand) -> Result<(), QuestionError> {
        use QuestionCommand as C;
        match command {
            C::Post { .. } => Ok(()),
            C::Edit { by, .. } | C::Withdraw { by } => {
                if self.id.is_none() {
                    Err(QuestionError::NotFound)
                } else if self.author == Some(*by) {
                    Ok(())
                } else {
                    Err(QuestionError::NotAuthor)
                }
            }
            C::Approve { meetup_id }
            | C::Reject { meetup_id }
            | C::Answer { meetup_id }
            | C::Reopen { meetup_id }
            | C::Highlight { meetup_id }
            | C::Unhighlight { meetup_id }
            | C::Remove { meetup_id, .. } => self.check_meetup(*meetup_id),
        }
    }

    /// Refuses any command once the question's meetup is archived.
    async fn check_meetup_not_archived(
        &self,
        services: &QuestionServices,
    ) -> Result<(), QuestionError> {
        let meetup_id = self.meetup_id.ok_or(QuestionError::NotFound)?;
        let meetup = services
            .meetups
            .meetup(meetup_id)
            .await?
            .ok_or(QuestionError::MeetupNotFound)?;
        if meetup.archived {
            Err(QuestionError::MeetupArchived)
        } else {
            Ok(())
        }
    }

    fn check_author_may_change(
        &self,
        by: ParticipantId,
        action: &'static str,
    ) -> Result<(), QuestionError> {
        if self.id.is_none() {
            return Err(QuestionError::NotFound);
        }
        if self.author != Some(by) {
            return Err(QuestionError::NotAuthor);
        }
        if self.answered {
            return Err(QuestionError::AlreadyAnswered);
        }
        match self.status {
            QuestionStatus::Pending | QuestionStatus::Published => Ok(()),
            _ => Err(self.invalid(action)),
        }
    }

    /// Checks that the question exists and belongs to the meetup whose organizer
    /// asks.
    fn check_meetup(&self, meetup_id: MeetupId) -> Result<(), QuestionError> {
        if self.id.is_none() {
            Err(QuestionError::NotFound)
        } else if self.meetup_id == Some(meetup_id) {
            Ok(())
        } else {
            Err(QuestionError::OtherMeetup)
        }
    }

    fn check_published(
        &self,
        meetup_id: MeetupId,
        action: &'static str,
    ) -> Result<(), QuestionError> {
        self.check_meetup(meetup_id)?;
        if self.status == QuestionStatus::Published {
            Ok(())
        } else {
            Err(self.invalid(action))
        }
    }

    fn invalid(&self, action: &'static str) -> QuestionError {
        QuestionError::InvalidState {
            action,
            status: self.status.as_str(),
        }
    }
}

impl InMeetup for Question {
    fn meetup_id(&self) -> Option<MeetupId> {
        self.meetup_id
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::lookup::MeetupFacts;

    type QuestionTest = TestFramework<Question>;

    /// A meetup lookup with a fixed answer.
    struct FixedMeetup(Result<Option<MeetupFacts>, LookupError>);

    #[async_trait]
    impl MeetupLookup for FixedMeetup {
        async fn meetup(&self, _id: MeetupId) -> Result<Option<MeetupFacts>, LookupError> {
            self.0.clone()
        }
    }

    fn with_meetup(facts: Option<MeetupFacts>) -> QuestionServices {
        QuestionServices::new(Arc::new(FixedMeetup(Ok(facts))))
    }

    fn open() -> QuestionServices {
        with_meetup(Some(MeetupFacts {
            qa_open: true,
            archived: false,
            moderated: false,
        }))
    }

    fn archived() -> QuestionServices {
        with_meetup(Some(MeetupFacts {
            qa_open: true,
            archived: true,
            moderated: false,
        }))
    }

    fn meetup() -> MeetupId {
        MeetupId::from_uuid(uuid::Uuid::from_u128(1))
    }
    fn other_meetup() -> MeetupId {
        MeetupId::from_uuid(uuid::Uuid::from_u128(2))
    }
    fn qid() -> QuestionId {
        QuestionId::from_uuid(uuid::Uuid::from_u128(3))
    }
    fn alice() -> ParticipantId {
        ParticipantId::from_uuid(uuid::Uuid::from_u128(4))
    }
    fn bob() -> ParticipantId {
        ParticipantId::from_uuid(uuid::Uuid::from_u128(5))
    }

    fn post_as(author: ParticipantId, text: &str) -> QuestionCommand {
        QuestionCommand::Post {
            id: qid(),
            meetup_id: meetup(),
            author,
            text: QuestionText::parse(text).expect("valid"),
            author_name: Some(AuthorName::parse("Alice").expect("valid")),
        }
    }

    fn post() -> QuestionCommand {
        post_as(alice(), "Why Rust?")
    }

    fn posted_with(pending: bool) -> QuestionEvent {
        QuestionEvent::QuestionPosted {
            id: qid(),
            meetup_id: meetup(),
            author: alice(),
            text: "Why Rust?".into(),
            author_name: Some("Alice".into()),
            pending,
        }
    }

    fn posted() -> QuestionEvent {
        posted_with(false)
    }

    fn text(s: &str) -> QuestionText {
        QuestionText::parse(s).expect("valid")
    }

    #[test]
    fn posting_into_an_open_meetup_publishes_the_question() {
        QuestionTest::with(open())
            .given_no_previous_events()
            .when(post())
            .then_expect_events(vec![posted()]);
    }

    #[test]
    fn posting_into_a_moderated_meetup_leaves_the_question_pending() {
        let services = with_meetup(Some(MeetupFacts {
            qa_open: true,
            archived: false,
            moderated: true,
        }));
        QuestionTest::with(services)
            .given_no_previous_events()
            .when(post())
            .then_expect_events(vec![posted_with(true)]);
    }

    #[test]
    fn posting_into_a_closed_meetup_is_refused() {
        let services = with_meetup(Some(MeetupFacts {
            qa_open: false,
            archived: false,
            moderated: false,
        }));
        QuestionTest::with(services)
            .given_no_previous_events()
            .when(post())
            .then_expect_error(QuestionError::QaClosed);
    }

    #[test]
    fn posting_into_an_archived_meetup_is_refused() {
        let services = with_meetup(Some(MeetupFacts {
            qa_open: true,
            archived: true,
            moderated: false,
        }));
        QuestionTest::with(services)
            .given_no_previous_events()
            .when(post())
            .then_expect_error(QuestionError::MeetupArchived);
    }

    #[test]
    fn posting_into_an_unknown_meetup_is_refused() {
        QuestionTest::with(with_meetup(None))
            .given_no_previous_events()
            .when(post())
            .then_expect_error(QuestionError::MeetupNotFound);
    }

    #[test]
    fn a_failed_meetup_lookup_is_reported_not_mistaken_for_a_refusal() {
        let services =
            QuestionServices::new(Arc::new(FixedMeetup(Err(LookupError("down".into())))));
        QuestionTest::with(services)
            .given_no_previous_events()
            .when(post())
            .then_expect_error(QuestionError::Lookup(LookupError("down".into())));
    }

    #[test]
    fn the_same_post_sent_again_records_nothing() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(post())
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_different_post_under_an_existing_id_is_refused() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(post_as(alice(), "Something else?"))
            .then_expect_error(QuestionError::IdTaken);
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(post_as(bob(), "Why Rust?"))
            .then_expect_error(QuestionError::IdTaken);
    }

    #[test]
    fn the_author_can_edit_the_text() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Edit {
                by: alice(),
                text: text("Why Rust, really?"),
            })
            .then_expect_events(vec![QuestionEvent::QuestionEdited {
                text: "Why Rust, really?".into(),
            }]);
    }

    #[test]
    fn an_edit_to_the_same_text_records_nothing() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Edit {
                by: alice(),
                text: text("Why Rust?"),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn someone_else_cannot_edit_the_question() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Edit {
                by: bob(),
                text: text("Hijacked"),
            })
            .then_expect_error(QuestionError::NotAuthor);
    }

    #[test]
    fn an_answered_question_cannot_be_edited_by_its_author() {
        QuestionTest::with(open())
            .given(vec![posted(), QuestionEvent::QuestionAnswered])
            .when(QuestionCommand::Edit {
                by: alice(),
                text: text("Changed"),
            })
            .then_expect_error(QuestionError::AlreadyAnswered);
    }

    #[test]
    fn a_removed_question_cannot_be_edited() {
        QuestionTest::with(open())
            .given(vec![
                posted(),
                QuestionEvent::QuestionRemoved { reason: None },
            ])
            .when(QuestionCommand::Edit {
                by: alice(),
                text: text("Changed"),
            })
            .then_expect_error(QuestionError::InvalidState {
                action: "edit",
                status: "removed",
            });
    }

    #[test]
    fn editing_a_question_that_does_not_exist_is_refused() {
        QuestionTest::with(open())
            .given_no_previous_events()
            .when(QuestionCommand::Edit {
                by: alice(),
                text: text("Changed"),
            })
            .then_expect_error(QuestionError::NotFound);
    }

    #[test]
    fn the_author_can_withdraw_and_a_second_withdrawal_records_nothing() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Withdraw { by: alice() })
            .then_expect_events(vec![QuestionEvent::QuestionWithdrawn]);
        QuestionTest::with(open())
            .given(vec![posted(), QuestionEvent::QuestionWithdrawn])
            .when(QuestionCommand::Withdraw { by: alice() })
            .then_expect_events(vec![]);
    }

    #[test]
    fn someone_else_cannot_withdraw_the_question() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Withdraw { by: bob() })
            .then_expect_error(QuestionError::NotAuthor);
    }

    #[test]
    fn an_answered_question_cannot_be_withdrawn() {
        QuestionTest::with(open())
            .given(vec![posted(), QuestionEvent::QuestionAnswered])
            .when(QuestionCommand::Withdraw { by: alice() })
            .then_expect_error(QuestionError::AlreadyAnswered);
    }

    #[test]
    fn the_organizer_approves_a_pending_question() {
        QuestionTest::with(open())
            .given(vec![posted_with(true)])
            .when(QuestionCommand::Approve {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![QuestionEvent::QuestionApproved]);
    }

    #[test]
    fn approving_a_published_question_records_nothing() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Approve {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_rejected_question_cannot_be_approved() {
        QuestionTest::with(open())
            .given(vec![posted_with(true), QuestionEvent::QuestionRejected])
            .when(QuestionCommand::Approve {
                meetup_id: meetup(),
            })
            .then_expect_error(QuestionError::InvalidState {
                action: "approve",
                status: "rejected",
            });
    }

    #[test]
    fn the_organizer_rejects_a_pending_question() {
        QuestionTest::with(open())
            .given(vec![posted_with(true)])
            .when(QuestionCommand::Reject {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![QuestionEvent::QuestionRejected]);
    }

    #[test]
    fn a_published_question_cannot_be_rejected() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Reject {
                meetup_id: meetup(),
            })
            .then_expect_error(QuestionError::InvalidState {
                action: "reject",
                status: "published",
            });
    }

    #[test]
    fn moderation_with_another_meetups_authority_is_refused() {
        for command in [
            QuestionCommand::Approve {
                meetup_id: other_meetup(),
            },
            QuestionCommand::Reject {
                meetup_id: other_meetup(),
            },
            QuestionCommand::Answer {
                meetup_id: other_meetup(),
            },
            QuestionCommand::Reopen {
                meetup_id: other_meetup(),
            },
            QuestionCommand::Highlight {
                meetup_id: other_meetup(),
            },
            QuestionCommand::Unhighlight {
                meetup_id: other_meetup(),
            },
            QuestionCommand::Remove {
                meetup_id: other_meetup(),
                reason: None,
            },
        ] {
            QuestionTest::with(open())
                .given(vec![posted_with(true)])
                .when(command)
                .then_expect_error(QuestionError::OtherMeetup);
        }
    }

    #[test]
    fn answering_and_reopening_are_recorded_and_repeats_record_nothing() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Answer {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![QuestionEvent::QuestionAnswered]);
        QuestionTest::with(open())
            .given(vec![posted(), QuestionEvent::QuestionAnswered])
            .when(QuestionCommand::Answer {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![]);
        QuestionTest::with(open())
            .given(vec![posted(), QuestionEvent::QuestionAnswered])
            .when(QuestionCommand::Reopen {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![QuestionEvent::QuestionReopened]);
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Reopen {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_pending_question_cannot_be_answered() {
        QuestionTest::with(open())
            .given(vec![posted_with(true)])
            .when(QuestionCommand::Answer {
                meetup_id: meetup(),
            })
            .then_expect_error(QuestionError::InvalidState {
                action: "answer",
                status: "pending",
            });
    }

    #[test]
    fn highlighting_and_unhighlighting_are_recorded() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Highlight {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![QuestionEvent::QuestionHighlighted]);
        QuestionTest::with(open())
            .given(vec![posted(), QuestionEvent::QuestionHighlighted])
            .when(QuestionCommand::Unhighlight {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![QuestionEvent::QuestionUnhighlighted]);
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Unhighlight {
                meetup_id: meetup(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_withdrawn_question_cannot_be_highlighted() {
        QuestionTest::with(open())
            .given(vec![posted(), QuestionEvent::QuestionWithdrawn])
            .when(QuestionCommand::Highlight {
                meetup_id: meetup(),
            })
            .then_expect_error(QuestionError::InvalidState {
                action: "highlight",
                status: "withdrawn",
            });
    }

    #[test]
    fn the_organizer_removes_a_question_with_a_reason_once() {
        QuestionTest::with(open())
            .given(vec![posted()])
            .when(QuestionCommand::Remove {
                meetup_id: meetup(),
                reason: Some(RemovalReason::parse("off topic").expect("valid")),
            })
            .then_expect_events(vec![QuestionEvent::QuestionRemoved {
                reason: Some("off topic".into()),
            }]);
        QuestionTest::with(open())
            .given(vec![
                posted(),
                QuestionEvent::QuestionRemoved { reason: None },
            ])
            .when(QuestionCommand::Remove {
                meetup_id: meetup(),
                reason: None,
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn moderating_a_question_that_does_not_exist_is_refused() {
        QuestionTest::with(open())
            .given_no_previous_events()
            .when(QuestionCommand::Answer {
                meetup_id: meetup(),
            })
            .then_expect_error(QuestionError::NotFound);
    }

    /// Runs `command` on a question with `history` in an archived meetup and
    /// expects the refusal an archived meetup gives.
    fn refused_once_archived(history: Vec<QuestionEvent>, command: QuestionCommand) {
        QuestionTest::with(archived())
            .given(history)
            .when(command)
            .then_expect_error(QuestionError::MeetupArchived);
    }

    fn edit_by(by: ParticipantId) -> QuestionCommand {
        QuestionCommand::Edit {
            by,
            text: text("Why Rust, really?"),
        }
    }

    #[test]
    fn a_post_sent_again_into_an_archived_meetup_is_refused() {
        QuestionTest::with(archived())
            .given(vec![posted()])
            .when(post())
            .then_expect_error(QuestionError::MeetupArchived);
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_edited() {
        refused_once_archived(vec![posted()], edit_by(alice()));
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_withdrawn() {
        refused_once_archived(vec![posted()], QuestionCommand::Withdraw { by: alice() });
    }

    #[test]
    fn a_withdrawal_sent_again_into_an_archived_meetup_is_refused() {
        refused_once_archived(
            vec![posted(), QuestionEvent::QuestionWithdrawn],
            QuestionCommand::Withdraw { by: alice() },
        );
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_approved() {
        refused_once_archived(
            vec![posted_with(true)],
            QuestionCommand::Approve {
                meetup_id: meetup(),
            },
        );
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_rejected() {
        refused_once_archived(
            vec![posted_with(true)],
            QuestionCommand::Reject {
                meetup_id: meetup(),
            },
        );
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_answered() {
        refused_once_archived(
            vec![posted()],
            QuestionCommand::Answer {
                meetup_id: meetup(),
            },
        );
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_reopened() {
        refused_once_archived(
            vec![posted(), QuestionEvent::QuestionAnswered],
            QuestionCommand::Reopen {
                meetup_id: meetup(),
            },
        );
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_highlighted() {
        refused_once_archived(
            vec![posted()],
            QuestionCommand::Highlight {
                meetup_id: meetup(),
            },
        );
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_unhighlighted() {
        refused_once_archived(
            vec![posted(), QuestionEvent::QuestionHighlighted],
            QuestionCommand::Unhighlight {
                meetup_id: meetup(),
            },
        );
    }

    #[test]
    fn a_question_of_an_archived_meetup_cannot_be_removed() {
        refused_once_archived(
            vec![posted()],
            QuestionCommand::Remove {
                meetup_id: meetup(),
                reason: None,
            },
        );
    }

    #[test]
    fn a_command_that_would_change_nothing_is_still_refused_once_archived() {
        refused_once_archived(
            vec![posted()],
            QuestionCommand::Approve {
                meetup_id: meetup(),
            },
        );
        refused_once_archived(
            vec![posted()],
            QuestionCommand::Edit {
                by: alice(),
                text: text("Why Rust?"),
            },
        );
    }

    #[test]
    fn in_an_archived_meetup_a_stranger_is_still_told_the_question_is_not_theirs() {
        QuestionTest::with(archived())
            .given(vec![posted()])
            .when(edit_by(bob()))
            .then_expect_error(QuestionError::NotAuthor);
        QuestionTest::with(archived())
            .given(vec![posted()])
            .when(QuestionCommand::Answer {
                meetup_id: other_meetup(),
            })
            .then_expect_error(QuestionError::OtherMeetup);
    }

    #[test]
    fn a_failed_meetup_lookup_on_a_moderation_is_reported() {
        let services =
            QuestionServices::new(Arc::new(FixedMeetup(Err(LookupError("down".into())))));
        QuestionTest::with(services)
            .given(vec![posted()])
            .when(QuestionCommand::Answer {
                meetup_id: meetup(),
            })
            .then_expect_error(QuestionError::Lookup(LookupError("down".into())));
    }
}
