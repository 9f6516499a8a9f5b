//! `qicoo verify`: replays the event store into memory with the audit fold
//! and compares the result with what the projections stored: the hash chain
//! (which names an event altered or deleted afterwards), the read model
//! (meetups and questions, field by field) and a stored leaderboard.
//!
//! The comparison is made at the read model's checkpoint: the fold takes the
//! events up to it, in feed order, exactly those the read model applied.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use qicoo_domain::{metadata, MeetupId, QuestionStatus};

use super::chain::Link;
use super::fold::{MeetupFold, QuestionState};
use super::AuditError;
use crate::event::{Checkpoint, FeedPosition};
use crate::feed::EventFeed;
use crate::leaderboard::LeaderboardStore;
use crate::readmodel::{After, MeetupKey, QuestionList, ReadModelStore, Sort, Visible};
use crate::views::QuestionView;

/// Events read from the store at a time.
const BATCH: usize = 2_000;

/// How long to wait for the leaderboard to be where the read model is.
const ALIGN: Duration = Duration::from_secs(5);

/// One place where the stores disagree with the events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The event concerned, when one is.
    pub position: Option<i64>,
    pub meetup: Option<String>,
    pub question: Option<String>,
    /// What differs: `chain`, `event`, a field name, `leaderboard`…
    pub what: String,
    /// What the events say.
    pub expected: String,
    /// What the store holds.
    pub found: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.position {
            write!(f, "event at position {p}: ")?;
        }
        if let Some(m) = &self.meetup {
            write!(f, "meetup {m}: ")?;
        }
        if let Some(q) = &self.question {
            write!(f, "question {q}: ")?;
        }
        write!(
            f,
            "{}: the events say {}, the store holds {}",
            self.what, self.expected, self.found
        )
    }
}

/// What a verification found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Events replayed.
    pub events: u64,
    pub meetups: usize,
    pub questions: usize,
    /// The read model's checkpoint the comparison was made at.
    pub position: i64,
    /// Whether a stored leaderboard was compared.
    pub leaderboard_compared: bool,
    /// Every difference, the first in feed order first.
    pub differences: Vec<Difference>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }
}

/// What to verify and how to report progress.
pub struct Verify<'a> {
    pub feed: &'a dyn EventFeed,
    pub model: &'a dyn ReadModelStore,
    /// The leaderboard, when it is stored (Redis).
    pub leaderboard: Option<&'a dyn LeaderboardStore>,
    /// Only this meetup.
    pub meetup: Option<MeetupId>,
}

