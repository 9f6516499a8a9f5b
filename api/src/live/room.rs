//! One meetup's live state on this node for one audience: the public view
//! (meetup, published questions, leaderboard) or the organizer's (also pending
//! and rejected questions), kept in memory from one read-model snapshot plus
//! the change stream, the frames of each tick, and a short history for resuming.
//!
//! Clients are served from here, not from the database: a thousand phones
//! joining at once cost one read-model query, and a burst of likes costs each
//! of them one frame per tick. A change after a quiet spell is sent at once;
//! one that comes sooner waits until a tick after the last frame, merged with
//! whatever else came meanwhile.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use qicoo_domain::{MeetupId, QuestionId, QuestionStatus};
use qicoo_projections::changes::Change;
use qicoo_projections::{
    is_ranked, rank_order, MeetupView, QueryError, QuestionQuery, QuestionView, Rank, ReadQueries,
    Sort, Viewer,
};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::frames::{ChangeMessage, Frame, VERSION};

/// Most questions a live view carries.
const MAX_QUESTIONS: usize = 5_000;
/// Length of the leaderboard in frames.
const LEADERBOARD_LEN: usize = 10;
/// Frames kept for clients that reconnect with `?after=`.
const HISTORY: usize = 256;

/// Most frames a room sends per second, all its clients counted: with so many
/// clients that a frame per tick would pass it, changes are merged over longer
/// than a tick (see [`Room::tick`]), so that a crowded room cannot take the
/// node's CPU from everything else (the projections among it).
pub const SENDS_PER_SECOND: u64 = 50_000;

/// A frame ready to send to any number of clients: serialized once, its
/// bytes shared by every session that sends it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub position: i64,
    pub text: Utf8Bytes,
    /// When the oldest change in it was committed (none for snapshots).
    pub committed_at: Option<DateTime<Utc>>,
    pub snapshot: bool,
    /// When the room made it: a session holding a frame much older than this
    /// with newer ones queued behind it is too slow, and skips to a snapshot.
    pub made_at: Instant,
}

/// Who a room's view is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    /// Everyone: published questions only.
    Public,
    /// The meetup's organizer: also pending and rejected questions.
    Organizer,
}

impl Audience {
    /// Whether a question in `status` is in this audience's view.
    pub fn sees(self, status: QuestionStatus) -> bool {
        match self {
            Self::Public => status == QuestionStatus::Published,
            Self::Organizer => matches!(
                status,
                QuestionStatus::Pending | QuestionStatus::Published | QuestionStatus::Rejected
            ),
        }
    }
}

/// What the hub hands a room.
#[derive(Debug)]
pub enum RoomInput {
    /// Changes of this meetup, published at `position`.
    Changes {
        position: i64,
        committed_at: DateTime<Utc>,
        changes: Vec<Change>,
    },
    /// The stream may have lost changes: reload from the read model.
    Resync,
}

struct View {
    meetup: MeetupView,
    questions: HashMap<QuestionId, QuestionView>,
    leaderboard: Vec<QuestionId>,
    position: i64,
}

#[derive(Default)]
struct Pending {
    upserted: BTreeSet<QuestionId>,
    removed: BTreeSet<QuestionId>,
    meetup: bool,
    oldest_commit: Option<DateTime<Utc>>,
    newest_commit: Option<DateTime<Utc>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.upserted.is_empty() && self.removed.is_empty() && !self.meetup
    }
}

struct State {
    view: View,
    pending: Pending,
    history: VecDeque<Sent>,
    /// A client that has seen this position (or later) can resume from history.
    history_from: i64,
    snapshot: Option<Sent>,
}

/// A meetup's live state on this node.
pub struct Room {
    pub meetup_id: MeetupId,
    pub audience: Audience,
    state: Mutex<State>,
    frames: broadcast::Sender<Sent>,
}

