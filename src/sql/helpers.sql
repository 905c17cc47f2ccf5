-- Helpers shared by the extension's SQL.

-- Namespace names: 1 to 64 characters from [A-Za-z0-9_.-].
CREATE DOMAIN recsys.namespace_name AS text COLLATE "C"
    CHECK (VALUE ~ '^[A-Za-z0-9_.-]{1,64}$');

-- Raises 22023 unless `namespace` is a valid namespace name; returns it.
CREATE FUNCTION recsys._check_namespace(namespace text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF namespace IS NULL OR namespace !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid namespace name %', coalesce(quote_literal(namespace), 'NULL')
            USING ERRCODE = '22023',
                  DETAIL = 'A namespace name has 1 to 64 characters from A-Z, a-z, 0-9, "_", "." and "-".';
    END IF;
    RETURN namespace;
END
$$;

-- Raises 42704 unless org's namespace exists.
CREATE FUNCTION recsys._require_namespace(org uuid, ns text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM recsys.namespaces n WHERE n.org_id = org AND n.namespace = ns) THEN
        RAISE EXCEPTION 'namespace "%" does not exist', ns USING ERRCODE = '42704';
    END IF;
END
$$;

-- Raises 22023 unless `surface` is a valid surface name (1 to 64 characters from
-- [A-Za-z0-9_.:-]); returns it.
CREATE FUNCTION recsys._check_surface(surface text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    IF surface IS NULL OR surface !~ '^[A-Za-z0-9_.:-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid surface %', coalesce(quote_literal(surface), 'NULL') USING ERRCODE = '22023';
    END IF;
    RETURN surface;
END
$$;

-- Parses text as a UUID, or NULL when it is not one (never raises).
CREATE FUNCTION recsys._try_uuid(text) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT
RETURN CASE WHEN $1 ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN $1::uuid END;

-- Parses text as a concrete timestamptz, or NULL when it is not one (never raises).
CREATE FUNCTION recsys._try_timestamptz(text) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'recsys_try_timestamptz' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- log2(2^a + 2^b); the transition function of recsys.log2_sum.
CREATE FUNCTION recsys._log2_add(float8, float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'recsys_log2_add' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- log2 contribution of one event: log2(weight) + days / half_life_days.
CREATE FUNCTION recsys._log2_event(weight float8, days float8, half_life_days float8) RETURNS float8
    AS 'MODULE_PATHNAME', 'recsys_log2_event' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- log2 of a sum of powers of two: log2(sum 2^x), overflow-free.
CREATE AGGREGATE recsys.log2_sum(float8) (
    SFUNC = recsys._log2_add, STYPE = float8, COMBINEFUNC = recsys._log2_add, PARALLEL = SAFE
);

-- Days from the decay epoch (2000-01-01 UTC) to ts: decayed scores are stored relative to it.
CREATE FUNCTION recsys._decay_days(ts timestamptz) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN extract(epoch FROM ts) / 86400.0 - 10957.0;

-- Throws a C++ exception of the given kind inside the core, to prove the error boundary.
CREATE FUNCTION recsys._boundary_probe(kind text) RETURNS text
    AS 'MODULE_PATHNAME', 'recsys_boundary_probe' LANGUAGE C STRICT;

-- True when a text array has no NULL and no repeated element.
CREATE FUNCTION recsys._is_text_set(elements text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN array_position(elements, NULL) IS NULL
   AND cardinality(elements) = (SELECT count(DISTINCT v) FROM unnest(elements) v);
