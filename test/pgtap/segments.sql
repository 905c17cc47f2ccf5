-- Segments: the condition language, priority order, validation that points at the bad node, and
-- segment profiles and segment-scoped rules in ranking and bandits.
BEGIN;
SET client_min_messages = warning;
SELECT plan(24);
SET recsys.org_id = 'aeaeaeae-0000-0000-0000-00000000000b';
SELECT recsys.recsys_seed_synthetic('sg', '{"items": 1500, "users": 120, "events": 15000, "end": "2026-11-01T00:00:00Z"}');
ANALYZE recsys.items, recsys.item_popularity, recsys.user_items, recsys.covis, recsys.events;
SELECT recsys.recsys_upsert_users('sg', '[{"user_id": "gold40", "traits": {"tier": "gold", "age": 40, "signup": "2020-01-01", "likes": ["jazz", "film"]}},
                                         {"user_id": "silver20", "traits": {"tier": "silver", "age": 20, "signup": "2026-10-30"}}]');

SELECT ok(recsys.recsys_upsert_segment('sg', '{"segment_id": "gold_adults", "priority": 10, "profile": {"brand_cap": 1},
    "condition": {"all": [{"eq": ["user.traits.tier", "gold"]}, {"gte": ["user.traits.age", 30]}]}}') ? 'segment_id', 'a segment is stored');
SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "mobile", "priority": 5, "condition": {"eq": ["context.device", "mobile"]}}');
SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "veterans", "priority": 1, "condition": {"gte_days_since": ["user.traits.signup", 365]}}');
SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "jazz", "priority": 0, "condition": {"contains": ["user.traits.likes", "jazz"]}}');
SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "teens_or_twenties", "priority": 2, "active": false,
                                            "condition": {"any": [{"lt": ["user.traits.age", 30]}, {"in": ["user.traits.tier", ["silver"]]}]}}');

SELECT is(recsys.recsys_segment_of('sg', 'gold40'), 'gold_adults', 'all/eq/gte: gold adults');
SELECT is(recsys.recsys_segment_of('sg', 'silver20', '{"device": "mobile"}'), 'mobile', 'a context condition');
SELECT is(recsys.recsys_segment_of('sg', 'gold40', '{"device": "mobile"}'), 'gold_adults', 'the higher priority wins');
SELECT is(recsys.recsys_segment_of('sg', 'silver20'), 'default', 'no match, and inactive segments are skipped: default');
UPDATE recsys.segments SET active = false WHERE segment_id = 'gold_adults';
SELECT is(recsys.recsys_segment_of('sg', 'gold40'), 'veterans', 'gte_days_since on a trait timestamp');
UPDATE recsys.segments SET active = false WHERE segment_id = 'veterans';
SELECT is(recsys.recsys_segment_of('sg', 'gold40'), 'jazz', 'contains on an array trait');
UPDATE recsys.segments SET active = true WHERE segment_id IN ('gold_adults', 'veterans');
SELECT is(recsys.recsys_segment_of('sg', 'nobody_known'), 'default', 'an unknown user lands in default');

