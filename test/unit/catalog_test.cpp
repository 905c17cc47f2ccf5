// Unit tests of the in-memory catalogue: attributes, postings in item_id order, rule targets,
// exact and IVF embedding search, ALS factors and k-means.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/catalog.hpp"
#include "core/codes.hpp"
#include "core/error.hpp"
#include "core/random.hpp"

namespace {

recsys::CatalogRecord record(const std::string& id, std::vector<std::string> tags, std::vector<float> embedding,
                             bool available = true, const std::string& brand = "", const std::string& category = "") {
    recsys::CatalogRecord r;
    r.item_id = id;
    r.tags = std::move(tags);
    r.embedding = std::move(embedding);
    r.available = available;
    r.brand = brand;
    r.category = category;
    return r;
}

std::vector<std::string> ids(const recsys::Catalog& c, const std::vector<int>& slots) {
    std::vector<std::string> out;
    for (int s : slots) out.push_back(c.item_id(s));
    return out;
}

// A random unit-ish vector per item from a counter RNG, around one of `clusters` centres.
std::vector<float> clustered(size_t item, size_t dim, size_t clusters) {
    recsys::CounterRng centre(7, item % clusters, 0), noise(7, 1000 + item, 1);
    std::vector<float> v(dim);
    for (size_t d = 0; d < dim; ++d) v[d] = static_cast<float>(centre.gaussian() + 0.3 * noise.gaussian());
    return v;
}

}  // namespace

TEST(Catalog, UpsertReplacesAttributesAndPostings) {
    recsys::Catalog c(2);
    c.upsert(record("b", {"red", "sale"}, {1, 0}));
    c.upsert(record("a", {"red"}, {0, 1}));
    EXPECT_EQ(ids(c, c.with_any_tag({"red"}, 10)), (std::vector<std::string>{"a", "b"}));
    c.upsert(record("b", {"blue"}, {1, 0}, false));
    EXPECT_EQ(ids(c, c.with_any_tag({"red", "sale"}, 10)), (std::vector<std::string>{"a"}));
    EXPECT_TRUE(c.with_any_tag({"blue"}, 10).empty());  // b is unavailable now
    EXPECT_EQ(c.size(), 2u);
    EXPECT_FALSE(c.available(c.find("b")));
    EXPECT_EQ(c.find("zz"), -1);
    // A filled candidate borrows the stored unit vector with its norm.
    c.upsert(record("b", {"blue"}, {3, 4}));
    recsys::PipelineItem item;
    c.fill(c.find("b"), item);
    ASSERT_EQ(item.candidate.vector_size(), 2u);
    EXPECT_NEAR(item.candidate.vector_data()[0], 0.6, 1e-6);
    EXPECT_NEAR(item.candidate.borrowed_norm, 1.0, 1e-6);
}

TEST(Catalog, TagUnionIsOrderedByIdWithoutRepeatsAndLimited) {
    recsys::Catalog c(0);
    for (const char* id : {"i3", "i1", "i5", "i2", "i4"}) c.upsert(record(id, {"x", std::string(id) < "i3" ? "y" : "z"}, {}));
    EXPECT_EQ(ids(c, c.with_any_tag({"y", "x", "z"}, 3)), (std::vector<std::string>{"i1", "i2", "i3"}));
    EXPECT_EQ(ids(c, c.with_any_tag({"z"}, 10)), (std::vector<std::string>{"i3", "i4", "i5"}));
}

TEST(Catalog, MatchingUnitesIdsTagsBrandsAndCategories) {
    recsys::Catalog c(0);
    c.upsert(record("a", {"t"}, {}, true, "acme", "shoes"));
    c.upsert(record("b", {}, {}, true, "zeta", "hats"));
    c.upsert(record("c", {}, {}, false, "acme", "bags"));
    c.upsert(record("d", {}, {}, true, "", "bags"));
    recsys::ItemTarget target;
    target.brands = {"acme"};
    target.item_ids = {"d", "missing", "a"};
    EXPECT_EQ(ids(c, c.matching(target, false)), (std::vector<std::string>{"a", "c", "d"}));
    EXPECT_EQ(ids(c, c.matching(target, true)), (std::vector<std::string>{"a", "d"}));
    recsys::ItemTarget by_category;
    by_category.categories = {"hats", "bags"};
    EXPECT_EQ(ids(c, c.matching(by_category, false)), (std::vector<std::string>{"b", "c", "d"}));
    EXPECT_TRUE(c.matches(target, "missing"));
    EXPECT_TRUE(c.matches(target, "c"));
    EXPECT_FALSE(c.matches(target, "b"));
    recsys::ItemTarget by_tag;
    by_tag.tags = {"t"};
    EXPECT_TRUE(c.matches(by_tag, "a"));
    EXPECT_FALSE(c.matches(by_tag, "d"));
}

