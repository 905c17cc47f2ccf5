-- The decision log's functions: exact errors and the shape of what they return.
SET client_min_messages = warning;
SET timezone = 'UTC';
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS recsys;
SET recsys.org_id = '0dec0dec-0000-0000-0000-000000000001';
SELECT recsys.recsys_upsert_items('audit', '[{"item_id": "a", "tags": ["x"]}, {"item_id": "b", "tags": ["x"]}, {"item_id": "c"}]');
SELECT recsys.recsys_record_events('audit', '[{"user_id": "u1", "item_id": "a", "type": "view"}, {"user_id": "u2", "item_id": "b", "type": "view"}, {"user_id": "u2", "item_id": "c", "type": "purchase"}]');
SELECT item_id FROM recsys.recsys_rank('audit', 'u1', 3, 'home', '{"exclude_item_ids": ["c"]}');

-- What one decision holds (the varying parts left out).
SELECT function, surface, k, options, funnel, dropped, candidates, item_ids, rule_ids, segment, user_id, bandit
  FROM recsys.rec_decisions WHERE namespace = 'audit';
SELECT jsonb_object_keys(recsys.recsys_decision(decision_id::text)) AS field
  FROM recsys.rec_decisions WHERE namespace = 'audit' ORDER BY 1;
SELECT function, surface, k, item_ids, rule_ids, policy_id FROM recsys.recsys_decisions('audit');
SELECT f - 'since' - 'item' FROM recsys.recsys_explain_item('audit', 'c') f;

-- Errors.
SELECT * FROM recsys.recsys_decisions('audit', lim => 0);
SELECT * FROM recsys.recsys_decisions('audit', lim => NULL);
SELECT * FROM recsys.recsys_decisions('audit', since => '2026-02-01', until => '2026-01-01');
SELECT * FROM recsys.recsys_decisions('audit', request_id => 'not-a-uuid');
SELECT * FROM recsys.recsys_decisions('Bad Namespace');
SELECT recsys.recsys_decision('nope');
SELECT recsys.recsys_decision(NULL);
SELECT recsys.recsys_decision('00000000-0000-0000-0000-000000000000');
SELECT recsys.recsys_explain_item('audit', 'missing');
SELECT recsys.recsys_recommend('audit', '{"user_id": "u1", "request_id": 42}');
SELECT recsys.recsys_recommend('audit', '{"user_id": "u1", "request_id": "abc"}');
SET recsys.decision_retention_days = 0;
SET recsys.metrics_window_minutes = 20000;
