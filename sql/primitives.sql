-- The composable primitives recsys_mmr and recsys_blend: exact output and errors.
SET client_min_messages = warning;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS recsys;

-- Relevance only (lambda 1): by score, ties by item_id.
SELECT * FROM recsys.recsys_mmr('[{"item_id": "b", "score": 0.5}, {"item_id": "a", "score": 0.5}, {"item_id": "c", "score": 0.9}]',
                                3, '{"mmr_lambda": 1}');
-- Embedding cosine: with lambda 0.5 the near-duplicate b gives way to the dissimilar c.
SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1.0, "embedding": [1, 0]},
                                  {"item_id": "b", "score": 0.95, "embedding": [1, 0.01]},
                                  {"item_id": "c", "score": 0.6, "embedding": [0, 1]}]', 2, '{"mmr_lambda": 0.9}');
SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1.0, "embedding": [1, 0]},
                                  {"item_id": "b", "score": 0.95, "embedding": [1, 0.01]},
                                  {"item_id": "c", "score": 0.6, "embedding": [0, 1]}]', 2, '{"mmr_lambda": 0.5}');
-- Without embeddings, similarity is Jaccard over tags, brand and category.
SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 3, "tags": ["red", "wool"]},
                                  {"item_id": "b", "score": 2.9, "tags": ["red", "wool"]},
                                  {"item_id": "c", "score": 1, "tags": ["blue"]}]', 3, '{"mmr_lambda": 0.5}');
-- Hard caps: at most one item per brand, even if fewer than k come out.
SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 3, "brand": "acme"}, {"item_id": "b", "score": 2, "brand": "acme"},
                                  {"item_id": "c", "score": 1, "brand": "zed", "category": "hats"},
                                  {"item_id": "d", "score": 0.5, "brand": "yak", "category": "hats"}]', 4,
                                '{"brand_cap": 1, "category_cap": 1}');
SELECT count(*) AS picked FROM recsys.recsys_mmr('[]', 5);

-- Blend: each weighted signal min-max normalised over the list, missing signals count 0.
SELECT * FROM recsys.recsys_blend('[{"item_id": "a", "signals": {"popularity": 10, "co_visitation": null}},
                                    {"item_id": "b", "signals": {"popularity": 20, "co_visitation": 3}},
                                    {"item_id": "c", "signals": {"popularity": 15, "embedding": 0.9}}]',
                                  '{"popularity": 0.5, "co_visitation": 2}');

-- Errors.
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT n AS "case", pg_temp.outcome(statement) AS outcome
  FROM (VALUES
    (1, $$SELECT * FROM recsys.recsys_mmr('{}')$$),
    (2, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a"}]')$$),
    (3, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": "high"}]')$$),
    (4, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1}, {"item_id": "a", "score": 2}]')$$),
    (5, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1, "embedding": [1, 2]}, {"item_id": "b", "score": 1, "embedding": [1]}]')$$),
    (6, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1}]', 0)$$),
    (7, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1}]', 5, '{"mmr_lambda": 1.5}')$$),
    (8, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1}]', 5, '{"brand_cap": -1}')$$),
    (9, $$SELECT * FROM recsys.recsys_mmr('[{"item_id": "a", "score": 1}]', 5, '{"diversity": 1}')$$),
    (10, $$SELECT * FROM recsys.recsys_blend('[{"item_id": "a", "signals": {"p": "x"}}]', '{"p": 1}')$$),
    (11, $$SELECT * FROM recsys.recsys_blend('[{"item_id": "a", "signals": {"p": 1}}]', '{}')$$),
    (12, $$SELECT * FROM recsys.recsys_blend('[{"item_id": "a", "signals": {"p": 1}}]', '{"p": "heavy"}')$$),
    (13, $$SELECT * FROM recsys.recsys_blend('[{"item_id": "a"}]', '{"p": 1}')$$)
  ) AS cases(n, statement)
 ORDER BY n;