TEST(Catalog, WrongEmbeddingLengthIsAnError) {
    recsys::Catalog c(3);
    EXPECT_THROW(c.upsert(record("a", {}, {1, 2})), recsys::Error);
}

TEST(Catalog, ExactNearestSkipsTheAnchorUnavailableAndEmbeddingless) {
    recsys::Catalog c(2);
    c.upsert(record("a", {}, {1, 0}));
    c.upsert(record("b", {}, {0.9f, 0.1f}));
    c.upsert(record("c", {}, {0.9f, 0.1f}));
    c.upsert(record("d", {}, {1, 0.01f}, false));
    c.upsert(record("e", {}, {}));
    c.upsert(record("f", {}, {0, 1}));
    std::vector<recsys::ScoredSlot> near = c.nearest({2, 0}, 3, {c.find("a")});
    ASSERT_EQ(near.size(), 3u);
    EXPECT_EQ(c.item_id(near[0].slot), "b");  // tie with c goes to the smaller id
    EXPECT_EQ(c.item_id(near[1].slot), "c");
    EXPECT_EQ(c.item_id(near[2].slot), "f");
    EXPECT_NEAR(near[0].score, 0.9 / std::sqrt(0.82), 1e-6);
}

TEST(Catalog, IvfSearchFindsMostExactNeighboursAndFollowsUpdates) {
    const size_t dim = 16, n = 4000;
    recsys::Catalog c(dim);
    for (size_t i = 0; i < n; ++i) c.upsert(record("item" + std::to_string(i), {}, clustered(i, dim, 40)));
    std::vector<float> all;
    for (size_t i = 0; i < n; ++i) {
        std::vector<float> v = clustered(i, dim, 40);
        double norm = 0;
        for (float x : v) norm += x * x;
        for (float x : v) all.push_back(static_cast<float>(x / std::sqrt(norm)));
    }
    std::vector<recsys::ScoredSlot> exact = c.nearest(clustered(3, dim, 40), 20, {});
    c.set_index(recsys::spherical_kmeans(all, n, dim, 64, 8, 1), 8);
    EXPECT_EQ(c.index_lists(), 64u);
    std::vector<recsys::ScoredSlot> approximate = c.nearest(clustered(3, dim, 40), 20, {});
    size_t found = 0;
    for (const auto& e : exact)
        for (const auto& a : approximate) found += e.slot == a.slot;
    EXPECT_GE(found, 16u);  // recall@20 >= 0.8
    // An item moved next to the query after indexing is found; one made unavailable is not.
    c.upsert(record("moved", {}, clustered(3, dim, 40)));
    c.upsert(record(c.item_id(approximate[0].slot), {}, clustered(3, dim, 40), false));
    std::vector<recsys::ScoredSlot> after = c.nearest(clustered(3, dim, 40), 1, {});
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(c.item_id(after[0].slot), "moved");
    // Moved away again, it is searched by its new codes only (its list entry and codes move).
    c.upsert(record("moved", {}, clustered(n + 41, dim, 40)));  // a new vector in cluster 1
    for (const auto& a : c.nearest(clustered(3, dim, 40), 20, {}, false)) EXPECT_NE(c.item_id(a.slot), "moved");
    std::vector<recsys::ScoredSlot> near_one = c.nearest(clustered(n + 41, dim, 40), 1, {}, false);
    ASSERT_EQ(near_one.size(), 1u);
    EXPECT_EQ(c.item_id(near_one[0].slot), "moved");
    EXPECT_NEAR(near_one[0].score, 1.0, 0.02);  // the int8 codes' score of the item's own vector
    // Re-upserted with the same vector and other attributes changed, an item keeps its place.
    std::vector<recsys::ScoredSlot> before = c.nearest(clustered(7, dim, 40), 5, {}, false);
    c.upsert(record("item7", {"new-tag"}, clustered(7, dim, 40)));
    std::vector<recsys::ScoredSlot> after_same = c.nearest(clustered(7, dim, 40), 5, {}, false);
    ASSERT_EQ(after_same.size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) {
        EXPECT_EQ(after_same[i].slot, before[i].slot);
        EXPECT_EQ(after_same[i].score, before[i].score);
    }
    EXPECT_EQ(c.item_id(after_same[0].slot), "item7");
    EXPECT_EQ(c.tags(after_same[0].slot), (std::vector<std::string>{"new-tag"}));
    c.upsert(record("item7", {"new-tag"}, clustered(7, dim, 40), false));  // same vector, unavailable
    for (const auto& a : c.nearest(clustered(7, dim, 40), 5, {}, false)) EXPECT_NE(c.item_id(a.slot), "item7");
}

