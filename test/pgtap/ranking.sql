-- recsys_rank: determinism, filters that never leak, caps, reasons, read-only serving.
BEGIN;
SET client_min_messages = warning;
SELECT plan(63);
SET recsys.org_id = 'ffffffff-0000-0000-0000-000000000006';
SELECT recsys.recsys_seed_synthetic('rk', '{"items": 3000, "users": 300, "events": 40000, "end": "2026-11-01T00:00:00Z"}');
ANALYZE recsys.items, recsys.item_popularity, recsys.user_items, recsys.covis, recsys.events;
CREATE TEMP TABLE sample_users AS
SELECT user_id FROM recsys.users WHERE namespace = 'rk' ORDER BY user_id LIMIT 25;

SELECT results_eq($$SELECT item_id FROM recsys.recsys_rank('rk', 'user_7', 20) ORDER BY rank$$,
                  $$SELECT item_id FROM recsys.recsys_rank('rk', 'user_7', 20) ORDER BY rank$$,
                  'the same request gives the same list');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('rk', 'user_7', 20)), 20, 'k items come back');
SELECT is((SELECT array_agg(rank ORDER BY rank) FROM recsys.recsys_rank('rk', 'user_7', 5)), ARRAY[1, 2, 3, 4, 5], 'ranks are 1..k');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20) r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id WHERE NOT i.available), 0,
          'no unavailable item for 25 users');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20, 'home',
                  '{"exclude_item_ids": ["item_1", "item_2", "item_3", "item_21"]}') r
            WHERE r.item_id IN ('item_1', 'item_2', 'item_3', 'item_21')), 0, 'excluded items never appear');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 10, 'home',
                  '{"include_tags_any": ["eco"]}') r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id WHERE NOT 'eco' = ANY (i.tags)), 0,
          'S1: include_tags_any ["eco"]: every result carries the tag');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 10, 'home',
                  '{"include_tags_any": ["eco", "gift"]}') r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id WHERE NOT i.tags && ARRAY['eco', 'gift']), 0,
          'include_tags_any: every result carries one of the tags');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 10, 'home',
                  '{"include_tags_any": ["eco"]}') r), 250, 'and each of the 25 users still gets 10 items');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 10, 'home',
                  jsonb_build_object('include_tags_any', jsonb_build_array('brand:' || (SELECT brand FROM recsys.items
                                     WHERE namespace = 'rk' AND item_id = 'item_1')))) r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id
            WHERE i.brand <> (SELECT brand FROM recsys.items WHERE namespace = 'rk' AND item_id = 'item_1')), 0,
          'S6: a brand whitelist through include_tags_any: every result has the brand');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20, 'home',
                  '{"exclude_seen": true}') r
             JOIN recsys.user_items ui ON ui.namespace = 'rk' AND ui.user_id = u.user_id AND ui.item_id = r.item_id), 0,
          'exclude_seen: nothing the user interacted with');
-- A purchase within exclude_purchased_days (from recsys.user_items) keeps the item out; an older one does not.
CREATE TEMP TABLE bought AS SELECT item_id FROM recsys.recsys_rank('rk', 'user_201', 1);
SELECT recsys.recsys_record_events('rk', (SELECT jsonb_build_array(jsonb_build_object('user_id', 'user_201', 'item_id', item_id,
                                          'type', 'purchase', 'ts', now() - interval '10 days')) FROM bought));
SELECT is((SELECT last_purchase_ts FROM recsys.user_items WHERE namespace = 'rk' AND user_id = 'user_201'
              AND item_id = (SELECT item_id FROM bought)), now() - interval '10 days', 'user_items keeps the last purchase');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('rk', 'user_201', 100, 'home', '{"exclude_purchased_days": 30}') r
             JOIN bought b USING (item_id)), 0, 'an item bought 10 days ago is out with a 30-day window');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('rk', 'user_201', 100, 'home', '{"exclude_purchased_days": 5}') r
             JOIN bought b USING (item_id)), 1, 'and back with a 5-day window');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20, 'home',
                  '{"price_between": [10, 30]}') r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id WHERE i.price NOT BETWEEN 10 AND 30), 0,
          'price_between is respected');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20, 'home',
                  '{"created_after": "2026-09-01T00:00:00Z"}') r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id WHERE i.created_at <= '2026-09-01T00:00:00Z'), 0,
          'created_after is respected');
SELECT is((SELECT max(n)::int FROM (SELECT count(*) AS n FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20,
                  'home', '{"brand_cap": 1, "category_cap": 3}') r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id GROUP BY u.user_id, i.brand) s), 1,
          'brand_cap 1: never two items of one brand');
