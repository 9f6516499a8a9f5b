-- The read model in the embedded SQLite file, next to the event store's
-- tables. Built only by the read-model projection; rebuilt from the events at
-- will (replay copies these definitions for its fresh tables, so keep the
-- "CREATE TABLE name" / "CREATE INDEX name ON table" shape).
--
-- Times are UTC, from the events' recorded_at. Positions are the events'
-- global positions.

CREATE TABLE meetups
(
    id            TEXT    NOT NULL PRIMARY KEY,
    code          TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    qa_open       INTEGER NOT NULL,
    moderated     INTEGER NOT NULL,
    archived      INTEGER NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    last_position INTEGER NOT NULL
);
CREATE UNIQUE INDEX meetups_code ON meetups (code);

CREATE TABLE questions
(
    id              TEXT    NOT NULL PRIMARY KEY,
    meetup_id       TEXT    NOT NULL,
    author_id       TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    author_name     TEXT,
    status          TEXT    NOT NULL,
    likes           INTEGER NOT NULL,
    answered        INTEGER NOT NULL,
    highlighted     INTEGER NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    posted_position INTEGER NOT NULL,
    last_position   INTEGER NOT NULL
);
CREATE INDEX questions_recent ON questions (meetup_id, posted_position);
CREATE INDEX questions_top ON questions (meetup_id, likes, posted_position);

CREATE TABLE votes
(
    question_id    TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    meetup_id      TEXT NOT NULL,
    cast_at        TEXT NOT NULL,
    PRIMARY KEY (question_id, participant_id)
);
CREATE INDEX votes_by_participant ON votes (participant_id, question_id);

-- Per meetup and minute: questions posted, likes cast, and how many distinct
-- participants posted or liked (counted through activity_participants).
CREATE TABLE activity
(
    meetup_id           TEXT    NOT NULL,
    minute              TEXT    NOT NULL,
    questions           INTEGER NOT NULL,
    likes               INTEGER NOT NULL,
    active_participants INTEGER NOT NULL,
    PRIMARY KEY (meetup_id, minute)
);

CREATE TABLE activity_participants
(
    meetup_id      TEXT NOT NULL,
    minute         TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    PRIMARY KEY (meetup_id, minute, participant_id)
);

-- Where each projection stored in this database has got. Swapped together
-- with the tables above on replay, so data and checkpoint always match.
CREATE TABLE projection_checkpoints
(
    name            TEXT    NOT NULL PRIMARY KEY,
    transaction_id  INTEGER NOT NULL,
    global_position INTEGER NOT NULL,
    max_position    INTEGER NOT NULL,
    watermark       INTEGER NOT NULL,
    updated_at      TEXT    NOT NULL
);

-- Keeps two replays of one projection from running at once. A holder renews
-- its lease while it works; an expired lease may be taken over.
CREATE TABLE replay_locks
(
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
