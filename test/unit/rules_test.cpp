// Unit tests of rule application: targets by id, tag, brand and category; block; compounding
// boosts; priority order of the matching rules.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rules.hpp"

namespace {

// Fills `c` with three items.
void fill(recsys::Catalog& c) {
    auto add = [&](const std::string& id, std::vector<std::string> tags, const std::string& brand, const std::string& category) {
        recsys::CatalogRecord r;
        r.item_id = id;
        r.tags = std::move(tags);
        r.brand = brand;
        r.category = category;
        c.upsert(r);
    };
    add("a", {"eco"}, "acme", "shoes");
    add("b", {"gift"}, "zeta", "shoes");
    add("c", {}, "acme", "hats");
}

recsys::Rule rule(const std::string& id, const std::string& action, double boost, int priority, recsys::ItemTarget t) {
    recsys::Rule r;
    r.rule_id = id;
    r.action = action;
    r.boost = boost;
    r.priority = priority;
    r.target = std::move(t);
    return r;
}

}  // namespace

TEST(Rules, BoostsCompoundAndBlocksWin) {
    recsys::Catalog c(0);
    fill(c);
    recsys::ItemTarget acme, shoes, named;
    acme.brands = {"acme"};
    shoes.categories = {"shoes"};
    named.item_ids = {"b", "new_item"};
    std::vector<recsys::Rule> rules = {rule("r1", "boost", 0.5, 1, acme), rule("r2", "boost", -0.5, 5, shoes),
                                       rule("r3", "block", 0, 0, named)};
    auto e = recsys::rule_effects(c, {"a", "b", "c", "new_item", "zz"}, rules);
    EXPECT_DOUBLE_EQ(e[0].factor, 1.5 * 0.5);  // acme and shoes
    EXPECT_FALSE(e[0].blocked);
    EXPECT_EQ(e[0].rules, (std::vector<size_t>{1, 0}));  // priority 5 first
    EXPECT_TRUE(e[1].blocked);                          // named by id
    EXPECT_EQ(e[1].rules, (std::vector<size_t>{1, 2}));
    EXPECT_DOUBLE_EQ(e[2].factor, 1.5);
    EXPECT_TRUE(e[3].blocked);  // an id not in the catalogue can still be named
    EXPECT_TRUE(e[4].rules.empty());
    EXPECT_DOUBLE_EQ(e[4].factor, 1.0);
}

TEST(Rules, EqualPrioritiesGoByRuleIdAndUnknownActionsAreErrors) {
    recsys::Catalog c(0);
    fill(c);
    recsys::ItemTarget eco;
    eco.tags = {"eco"};
    auto e = recsys::rule_effects(c, {"a"}, {rule("zz", "boost", 0.1, 2, eco), rule("aa", "pin", 0, 2, eco)});
    EXPECT_EQ(e[0].rules, (std::vector<size_t>{1, 0}));
    EXPECT_THROW(recsys::rule_effects(c, {"a"}, {rule("x", "promote", 0, 0, eco)}), recsys::Error);
}

