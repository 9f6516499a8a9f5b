//! A meetup as of an instant, and what changed between two: folds of its
//! events up to a settled position.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use qicoo_domain::{MeetupId, QuestionId};
use serde::Serialize;

use super::fold::{Listed, MeetupFold, QuestionState};
use super::tables::VoteAction;
use super::AuditError;
use crate::archive::EventArchive;

/// An instant of a meetup's life: after the event at a position, or at a
/// time (after the last event the store recorded by then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Instant {
    Position(i64),
    Time(DateTime<Utc>),
}

impl Instant {
    /// An RFC 3339 time, or a position (a non-negative integer).
    pub fn parse(raw: &str) -> Option<Self> {
        if let Ok(p) = raw.parse::<i64>() {
            return (p >= 0).then_some(Self::Position(p));
        }
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|t| Self::Time(t.with_timezone(&Utc)))
    }
}

/// The position `instant` stands for in `meetup`'s history: at most the
/// settled position, so that the answer never changes afterwards.
pub async fn resolve(
    archive: &dyn EventArchive,
    meetup: MeetupId,
    instant: Option<Instant>,
) -> Result<i64, AuditError> {
    let settled = archive.settled_position().await?;
    match instant {
        None => Ok(settled),
        Some(Instant::Position(p)) if p <= settled => Ok(p),
        Some(Instant::Position(p)) => Err(AuditError::NotSettled { asked: p, settled }),
        Some(Instant::Time(t)) => Ok(archive.position_at(meetup, t).await?.min(settled)),
    }
}

/// Folds the meetup's events up to `upto`, handing what each one was to
/// `listed` (for tables that list events).
pub async fn fold_until(
    archive: &dyn EventArchive,
    meetup: MeetupId,
    upto: i64,
    mut listed: impl FnMut(Listed) -> Result<(), AuditError>,
) -> Result<MeetupFold, AuditError> {
    let mut fold = MeetupFold::new();
    let mut events = archive.stream(meetup, upto);
    while let Some(event) = events.try_next().await? {
        let decoded = event.decode().map_err(|reason| AuditError::BadEvent {
            position: event.position(),
            reason,
        })?;
        listed(fold.apply(&event, &decoded)?)?;
    }
    Ok(fold)
}

/// The meetup as of a position.
#[derive(Clone, Debug, Serialize)]
pub struct StateAsOf {
    pub meetup: super::fold::MeetupFields,
    /// The questions the viewer may see, in the order they were posted.
    pub questions: Vec<QuestionState>,
    /// The last event reflected.
    pub position: i64,
    /// When the store recorded it.
    pub as_of: Option<DateTime<Utc>>,
    /// The chain's link after it.
    pub chain_head: String,
}

/// The state of the meetup after the event at `upto`; with `all` false only
/// the published questions (the public view).
pub async fn state(
    archive: &dyn EventArchive,
    meetup: MeetupId,
    upto: i64,
    all: bool,
) -> Result<StateAsOf, AuditError> {
    let fold = fold_until(archive, meetup, upto, |_| Ok(())).await?;
    let fields = fold.meetup.clone().ok_or(AuditError::NotYetCreated)?;
    let questions = fold
        .questions_in_order()
        .into_iter()
        .filter(|q| all || q.status == qicoo_domain::QuestionStatus::Published)
        .cloned()
        .collect();
    Ok(StateAsOf {
        meetup: fields,
        questions,
        position: fold.position,
        as_of: fold.at,
        chain_head: fold.link.to_hex(),
    })
}

/// One end of a comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub position: i64,
    pub time: Option<DateTime<Utc>>,
}

/// A field of a question that changed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub question_id: QuestionId,
    /// `status`, `answered`, `highlighted` or `text`.
    pub field: &'static str,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

/// Likes gained and lost by one question.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LikeChange {
    pub question_id: QuestionId,
    pub gained: i64,
    pub lost: i64,
    /// Its likes at the end.
    pub likes: i64,
}

/// What changed between two instants.
#[derive(Clone, Debug, Serialize)]
pub struct Changes {
    pub from: Point,
    pub to: Point,
    /// Questions posted in between, as they stood at the end.
    pub posted: Vec<QuestionState>,
    /// Fields of questions that existed before and differ at the end.
    pub changed: Vec<FieldChange>,
    /// Per question, likes cast and withdrawn in between.
    pub likes: Vec<LikeChange>,
}

/// What changed between the events at `from` and `to` (`from` <= `to`);
/// with `all` false, only published questions are shown.
pub async fn changes(
    archive: &dyn EventArchive,
    meetup: MeetupId,
    from: i64,
    to: i64,
    all: bool,
) -> Result<Changes, AuditError> {
    let before = fold_until(archive, meetup, from, |_| Ok(())).await?;
    let mut likes: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let after = fold_until(archive, meetup, to, |listed| {
        if let Listed::Vote(v) = listed {
            if v.position > from {
                let entry = likes.entry(v.question_id).or_default();
                match v.action {
                    VoteAction::Cast => entry.0 += 1,
                    VoteAction::Withdrawn => entry.1 += 1,
                }
            }
        }
        Ok(())
    })
    .await?;
    if after.meetup.is_none() {
        return Err(AuditError::NotYetCreated);
    }
    let visible = |q: &QuestionState| all || q.status == qicoo_domain::QuestionStatus::Published;
    let mut posted = Vec::new();
    let mut changed = Vec::new();
    for q in after.questions_in_order() {
        match before.questions.get(&q.id) {
            None => {
                if visible(q) {
                    posted.push(q.clone());
                }
            }
            Some(old) => {
                if !(visible(q) || visible(old)) {
                    continue;
                }
                let mut field = |name: &'static str, a: serde_json::Value, b: serde_json::Value| {
                    if a != b {
                        changed.push(FieldChange {
                            question_id: q.id,
                            field: name,
                            from: a,
                            to: b,
                        });
                    }
                };
                field(
                    "status",
                    old.status.as_str().into(),
                    q.status.as_str().into(),
                );
                field("answered", old.answered.into(), q.answered.into());
                field("highlighted", old.highlighted.into(), q.highlighted.into());
                field("text", old.text.clone().into(), q.text.clone().into());
            }
        }
    }
    let likes = after
        .questions_in_order()
        .into_iter()
        .filter(|q| visible(q))
        .filter_map(|q| {
            let (gained, lost) = likes.get(&q.id.to_string()).copied()?;
            Some(LikeChange {
                question_id: q.id,
                gained,
                lost,
                likes: q.likes,
            })
        })
        .collect();
    Ok(Changes {
        from: Point {
            position: from,
            time: before.at,
        },
        to: Point {
            position: to,
            time: after.at,
        },
        posted,
        changed,
        likes,
    })
}
