-- Evaluation without leakage, guardrails and tuning on a small seeded namespace.
BEGIN;
SET client_min_messages = warning;
SELECT plan(17);
SET recsys.org_id = 'e7e7e7e7-0000-0000-0000-00000000000a';
SELECT recsys.recsys_seed_synthetic('ev', '{"items": 400, "users": 50, "events": 5000, "end": "2026-11-01T00:00:00Z"}');
SELECT recsys.recsys_upsert_segment('ev', '{"segment_id": "young", "condition": {"lt": ["user.traits.age", 30]}}');

SELECT throws_ok($$SELECT recsys.recsys_evaluate('ev', '{"holdout": 2}')$$, '22023',
                 'option "holdout" must be a number between 0.01 and 0.99, not 2', 'options are checked');
SELECT throws_ok($$SELECT recsys.recsys_evaluate('ev', '{"config": {"alpha": -1}}')$$, '22023', NULL, 'the config is validated like knobs');
SELECT throws_ok($$SELECT recsys.recsys_check_guardrails('ev')$$, '55000', NULL, 'guardrails need an evaluation');

CREATE TEMP TABLE e AS SELECT recsys.recsys_evaluate('ev') AS r;
-- The split, recomputed here: users with at least 5 events, their last floor(n / 5) events.
CREATE TEMP TABLE expected_test AS
SELECT DISTINCT user_id, item_id FROM (
    SELECT user_id, item_id, count(*) OVER (PARTITION BY user_id) AS n,
           row_number() OVER (PARTITION BY user_id ORDER BY ts, item_id, seq) AS rn
      FROM recsys.events WHERE namespace = 'ev') x
 WHERE n >= 5 AND rn > n - greatest(1, floor(n * 0.2));
SELECT is((SELECT (r ->> 'users')::int FROM e), (SELECT count(DISTINCT user_id)::int FROM expected_test),
          'every user with enough events is evaluated');
SELECT ok((SELECT (r -> 'model' ->> 'ndcg')::float8 BETWEEN 0 AND 1 AND (r -> 'baseline' ->> 'ndcg')::float8 BETWEEN 0 AND 1 FROM e),
          'NDCG of the ranking and of the baseline are reported');
SELECT ok((SELECT r -> 'model' ?& ARRAY['ndcg', 'recall', 'mrr', 'hr', 'coverage', 'long_tail', 'intra_list_similarity'] FROM e),
          'with recall, MRR, hit rate, coverage, long-tail share and intra-list similarity');
SELECT is((SELECT round(((r -> 'model' ->> 'ndcg')::numeric / (r -> 'baseline' ->> 'ndcg')::numeric - 1), 2) FROM e),
          (SELECT round((r -> 'lift' ->> 'ndcg')::numeric, 2) FROM e), 'the lift is model over baseline');
SELECT ok((SELECT r -> 'segments' ? 'young' FROM e), 'metrics per segment');
SELECT is((SELECT count(*)::int FROM recsys.namespaces WHERE namespace = 'ev.eval'), 0, 'the scratch namespace is gone');
SELECT is((SELECT count(*)::int FROM recsys.evaluations WHERE namespace = 'ev'), 1, 'the evaluation is stored');

-- No leakage: a test event copied into train would make its item "seen" and excluded; with the
-- split done right, the scratch namespace never saw a test event. Check it directly: evaluate
-- again keeping the scratch tables of this transaction.
SELECT recsys._eval_prepare('e7e7e7e7-0000-0000-0000-00000000000a', 'ev', recsys._eval_options('{"factors": false}'));
SELECT is((SELECT count(*)::int FROM recsys.user_items ui JOIN expected_test t USING (user_id, item_id)
            WHERE ui.namespace = 'ev.eval'
              AND NOT EXISTS (SELECT 1 FROM eval_train tr WHERE tr.user_id = ui.user_id AND tr.item_id = ui.item_id)), 0,
          'no test interaction reaches the scratch namespace''s signals');
SELECT is((SELECT count(*)::int FROM recsys.events WHERE namespace = 'ev.eval'),
          (SELECT count(*)::int FROM recsys.events WHERE namespace = 'ev') - (SELECT count(*)::int FROM (
              SELECT count(*) OVER (PARTITION BY user_id) AS n, row_number() OVER (PARTITION BY user_id ORDER BY ts, item_id, seq) AS rn
                FROM recsys.events WHERE namespace = 'ev') x WHERE n >= 5 AND rn > n - greatest(1, floor(n * 0.2))),
          'the scratch namespace holds exactly the train events');
SELECT recsys._drop_scratch('e7e7e7e7-0000-0000-0000-00000000000a', 'ev.eval');

-- Guardrails.
SELECT is((SELECT count(*)::int FROM recsys.recsys_check_guardrails('ev') WHERE check_name IN ('ndcg_lift', 'mrr_lift')),
          2 * (1 + (SELECT count(*)::int FROM jsonb_object_keys((SELECT r -> 'segments' FROM e)))),
          'NDCG and MRR lift are checked overall and per segment');
SELECT throws_ok($$SELECT * FROM recsys.recsys_check_guardrails('ev', '{"coverage": 1.0, "raise": true}')$$, '23514', NULL,
                 'a failed guardrail raises when asked to');
SELECT recsys.recsys_set_guardrails('ev', '{"coverage": 0.0, "long_tail": 0.0, "ndcg_lift": -1, "mrr_lift": -1}');
SELECT is((SELECT bool_and(passed) FROM recsys.recsys_check_guardrails('ev')), true, 'namespace thresholds apply');

-- Tuning: a grid of two values, both runs stored, the best reported.
CREATE TEMP TABLE t AS SELECT recsys.recsys_tune('ev', '{"mmr_lambda": [0.3, 1.0]}', '{"segments": false}') AS r;
SELECT is((SELECT count(*)::int FROM recsys.tuning_runs WHERE tune_id = (SELECT (r ->> 'tune_id')::uuid FROM t)), 2,
          'every run of the grid is stored');
SELECT is((SELECT (r -> 'best' -> 'model' ->> 'ndcg')::float8 FROM t),
          (SELECT max((results -> 'model' ->> 'ndcg')::float8) FROM recsys.tuning_runs WHERE tune_id = (SELECT (r ->> 'tune_id')::uuid FROM t)),
          'the best run is reported');

SELECT * FROM finish();
ROLLBACK;
