-- The decision log: what each serving function writes, sampling, rollback, read-only
-- transactions, searches, the facts pack, retention, bandit blocks and tenant isolation.
BEGIN;
SET client_min_messages = warning;
SELECT plan(43);
SET recsys.org_id = 'dcdcdcdc-0000-0000-0000-00000000000a';
SELECT recsys.recsys_seed_synthetic('dl', '{"items": 800, "users": 60, "events": 8000, "end": "2026-11-01T00:00:00Z"}');
ANALYZE recsys.items, recsys.item_popularity, recsys.user_items, recsys.covis, recsys.events;

-- One decision per serving function.
CREATE TEMP TABLE served AS SELECT * FROM recsys.recsys_rank('dl', 'user_3', 10, 'home', '{"exclude_seen": true}');
SELECT is((SELECT count(*)::int FROM recsys.rec_decisions WHERE namespace = 'dl'), 1, 'recsys_rank logs one decision');
CREATE TEMP TABLE d1 AS SELECT * FROM recsys.rec_decisions WHERE namespace = 'dl';
SELECT is((SELECT item_ids FROM d1), (SELECT array_agg(item_id ORDER BY rank) FROM served), 'the served items are logged in rank order');
SELECT is((SELECT array_agg(DISTINCT a.attcompression::text) FROM pg_inherits i
             JOIN pg_attribute a ON a.attrelid = i.inhrelid AND a.attname IN ('candidates', 'items', 'dropped', 'config', 'rules')
            WHERE i.inhparent = 'recsys.rec_decisions'::regclass),
          ARRAY['l'], 'the large columns of every decision partition use lz4');
SELECT is((SELECT jsonb_agg(x -> 'reasons' ORDER BY (x ->> 'rank')::int) FROM d1, jsonb_array_elements(d1.items) x),
          (SELECT jsonb_agg(to_jsonb(reasons) ORDER BY rank) FROM served), 'with their reasons');
SELECT is((SELECT jsonb_build_array(function, surface, k, options) FROM d1), '["rank", "home", 10, {"exclude_seen": true}]'::jsonb,
          'function, surface, k and the request options are logged');
SELECT ok((SELECT config_hash = md5(config::text) AND (config ->> 'fanout')::int = 500 FROM d1),
          'the effective configuration and its hash are logged');
SELECT is((SELECT (funnel ->> 'candidates')::int FROM d1), (SELECT cardinality(candidates) FROM d1),
          'the funnel counts the logged candidates');
SELECT is((SELECT (funnel ->> 'seen')::int FROM d1), (SELECT count(*)::int FROM d1, jsonb_each_text(d1.dropped) e WHERE e.value = 'seen'),
          'every candidate the seen filter removed is named in dropped');
SELECT is((SELECT count(*)::int FROM d1, jsonb_object_keys(d1.dropped) AS x(dropped_id) WHERE x.dropped_id = ANY (d1.item_ids)), 0,
          'no dropped candidate was served');
SELECT ok((SELECT user_id IS NULL AND user_hash ~ '^[0-9a-f]{64}$' AND user_hash <> encode(sha256('user_3'), 'hex') FROM d1),
          'the user is stored as a salted hash, not the raw id');
SELECT ok((SELECT duration_ms > 0 AND segment IS NOT NULL AND bandit IS NULL FROM d1), 'duration and segment are logged');

SELECT recsys.recsys_rerank('dl', 'user_3', ARRAY['item_1', 'item_2', 'item_3']);
CREATE TEMP TABLE rec AS SELECT recsys.recsys_recommend('dl', '{"user_id": "user_5", "k": 5, "request_id": "0b0b0b0b-0000-4000-8000-000000000001"}') AS r;
SELECT is((SELECT array_agg(function ORDER BY created_at) FROM recsys.rec_decisions WHERE namespace = 'dl'),
          ARRAY['rank', 'rerank', 'recommend'], 'rerank and recommend log their decisions too');
