-- Namespace configuration: validated knobs, versioned with history, named profiles.
-- Effective value of a knob: default < namespace (later: segment profile < bandit policy < request).

-- Every knob, its type, range and default: the one place knobs are defined.
CREATE TABLE recsys.config_knobs (
    name text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('number', 'integer', 'boolean')),
    minimum float8,
    maximum float8,
    default_value jsonb NOT NULL,
    description text NOT NULL
);
INSERT INTO recsys.config_knobs VALUES
    ('alpha', 'number', 0, 100, '1.0', 'weight of decayed popularity in the blend'),
    ('beta', 'number', 0, 100, '1.0', 'weight of co-visitation in the blend'),
    ('gamma', 'number', 0, 100, '0.5', 'weight of embedding and collaborative similarity in the blend'),
    ('profile_boost', 'number', 0, 1, '0.15', 'largest personalisation boost from tag-profile overlap'),
    ('mmr_lambda', 'number', 0, 1, '0.7', 'MMR trade-off: 1 relevance only, 0 diversity only'),
    ('brand_cap', 'integer', 0, 1000, '0', 'most items per brand in one list (0: no cap)'),
    ('category_cap', 'integer', 0, 1000, '0', 'most items per category in one list (0: no cap)'),
    ('fanout', 'integer', 1, 10000, '500', 'candidates taken from each source'),
    ('novelty', 'number', 0, 1, '0', 'share of the score taken from the most popular candidates (more reach, less accuracy)'),
    ('covis_penalty', 'number', 0, 1, '0', 'co-visitation counts divided by the neighbour''s total pairs to this power (more reach)'),
    ('recent_items', 'integer', 1, 1000, '20', 'most recent items of the user whose co-visitation neighbours are candidates'),
    ('pin_slots', 'integer', 0, 100, '3', 'most pinned items in one list'),
    ('exclude_purchased_days', 'number', 0, 3650, '30', 'days during which purchased items are not recommended again'),
    ('covis_window_days', 'number', 0.0007, 30, '0.0416666666666667', 'co-visitation window; changing it rebuilds derived state'),
    ('decision_sample_rate', 'number', 0, 1, '1.0', 'share of decisions written to the audit log'),
    ('decision_log_user_ids', 'boolean', NULL, NULL, 'false', 'store raw user ids in the audit log next to their salted hash'),
    ('bandit_epsilon', 'number', 0, 1, '0.1', 'exploration share of the epsilon_greedy bandit'),
    ('boost_floor', 'number', 0, 1, '0.05', 'relevance a positively boosted item is lifted to before the boost multiplies it'),
    ('cold_start_category_cap', 'integer', 0, 1000, '3', 'category cap of the starter profile of users without history (0: none)');

-- Versions of each namespace's settings (only the knobs set explicitly).
CREATE TABLE recsys.namespace_config (
    org_id uuid NOT NULL,
    namespace recsys.namespace_name NOT NULL,
    version int NOT NULL,
    settings jsonb NOT NULL,
    previous jsonb NOT NULL,
    settings_hash text NOT NULL,
    author text NOT NULL,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, namespace, version)
);

-- Named knob bundles of an organisation.
CREATE TABLE recsys.profiles (
    org_id uuid NOT NULL,
    name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    settings jsonb NOT NULL,
    author text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, name)
);

SELECT recsys._isolate_tenants(ARRAY['namespace_config', 'profiles']);

