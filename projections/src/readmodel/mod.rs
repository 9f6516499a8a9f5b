//! The read model: meetups, questions, votes and per-minute activity, built by
//! the read-model projection and read by the queries.
//!
//! [`ReadModelStore`] is the seam: what the projection writes (it is a
//! [`Projection`]), what the queries read, how a rebuild builds fresh tables
//! and swaps them in, and the lease that keeps two rebuilds apart. Its
//! adapters, [`mysql`] and [`sqlite`], sit side by side and pass one contract
//! suite; they share the read model's logic, written once over the small SQL
//! layer in [`sql`] ([`projection`] writes, [`reads`] reads). A batch of
//! events and the checkpoint are written in one transaction, the checkpoint
//! first (compare-and-set), so a worker that lost its place finds out before
//! it writes anything.

use std::sync::Arc;

use async_trait::async_trait;
use qicoo_domain::{MeetupId, OrganizerKeyHash, ParticipantId, QuestionId, QuestionStatus};

use crate::bulk::BulkLoad;
use crate::error::{ReadSideError, StoreError};
use crate::event::Checkpoint;
use crate::runner::Projection;
use crate::views::{MeetupView, QuestionView};

mod batch;
mod chain;
mod fold;
mod load;
pub mod mysql;
mod projection;
mod reads;
pub(crate) mod sql;

pub use chain::{ChainHead, StoredLink};
pub mod sqlite;
#[cfg(test)]
mod tests;

use sql::{Backend, STORE};

/// The read-model projection's name (its checkpoint row and lock).
pub const READ_MODEL: &str = "read_model";

/// The tables a replay rebuilds and swaps in together. The checkpoint table is
/// one of them, so data and checkpoint always match.
pub(crate) const TABLES: [&str; 8] = [
    "meetups",
    "questions",
    "votes",
    "activity",
    "activity_participants",
    "event_links",
    "chain_heads",
    "projection_checkpoints",
];

/// Suffix of the fresh tables a replay builds.
const FRESH: &str = "_replay";

/// How a meetup is looked up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetupKey<'a> {
    Id(MeetupId),
    /// A join code, already upper-cased.
    Code(&'a str),
}

/// Which questions a reader may see: those in one of `statuses`, plus the
/// pending ones `pending_of` wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Visible {
    pub statuses: Vec<QuestionStatus>,
    /// A participant who sees their own pending questions.
    pub pending_of: Option<ParticipantId>,
    /// Only questions not yet answered.
    pub unanswered_only: bool,
}

/// Order of a question list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Most liked first, earlier posted first among equals.
    #[default]
    Top,
    /// Newest first.
    Recent,
}

/// Where a page of a list starts: after the question with these likes, posted
/// at this position (likes are ignored for [`Sort::Recent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct After {
    pub likes: i64,
    pub posted_position: i64,
}

/// A list of a meetup's questions to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionList {
    pub visible: Visible,
    pub sort: Sort,
    pub after: Option<After>,
    /// At most this many rows.
    pub limit: u32,
    /// Fill in `liked_by_me` for this participant.
    pub liked_by: Option<ParticipantId>,
}

/// A named lease in the read model's database that at most one holder has
/// at a time (the replay lock); it expires unless renewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: &'static str,
    pub holder: String,
}

/// Where the read model is kept.
#[async_trait]
pub trait ReadModelStore: Projection {
    /// Applies the read-model migrations.
    async fn migrate(&self) -> Result<(), ReadSideError>;

    /// Whether every read-model migration this binary carries is applied,
    /// changing nothing.
    async fn schema_status(&self) -> Result<qicoo_storage::SchemaStatus, StoreError>;

    /// The stored checkpoint of the read-model projection.
    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError>;

    /// How far the read model reflects the event store: every event up to
    /// the returned position is applied (0 before anything was).
    async fn position(&self) -> Result<i64, StoreError>;

