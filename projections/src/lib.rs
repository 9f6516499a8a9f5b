//! Qicoo's read side: the gap-safe event feed, projection workers and their
//! checkpoints, the read model (MySQL / SQLite), the leaderboard (Redis /
//! in memory), the queries the API answers from them, and replay.
//!
//! The API uses [`ReadSide`]: [`ReadSide::connect`], then
//! [`ReadSide::queries`], [`ReadSide::spawn_projectors`],
//! [`ReadSide::status`] and [`ReadSide::replay`]. The pieces are public too,
//! so that each trait's adapters can be exercised by one contract suite.

pub mod archive;
pub mod audit;
pub mod bulk;
pub mod changes;
pub mod error;
pub mod event;
pub mod feed;
pub mod leaderboard;
mod publishing;
pub mod queries;
pub mod ranking;
mod read_side;
pub mod readmodel;
pub mod runner;
pub mod transitions;
mod views;

pub use error::{ApplyError, QueryError, ReadSideError, StoreError};
pub use event::{Checkpoint, DomainEvent, FeedPosition, StoredEvent};
pub use feed::{AppendNotifier, EventFeed, PostgresFeed, SqliteFeed, Wakeups};
pub use leaderboard::{
    LeaderboardProjection, LeaderboardStore, MemoryLeaderboard, Ranked, RedisLeaderboard,
    LEADERBOARD,
};
pub use queries::{
    MeetupView, ModelQueries, Page, QuestionQuery, QuestionView, ReadQueries, Sort, Viewer,
    MAX_LIMIT,
};
pub use ranking::{is_ranked, rank_order, Rank};
pub use read_side::{
    Fresh, ReadSide, ReadSideConfig, Rebuildable, Replayed, PROJECTIONS, QUERY_TIMEOUT,
};
pub use readmodel::{ReadModelStore, SqlReadModel, READ_MODEL};
pub use runner::{Projection, ProjectionStatus, WorkerSettings, WorkerState};