SELECT is((SELECT request_id::text FROM recsys.rec_decisions WHERE decision_id = ((SELECT r ->> 'decision_id' FROM rec))::uuid),
          '0b0b0b0b-0000-4000-8000-000000000001', 'recommend logs the caller''s request_id under the decision_id it returns');

-- Queries.
SELECT is((SELECT count(*)::int FROM recsys.recsys_decisions('dl')), 3, 'recsys_decisions lists the namespace''s decisions');
SELECT is((SELECT function FROM recsys.recsys_decisions('dl', user_id => 'user_5')), 'recommend', 'filtered by user id (through its hash)');
SELECT is((SELECT function FROM recsys.recsys_decisions('dl', request_id => '0b0b0b0b-0000-4000-8000-000000000001')),
          'recommend', 'filtered by request id');
SELECT is((SELECT count(*)::int FROM recsys.recsys_decisions('dl', item_id => (SELECT item_id FROM served WHERE rank = 1))),
          (SELECT count(*)::int FROM recsys.rec_decisions WHERE namespace = 'dl' AND (SELECT item_id FROM served WHERE rank = 1) = ANY (item_ids)),
          'filtered by a served item');
SELECT is((SELECT array_agg(function ORDER BY created_at DESC) FROM recsys.recsys_decisions('dl', lim => 2)), ARRAY['recommend', 'rerank'],
          'newest first, at most lim rows');
SELECT is((SELECT array_agg(p.function) FROM recsys.recsys_decisions('dl', lim => 2) l,
                  LATERAL recsys.recsys_decisions('dl', until => (SELECT min(created_at) FROM recsys.recsys_decisions('dl', lim => 2))) p),
          ARRAY['rank', 'rank'], 'the next page starts before the last row');
SELECT is((SELECT recsys.recsys_decision(decision_id::text) ->> 'function' FROM d1), 'rank', 'recsys_decision returns the full trace');
SELECT ok((SELECT NOT recsys.recsys_decision(decision_id::text) ? 'org_id' FROM d1), 'without the organisation id');

-- A rule that fires is searchable, and the served item carries it.
CREATE TEMP TABLE boost_rule AS
SELECT recsys.recsys_upsert_rule('dl', jsonb_build_object('action', 'boost', 'boost', 3,
                                 'target', jsonb_build_object('item_ids', jsonb_build_array((SELECT item_id FROM served WHERE rank = 5))))) AS id;
SELECT recsys.recsys_rank('dl', 'user_3', 10, 'home', '{"exclude_seen": true}');
SELECT is((SELECT count(*)::int FROM recsys.recsys_decisions('dl', rule_id => (SELECT id::text FROM boost_rule))), 1,
          'decisions are found by a rule that acted');
SELECT is((SELECT x -> 'rules' -> 0 ->> 'action' FROM recsys.rec_decisions d, jsonb_array_elements(d.items) x
            WHERE d.namespace = 'dl' AND d.rule_ids @> ARRAY[(SELECT id::text FROM boost_rule)]
              AND x ->> 'item_id' = (SELECT item_id FROM served WHERE rank = 5)), 'boost', 'the served item names the rule');
SELECT is((SELECT d.rules -> (SELECT id::text FROM boost_rule) FROM recsys.rec_decisions d
            WHERE d.namespace = 'dl' AND d.rule_ids @> ARRAY[(SELECT id::text FROM boost_rule)]),
          jsonb_build_object('action', 'boost', 'priority', 0, 'candidates', 1), 'the rules block counts the candidates a rule named');
-- A tag-wide rule: the count is that of the candidates carrying the tag; only served items list it.
CREATE TEMP TABLE tag_rule AS
SELECT recsys.recsys_upsert_rule('dl', jsonb_build_object('action', 'boost', 'boost', 0.5,
                                 'target', jsonb_build_object('tag', (SELECT i.tags[1] FROM recsys.items i JOIN served s USING (item_id)
                                                                       WHERE i.namespace = 'dl' AND s.rank = 1)))) AS id;