-- Every operator on its own (recsys._condition_matches, the C evaluator), edge cases included:
-- the cases whose result differs from the expected one are listed.
CREATE TEMP TABLE condition_cases (label text, node jsonb, expected boolean);
INSERT INTO condition_cases VALUES
    ('eq on a string', '{"eq": ["user.traits.tier", "gold"]}', true),
    ('eq across types', '{"eq": ["user.traits.age", "40"]}', false),
    ('neq', '{"neq": ["user.traits.tier", "silver"]}', true),
    ('neq on a missing value', '{"neq": ["user.traits.missing", "x"]}', true),
    ('eq on a missing value', '{"eq": ["user.traits.missing", "x"]}', false),
    ('eq on a JSON null', '{"eq": ["user.traits.nothing", null]}', false),
    ('gt on numbers', '{"gt": ["user.traits.age", 39.5]}', true),
    ('lte on numbers', '{"lte": ["user.traits.age", 39]}', false),
    ('lt on strings', '{"lt": ["user.traits.tier", "silver"]}', true),
    ('gte across types', '{"gte": ["user.traits.age", "30"]}', false),
    ('in', '{"in": ["user.traits.tier", ["silver", "gold"]]}', true),
    ('in, absent', '{"in": ["user.traits.tier", ["silver"]]}', false),
    ('contains in an array', '{"contains": ["user.traits.likes", "film"]}', true),
    ('contains a substring', '{"contains": ["user.traits.tier", "ol"]}', true),
    ('contains on a number', '{"contains": ["user.traits.age", 4]}', false),
    ('exists', '{"exists": "context.device"}', true),
    ('exists in array form', '{"exists": ["user.traits.missing"]}', false),
    ('exists on a JSON null', '{"exists": "user.traits.nothing"}', false),
    ('an array index in a path', '{"eq": ["user.traits.likes.1", "film"]}', true),
    ('a path through a scalar', '{"eq": ["user.traits.tier.x", "gold"]}', false),
    ('gte_days_since on a timestamp string', '{"gte_days_since": ["user.traits.signup", 365]}', true),
    ('gte_days_since on epoch seconds', '{"gte_days_since": ["user.traits.seen", 2]}', false),
    ('request fields', '{"all": [{"eq": ["request.surface", "home"]}, {"gte": ["request.k", 10]}]}', true),
    ('not', '{"not": {"eq": ["user.traits.tier", "gold"]}}', false),
    ('an empty all', '{"all": []}', true),
    ('any', '{"any": [{"eq": ["user.traits.tier", "silver"]}, {"eq": ["user.user_id", "u1"]}]}', true);
SELECT is((SELECT array_agg(c.label ORDER BY c.label) FROM condition_cases c
            WHERE recsys._condition_matches(c.node,
                      jsonb_build_object('user', jsonb_build_object('user_id', 'u1', 'traits', jsonb_build_object(
                                             'tier', 'gold', 'age', 40, 'likes', jsonb_build_array('jazz', 'film'), 'nothing', NULL,
                                             'signup', '2020-01-01', 'seen', extract(epoch FROM now()) - 86400)),
                                         'context', '{"device": "mobile"}'::jsonb, 'request', '{"surface": "home", "k": 20}'::jsonb),
                      now()) IS DISTINCT FROM c.expected),
          NULL, 'every operator evaluates as documented (labels of the cases that do not)');

-- An invalid condition is refused at upsert, naming the node.
SELECT throws_ok($$SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "b", "condition": {"all": [{"eq": ["user.traits.tier", "gold"]}, {"gte": ["user.traits.age"]}]}}')$$,
                 '22023', 'invalid segment condition at condition.all[1].gte: expects [path, value]', 'a wrong arity is refused');
SELECT throws_ok($$SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "b", "condition": {"any": [{"between": ["user.age", 1]}]}}')$$,
                 '22023', 'invalid segment condition at condition.any[0].between: unknown operator "between"', 'an unknown operator is refused');
SELECT throws_ok($$SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "b", "condition": {"not": {"eq": ["traits.tier", "gold"]}}}')$$,
                 '22023', 'invalid segment condition at condition.not.eq[0]: "traits.tier" is not a path (user., context. or request. followed by keys)',
                 'a bad path is refused');
SELECT throws_ok($$SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "b", "condition": {"eq": ["user.tier", "x"], "neq": ["user.tier", "y"]}}')$$,
                 '22023', 'invalid segment condition at condition: must be an object with exactly one operator', 'two operators in a node are refused');
SELECT throws_ok($$SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "b", "condition": {"eq": ["user.tier", "x"]}, "profile": {"mmr_lambda": 2}}')$$,
                 '22023', NULL, 'profile knobs are validated');

-- Segment profiles change ranking: gold adults get brand_cap 1.
SELECT is((SELECT max(n)::int FROM (SELECT count(*) AS n FROM recsys.recsys_rank('sg', 'gold40', 20) r
             JOIN recsys.items i ON i.namespace = 'sg' AND i.item_id = r.item_id GROUP BY i.brand) b), 1,
          'the segment profile''s brand_cap applies to its users');