SELECT ok((SELECT max(n) <= 3 FROM (SELECT count(*) AS n FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20,
                  'home', '{"category_cap": 3}') r
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = r.item_id GROUP BY u.user_id, i.category) s),
          'category_cap 3: at most three items per category');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 10) r,
                  unnest(r.reasons) reason
            WHERE reason NOT IN ('recent_popularity', 'co_visitation', 'embedding_similarity', 'content', 'personalization', 'diversity',
                                 'starter_profile')),
          0, 'reasons come from the documented vocabulary');
SELECT ok((SELECT bool_and(cardinality(reasons) > 0) FROM recsys.recsys_rank('rk', 'user_7', 20)), 'every item has a reason');
SELECT ok((SELECT count(*) > 0 FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 10) r
            WHERE 'co_visitation' = ANY (r.reasons)), 'co-visitation contributes for users with history');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('rk', 'somebody_new', 10)), 10, 'a cold user still gets k items');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('rk', 'user_7', 5, 'home', '{"explain": "none"}') WHERE reasons <> '{}'), 0,
          'explain none: no reasons');
-- Rerank: the caller's list is the pool.
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rerank('rk', u.user_id,
                  ARRAY['item_5', 'item_50', 'item_500', 'item_2500', 'no_such_item']) r
            WHERE r.item_id NOT IN ('item_5', 'item_50', 'item_500', 'item_2500')), 0, 'rerank returns nothing outside the list');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rerank('rk', 'user_7', ARRAY['item_5', 'item_50', 'item_5', 'no_such_item'])), 2,
          'unknown ids drop out and repeats count once');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rerank('rk', 'user_7', ARRAY['item_5', 'item_50', 'item_500'], 2)), 2, 'rerank honours k');
SELECT throws_ok($$SELECT * FROM recsys.recsys_rerank('rk', 'user_7', '{}')$$, '22023', 'item_ids must be a non-empty array', 'an empty list is an error');
-- Recommend: the full response with a trace.
CREATE TEMP TABLE resp AS SELECT recsys.recsys_recommend('rk', '{"user_id": "user_7", "k": 5, "trace": true, "options": {"mmr_lambda": 0.5}}') AS r;
SELECT ok((SELECT r ? 'request_id' AND jsonb_array_length(r -> 'items') = 5 FROM resp), 'recommend returns a request_id and k items');
SELECT results_eq($$SELECT (it ->> 'item_id') FROM resp, jsonb_array_elements(r -> 'items') it$$,
                  $$SELECT item_id FROM recsys.recsys_rank('rk', 'user_7', 5, 'default', '{"mmr_lambda": 0.5}') ORDER BY rank$$,
                  'recommend and rank agree');
SELECT is((SELECT r -> 'trace' -> 'config' -> 'mmr_lambda' FROM resp), '{"value": 0.5, "source": "request"}', 'the trace shows each knob''s source');
SELECT ok((SELECT (f ->> 'candidates')::int = (f ->> 'unavailable')::int + (f ->> 'excluded')::int + (f ->> 'seen')::int
                   + (f ->> 'purchased')::int + (f ->> 'tags')::int + (f ->> 'price')::int + (f ->> 'freshness')::int
                   + (f ->> 'eligible')::int AND (f ->> 'returned')::int = 5
             FROM (SELECT r -> 'trace' -> 'funnel' AS f FROM resp) x), 'the funnel accounts for every candidate');
SELECT ok((SELECT bool_and(it -> 'explain' ?& ARRAY['blend', 'personalization', 'mmr', 'caps', 'rules']
                           AND (it -> 'explain' -> 'blend') ?& ARRAY['popularity', 'co_visitation', 'embedding_similarity', 'weights'])
             FROM (SELECT recsys.recsys_recommend('rk', '{"user_id": "user_7", "k": 5, "options": {"explain": "full"}}') AS r) x,
                  jsonb_array_elements(r -> 'items') it),
          'S10: explain full returns the blend, personalization, MMR and caps blocks for every item');
SELECT throws_ok($$SELECT recsys.recsys_recommend('rk', '{"k": 5}')$$, '22023', 'request field "user_id" must be a string',
                 'a request without user_id is an error');

-- Similar items: embedding neighbours (same cluster), available only, never the item itself.
SELECT is((SELECT count(*)::int FROM sample_users u, LATERAL (SELECT 'item_' || (substr(u.user_id, 6)::int * 7) AS anchor) a,
                  LATERAL recsys.recsys_similar_items('rk', a.anchor, 10) s WHERE s.item_id = a.anchor), 0,
          'similar_items never returns the item itself');
