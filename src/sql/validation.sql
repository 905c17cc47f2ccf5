-- Validation of JSON ingestion batches. Each _*_problem function returns NULL when its field is
-- acceptable, else ARRAY[field, sqlstate, message]; a batch is checked before anything is written
-- and the first problem (lowest index) is raised, naming the element's index and field.

-- recsys.max_batch_size (calling into the library also defines the recsys.* settings).
CREATE FUNCTION recsys._max_batch_size() RETURNS int
    AS 'MODULE_PATHNAME', 'recsys_max_batch_size' LANGUAGE C STABLE PARALLEL SAFE;

-- Raises unless `payload` is a JSON array within recsys.max_batch_size; returns its length.
CREATE FUNCTION recsys._check_batch(payload jsonb, what text) RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    size int;
    limit_size int := recsys._max_batch_size();
BEGIN
    IF payload IS NULL OR jsonb_typeof(payload) <> 'array' THEN
        RAISE EXCEPTION '% must be a JSON array, not %', what, coalesce(jsonb_typeof(payload), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    size := jsonb_array_length(payload);
    IF size > limit_size THEN
        RAISE EXCEPTION 'batch of % % exceeds recsys.max_batch_size (%)', size, what, limit_size
            USING ERRCODE = '22023', HINT = 'Split the batch, or raise recsys.max_batch_size.';
    END IF;
    RETURN size;
END
$$;

-- Raises the first problem of a batch's elements, as "invalid <what> at index i: field ...".
-- `problem` is an internal SQL expression over the element `e` giving a _*_problem result.
CREATE FUNCTION recsys._check_elements(payload jsonb, what text, problem text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    idx bigint;
    found_problem text[];
BEGIN
    EXECUTE format('SELECT i - 1, p FROM jsonb_array_elements($1) WITH ORDINALITY a(e, i), %s AS p
                     WHERE p IS NOT NULL ORDER BY i LIMIT 1', problem)
       INTO idx, found_problem USING payload;
    IF found_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid % at index %: %', what, idx,
            CASE WHEN found_problem[1] IS NULL THEN found_problem[3]
                 ELSE format('field "%s" %s', found_problem[1], found_problem[3]) END
            USING ERRCODE = found_problem[2];
    END IF;
END
$$;

-- The first key of `e` that is not in `known`.
CREATE FUNCTION recsys._unknown_field_problem(e jsonb, known text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE WHEN e - known <> '{}'::jsonb THEN
           (SELECT ARRAY[k, '22023', format('is not known (known fields: %s)', array_to_string(known, ', '))]
              FROM jsonb_object_keys(e) k WHERE k <> ALL (known) ORDER BY k LIMIT 1) END;

-- A required identifier: a non-empty string of at most 256 characters.
CREATE FUNCTION recsys._id_problem(e jsonb, field text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field THEN ARRAY[field, '22023', 'is required']
    WHEN jsonb_typeof(e -> field) = 'null' THEN ARRAY[field, '22004', 'must not be null']
    WHEN jsonb_typeof(e -> field) <> 'string' THEN ARRAY[field, '22023', 'must be a string, not ' || jsonb_typeof(e -> field)]
    WHEN e ->> field = '' THEN ARRAY[field, '22023', 'must not be empty']
    WHEN length(e ->> field) > 256 THEN ARRAY[field, '22001', 'is longer than 256 characters']
END;

-- An optional string of at most max_length characters.
CREATE FUNCTION recsys._string_problem(e jsonb, field text, max_length int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN jsonb_typeof(e -> field) <> 'string' THEN ARRAY[field, '22023', 'must be a string, not ' || jsonb_typeof(e -> field)]
    WHEN length(e ->> field) > max_length THEN ARRAY[field, '22001', format('is longer than %s characters', max_length)]
END;

-- An optional finite number, at least `minimum` when that is given.
CREATE FUNCTION recsys._number_problem(e jsonb, field text, minimum float8) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN jsonb_typeof(e -> field) <> 'number' THEN ARRAY[field, '22023', 'must be a number, not ' || jsonb_typeof(e -> field)]
    WHEN abs((e -> field)::numeric) >= 1e300 THEN ARRAY[field, '22003', 'is out of range']
    WHEN (e -> field)::numeric < minimum THEN ARRAY[field, '22023', format('must be at least %s', minimum)]
END;

-- An optional value of one JSON type ('boolean' or 'object').
CREATE FUNCTION recsys._typed_problem(e jsonb, field text, json_type text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN jsonb_typeof(e -> field) <> json_type
        THEN ARRAY[field, '22023', format('must be %s %s, not %s', CASE WHEN json_type = 'object' THEN 'an' ELSE 'a' END,
                                          json_type, jsonb_typeof(e -> field))]
END;

-- An optional name (surface, segment): null, or 1 to 64 characters from [A-Za-z0-9_.:-].
CREATE FUNCTION recsys._name_problem(e jsonb, field text) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN e ? field AND jsonb_typeof(e -> field) <> 'null'
         AND (jsonb_typeof(e -> field) <> 'string' OR e ->> field !~ '^[A-Za-z0-9_.:-]{1,64}$')
        THEN ARRAY[field, '22023', format('must be null (every %s) or a %s name', field, field)]
END;

-- An optional whole number between low and high.
CREATE FUNCTION recsys._whole_problem(e jsonb, field text, low int, high int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN e ? field AND (jsonb_typeof(e -> field) <> 'number' OR (e ->> field)::numeric % 1 <> 0
                        OR (e ->> field)::numeric NOT BETWEEN low AND high)
        THEN ARRAY[field, '22023', format('must be a whole number between %s and %s', low, high)]
END;

-- Raises the problem of a single JSON object, as "invalid <what>: field ...".
CREATE FUNCTION recsys._raise_object_problem(what text, problem text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid %: %', what,
            CASE WHEN problem[1] IS NULL THEN problem[3] ELSE format('field "%s" %s', problem[1], problem[3]) END
            USING ERRCODE = problem[2];
    END IF;
END
$$;

-- Optional tags: an array of at most 256 distinct non-empty strings of at most 256 characters.
CREATE FUNCTION recsys._tags_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? 'tags' OR jsonb_typeof(e -> 'tags') = 'null' THEN NULL
    WHEN jsonb_typeof(e -> 'tags') <> 'array' THEN ARRAY['tags', '22023', 'must be an array of strings, not ' || jsonb_typeof(e -> 'tags')]
    WHEN jsonb_array_length(e -> 'tags') > 256 THEN ARRAY['tags', '22023', 'has more than 256 tags']
    ELSE (SELECT ARRAY['tags', '22023', CASE WHEN jsonb_typeof(t) <> 'string' THEN format('element %s must be a string, not %s', i - 1, jsonb_typeof(t))
                                             WHEN t #>> '{}' = '' THEN format('element %s must not be empty', i - 1)
                                             ELSE format('element %s is longer than 256 characters', i - 1) END]
            FROM jsonb_array_elements(e -> 'tags') WITH ORDINALITY AS a(t, i)
           WHERE jsonb_typeof(t) <> 'string' OR t #>> '{}' = '' OR length(t #>> '{}') > 256
           ORDER BY i LIMIT 1)
END;

-- An optional embedding: a non-empty array of finite numbers, of length `dim` when that is known.
CREATE FUNCTION recsys._embedding_problem(e jsonb, dim int) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN NOT e ? 'embedding' OR jsonb_typeof(e -> 'embedding') = 'null' THEN NULL
    WHEN jsonb_typeof(e -> 'embedding') <> 'array'
        THEN ARRAY['embedding', '22023', 'must be an array of numbers, not ' || jsonb_typeof(e -> 'embedding')]
    WHEN jsonb_array_length(e -> 'embedding') = 0 THEN ARRAY['embedding', '22023', 'must not be empty']
    WHEN jsonb_array_length(e -> 'embedding') > 16000 THEN ARRAY['embedding', '22023', 'has more than 16000 dimensions']
    WHEN dim IS NOT NULL AND jsonb_array_length(e -> 'embedding') <> dim
        THEN ARRAY['embedding', '22023', format('has %s dimensions where %s are expected', jsonb_array_length(e -> 'embedding'), dim)]
    ELSE (SELECT ARRAY['embedding', '22023', CASE WHEN jsonb_typeof(v) <> 'number' THEN format('element %s must be a number, not %s', i - 1, jsonb_typeof(v))
                                                  ELSE format('element %s is out of range for real', i - 1) END]
            FROM jsonb_array_elements(e -> 'embedding') WITH ORDINALITY AS a(v, i)
           WHERE jsonb_typeof(v) <> 'number' OR abs(v::numeric) > 3e38
           ORDER BY i LIMIT 1)
END;

-- A JSON timestamp string or number of seconds since 1970 as timestamptz (NULL when invalid).
CREATE FUNCTION recsys._json_time(v jsonb) RETURNS timestamptz
LANGUAGE sql STABLE
RETURN CASE jsonb_typeof(v)
    WHEN 'string' THEN recsys._try_timestamptz(v #>> '{}')
    WHEN 'number' THEN CASE WHEN abs(v::numeric) < 1e11 THEN to_timestamp(v::numeric::float8) END
END;

-- An optional time: an ISO 8601 / PostgreSQL timestamp string, or seconds since 1970 as a number,
-- not before 1970 and, unless future_ok, at most one day from now.
CREATE FUNCTION recsys._time_problem(e jsonb, field text, future_ok boolean DEFAULT false) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN NOT e ? field OR jsonb_typeof(e -> field) = 'null' THEN NULL
    WHEN recsys._json_time(e -> field) >= '1970-01-01 00:00:00+00'
         AND (future_ok OR recsys._json_time(e -> field) <= now() + interval '1 day') THEN NULL
    WHEN jsonb_typeof(e -> field) NOT IN ('string', 'number')
        THEN ARRAY[field, '22023', 'must be a timestamp string or seconds since 1970, not ' || jsonb_typeof(e -> field)]
    WHEN recsys._json_time(e -> field) IS NULL THEN ARRAY[field, '22007', format('is not a valid timestamp: %s', e -> field)]
    WHEN recsys._json_time(e -> field) < '1970-01-01 00:00:00+00' THEN ARRAY[field, '22008', format('lies before 1970: %s', e -> field)]
    ELSE ARRAY[field, '22008', format('lies more than a day in the future: %s', e -> field)]
END;

-- The first problem of one item.
CREATE FUNCTION recsys._item_problem(e jsonb, dim int) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'available', 'price', 'brand', 'category', 'tags',
                                               'props', 'embedding', 'created_at']),
        recsys._id_problem(e, 'item_id'),
        recsys._typed_problem(e, 'available', 'boolean'),
        recsys._number_problem(e, 'price', 0),
        recsys._string_problem(e, 'brand', 256),
        recsys._string_problem(e, 'category', 256),
        recsys._tags_problem(e),
        recsys._typed_problem(e, 'props', 'object'),
        recsys._embedding_problem(e, dim),
        recsys._time_problem(e, 'created_at'))
END;

-- The first problem of one user.
CREATE FUNCTION recsys._user_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['user_id', 'traits']),
        recsys._id_problem(e, 'user_id'),
        recsys._typed_problem(e, 'traits', 'object'))
END;

-- The first problem of one event (the type's name is resolved against the namespace later).
CREATE FUNCTION recsys._event_problem(e jsonb) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['user_id', 'item_id', 'type', 'value', 'ts', 'meta', 'event_id']),
        recsys._id_problem(e, 'user_id'),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN NOT e ? 'type' THEN ARRAY['type', '22023', 'is required']
             WHEN jsonb_typeof(e -> 'type') NOT IN ('string', 'number')
                 THEN ARRAY['type', '22023', 'must be an event type name or number, not ' || jsonb_typeof(e -> 'type')]
             WHEN jsonb_typeof(e -> 'type') = 'number'
                  AND ((e -> 'type')::numeric NOT BETWEEN 0 AND 255 OR (e -> 'type')::numeric % 1 <> 0)
                 THEN ARRAY['type', '22023', format('must be a whole number between 0 and 255, not %s', e -> 'type')]
        END,
        recsys._number_problem(e, 'value', NULL),
        recsys._time_problem(e, 'ts'),
        recsys._typed_problem(e, 'meta', 'object'),
        CASE WHEN e ? 'event_id' AND jsonb_typeof(e -> 'event_id') <> 'null' THEN recsys._id_problem(e, 'event_id') END)
END;

-- The first problem of one event type definition.
CREATE FUNCTION recsys._event_type_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['name', 'type_id', 'weight', 'half_life_days']),
        recsys._id_problem(e, 'name'),
        CASE WHEN e ->> 'name' !~ '^[a-z][a-z0-9_]{0,31}$'
             THEN ARRAY['name', '22023', 'must start with a-z and hold at most 32 characters from a-z, 0-9 and "_"'] END,
        recsys._whole_problem(e, 'type_id', 0, 255),
        CASE WHEN NOT e ? 'weight' THEN ARRAY['weight', '22023', 'is required'] END,
        recsys._number_problem(e, 'weight', 0),
        CASE WHEN (e ->> 'weight')::numeric > 1000 THEN ARRAY['weight', '22023', 'must be at most 1000'] END,
        CASE WHEN NOT e ? 'half_life_days' THEN ARRAY['half_life_days', '22023', 'is required'] END,
        recsys._number_problem(e, 'half_life_days', 0.0001),
        CASE WHEN (e ->> 'half_life_days')::numeric > 36500 THEN ARRAY['half_life_days', '22023', 'must be at most 36500'] END)
END;

-- Raises when an id repeats inside a batch, naming the first repeated id and both indexes.
CREATE FUNCTION recsys._check_unique_ids(payload jsonb, what text, field text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dup record;
BEGIN
    SELECT d.id, d.first_idx, d.idx INTO dup
      FROM (SELECT e ->> field AS id, i - 1 AS idx, min(i - 1) OVER (PARTITION BY e ->> field) AS first_idx
              FROM jsonb_array_elements(payload) WITH ORDINALITY AS a(e, i)) d
     WHERE d.idx > d.first_idx
     ORDER BY d.idx LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'invalid % at index %: duplicate % "%" (also at index %)', what, dup.idx, field, dup.id, dup.first_idx
            USING ERRCODE = '22023', DETAIL = 'A batch may name each id once; nothing was written.';
    END IF;
END
$$;

-- The whole check of a JSON batch: an array within recsys.max_batch_size, every element free of
-- problems (`problem`, see _check_elements), and `id_field` unique when given. Returns the size.
CREATE FUNCTION recsys._check_payload(payload jsonb, plural text, singular text, problem text, id_field text)
    RETURNS int
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    size int := recsys._check_batch(payload, plural);
BEGIN
    PERFORM recsys._check_elements(payload, singular, problem);
    IF id_field IS NOT NULL THEN
        PERFORM recsys._check_unique_ids(payload, singular, id_field);
    END IF;
    RETURN size;
END
$$;

