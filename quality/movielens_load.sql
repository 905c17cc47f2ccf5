-- Loads a topk_eval.py split of MovieLens ml-latest-small into namespace :ns through the
-- ingestion functions: movies as items (genres as tags, the first genre as category, the title
-- in props), train ratings as events (one event type, the star value dropped, as the protocol
-- says). psql variables: ns, movies (path of movies.csv), train (path of train.csv).
-- Every interaction counts alike and for years: one type with weight 1 and a 100-year half-life.
\set ON_ERROR_STOP on
SELECT recsys.recsys_reset_namespace(:'ns', true) WHERE EXISTS (SELECT 1 FROM recsys.namespaces WHERE namespace = :'ns');
SELECT recsys.recsys_upsert_event_types(:'ns', '[{"name": "view", "weight": 1, "half_life_days": 36500}]');
CREATE TEMP TABLE ml_movies (movie_id text, title text, genres text);
-- (\copy does not expand variables: build the command in one.)
\set copy_movies '\\copy ml_movies FROM ' :'movies' ' WITH (FORMAT csv, HEADER)'
:copy_movies
SELECT recsys.recsys_upsert_items(:'ns', jsonb_agg(jsonb_build_object(
           'item_id', movie_id,
           'tags', CASE WHEN genres = '(no genres listed)' THEN '[]'::jsonb ELSE to_jsonb(string_to_array(genres, '|')) END,
           'category', CASE WHEN genres = '(no genres listed)' THEN NULL ELSE split_part(genres, '|', 1) END,
           'props', jsonb_build_object('title', title),
           'created_at', '1990-01-01T00:00:00Z')))
  FROM ml_movies;
CREATE TEMP TABLE ml_train (user_id text, item_id text, rating float8, ts bigint);
\set copy_train '\\copy ml_train FROM ' :'train' ' WITH (FORMAT csv, HEADER)'
:copy_train
SELECT sum((recsys.recsys_record_events(:'ns', b.events) ->> 'stored')::int) AS events_stored
  FROM (SELECT jsonb_agg(jsonb_build_object('user_id', user_id, 'item_id', item_id, 'type', 'view',
                                            'ts', to_timestamp(ts)) ORDER BY ts, user_id, item_id) AS events
          FROM (SELECT t.*, (row_number() OVER (ORDER BY ts, user_id, item_id) - 1) / 10000 AS batch FROM ml_train t) x
         GROUP BY batch ORDER BY batch) b;
ANALYZE recsys.items, recsys.events, recsys.item_popularity, recsys.user_items, recsys.covis;
