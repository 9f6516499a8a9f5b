-- The read model on MySQL / MariaDB. Built only by the read-model projection;
-- rebuilt from the events at will (replay creates its fresh tables with
-- CREATE TABLE ... LIKE these).
--
-- Times are UTC (DATETIME, no time zone conversion), from the events'
-- recorded_at. Positions are the events' global positions.

CREATE TABLE meetups
(
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    code          VARCHAR(16)  NOT NULL,
    title         VARCHAR(480) NOT NULL,
    qa_open       BOOLEAN      NOT NULL,
    moderated     BOOLEAN      NOT NULL,
    archived      BOOLEAN      NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    last_position BIGINT       NOT NULL,
    UNIQUE KEY meetups_code (code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE questions
(
    id              VARCHAR(36)  NOT NULL PRIMARY KEY,
    meetup_id       VARCHAR(36)  NOT NULL,
    author_id       VARCHAR(36)  NOT NULL,
    text            TEXT         NOT NULL,
    author_name     VARCHAR(160) NULL,
    status          VARCHAR(16)  NOT NULL,
    likes           BIGINT       NOT NULL,
    answered        BOOLEAN      NOT NULL,
    highlighted     BOOLEAN      NOT NULL,
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    posted_position BIGINT       NOT NULL,
    last_position   BIGINT       NOT NULL,
    KEY questions_recent (meetup_id, posted_position),
    KEY questions_top (meetup_id, likes, posted_position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE votes
(
    question_id    VARCHAR(36) NOT NULL,
    participant_id VARCHAR(36) NOT NULL,
    meetup_id      VARCHAR(36) NOT NULL,
    cast_at        DATETIME(6) NOT NULL,
    PRIMARY KEY (question_id, participant_id),
    KEY votes_by_participant (participant_id, question_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Per meetup and minute: questions posted, likes cast, and how many distinct
-- participants posted or liked (counted through activity_participants).
CREATE TABLE activity
(
    meetup_id           VARCHAR(36) NOT NULL,
    minute              DATETIME    NOT NULL,
    questions           BIGINT      NOT NULL,
    likes               BIGINT      NOT NULL,
    active_participants BIGINT      NOT NULL,
    PRIMARY KEY (meetup_id, minute)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE activity_participants
(
    meetup_id      VARCHAR(36) NOT NULL,
    minute         DATETIME    NOT NULL,
    participant_id VARCHAR(36) NOT NULL,
    PRIMARY KEY (meetup_id, minute, participant_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Where each projection stored in this database has got. Swapped together
-- with the tables above on replay, so data and checkpoint always match.
CREATE TABLE projection_checkpoints
(
    name            VARCHAR(64) NOT NULL PRIMARY KEY,
    transaction_id  BIGINT      NOT NULL,
    global_position BIGINT      NOT NULL,
    max_position    BIGINT      NOT NULL,
    watermark       BIGINT      NOT NULL,
    updated_at      DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Keeps two replays of one projection from running at once. A holder renews
-- its lease while it works; an expired lease may be taken over.
CREATE TABLE replay_locks
(
    name       VARCHAR(64)  NOT NULL PRIMARY KEY,
    holder     VARCHAR(64)  NOT NULL,
    expires_at BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
