-- Merchandising rules: block, pin and boost items chosen by ids, tag, brand or category, scoped
-- by surface, segment and validity window, ordered by priority. Block always wins; pins take
-- the first slots in rule-priority order (at most max_pins per rule, pin_slots per request);
-- boosts multiply the score by (1 + boost) and compound.

CREATE TABLE recsys.rules (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    rule_id uuid NOT NULL DEFAULT gen_random_uuid(),
    action text NOT NULL CHECK (action IN ('block', 'pin', 'boost')),
    target jsonb NOT NULL,
    boost float8 CHECK (boost > -1 AND boost <= 100),
    max_pins int NOT NULL DEFAULT 1 CHECK (max_pins BETWEEN 1 AND 100),
    surface text COLLATE "C",
    segment text COLLATE "C",
    valid_from timestamptz,
    valid_until timestamptz CHECK (valid_until > valid_from),
    priority int NOT NULL DEFAULT 0,
    enabled boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, rule_id)
);
SELECT recsys._isolate_tenants(ARRAY['rules']);

-- The rules of every namespace, with whether each applies now.
CREATE VIEW recsys.rules_list WITH (security_invoker = true) AS
SELECT org_id, namespace, rule_id, action, target, boost, max_pins, surface, segment, valid_from, valid_until,
       priority, enabled, created_at, updated_at,
       enabled AND (valid_from IS NULL OR valid_from <= now()) AND (valid_until IS NULL OR valid_until > now()) AS active_now
  FROM recsys.rules;