/// What a joining client starts with.
pub struct Joined {
    /// Frames to send first: a snapshot, or the history after `?after=`.
    pub initial: Vec<Sent>,
    pub frames: broadcast::Receiver<Sent>,
    /// True when a resume was asked for but not possible (a snapshot is sent).
    pub resume_refused: bool,
}

impl Room {
    /// Loads the meetup's public view from the read model. `None`: no such
    /// meetup.
    pub async fn load(
        queries: &dyn ReadQueries,
        meetup_id: MeetupId,
        buffer: usize,
    ) -> Result<Option<Self>, QueryError> {
        Self::load_for(queries, meetup_id, Audience::Public, buffer).await
    }

    /// Loads the meetup's view for `audience` from the read model. `None`: no
    /// such meetup.
    pub async fn load_for(
        queries: &dyn ReadQueries,
        meetup_id: MeetupId,
        audience: Audience,
        buffer: usize,
    ) -> Result<Option<Self>, QueryError> {
        let Some(view) = load_view(queries, meetup_id, audience).await? else {
            return Ok(None);
        };
        let position = view.position;
        Ok(Some(Self {
            meetup_id,
            audience,
            state: Mutex::new(State {
                view,
                pending: Pending::default(),
                history: VecDeque::new(),
                history_from: position,
                snapshot: None,
            }),
            frames: broadcast::channel(buffer.max(1)).0,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a panic mid-update; the view is still the best
        // there is, and the next reload replaces it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many clients are connected.
    pub fn clients(&self) -> usize {
        self.frames.receiver_count()
    }

    /// How long changes are merged with this room's clients: `tick`, or
    /// longer once a frame per tick would take more than
    /// [`SENDS_PER_SECOND`] sends.
    pub fn tick(&self, tick: Duration) -> Duration {
        let clients = u64::try_from(self.clients()).unwrap_or(u64::MAX);
        let spread = Duration::from_micros(clients.saturating_mul(1_000_000) / SENDS_PER_SECOND);
        tick.max(spread)
    }

    /// Joins a client: its first frames and its subscription, taken together so
    /// that nothing falls between them.
    pub fn join(&self, after: Option<i64>) -> Joined {
        let mut state = self.lock();
        let frames = self.frames.subscribe();
        let resumable = after.filter(|a| *a >= state.history_from && *a <= state.view.position);
        match resumable {
            Some(after) => Joined {
                initial: state
                    .history
                    .iter()
                    .filter(|f| f.position > after)
                    .cloned()
                    .collect(),
                frames,
                resume_refused: false,
            },
            None => Joined {
                initial: vec![snapshot(&mut state)],
                frames,
                resume_refused: after.is_some(),
            },
        }
    }

    /// A fresh snapshot (for a client that fell behind).
    pub fn snapshot(&self) -> Sent {
        snapshot(&mut self.lock())
    }

    /// Applies changes from the stream; they go out at the next tick.
    pub fn apply(&self, position: i64, committed_at: DateTime<Utc>, changes: Vec<Change>) {
        let mut state = self.lock();
        if position <= state.view.position {
            return;
        }
        let state = &mut *state;
        for change in changes {
            match change {
                Change::Question { question } => {
                    let id = question.id;
                    if self.audience.sees(question.status) {
                        state.view.questions.insert(id, question);
                        state.pending.upserted.insert(id);
                        state.pending.removed.remove(&id);
                    } else if state.view.questions.remove(&id).is_some() {
                        // Only what the audience saw is said to be gone: a
                        // question it never saw (pending, for the public) is
                        // not even named.
                        state.pending.removed.insert(id);
                        state.pending.upserted.remove(&id);
                    }
                }
                Change::Meetup { meetup } => {
                    state.view.meetup = meetup;
                    state.pending.meetup = true;
                }
            }
        }
        state.view.position = position;
        let oldest = state.pending.oldest_commit.get_or_insert(committed_at);
        *oldest = (*oldest).min(committed_at);
        let newest = state.pending.newest_commit.get_or_insert(committed_at);
        *newest = (*newest).max(committed_at);
    }

    /// Sends what changed since the last tick as one frame; false when there
    /// was nothing to send.
    pub fn flush(&self) -> bool {
        let mut state = self.lock();
        if state.pending.is_empty() {
            return false;
        }
        let state = &mut *state;
        let pending = std::mem::take(&mut state.pending);
        let leaderboard = rank(&state.view.questions);
        let leaderboard_changed = leaderboard != state.view.leaderboard;
        state.view.leaderboard = leaderboard;
        let mut changes = Vec::new();
        if pending.meetup {
            changes.push(ChangeMessage::MeetupUpdated {
                meetup: &state.view.meetup,
            });
        }
        for id in &pending.upserted {
            if let Some(question) = state.view.questions.get(id) {
                changes.push(ChangeMessage::QuestionUpserted { question });
            }
        }
        for id in &pending.removed {
            changes.push(ChangeMessage::QuestionRemoved { id: *id });
        }
        if leaderboard_changed {
            changes.push(ChangeMessage::Leaderboard {
                items: &state.view.leaderboard,
            });
        }
        let frame = Frame::Changes {
            v: VERSION,
            position: state.view.position,
            committed_at: pending.newest_commit,
            changes,
        };
        let sent = Sent {
            position: state.view.position,
            text: to_text(&frame),
            committed_at: pending.oldest_commit,
            snapshot: false,
            made_at: Instant::now(),
        };
        if let Some(newest) = pending.newest_commit {
            qicoo_projections::changes::record_stage("flushed", newest);
        }
        state.snapshot = None;
        state.history.push_back(sent.clone());
        while state.history.len() > HISTORY {
            if let Some(dropped) = state.history.pop_front() {
                state.history_from = dropped.position;
            }
        }
        let _ = self.frames.send(sent);
        true
    }

    /// Replaces the view with a fresh one from the read model and sends every
    /// client a snapshot.
    pub async fn reload(&self, queries: &dyn ReadQueries) -> Result<(), QueryError> {
        let Some(view) = load_view(queries, self.meetup_id, self.audience).await? else {
            return Ok(());
        };
        let mut state = self.lock();
        let position = view.position.max(state.view.position);
        state.view = View { position, ..view };
        state.pending = Pending::default();
        state.history.clear();
        state.history_from = position;
        // The cached snapshot shows the view just replaced.
        state.snapshot = None;
        let sent = snapshot(&mut state);
        let _ = self.frames.send(sent);
        Ok(())
    }
}

fn to_text(frame: &Frame<'_>) -> Utf8Bytes {
    // Serialising plain data to JSON cannot fail.
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

/// The snapshot of the current view, cached until the view changes.
fn snapshot(state: &mut State) -> Sent {
    if let Some(cached) = &state.snapshot {
        return cached.clone();
    }
    let mut questions: Vec<&QuestionView> = state.view.questions.values().collect();
    questions.sort_by(|a, b| by_rank(a, b));
    let frame = Frame::Snapshot {
        v: VERSION,
        position: state.view.position,
        meetup: &state.view.meetup,
        questions,
        leaderboard: &state.view.leaderboard,
    };
    let sent = Sent {
        position: state.view.position,
        text: to_text(&frame),
        committed_at: None,
        snapshot: true,
        made_at: Instant::now(),
    };
    state.snapshot = Some(sent.clone());
    sent
}

/// Orders questions by the one ranking rule, the same as `GET /leaderboard`.
fn by_rank(a: &QuestionView, b: &QuestionView) -> std::cmp::Ordering {
    let rank = |q: &QuestionView| Rank {
        likes: q.likes,
        posted_position: q.posted_position,
    };
    // Posted positions differ between questions; the id only makes the order
    // total should a view ever lack one.
    rank_order(rank(a), rank(b)).then(a.id.cmp(&b.id))
}

/// The leaderboard: the questions the ranking rule ranks, in its order.
fn rank(questions: &HashMap<QuestionId, QuestionView>) -> Vec<QuestionId> {
    let mut open: Vec<&QuestionView> = questions
        .values()
        .filter(|q| is_ranked(q.status, q.answered))
        .collect();
    open.sort_by(|a, b| by_rank(a, b));
    open.iter().take(LEADERBOARD_LEN).map(|q| q.id).collect()
}

/// Reads the view of `audience`: the position first, so the data reflects at
/// least it.
async fn load_view(
    queries: &dyn ReadQueries,
    meetup_id: MeetupId,
    audience: Audience,
) -> Result<Option<View>, QueryError> {
    let position = queries.position().await?;
    let Some(meetup) = queries.meetup(meetup_id).await? else {
        return Ok(None);
    };
    let mut questions = HashMap::new();
    let mut cursor = None;
    loop {
        let query = match audience {
            Audience::Public => QuestionQuery {
                sort: Sort::Recent,
                status: Some(QuestionStatus::Published),
                limit: qicoo_projections::MAX_LIMIT,
                cursor,
                ..QuestionQuery::default()
            },
            // The organizer's question list: pending, published and rejected.
            Audience::Organizer => QuestionQuery {
                sort: Sort::Recent,
                status: None,
                limit: qicoo_projections::MAX_LIMIT,
                cursor,
                viewer: Viewer {
                    participant: None,
                    organizer: true,
                },
            },
        };
        let page = queries.questions(meetup_id, &query).await?;
        for question in page.items.into_iter().filter(|q| audience.sees(q.status)) {
            questions.insert(question.id, question);
        }
        match page.next_cursor {
            Some(next) if questions.len() < MAX_QUESTIONS => cursor = Some(next),
            _ => break,
        }
    }
    let leaderboard = rank(&questions);
    Ok(Some(View {
        meetup,
        questions,
        leaderboard,
        position,
    }))
}

/// Drives a room: applies what the hub sends and flushes it, and ends once no
/// client has been connected for `idle_ticks` ticks. Returns when the inbox
/// closes or the room goes idle.
///
/// A change after a quiet spell (no frame for a tick) goes out at once. One
/// that comes sooner is held until a tick after the last frame and merged
/// with whatever else comes meanwhile: a client gets at most one frame per
/// tick, and no change waits longer than a tick for its frame. The tick is
/// the room's ([`Room::tick`]): longer in a crowded room.
pub async fn run_room(
    room: Arc<Room>,
    mut inbox: mpsc::UnboundedReceiver<RoomInput>,
    queries: Arc<dyn ReadQueries>,
    tick: Duration,
    idle_ticks: u32,
    is_idle: impl Fn() -> bool,
) {
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle = 0;
    let mut last_frame = Instant::now() - tick;
    // When held changes go out, if any are held.
    let mut due: Option<Instant> = None;
    loop {
        let flush_at = due.unwrap_or_else(|| Instant::now() + tick);
        tokio::select! {
            input = inbox.recv() => match input {
                Some(RoomInput::Changes { position, committed_at, changes }) => {
                    room.apply(position, committed_at, changes);
                    if due.is_none() {
                        let tick = room.tick(tick);
                        if last_frame.elapsed() >= tick {
                            if room.flush() {
                                last_frame = Instant::now();
                            }
                        } else {
                            due = Some(last_frame + tick);
                        }
                    }
                }
                Some(RoomInput::Resync) => {
                    if let Err(e) = room.reload(queries.as_ref()).await {
                        tracing::warn!(error = %e, meetup = %room.meetup_id, "live view reload failed");
                    }
                }
                None => return,
            },
            () = tokio::time::sleep_until(flush_at), if due.is_some() => {
                due = None;
                if room.flush() {
                    last_frame = Instant::now();
                }
            }
            _ = ticker.tick() => {
                if room.clients() == 0 {
                    idle += 1;
                    if idle >= idle_ticks && is_idle() {
                        return;
                    }
                } else {
                    idle = 0;
                }
            }
        }
    }
}