-- Raises 22023 naming the first unknown knob, wrong type or out-of-range value in `settings`
-- (null values are allowed: they remove a knob's override).
CREATE FUNCTION recsys._check_settings(settings jsonb, what text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    IF settings IS NULL OR jsonb_typeof(settings) <> 'object' THEN
        RAISE EXCEPTION '% must be a JSON object, not %', what, coalesce(jsonb_typeof(settings), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT s.key, s.value, k.kind, k.minimum, k.maximum INTO bad
      FROM jsonb_each(settings) s LEFT JOIN recsys.config_knobs k ON k.name = s.key
     WHERE k.name IS NULL
        OR (jsonb_typeof(s.value) <> 'null' AND (
               (k.kind = 'boolean' AND jsonb_typeof(s.value) <> 'boolean')
            OR (k.kind IN ('number', 'integer') AND jsonb_typeof(s.value) <> 'number')
            OR (k.kind = 'integer' AND jsonb_typeof(s.value) = 'number' AND s.value::numeric % 1 <> 0)
            OR (jsonb_typeof(s.value) = 'number' AND NOT s.value::numeric BETWEEN k.minimum::numeric AND k.maximum::numeric)))
     ORDER BY s.key LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF bad.kind IS NULL THEN
        RAISE EXCEPTION 'unknown knob "%" in %', bad.key, what
            USING ERRCODE = '22023', HINT = format('Known knobs: %s.', (SELECT string_agg(name, ', ' ORDER BY name) FROM recsys.config_knobs));
    END IF;
    RAISE EXCEPTION 'knob "%" in % must be %, not %', bad.key, what,
        CASE bad.kind WHEN 'boolean' THEN 'a boolean'
                      WHEN 'integer' THEN format('a whole number between %s and %s', bad.minimum, bad.maximum)
                      ELSE format('a number between %s and %s', bad.minimum, bad.maximum) END,
        bad.value
        USING ERRCODE = '22023';
END
$$;

-- The namespace's explicit settings (latest version), or {} with version 0.
CREATE FUNCTION recsys._namespace_settings(org uuid, namespace text, OUT version int, OUT settings jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT coalesce(max(c.version), 0),
           coalesce((SELECT c2.settings FROM recsys.namespace_config c2
                      WHERE c2.org_id = $1 AND c2.namespace = $2 ORDER BY c2.version DESC LIMIT 1), '{}')
      INTO version, settings
      FROM recsys.namespace_config c WHERE c.org_id = $1 AND c.namespace = $2;
END
$$;

-- Changes knobs of a namespace: settings {knob: value | null} are merged into the current
-- ones (null removes an override), validated, and stored as a new version with the author,
-- time, before/after and a hash. Changing covis_window_days rebuilds derived state.
-- Returns {version, hash, settings, changed: {knob: {before, after}}}.
CREATE FUNCTION recsys.recsys_configure(namespace text, settings jsonb, notes text DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    incoming jsonb := $2;
    current_version int;
    before jsonb;
    after jsonb;
    changed jsonb;
    digest text;
BEGIN
    PERFORM recsys._check_settings(incoming, 'settings');
    PERFORM recsys._ensure_namespaces(ARRAY[org], ARRAY[ns]);
    PERFORM pg_advisory_xact_lock(recsys._namespace_lock_key(org, ns));
    SELECT s.version, s.settings INTO current_version, before FROM recsys._namespace_settings(org, ns) s;
    after := jsonb_strip_nulls(before || incoming);
    SELECT coalesce(jsonb_object_agg(k, jsonb_build_object('before', before -> k, 'after', after -> k)), '{}') INTO changed
      FROM (SELECT jsonb_object_keys(before) UNION SELECT jsonb_object_keys(after)) AS keys(k)
     WHERE before -> k IS DISTINCT FROM after -> k;
    digest := md5(after::text);
    IF changed = '{}' THEN
        RETURN jsonb_build_object('version', current_version, 'hash', digest, 'settings', after, 'changed', changed);
    END IF;
    INSERT INTO recsys.namespace_config (org_id, namespace, version, settings, previous, settings_hash, author, notes)
    VALUES (org, ns, current_version + 1, after, before, digest, recsys.caller_role()::regrole::text, $3);
    IF changed ? 'covis_window_days' THEN
        UPDATE recsys.namespaces n
           SET covis_window = make_interval(secs => coalesce((after ->> 'covis_window_days')::float8,
                   (SELECT default_value::text::float8 FROM recsys.config_knobs WHERE name = 'covis_window_days')) * 86400)
         WHERE n.org_id = org AND n.namespace = ns;
        PERFORM recsys.recsys_refresh(ns);
    END IF;
    RETURN jsonb_build_object('version', current_version + 1, 'hash', digest, 'settings', after, 'changed', changed);
END
$$;

-- Every knob's effective value for a namespace and where it comes from:
-- {version, hash, knobs: {knob: {value, source}}} with source "default" or "namespace".
CREATE FUNCTION recsys.recsys_config(namespace text) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    ns text := recsys._check_namespace($1);
    current record;
BEGIN
    PERFORM recsys._require_namespace(org, ns);
    SELECT * INTO current FROM recsys._namespace_settings(org, ns);
    RETURN jsonb_build_object(
        'version', current.version,
        'hash', md5(current.settings::text),
        'knobs', (SELECT jsonb_object_agg(k.name, jsonb_build_object(
                      'value', coalesce(current.settings -> k.name, k.default_value),
                      'source', CASE WHEN current.settings ? k.name THEN 'namespace' ELSE 'default' END))
                    FROM recsys.config_knobs k));
END
$$;

-- The versions of a namespace's configuration, newest first.
CREATE FUNCTION recsys.recsys_config_history(namespace text)
    RETURNS TABLE (version int, created_at timestamptz, author text, notes text, settings_hash text,
                   settings jsonb, previous jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.version, c.created_at, c.author, c.notes, c.settings_hash, c.settings, c.previous
      FROM recsys.namespace_config c
     WHERE c.org_id = recsys.current_org() AND c.namespace = recsys._check_namespace($1)
     ORDER BY c.version DESC;
$$;

-- Saves (or replaces) a named profile of knob values for the caller's organisation.
CREATE FUNCTION recsys.recsys_save_profile(name text, settings jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
BEGIN
    IF $1 IS NULL OR $1 !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
        RAISE EXCEPTION 'invalid profile name %', coalesce(quote_literal($1), 'NULL')
            USING ERRCODE = '22023', DETAIL = 'A profile name has 1 to 64 characters from A-Z, a-z, 0-9, "_", "." and "-".';
    END IF;
    PERFORM recsys._check_settings($2, format('profile "%s"', $1));
    INSERT INTO recsys.profiles AS p (org_id, name, settings, author)
    VALUES (org, $1, jsonb_strip_nulls($2), recsys.caller_role()::regrole::text)
    ON CONFLICT (org_id, name) DO UPDATE SET settings = excluded.settings, author = excluded.author, updated_at = now();
    RETURN jsonb_build_object('profile', $1, 'settings', jsonb_strip_nulls($2));
END
$$;

-- Applies a saved profile to a namespace: its knobs are configured as one new version.
CREATE FUNCTION recsys.recsys_apply_profile(namespace text, name text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    org uuid := recsys.current_org();
    chosen jsonb;
BEGIN
    SELECT p.settings INTO chosen FROM recsys.profiles p WHERE p.org_id = org AND p.name = $2;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'profile "%" does not exist', $2 USING ERRCODE = '42704';
    END IF;
    RETURN recsys.recsys_configure($1, chosen, format('profile %s', $2));
END
$$;