TEST(Catalog, FactorsScoreAvailableItemsOnly) {
    recsys::Catalog c(0);
    c.upsert(record("a", {}, {}));
    c.upsert(record("b", {}, {}));
    c.upsert(record("c", {}, {}, false));
    c.set_factors(2, {{"a", {1, 0}}, {"b", {0, 2}}, {"c", {5, 5}}, {"unknown", {9, 9}}});
    std::vector<recsys::ScoredSlot> top = c.top_by_factors({1, 1}, 5);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(c.item_id(top[0].slot), "b");
    EXPECT_DOUBLE_EQ(top[0].score, 2.0);
    EXPECT_DOUBLE_EQ(c.factor_score(c.find("a"), {1, 1}), 1.0);
    EXPECT_THROW(c.set_factors(2, {{"a", {1}}}), recsys::Error);
    // Items added after the factors have none.
    c.set_factors(2, {{"a", {1, 0}}});
    c.upsert(record("d", {}, {}));
    EXPECT_TRUE(std::isnan(c.factor_score(c.find("d"), {1, 1})));
}

TEST(Catalog, KmeansIsDeterministicAndChecksItsArguments) {
    std::vector<float> v = {1, 0, 0.9f, 0.1f, 0, 1, 0.1f, 0.9f};
    std::vector<float> first = recsys::spherical_kmeans(v, 4, 2, 2, 5, 3);
    EXPECT_EQ(first, recsys::spherical_kmeans(v, 4, 2, 2, 5, 3));
    EXPECT_EQ(first.size(), 4u);
    EXPECT_THROW(recsys::spherical_kmeans(v, 4, 2, 5, 5, 3), recsys::Error);
    // Lengths do not matter: every vector is scaled to unit length first.
    std::vector<float> scaled = v;
    for (float& x : scaled) x *= 3.0f;
    std::vector<float> again = recsys::spherical_kmeans(scaled, 4, 2, 2, 5, 3);
    for (size_t i = 0; i < first.size(); ++i) EXPECT_NEAR(again[i], first[i], 1e-6);
}

TEST(Catalog, CentroidIsTheUnitMean) {
    recsys::Catalog c(2);
    c.upsert(record("a", {}, {2, 0}));
    c.upsert(record("b", {}, {0, 3}));
    c.upsert(record("e", {}, {}));
    std::vector<float> mean = c.centroid({c.find("a"), c.find("b"), c.find("e")});
    ASSERT_EQ(mean.size(), 2u);
    EXPECT_NEAR(mean[0], std::sqrt(0.5), 1e-6);
    EXPECT_TRUE(c.centroid({c.find("e")}).empty());
}

