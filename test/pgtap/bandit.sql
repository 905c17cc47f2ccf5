-- Bandits: policies, decisions, rewards, holdout, buckets, the select primitive, recommend with a
-- policy, and a simulation with known reward rates through the SQL functions.
BEGIN;
SET client_min_messages = warning;
SELECT plan(38);
SET recsys.org_id = 'abababab-0000-0000-0000-000000000007';
SET recsys.bandit_seed = 11;

SELECT is(recsys.recsys_upsert_policies('bd', '[{"policy_id": "popular", "name": "Popular", "settings": {"alpha": 1, "beta": 0}},
                                                {"policy_id": "diverse", "settings": {"mmr_lambda": 0.3, "category_cap": 2}}]'),
          '{"inserted": 2, "updated": 0}', 'policies are created');
SELECT throws_ok($$SELECT recsys.recsys_upsert_policies('bd', '[{"policy_id": "x", "settings": {"mmr_lambda": 3}}]')$$,
                 '22023', 'knob "mmr_lambda" in policy "x" must be a number between 0 and 1, not 3', 'policy knobs are validated');
SELECT throws_ok($$SELECT recsys.recsys_upsert_policies('bd', '[{"policy_id": "x"}]')$$,
                 '22023', 'invalid policy at index 0: field "settings" is required', 'settings are required');

-- A decision: fields, a recorded row, a trial counted before any reward.
CREATE TEMP TABLE d1 AS SELECT recsys.recsys_bandit_decide('bd', 'home', '{"hour": 9, "device": "mobile"}') AS d;
SELECT ok((SELECT d ? 'decision_id' AND d ? 'policy_id' AND d ? 'bucket' AND d ? 'explore' AND d ->> 'algorithm' = 'thompson' FROM d1),
          'a decision carries decision_id, policy_id, bucket, explore and algorithm');
SELECT is((SELECT d ->> 'bucket' FROM d1), 'device=mobile&hour=9', 'the bucket is the sorted context');
SELECT is(recsys.recsys_bandit_decide('bd', 'home', '{"device": "mobile", "hour": 9}') ->> 'bucket', 'device=mobile&hour=9',
          'key order does not change the bucket');
SELECT ok(recsys.recsys_bandit_decide('bd', 'home', jsonb_build_object('note', repeat('x', 200))) ->> 'bucket' LIKE 'md5:%',
          'a long context is hashed into a bounded bucket');
SELECT is((SELECT sum(trials)::int FROM recsys.bandit_stats WHERE namespace = 'bd' AND bucket = 'device=mobile&hour=9'), 2,
          'decisions count as trials before any reward');

-- Statistics are per bucket: UCB1 tries every arm once first, so the first two decisions of a
-- fresh bucket cover both policies, whatever was learned elsewhere.
SELECT is((SELECT array_agg(DISTINCT recsys.recsys_bandit_decide('bd', 'home', '{"bucket_test": 1}', NULL, 'ucb1') ->> 'policy_id')
             FROM generate_series(1, 2)), ARRAY['diverse', 'popular'], 'a fresh bucket starts from its own statistics');

-- Rewards credit exactly the decision.
SELECT is((SELECT recsys.recsys_bandit_reward('bd', d ->> 'decision_id', 1) ->> 'credited' FROM d1), 'true', 'a reward is credited');
SELECT is((SELECT reward_sum FROM recsys.bandit_stats s, d1 WHERE s.namespace = 'bd' AND s.bucket = d1.d ->> 'bucket'
             AND s.policy_id = d1.d ->> 'policy_id'), 1::float8, 'to the decided policy and bucket');
SELECT is((SELECT recsys.recsys_bandit_reward('bd', d ->> 'decision_id', 1) ->> 'credited' FROM d1), 'false',
          'the same reward again is accepted and ignored');
SELECT throws_ok($$SELECT recsys.recsys_bandit_reward('bd', (SELECT d ->> 'decision_id' FROM d1), 0)$$, '55000', NULL,
                 'a different second reward is refused');
