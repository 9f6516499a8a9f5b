//! The hash chain in the read model: each event's link and each meetup's
//! newest link, written in the same transaction as the rows the events
//! change (so the chain is exactly as far as the read model), and read by
//! history, exports and `qicoo verify`.

use std::collections::HashMap;

use qicoo_domain::{metadata, MeetupId};
use serde::Serialize;

use super::reads::parse_id;
use super::sql::{placeholders, Kind, SqlTx, Value};
use super::{sql_err, SqlReadModel};
use crate::audit::chain::Link;
use crate::error::{ApplyError, StoreError};
use crate::event::StoredEvent;

/// Rows per multi-row statement.
const CHUNK: usize = 200;

/// A meetup's newest link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    /// The position of the last event chained.
    pub position: i64,
    /// Its link, lowercase hex.
    pub link: String,
    /// How many of the meetup's events are chained.
    pub events: i64,
}

/// One event's stored link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLink {
    pub position: i64,
    pub meetup_id: String,
    pub link: String,
}

impl SqlReadModel {
    /// Chains the events of a batch that belong to a meetup, after the
    /// links their meetups' chains ended with.
    pub(super) async fn extend_chain(
        &self,
        tx: &mut dyn SqlTx,
        events: &[&StoredEvent],
    ) -> Result<(), ApplyError> {
        let in_meetup: Vec<(&str, &StoredEvent)> = events
            .iter()
            .filter_map(|e| {
                e.metadata
                    .get(metadata::MEETUP_ID)
                    .map(|m| (m.as_str(), *e))
            })
            .collect();
        if in_meetup.is_empty() {
            return Ok(());
        }
        let mut meetups: Vec<&str> = in_meetup.iter().map(|(m, _)| *m).collect();
        meetups.sort_unstable();
        meetups.dedup();
        let mut heads: HashMap<String, (Link, i64)> = HashMap::new();
        for chunk in meetups.chunks(CHUNK) {
            let rows = tx
                .fetch(
                    &format!(
                        "SELECT meetup_id, link, events FROM {} WHERE meetup_id IN ({})",
                        self.t("chain_heads"),
                        vec!["?"; chunk.len()].join(", ")
                    ),
                    chunk.iter().map(|m| Value::from(*m)).collect(),
                    &[Kind::Text, Kind::Text, Kind::Int],
                )
                .await
                .map_err(sql_err)?;
            for row in rows {
                let meetup = row.text(0)?;
                let link = Link::from_hex(&row.text(1)?).ok_or_else(|| {
                    StoreError::failed(
                        super::sql::STORE,
                        format!("the chain head of meetup {meetup} is not a link"),
                    )
                })?;
                heads.insert(meetup, (link, row.int(2)?));
            }
        }
        let mut links: Vec<(i64, &str, String)> = Vec::with_capacity(in_meetup.len());
        for (meetup, event) in &in_meetup {
            let head = heads
                .entry((*meetup).to_owned())
                .or_insert((Link::GENESIS, 0));
            head.0 = head.0.next(event);
            head.1 += 1;
            links.push((event.position(), meetup, head.0.to_hex()));
        }
        for chunk in links.chunks(CHUNK) {
            let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 3);
            for (position, meetup, link) in chunk {
                args.extend([(*position).into(), (*meetup).into(), link.as_str().into()]);
            }
            tx.execute(
                &format!(
                    "INSERT INTO {} (position, meetup_id, link) VALUES {}",
                    self.t("event_links"),
                    placeholders(chunk.len(), 3)
                ),
                args,
            )
            .await
            .map_err(sql_err)?;
        }
        // Each meetup's last link of the batch becomes its head.
        let mut last: HashMap<&str, i64> = HashMap::new();
        for (position, meetup, _) in &links {
            last.insert(meetup, *position);
        }
        let head_rows: Vec<(&str, i64, String, i64)> = meetups
            .iter()
            .filter_map(|m| {
                let (link, events) = heads.get(*m)?;
                Some((*m, *last.get(m)?, link.to_hex(), *events))
            })
            .collect();
        for chunk in head_rows.chunks(CHUNK) {
            let mut args: Vec<Value> = Vec::with_capacity(chunk.len() * 4);
            for (meetup, position, link, events) in chunk {
                args.extend([
                    (*meetup).into(),
                    (*position).into(),
                    link.as_str().into(),
                    (*events).into(),
                ]);
            }
            tx.execute(
                &self
                    .pool()
                    .dialect()
                    .upsert_chain_heads(&self.t("chain_heads"), chunk.len()),
                args,
            )
            .await
            .map_err(sql_err)?;
        }
        Ok(())
    }

    pub(super) async fn read_chain_head(
        &self,
        meetup: MeetupId,
    ) -> Result<Option<ChainHead>, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT position, link, events FROM {} WHERE meetup_id = ?",
                    self.t("chain_heads")
                ),
                vec![meetup.to_string().into()],
                &[Kind::Int, Kind::Text, Kind::Int],
            )
            .await
            .map_err(sql_err)?;
        rows.first()
            .map(|r| {
                Ok(ChainHead {
                    position: r.int(0)?,
                    link: r.text(1)?,
                    events: r.int(2)?,
                })
            })
            .transpose()
    }

    pub(super) async fn read_chain_links(
        &self,
        meetup: MeetupId,
        after_position: i64,
        limit: u32,
    ) -> Result<Vec<StoredLink>, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!(
                    "SELECT position, meetup_id, link FROM {} WHERE meetup_id = ? AND position > ?
                     ORDER BY position LIMIT ?",
                    self.t("event_links")
                ),
                vec![
                    meetup.to_string().into(),
                    after_position.into(),
                    i64::from(limit).into(),
                ],
                &[Kind::Int, Kind::Text, Kind::Text],
            )
            .await
            .map_err(sql_err)?;
        rows.iter().map(stored_link).collect()
    }

    pub(super) async fn read_links_at(
        &self,
        positions: &[i64],
    ) -> Result<Vec<StoredLink>, StoreError> {
        let mut out = Vec::with_capacity(positions.len());
        for chunk in positions.chunks(CHUNK) {
            let rows = self
                .pool()
                .fetch(
                    &format!(
                        "SELECT position, meetup_id, link FROM {} WHERE position IN ({})",
                        self.t("event_links"),
                        vec!["?"; chunk.len()].join(", ")
                    ),
                    chunk.iter().map(|p| Value::from(*p)).collect(),
                    &[Kind::Int, Kind::Text, Kind::Text],
                )
                .await
                .map_err(sql_err)?;
            for row in &rows {
                out.push(stored_link(row)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn read_meetup_ids(&self) -> Result<Vec<MeetupId>, StoreError> {
        let rows = self
            .pool()
            .fetch(
                &format!("SELECT id FROM {} ORDER BY id", self.t("meetups")),
                vec![],
                &[Kind::Text],
            )
            .await
            .map_err(sql_err)?;
        rows.iter().map(|r| parse_id(&r.text(0)?)).collect()
    }
}

fn stored_link(row: &super::sql::Row) -> Result<StoredLink, StoreError> {
    Ok(StoredLink {
        position: row.int(0)?,
        meetup_id: row.text(1)?,
        link: row.text(2)?,
    })
}
