-- Namespace configuration: validation, versions with history, effective values, profiles.
SET client_min_messages = warning;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS recsys;
SET recsys.org_id = '10000000-0000-0000-0000-000000000005';

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN others THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SELECT recsys.recsys_configure('cfg', '{"alpha": 0.8, "mmr_lambda": 0.5, "brand_cap": 2}', 'first tuning') - 'hash' AS configured;
-- Unchanged values make no new version; null removes an override.
SELECT recsys.recsys_configure('cfg', '{"alpha": 0.8}') -> 'version' AS same_version;
SELECT recsys.recsys_configure('cfg', '{"brand_cap": null, "fanout": 300}') - 'hash' AS second;
SELECT k AS knob, v ->> 'value' AS value, v ->> 'source' AS source
  FROM jsonb_each(recsys.recsys_config('cfg') -> 'knobs') AS e(k, v) ORDER BY k;
SELECT version, author, notes, settings, previous, settings_hash = md5(settings::text) AS hash_ok
  FROM recsys.recsys_config_history('cfg');

-- Every knob is validated; nothing is stored on error.
SELECT n AS "case", pg_temp.outcome(statement) AS outcome
  FROM (VALUES
    (1, $$SELECT recsys.recsys_configure('cfg', '{"alpah": 1}')$$),
    (2, $$SELECT recsys.recsys_configure('cfg', '{"alpha": "high"}')$$),
    (3, $$SELECT recsys.recsys_configure('cfg', '{"mmr_lambda": 1.5}')$$),
    (4, $$SELECT recsys.recsys_configure('cfg', '{"fanout": 2.5}')$$),
    (5, $$SELECT recsys.recsys_configure('cfg', '{"brand_cap": -1}')$$),
    (6, $$SELECT recsys.recsys_configure('cfg', '[1]')$$),
    (7, $$SELECT recsys.recsys_configure('bad ns', '{}')$$),
    (8, $$SELECT recsys.recsys_config('never_configured')$$),
    (9, $$SELECT recsys.recsys_save_profile('no spaces allowed', '{}')$$),
    (10, $$SELECT recsys.recsys_save_profile('x', '{"gamma": 1000}')$$),
    (11, $$SELECT recsys.recsys_apply_profile('cfg', 'missing')$$)
  ) AS cases(n, statement)
 ORDER BY n;
SELECT max(version) AS versions_after_errors FROM recsys.recsys_config_history('cfg');

-- Profiles replace the old env-file profiles: saved once, applied as one new version.
SELECT recsys.recsys_save_profile('diverse', '{"mmr_lambda": 0.3, "category_cap": 3}');
SELECT recsys.recsys_apply_profile('cfg', 'diverse') - 'hash' AS applied;
SELECT notes FROM recsys.recsys_config_history('cfg') LIMIT 1;

-- The co-visitation window is a knob; changing it rebuilds co-visitation.
SELECT recsys.recsys_record_events('cfg', '[{"user_id": "u", "item_id": "a", "type": "view", "ts": "2026-01-01T10:00:00Z"},
                                            {"user_id": "u", "item_id": "b", "type": "view", "ts": "2026-01-01T12:00:00Z"}]') ->> 'stored' AS stored;
SELECT count(*) AS pairs_within_one_hour FROM recsys.covis WHERE namespace = 'cfg';
SELECT recsys.recsys_configure('cfg', '{"covis_window_days": 0.5}') -> 'changed' AS changed;
SELECT covis_window FROM recsys.namespaces WHERE namespace = 'cfg';
SELECT count(*) AS pairs_within_half_a_day FROM recsys.covis WHERE namespace = 'cfg';