SELECT is((SELECT count(*)::int FROM recsys.recsys_similar_items('rk', 'item_21', 20) s
             JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = s.item_id WHERE NOT i.available), 0, 'only available items');
SELECT ok((SELECT avg((i.category = (SELECT category FROM recsys.items WHERE namespace = 'rk' AND item_id = 'item_21'))::int) >= 0.8
             FROM recsys.recsys_similar_items('rk', 'item_21', 10) s JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = s.item_id),
          'neighbours come from the item''s embedding cluster (its category)');
SELECT throws_ok($$SELECT * FROM recsys.recsys_similar_items('rk', 'no_such_item', 5)$$, '42704', 'item "no_such_item" does not exist in namespace "rk"',
                 'an unknown item is an error');

-- A change to the catalogue is visible to the very next call.
SELECT recsys.recsys_upsert_items('rk', (SELECT jsonb_build_array(jsonb_build_object('item_id', item_id, 'available', false))
                                           FROM recsys.recsys_rank('rk', 'user_7', 1)));
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('rk', 'user_7', 20) r JOIN recsys.items i
              ON i.namespace = 'rk' AND i.item_id = r.item_id WHERE NOT i.available), 0,
          'an item made unavailable disappears from the next call');
-- as_of: rank as if it were that time; later events change nothing.
CREATE TEMP TABLE as_of_before AS
SELECT rank, item_id, reasons FROM recsys.recsys_rank('rk', 'user_11', 20, 'default',
                                                    '{"as_of": "2026-10-01T00:00:00Z", "exclude_seen": true}');
SELECT ok((SELECT count(*) FROM as_of_before) = 20, 'as_of ranks from the events up to that time');
-- After that time: user_11 views a popular item, every sample user buys another one.
CREATE TEMP TABLE later AS
SELECT (SELECT item_id FROM as_of_before WHERE rank = 1) AS seen_later,
       (SELECT item_id FROM recsys.items WHERE namespace = 'rk' AND available
           AND item_id NOT IN (SELECT item_id FROM as_of_before) ORDER BY item_id DESC LIMIT 1) AS bought_later;
SELECT recsys.recsys_record_events('rk', (SELECT jsonb_agg(e) FROM (
    SELECT jsonb_build_object('user_id', 'user_11', 'item_id', seen_later, 'type', 'view', 'ts', '2026-10-15T00:00:00Z') AS e FROM later
    UNION ALL
    SELECT jsonb_build_object('user_id', u.user_id, 'item_id', l.bought_later, 'type', 'purchase', 'ts', '2026-11-20T00:00:00Z')
      FROM sample_users u, later l) x));
SELECT results_eq($$SELECT rank, item_id, reasons FROM recsys.recsys_rank('rk', 'user_11', 20, 'default',
                                                  '{"as_of": "2026-10-01T00:00:00Z", "exclude_seen": true}') ORDER BY rank$$,
                  $$SELECT rank, item_id, reasons FROM as_of_before ORDER BY rank$$,
                  'events after as_of change nothing: popularity, co-visitation, history, seen items');
SELECT ok((SELECT seen_later FROM later) NOT IN (SELECT item_id FROM recsys.recsys_rank('rk', 'user_11', 20, 'default', '{"exclude_seen": true}')),
          'now the item viewed later is seen and excluded');
SELECT ok((SELECT bought_later FROM later) IN (SELECT item_id FROM recsys.recsys_rank('rk', 'user_99', 100, 'default',
              '{"alpha": 1, "beta": 0, "gamma": 0, "profile_boost": 0, "mmr_lambda": 1}')),
          'and the item bought by many later is among the 100 most popular now');
SELECT throws_ok($$SELECT * FROM recsys.recsys_rank('rk', 'user_11', 5, 'default', '{"as_of": "2999-01-01T00:00:00Z"}')$$, '22008',
                 NULL, 'as_of in the future is refused');
SELECT throws_ok($$SELECT * FROM recsys.recsys_rank('rk', 'user_11', 5, 'default', '{"as_of": "yesterday-ish"}')$$, '22007',
                 NULL, 'as_of must be a timestamp');

-- Co-visitation from the cached catalogue and from the events (as_of now) rank alike, raw and
-- with the popularity penalty.
SELECT results_eq($$SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_11', 20, 'default',
                      '{"alpha": 0, "beta": 1, "gamma": 0, "profile_boost": 0, "mmr_lambda": 1}') ORDER BY rank$$,
                  $$SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_11', 20, 'default',
                      jsonb_build_object('alpha', 0, 'beta', 1, 'gamma', 0, 'profile_boost', 0, 'mmr_lambda', 1, 'as_of', now()))
                     ORDER BY rank$$,
                  'co-visitation: the catalogue and the events agree');