impl Verify<'_> {
    /// Replays and compares; `progress(done, total)` is called after each
    /// batch of events.
    pub async fn run(&self, mut progress: impl FnMut(u64, u64)) -> Result<Report, AuditError> {
        let checkpoint = self.model.checkpoint().await?.unwrap_or_default();
        let total = self.feed.count_after(FeedPosition::START).await?;
        let mut report = Report {
            position: checkpoint.max_position,
            ..Report::default()
        };
        let only = self.meetup.map(|m| m.to_string());
        let mut folds: BTreeMap<String, MeetupFold> = BTreeMap::new();
        let mut chained: HashMap<String, i64> = HashMap::new();
        let mut seen: HashSet<i64> = HashSet::new();
        let mut after = FeedPosition::START;
        let mut done = 0_u64;
        'read: loop {
            let events = self.feed.read(after, BATCH).await?;
            if events.is_empty() {
                break;
            }
            let mut batch = Vec::with_capacity(events.len());
            for event in &events {
                if event.feed > checkpoint.feed {
                    break;
                }
                batch.push(event);
            }
            let stored: HashMap<i64, String> = self
                .model
                .links_at(&batch.iter().map(|e| e.position()).collect::<Vec<_>>())
                .await?
                .into_iter()
                .map(|l| (l.position, l.link))
                .collect();
            for event in &batch {
                after = event.feed;
                done += 1;
                report.events += 1;
                let Some(meetup) = event.metadata.get(metadata::MEETUP_ID) else {
                    continue;
                };
                if only.as_ref().is_some_and(|m| m != meetup) {
                    continue;
                }
                let position = event.position();
                seen.insert(position);
                let fold = folds.entry(meetup.clone()).or_default();
                let previous = fold.link;
                let link = previous.next(event);
                match stored.get(&position) {
                    Some(found) if *found == link.to_hex() => {
                        chained.insert(meetup.clone(), position);
                    }
                    found => {
                        let after_chained = chained.get(meetup).copied().unwrap_or(0);
                        report.differences.push(
                            self.chain_difference(
                                meetup,
                                event.position(),
                                after_chained,
                                found,
                                link,
                                &seen,
                            )
                            .await?,
                        );
                        break 'read;
                    }
                }
                let decoded = match event.decode() {
                    Ok(d) => d,
                    Err(reason) => {
                        report.differences.push(Difference {
                            position: Some(position),
                            meetup: Some(meetup.clone()),
                            question: None,
                            what: "event".into(),
                            expected: "an event that decodes".into(),
                            found: reason,
                        });
                        break 'read;
                    }
                };
                if let Err(e) = fold.apply(event, &decoded) {
                    report.differences.push(Difference {
                        position: Some(position),
                        meetup: Some(meetup.clone()),
                        question: None,
                        what: "event".into(),
                        expected: "an event that fits the state before it".into(),
                        found: e.reason,
                    });
                    break 'read;
                }
            }
            progress(done, total);
            if batch.len() < events.len() {
                break;
            }
        }
        if !report.is_clean() {
            return Ok(report);
        }
        self.compare_chain_ends(&folds, &seen, &mut report).await?;
        if !report.is_clean() {
            return Ok(report);
        }
        report.meetups = folds.len();
        report.questions = folds.values().map(|f| f.questions.len()).sum();
        self.compare_read_model(&folds, &mut report).await?;
        if let Some(leaderboard) = self.leaderboard {
            report.leaderboard_compared =
                compare_leaderboard(leaderboard, &checkpoint, &folds, &mut report).await?;
        }
        Ok(report)
    }

    /// Names what broke the chain at `position`: an event deleted before
    /// it (a stored link whose event is gone), or this event altered.
    async fn chain_difference(
        &self,
        meetup: &str,
        position: i64,
        after_chained: i64,
        found: Option<&String>,
        expected: Link,
        seen: &HashSet<i64>,
    ) -> Result<Difference, AuditError> {
        if let Ok(id) = meetup.parse::<MeetupId>() {
            let between = self.model.chain_links(id, after_chained, 1_000).await?;
            if let Some(gone) = between
                .iter()
                .take_while(|l| l.position < position)
                .find(|l| !seen.contains(&l.position))
            {
                return Ok(Difference {
                    position: Some(gone.position),
                    meetup: Some(meetup.to_owned()),
                    question: None,
                    what: "chain".into(),
                    expected: "the event the chain recorded at this position".into(),
                    found: "no such event: it was deleted from the event store".into(),
                });
            }
        }
        Ok(Difference {
            position: Some(position),
            meetup: Some(meetup.to_owned()),
            question: None,
            what: "chain".into(),
            expected: format!("link {expected}"),
            found: match found {
                Some(link) => {
                    format!("link {link}: the stored event was altered after it was chained")
                }
                None => "no link: the event is not in the chain".into(),
            },
        })
    }

    /// Each meetup's chain must end where its events end: a stored link
    /// after the last event replayed means events were deleted at the end.
    async fn compare_chain_ends(
        &self,
        folds: &BTreeMap<String, MeetupFold>,
        seen: &HashSet<i64>,
        report: &mut Report,
    ) -> Result<(), AuditError> {
        for (meetup, fold) in folds {
            let Ok(id) = meetup.parse::<MeetupId>() else {
                continue;
            };
            let Some(head) = self.model.chain_head(id).await? else {
                continue;
            };
            if head.link == fold.link.to_hex()
                && u64::try_from(head.events).ok() == Some(fold.events)
            {
                continue;
            }
            // The first chained event the store no longer has, a page at a time.
            let mut gone = None;
            let mut after = 0;
            loop {
                let page = self.model.chain_links(id, after, 1_000).await?;
                if let Some(l) = page.iter().find(|l| !seen.contains(&l.position)) {
                    gone = Some(l.position);
                    break;
                }
                match page.last() {
                    Some(last) if page.len() == 1_000 => after = last.position,
                    _ => break,
                }
            }
            report.differences.push(Difference {
                position: gone.or(Some(head.position)),
                meetup: Some(meetup.clone()),
                question: None,
                what: "chain".into(),
                expected: format!("{} events ending with link {}", fold.events, fold.link),
                found: match gone {
                    Some(_) => {
                        "a chained event that is no longer in the event store: it was deleted"
                            .into()
                    }
                    None => format!("{} events ending with link {}", head.events, head.link),
                },
            });
            return Ok(());
        }
        Ok(())
    }

    async fn compare_read_model(
        &self,
        folds: &BTreeMap<String, MeetupFold>,
        report: &mut Report,
    ) -> Result<(), AuditError> {
        let mut ids: Vec<MeetupId> = match self.meetup {
            Some(m) => vec![m],
            None => self.model.meetup_ids().await?,
        };
        for key in folds.keys() {
            if let Ok(id) = key.parse() {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let fold = folds.get(&id.to_string());
            let expected = fold.and_then(|f| f.meetup.as_ref());
            let found = self.model.meetup(MeetupKey::Id(id)).await?;
            let diff = |what: &str, e: String, f: String| Difference {
                position: None,
                meetup: Some(id.to_string()),
                question: None,
                what: what.to_owned(),
                expected: e,
                found: f,
            };
            match (expected, found) {
                (None, None) => continue,
                (Some(_), None) => {
                    report
                        .differences
                        .push(diff("meetup", "a meetup".into(), "none".into()));
                    continue;
                }
                (None, Some(_)) => {
                    report
                        .differences
                        .push(diff("meetup", "no meetup".into(), "a meetup".into()));
                    continue;
                }
                (Some(e), Some(f)) => {
                    for (what, a, b) in [
                        ("title", e.title.clone(), f.title.clone()),
                        ("code", e.code.clone(), f.code.clone()),
                        ("qa_open", e.qa_open.to_string(), f.qa_open.to_string()),
                        (
                            "moderated",
                            e.moderated.to_string(),
                            f.moderated.to_string(),
                        ),
                        ("archived", e.archived.to_string(), f.archived.to_string()),
                    ] {
                        if a != b {
                            report.differences.push(diff(what, a, b));
                        }
                    }
                }
            }
            let Some(fold) = fold else { continue };
            let stored = all_questions(self.model, id).await?;
            compare_questions(id, fold, &stored, report);
        }
        Ok(())
    }
}

