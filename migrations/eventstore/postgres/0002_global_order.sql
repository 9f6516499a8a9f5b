-- Qicoo's additions to the events table. postgres-es never names these columns
-- in its INSERT, so their defaults fill them.
--
-- global_position is handed out at insert time, not commit time, so readers
-- never trust it alone: the feed reads by (transaction_id, global_position) and
-- only below the oldest transaction still running (pg_snapshot_xmin), so an event
-- whose transaction commits late is never skipped.
ALTER TABLE events
    ADD COLUMN global_position bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    ADD COLUMN recorded_at     timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN meetup_id       text GENERATED ALWAYS AS (metadata ->> 'meetup_id') STORED;

CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_feed_order ON events (transaction_id, global_position);
CREATE INDEX events_by_meetup ON events (meetup_id, global_position);

-- Wake feed readers at once; they also poll, so a lost notification costs
-- latency, not data.
CREATE FUNCTION qicoo_notify_event_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('qicoo_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION qicoo_notify_event_appended();