TEST(Catalog, PopularityDecaysPerTypeAndWaitsForItsItem) {
    recsys::Catalog c(0);
    c.upsert(record("a", {}, {}));
    c.upsert(record("b", {}, {}));
    c.upsert(record("c", {}, {}, false));
    c.set_half_lives({{0, 1.0}, {1, 10.0}});
    c.set_popularity("a", 0, 3.0);    // 8 at day 0, 4 at day 1
    c.set_popularity("b", 1, 2.0);    // 4 at day 0, ~3.73 at day 1
    c.set_popularity("c", 0, 10.0);   // unavailable
    c.set_popularity("late", 1, 1.0); // not in the catalogue yet
    c.set_popularity("a", 7, 50.0);   // a type that does not count
    EXPECT_DOUBLE_EQ(c.popularity(c.find("a"), 0.0), 8.0);
    EXPECT_NEAR(c.popularity(c.find("b"), 1.0), 4.0 * std::exp2(-0.1), 1e-12);
    std::vector<recsys::ScoredSlot> day0 = c.top_popular(5, 0.0);
    ASSERT_EQ(day0.size(), 2u);
    EXPECT_EQ(c.item_id(day0[0].slot), "a");
    // Two days on, the slow-decaying type wins.
    std::vector<recsys::ScoredSlot> day2 = c.top_popular(1, 2.0);
    ASSERT_EQ(day2.size(), 1u);
    EXPECT_EQ(c.item_id(day2[0].slot), "b");
    c.upsert(record("late", {}, {}));
    EXPECT_DOUBLE_EQ(c.popularity(c.find("late"), 0.0), 2.0);
    EXPECT_FALSE(std::isnan(c.popularity(c.find("c"), 0.0)));
    c.set_popularity("a", 0, 0.0);    // replaced, not added
    EXPECT_DOUBLE_EQ(c.popularity(c.find("a"), 0.0), 1.0);
    recsys::Catalog empty(0);
    empty.upsert(record("x", {}, {}));
    EXPECT_TRUE(std::isnan(empty.popularity(0, 0.0)));
}

TEST(Catalog, MostPopularFollowsEveryChangeAfterAQuery) {
    // top_popular keeps the union of each type's best items between calls; every change that
    // can alter it must show in the next call.
    recsys::Catalog c(0);
    for (const char* id : {"a", "b", "c"}) c.upsert(record(id, {}, {}));
    c.set_half_lives({{0, 1.0}});
    c.set_popularity("a", 0, 3.0);
    c.set_popularity("b", 0, 2.0);
    c.set_popularity("c", 0, 1.0);
    auto first = [&](size_t n) {
        std::vector<std::string> out;
        for (const recsys::ScoredSlot& s : c.top_popular(n, 0.0)) out.push_back(c.item_id(s.slot));
        return out;
    };
    EXPECT_EQ(first(1), std::vector<std::string>{"a"});
    c.upsert(record("a", {}, {}, false));  // made unavailable
    EXPECT_EQ(first(1), std::vector<std::string>{"b"});
    c.set_popularity("c", 0, 5.0);  // overtakes
    EXPECT_EQ(first(1), std::vector<std::string>{"c"});
    EXPECT_EQ(first(3), (std::vector<std::string>{"c", "b"}));  // another n
    c.upsert(record("a", {}, {}));  // available again
    EXPECT_EQ(first(3), (std::vector<std::string>{"c", "a", "b"}));
    c.set_popularity("d", 1, 9.0);
    c.upsert(record("d", {}, {}));
    c.set_half_lives({{0, 1.0}, {1, 1.0}});  // a new type counts
    EXPECT_EQ(first(1), std::vector<std::string>{"d"});
}

TEST(Catalog, CoVisitedItemsAreAvailableCatalogueItems) {
    recsys::Catalog c(0);
    c.upsert(record("a", {}, {}));
    c.upsert(record("b", {}, {}, false));
    c.upsert(record("c", {}, {}));
    c.covisitation().add_pair("a", "b", 9);
    c.covisitation().add_pair("a", "c", 2);
    c.covisitation().add_pair("a", "ghost", 5);  // not (yet) in the catalogue
    c.covisitation().finish_load();
    auto found = c.top_covisited({"a"}, 10);
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(c.item_id(found[0].slot), "c");
    EXPECT_DOUBLE_EQ(found[0].score, 2.0);
    std::unordered_set<std::string> only_a{"a"};
    EXPECT_TRUE(c.top_covisited({"c"}, 10, &only_a).size() == 1);
    EXPECT_TRUE(c.top_covisited({"a"}, 10, &only_a).empty());
    // The ghost arrives, b becomes available and a new pair comes in: all show in the next call.
    c.upsert(record("ghost", {}, {}));
    c.upsert(record("b", {}, {}));
    c.covisitation().replace("d", {{"a", 1}});
    c.upsert(record("d", {}, {}));
    std::vector<std::string> now;
    for (const recsys::ScoredSlot& s : c.top_covisited({"a"}, 10)) now.push_back(c.item_id(s.slot));
    EXPECT_EQ(now, (std::vector<std::string>{"b", "ghost", "c", "d"}));
}

