-- recsys_seed_synthetic: deterministic, realistic shape, sizes from options.
BEGIN;
SET client_min_messages = warning;
SELECT plan(14);
SET recsys.org_id = 'dddddddd-0000-0000-0000-000000000004';

SELECT recsys.recsys_seed_synthetic('syn_a', '{"items": 3000, "users": 400, "events": 40000, "seed": 7, "end": "2026-10-01T00:00:00Z"}');
SELECT recsys.recsys_seed_synthetic('syn_b', '{"items": 3000, "users": 400, "events": 40000, "seed": 7, "end": "2026-10-01T00:00:00Z"}');
SELECT recsys.recsys_seed_synthetic('syn_c', '{"items": 3000, "users": 400, "events": 40000, "seed": 8, "end": "2026-10-01T00:00:00Z"}');

SELECT is((SELECT count(*)::int FROM recsys.items WHERE namespace = 'syn_a'), 3000, 'items from options');
SELECT is((SELECT count(*)::int FROM recsys.users WHERE namespace = 'syn_a'), 400, 'users from options');
SELECT is((SELECT count(*)::int FROM recsys.events WHERE namespace = 'syn_a'), 40000, 'events from options');
SELECT is((SELECT count(*)::int FROM (
             SELECT item_id, available, price, brand, category, tags, props, embedding, created_at FROM recsys.items WHERE namespace = 'syn_a'
             EXCEPT SELECT item_id, available, price, brand, category, tags, props, embedding, created_at FROM recsys.items WHERE namespace = 'syn_b') d),
          0, 'the same seed gives the same catalogue');
SELECT is((SELECT count(*)::int FROM (
             SELECT event_id, user_id, item_id, type, ts FROM recsys.events WHERE namespace = 'syn_a'
             EXCEPT SELECT event_id, user_id, item_id, type, ts FROM recsys.events WHERE namespace = 'syn_b') d),
          0, 'the same seed gives the same events');
SELECT ok((SELECT count(*) FROM (
             SELECT event_id, user_id, item_id FROM recsys.events WHERE namespace = 'syn_a'
             EXCEPT SELECT event_id, user_id, item_id FROM recsys.events WHERE namespace = 'syn_c') d) > 30000,
          'another seed gives other events');
SELECT is((SELECT array_agg(DISTINCT traits ->> 'segment' ORDER BY traits ->> 'segment') FROM recsys.users WHERE namespace = 'syn_a'),
          ARRAY['new_users', 'niche_readers', 'power_users', 'trend_seekers', 'weekend_adventurers'], 'users fall into the five segments');
SELECT is((SELECT count(DISTINCT category)::int FROM recsys.items WHERE namespace = 'syn_a'), 20, 'twenty categories');
SELECT ok((SELECT bool_and(tags @> ARRAY['category:' || category, 'brand:' || brand] AND cardinality(tags) >= 3
                           AND cardinality(embedding) = 384 AND price > 0 AND (props ->> 'margin')::float8 BETWEEN 0.05 AND 0.5)
             FROM recsys.items WHERE namespace = 'syn_a'), 'items carry category, brand and plain tags, a 384-d embedding, a price and a margin');
SELECT ok((SELECT avg(available::int) BETWEEN 0.92 AND 0.98 FROM recsys.items WHERE namespace = 'syn_a'), 'about 95% of items are available');
-- Zipf popularity: the top 1% of items take a large share of events, far above uniform.
SELECT ok((SELECT sum(n) FILTER (WHERE r <= 30)::float8 / sum(n) FROM (
             SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS r
               FROM recsys.events WHERE namespace = 'syn_a' GROUP BY item_id) s) > 0.10,
          'popularity is heavy-headed (top 1% of items hold over 10% of events)');
-- Embeddings cluster by category: same-category cosine far above cross-category cosine.
SELECT ok((WITH pairs AS (
              SELECT a.category = b.category AS same,
                     (SELECT sum(x * y) FROM unnest(a.embedding, b.embedding) AS t(x, y)) AS cosine
                FROM recsys.items a JOIN recsys.items b ON a.namespace = b.namespace AND a.item_id < b.item_id
               WHERE a.namespace = 'syn_a' AND a.item_id IN ('item_1', 'item_2', 'item_3', 'item_21', 'item_22', 'item_41')
                 AND b.item_id IN ('item_1', 'item_2', 'item_3', 'item_21', 'item_22', 'item_41', 'item_61', 'item_62'))
            SELECT avg(cosine) FILTER (WHERE same) > avg(cosine) FILTER (WHERE NOT same) + 0.3 FROM pairs),
          'embeddings cluster by category');
SELECT ok((SELECT count(*) FILTER (WHERE extract(isodow FROM e.ts) IN (6, 7))::float8 / count(*) > 0.9
             FROM recsys.events e JOIN recsys.users u ON u.org_id = e.org_id AND u.namespace = e.namespace AND u.user_id = e.user_id
            WHERE e.namespace = 'syn_a' AND u.traits ->> 'segment' = 'weekend_adventurers'), 'weekend adventurers act on weekends');
SELECT throws_ok($$SELECT recsys.recsys_seed_synthetic('syn_a', '{"items": 10, "users": 1, "events": 1, "categories": 5}')$$, '55000',
                 'namespace "syn_a" is not empty', 'seeding refuses a namespace that holds data');

SELECT * FROM finish();
ROLLBACK;