    /// A meetup.
    async fn meetup(&self, key: MeetupKey<'_>) -> Result<Option<MeetupView>, StoreError>;

    /// The hash of a meetup's organizer key.
    async fn organizer_key_hash(
        &self,
        meetup: MeetupId,
    ) -> Result<Option<OrganizerKeyHash>, StoreError>;

    /// A page of a meetup's questions, in the list's order.
    async fn questions(
        &self,
        meetup: MeetupId,
        list: &QuestionList,
    ) -> Result<Vec<QuestionView>, StoreError>;

    /// The visible questions among `ids`, in no particular order.
    async fn questions_by_id(
        &self,
        ids: &[QuestionId],
        visible: &Visible,
        liked_by: Option<ParticipantId>,
    ) -> Result<Vec<QuestionView>, StoreError>;

    /// The meetup a question belongs to, whatever its status.
    async fn question_meetup(&self, id: QuestionId) -> Result<Option<MeetupId>, StoreError>;

    /// Every meetup's id, in id order.
    async fn meetup_ids(&self) -> Result<Vec<MeetupId>, StoreError>;

    /// A meetup's newest hash-chain link.
    async fn chain_head(&self, meetup: MeetupId) -> Result<Option<ChainHead>, StoreError>;

    /// The stored links of a meetup's events after `after_position`, in
    /// position order, at most `limit`.
    async fn chain_links(
        &self,
        meetup: MeetupId,
        after_position: i64,
        limit: u32,
    ) -> Result<Vec<StoredLink>, StoreError>;

    /// The stored links of the events at `positions` (those chained).
    async fn links_at(&self, positions: &[i64]) -> Result<Vec<StoredLink>, StoreError>;

    /// The same database, but the fresh tables a rebuild writes.
    fn fresh(&self) -> Arc<dyn ReadModelStore>;

    /// A loader that fills these tables in bulk (a rebuild's fresh ones,
    /// empty).
    fn bulk_load(&self) -> Box<dyn BulkLoad>;

    /// Creates the fresh tables, empty (dropping leftovers of an earlier,
    /// interrupted rebuild).
    async fn create_fresh(&self) -> Result<(), StoreError>;

    /// Swaps the fresh tables in, atomically; the old ones are dropped.
    async fn swap_in_fresh(&self) -> Result<(), StoreError>;

    /// Drops the fresh tables (a cancelled or failed rebuild).
    async fn drop_fresh(&self) -> Result<(), StoreError>;

    /// Takes `lease` until `expires_at_ms` (Unix milliseconds) if nobody
    /// holds it or its holder let it expire by `now_ms`; false when someone
    /// else holds it.
    async fn take_lease(
        &self,
        lease: &Lease,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError>;

    /// Extends a lease its holder still has; false when it was lost.
    async fn renew_lease(&self, lease: &Lease, expires_at_ms: i64) -> Result<bool, StoreError>;

    /// Gives a lease up.
    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError>;
}

pub(crate) fn sql_err(e: sqlx::Error) -> StoreError {
    if not_migrated(&e) {
        // A read model whose tables are not there yet is one being set up
        // (a serving process migrates it when it appears): not ready, not a
        // bug in the request.
        return StoreError::Unavailable {
            store: STORE,
            message: format!("the read model is not migrated yet: {e}"),
        };
    }
    StoreError::from_sqlx(STORE, e)
}

/// Whether `e` says a table does not exist (MySQL SQLSTATE 42S02, SQLite's
/// "no such table").
fn not_migrated(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("42S02") || db.message().starts_with("no such table")
        }
        _ => false,
    }
}

/// The read model in a SQL database; [`mysql::read_model`] and
/// [`sqlite::read_model`] make one.
#[derive(Clone)]
pub struct SqlReadModel {
    backend: Arc<dyn Backend>,
    /// Appended to every table name: empty for the live tables, [`FRESH`] for
    /// the ones a replay is building.
    suffix: &'static str,
}

impl SqlReadModel {
    /// The read model in the database of `pool`.
    fn over<DB: sqlx::Database>(pool: sqlx::Pool<DB>) -> Self
    where
        sql::driver::Driver<DB>: Backend,
    {
        Self {
            backend: Arc::new(sql::driver::Driver::new(pool)),
            suffix: "",
        }
    }

    pub(crate) fn pool(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    /// The same database, but the fresh tables a rebuild writes.
    pub(crate) fn fresh_tables(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            suffix: FRESH,
        }
    }

    /// The name of a table in this set.
    pub(crate) fn t(&self, base: &str) -> String {
        format!("{base}{}", self.suffix)
    }
}

#[async_trait]
impl ReadModelStore for SqlReadModel {
    async fn migrate(&self) -> Result<(), ReadSideError> {
        Ok(self.backend.migrate().await?)
    }

    async fn schema_status(&self) -> Result<qicoo_storage::SchemaStatus, StoreError> {
        self.backend.schema_status().await.map_err(sql_err)
    }

