//! The write side's front door: one method per thing a client can ask for.

use qicoo_domain::{
    AuthorName, ClaimJoinCode, JoinCode, JoinCodeClaim, JoinCodeError, Meetup, MeetupCommand,
    MeetupError, MeetupId, MeetupTitle, MeetupUpdate, OrganizerKeyHash, ParticipantId, Question,
    QuestionCommand, QuestionError, QuestionId, QuestionServices, QuestionText, Vote, VoteCommand,
    VoteError, VoteServices,
};
use std::sync::Arc;

use rand::Rng;

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::executor::{AppendHook, Executed, Executor, Writers};
use crate::lookups::StoreLookups;
use crate::store::{EventStore, EventStoreError};

/// How many random join codes are tried before giving up (a clash is rare: the
/// space of 6-character codes is ~887 million).
const JOIN_CODE_ATTEMPTS: usize = 8;

/// A question as a participant posts it.
#[derive(Debug, Clone)]
pub struct PostQuestion {
    pub id: QuestionId,
    pub meetup_id: MeetupId,
    pub author: ParticipantId,
    pub text: QuestionText,
    pub author_name: Option<AuthorName>,
}

/// A meetup that was just created.
#[derive(Debug, Clone)]
pub struct CreatedMeetup {
    pub meetup: Meetup,
    pub position: i64,
}

/// Executes Qicoo's commands against the event store.
pub struct CommandService {
    store: EventStore,
    meetups: Executor<Meetup>,
    join_codes: Executor<JoinCodeClaim>,
    questions: Executor<Question>,
    votes: Executor<Vote>,
}

impl CommandService {
    pub fn new(store: EventStore) -> Self {
        Self::with_append_hook(store, Arc::new(|| {}))
    }

    /// A service that calls `on_append` whenever a command appended events.
    /// Starts the event store's batched reader and writer tasks
    /// ([`Writers`]) on the current Tokio runtime.
    pub fn with_append_hook(store: EventStore, on_append: AppendHook) -> Self {
        let writers = Writers::start(&store);
        let lookups = StoreLookups::new(&writers.loads);
        Self {
            meetups: Executor::new(&store, &writers, (), on_append.clone()),
            join_codes: Executor::new(&store, &writers, (), on_append.clone()),
            questions: Executor::new(
                &store,
                &writers,
                QuestionServices::new(lookups.clone()),
                on_append.clone(),
            ),
            votes: Executor::new(
                &store,
                &writers,
                VoteServices::new(lookups.clone(), lookups),
                on_append,
            ),
            store,
        }
    }

    /// The event store behind the service.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// Answers whether the event store is reachable.
    pub async fn ping(&self) -> Result<(), EventStoreError> {
        self.store.ping().await
    }

    /// Creates a meetup with a fresh, unique join code.
    pub async fn create_meetup(
        &self,
        id: MeetupId,
        title: MeetupTitle,
        moderated: bool,
        organizer_key_hash: OrganizerKeyHash,
        ctx: &CommandContext,
    ) -> Result<CreatedMeetup, CommandError<MeetupError>> {
        let code = self.claim_join_code(id, ctx).await?;
        let command = MeetupCommand::Create {
            id,
            title,
            code,
            moderated,
            organizer_key_hash,
        };
        let executed = self.meetups.execute(&id.to_string(), command, ctx).await?;
        Ok(CreatedMeetup {
            meetup: executed.state,
            position: executed.position,
        })
    }

    async fn claim_join_code(
        &self,
        meetup_id: MeetupId,
        ctx: &CommandContext,
    ) -> Result<JoinCode, CommandError<MeetupError>> {
        for _ in 0..JOIN_CODE_ATTEMPTS {
            let code = random_join_code()?;
            let claim = ClaimJoinCode {
                code: code.clone(),
                meetup_id,
            };
            match self.join_codes.execute(code.as_str(), claim, ctx).await {
                Ok(_) => return Ok(code),
                Err(CommandError::Refused(JoinCodeError::Taken)) => continue,
                Err(CommandError::Conflict) => continue,
                Err(CommandError::Unavailable(e)) => return Err(CommandError::Unavailable(e)),
                Err(CommandError::Internal(e)) => return Err(CommandError::Internal(e)),
            }
        }
        Err(CommandError::Internal(
            "no free join code found; the code space may be exhausted".into(),
        ))
    }

    /// Renames, opens or closes Q&A, switches moderation, archives.
    pub async fn update_meetup(
        &self,
        id: MeetupId,
        update: MeetupUpdate,
        ctx: &CommandContext,
    ) -> Result<Executed<Meetup>, CommandError<MeetupError>> {
        self.meetups
            .execute(&id.to_string(), MeetupCommand::Update(update), ctx)
            .await
    }

    /// The meetup's current state from the event store.
    pub async fn load_meetup(
        &self,
        id: MeetupId,
    ) -> Result<Option<Meetup>, CommandError<MeetupError>> {
        self.meetups.load(&id.to_string()).await
    }

    /// Posts a question. Sending the same post again is accepted and appends
    /// nothing (`appended == 0`).
    pub async fn post_question(
        &self,
        post: PostQuestion,
        ctx: &CommandContext,
    ) -> Result<Executed<Question>, CommandError<QuestionError>> {
        let id = post.id;
        let command = QuestionCommand::Post {
            id: post.id,
            meetup_id: post.meetup_id,
            author: post.author,
            text: post.text,
            author_name: post.author_name,
        };
        self.questions.execute(&id.to_string(), command, ctx).await
    }

    /// Any other question command: edit, withdraw, moderation.
    pub async fn question(
        &self,
        id: QuestionId,
        command: QuestionCommand,
        ctx: &CommandContext,
    ) -> Result<Executed<Question>, CommandError<QuestionError>> {
        self.questions.execute(&id.to_string(), command, ctx).await
    }

    /// Likes (`like == true`) or unlikes a question; both are idempotent.
    pub async fn vote(
        &self,
        question_id: QuestionId,
        participant: ParticipantId,
        like: bool,
        ctx: &CommandContext,
    ) -> Result<Executed<Vote>, CommandError<VoteError>> {
        let command = if like {
            VoteCommand::Cast {
                question_id,
                participant,
            }
        } else {
            VoteCommand::Withdraw {
                question_id,
                participant,
            }
        };
        let id = Vote::aggregate_id(question_id, participant);
        self.votes.execute(&id, command, ctx).await
    }
}

fn random_join_code<E: std::error::Error>() -> Result<JoinCode, CommandError<E>> {
    let mut rng = rand::thread_rng();
    let indices: Vec<usize> = (0..JoinCode::GENERATED_LEN)
        .map(|_| rng.gen_range(0..JoinCode::ALPHABET.len()))
        .collect();
    JoinCode::from_indices(&indices).map_err(|e| CommandError::Internal(e.to_string()))
}