/// Every question of a meetup in the read model, whatever its status.
async fn all_questions(
    model: &dyn ReadModelStore,
    meetup: MeetupId,
) -> Result<Vec<QuestionView>, AuditError> {
    let mut out: Vec<QuestionView> = Vec::new();
    let mut after = None;
    loop {
        let list = QuestionList {
            visible: Visible {
                statuses: vec![
                    QuestionStatus::Pending,
                    QuestionStatus::Published,
                    QuestionStatus::Rejected,
                    QuestionStatus::Withdrawn,
                    QuestionStatus::Removed,
                ],
                pending_of: None,
                unanswered_only: false,
            },
            sort: Sort::Recent,
            after,
            limit: 100,
            liked_by: None,
        };
        let page = model.questions(meetup, &list).await?;
        let full = page.len() == 100;
        after = page.last().map(|q| After {
            likes: q.likes,
            posted_position: q.posted_position,
        });
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

fn compare_questions(
    meetup: MeetupId,
    fold: &MeetupFold,
    stored: &[QuestionView],
    report: &mut Report,
) {
    let diff = |question: String, what: &str, e: String, f: String| Difference {
        position: None,
        meetup: Some(meetup.to_string()),
        question: Some(question),
        what: what.to_owned(),
        expected: e,
        found: f,
    };
    let by_id: HashMap<_, &QuestionView> = stored.iter().map(|q| (q.id, q)).collect();
    for q in fold.questions_in_order() {
        let Some(s) = by_id.get(&q.id) else {
            report.differences.push(diff(
                q.id.to_string(),
                "question",
                "a question".into(),
                "none".into(),
            ));
            continue;
        };
        for (what, a, b) in field_pairs(q, s) {
            if a != b {
                report.differences.push(diff(q.id.to_string(), what, a, b));
            }
        }
    }
    for s in stored {
        if !fold.questions.contains_key(&s.id) {
            report.differences.push(diff(
                s.id.to_string(),
                "question",
                "none".into(),
                "a question".into(),
            ));
        }
    }
}

fn field_pairs(q: &QuestionState, s: &QuestionView) -> [(&'static str, String, String); 7] {
    [
        ("text", q.text.clone(), s.text.clone()),
        (
            "author_name",
            format!("{:?}", q.author_name),
            format!("{:?}", s.author_name),
        ),
        ("status", q.status.as_str().into(), s.status.as_str().into()),
        ("likes", q.likes.to_string(), s.likes.to_string()),
        ("answered", q.answered.to_string(), s.answered.to_string()),
        (
            "highlighted",
            q.highlighted.to_string(),
            s.highlighted.to_string(),
        ),
        (
            "posted_position",
            q.posted_position.to_string(),
            s.posted_position.to_string(),
        ),
    ]
}

/// Compares a stored leaderboard with the fold, once it is at the read
/// model's checkpoint; false when it did not get there in time (then it is
/// not compared, and the report says so).
async fn compare_leaderboard(
    leaderboard: &dyn LeaderboardStore,
    checkpoint: &Checkpoint,
    folds: &BTreeMap<String, MeetupFold>,
    report: &mut Report,
) -> Result<bool, AuditError> {
    let deadline = tokio::time::Instant::now() + ALIGN;
    loop {
        let at = leaderboard.checkpoint().await?.unwrap_or_default();
        if at.feed == checkpoint.feed {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (meetup, fold) in folds {
        let Ok(id) = meetup.parse::<MeetupId>() else {
            continue;
        };
        let expected: Vec<(String, i64)> = fold
            .ranked()
            .iter()
            .map(|q| (q.id.to_string(), q.likes))
            .collect();
        let found: Vec<(String, i64)> = leaderboard
            .top(id, expected.len() + 1)
            .await?
            .iter()
            .map(|r| (r.question_id.to_string(), r.likes))
            .collect();
        if let Some(i) =
            (0..expected.len().max(found.len())).find(|i| expected.get(*i) != found.get(*i))
        {
            report.differences.push(Difference {
                position: None,
                meetup: Some(meetup.clone()),
                question: expected.get(i).or(found.get(i)).map(|(q, _)| q.clone()),
                what: format!("leaderboard rank {}", i + 1),
                expected: expected.get(i).map_or("nothing".into(), |(q, l)| {
                    format!("question {q} with {l} likes")
                }),
                found: found.get(i).map_or("nothing".into(), |(q, l)| {
                    format!("question {q} with {l} likes")
                }),
            });
        }
    }
    Ok(true)
}
