//! A meetup's or a question's history: its events in position order, as an
//! auditor reads them — with the actor under a per-meetup pseudonym, raw
//! participant ids and credential hashes taken out of the data, and each
//! event's hash-chain link.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use qicoo_domain::{metadata, MeetupId};
use serde::Serialize;
use serde_json::Value;

use super::pseudonym::Pseudonyms;
use crate::archive::{EventArchive, EventFilter};
use crate::error::StoreError;
use crate::event::StoredEvent;
use crate::readmodel::ReadModelStore;

/// Fields of event data that hold a participant id: shown as the pseudonym.
const PARTICIPANT_FIELDS: [&str; 2] = ["author", "participant"];
/// Fields of event data never shown.
const HIDDEN_FIELDS: [&str; 1] = ["organizer_key_hash"];

/// Who an event's actor must be, to be listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorFilter {
    /// `organizer`, `system` or `participant:<pseudonym>`: exactly this one.
    Exactly(String),
    /// Any participant.
    AnyParticipant,
}

impl ActorFilter {
    /// `participant` means any participant; anything else one actor.
    pub fn parse(raw: &str) -> Self {
        if raw == "participant" {
            Self::AnyParticipant
        } else {
            Self::Exactly(raw.to_owned())
        }
    }

    fn admits(&self, actor: &str) -> bool {
        match self {
            Self::Exactly(a) => a == actor,
            Self::AnyParticipant => actor.starts_with("participant:"),
        }
    }
}

/// One event as history shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry {
    pub position: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    /// `Meetup`, `Question`, `Vote` or `JoinCode`.
    pub aggregate: String,
    /// The event's data, participant ids replaced by pseudonyms.
    pub data: Value,
    /// `participant:<pseudonym>`, `organizer` or `system`.
    pub actor: String,
    /// When the store recorded it (UTC).
    pub time: DateTime<Utc>,
    pub request_id: Option<String>,
    /// Its hash-chain link, once the read model has chained it.
    pub link: Option<String>,
}

/// A page of history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryPage {
    pub items: Vec<HistoryEntry>,
    /// The position to continue after, when there may be more.
    pub next_cursor: Option<String>,
    /// The settled position the page was read below.
    pub position: i64,
}

/// What to list.
#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    pub filter: EventFilter,
    pub actor: Option<ActorFilter>,
    /// Continue after this position.
    pub after: i64,
    pub limit: u32,
}

/// How many events are read at a time while an actor filter drops some.
const SCAN: u32 = 500;

/// The entry of `event`, its participants shown as `pseudonyms`.
pub fn entry(event: &StoredEvent, pseudonyms: &Pseudonyms, link: Option<String>) -> HistoryEntry {
    let actor = event
        .metadata
        .get(metadata::ACTOR)
        .map_or_else(|| "system".to_owned(), |a| pseudonyms.actor(a));
    HistoryEntry {
        position: event.position(),
        event_type: event.event_type.clone(),
        aggregate: event.aggregate_type.clone(),
        data: scrub(&event.payload, pseudonyms),
        actor,
        time: event.recorded_at,
        request_id: event.metadata.get(metadata::REQUEST_ID).cloned(),
        link,
    }
}

/// The payload with credential hashes removed and participant ids
/// pseudonymized, at any depth.
fn scrub(value: &Value, pseudonyms: &Pseudonyms) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !HIDDEN_FIELDS.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(id) if PARTICIPANT_FIELDS.contains(&k.as_str()) => {
                            Value::String(pseudonyms.of(id))
                        }
                        other => scrub(other, pseudonyms),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| scrub(v, pseudonyms)).collect()),
        other => other.clone(),
    }
}

/// A page of a meetup's history (of one question's, with
/// `query.filter.question`).
pub async fn page(
    archive: &dyn EventArchive,
    model: &dyn ReadModelStore,
    meetup: MeetupId,
    pseudonyms: &Pseudonyms,
    query: &HistoryQuery,
) -> Result<HistoryPage, StoreError> {
    let settled = archive.settled_position().await?;
    let limit = query.limit.max(1);
    let mut items: Vec<HistoryEntry> = Vec::new();
    let mut after = query.after;
    let mut more = false;
    loop {
        let want = if query.actor.is_some() {
            SCAN
        } else {
            limit + 1
        };
        let events = archive
            .page(meetup, &query.filter, after, settled, want)
            .await?;
        let exhausted = events.len() < want as usize;
        for event in &events {
            after = event.position();
            let e = entry(event, pseudonyms, None);
            if query.actor.as_ref().is_some_and(|a| !a.admits(&e.actor)) {
                continue;
            }
            if items.len() == limit as usize {
                more = true;
                break;
            }
            items.push(e);
        }
        if more || exhausted {
            break;
        }
    }
    let positions: Vec<i64> = items.iter().map(|e| e.position).collect();
    let links: HashMap<i64, String> = model
        .links_at(&positions)
        .await?
        .into_iter()
        .map(|l| (l.position, l.link))
        .collect();
    for item in &mut items {
        item.link = links.get(&item.position).cloned();
    }
    let next_cursor = if more {
        items.last().map(|e| e.position.to_string())
    } else {
        None
    };
    Ok(HistoryPage {
        items,
        next_cursor,
        position: settled,
    })
}