SELECT results_eq($$SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_11', 20, 'default',
                      '{"alpha": 0, "beta": 1, "gamma": 0, "profile_boost": 0, "mmr_lambda": 1, "covis_penalty": 0.7}') ORDER BY rank$$,
                  $$SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_11', 20, 'default',
                      jsonb_build_object('alpha', 0, 'beta', 1, 'gamma', 0, 'profile_boost', 0, 'mmr_lambda', 1,
                                         'covis_penalty', 0.7, 'as_of', now())) ORDER BY rank$$,
                  'co-visitation with covis_penalty: the catalogue and the events agree');

-- recsys_evaluate's scratch namespace counts co-visitation from its events in the catalogue
-- instead of storing it: for a namespace with stored pairs, both rank alike.
CREATE TEMP TABLE covis_stored AS
SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_12', 20, 'default',
                                            '{"alpha": 0, "beta": 1, "gamma": 0, "profile_boost": 0, "covis_penalty": 0.5}');
SELECT recsys._catalog_covis_from_events(recsys.current_org(), 'rk');
SELECT results_eq($$SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_12', 20, 'default',
                      '{"alpha": 0, "beta": 1, "gamma": 0, "profile_boost": 0, "covis_penalty": 0.5}') ORDER BY rank$$,
                  $$SELECT rank, item_id FROM covis_stored ORDER BY rank$$,
                  'co-visitation counted from the events ranks as the stored pairs');

-- The tag profile _rank_serve computes from the cached catalogue equals the one the items
-- table gives.
CREATE TEMP TABLE history AS
SELECT array_agg(h.item_id ORDER BY h.item_id) AS ids, array_agg(h.weight ORDER BY h.item_id) AS weights
  FROM recsys.user_items h
 WHERE h.org_id = 'ffffffff-0000-0000-0000-000000000006' AND h.namespace = 'rk' AND h.user_id = 'user_7';
CREATE FUNCTION pg_temp.served(ids text[], weights float8[], k int) RETURNS SETOF record
LANGUAGE sql AS $$
    SELECT r.rank, r.item_id, r.funnel, r.candidates, r.profile_tags, r.profile_weights
      FROM recsys._rank_serve('ffffffff-0000-0000-0000-000000000006', 'rk', 'default', NULL, now(), k, 200, 200, 0, '{}', '{}',
                              NULL, NULL, NULL, ids, weights, '{}', '{}', NULL, NULL, NULL, NULL, 0, 0.3, 0.5, 0.2, 0.1, 0.7,
                              0, 0, false, '{}', NULL, NULL, NULL, 0, 0) r
$$;
CREATE FUNCTION pg_temp.profile_of(ids text[], weights float8[]) RETURNS TABLE (tags text[], weights float8[])
LANGUAGE sql AS $$
    SELECT s.profile_tags, s.profile_weights
      FROM pg_temp.served(ids, weights, 5) AS s(rank int, item_id text, funnel jsonb, candidates text[], profile_tags text[],
                                                 profile_weights float8[])
     WHERE s.funnel IS NOT NULL
$$;
SELECT results_eq(
    $$SELECT w.tag, round(w.weight::numeric, 6)
        FROM history, pg_temp.profile_of(ids, weights) p,
             unnest(p.tags, p.weights) WITH ORDINALITY AS w(tag, weight, n) WHERE w.n <= 5 ORDER BY w.n$$,
    $$SELECT tag, round(sum(h.weight)::numeric, 6) FROM history, unnest(ids, weights) AS h(item_id, weight)
        JOIN recsys.items i ON i.namespace = 'rk' AND i.item_id = h.item_id CROSS JOIN LATERAL unnest(i.tags) AS tag
       WHERE h.weight > 0 GROUP BY tag ORDER BY sum(h.weight) DESC, tag COLLATE "C" LIMIT 5$$,
    'the cached tag profile: the heaviest tags by the summed positive weights of the items carrying them');
SELECT is((SELECT cardinality(p.tags) FROM pg_temp.profile_of('{}', '{}') p), 0, 'a user without history has no profile');
SELECT throws_ok($$SELECT * FROM pg_temp.profile_of(ARRAY['item_1'], '{}')$$, '22023',
                 'seen_ids and seen_weights differ in length', 'seen weights must match the seen ids');