TEST(Catalog, CompiledTargetsMatchByIdTagBrandAndCategory) {
    recsys::Catalog c(0);
    c.upsert(record("a", {"eco", "red"}, {}, true, "acme", "shoes"));
    c.upsert(record("b", {"gift"}, {}, true, "zeta", "hats"));
    std::vector<recsys::ItemTarget> targets(5);
    targets[0].tags = {"red"};
    targets[1].brands = {"zeta", "nobody"};
    targets[2].categories = {"shoes"};
    targets[3].item_ids = {"b", "ghost"};
    targets[4].tags = {"unknown"};
    // Which of a, b, ghost, zz each target names.
    const std::vector<std::vector<bool>> expected = {
        {true, false, false, false}, {false, true, false, false}, {true, false, false, false},
        {false, true, true, false}, {false, false, false, false}};
    const char* items[] = {"a", "b", "ghost", "zz"};
    for (size_t t = 0; t < targets.size(); ++t) {
        recsys::CompiledTarget compiled = c.compile(targets[t]);
        for (size_t i = 0; i < 4; ++i) {
            EXPECT_EQ(c.matches(compiled, items[i], c.find(items[i])), expected[t][i]) << t << items[i];
            EXPECT_EQ(c.matches(targets[t], items[i]), expected[t][i]) << t << items[i];
        }
    }
    // Attributes follow an update of the item.
    c.upsert(record("a", {"gift"}, {}, true, "zeta", "hats"));
    EXPECT_TRUE(c.matches(c.compile(targets[1]), "a", c.find("a")));
    EXPECT_FALSE(c.matches(c.compile(targets[0]), "a", c.find("a")));
}

TEST(Catalog, TagProfileSumsPositiveWeightsOfKnownItemsHeaviestFirst) {
    recsys::Catalog c(0);
    c.upsert(record("a", {"jazz", "live"}, {}));
    c.upsert(record("b", {"jazz"}, {}, false));  // unavailable items still describe the user
    c.upsert(record("c", {"rock"}, {}));
    c.upsert(record("d", {"blues", "Soul"}, {}));
    using Profile = std::vector<std::pair<std::string, double>>;
    auto slots = [&c](const std::vector<std::string>& ids) {
        std::vector<int> out;
        for (const std::string& id : ids) out.push_back(c.find(id));
        return out;
    };
    // No negative "rock", nothing of the unknown item; ties by tag in byte order ("Soul" before
    // "blues" before "live").
    EXPECT_EQ(c.tag_profile(slots({"a", "b", "c", "d", "unknown"}), {1.0, 2.5, -1.0, 1.0, 4.0}, 10),
              (Profile{{"jazz", 3.5}, {"Soul", 1.0}, {"blues", 1.0}, {"live", 1.0}}));
    EXPECT_EQ(c.tag_profile(slots({"a", "b", "d"}), {1.0, 2.5, 1.0}, 2), (Profile{{"jazz", 3.5}, {"Soul", 1.0}}));
    EXPECT_TRUE(c.tag_profile(slots({"a"}), {1.0}, 0).empty());
    EXPECT_THROW(c.tag_profile(slots({"a"}), {}, 10), recsys::Error);
}

