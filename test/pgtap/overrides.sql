-- Manual overrides: suppress, boost, pin; history; cancellation; expiry without any job.
BEGIN;
SET client_min_messages = warning;
SELECT plan(16);
SET recsys.org_id = 'adadadad-0000-0000-0000-00000000000a';
SELECT recsys.recsys_seed_synthetic('mo', '{"items": 1500, "users": 100, "events": 15000, "end": "2026-11-01T00:00:00Z"}');
ANALYZE recsys.items, recsys.item_popularity, recsys.user_items, recsys.covis, recsys.events;
CREATE TEMP TABLE before AS SELECT item_id, rank FROM recsys.recsys_rank('mo', 'user_4', 20);

CREATE TEMP TABLE o_suppress AS
SELECT recsys.recsys_create_override('mo', jsonb_build_object('item_id', item_id, 'action', 'suppress', 'notes', 'recall',
                                                              'created_by', 'merch@example.com')) AS id
  FROM before WHERE rank = 1;
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('mo', 'user_4', 20) r JOIN before b ON b.item_id = r.item_id AND b.rank = 1), 0,
          'a suppressed item is not served');
SELECT is((SELECT event || ':' || actor FROM recsys.override_history WHERE override_id = (SELECT id FROM o_suppress)),
          'created:merch@example.com', 'the creation is in the history, with who did it');
SELECT recsys.recsys_create_override('mo', jsonb_build_object('item_id', item_id, 'action', 'boost', 'value', 4)) FROM before WHERE rank = 18;
SELECT ok((SELECT r.rank < 17 AND 'rule:boost' = ANY (r.reasons) FROM recsys.recsys_rank('mo', 'user_4', 20) r
             JOIN before b ON b.item_id = r.item_id AND b.rank = 18), 'S3: a manually boosted item moves up');
CREATE TEMP TABLE pin_items AS
SELECT item_id, row_number() OVER (ORDER BY item_id DESC) AS n FROM recsys.items
 WHERE namespace = 'mo' AND available ORDER BY item_id DESC LIMIT 2;
SELECT recsys.recsys_upsert_rule('mo', jsonb_build_object('action', 'pin', 'priority', 1000,
                                 'target', jsonb_build_object('item_ids', jsonb_build_array(item_id)))) FROM pin_items WHERE n = 2;
SELECT recsys.recsys_create_override('mo', jsonb_build_object('item_id', item_id, 'action', 'pin', 'surface', 'home'))
  FROM pin_items WHERE n = 1;
SELECT is((SELECT array_agg(item_id ORDER BY rank) FROM recsys.recsys_rank('mo', 'user_4', 5, 'home') WHERE 'rule:pin' = ANY (reasons)),
          (SELECT array_agg(item_id ORDER BY n) FROM pin_items), 'an override pin comes before rule pins');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('mo', 'user_4', 5, 'search') r JOIN pin_items p ON p.item_id = r.item_id AND p.n = 1
            WHERE 'rule:pin' = ANY (r.reasons)), 0, 'a surface override applies on its surface only');
SELECT is((SELECT d -> item_id ->> 'pinned_at' FROM pin_items,
                  LATERAL (SELECT recsys.recsys_rules_dry_run('mo', 'home', ARRAY[item_id]) AS d) x WHERE n = 1), '1',
          'dry run shows overrides too');

-- S8: a brand-new item (no events) with a manual boost gets exposure across users.
SELECT recsys.recsys_upsert_items('mo', (SELECT jsonb_build_array(jsonb_build_object('item_id', 'brand_new', 'category', category, 'brand', brand,
                                            'tags', to_jsonb(tags), 'embedding', to_jsonb(embedding)))
                                           FROM recsys.items WHERE namespace = 'mo' AND item_id = 'item_3'));
CREATE TEMP TABLE sample_users AS SELECT user_id FROM recsys.users WHERE namespace = 'mo' ORDER BY user_id LIMIT 20;
SELECT is((SELECT count(*)::int FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('mo', u.user_id, 10) r WHERE r.item_id = 'brand_new'), 0,
          'S8: without a boost, a brand-new item is not served');
SELECT recsys.recsys_create_override('mo', '{"item_id": "brand_new", "action": "boost", "value": 9}');
SELECT ok((SELECT count(*) >= 5 FROM sample_users u CROSS JOIN LATERAL recsys.recsys_rank('mo', u.user_id, 10) r WHERE r.item_id = 'brand_new'),
          'S8: with a manual boost it reaches the top 10 of at least 5 of 20 users');

-- Expiry needs no job: an override stops applying at expires_at.
CREATE TEMP TABLE o_expiring AS
SELECT recsys.recsys_create_override('mo', jsonb_build_object('item_id', 'item_1402', 'action', 'pin',
                                     'expires_at', to_char(now() + interval '1 hour', 'YYYY-MM-DD"T"HH24:MI:SSOF'))) AS id;
SELECT ok(EXISTS (SELECT 1 FROM recsys._active_rules('adadadad-0000-0000-0000-00000000000a', 'mo', 'default', NULL, now())
                   WHERE rule_id = (SELECT id FROM o_expiring)), 'in force before expires_at');
SELECT ok(NOT EXISTS (SELECT 1 FROM recsys._active_rules('adadadad-0000-0000-0000-00000000000a', 'mo', 'default', NULL, now() + interval '2 hours')
                       WHERE rule_id = (SELECT id FROM o_expiring)), 'not in force after expires_at');
UPDATE recsys.manual_overrides SET expires_at = now() - interval '1 second' WHERE override_id = (SELECT id FROM o_expiring);
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('mo', 'user_4', 10) WHERE item_id = 'item_1402' AND 'rule:pin' = ANY (reasons)), 0,
          'an expired override is not served');

-- Cancellation.
SELECT is((SELECT recsys.recsys_cancel_override('mo', id, 'merch@example.com') ->> 'cancelled_by' FROM o_suppress), 'merch@example.com',
          'cancel records who cancelled');
SELECT ok((SELECT count(*) > 0 FROM recsys.recsys_rank('mo', 'user_4', 20) r JOIN before b ON b.item_id = r.item_id AND b.rank = 1),
          'after cancelling, the item is served again');
SELECT throws_ok($$SELECT recsys.recsys_cancel_override('mo', (SELECT id FROM o_suppress))$$, '55000', NULL, 'cancelling twice is an error');
SELECT throws_ok($$SELECT recsys.recsys_create_override('mo', '{"item_id": "x", "action": "boost"}')$$, '22023',
                 'invalid override: field "value" is required for a boost', 'a boost needs its value');
SELECT throws_ok($$SELECT recsys.recsys_create_override('mo', '{"item_id": "x", "action": "pin", "expires_at": "2001-01-01"}')$$, '22023',
                 'invalid override: field "expires_at" lies in the past', 'an override cannot expire in the past');

SELECT * FROM finish();
ROLLBACK;
