-- The per-meetup hash chain (see projections/src/audit/chain.rs): each event's
-- link, and each meetup's newest link. Written by the read-model projection in
-- the same transaction as the rows the events change. The read model is
-- emptied, with its checkpoint, so the projection rebuilds it from position
-- zero and every meetup's chain starts at its first event.

CREATE TABLE event_links
(
    position  BIGINT      NOT NULL PRIMARY KEY,
    meetup_id VARCHAR(36) NOT NULL,
    link      CHAR(64)    NOT NULL,
    KEY event_links_by_meetup (meetup_id, position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE chain_heads
(
    meetup_id VARCHAR(36) NOT NULL PRIMARY KEY,
    position  BIGINT      NOT NULL,
    link      CHAR(64)    NOT NULL,
    events    BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

DELETE FROM activity_participants;
DELETE FROM activity;
DELETE FROM votes;
DELETE FROM questions;
DELETE FROM meetups;
DELETE FROM projection_checkpoints;
