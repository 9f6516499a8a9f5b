-- Appends :n vote events to the event store in the rows the write side stores,
-- spread over the questions already in it: VoteCast by a fresh participant, and
-- for every tenth vote a VoteWithdrawn after it (sequence 2). Used by bench/run
-- to build the rebuild scenario's 1,000,000 events without going through HTTP.
WITH questions AS (
    SELECT row_number() OVER (ORDER BY global_position) - 1 AS k,
           aggregate_id AS question_id,
           meetup_id
      FROM events
     WHERE aggregate_type = 'Question' AND event_type = 'QuestionPosted'
),
counted AS (SELECT count(*) AS n FROM questions),
votes AS (
    SELECT i, q.question_id, q.meetup_id, gen_random_uuid()::text AS participant
      FROM generate_series(1, :n) AS i
      CROSS JOIN counted
      JOIN questions q ON q.k = i % counted.n
),
rows AS (
    SELECT v.i, s.sequence, v.question_id, v.meetup_id, v.participant
      FROM votes v
      CROSS JOIN LATERAL (VALUES (1), (2)) AS s(sequence)
     WHERE s.sequence = 1 OR v.i % 10 = 0
)
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'Vote',
       question_id || ':' || participant,
       sequence,
       CASE sequence WHEN 1 THEN 'VoteCast' ELSE 'VoteWithdrawn' END,
       '1',
       json_build_object(CASE sequence WHEN 1 THEN 'VoteCast' ELSE 'VoteWithdrawn' END,
                         json_build_object('meetup_id', meetup_id,
                                           'participant', participant,
                                           'question_id', question_id)),
       json_build_object('time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                         'actor', 'participant:' || participant,
                         'client', md5(participant),
                         'meetup_id', meetup_id,
                         'request_id', gen_random_uuid()::text)
  FROM rows
 ORDER BY i, sequence;
