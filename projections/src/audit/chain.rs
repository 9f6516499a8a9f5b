//! The per-meetup hash chain: each event's link is SHA-256 over the previous
//! link of its meetup and the event in a canonical form, so that altering,
//! removing or inserting a stored event afterwards changes every later link.
//!
//! The canonical form, in this order (integers big-endian, strings as their
//! UTF-8 length in 8 bytes then the bytes):
//! `"qicoo-chain-v1"`, the previous link (32 zero bytes for a meetup's first
//! event), the global position, the aggregate type, the aggregate id, the
//! sequence, the event type, the payload and the metadata as canonical JSON
//! (object keys sorted by their bytes, no whitespace).
//!
//! A meetup's events are chained in feed order (the order the projections
//! apply them): position order, except that an event of a transaction that
//! committed after a later-positioned one comes after it.

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::event::StoredEvent;

/// One link of a chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link(pub [u8; 32]);

impl Link {
    /// The link before a meetup's first event.
    pub const GENESIS: Link = Link([0; 32]);

    /// The link after `event`, which follows `self`.
    pub fn next(&self, event: &StoredEvent) -> Link {
        let mut hash = Sha256::new();
        put_text(&mut hash, "qicoo-chain-v1".as_bytes());
        hash.update(self.0);
        hash.update(event.position().to_be_bytes());
        for s in [event.aggregate_type.as_str(), event.aggregate_id.as_str()] {
            put_text(&mut hash, s.as_bytes());
        }
        hash.update(event.sequence.to_be_bytes());
        put_text(&mut hash, event.event_type.as_bytes());
        let mut canonical = Vec::with_capacity(512);
        write_canonical(&event.payload, &mut canonical);
        put_text(&mut hash, &canonical);
        // The metadata as the JSON object of its string pairs.
        canonical.clear();
        let mut pairs: Vec<(&String, &String)> = event.metadata.iter().collect();
        pairs.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        canonical.push(b'{');
        for (i, (k, v)) in pairs.into_iter().enumerate() {
            if i > 0 {
                canonical.push(b',');
            }
            write_json_string(k, &mut canonical);
            canonical.push(b':');
            write_json_string(v, &mut canonical);
        }
        canonical.push(b'}');
        put_text(&mut hash, &canonical);
        Link(hash.finalize().into())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A link from its hex form.
    pub fn from_hex(s: &str) -> Option<Link> {
        let mut out = [0_u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Link(out))
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link({})", self.to_hex())
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn put_text(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

/// JSON with object keys sorted by their bytes and no whitespace, whatever
/// order the value holds them in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    // Only JSON text was written, which is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// A JSON string literal, escaped as serde_json escapes it.
fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // Writing into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        // Scalars as serde_json writes them (as `Value`'s `Display` does).
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use std::collections::HashMap;

    use chrono::Utc;
    use serde_json::json;

    use super::*;
    use crate::event::FeedPosition;

    fn event(position: i64, payload: Value) -> StoredEvent {
        StoredEvent {
            feed: FeedPosition {
                transaction_id: 0,
                global_position: position,
            },
            aggregate_type: "Question".into(),
            aggregate_id: "q1".into(),
            sequence: 1,
            event_type: "QuestionEdited".into(),
            payload,
            metadata: HashMap::from([
                ("actor".to_owned(), "organizer".to_owned()),
                ("meetup_id".to_owned(), "m1".to_owned()),
            ]),
            recorded_at: Utc::now(),
        }
    }

    #[test]
    fn key_order_does_not_change_the_canonical_form() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"é"}}"#).expect("json");
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#).expect("json");
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#
        );
    }

    #[test]
    fn every_part_of_an_event_and_the_previous_link_changes_the_link() {
        let base = event(7, json!({"QuestionEdited": {"text": "Why?"}}));
        let link = Link::GENESIS.next(&base);
        assert_eq!(link, Link::GENESIS.next(&base.clone()), "deterministic");
        let mut variants = Vec::new();
        let mut e = base.clone();
        e.feed.global_position = 8;
        variants.push(e);
        let mut e = base.clone();
        e.payload = json!({"QuestionEdited": {"text": "Why not?"}});
        variants.push(e);
        let mut e = base.clone();
        e.event_type = "QuestionPosted".into();
        variants.push(e);
        let mut e = base.clone();
        e.metadata.insert("actor".into(), "system".into());
        variants.push(e);
        let mut e = base.clone();
        e.aggregate_id = "q2".into();
        variants.push(e);
        let mut e = base.clone();
        e.sequence = 2;
        variants.push(e);
        for v in &variants {
            assert_ne!(Link::GENESIS.next(v), link, "{v:?}");
        }
        assert_ne!(link.next(&base), link, "the previous link counts");
        // The time the store recorded is not part of the form.
        let mut later = base.clone();
        later.recorded_at += chrono::TimeDelta::seconds(5);
        assert_eq!(Link::GENESIS.next(&later), link);
    }

    #[test]
    fn a_link_is_the_documented_hash() {
        // Computed independently from the definition at the top of this
        // module; a change here breaks every stored chain.
        let e = event(
            7,
            json!({"QuestionEdited": {"text": "Why \"é\"?\n", "n": [1, 2.5, true, null]}}),
        );
        assert_eq!(
            Link::GENESIS.next(&e).to_hex(),
            "cdc2718fe24379e5239abc5edc8d83370e98ad2c7a176431d49478e7bd4ad5a2"
        );
    }

    #[test]
    fn links_round_trip_through_hex() {
        let link = Link::GENESIS.next(&event(1, json!({})));
        assert_eq!(Link::from_hex(&link.to_hex()), Some(link));
        assert_eq!(link.to_hex().len(), 64);
        assert_eq!(Link::from_hex("zz"), None);
    }
}