SELECT is((SELECT sum(reward_sum)::int FROM recsys.bandit_stats WHERE namespace = 'bd'), 1, 'nothing was credited twice');
SELECT throws_ok($$SELECT recsys.recsys_bandit_reward('bd', '00000000-0000-0000-0000-000000000000', 1)$$, '42704', NULL,
                 'a reward for an unknown decision is an error');
SELECT throws_ok($$SELECT recsys.recsys_bandit_reward('bd', 'not-a-uuid', 1)$$, '22P02', NULL, 'a malformed decision id is an error');
SELECT throws_ok($$SELECT recsys.recsys_bandit_reward('bd', (SELECT d ->> 'decision_id' FROM d1), 1.5)$$, '22023', NULL,
                 'rewards outside [0, 1] are errors');
SELECT throws_ok($$SELECT recsys.recsys_bandit_decide('bd', 'home', '{}', NULL, 'greedy')$$, '22023', NULL, 'unknown algorithms are errors');
SELECT throws_ok($$SELECT recsys.recsys_bandit_decide('bd', 'home', '{}', ARRAY['nope'])$$, '42704', NULL, 'unknown policies are errors');

-- Holdout: served the best policy so far, kept out of the statistics, visible in bandit_lift.
SELECT recsys.recsys_bandit_holdout('bd', 'control', 1.0);
SELECT is((SELECT count(*)::int FROM generate_series(1, 5) g
            WHERE (recsys.recsys_bandit_decide('bd', 'control') ->> 'holdout')::boolean), 5, 'a holdout share of 1 holds every decision out');
SELECT is((SELECT count(*)::int FROM recsys.bandit_stats WHERE namespace = 'bd' AND surface = 'control'), 0,
          'holdout decisions stay out of the statistics');
SELECT is((SELECT holdout_decisions::int FROM recsys.bandit_lift WHERE namespace = 'bd' AND surface = 'control'), 5,
          'bandit_lift counts them');

-- The pure primitive.
SELECT is((SELECT arm_id FROM recsys.recsys_bandit_select('[{"arm_id": "a", "trials": 1000, "reward_sum": 10},
                                                           {"arm_id": "b", "trials": 1000, "reward_sum": 90}]', 'epsilon_greedy',
                                                         '{"epsilon": 0}') WHERE chosen), 'b', 'epsilon 0 picks the best mean');
SELECT throws_ok($$SELECT * FROM recsys.recsys_bandit_select('[{"arm_id": "a", "trials": 1, "reward_sum": 2}]')$$, '22023',
                 'invalid arm at index 0: field "reward_sum" must not exceed trials', 'arm statistics are checked');

-- Recommend with the chosen policy: the policy's knobs apply, request options win.
SELECT recsys.recsys_seed_synthetic('bd', '{"items": 500, "users": 50, "events": 4000, "dim": 16, "categories": 10}');
CREATE TEMP TABLE rec AS SELECT recsys.recsys_bandit_recommend('bd', 'user_3', 10, 'home', '{}', '{"fanout": 200}', ARRAY['diverse'], trace => true) AS r;
SELECT is((SELECT r -> 'decision' ->> 'policy_id' FROM rec), 'diverse', 'the named policy is decided');
SELECT is((SELECT jsonb_array_length(r -> 'items') FROM rec), 10, 'k items come back');
SELECT is((SELECT r -> 'config' -> 'mmr_lambda' FROM rec), '{"value": 0.3, "source": "bandit_policy"}', 'the policy knob applies, with its source');
SELECT is((SELECT r -> 'config' -> 'fanout' FROM rec), '{"value": 200, "source": "request"}', 'request options win over the policy');
SELECT ok(NOT (recsys.recsys_bandit_recommend('bd', 'user_3', 10, 'home') ? 'config'),
          'the knob sources come only with trace');
