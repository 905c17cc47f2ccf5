-- Privileges: nothing for PUBLIC; each role gets what its job needs. Internal functions
-- (named with a leading underscore) are called only by the extension's own functions.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA recsys FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA recsys FROM PUBLIC;

-- Used by RLS policies and column defaults, so every role that touches a table needs it.
GRANT EXECUTE ON FUNCTION recsys.current_org() TO recsys_reader, recsys_auditor;

GRANT EXECUTE ON FUNCTION recsys.recsys_rank(text, text, int, text, jsonb) TO recsys_reader;
GRANT SELECT ON recsys.items, recsys.users, recsys.namespaces, recsys.event_types TO recsys_reader;

GRANT EXECUTE ON FUNCTION
    recsys.recsys_upsert_items(text, jsonb), recsys.recsys_upsert_users(text, jsonb),
    recsys.recsys_record_events(text, jsonb), recsys.recsys_delete_items(text, jsonb),
    recsys.recsys_delete_users(text, jsonb), recsys.recsys_delete_events(text, jsonb)
    TO recsys_writer;
GRANT INSERT, UPDATE, DELETE ON recsys.items, recsys.users TO recsys_writer;
GRANT SELECT, INSERT, DELETE ON recsys.events TO recsys_writer;
GRANT USAGE ON SEQUENCE recsys.event_seq TO recsys_writer;

GRANT EXECUTE ON FUNCTION
    recsys.recsys_refresh(text), recsys.recsys_reset_namespace(text, boolean),
    recsys.recsys_upsert_event_types(text, jsonb), recsys.recsys_seed_synthetic(text, jsonb),
    recsys.recsys_map_role(regrole, uuid), recsys.recsys_unmap_role(regrole)
    TO recsys_admin;
GRANT SELECT ON recsys.item_popularity, recsys.user_items, recsys.user_tags, recsys.covis, recsys.item_neighbours,
    recsys.event_ids
    TO recsys_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON recsys.event_types TO recsys_admin;

-- Pure primitives over caller-supplied lists.
GRANT EXECUTE ON FUNCTION recsys.recsys_mmr(jsonb, int, jsonb), recsys.recsys_blend(jsonb, jsonb) TO recsys_reader;

-- Configuration: readers see it, admins change it.
GRANT EXECUTE ON FUNCTION recsys.recsys_config(text), recsys.recsys_config_history(text) TO recsys_reader, recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys.recsys_configure(text, jsonb, text), recsys.recsys_save_profile(text, jsonb),
    recsys.recsys_apply_profile(text, text) TO recsys_admin;
GRANT SELECT ON recsys.config_knobs TO recsys_reader, recsys_auditor;

-- Bandits: applications decide, recommend and reward; admins manage policies and holdouts.
GRANT EXECUTE ON FUNCTION recsys.recsys_bandit_decide(text, text, jsonb, text[], text),
    recsys.recsys_bandit_recommend(text, text, int, text, jsonb, jsonb, text[], text, boolean),
    recsys.recsys_bandit_select(jsonb, text, jsonb) TO recsys_reader;
GRANT EXECUTE ON FUNCTION recsys.recsys_bandit_reward(text, text, float8) TO recsys_writer;
GRANT EXECUTE ON FUNCTION recsys.recsys_upsert_policies(text, jsonb), recsys.recsys_bandit_holdout(text, text, float8)
    TO recsys_admin;
GRANT SELECT ON recsys.bandit_policies, recsys.bandit_lift TO recsys_reader, recsys_auditor;
GRANT SELECT ON recsys.bandit_stats, recsys.bandit_decisions TO recsys_admin, recsys_auditor;

-- Serving beyond recsys_rank.
GRANT EXECUTE ON FUNCTION recsys.recsys_rerank(text, text, text[], int, text, jsonb), recsys.recsys_recommend(text, jsonb)
    TO recsys_reader;

-- Rules: merchandisers (admins) manage them; applications may dry-run and apply them.
GRANT EXECUTE ON FUNCTION recsys.recsys_upsert_rule(text, jsonb), recsys.recsys_delete_rule(text, uuid) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_rules_dry_run(text, text, text[], text),
    recsys.recsys_apply_rules(text, jsonb, text, jsonb) TO recsys_reader;
GRANT SELECT ON recsys.rules_list TO recsys_reader, recsys_auditor;
GRANT SELECT ON recsys.rules TO recsys_reader, recsys_auditor;

-- Manual overrides: merchandisers (admins) create and cancel; readers and auditors see them.
GRANT EXECUTE ON FUNCTION recsys.recsys_create_override(text, jsonb), recsys.recsys_cancel_override(text, uuid, text)
    TO recsys_admin;
GRANT SELECT ON recsys.overrides_list, recsys.override_history TO recsys_reader, recsys_auditor;
GRANT SELECT ON recsys.manual_overrides TO recsys_reader, recsys_auditor;

-- Segments: admins define them; applications ask where a user lands.
GRANT EXECUTE ON FUNCTION recsys.recsys_upsert_segment(text, jsonb) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_segment_of(text, text, jsonb) TO recsys_reader;
GRANT SELECT ON recsys.segments TO recsys_reader, recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys.recsys_similar_items(text, text, int, jsonb) TO recsys_reader;

-- Audit trail: auditors (and admins) read their organisation's decisions; admins run retention.
GRANT EXECUTE ON FUNCTION recsys.recsys_decisions(text, timestamptz, timestamptz, text, text, int, text, text),
    recsys.recsys_decision(text), recsys.recsys_explain_item(text, text, timestamptz) TO recsys_auditor;
GRANT SELECT ON recsys.rec_decisions, recsys.top_served_items TO recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys._metrics_window_minutes() TO recsys_auditor;
GRANT EXECUTE ON FUNCTION recsys.recsys_maintain_decisions() TO recsys_admin;

-- Telemetry: the exporter's role reads the metrics of every organisation (aggregates only).
GRANT EXECUTE ON FUNCTION recsys._metrics_window_minutes(), recsys._skipped_decisions(), recsys._popular_head(uuid, text)
    TO recsys_monitor;
GRANT SELECT ON recsys.metrics TO recsys_monitor;

-- Collaborative filtering: admins train; they see their organisation's running trainings.
GRANT EXECUTE ON FUNCTION recsys.recsys_train_factors(text, jsonb) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_build_embedding_index(text, jsonb), recsys.recsys_drop_embedding_index(text)
    TO recsys_admin;
GRANT SELECT ON recsys.embedding_indexes TO recsys_admin;
GRANT SELECT ON recsys.training_progress, recsys.factor_models TO recsys_admin;

-- Evaluation, guardrails and tuning: admins run them; auditors read the results.
GRANT EXECUTE ON FUNCTION recsys.recsys_evaluate(text, jsonb), recsys.recsys_tune(text, jsonb, jsonb),
    recsys.recsys_set_guardrails(text, jsonb) TO recsys_admin;
GRANT EXECUTE ON FUNCTION recsys.recsys_check_guardrails(text, jsonb) TO recsys_admin, recsys_auditor;
GRANT SELECT ON recsys.evaluations, recsys.tuning_runs TO recsys_admin, recsys_auditor;
