-- Collaborative filtering: training, the stored model, ranking with factors, fold-in of new
-- users and errors.
BEGIN;
SET client_min_messages = warning;
SELECT plan(13);
SET recsys.org_id = 'fafafafa-0000-0000-0000-00000000000a';
SELECT recsys.recsys_seed_synthetic('cf', '{"items": 600, "users": 80, "events": 8000, "end": "2026-11-01T00:00:00Z"}');
ANALYZE recsys.items, recsys.item_popularity, recsys.user_items, recsys.covis, recsys.events;

SELECT throws_ok($$SELECT recsys.recsys_train_factors('cf', '{"factors": 0}')$$, '22023',
                 'option "factors" must be a whole number between 1 and 1024, not 0', 'factors are checked');
SELECT throws_ok($$SELECT recsys.recsys_train_factors('cf', '{"depth": 3}')$$, '22023', NULL, 'unknown options are refused');
SELECT throws_ok($$SELECT recsys.recsys_train_factors('nope')$$, '42704', 'namespace "nope" does not exist', 'the namespace must exist');

CREATE TEMP TABLE trained AS SELECT recsys.recsys_train_factors('cf', '{"factors": 8, "iterations": 6, "seed": 5}') AS r;
SELECT is((SELECT (r ->> 'interactions')::bigint FROM trained),
          (SELECT count(*) FROM recsys.user_items WHERE namespace = 'cf'), 'every interaction is trained on');
SELECT ok((SELECT (r -> 'losses' ->> 5)::float8 < (r -> 'losses' ->> 0)::float8 FROM trained), 'the objective falls');
SELECT is((SELECT count(*)::int FROM recsys.item_factors WHERE namespace = 'cf' AND cardinality(factors) = 8),
          (SELECT (r ->> 'items')::int FROM trained), 'one 8-factor row per item');
SELECT is((SELECT count(*)::int FROM recsys.user_factors WHERE namespace = 'cf'), (SELECT (r ->> 'users')::int FROM trained),
          'one row per user');
SELECT is((SELECT cardinality(gram) FROM recsys.factor_models WHERE namespace = 'cf'), 64, 'the Gram matrix is stored for fold-in');
CREATE TEMP TABLE again AS SELECT f.item_id, f.factors FROM recsys.item_factors f WHERE namespace = 'cf';
SELECT recsys.recsys_train_factors('cf', '{"factors": 8, "iterations": 6, "seed": 5}');
SELECT is((SELECT count(*)::int FROM recsys.item_factors f JOIN again a USING (item_id) WHERE f.namespace = 'cf' AND f.factors <> a.factors),
          0, 'the same seed trains the same factors');

SELECT ok((SELECT bool_or('collaborative' = ANY (reasons)) FROM recsys.recsys_rank('cf', 'user_3', 20)),
          'ranking uses the factors (reason collaborative)');
SELECT is(recsys._user_factors('fafafafa-0000-0000-0000-00000000000a', 'cf', 'brand_new_user'), NULL,
          'a user without history has no factors');
SELECT recsys.recsys_record_events('cf', '[{"user_id": "brand_new_user", "item_id": "item_1", "type": "purchase"},
                                           {"user_id": "brand_new_user", "item_id": "item_2", "type": "view"}]');
SELECT is(cardinality(recsys._user_factors('fafafafa-0000-0000-0000-00000000000a', 'cf', 'brand_new_user')), 8,
          'a user who arrived after training is folded in from their items');
SELECT ok((SELECT bool_or('collaborative' = ANY (reasons)) FROM recsys.recsys_rank('cf', 'brand_new_user', 20)),
          'and gets collaborative candidates');

-- Cancellation and progress need other sessions: test/integration/train_cancel.sh.

SELECT * FROM finish();
ROLLBACK;