TEST(Rules, PinsFollowPriorityListOrderAndLimits) {
    recsys::Catalog c(0);
    fill(c);
    recsys::CatalogRecord gone;
    gone.item_id = "d";
    gone.available = false;
    c.upsert(gone);
    recsys::ItemTarget listed, acme, blocked;
    listed.item_ids = {"c", "missing", "d", "b"};  // d is unavailable, missing is unknown
    acme.brands = {"acme"};                        // a and c
    blocked.item_ids = {"a"};
    recsys::Rule first = rule("r1", "pin", 0, 9, listed);
    first.max_pins = 5;
    recsys::Rule second = rule("r2", "pin", 0, 1, acme);
    second.max_pins = 2;
    // r1 (priority 9): c, b in list order; r2: a, then c (already pinned; it counts for r2).
    EXPECT_EQ(recsys::pinned_items(c, {second, first}, 10), (std::vector<std::string>{"c", "b", "a"}));
    // A block rule removes a from r2's pins; c still uses r2's second place.
    EXPECT_EQ(recsys::pinned_items(c, {second, first, rule("r3", "block", 0, 0, blocked)}, 10),
              (std::vector<std::string>{"c", "b"}));
    // Without the block, r2 pins a (by item_id, after c which r1 took first).
    EXPECT_EQ(recsys::pinned_items(c, {second}, 10), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(recsys::pinned_items(c, {first, second}, 1), (std::vector<std::string>{"c"}));
    first.max_pins = 1;
    EXPECT_EQ(recsys::pinned_items(c, {first}, 10), (std::vector<std::string>{"c"}));
}

TEST(Rules, IndexedMatchingAgreesWithTheTargetMatch) {
    // Random items and rules over a few attribute values: every effect lists exactly the rules
    // whose target Catalog::matches, in priority order, however targets combine attributes.
    recsys::Catalog c(0);
    std::mt19937 rng(7);
    auto pick = [&](const std::string& prefix, int n) { return prefix + std::to_string(rng() % n); };
    std::vector<std::string> ids;
    for (int i = 0; i < 300; ++i) {
        recsys::CatalogRecord r;
        r.item_id = "item_" + std::to_string(i);
        // Every tenth item has more attribute values than fit inline (see Catalog::for_each_token).
        for (int t = 0, tags = i % 10 == 0 ? 9 : static_cast<int>(rng() % 4); t < tags; ++t) r.tags.push_back(pick("tag", 8));
        r.brand = rng() % 5 == 0 ? "" : pick("brand", 6);
        r.category = pick("cat", 4);
        c.upsert(r);
        ids.push_back(r.item_id);
    }
    // Items updated in place: a long tag list becomes short and the other way round.
    for (int i : {0, 5, 10}) {
        recsys::CatalogRecord r;
        r.item_id = "item_" + std::to_string(i);
        r.tags = i == 5 ? std::vector<std::string>{"tag1", "tag2", "tag3", "tag4", "tag5", "tag6", "tag7"} : std::vector<std::string>{"tag3"};
        r.brand = "brand1";
        r.category = "cat2";
        c.upsert(r);
    }
    ids.push_back("not_in_catalogue");
    std::vector<recsys::Rule> rules;
    for (int k = 0; k < 150; ++k) {  // more rules than one 64-bit word of a matched set holds
        recsys::ItemTarget t;
        switch (k % 5) {
            case 0: t.tags = {pick("tag", 9)}; break;  // tag8 exists on no item
            case 1: t.brands = {pick("brand", 6)}; break;
            case 2: t.categories = {pick("cat", 4)}; break;
            case 3: t.item_ids = {pick("item_", 300), pick("item_", 300), "not_in_catalogue"}; break;
            default: t.tags = {pick("tag", 8)}; t.item_ids = {pick("item_", 300)}; break;
        }
        rules.push_back(rule("r" + std::to_string(k), k % 7 == 0 ? "block" : "boost", 0.1, static_cast<int>(rng() % 3), t));
    }
    std::vector<size_t> order = recsys::rules_by_priority(rules);
    auto effects = recsys::rule_effects(c, ids, rules);
    size_t matched = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
        std::vector<size_t> expected;
        for (size_t r : order)
            if (c.matches(rules[r].target, ids[i])) expected.push_back(r);
        EXPECT_EQ(effects[i].rules, expected) << ids[i];
        matched += expected.size();
    }
    EXPECT_GT(matched, ids.size());  // the rules do overlap
    // Counting instead of listing: the same counts, blocks and factors.
    std::vector<int> slots, named, listed(rules.size(), 0);
    for (const std::string& id : ids) slots.push_back(c.find(id));
    auto counted = recsys::rule_effects(c, ids, slots, rules, &named);
    for (size_t i = 0; i < ids.size(); ++i) {
        for (size_t r : effects[i].rules) ++listed[r];
        EXPECT_TRUE(counted[i].rules.empty());
        EXPECT_EQ(counted[i].blocked, effects[i].blocked);
        EXPECT_DOUBLE_EQ(counted[i].factor, effects[i].factor);
    }
    EXPECT_EQ(named, listed);
}

TEST(Rules, KeptTokenMatchesFollowRuleAndItemChanges) {
    // With at most 64 rules each slot's token matches are kept between calls: every call must
    // still list exactly the rules whose target Catalog::matches, as the rules alternate, items
    // change their attributes and new items arrive.
    recsys::Catalog c(0);
    std::mt19937 rng(11);
    auto pick = [&](const std::string& prefix, int n) { return prefix + std::to_string(rng() % n); };
    auto item = [&](const std::string& id) {
        recsys::CatalogRecord r;
        r.item_id = id;
        for (int t = 0, tags = static_cast<int>(rng() % 4); t < tags; ++t) r.tags.push_back(pick("tag", 6));
        r.brand = pick("brand", 4);
        r.category = pick("cat", 3);
        return r;
    };
    std::vector<std::string> ids;
    for (int i = 0; i < 200; ++i) {
        c.upsert(item("item_" + std::to_string(i)));
        ids.push_back("item_" + std::to_string(i));
    }
    auto rules_of = [&](int count) {
        std::vector<recsys::Rule> rules;
        for (int k = 0; k < count; ++k) {
            recsys::ItemTarget t;
            switch (k % 4) {
                case 0: t.tags = {pick("tag", 6)}; break;
                case 1: t.brands = {pick("brand", 4)}; break;
                case 2: t.categories = {pick("cat", 3)}; break;
                default: t.tags = {pick("tag", 6)}; t.item_ids = {pick("item_", 200)}; break;
            }
            rules.push_back(rule("r" + std::to_string(k), k % 5 == 0 ? "block" : "boost", 0.1, k % 3, t));
        }
        return rules;
    };
    auto check = [&](const std::vector<recsys::Rule>& rules, const std::string& when) {
        std::vector<size_t> order = recsys::rules_by_priority(rules);
        auto effects = recsys::rule_effects(c, ids, rules);
        for (size_t i = 0; i < ids.size(); ++i) {
            std::vector<size_t> expected;
            for (size_t r : order)
                if (c.matches(rules[r].target, ids[i])) expected.push_back(r);
            EXPECT_EQ(effects[i].rules, expected) << ids[i] << " " << when;
        }
    };
    std::vector<recsys::Rule> a = rules_of(12), b = rules_of(40);
    check(a, "first");
    check(a, "again");
    check(b, "other rules");
    check(a, "first rules back");
    for (int i = 0; i < 200; i += 7) c.upsert(item(ids[static_cast<size_t>(i)]));  // new attributes
    check(a, "after updates");
    for (int i = 200; i < 220; ++i) {
        c.upsert(item("item_" + std::to_string(i)));
        ids.push_back("item_" + std::to_string(i));
    }
    check(a, "after new items");
    check(b, "other rules after changes");
}