TEST(Catalog, TopByFactorsFindsNearlyTheExactHeadScoredExactly) {
    // The scan chooses with int8 codes: the chosen set is nearly the exact top n, and the
    // returned scores are exact, best first, ties by item_id.
    recsys::Catalog c(0);
    recsys::CounterRng rng(11, 0, 0);
    std::vector<std::pair<std::string, std::vector<float>>> factors;
    for (int i = 0; i < 2000; ++i) {
        std::string id = "item_" + std::to_string((i * 7919) % 10000);
        c.upsert(record(id, {}, {}, i % 9 != 0));
        std::vector<float> f(16);
        for (float& x : f) x = static_cast<float>(rng.uniform() - 0.3);
        factors.push_back({id, f});
    }
    factors.push_back({"twin_b", factors[1].second});  // equal scores: by item_id
    factors.push_back({"twin_a", factors[1].second});
    c.upsert(record("twin_a", {}, {}));
    c.upsert(record("twin_b", {}, {}));
    c.set_factors(16, factors);
    std::vector<float> user(16);
    for (float& x : user) x = static_cast<float>(rng.uniform());
    std::vector<std::pair<double, std::string>> all;
    for (const auto& f : factors)
        if (c.available(c.find(f.first))) all.push_back({-c.factor_score(c.find(f.first), user), f.first});
    std::sort(all.begin(), all.end());
    for (size_t n : {20u, 200u}) {
        std::vector<recsys::ScoredSlot> top = c.top_by_factors(user, n);
        ASSERT_EQ(top.size(), n);
        std::set<std::string> exact;
        for (size_t r = 0; r < n; ++r) exact.insert(all[r].second);
        size_t found = 0;
        for (size_t r = 0; r < top.size(); ++r) {
            found += exact.count(c.item_id(top[r].slot));
            EXPECT_DOUBLE_EQ(top[r].score, c.factor_score(top[r].slot, user));
            if (r > 0)
                EXPECT_TRUE(top[r - 1].score > top[r].score ||
                            (top[r - 1].score == top[r].score && c.item_id(top[r - 1].slot) < c.item_id(top[r].slot)));
        }
        EXPECT_GE(found, n * 9 / 10) << "n " << n;  // recall >= 0.9
        // Without exact scores: the same items, with scores within the codes' rounding.
        std::vector<recsys::ScoredSlot> approximate = c.top_by_factors(user, n, false);
        std::set<int> exact_slots, approximate_slots;
        for (const auto& t : top) exact_slots.insert(t.slot);
        for (const auto& t : approximate) {
            approximate_slots.insert(t.slot);
            EXPECT_NEAR(t.score, c.factor_score(t.slot, user), 0.05);
        }
        EXPECT_EQ(approximate_slots, exact_slots) << "n " << n;
    }
    std::vector<recsys::ScoredSlot> head = c.top_by_factors(user, all.size());
    auto a = std::find_if(head.begin(), head.end(), [&](const recsys::ScoredSlot& s) { return c.item_id(s.slot) == "twin_a"; });
    auto b = std::find_if(head.begin(), head.end(), [&](const recsys::ScoredSlot& s) { return c.item_id(s.slot) == "twin_b"; });
    ASSERT_TRUE(a != head.end() && b != head.end());
    EXPECT_LT(a - head.begin(), b - head.begin());
}

TEST(Catalog, IvfCodeScanChoosesNearlyTheExactNeighboursWithExactScores) {
    // Probing every list, the int8-code scan differs from the exact search only where codes
    // blur near-equal cosines; the scores it returns are the exact cosines, best first.
    const size_t dim = 64, n = 3000;
    recsys::Catalog c(dim);
    recsys::CounterRng rng(5, 0, 0);
    std::vector<float> all;
    for (size_t i = 0; i < n; ++i) {
        std::vector<float> v(dim);
        double norm = 0;
        for (float& x : v) {
            x = static_cast<float>(rng.uniform() - 0.5);
            norm += x * x;
        }
        c.upsert(record("item" + std::to_string(i), {}, v));
        for (float x : v) all.push_back(static_cast<float>(x / std::sqrt(norm)));
    }
    std::vector<float> query(all.begin() + 7 * dim, all.begin() + 8 * dim);
    std::vector<recsys::ScoredSlot> exact = c.nearest(query, 50, {});
    c.set_index(recsys::spherical_kmeans(all, n, dim, 16, 8, 1), 16);
    std::vector<recsys::ScoredSlot> coded = c.nearest(query, 50, {});
    ASSERT_EQ(coded.size(), 50u);
    size_t found = 0;
    for (const auto& e : exact)
        for (const auto& a : coded) found += e.slot == a.slot;
    EXPECT_GE(found, 47u);  // recall@50 >= 0.94
    EXPECT_EQ(coded[0].slot, c.find("item7"));
    for (size_t r = 0; r < coded.size(); ++r) {
        double cosine = 0;
        for (size_t d = 0; d < dim; ++d) cosine += all[static_cast<size_t>(coded[r].slot) * dim + d] * query[d];
        EXPECT_NEAR(coded[r].score, cosine, 1e-5);
        if (r > 0) EXPECT_GE(coded[r - 1].score, coded[r].score);
    }
    // Without exact scores: the same items, best first by the codes' approximate cosines.
    std::vector<recsys::ScoredSlot> approximate = c.nearest(query, 50, {}, false);
    std::set<int> coded_slots, approximate_slots;
    for (const auto& a : coded) coded_slots.insert(a.slot);
    for (size_t r = 0; r < approximate.size(); ++r) {
        approximate_slots.insert(approximate[r].slot);
        EXPECT_NEAR(approximate[r].score, c.cosine(approximate[r].slot, query), 0.02);
        if (r > 0) EXPECT_GE(approximate[r - 1].score, approximate[r].score);
    }
    EXPECT_EQ(approximate_slots, coded_slots);
}

