-- Regret curves of the bandit algorithms through the SQL functions: 5 policies with reward
-- rates 0.02 .. 0.06, 20,000 decisions per algorithm, seeded. Run in a scratch database with
-- recsys installed:  psql -X -q -f bench/bandit_regret.sql
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
SET recsys.org_id = '00000000-0000-0000-0000-0000000be4c2';
SET recsys.bandit_seed = 11;
SELECT recsys.recsys_upsert_policies('regret', (SELECT jsonb_agg(jsonb_build_object('policy_id', 'p' || g, 'settings', '{}'::jsonb))
                                                  FROM generate_series(1, 5) g)) \g /dev/null
CREATE TEMP TABLE sim (algorithm text, n int, policy_id text);
CREATE FUNCTION pg_temp.simulate(algo text, decisions int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    d jsonb;
BEGIN
    PERFORM setseed(0.42);
    FOR n IN 1 .. decisions LOOP
        d := recsys.recsys_bandit_decide('regret', algo, '{}', NULL, algo);
        INSERT INTO sim VALUES (algo, n, d ->> 'policy_id');
        PERFORM recsys.recsys_bandit_reward('regret', d ->> 'decision_id',
            CASE WHEN random() < 0.01 * (1 + substr(d ->> 'policy_id', 2)::int) THEN 1 ELSE 0 END);
    END LOOP;
END
$$;
SELECT pg_temp.simulate(a, 20000) FROM unnest(ARRAY['thompson', 'ucb1', 'epsilon_greedy']) a \g /dev/null
\echo 'cumulative regret (expected reward lost against always choosing the 0.06 policy)'
SELECT c.n AS decisions,
       round(sum(0.06 - 0.01 * (1 + substr(policy_id, 2)::int)) FILTER (WHERE algorithm = 'thompson')::numeric, 1) AS thompson,
       round(sum(0.06 - 0.01 * (1 + substr(policy_id, 2)::int)) FILTER (WHERE algorithm = 'ucb1')::numeric, 1) AS ucb1,
       round(sum(0.06 - 0.01 * (1 + substr(policy_id, 2)::int)) FILTER (WHERE algorithm = 'epsilon_greedy')::numeric, 1) AS epsilon_greedy
  FROM (VALUES (1000), (2000), (5000), (10000), (15000), (20000)) AS c(n)
  JOIN sim s ON s.n <= c.n
 GROUP BY c.n ORDER BY c.n;
\echo 'share of the best policy in the last 5,000 decisions'
SELECT algorithm, round(avg((policy_id = 'p5')::int)::numeric, 3) AS best_share FROM sim WHERE n > 15000 GROUP BY 1 ORDER BY 1;
ROLLBACK;
