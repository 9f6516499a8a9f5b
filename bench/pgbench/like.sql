-- What one like does in the PostgreSQL event store, and nothing else: read the
-- vote aggregate's events (postgres-es's query), then append one VoteCast row.
-- Run by bench/run with `pgbench -M prepared` against an `events` table made by
-- migrations/eventstore/postgres (same columns, indexes and triggers).
\set q random(1, 20)
\set p random(1, 1000000000000000)
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM events
  WHERE aggregate_type = 'Vote' AND aggregate_id = 'q' || :q || ':' || :client_id || '-' || :p
  ORDER BY sequence;
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ('Vote', 'q' || :q || ':' || :client_id || '-' || :p, 1, 'VoteCast', '1',
        '{"VoteCast": {"meetup_id": "01a21d36-f964-76cc-87cf-757cccf132bb", "participant": "01a21d36-f9fc-75e4-a89f-7dbdf7af3cc2", "question_id": "01a21d36-fa60-70cc-9cd2-792f25f1563c"}}',
        '{"time": "2026-11-27T13:34:32.165380Z", "actor": "participant:01a21d36-f9fc-75e4-a89f-7dbdf7af3cc2", "client": "a71eda39c8b4e706c6a3b98c17d744fc", "meetup_id": "01a21d36-f964-76cc-87cf-757cccf132bb", "request_id": "36597e0a-41d6-4159-af00-30fd9daf9925"}');