    async fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.read_checkpoint().await
    }

    async fn position(&self) -> Result<i64, StoreError> {
        self.read_position().await
    }

    async fn meetup(&self, key: MeetupKey<'_>) -> Result<Option<MeetupView>, StoreError> {
        self.read_meetup(key).await
    }

    async fn organizer_key_hash(
        &self,
        meetup: MeetupId,
    ) -> Result<Option<OrganizerKeyHash>, StoreError> {
        self.read_organizer_key_hash(meetup).await
    }

    async fn questions(
        &self,
        meetup: MeetupId,
        list: &QuestionList,
    ) -> Result<Vec<QuestionView>, StoreError> {
        self.read_questions(meetup, list).await
    }

    async fn questions_by_id(
        &self,
        ids: &[QuestionId],
        visible: &Visible,
        liked_by: Option<ParticipantId>,
    ) -> Result<Vec<QuestionView>, StoreError> {
        self.read_questions_by_id(ids, visible, liked_by).await
    }

    async fn question_meetup(&self, id: QuestionId) -> Result<Option<MeetupId>, StoreError> {
        self.read_question_meetup(id).await
    }

    async fn meetup_ids(&self) -> Result<Vec<MeetupId>, StoreError> {
        self.read_meetup_ids().await
    }

    async fn chain_head(&self, meetup: MeetupId) -> Result<Option<ChainHead>, StoreError> {
        self.read_chain_head(meetup).await
    }

    async fn chain_links(
        &self,
        meetup: MeetupId,
        after_position: i64,
        limit: u32,
    ) -> Result<Vec<StoredLink>, StoreError> {
        self.read_chain_links(meetup, after_position, limit).await
    }

    async fn links_at(&self, positions: &[i64]) -> Result<Vec<StoredLink>, StoreError> {
        self.read_links_at(positions).await
    }

    fn fresh(&self) -> Arc<dyn ReadModelStore> {
        Arc::new(self.fresh_tables())
    }

    fn bulk_load(&self) -> Box<dyn BulkLoad> {
        Box::new(load::SqlBulkLoad::new(self.clone()))
    }

    async fn create_fresh(&self) -> Result<(), StoreError> {
        self.backend
            .create_copies(&TABLES, FRESH)
            .await
            .map_err(sql_err)
    }

    async fn swap_in_fresh(&self) -> Result<(), StoreError> {
        self.backend.swap_in(&TABLES, FRESH).await.map_err(sql_err)
    }

    async fn drop_fresh(&self) -> Result<(), StoreError> {
        for table in TABLES {
            self.backend
                .execute(&format!("DROP TABLE IF EXISTS {table}{FRESH}"), vec![])
                .await
                .map_err(sql_err)?;
        }
        Ok(())
    }

    async fn take_lease(
        &self,
        lease: &Lease,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write_take_lease(lease, now_ms, expires_at_ms).await
    }

    async fn renew_lease(&self, lease: &Lease, expires_at_ms: i64) -> Result<bool, StoreError> {
        self.write_renew_lease(lease, expires_at_ms).await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        self.write_release_lease(lease).await
    }
}

#[cfg(test)]
mod unmigrated {
    #![allow(clippy::expect_used)]

    use super::{mysql, sqlite, ReadModelStore};

    /// Queries before the migrations ran (a node that started while its read
    /// model was down, in the moment before it migrates it) are a store not
    /// ready yet, which the API answers with 503, not a bug answered with 500.
    async fn is_unavailable_until_migrated(model: &dyn ReadModelStore) {
        let err = model.position().await.expect_err("no tables yet");
        assert!(err.is_transient(), "{err}");
        model.migrate().await.expect("migrates");
        assert_eq!(model.position().await.expect("answers"), 0);
    }

    #[tokio::test]
    async fn a_sqlite_read_model_without_its_tables_is_unavailable_until_migrated() {
        // One connection: each would have its own in-memory database.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .expect("opens sqlite");
        is_unavailable_until_migrated(&sqlite::read_model(pool)).await;
    }

    #[tokio::test]
    async fn a_mysql_read_model_without_its_tables_is_unavailable_until_migrated() {
        let Some(db) = qicoo_testkit::MySqlTestDb::create().await else {
            return;
        };
        let pool = sqlx::MySqlPool::connect(&db.url).await.expect("connects");
        is_unavailable_until_migrated(&mysql::read_model(pool)).await;
        db.drop_db().await;
    }
}
