-- Segments: named conditions over the user (traits), the request context and request fields,
-- tried in priority order; the first that matches names the user's segment ("default" when
-- none does). A segment may carry a profile of knobs, which sits between the namespace
-- configuration and a bandit policy: default < namespace < segment < policy < request.
--
-- Condition language (every node is an object with one key):
--   {"all": [c, ...]}  {"any": [c, ...]}  {"not": c}
--   {"eq"|"neq"|"gt"|"gte"|"lt"|"lte": [path, value]}   {"in": [path, [values]]}
--   {"contains": [path, value]}   {"exists": path}   {"gte_days_since": [path, days]}
-- Paths start with user. (user.user_id, user.traits.<key>...), context. or request. (request.surface).

CREATE TABLE recsys.segments (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    segment_id text COLLATE "C" NOT NULL CHECK (segment_id ~ '^[A-Za-z0-9_.:-]{1,64}$' AND segment_id <> 'default'),
    priority int NOT NULL DEFAULT 0,
    active boolean NOT NULL DEFAULT true,
    condition jsonb NOT NULL,
    profile jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, segment_id)
);
SELECT recsys._isolate_tenants(ARRAY['segments']);

-- The first problem of a condition node, as "<path>: <problem>", or NULL.
CREATE FUNCTION recsys._condition_problem(node jsonb, path text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    op text;
    arg jsonb;
    problem text;
    i int;
BEGIN
    IF jsonb_typeof(node) IS DISTINCT FROM 'object' OR (SELECT count(*) FROM jsonb_object_keys(node)) <> 1 THEN
        RETURN path || ': must be an object with exactly one operator';
    END IF;
    SELECT k, v INTO op, arg FROM jsonb_each(node) AS e(k, v);
    path := path || '.' || op;
    CASE
    WHEN op IN ('all', 'any') THEN
        IF jsonb_typeof(arg) <> 'array' OR (op = 'any' AND jsonb_array_length(arg) = 0) THEN
            RETURN path || ': expects an array of conditions' || CASE WHEN op = 'any' THEN ' (at least one)' ELSE '' END;
        END IF;
        FOR i IN 0 .. jsonb_array_length(arg) - 1 LOOP
            problem := recsys._condition_problem(arg -> i, format('%s[%s]', path, i));
            IF problem IS NOT NULL THEN RETURN problem; END IF;
        END LOOP;
        RETURN NULL;
    WHEN op = 'not' THEN
        RETURN recsys._condition_problem(arg, path);
    WHEN op = 'exists' THEN
        IF jsonb_typeof(arg) = 'array' AND jsonb_array_length(arg) = 1 THEN arg := arg -> 0; END IF;
        RETURN recsys._path_problem(arg, path);
    WHEN op IN ('eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'gte_days_since') THEN
        IF jsonb_typeof(arg) <> 'array' OR jsonb_array_length(arg) <> 2 THEN
            RETURN path || ': expects [path, value]';
        END IF;
        problem := recsys._path_problem(arg -> 0, path || '[0]');
        IF problem IS NOT NULL THEN RETURN problem; END IF;
        IF op = 'in' AND jsonb_typeof(arg -> 1) <> 'array' THEN
            RETURN path || '[1]: expects an array of values';
        END IF;
        IF op IN ('gt', 'gte', 'lt', 'lte') AND jsonb_typeof(arg -> 1) NOT IN ('number', 'string') THEN
            RETURN path || '[1]: expects a number or a string';
        END IF;
        IF op = 'gte_days_since' AND jsonb_typeof(arg -> 1) <> 'number' THEN
            RETURN path || '[1]: expects a number of days';
        END IF;
        IF jsonb_typeof(arg -> 1) IN ('object') THEN
            RETURN path || '[1]: expects a JSON value, not an object';
        END IF;
        RETURN NULL;
    ELSE
        RETURN format('%s: unknown operator "%s"', path, op);
    END CASE;
END
$$;

-- The problem of an operand path, or NULL.
CREATE FUNCTION recsys._path_problem(path jsonb, at text) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(path) IS DISTINCT FROM 'string' THEN at || ': expects a path string such as "user.traits.tier"'
    WHEN path #>> '{}' !~ '^(user|context|request)(\.[A-Za-z0-9_-]+)+$'
        THEN format('%s: "%s" is not a path (user., context. or request. followed by keys)', at, path #>> '{}')
END;

-- Whether a valid condition holds for `doc` ({user: {user_id, traits}, context, request}); the
-- operators' semantics are in src/pg/segments.cpp and docs.
CREATE FUNCTION recsys._condition_matches(node jsonb, doc jsonb, at timestamptz) RETURNS boolean
    AS 'MODULE_PATHNAME', 'recsys_condition_matches' LANGUAGE C STABLE STRICT;

-- Creates or replaces a segment {segment_id, priority?, active?, condition, profile?: {knob: value}}.
-- An invalid condition is refused with the path of the bad node. Returns the segment.
CREATE FUNCTION recsys.recsys_upsert_segment(namespace text, segment jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    s jsonb := $2;
    condition_problem text;
BEGIN
    PERFORM recsys._raise_object_problem('segment', CASE WHEN jsonb_typeof(s) IS DISTINCT FROM 'object' THEN ARRAY[NULL, '22023', 'segment must be a JSON object']
                    ELSE coalesce(
                        recsys._unknown_field_problem(s, ARRAY['segment_id', 'priority', 'active', 'condition', 'profile']),
                        recsys._id_problem(s, 'segment_id'),
                        CASE WHEN s ->> 'segment_id' !~ '^[A-Za-z0-9_.:-]{1,64}$' OR s ->> 'segment_id' = 'default'
                             THEN ARRAY['segment_id', '22023', 'must be 1 to 64 characters from A-Z, a-z, 0-9, "_.:-" and not "default"'] END,
                        recsys._whole_problem(s, 'priority', -1000000, 1000000),
                        recsys._typed_problem(s, 'active', 'boolean'),
                        CASE WHEN NOT s ? 'condition' THEN ARRAY['condition', '22023', 'is required'] END,
                        recsys._typed_problem(s, 'profile', 'object')) END);
    condition_problem := recsys._condition_problem(s -> 'condition', 'condition');
    IF condition_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid segment condition at %', condition_problem USING ERRCODE = '22023';
    END IF;
    PERFORM recsys._check_settings(coalesce(s -> 'profile', '{}'), format('segment "%s"', s ->> 'segment_id'));
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    INSERT INTO recsys.segments AS x (org_id, namespace, segment_id, priority, active, condition, profile)
    VALUES (org, ns, s ->> 'segment_id', coalesce((s ->> 'priority')::int, 0), coalesce((s -> 'active')::boolean, true),
            s -> 'condition', jsonb_strip_nulls(coalesce(s -> 'profile', '{}')))
    ON CONFLICT (org_id, namespace, segment_id) DO UPDATE SET
        priority = excluded.priority, active = excluded.active, condition = excluded.condition, profile = excluded.profile,
        updated_at = now();
    RETURN (SELECT to_jsonb(x) - 'org_id' FROM recsys.segments x
             WHERE x.org_id = org AND x.namespace = ns AND x.segment_id = s ->> 'segment_id');
END
$$;

-- The segment of a user for a request (first active match by priority, then segment_id), and its
-- profile; "default" with {} when none matches. One row. SQL without SET, so that the planner
-- inlines it into the calling statement (every name is qualified); the document the conditions
-- read (the user's traits, the context, the request) is an init plan, built only when a namespace
-- has active segments.
CREATE FUNCTION recsys._segment_of(org uuid, ns text, uid text, context jsonb, request jsonb)
    RETURNS TABLE (segment_id text, profile jsonb)
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(m.segment_id, 'default'), coalesce(m.profile, '{}'::jsonb)
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
          SELECT s.segment_id, s.profile
            FROM recsys.segments s
           WHERE s.org_id = $1 AND s.namespace = $2 AND s.active
             AND recsys._condition_matches(s.condition, (
                     SELECT pg_catalog.jsonb_build_object(
                         'user', pg_catalog.jsonb_build_object('user_id', $3, 'traits',
                                     coalesce((SELECT u.traits FROM recsys.users u
                                                           WHERE u.org_id = $1 AND u.namespace = $2 AND u.user_id = $3),
                                                         '{}'::jsonb)),
                         'context', coalesce($4, '{}'::jsonb), 'request', coalesce($5, '{}'::jsonb))),
                 pg_catalog.now())
           ORDER BY s.priority DESC, s.segment_id LIMIT 1) m ON true;
$$;

-- Where a user lands: the segment id ("default" when no segment matches).
CREATE FUNCTION recsys.recsys_segment_of(namespace text, user_id text, context jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    IF $2 IS NULL OR $2 = '' OR length($2) > 256 THEN
        RAISE EXCEPTION 'user_id must be a non-empty string of at most 256 characters' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce($3, '{}')) <> 'object' THEN
        RAISE EXCEPTION 'context must be a JSON object' USING ERRCODE = '22023';
    END IF;
    RETURN (SELECT s.segment_id FROM recsys._segment_of(org, ns, $2, $3, '{}') s);
END
$$;