SELECT recsys.recsys_rank('dl', 'user_4', 10, 'home');
CREATE TEMP TABLE d_tag AS
SELECT d.* FROM recsys.rec_decisions d WHERE d.namespace = 'dl' AND d.rule_ids @> ARRAY[(SELECT id::text FROM tag_rule)];
SELECT is((SELECT (d.rules -> (SELECT id::text FROM tag_rule) ->> 'candidates')::int FROM d_tag d),
          (SELECT count(*)::int FROM d_tag d, unnest(d.candidates) c
             JOIN recsys.items i ON i.namespace = 'dl' AND i.item_id = c
            WHERE (SELECT target ->> 'tag' FROM recsys.rules WHERE rule_id = (SELECT id FROM tag_rule)) = ANY (i.tags)),
          'a tag rule counts every candidate with the tag');
SELECT is((SELECT array_agg(x ->> 'item_id' ORDER BY (x ->> 'rank')::int) FROM d_tag d, jsonb_array_elements(d.items) x
            WHERE x -> 'rules' @> jsonb_build_array(jsonb_build_object('rule_id', (SELECT id::text FROM tag_rule)))),
          (SELECT array_agg(x ->> 'item_id' ORDER BY (x ->> 'rank')::int) FROM d_tag d, jsonb_array_elements(d.items) x
             JOIN recsys.items i ON i.namespace = 'dl' AND i.item_id = x ->> 'item_id'
            WHERE (SELECT target ->> 'tag' FROM recsys.rules WHERE rule_id = (SELECT id FROM tag_rule)) = ANY (i.tags)),
          'exactly the served items with the tag name the rule');
SELECT recsys.recsys_delete_rule('dl', (SELECT id FROM tag_rule));

-- The facts pack.
CREATE TEMP TABLE facts AS SELECT recsys.recsys_explain_item('dl', (SELECT item_id FROM served WHERE rank = 5)) AS f;
SELECT is((SELECT (f -> 'decisions' ->> 'served')::int FROM facts),
          (SELECT count(*)::int FROM recsys.rec_decisions WHERE namespace = 'dl' AND (SELECT item_id FROM served WHERE rank = 5) = ANY (item_ids)),
          'explain_item counts how often the item was served');
SELECT ok((SELECT (f -> 'decisions' ->> 'candidate')::int >= (f -> 'decisions' ->> 'served')::int FROM facts),
          'and how often it was a candidate');
SELECT is((SELECT f -> 'decisions' -> 'rules_in_served_lists' -> 0 ->> 'rule_id' FROM facts), (SELECT id::text FROM boost_rule),
          'and which rule acted on it');
SELECT is((SELECT f -> 'rules_now' -> 0 ->> 'action' FROM facts), 'boost', 'and the rules that apply to it now');

-- Sampling and raw ids.
CREATE TEMP TABLE logged_before AS SELECT count(*)::int AS n FROM recsys.rec_decisions WHERE namespace = 'dl';
SELECT recsys.recsys_configure('dl', '{"decision_sample_rate": 0}');
SELECT recsys.recsys_rank('dl', 'user_3', 10);
SELECT is((SELECT count(*)::int FROM recsys.rec_decisions WHERE namespace = 'dl'), (SELECT n FROM logged_before),
          'sample rate 0 logs nothing');
SELECT recsys.recsys_configure('dl', '{"decision_sample_rate": 1, "decision_log_user_ids": true}');
SELECT recsys.recsys_rank('dl', 'user_7', 10);
SELECT is((SELECT user_id FROM recsys.rec_decisions WHERE namespace = 'dl' ORDER BY created_at DESC LIMIT 1), 'user_7',
          'with decision_log_user_ids the raw id is stored too');