-- The first problem of a rule.
CREATE FUNCTION recsys._rule_problem(e jsonb) RETURNS text[]
LANGUAGE sql STABLE
RETURN CASE
    WHEN jsonb_typeof(e) IS DISTINCT FROM 'object' THEN ARRAY[NULL, '22023', 'rule must be a JSON object']
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['rule_id', 'action', 'target', 'boost', 'max_pins', 'surface', 'segment',
                                               'valid_from', 'valid_until', 'priority', 'enabled']),
        CASE WHEN e ? 'rule_id' AND (jsonb_typeof(e -> 'rule_id') <> 'string'
                  OR e ->> 'rule_id' !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
             THEN ARRAY['rule_id', '22P02', 'must be a UUID'] END,
        CASE WHEN coalesce(e ->> 'action', '') NOT IN ('block', 'pin', 'boost')
             THEN ARRAY['action', '22023', 'must be block, pin or boost'] END,
        CASE WHEN jsonb_typeof(e -> 'target') IS DISTINCT FROM 'object'
             THEN ARRAY['target', '22023', 'must be an object with one of item_ids, tag, brand, category']
             WHEN (SELECT count(*) FROM jsonb_object_keys(e -> 'target')) <> 1
               OR NOT (e -> 'target') ?| ARRAY['item_ids', 'tag', 'brand', 'category']
             THEN ARRAY['target', '22023', 'must have exactly one of item_ids, tag, brand, category'] END,
        CASE WHEN (e -> 'target') ? 'item_ids' AND (jsonb_typeof(e -> 'target' -> 'item_ids') <> 'array'
                  OR jsonb_array_length(e -> 'target' -> 'item_ids') NOT BETWEEN 1 AND 1000
                  OR EXISTS (SELECT 1 FROM jsonb_array_elements(e -> 'target' -> 'item_ids') x
                              WHERE jsonb_typeof(x) <> 'string' OR length(x #>> '{}') NOT BETWEEN 1 AND 256))
             THEN ARRAY['target', '22023', 'item_ids must be an array of 1 to 1000 item ids'] END,
        CASE WHEN NOT (e -> 'target') ? 'item_ids' AND (SELECT jsonb_typeof(v) <> 'string' OR v #>> '{}' = ''
                                                          FROM jsonb_each(e -> 'target') x(k, v))
             THEN ARRAY['target', '22023', 'tag, brand and category must be non-empty strings'] END,
        CASE WHEN e ->> 'action' = 'boost' AND NOT e ? 'boost' THEN ARRAY['boost', '22023', 'is required for a boost rule'] END,
        CASE WHEN e ? 'boost' AND (jsonb_typeof(e -> 'boost') <> 'number' OR (e ->> 'boost')::numeric <= -1
                  OR (e ->> 'boost')::numeric > 100)
             THEN ARRAY['boost', '22023', 'must be a number greater than -1 and at most 100'] END,
        recsys._whole_problem(e, 'max_pins', 1, 100),
        recsys._name_problem(e, 'surface'),
        recsys._name_problem(e, 'segment'),
        recsys._time_problem(e, 'valid_from', true),
        recsys._time_problem(e, 'valid_until', true),
        CASE WHEN recsys._json_time(e -> 'valid_until') <= recsys._json_time(e -> 'valid_from')
             THEN ARRAY['valid_until', '22023', 'must be later than valid_from'] END,
        recsys._whole_problem(e, 'priority', -1000000, 1000000),
        recsys._typed_problem(e, 'enabled', 'boolean'))
END;

-- Creates a rule, or replaces the rule with the given rule_id. Returns its rule_id.
CREATE FUNCTION recsys.recsys_upsert_rule(namespace text, rule jsonb) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    r jsonb := $2;
    id uuid;
BEGIN
    PERFORM recsys._raise_object_problem('rule', recsys._rule_problem(r));
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    INSERT INTO recsys.rules AS x (org_id, namespace, rule_id, action, target, boost, max_pins, surface, segment,
                                   valid_from, valid_until, priority, enabled)
    VALUES (org, ns, coalesce((r ->> 'rule_id')::uuid, gen_random_uuid()), r ->> 'action', r -> 'target',
            (r ->> 'boost')::float8, coalesce((r ->> 'max_pins')::int, 1), r ->> 'surface', r ->> 'segment',
            recsys._json_time(r -> 'valid_from'), recsys._json_time(r -> 'valid_until'),
            coalesce((r ->> 'priority')::int, 0), coalesce((r -> 'enabled')::boolean, true))
    ON CONFLICT (org_id, namespace, rule_id) DO UPDATE SET
        action = excluded.action, target = excluded.target, boost = excluded.boost, max_pins = excluded.max_pins,
        surface = excluded.surface, segment = excluded.segment, valid_from = excluded.valid_from,
        valid_until = excluded.valid_until, priority = excluded.priority, enabled = excluded.enabled, updated_at = now()
    RETURNING rule_id INTO id;
    RETURN id;
END
$$;

-- Deletes a rule; raises 42704 when it does not exist.
CREATE FUNCTION recsys.recsys_delete_rule(namespace text, rule_id uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
BEGIN
    DELETE FROM recsys.rules r WHERE r.org_id = org AND r.namespace = ns AND r.rule_id = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'rule % does not exist in namespace "%"', $2, ns USING ERRCODE = '42704';
    END IF;
    RETURN true;
END
$$;

-- True when a rule target matches an item (recsys_explain_item; serving matches targets in the
-- catalogue cache, which an audit call should not have to load).
CREATE FUNCTION recsys._rule_matches(target jsonb, item_id text, tags text[], brand text, category text) RETURNS boolean
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN target ? 'item_ids' THEN target -> 'item_ids' ? item_id
    WHEN target ? 'tag' THEN (target ->> 'tag') = ANY (tags)
    WHEN target ? 'brand' THEN brand = target ->> 'brand'
    ELSE category = target ->> 'category'
END;

-- The rules that apply to a request: enabled, valid at `at`, for this surface (or every
-- surface) and segment (or every segment); and the manual overrides in force at `at`, as rules
-- (suppress blocks; an override outranks every rule of the same action: priority 2^31 - 1).
-- Without a SET clause, so that the planner inlines it into the (plan-cached) caller; every
-- name in it is schema-qualified.
CREATE FUNCTION recsys._active_rules(org uuid, ns text, surface text, segment text, at timestamptz)
    RETURNS SETOF recsys.rules
LANGUAGE sql STABLE
AS $$
    SELECT * FROM recsys.rules r
     WHERE r.org_id = $1 AND r.namespace = $2 AND r.enabled
       AND (r.surface IS NULL OR r.surface = $3) AND (r.segment IS NULL OR r.segment = $4)
       AND (r.valid_from IS NULL OR r.valid_from <= $5) AND (r.valid_until IS NULL OR r.valid_until > $5)
    UNION ALL
    SELECT m.org_id, m.namespace, m.override_id, CASE m.action WHEN 'suppress' THEN 'block' ELSE m.action END,
           jsonb_build_object('item_ids', jsonb_build_array(m.item_id)), m.value, 1, m.surface, NULL, m.created_at,
           m.expires_at, 2147483647, true, m.created_at, m.created_at
      FROM recsys.manual_overrides m
     WHERE m.org_id = $1 AND m.namespace = $2 AND m.cancelled_at IS NULL
       AND (m.surface IS NULL OR m.surface = $3) AND (m.expires_at IS NULL OR m.expires_at > $5);
$$;

-- The active rules as the parallel arrays the C functions take (see src/pg/rules.hpp): one
-- element per rule, by priority (highest first), then rule_id, and the ids the targets name with
-- the (1-based) rule naming each. C (src/pg/rules.cpp): one prepared query over _active_rules,
-- the arrays built there; aggregating them in SQL cost about 0.07 ms more per request with 20
-- rules.
CREATE FUNCTION recsys._active_rule_arrays(org uuid, ns text, surface text, segment text, at timestamptz,
        OUT rule_ids text[], OUT actions text[], OUT boosts float8[], OUT priorities int[], OUT max_pins int[], OUT tags text[],
        OUT brands text[], OUT categories text[], OUT target_rules int[], OUT target_ids text[])
    AS 'MODULE_PATHNAME', 'recsys_active_rule_arrays' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

-- The effect of the rule arrays on the given items (src/pg/rules.cpp): the items some rule names,
-- each once, with blocked, the boost factor and the matching rules.
CREATE FUNCTION recsys._apply_rules(org uuid, ns text, item_ids text[], rule_ids text[], actions text[], boosts float8[],
        priorities int[], max_pins int[], tags text[], brands text[], categories text[], target_rules int[], target_ids text[])
    RETURNS TABLE (item_id text, blocked boolean, factor float8, rules jsonb)
    AS 'MODULE_PATHNAME', 'recsys_apply_rules' LANGUAGE C STABLE;

-- The items the pin rules of the rule arrays pin, in pin order (pin from 0), at most `slots`
-- (src/core/rules.cpp: pinned_items).
CREATE FUNCTION recsys._pin_rule_items(org uuid, ns text, slots int, rule_ids text[], actions text[], boosts float8[],
        priorities int[], max_pins int[], tags text[], brands text[], categories text[], target_rules int[],
        target_ids text[])
    RETURNS TABLE (item_id text, pin int)
    AS 'MODULE_PATHNAME', 'recsys_pin_rule_items' LANGUAGE C STABLE;

-- Effects of the active rules on those of the given items that some rule names: blocked, boost
-- factor, and the matching rules by priority (an id missing from the catalogue can still match a
-- rule that names it in item_ids).
CREATE FUNCTION recsys._rule_hits(org uuid, ns text, surface text, segment text, at timestamptz, item_ids text[])
    RETURNS TABLE (item_id text, blocked boolean, factor float8, rules jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT h.* FROM recsys._active_rule_arrays($1, $2, $3, $4, $5) a,
           recsys._apply_rules($1, $2, $6, a.rule_ids, a.actions, a.boosts, a.priorities, a.max_pins, a.tags, a.brands,
                               a.categories, a.target_rules, a.target_ids) h;
$$;

-- Effects of the active rules on every given item (see _rule_hits; no rule: not blocked, factor 1).
CREATE FUNCTION recsys._rule_effects(org uuid, ns text, surface text, segment text, at timestamptz, item_ids text[])
    RETURNS TABLE (item_id text, blocked boolean, factor float8, rules jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.item_id, coalesce(h.blocked, false), coalesce(h.factor, 1), coalesce(h.rules, '[]')
      FROM (SELECT DISTINCT x AS item_id FROM unnest($6) x) u
      LEFT JOIN recsys._rule_hits($1, $2, $3, $4, $5, $6) h ON h.item_id = u.item_id;
$$;

-- The pinned items of a request, in pin order: pin rules by priority (then rule_id), each rule's
-- items in the order of its item_ids or by item_id, at most max_pins per rule; only existing,
-- available items that no active rule blocks; at most `slots` in all.
CREATE FUNCTION recsys._pinned_items(org uuid, ns text, surface text, segment text, at timestamptz, slots int)
    RETURNS TABLE (item_id text, pin int)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT p.* FROM recsys._active_rule_arrays($1, $2, $3, $4, $5) a,
           recsys._pin_rule_items($1, $2, $6, a.rule_ids, a.actions, a.boosts, a.priorities, a.max_pins, a.tags, a.brands,
                                  a.categories, a.target_rules, a.target_ids) p;
$$;

-- What the active rules of a surface (and segment) do to the given items:
-- {item_id: {blocked, boost_factor, pinned_at (1-based or null), rules: [{rule_id, action, priority}]}}.
CREATE FUNCTION recsys.recsys_rules_dry_run(namespace text, surface text, item_ids text[], segment text DEFAULT NULL)
    RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    slots int;
BEGIN
    IF $3 IS NULL THEN
        RAISE EXCEPTION 'item_ids must be an array' USING ERRCODE = '22023';
    END IF;
    SELECT coalesce(st.settings -> 'pin_slots', k.default_value)::text::int INTO slots
      FROM recsys.config_knobs k, recsys._namespace_settings(org, ns) st WHERE k.name = 'pin_slots';
    RETURN coalesce((
        SELECT jsonb_object_agg(e.item_id, jsonb_build_object(
                   'blocked', e.blocked, 'boost_factor', e.factor,
                   'pinned_at', (SELECT p.pin + 1 FROM recsys._pinned_items(org, ns, $2, $4, now(), slots) p
                                  WHERE p.item_id = e.item_id),
                   'rules', e.rules))
          FROM recsys._rule_effects(org, ns, $2, $4, now(), $3) e), '{}');
END
$$;

-- The first problem of one candidate of recsys_apply_rules.
CREATE FUNCTION recsys._scored_problem(e jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE
RETURN CASE
    WHEN jsonb_typeof(e) <> 'object' THEN ARRAY[NULL, '22023', 'element must be a JSON object, not ' || jsonb_typeof(e)]
    ELSE coalesce(
        recsys._unknown_field_problem(e, ARRAY['item_id', 'score']),
        recsys._id_problem(e, 'item_id'),
        CASE WHEN NOT e ? 'score' THEN ARRAY['score', '22023', 'is required'] END,
        recsys._number_problem(e, 'score', NULL))
END;

-- Applies the namespace's active rules for `surface` to a scored list [{item_id, score}]:
-- blocked items go, scores are multiplied by the boost factors, pinned items (which need not be
-- in the list) come first; the rest by boosted score, ties by item_id. Option: pin_slots.
CREATE FUNCTION recsys.recsys_apply_rules(namespace text, candidates jsonb, surface text DEFAULT 'default',
                                          options jsonb DEFAULT '{}')
    RETURNS TABLE (rank int, item_id text, score float8, reasons text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    payload jsonb := $2;
    slots int;
    at timestamptz := now();
BEGIN
    PERFORM recsys._check_payload(payload, 'candidates', 'candidate', 'recsys._scored_problem(e)', 'item_id');
    PERFORM recsys._check_surface($3);
    PERFORM recsys._check_filter(coalesce($4, 'null'), ARRAY['pin_slots'], 'options');
    SELECT coalesce($4 -> 'pin_slots', st.settings -> 'pin_slots', k.default_value)::text::int INTO slots
      FROM recsys.config_knobs k, recsys._namespace_settings(org, ns) st WHERE k.name = 'pin_slots';
    PERFORM recsys._option_int(jsonb_build_object('pin_slots', slots), 'pin_slots', 0, 100, 3);
    RETURN QUERY
    WITH listed AS (
        SELECT e ->> 'item_id' AS item_id, (e ->> 'score')::float8 AS score FROM jsonb_array_elements(payload) e),
    pins AS (SELECT p.item_id, p.pin FROM recsys._pinned_items(org, ns, $3, NULL, at, slots) p),
    effects AS (
        SELECT * FROM recsys._rule_effects(org, ns, $3, NULL, at,
                                          ARRAY(SELECT l.item_id FROM listed l UNION SELECT p.item_id FROM pins p))),
    ordered AS (
        SELECT p.item_id, coalesce(l.score, 1) AS score, ARRAY['rule:pin'] AS reasons, 0 AS grp, p.pin::float8 AS key
          FROM pins p LEFT JOIN listed l ON l.item_id = p.item_id
        UNION ALL
        SELECT l.item_id, l.score * f.factor,
               CASE WHEN f.factor > 1 THEN ARRAY['rule:boost'] WHEN f.factor < 1 THEN ARRAY['rule:demote'] ELSE '{}' END,
               1, -(l.score * f.factor)
          FROM listed l JOIN effects f ON f.item_id = l.item_id
         WHERE NOT f.blocked AND l.item_id NOT IN (SELECT p.item_id FROM pins p))
    SELECT (row_number() OVER (ORDER BY o.grp, o.key, o.item_id))::int, o.item_id, o.score, o.reasons
      FROM ordered o
     ORDER BY o.grp, o.key, o.item_id;
END
$$;
