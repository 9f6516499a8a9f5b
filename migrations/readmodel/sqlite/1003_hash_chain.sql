-- The per-meetup hash chain (see projections/src/audit/chain.rs): each event's
-- link, and each meetup's newest link. Written by the read-model projection in
-- the same transaction as the rows the events change. The read model is
-- emptied, with its checkpoint, so the projection rebuilds it from position
-- zero and every meetup's chain starts at its first event.

CREATE TABLE event_links
(
    position  INTEGER NOT NULL PRIMARY KEY,
    meetup_id TEXT    NOT NULL,
    link      TEXT    NOT NULL
);
CREATE INDEX event_links_by_meetup ON event_links (meetup_id, position);

CREATE TABLE chain_heads
(
    meetup_id TEXT    NOT NULL PRIMARY KEY,
    position  INTEGER NOT NULL,
    link      TEXT    NOT NULL,
    events    INTEGER NOT NULL
);

DELETE FROM activity_participants;
DELETE FROM activity;
DELETE FROM votes;
DELETE FROM questions;
DELETE FROM meetups;
DELETE FROM projection_checkpoints;
