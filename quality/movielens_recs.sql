-- Ranks every user of the test split (psql variable: test, path of test.csv) in namespace :ns with
-- options :options (jsonb), top 10 without the user's train items, and prints user,item,rank CSV.
\set ON_ERROR_STOP on
CREATE TEMP TABLE ml_test (user_id text, item_id text, rating float8, ts bigint);
\set copy_test '\\copy ml_test FROM ' :'test' ' WITH (FORMAT csv, HEADER)'
:copy_test
COPY (SELECT u.user_id AS user, r.item_id AS item, r.rank
        FROM (SELECT DISTINCT user_id FROM ml_test) u,
             LATERAL recsys.recsys_rank(:'ns', u.user_id, 10, 'default',
                                        :'options'::jsonb || '{"exclude_seen": true, "explain": "none"}') r
       ORDER BY u.user_id::int, r.rank) TO STDOUT WITH (FORMAT csv, HEADER);
