-- Merchandising rules: block, pin, boost; precedence, limits, scoping, validity, dry-run and the
-- apply_rules primitive.
BEGIN;
SET client_min_messages = warning;
SELECT plan(25);
GRANT ALL ON ALL TABLES IN SCHEMA pg_temp TO PUBLIC;
GRANT ALL ON ALL SEQUENCES IN SCHEMA pg_temp TO PUBLIC;
CREATE ROLE tap_rules_admin LOGIN IN ROLE recsys_admin;
SET recsys.org_id = 'acacacac-0000-0000-0000-000000000008';
SELECT recsys.recsys_seed_synthetic('ru', '{"items": 2000, "users": 200, "events": 20000, "end": "2026-11-01T00:00:00Z"}');
ANALYZE recsys.items, recsys.item_popularity, recsys.user_items, recsys.covis, recsys.events;
CREATE TEMP TABLE sample_users AS SELECT user_id FROM recsys.users WHERE namespace = 'ru' ORDER BY user_id LIMIT 20;
CREATE TEMP TABLE before AS SELECT item_id, rank FROM recsys.recsys_rank('ru', 'user_9', 20);

-- S2: a block rule on a tag.
CREATE TEMP TABLE r_block AS SELECT recsys.recsys_upsert_rule('ru', '{"action": "block", "target": {"tag": "eco"}}') AS id;
SELECT ok((SELECT id IS NOT NULL FROM r_block), 'upsert_rule returns the rule id');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('ru', u.user_id, 20) r
             JOIN recsys.items i ON i.namespace = 'ru' AND i.item_id = r.item_id WHERE 'eco' = ANY (i.tags)), 0,
          'S2: no result carries a blocked tag');
SELECT ok((SELECT active_now FROM recsys.rules_list WHERE rule_id = (SELECT id FROM r_block)), 'rules_list shows the rule as active');

-- S5: a pinned item is at rank 1 for everyone, even if no source found it.
SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"item_ids": ["item_1999"]}, "priority": 5}');
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('ru', u.user_id, 10) r
            WHERE r.rank = 1 AND r.item_id = 'item_1999' AND 'rule:pin' = ANY (r.reasons)), 20, 'S5: the pinned item is at rank 1');
-- Block always wins, whatever the priority.
SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"item_ids": ["item_1998"]}, "priority": 100}');
SELECT recsys.recsys_upsert_rule('ru', '{"action": "block", "target": {"item_ids": ["item_1998"]}, "priority": -5}');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('ru', 'user_9', 20) WHERE item_id = 'item_1998'), 0, 'block beats a higher-priority pin');
-- Pins in rule-priority order, max_pins per rule, pin_slots per request.
SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"category": "books"}, "max_pins": 2, "priority": 1}');
SELECT is((SELECT array_agg(item_id ORDER BY rank) FROM recsys.recsys_rank('ru', 'user_9', 10) WHERE 'rule:pin' = ANY (reasons)),
          (SELECT ARRAY['item_1999'] || array_agg(item_id ORDER BY item_id) FROM (
              SELECT item_id FROM recsys.items WHERE namespace = 'ru' AND category = 'books' AND available
                 AND NOT 'eco' = ANY (tags) ORDER BY item_id LIMIT 2) b),
          'pins come by priority, a category''s items by item_id, at most max_pins');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('ru', 'user_9', 10, 'default', '{"pin_slots": 1}') WHERE 'rule:pin' = ANY (reasons)), 1,
          'pin_slots caps the pins of a request');
-- Boosts multiply, demotions divide.
CREATE TEMP TABLE target AS SELECT item_id FROM before WHERE rank = 15;
SELECT recsys.recsys_upsert_rule('ru', jsonb_build_object('action', 'boost', 'target', jsonb_build_object('item_ids', jsonb_build_array(item_id)), 'boost', 3))
  FROM target;
SELECT ok((SELECT r.rank < 15 AND 'rule:boost' = ANY (r.reasons) FROM recsys.recsys_rank('ru', 'user_9', 20, 'default', '{"pin_slots": 0}') r
             JOIN target t USING (item_id)), 'a boost rule moves an item up');
CREATE TEMP TABLE top_item AS SELECT item_id FROM before WHERE rank = 2;
SELECT recsys.recsys_upsert_rule('ru', jsonb_build_object('action', 'boost', 'target', jsonb_build_object('item_ids', jsonb_build_array(item_id)), 'boost', -0.99))
  FROM top_item;
SELECT ok(NOT EXISTS (SELECT 1 FROM recsys.recsys_rank('ru', 'user_9', 5, 'default', '{"pin_slots": 0}') r JOIN top_item t USING (item_id)),
          'a negative boost demotes');
-- Scope: surface, validity window, enabled.
CREATE TEMP TABLE home_pin AS
SELECT item_id FROM recsys.items WHERE namespace = 'ru' AND available AND NOT 'eco' = ANY (tags) AND category <> 'books'
 ORDER BY item_id DESC OFFSET 10 LIMIT 1;
