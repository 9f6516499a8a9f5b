//! This node's end of the change stream: one reader that hands each meetup's
//! changes to that meetup's rooms (its public one, and its organizer's), if a
//! client here watches it. A meetup nobody watches on this node costs nothing
//! beyond reading past its changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qicoo_domain::MeetupId;
use qicoo_projections::changes::{Change, ChangeStream};
use qicoo_projections::{QueryError, ReadQueries};
use tokio::sync::{mpsc, OnceCell};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::room::{run_room, Audience, Joined, Room, RoomInput};

/// Tuning of the live stream.
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// Changes that keep coming are merged and sent once per tick (longer in
    /// a crowded room: see [`super::room::Room::tick`]).
    pub tick: Duration,
    /// Frames buffered per client before it counts as too slow (and gets a
    /// snapshot instead).
    pub client_buffer: usize,
    /// Ping interval; a client silent for three intervals is disconnected.
    pub heartbeat: Duration,
    /// Longest wait for a client to take a frame; one that stops reading is
    /// dropped after it, freeing its connection.
    pub write_timeout: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(20),
            client_buffer: 64,
            heartbeat: Duration::from_secs(20),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// A room's key: whose view of which meetup.
type RoomKey = (MeetupId, Audience);

/// A meetup's place in the hub, registered before its view is loaded so that
/// no change published meanwhile is missed.
struct Slot {
    room: OnceCell<Arc<Room>>,
    inbox: mpsc::UnboundedSender<RoomInput>,
    inbox_rx: Mutex<Option<mpsc::UnboundedReceiver<RoomInput>>>,
}

/// The live stream's hub on this node.
pub struct LiveHub {
    slots: Mutex<HashMap<RoomKey, Arc<Slot>>>,
    queries: Arc<dyn ReadQueries>,
    pub settings: LiveSettings,
    /// Fires on shutdown: sessions close with 1001 (going away), rooms and
    /// the change-stream reader stop.
    pub shutdown: CancellationToken,
    /// The reader and the rooms, so that shutdown can wait for them.
    tasks: TaskTracker,
}

