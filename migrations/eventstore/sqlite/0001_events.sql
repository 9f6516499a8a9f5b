-- The events table as sqlite-es 0.5 reads and writes it, with Qicoo's additions.
--
-- SQLite serializes writers, so rowid order is commit order: global_position is
-- the rowid, and AUTOINCREMENT keeps it from ever being reused. The uniqueness of
-- (aggregate_type, aggregate_id, sequence) is what rejects the loser of two
-- concurrent commands on one aggregate.
CREATE TABLE events
(
    global_position INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        INTEGER NOT NULL CHECK (sequence >= 0),
    event_type      TEXT    NOT NULL,
    event_version   TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    recorded_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    meetup_id       TEXT GENERATED ALWAYS AS (json_extract(metadata, '$.meetup_id')) VIRTUAL,
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE INDEX events_by_meetup ON events (meetup_id, global_position);