TEST(Catalog, TopByFactorsStopsEarlyWithTheFullScansResult) {
    // The scan visits items by the length of their factors and stops when no later item can
    // reach the n-th best score: the result must equal scoring every item by its codes.
    recsys::Catalog c(0);
    recsys::CounterRng rng(23, 0, 0);
    std::vector<std::pair<std::string, std::vector<float>>> factors;
    for (int i = 0; i < 3000; ++i) {
        std::string id = "item_" + std::to_string((i * 7919) % 3000);
        c.upsert(record(id, {}, {}, i % 7 != 0));
        double length = 0.1 + 3.0 * rng.uniform() * rng.uniform();  // many short vectors, few long
        std::vector<float> f(32);
        for (float& x : f) x = static_cast<float>((rng.uniform() - 0.4) * length);
        if (i == 5) std::fill(f.begin(), f.end(), 0.0f);  // zero factors score nothing
        factors.push_back({id, f});
    }
    c.set_factors(32, factors);
    for (int trial = 0; trial < 4; ++trial) {
        std::vector<float> user(32);
        // Trial 3 points away from most items: negative n-th best scores, nothing to stop early.
        for (float& x : user) x = static_cast<float>(trial == 3 ? -rng.uniform() : rng.uniform() - 0.2);
        recsys::QueryCodes query(user.data(), user.size());
        std::vector<std::pair<double, std::string>> reference;
        for (const auto& f : factors) {
            int slot = c.find(f.first);
            std::vector<int8_t> codes(32);
            float scale = recsys::encode(f.second.data(), 32, codes.data());
            if (c.available(slot) && scale > 0.0f) reference.push_back({-query.dot(codes.data(), scale), f.first});
        }
        std::sort(reference.begin(), reference.end());
        for (size_t n : {1u, 20u, 200u, 5000u}) {
            std::vector<recsys::ScoredSlot> top = c.top_by_factors(user, n, false);
            ASSERT_EQ(top.size(), std::min(n, reference.size())) << "trial " << trial << " n " << n;
            for (size_t r = 0; r < top.size(); ++r) {
                EXPECT_EQ(c.item_id(top[r].slot), reference[r].second) << "trial " << trial << " n " << n << " rank " << r;
                EXPECT_FLOAT_EQ(static_cast<float>(top[r].score), static_cast<float>(-reference[r].first));
            }
        }
    }
}

TEST(Catalog, ProfileWeightByTokenEqualsTheSumOverTagStrings) {
    // Brands and categories named like a profile tag must not count; items with more tokens
    // than fit inline, repeated tags and tags no item has are covered.
    recsys::Catalog c(0);
    std::vector<std::string> names = {"jazz", "rock", "live", "folk", "pop", "soul", "blues", "punk", "metal"};
    for (int i = 0; i < 200; ++i) {
        std::vector<std::string> tags;
        for (size_t t = 0; t < names.size(); ++t)
            if ((i * 7 + static_cast<int>(t) * 3) % 5 < 2) tags.push_back(names[t]);
        if (i % 11 == 0) tags.push_back("jazz");  // repeated
        if (i == 199) tags = names;               // 11 tokens: more than fit inline
        c.upsert(record("item_" + std::to_string(i), tags, {}, true, i % 4 == 0 ? "jazz" : "acme", i % 6 == 0 ? "rock" : "misc"));
    }
    std::map<std::string, double> profile = {{"jazz", 2.5}, {"live", 1.0}, {"metal", 0.25}, {"nowhere", 9.0}};
    auto tokens = c.profile_tokens({profile.begin(), profile.end()});
    EXPECT_EQ(tokens.size(), 3u);  // "nowhere" is no item's tag
    for (int i = 0; i < 200; ++i) {
        int slot = c.find("item_" + std::to_string(i));
        recsys::PipelineItem item;
        c.fill(slot, item);
        double by_strings = 0.0;
        for (const std::string& t : item.candidate.tag_list()) {
            auto found = profile.find(t);
            if (found != profile.end()) by_strings += found->second;
        }
        EXPECT_DOUBLE_EQ(c.profile_weight(slot, tokens), by_strings) << "item_" << i;
    }
    EXPECT_EQ(c.profile_weight(c.find("item_1"), recsys::IntMap<double>()), 0.0);
}