/// Why a client could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("no such meetup")]
    NotFound,
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl LiveHub {
    /// A hub with no reader of the change stream: its rooms only ever show
    /// their first snapshot. What a node without WebSocket clients (the
    /// projector role) has.
    pub fn new(
        queries: Arc<dyn ReadQueries>,
        settings: LiveSettings,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            slots: Mutex::new(HashMap::new()),
            queries,
            settings,
            shutdown,
            tasks: TaskTracker::new(),
        })
    }

    /// Starts the hub and its reader of `changes`.
    pub fn start(
        queries: Arc<dyn ReadQueries>,
        changes: Arc<dyn ChangeStream>,
        settings: LiveSettings,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let hub = Self::new(queries, settings, shutdown);
        hub.read(changes);
        hub
    }

    /// Starts this node's one reader of `changes`, from the read model's
    /// position.
    pub fn read(self: &Arc<Self>, changes: Arc<dyn ChangeStream>) {
        self.tasks.spawn(read_changes(self.clone(), changes));
    }

    /// Waits until the reader and every room have stopped (they stop once
    /// [`LiveHub::shutdown`] fires, rooms also when idle).
    pub async fn stopped(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<RoomKey, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many rooms (a meetup's public one, its organizer's) this node has.
    pub fn rooms(&self) -> usize {
        self.slots().len()
    }

    /// Joins a client to a meetup's public room, creating and loading the room
    /// if needed.
    pub async fn join(
        self: &Arc<Self>,
        meetup: MeetupId,
        after: Option<i64>,
    ) -> Result<(Arc<Room>, Joined), JoinError> {
        self.join_as(meetup, Audience::Public, after).await
    }

    /// Joins a client to a meetup's room for `audience` (the caller has checked
    /// that the client belongs to it).
    pub async fn join_as(
        self: &Arc<Self>,
        meetup: MeetupId,
        audience: Audience,
        after: Option<i64>,
    ) -> Result<(Arc<Room>, Joined), JoinError> {
        let key = (meetup, audience);
        loop {
            let slot = {
                let mut slots = self.slots();
                let slot = slots.entry(key).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    Arc::new(Slot {
                        room: OnceCell::new(),
                        inbox: tx,
                        inbox_rx: Mutex::new(Some(rx)),
                    })
                });
                if let Some(room) = slot.room.get() {
                    // Subscribing under the hub's lock: the room cannot be
                    // retired between the lookup and the subscription.
                    return Ok((room.clone(), room.join(after)));
                }
                slot.clone()
            };
            let loaded = slot
                .room
                .get_or_try_init(|| self.create_room(key, &slot))
                .await;
            match loaded {
                Ok(_) => continue,
                Err(JoinError::NotFound) => {
                    self.retire(key, &slot);
                    return Err(JoinError::NotFound);
                }
                Err(e) => {
                    self.retire(key, &slot);
                    return Err(e);
                }
            }
        }
    }

    async fn create_room(
        self: &Arc<Self>,
        key: RoomKey,
        slot: &Arc<Slot>,
    ) -> Result<Arc<Room>, JoinError> {
        let (meetup, audience) = key;
        let room = Room::load_for(
            self.queries.as_ref(),
            meetup,
            audience,
            self.settings.client_buffer,
        )
        .await?
        .ok_or(JoinError::NotFound)?;
        let room = Arc::new(room);
        let inbox = slot
            .inbox_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(inbox) = inbox {
            let hub = self.clone();
            let this_slot = slot.clone();
            let task_room = room.clone();
            // Idle rooms go after five seconds without clients.
            let idle_ticks = (Duration::from_secs(5).as_millis()
                / self.settings.tick.as_millis().max(1))
            .max(1) as u32;
            let shutdown = self.shutdown.clone();
            self.tasks.spawn(async move {
                tokio::select! {
                    () = run_room(
                        task_room,
                        inbox,
                        hub.queries.clone(),
                        hub.settings.tick,
                        idle_ticks,
                        || hub.retire_if_idle(key, &this_slot),
                    ) => {}
                    () = shutdown.cancelled() => {}
                }
            });
        }
        Ok(room)
    }

    fn retire(&self, key: RoomKey, slot: &Arc<Slot>) {
        let mut slots = self.slots();
        if slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(&key);
        }
    }

    /// Removes the room if it still has no client (checked under the lock that
    /// joins subscribe under).
    fn retire_if_idle(&self, key: RoomKey, slot: &Arc<Slot>) -> bool {
        let mut slots = self.slots();
        let idle = slot.room.get().is_none_or(|room| room.clients() == 0);
        if idle && slots.get(&key).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(&key);
        }
        idle
    }

    fn dispatch(
        &self,
        position: i64,
        committed_at: chrono::DateTime<chrono::Utc>,
        changes: Vec<Change>,
    ) {
        qicoo_projections::changes::record_stage("received", committed_at);
        let mut by_meetup: BTreeMap<MeetupId, Vec<Change>> = BTreeMap::new();
        for change in changes {
            by_meetup
                .entry(change.meetup_id())
                .or_default()
                .push(change);
        }
        let slots = self.slots();
        for (meetup, changes) in by_meetup {
            // Each room filters what its audience may see; the organizer's
            // exists only while an organizer watches, and only then are the
            // changes copied.
            let public = slots.get(&(meetup, Audience::Public));
            let organizer = slots.get(&(meetup, Audience::Organizer));
            let input = |changes| RoomInput::Changes {
                position,
                committed_at,
                changes,
            };
            match (public, organizer) {
                (Some(public), Some(organizer)) => {
                    let _ = organizer.inbox.send(input(changes.clone()));
                    let _ = public.inbox.send(input(changes));
                }
                (Some(only), None) | (None, Some(only)) => {
                    let _ = only.inbox.send(input(changes));
                }
                (None, None) => {}
            }
        }
    }

    fn resync_all(&self) {
        for slot in self.slots().values() {
            let _ = slot.inbox.send(RoomInput::Resync);
        }
    }
}