SELECT is((SELECT d.config -> 'mmr_lambda' FROM rec, recsys.rec_decisions d WHERE d.decision_id = (r ->> 'audit_decision_id')::uuid),
          '0.3', 'the decision log records the policy''s knob in the effective configuration');
SELECT is((SELECT d.options FROM rec, recsys.rec_decisions d WHERE d.decision_id = (r ->> 'audit_decision_id')::uuid),
          '{"fanout": 200}', 'and the request''s own options as options');
-- A segment profile setting the same knob does not overwrite the policy.
SELECT recsys.recsys_upsert_segment('bd', '{"segment_id": "mobile", "condition": {"eq": ["context.device", "mobile"]}, "profile": {"mmr_lambda": 0.9, "brand_cap": 3}}');
CREATE TEMP TABLE seg_rec AS
SELECT recsys.recsys_bandit_recommend('bd', 'user_3', 10, 'home', '{}', '{"context": {"device": "mobile"}}', ARRAY['diverse'], trace => true) AS r;
SELECT is((SELECT r ->> 'segment' FROM seg_rec), 'mobile', 'the segment matches');
SELECT is((SELECT r -> 'config' -> 'mmr_lambda' FROM seg_rec), '{"value": 0.3, "source": "bandit_policy"}',
          'the policy wins over the segment profile');
SELECT is((SELECT r -> 'config' -> 'brand_cap' FROM seg_rec), '{"value": 3, "source": "segment"}',
          'the segment profile sets the knobs the policy leaves alone');
SELECT ok((SELECT max(n) <= 2 FROM (SELECT count(*) AS n FROM rec, jsonb_array_elements(r -> 'items') it
             JOIN recsys.items i ON i.namespace = 'bd' AND i.item_id = it ->> 'item_id' GROUP BY i.category) c),
          'the policy''s category_cap shapes the list');

-- Simulation: 5 policies with reward rates 0.02 .. 0.06, 20,000 decisions per algorithm.
SELECT recsys.recsys_upsert_policies('sim', (SELECT jsonb_agg(jsonb_build_object('policy_id', 'p' || g, 'settings', '{}'::jsonb))
                                              FROM generate_series(1, 5) g));
CREATE TEMP TABLE sim (algorithm text, n int, policy_id text);
CREATE FUNCTION pg_temp.simulate(algo text, decisions int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d jsonb;
BEGIN
    PERFORM setseed(0.42);
    FOR n IN 1 .. decisions LOOP
        d := recsys.recsys_bandit_decide('sim', algo, '{}', NULL, algo);
        INSERT INTO sim VALUES (algo, n, d ->> 'policy_id');
        PERFORM recsys.recsys_bandit_reward('sim', d ->> 'decision_id',
            CASE WHEN random() < 0.01 * (1 + substr(d ->> 'policy_id', 2)::int) THEN 1 ELSE 0 END);
    END LOOP;
END
$$;
SELECT pg_temp.simulate('thompson', 20000);
SELECT pg_temp.simulate('ucb1', 20000);
CREATE TEMP TABLE regret AS
SELECT algorithm, n, sum(0.06 - 0.01 * (1 + substr(policy_id, 2)::int)) OVER (PARTITION BY algorithm ORDER BY n) AS regret FROM sim;
SELECT ok((SELECT avg((policy_id = 'p5')::int) >= 0.8 FROM sim WHERE algorithm = 'thompson' AND n > 15000),
          'thompson picks the best policy in at least 80% of the last 5,000 decisions');
SELECT ok((SELECT avg((policy_id = 'p5')::int) >= 0.8 FROM sim WHERE algorithm = 'ucb1' AND n > 15000),
          'ucb1 picks the best policy in at least 80% of the last 5,000 decisions');
SELECT ok((SELECT bool_and(r20.regret - r10.regret < r10.regret) FROM regret r10 JOIN regret r20 USING (algorithm)
            WHERE r10.n = 10000 AND r20.n = 20000), 'regret grows sub-linearly: the second 10,000 decisions add less than the first');

SELECT * FROM finish();
ROLLBACK;
