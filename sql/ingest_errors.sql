-- Bad input to the ingestion functions: every case raises with its SQLSTATE and a message that
-- names the element's index and field, and nothing of the batch is written.
SET client_min_messages = warning;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS recsys;
SET recsys.org_id = '10000000-0000-0000-0000-000000000001';

-- Runs a statement and shows "ok" or "SQLSTATE: message".
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "keep", "embedding": [0.1, 0.2, 0.3]}]');

SELECT n AS "case", pg_temp.outcome(statement) AS outcome
  FROM (VALUES
    (1, $$SELECT recsys.recsys_upsert_items('errs', '{"item_id": "a"}')$$),
    (2, $$SELECT recsys.recsys_upsert_items('errs', NULL)$$),
    (3, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a"}, 7]')$$),
    (4, $$SELECT recsys.recsys_upsert_items('errs', '[{"price": 1}]')$$),
    (5, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": null}]')$$),
    (6, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": ""}]')$$),
    (7, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": 42}]')$$),
    (8, format($q$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "%s"}]')$q$, repeat('x', 257))),
    (9, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "price": "9.99"}]')$$),
    (10, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "price": -1}]')$$),
    (11, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "price": 1e400}]')$$),
    (12, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "available": "yes"}]')$$),
    (13, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "tags": "red"}]')$$),
    (14, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "tags": ["red", 5]}]')$$),
    (15, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "tags": ["red", ""]}]')$$),
    (16, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "props": [1]}]')$$),
    (17, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "embedding": [1, 2]}]')$$),
    (18, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "embedding": [1, "NaN", 3]}]')$$),
    (19, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "embedding": [1, 1e39, 3]}]')$$),
    (20, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "embedding": []}]')$$),
    (21, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "created_at": "yesterday-ish"}]')$$),
    (22, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "created_at": "infinity"}]')$$),
    (23, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a", "colour": "red"}]')$$),
    (24, $$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a"}, {"item_id": "b"}, {"item_id": "a"}]')$$),
    (25, $$SELECT recsys.recsys_upsert_items('bad name!', '[]')$$),
    (26, format($q$SELECT recsys.recsys_upsert_items('%s', '[]')$q$, repeat('n', 65))),
    (27, $$SELECT recsys.recsys_upsert_items(NULL, '[]')$$),
    (28, $$SELECT recsys.recsys_upsert_items('it''s', '[]')$$),
    (29, $$SELECT recsys.recsys_upsert_users('errs', '[{"user_id": "u", "traits": "gold"}]')$$),
    (30, $$SELECT recsys.recsys_upsert_users('errs', '[{"user_id": "u"}, {"user_id": "u"}]')$$),
    (31, $$SELECT recsys.recsys_upsert_users('errs', '[{"user_id": "u", "segment": "x"}]')$$),
    (32, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a"}]')$$),
    (33, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "like"}]')$$),
    (34, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": 300}]')$$),
    (35, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": 1.5}]')$$),
    (36, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": true}]')$$),
    (37, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "ts": "NaN"}]')$$),
    (38, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "ts": "2024-02-30T10:00:00Z"}]')$$),
    (39, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "ts": "1960-01-01"}]')$$),
    (40, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "ts": "2999-01-01"}]')$$),
    (41, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "value": "NaN"}]')$$),
    (42, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "value": NaN}]')$$),
    (43, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "meta": "x"}]')$$),
    (44, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view", "event_id": ""}]')$$),
    (45, $$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "a", "type": "view"}, {"item_id": "a", "type": "view"}]')$$),
    (46, $$SELECT recsys.recsys_record_events('errs', '"events"')$$),
    (47, $$SELECT recsys.recsys_delete_items('errs', '{"ids": ["a"]}')$$),
    (48, $$SELECT recsys.recsys_delete_events('errs', '{"item_ids": "a"}')$$),
    (49, $$SELECT recsys.recsys_delete_events('errs', '{"before": "soon"}')$$),
    (50, $$SELECT recsys.recsys_delete_users('errs', '[]')$$),
    (51, $$SELECT recsys.recsys_reset_namespace('errs!')$$),
    (52, $$SELECT recsys.recsys_refresh('never_created')$$),
    (53, $$SELECT recsys.recsys_upsert_event_types('errs', '[{"name": "Like", "weight": 1, "half_life_days": 3}]')$$),
    (54, $$SELECT recsys.recsys_upsert_event_types('errs', '[{"name": "like", "weight": -1, "half_life_days": 3}]')$$),
    (55, $$SELECT recsys.recsys_upsert_event_types('errs', '[{"name": "like", "weight": 1}]')$$)
  ) AS cases(n, statement)
 ORDER BY n;

-- Batches over recsys.max_batch_size are refused; the setting itself is range-checked.
SET recsys.max_batch_size = 2;
SELECT pg_temp.outcome($$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "a"}, {"item_id": "b"}, {"item_id": "c"}]')$$);
RESET recsys.max_batch_size;
SELECT pg_temp.outcome($$SET recsys.max_batch_size = 0$$);
SELECT pg_temp.outcome($$SET recsys.org_id = 'not-a-uuid'$$);

-- A batch whose last element is bad writes nothing, not even its good elements.
SELECT pg_temp.outcome($$SELECT recsys.recsys_upsert_items('errs', '[{"item_id": "good1"}, {"item_id": "good2"}, {"item_id": "bad", "price": -5}]')$$);
SELECT pg_temp.outcome($$SELECT recsys.recsys_record_events('errs', '[{"user_id": "u", "item_id": "keep", "type": "view"}, {"user_id": "u", "item_id": "keep", "type": "nope"}]')$$);
SELECT (SELECT count(*) FROM recsys.items WHERE namespace = 'errs') AS items,
       (SELECT count(*) FROM recsys.events WHERE namespace = 'errs') AS events,
       (SELECT count(*) FROM recsys.user_items WHERE namespace = 'errs') AS user_items;

-- Plain INSERT is checked by the table constraints and triggers.
SELECT n AS "case", pg_temp.outcome(statement) AS outcome
  FROM (VALUES
    (1, $$INSERT INTO recsys.items (namespace, item_id, embedding) VALUES ('errs', 'p1', '{1,2}')$$),
    (2, $$INSERT INTO recsys.items (namespace, item_id, price) VALUES ('errs', 'p2', 'NaN')$$),
    (3, $$INSERT INTO recsys.items (namespace, item_id, tags) VALUES ('errs', 'p3', '{a,a}')$$),
    (4, $$INSERT INTO recsys.events (namespace, user_id, item_id, type) VALUES ('errs', 'u', 'keep', 9)$$),
    (5, $$INSERT INTO recsys.events (namespace, user_id, item_id) VALUES ('no spaces', 'u', 'keep')$$),
    (6, $$UPDATE recsys.events SET value = 1$$)
  ) AS cases(n, statement)
 ORDER BY n;