-- A decision is part of the caller's transaction.
SAVEPOINT before_rollback;
SELECT recsys.recsys_rank('dl', 'user_8', 10);
ROLLBACK TO SAVEPOINT before_rollback;
SELECT is((SELECT count(*)::int FROM recsys.rec_decisions WHERE namespace = 'dl'), (SELECT n + 1 FROM logged_before),
          'a rolled-back transaction leaves no decision');

-- The bandit block.
SELECT recsys.recsys_upsert_policies('dl', '[{"policy_id": "p1", "settings": {"alpha": 2}}]');
CREATE TEMP TABLE br AS SELECT recsys.recsys_bandit_recommend('dl', 'user_9', 5, 'home') AS r;
SELECT is((SELECT bandit ->> 'policy_id' FROM recsys.rec_decisions WHERE decision_id = (SELECT (r ->> 'audit_decision_id')::uuid FROM br)),
          'p1', 'bandit_recommend logs the bandit decision');
SELECT is((SELECT function || ':' || (bandit ->> 'decision_id') FROM recsys.rec_decisions
            WHERE decision_id = (SELECT (r ->> 'audit_decision_id')::uuid FROM br)),
          'bandit_recommend:' || (SELECT r -> 'decision' ->> 'decision_id' FROM br), 'with the bandit decision id');

-- Retention: partitions past recsys.decision_retention_days go, today's stays.
SELECT recsys._ensure_decision_partition(current_date - 400);
SELECT is((SELECT recsys.recsys_maintain_decisions() -> 'dropped'), jsonb_build_array(recsys._decision_partition_name(current_date - 400)),
          'maintenance drops the partitions older than the retention');
SELECT ok(to_regclass('recsys.' || recsys._decision_partition_name((now() AT TIME ZONE 'UTC')::date)) IS NOT NULL
          AND to_regclass('recsys.' || recsys._decision_partition_name((now() AT TIME ZONE 'UTC')::date + 2)) IS NOT NULL,
          'and keeps today''s and creates the next days''');

-- Tenant isolation.
SET recsys.org_id = 'dcdcdcdc-0000-0000-0000-00000000000b';
SELECT is((SELECT count(*)::int FROM recsys.recsys_decisions('dl')), 0, 'another organisation sees none of these decisions');
SELECT throws_ok(format('SELECT recsys.recsys_decision(%L)', (SELECT decision_id FROM d1)), '42704', NULL,
                 'nor reads one by its id');
CREATE ROLE tap_auditor_b NOLOGIN IN ROLE recsys_auditor;
SELECT recsys.recsys_map_role('tap_auditor_b', 'dcdcdcdc-0000-0000-0000-00000000000b');
RESET recsys.org_id;
SET LOCAL ROLE tap_auditor_b;
SELECT is((SELECT count(*)::int FROM recsys.rec_decisions), 0, 'an auditor of another organisation reads none of the rows');
SELECT throws_ok('SELECT * FROM recsys.metrics', '42501', NULL, 'only recsys_monitor reads the cross-organisation metrics');
RESET ROLE;

-- Read-only: serving works, nothing is logged, the skip is counted.
SET recsys.org_id = 'dcdcdcdc-0000-0000-0000-00000000000a';
CREATE TEMP TABLE skipped_before AS SELECT read_only FROM recsys._skipped_decisions();
-- (pgTAP records results in a table, so the checks run after the savepoint is rolled back.)
SAVEPOINT read_only;
SET LOCAL transaction_read_only = on;
SELECT count(*) AS served_read_only FROM recsys.recsys_rank('dl', 'user_3', 10) \gset
SELECT read_only - (SELECT read_only FROM skipped_before) AS skipped_read_only FROM recsys._skipped_decisions() \gset
ROLLBACK TO SAVEPOINT read_only;
SELECT is(:served_read_only::int, 10, 'a read-only transaction is served');
SELECT is(:skipped_read_only::bigint, 1::bigint, 'its decision is counted as skipped');

SELECT * FROM finish();
ROLLBACK;