SELECT recsys.recsys_upsert_rule('ru', jsonb_build_object('action', 'pin', 'target', jsonb_build_object('item_ids', jsonb_build_array(item_id)),
                                                          'priority', 50, 'surface', 'home')) FROM home_pin;
SELECT is((SELECT item_id FROM recsys.recsys_rank('ru', 'user_9', 3, 'home') WHERE rank = 1), (SELECT item_id FROM home_pin),
          'a surface rule applies on its surface');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('ru', 'user_9', 20, 'search') WHERE item_id = (SELECT item_id FROM home_pin)
              AND 'rule:pin' = ANY (reasons)), 0, 'and nowhere else');
SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"item_ids": ["item_1996"]}, "priority": 60, "valid_from": "2099-01-01T00:00:00Z"}');
SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"item_ids": ["item_1995"]}, "priority": 60, "valid_until": "2020-01-01T00:00:00Z"}');
SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"item_ids": ["item_1994"]}, "priority": 60, "enabled": false}');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('ru', 'user_9', 20)
            WHERE item_id IN ('item_1996', 'item_1995', 'item_1994') AND 'rule:pin' = ANY (reasons)), 0,
          'future, expired and disabled rules do not apply');
SELECT is((SELECT count(*)::int FROM recsys.rules_list WHERE namespace = 'ru' AND NOT active_now), 3, 'rules_list marks them inactive');
-- A rule change applies to the very next call.
SELECT recsys.recsys_delete_rule('ru', (SELECT id FROM r_block));
SELECT ok((SELECT count(*) > 0 FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('ru', u.user_id, 20) r
             JOIN recsys.items i ON i.namespace = 'ru' AND i.item_id = r.item_id WHERE 'eco' = ANY (i.tags)),
          'after deleting the block, the tag is served again');
SELECT throws_ok($$SELECT recsys.recsys_delete_rule('ru', (SELECT id FROM r_block))$$, '42704', NULL, 'deleting a missing rule is an error');

-- Dry run and the apply primitive.
CREATE TEMP TABLE dry AS SELECT recsys.recsys_rules_dry_run('ru', 'default', ARRAY['item_1998', 'item_1999', 'nope']) AS d;
SELECT is((SELECT d -> 'item_1998' ->> 'blocked' FROM dry), 'true', 'dry run: a blocked item');
SELECT is((SELECT d -> 'item_1999' ->> 'pinned_at' FROM dry), '1', 'dry run: the first pin');
SELECT is((SELECT jsonb_array_length(d -> 'item_1998' -> 'rules') FROM dry), 2, 'dry run: every matching rule is listed');
SELECT is((SELECT array_agg(item_id ORDER BY rank) FROM recsys.recsys_apply_rules('ru',
              '[{"item_id": "item_1998", "score": 9}, {"item_id": "x1", "score": 0.5}, {"item_id": "x2", "score": 0.7}]', 'default',
              '{"pin_slots": 1}')),
          ARRAY['item_1999', 'x2', 'x1'], 'apply_rules: pins first, blocked gone, the rest by score');

-- Validation points at the bad field.
SELECT throws_ok($$SELECT recsys.recsys_upsert_rule('ru', '{"action": "hide", "target": {"tag": "x"}}')$$, '22023',
                 'invalid rule: field "action" must be block, pin or boost', 'the action is checked');
SELECT throws_ok($$SELECT recsys.recsys_upsert_rule('ru', '{"action": "block", "target": {"tag": "x", "brand": "y"}}')$$, '22023',
                 'invalid rule: field "target" must have exactly one of item_ids, tag, brand, category', 'the target is checked');
SELECT throws_ok($$SELECT recsys.recsys_upsert_rule('ru', '{"action": "boost", "target": {"tag": "x"}}')$$, '22023',
                 'invalid rule: field "boost" is required for a boost rule', 'a boost needs its boost');
SELECT throws_ok($$SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"tag": "x"}, "valid_from": "2026-02-01", "valid_until": "2026-01-01"}')$$,
                 '22023', 'invalid rule: field "valid_until" must be later than valid_from', 'the window is checked');
SELECT throws_ok($$SELECT recsys.recsys_upsert_rule('ru', '{"action": "pin", "target": {"tag": "x"}, "colour": 1}')$$, '22023', NULL,
                 'unknown fields are errors');
-- Another organisation sees none of these rules (a non-superuser admin acting for it).
SET SESSION AUTHORIZATION tap_rules_admin;
SET recsys.org_id = 'acacacac-0000-0000-0000-000000000009';
SELECT is((SELECT count(*)::int FROM recsys.rules_list WHERE namespace = 'ru'), 0, 'rules are confined to their organisation');
RESET recsys.org_id;
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
