-- Composable ranking primitives over caller-supplied candidate lists (jsonb in, table out).
-- They share the C++ core with recsys_rank and touch no tenant data.

CREATE FUNCTION recsys._mmr(item_ids text[], relevance float8[], brands text[], categories text[], tags text[],
                            embeddings real[], dim int, k int, lambda float8, brand_cap int, category_cap int)
    RETURNS TABLE (idx int, max_similarity float8, mmr_score float8)
    AS 'MODULE_PATHNAME', 'recsys_mmr_internal' LANGUAGE C IMMUTABLE;

CREATE FUNCTION recsys._blend(signals float8[], rows int, weights float8[], OUT scores float8[], OUT normalized float8[])
    AS 'MODULE_PATHNAME', 'recsys_blend_internal' LANGUAGE C IMMUTABLE STRICT;

-- The first problem of one MMR candidate.
CREATE FUNCTION recsys._candidate_problem(e jsonb, dim int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'score', 'brand', 'category', 'tags', 'embedding']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN NOT e ? 'score' THEN ARRAY['score', '22023', 'is required'] END,
        recsys._number_problem(e, 'score', NULL),
        recsys._string_problem(e, 'brand', 256),
        recsys._string_problem(e, 'category', 256),
        recsys._tags_problem(e),
        recsys._embedding_problem(e, dim))
END;

-- Raises unless `value` is a whole number in [low, high]; returns it (or `fallback` when NULL).
CREATE FUNCTION recsys._option_int(options jsonb, name text, low int, high int, fallback int) RETURNS int
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF options -> name IS NULL OR jsonb_typeof(options -> name) = 'null' THEN
        RETURN fallback;
    END IF;
    IF jsonb_typeof(options -> name) <> 'number' OR (options ->> name)::numeric % 1 <> 0
       OR (options ->> name)::numeric NOT BETWEEN low AND high THEN
        RAISE EXCEPTION 'option "%" must be a whole number between % and %, not %', name, low, high, options -> name
            USING ERRCODE = '22023';
    END IF;
    RETURN (options ->> name)::int;
END
$$;

-- Raises unless `value` is a number in [low, high]; returns it (or `fallback` when NULL).
CREATE FUNCTION recsys._option_number(options jsonb, name text, low float8, high float8, fallback float8) RETURNS float8
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF options -> name IS NULL OR jsonb_typeof(options -> name) = 'null' THEN
        RETURN fallback;
    END IF;
    IF jsonb_typeof(options -> name) <> 'number' OR (options ->> name)::numeric NOT BETWEEN low AND high THEN
        RAISE EXCEPTION 'option "%" must be a number between % and %, not %', name, low, high, options -> name
            USING ERRCODE = '22023';
    END IF;
    RETURN (options ->> name)::float8;
END
$$;