/// The node's single reader of the change stream.
async fn read_changes(hub: Arc<LiveHub>, changes: Arc<dyn ChangeStream>) {
    let after = loop {
        match hub.queries.position().await {
            Ok(position) => break position,
            Err(e) => {
                tracing::warn!(error = %e, "live stream: cannot read the read model's position; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = hub.shutdown.cancelled() => return,
                }
            }
        }
    };
    let mut stream = changes.subscribe(after);
    loop {
        let item = tokio::select! {
            item = stream.recv() => item,
            _ = hub.shutdown.cancelled() => break,
        };
        match item {
            Some(Ok(batch)) if batch.resync => hub.resync_all(),
            Some(Ok(batch)) => hub.dispatch(batch.position, batch.committed_at, batch.changes),
            Some(Err(gap)) => {
                // Carrying on would leave every room with a hole: each reloads
                // and sends its clients a fresh snapshot.
                tracing::warn!(error = %gap, "live stream fell behind; refreshing every room");
                hub.resync_all();
            }
            None => break,
        }
    }
    stream.close().await;
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use qicoo_projections::changes::{ChangeBatch, RedisChanges};
    use qicoo_testkit::RedisTestPrefix;
    use tokio::sync::broadcast;
    use tokio::time::Instant;

    use super::*;
    use crate::live::test_support::MemoryQueries;

    fn settings() -> LiveSettings {
        LiveSettings {
            tick: Duration::from_millis(100),
            client_buffer: 64,
            heartbeat: Duration::from_secs(20),
            write_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_room_closes_five_seconds_after_its_last_client_left_and_not_before() {
        let queries = Arc::new(MemoryQueries::new(1));
        let meetup = queries.meetup.id;
        let hub = LiveHub::new(queries, settings(), CancellationToken::new());
        let (room, joined) = hub.join(meetup, None).await.expect("joins");
        assert_eq!(hub.rooms(), 1);
        // With a client, the room stays however long it waits.
        assert!(
            tokio::time::timeout(Duration::from_secs(60), hub.stopped())
                .await
                .is_err(),
            "a room with a client closed"
        );
        assert_eq!(hub.rooms(), 1);
        drop(joined);
        drop(room);
        let left = Instant::now();
        hub.stopped().await;
        assert_eq!(hub.rooms(), 0);
        let idle = left.elapsed();
        assert!(
            idle > Duration::from_millis(4_800) && idle <= Duration::from_secs(5),
            "closed after {idle:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rooms_and_the_reader_stop_on_shutdown() {
        let queries = Arc::new(MemoryQueries::new(1));
        let meetup = queries.meetup.id;
        let shutdown = CancellationToken::new();
        let hub = LiveHub::start(
            queries,
            Arc::new(qicoo_projections::changes::InProcessChanges::default()),
            settings(),
            shutdown.clone(),
        );
        let (_room, _joined) = hub.join(meetup, None).await.expect("joins");
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(1), hub.stopped())
            .await
            .expect("stopped at once, client or not");
    }

    #[tokio::test]
    async fn a_reader_whose_entries_were_trimmed_sends_its_clients_a_fresh_snapshot() {
        let Some(prefix) = RedisTestPrefix::create().await else {
            return;
        };
        let changes = Arc::new(
            RedisChanges::with_retention(&prefix.url, &prefix.prefix, 10).expect("redis url"),
        );
        let queries = Arc::new(MemoryQueries::new(1));
        let hub = LiveHub::new(queries.clone(), settings(), CancellationToken::new());
        let (_room, mut joined) = hub.join(queries.meetup.id, None).await.expect("joins");
        assert!(joined.initial[0].snapshot);

        // While this node was paused at position 1, far more was published
        // than the stream keeps, including a question for this meetup.
        let question = queries.question(3, 150);
        queries
            .questions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(question.clone());
        for position in 2..=400 {
            let batch = ChangeBatch {
                position,
                committed_at: chrono::Utc::now(),
                changes: Vec::new(),
                resync: false,
            };
            changes.publish(&batch).await.expect("published");
        }
        queries.position.store(1, Ordering::SeqCst);
        hub.read(changes);

        let snapshot = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let frame = joined.frames.recv().await.expect("the room is open");
                if frame.snapshot {
                    return frame;
                }
            }
        })
        .await
        .expect("a fresh snapshot after the gap");
        assert!(
            snapshot.text.as_str().contains(&question.id.to_string()),
            "the snapshot shows what the gap hid"
        );
        hub.shutdown.cancel();
        hub.stopped().await;
        prefix.drop_keys().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_question_reaches_the_organizers_room_and_not_the_public_one() {
        use qicoo_projections::changes::{ChangeStream, InProcessChanges};

        let queries = Arc::new(MemoryQueries::new(1));
        let changes = Arc::new(InProcessChanges::default());
        let hub = LiveHub::start(
            queries.clone(),
            changes.clone(),
            settings(),
            CancellationToken::new(),
        );
        let meetup = queries.meetup.id;
        let (_public, mut public) = hub.join(meetup, None).await.expect("joins");
        let (_organizer, mut organizer) = hub
            .join_as(meetup, Audience::Organizer, None)
            .await
            .expect("joins");
        assert_eq!(hub.rooms(), 2);
        // The reader subscribes once it has read the position.
        tokio::time::timeout(Duration::from_secs(5), async {
            while changes.subscribers() == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the reader subscribed");
        let pending = qicoo_projections::QuestionView {
            status: qicoo_domain::QuestionStatus::Pending,
            ..queries.question(0, 2)
        };
        let published = queries.question(0, 3);
        for (position, question) in [(2, pending.clone()), (3, published.clone())] {
            let batch = ChangeBatch {
                position,
                committed_at: chrono::Utc::now(),
                changes: vec![Change::Question { question }],
                resync: false,
            };
            changes.publish(&batch).await.expect("published");
        }
        // What a room sent up to position 3, the last published.
        async fn sent_until_3(
            frames: &mut broadcast::Receiver<super::super::room::Sent>,
        ) -> String {
            let mut seen = String::new();
            loop {
                let frame = frames.recv().await.expect("the room sends");
                seen.push_str(&frame.text);
                if frame.position >= 3 {
                    return seen;
                }
            }
        }
        let deadline = Duration::from_secs(5);
        let organizer_saw = tokio::time::timeout(deadline, sent_until_3(&mut organizer.frames))
            .await
            .expect("the organizer's room sent position 3");
        let public_saw = tokio::time::timeout(deadline, sent_until_3(&mut public.frames))
            .await
            .expect("the public room sent position 3");
        assert!(
            organizer_saw.contains(&pending.id.to_string()),
            "{organizer_saw}"
        );
        assert!(
            organizer_saw.contains(&published.id.to_string()),
            "{organizer_saw}"
        );
        assert!(
            public_saw.contains(&published.id.to_string()),
            "{public_saw}"
        );
        assert!(
            !public_saw.contains(&pending.id.to_string()),
            "{public_saw}"
        );
    }
}