SELECT is((SELECT r -> 'trace' ->> 'segment' || ' ' || (r -> 'trace' -> 'config' -> 'brand_cap' ->> 'source')
             FROM (SELECT recsys.recsys_recommend('sg', '{"user_id": "gold40", "k": 5, "trace": true}') AS r) x),
          'gold_adults segment', 'the trace shows the segment and the knob''s source');
SELECT is((SELECT r -> 'trace' -> 'config' -> 'brand_cap' ->> 'source'
             FROM (SELECT recsys.recsys_recommend('sg', '{"user_id": "gold40", "k": 5, "trace": true, "options": {"brand_cap": 2}}') AS r) x),
          'request', 'request options override the segment');
-- A segment-scoped rule applies to that segment only.
CREATE TEMP TABLE pin_item AS SELECT item_id FROM recsys.items WHERE namespace = 'sg' AND available ORDER BY item_id DESC LIMIT 1;
SELECT recsys.recsys_upsert_rule('sg', jsonb_build_object('action', 'pin', 'segment', 'gold_adults',
                                 'target', jsonb_build_object('item_ids', jsonb_build_array(item_id)))) FROM pin_item;
SELECT is((SELECT item_id FROM recsys.recsys_rank('sg', 'gold40', 5) WHERE rank = 1), (SELECT item_id FROM pin_item), 'the segment''s pin applies to it');
SELECT is((SELECT count(*)::int FROM recsys.recsys_rank('sg', 'silver20', 20) r JOIN pin_item p USING (item_id) WHERE 'rule:pin' = ANY (r.reasons)), 0,
          'and not to other users');
-- S7: cold start. A new user gets the starter profile of the segment: at least 4 categories in
-- the top 10, and the reason says so.
SELECT recsys.recsys_upsert_segment('sg', '{"segment_id": "new_users", "priority": 20, "profile": {"mmr_lambda": 0.6},
                                            "condition": {"lt": ["user.traits.signup_days_ago", 14]}}');
SELECT recsys.recsys_upsert_users('sg', '[{"user_id": "fresh_user", "traits": {"signup_days_ago": 1}}]');
SELECT is(recsys.recsys_segment_of('sg', 'fresh_user'), 'new_users', 'the new user lands in new_users');
-- One category boosted hard: a warm user's list fills with it, a cold user's starter cap spreads it.
CREATE TEMP TABLE hot AS SELECT recsys.recsys_upsert_rule('sg', jsonb_build_object('action', 'boost', 'boost', 100,
    'target', jsonb_build_object('category', (SELECT category FROM recsys.items WHERE namespace = 'sg' AND item_id = 'item_1')))) AS id;
SELECT ok((SELECT count(*) >= 6 FROM recsys.recsys_rank('sg', 'user_5', 10) r JOIN recsys.items i ON i.namespace = 'sg' AND i.item_id = r.item_id
            WHERE i.category = (SELECT category FROM recsys.items WHERE namespace = 'sg' AND item_id = 'item_1')),
          'a warm user''s top 10 is dominated by the boosted category');
SELECT ok((SELECT count(DISTINCT i.category) >= 4 FROM recsys.recsys_rank('sg', 'fresh_user', 10) r
             JOIN recsys.items i ON i.namespace = 'sg' AND i.item_id = r.item_id), 'S7: at least 4 categories in a cold user''s top 10');
SELECT ok((SELECT bool_and('starter_profile' = ANY (reasons)) FROM recsys.recsys_rank('sg', 'fresh_user', 10)),
          'S7: the starter profile shows in the reasons');
SELECT recsys.recsys_delete_rule('sg', (SELECT id FROM hot));

-- A bandit policy is not silently overwritten by the segment.
SELECT recsys.recsys_upsert_policies('sg', '[{"policy_id": "wide", "settings": {"brand_cap": 3}}]');
SELECT is((SELECT r -> 'config' -> 'brand_cap' FROM (SELECT recsys.recsys_bandit_recommend('sg', 'gold40', 5, 'home', trace => true) AS r) x),
          '{"value": 3, "source": "bandit_policy"}', 'the policy''s knob beats the segment profile');

SELECT * FROM finish();
ROLLBACK;