-- An item's tags from the cached catalogue equal the table's, for every item, available or not.
SELECT is((SELECT count(*) FROM recsys.items i
            WHERE i.org_id = 'ffffffff-0000-0000-0000-000000000006' AND i.namespace = 'rk'
              AND recsys._catalog_item_tags(i.org_id, i.namespace, i.item_id) IS DISTINCT FROM coalesce(i.tags, '{}')),
          0::bigint, 'the cached tags of every item are the table''s');
SELECT is(recsys._catalog_item_tags('ffffffff-0000-0000-0000-000000000006', 'rk', 'no_such_item'), NULL,
          'an item the namespace lacks has no tags (NULL)');

-- One call serves the ranked rows; the first row carries the request-wide columns.
CREATE TEMP TABLE one_call AS
SELECT s.* FROM history, pg_temp.served(ids, weights, 20) AS s(rank int, item_id text, funnel jsonb, candidates text[],
                                                                profile_tags text[], profile_weights float8[]);
SELECT is((SELECT array_agg(rank ORDER BY rank) FROM one_call), (SELECT array_agg(g) FROM generate_series(1, 20) g),
          '_rank_serve returns k rows ranked 1..k');
SELECT ok((SELECT count(*) = 1 AND bool_and(rank = 1 AND (funnel ->> 'returned')::int = 20
                                            AND (funnel ->> 'candidates')::int <= cardinality(candidates))
             FROM one_call WHERE funnel IS NOT NULL),
          'only the first row carries the funnel and the candidates');
SELECT ok((SELECT bool_and(o.item_id = ANY (c.candidates)) FROM one_call o, (SELECT candidates FROM one_call WHERE rank = 1) c),
          'every served item is one of the candidates');
-- recsys.serving_threads 1 and 2 rank alike (the second thread only runs two sources meanwhile).
SET recsys.serving_threads = 2;
CREATE TEMP TABLE two_threads AS
SELECT u.user_id, r.rank, r.item_id, r.score, r.reasons FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20) r;
SET recsys.serving_threads = 1;
SELECT results_eq($$SELECT u.user_id, r.rank, r.item_id, r.score, r.reasons FROM sample_users u
                      CROSS JOIN LATERAL recsys.recsys_rank('rk', u.user_id, 20) r ORDER BY 1, 2$$,
                  $$SELECT * FROM two_threads ORDER BY 1, 2$$,
                  'one thread ranks exactly as two, for 25 users');
RESET recsys.serving_threads;
SELECT throws_ok($$SET recsys.serving_threads = 3$$, '22023', NULL, 'serving_threads is 1, 2 or auto');
SELECT throws_ok($$SET recsys.catalog_huge_pages = sometimes$$, '22023', NULL, 'catalog_huge_pages is a boolean');

-- A session that forces generic (or custom) plans gets the same ranking: the catalogue cache
-- keeps its own plan choice for its delta queries.
CREATE TEMP TABLE auto_plans AS SELECT * FROM recsys.recsys_rank('rk', 'user_9', 10, 'home', '{"explain": "none"}');
UPDATE recsys.items SET price = coalesce(price, 0) + 1 WHERE namespace = 'rk' AND item_id = (SELECT item_id FROM auto_plans WHERE rank = 2);
SET plan_cache_mode = force_generic_plan;
SELECT results_eq($$SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_9', 10, 'home', '{"explain": "none"}')$$,
                  $$SELECT rank, item_id FROM auto_plans$$, 'force_generic_plan in the session: the same ranking');
SET plan_cache_mode = force_custom_plan;
SELECT results_eq($$SELECT rank, item_id FROM recsys.recsys_rank('rk', 'user_9', 10, 'home', '{"explain": "none"}')$$,
                  $$SELECT rank, item_id FROM auto_plans$$, 'force_custom_plan in the session: the same ranking');
RESET plan_cache_mode;

-- Serving works in a read-only transaction.
SET TRANSACTION READ ONLY;
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('rk', 'user_7', 10)), 10, 'ranking works in a read-only transaction');
SELECT throws_ok($$SELECT * FROM recsys.recsys_rank('rk', 'user_7', 0)$$, '22023', 'k must be between 1 and 1000, not 0', 'k is checked');
SELECT throws_ok($$SELECT * FROM recsys.recsys_rank('rk', 'user_7', 10, 'home', '{"mmr_lambda": 7}')$$, '22023', NULL, 'knob options are checked');
SELECT throws_ok($$SELECT * FROM recsys.recsys_rank('nowhere', 'user_7', 10)$$, '42704', 'namespace "nowhere" does not exist', 'unknown namespaces are errors');

SELECT * FROM finish();
ROLLBACK;