-- MMR over a candidate list [{item_id, score, brand?, category?, tags?[], embedding?[]}]:
-- scores are min-max normalised, then items are picked greedily by
-- mmr_lambda * score - (1 - mmr_lambda) * (max similarity to the items already picked), within
-- hard brand/category caps. Similarity is embedding cosine where both items have embeddings, else
-- Jaccard over tags, brand and category. Rows come in pick order; `score` is the caller's score;
-- reasons hold "diversity" when the item was picked ahead of a higher-scored one.
-- Options: mmr_lambda (0.7), brand_cap (0: none), category_cap (0: none).
CREATE FUNCTION recsys.recsys_mmr(candidates jsonb, k int DEFAULT 20, options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    payload jsonb := $1;
    opts jsonb := $3;
    dim int;
    lambda float8;
    brand_cap int;
    category_cap int;
BEGIN
    PERFORM recsys._check_batch(payload, 'candidates');
    IF k IS NULL OR k < 1 OR k > 1000 THEN
        RAISE EXCEPTION 'k must be between 1 and 1000, not %', coalesce(k::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_filter(opts, ARRAY['mmr_lambda', 'brand_cap', 'category_cap'], 'options');
    lambda := recsys._option_number(opts, 'mmr_lambda', 0, 1, 0.7);
    brand_cap := recsys._option_int(opts, 'brand_cap', 0, 1000, 0);
    category_cap := recsys._option_int(opts, 'category_cap', 0, 1000, 0);
    SELECT jsonb_array_length(e -> 'embedding') INTO dim
      FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
     WHERE jsonb_typeof(e) = 'object' AND jsonb_typeof(e -> 'embedding') = 'array' ORDER BY i LIMIT 1;
    PERFORM recsys._check_payload(payload, 'candidates', 'candidate',
                                  format('recsys._candidate_problem(e, %s)', coalesce(dim::text, 'NULL')), 'item_id');
    RETURN QUERY
    WITH c AS (
        SELECT i::int AS idx, e ->> 'item_id' AS item_id, (e ->> 'score')::float8 AS score, e
          FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)),
    picks AS (
        SELECT row_number() OVER ()::int AS pick, m.idx
          FROM recsys._mmr(
                   (SELECT array_agg(c.item_id ORDER BY c.idx) FROM c),
                   (SELECT array_agg(c.score ORDER BY c.idx) FROM c),
                   (SELECT array_agg(c.e ->> 'brand' ORDER BY c.idx) FROM c),
                   (SELECT array_agg(c.e ->> 'category' ORDER BY c.idx) FROM c),
                   (SELECT array_agg((SELECT string_agg(t, E'\x1f') FROM jsonb_array_elements_text(
                                          CASE WHEN jsonb_typeof(c.e -> 'tags') = 'array' THEN c.e -> 'tags' ELSE '[]' END) t)
                                     ORDER BY c.idx) FROM c),
                   CASE WHEN dim IS NULL THEN NULL ELSE
                   (SELECT array_agg(v ORDER BY c.idx, x.n)
                      FROM c CROSS JOIN LATERAL (
                           SELECT n, CASE WHEN jsonb_typeof(c.e -> 'embedding') = 'array'
                                          THEN (c.e -> 'embedding' ->> (n - 1))::real END AS v
                             FROM generate_series(1, dim) n) x) END,
                   coalesce(dim, 0), k, lambda, brand_cap, category_cap) m)
    SELECT p.pick, c.item_id, c.score,
           CASE WHEN EXISTS (SELECT 1 FROM c later JOIN picks lp ON lp.idx = later.idx
                              WHERE lp.pick > p.pick AND later.score > c.score)
                  OR EXISTS (SELECT 1 FROM c skipped WHERE skipped.score > c.score
                                AND NOT EXISTS (SELECT 1 FROM picks sp WHERE sp.idx = skipped.idx))
                THEN ARRAY['relevance', 'diversity'] ELSE ARRAY['relevance'] END
      FROM picks p JOIN c ON c.idx = p.idx
     ORDER BY p.pick;
END
$$;

-- Blends signals of a candidate list [{item_id, signals: {name: number|null}}] with weights
-- {name: number}: each weighted signal is min-max normalised over the list (missing = 0) and
-- score = sum(weight * normalised signal). Rows by score, ties by item_id; `signals` holds the
-- normalised values. Signals without a weight are ignored.
CREATE FUNCTION recsys.recsys_blend(candidates jsonb, weights jsonb)
    RETURNS TABLE (item_id text, score float8, signals jsonb)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    payload jsonb := $1;
    w jsonb := $2;
    names text[];
    bad text;
    result record;
BEGIN
    IF w IS NULL OR jsonb_typeof(w) <> 'object' OR w = '{}' THEN
        RAISE EXCEPTION 'weights must be a non-empty JSON object of numbers' USING ERRCODE = '22023';
    END IF;
    SELECT k INTO bad FROM jsonb_each(w) x(k, v) WHERE jsonb_typeof(v) <> 'number' OR abs(v::numeric) > 1e6 ORDER BY k LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'weight "%" must be a number between -1000000 and 1000000, not %', bad, w -> bad USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_payload(payload, 'candidates', 'candidate', 'recsys._blend_candidate_problem(e)', 'item_id');
    names := ARRAY(SELECT jsonb_object_keys(w) ORDER BY 1);
    SELECT * INTO result FROM recsys._blend(
        coalesce((SELECT array_agg(coalesce((e -> 'signals' ->> n)::float8, 'NaN') ORDER BY i, k)
                    FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i), unnest(names) WITH ORDINALITY u(n, k)), '{}'),
        jsonb_array_length(payload),
        ARRAY(SELECT (w ->> n)::float8 FROM unnest(names) WITH ORDINALITY u(n, k) ORDER BY k));
    RETURN QUERY
    SELECT e ->> 'item_id', result.scores[i],
           (SELECT jsonb_object_agg(n, result.normalized[(i - 1) * cardinality(names) + k])
              FROM unnest(names) WITH ORDINALITY u(n, k))
      FROM jsonb_array_elements(payload) WITH ORDINALITY a(e, i)
     ORDER BY 2 DESC, 1;
END
$$;

-- The first problem of one blend candidate.
CREATE FUNCTION recsys._blend_candidate_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'signals']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN jsonb_typeof(e -> 'signals') IS DISTINCT FROM 'object' THEN ARRAY['signals', '22023', 'must be an object of numbers'] END,
        (SELECT ARRAY['signals', '22023', format('value "%s" must be a number or null, not %s', k, jsonb_typeof(v))]
           FROM jsonb_each(e -> 'signals') x(k, v)
          WHERE jsonb_typeof(v) NOT IN ('number', 'null') ORDER BY k LIMIT 1),
        (SELECT ARRAY['signals', '22003', format('value "%s" is out of range', k)]
           FROM jsonb_each(e -> 'signals') x(k, v)
          WHERE jsonb_typeof(v) = 'number' AND abs(v::numeric) >= 1e300 ORDER BY k LIMIT 1))
END;
