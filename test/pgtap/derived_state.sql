-- Derived state maintained incrementally (JSON functions, plain INSERT, COPY, deletes, item
-- changes, out-of-order and duplicate events) agrees with recsys_refresh's rebuild from events.
BEGIN;
SET client_min_messages = warning;
SELECT plan(15);
SET recsys.org_id = 'cccccccc-0000-0000-0000-000000000003';

SELECT recsys.recsys_upsert_items('mix', (SELECT jsonb_agg(jsonb_build_object(
    'item_id', 'i' || g, 'tags', jsonb_build_array('t' || (g % 3), 'u' || (g % 4)), 'category', 'c' || (g % 2)))
    FROM generate_series(1, 12) g));
-- JSON batches with repeated event_ids, several users, sessions within and beyond the window.
SELECT recsys.recsys_record_events('mix', (SELECT jsonb_agg(jsonb_build_object(
    'user_id', 'u' || (g % 5), 'item_id', 'i' || (1 + (g * 7) % 12), 'type', g % 4,
    'ts', to_char(timestamptz '2026-06-01 00:00:00+00' + (g * interval '7 minutes'), 'YYYY-MM-DD"T"HH24:MI:SSOF'),
    'event_id', 'e' || (g % 150)))
    FROM generate_series(1, 200) g));
SELECT is((SELECT count(*)::int FROM recsys.events WHERE namespace = 'mix'), 150, 'repeated event_ids are stored once');
-- Plain INSERT, out of order in time.
INSERT INTO recsys.events (namespace, user_id, item_id, type, ts)
SELECT 'mix', 'u' || (g % 3), 'i' || (1 + g % 12), 0, timestamptz '2026-06-05 00:00:00+00' - g * interval '11 minutes'
  FROM generate_series(1, 60) g;
-- COPY, including an event for an item not in the catalogue and a month without a partition.
COPY recsys.events (namespace, user_id, item_id, type, ts, event_id) FROM STDIN;
mix	u1	i3	1	2026-06-02 10:00:00+00	c1
mix	u1	i4	2	2026-06-02 10:30:00+00	c2
mix	u1	i99	0	2026-06-02 10:45:00+00	c3
mix	u2	i5	3	2026-06-03 08:00:00+00	e7
mix	u9	i50	0	2019-01-15 12:00:00+00	c5
mix	u9	i51	0	2019-01-15 12:10:00+00	c6
\.
SELECT is((SELECT count(*)::int FROM recsys.events WHERE namespace = 'mix'), 215, 'COPY skips an already stored event_id');
SELECT is((SELECT count(*)::int FROM recsys.events_default WHERE namespace = 'mix'), 2, 'rows of a month without partition land in the default partition');
-- Deletes and catalogue changes.
SELECT recsys.recsys_delete_events('mix', '{"user_ids": ["u0"], "before": "2026-06-06T00:00:00Z"}');
DELETE FROM recsys.events WHERE namespace = 'mix' AND item_id = 'i2' AND type = 0;
SELECT recsys.recsys_upsert_items('mix', '[{"item_id": "i3", "tags": ["t0", "new"]}, {"item_id": "i99", "tags": ["late"]}]');
SELECT recsys.recsys_delete_items('mix', '{"item_ids": ["i5"]}');
UPDATE recsys.items SET tags = '{t1}' WHERE namespace = 'mix' AND item_id = 'i8';

CREATE TEMP TABLE before_pop AS SELECT item_id, type, log2_score, events, last_ts FROM recsys.item_popularity WHERE namespace = 'mix';
CREATE TEMP TABLE before_ui AS SELECT user_id, item_id, events, weight, last_ts, last_purchase_ts FROM recsys.user_items WHERE namespace = 'mix';
CREATE TEMP TABLE before_tags AS SELECT user_id, tag, weight FROM recsys.user_tags WHERE namespace = 'mix';
CREATE TEMP TABLE before_covis AS SELECT item_a, item_b, pairs FROM recsys.covis WHERE namespace = 'mix';

SELECT ok((SELECT count(*) FROM before_covis) > 20, 'the workload produced co-visitation pairs');
SELECT ok((SELECT count(*) FROM before_tags) > 20, 'the workload produced tag profiles');
SELECT ok((SELECT recsys.recsys_refresh('mix') ->> 'events')::int = (SELECT count(*)::int FROM recsys.events WHERE namespace = 'mix'),
          'recsys_refresh rebuilds from every event');
SELECT is((SELECT count(*)::int FROM recsys.events_default WHERE namespace = 'mix'), 0, 'refresh files stray rows into monthly partitions');
SELECT ok(to_regclass('recsys.events_201901') IS NOT NULL, 'the partition for January 2019 exists');

SELECT is((SELECT count(*)::int FROM before_pop b FULL JOIN (SELECT * FROM recsys.item_popularity WHERE namespace = 'mix') a USING (item_id, type)
            WHERE a.item_id IS NULL OR b.item_id IS NULL OR a.events <> b.events OR a.last_ts <> b.last_ts
               OR abs(a.log2_score - b.log2_score) > 1e-9), 0, 'decayed popularity agrees with the rebuild');
SELECT is((SELECT count(*)::int FROM before_ui b FULL JOIN (SELECT * FROM recsys.user_items WHERE namespace = 'mix') a USING (user_id, item_id)
            WHERE a.user_id IS NULL OR b.user_id IS NULL OR a.events <> b.events OR a.last_ts <> b.last_ts
               OR a.last_purchase_ts IS DISTINCT FROM b.last_purchase_ts
               OR abs(a.weight - b.weight) > 1e-9), 0, 'interacted items agree with the rebuild');
SELECT ok((SELECT count(*) FILTER (WHERE last_purchase_ts IS NOT NULL) > 0 AND count(*) FILTER (WHERE last_purchase_ts IS NULL) > 0
             FROM before_ui), 'the workload has items purchased and items never purchased');
SELECT is((SELECT count(*)::int FROM before_tags b FULL JOIN (SELECT * FROM recsys.user_tags WHERE namespace = 'mix') a USING (user_id, tag)
            WHERE a.user_id IS NULL OR b.user_id IS NULL OR abs(a.weight - b.weight) > 1e-9), 0, 'tag profiles agree with the rebuild');
SELECT is((SELECT count(*)::int FROM before_covis b FULL JOIN (SELECT * FROM recsys.covis WHERE namespace = 'mix') a USING (item_a, item_b)
            WHERE a.item_a IS NULL OR b.item_a IS NULL OR a.pairs <> b.pairs), 0, 'co-visitation agrees with the rebuild');
SELECT is((SELECT count(*)::int FROM recsys.item_neighbours n1 JOIN recsys.item_neighbours n2
              ON n2.namespace = n1.namespace AND n2.item_id = n1.neighbour_id AND n2.neighbour_id = n1.item_id
            WHERE n1.namespace = 'mix' AND n1.pairs = n2.pairs),
          2 * (SELECT count(*)::int FROM recsys.covis WHERE namespace = 'mix'),
          'item_neighbours shows every pair in both directions');
-- Co-visitation counts event pairs of one user within one hour of each other.
SELECT is((SELECT pairs::int FROM recsys.covis WHERE namespace = 'mix' AND item_a = 'i50' AND item_b = 'i51'), 1,
          'two events of one user ten minutes apart make one pair');

SELECT * FROM finish();
ROLLBACK;
