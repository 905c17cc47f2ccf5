-- pg_dump/pg_restore: the extension's tables that hold tenant data and configuration have their
-- rows dumped (pg_extension_config_dump); the extension's own reference data (config_knobs,
-- default_event_types) comes back with CREATE EXTENSION. Monthly event partitions and daily
-- decision partitions are created at run time, are not members of the extension, and are dumped
-- like any table. items, users and event_types reference namespaces, so pg_dump restores
-- namespaces first and the ingestion triggers find them (see docs/operations.md).
DO $dump$
DECLARE
    table_name text;
BEGIN
    FOREACH table_name IN ARRAY ARRAY[
            'role_orgs', 'namespaces', 'event_types', 'items', 'users', 'events_default', 'event_ids',
            'item_popularity', 'user_items', 'covis', 'namespace_config', 'profiles', 'segments', 'rules',
            'manual_overrides', 'override_history', 'bandit_policies', 'bandit_surfaces', 'bandit_stats',
            'bandit_decisions', 'decision_salts', 'factor_models', 'item_factors', 'user_factors', 'embedding_indexes', 'evaluations', 'tuning_runs', 'guardrail_settings',
            'event_seq', 'catalog_epochs'] LOOP
        PERFORM pg_catalog.pg_extension_config_dump(('recsys.' || table_name)::regclass, '');
    END LOOP;
END
$dump$;
