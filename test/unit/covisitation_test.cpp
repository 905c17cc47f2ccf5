// Unit tests of the in-memory co-visitation lists: loading, replacing an item's pairs, and the
// summed top neighbours with their tie order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/covisitation.hpp"
#include "core/error.hpp"

namespace {

const auto keep_all = [](const std::string&) { return true; };

std::vector<std::string> ids(const std::vector<recsys::CoVisited>& found) {
    std::vector<std::string> out;
    for (const auto& f : found) out.push_back(f.item_id);
    return out;
}

// q pairs 4 times with the hub h (which pairs 96 more times, with z) and twice with the niche x.
recsys::CoVisitation hub_and_niche() {
    recsys::CoVisitation c;
    c.add_pair("q", "h", 4);
    c.add_pair("h", "z", 96);
    c.add_pair("q", "x", 2);
    c.finish_load();
    return c;
}

recsys::CoVisitation loaded() {
    recsys::CoVisitation c;
    c.add_pair("a", "b", 5);
    c.add_pair("a", "c", 2);
    c.add_pair("b", "c", 3);
    c.add_pair("c", "d", 7);
    c.finish_load();
    return c;
}

}  // namespace

TEST(CoVisitation, PairsAreSymmetric) {
    recsys::CoVisitation c = loaded();
    EXPECT_EQ(c.pairs("a", "b"), 5);
    EXPECT_EQ(c.pairs("b", "a"), 5);
    EXPECT_EQ(c.pairs("a", "d"), 0);
    EXPECT_EQ(c.pairs("a", "zz"), 0);
    EXPECT_EQ(c.size(), 4u);
}

TEST(CoVisitation, TopNeighboursSumOverItems) {
    recsys::CoVisitation c = loaded();
    auto found = c.top_neighbours({"a", "b"}, 10, keep_all);
    // c: 2 + 3, a: 5 (with b), b: 5 (with a), d: none; ties by id.
    ASSERT_EQ(ids(found), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_DOUBLE_EQ(found[2].pairs, 5.0);
    EXPECT_EQ(ids(c.top_neighbours({"b"}, 10, keep_all)), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(ids(c.top_neighbours({"c"}, 10, keep_all)), (std::vector<std::string>{"d", "b", "a"}));
    EXPECT_EQ(ids(c.top_neighbours({"c"}, 2, keep_all)), (std::vector<std::string>{"d", "b"}));
    EXPECT_TRUE(c.top_neighbours({"unknown"}, 10, keep_all).empty());
    // A second call starts from zero sums.
    EXPECT_DOUBLE_EQ(c.top_neighbours({"a", "b"}, 10, keep_all)[2].pairs, 5.0);
}

TEST(CoVisitation, TiesGoToTheLowerIdAndKeepFilters) {
    recsys::CoVisitation c;
    for (const char* id : {"x3", "x1", "x2"}) c.add_pair("q", id, 4);
    c.finish_load();
    EXPECT_EQ(ids(c.top_neighbours({"q"}, 10, keep_all)), (std::vector<std::string>{"x1", "x2", "x3"}));
    auto not_x1 = [](const std::string& id) { return id != "x1"; };
    EXPECT_EQ(ids(c.top_neighbours({"q"}, 1, not_x1)), (std::vector<std::string>{"x2"}));
}

TEST(CoVisitation, ReplaceUpdatesBothDirections) {
    recsys::CoVisitation c = loaded();
    // a now pairs with b 6 times and with d once; its pair with c is gone.
    c.replace("a", {{"b", 6}, {"d", 1}, {"e", 0}});
    EXPECT_EQ(c.pairs("b", "a"), 6);
    EXPECT_EQ(c.pairs("d", "a"), 1);
    EXPECT_EQ(c.pairs("c", "a"), 0);
    EXPECT_EQ(c.pairs("a", "e"), 0);
    EXPECT_EQ(c.size(), 4u);  // a-b, a-d, b-c, c-d
    EXPECT_EQ(ids(c.top_neighbours({"c"}, 10, keep_all)), (std::vector<std::string>{"d", "b"}));
    // A new item and an emptied one.
    c.replace("n", {{"a", 9}});
    c.replace("d", {});
    EXPECT_EQ(ids(c.top_neighbours({"a"}, 10, keep_all)), (std::vector<std::string>{"n", "b"}));
    EXPECT_EQ(c.pairs("c", "d"), 0);
    EXPECT_EQ(c.size(), 3u);
}

TEST(CoVisitation, RejectsSelfPairs) {
    recsys::CoVisitation c;
    EXPECT_THROW(c.add_pair("a", "a", 1), recsys::Error);
    EXPECT_THROW(c.replace("a", {{"a", 1}}), recsys::Error);
}

TEST(CoVisitation, KeepRejectionsReachDeepIntoTheList) {
    recsys::CoVisitation c;
    for (int i = 0; i < 300; ++i) c.add_pair("q", "n" + std::to_string(1000 + i), 1 + i % 7);
    c.finish_load();
    // Only ids ending in 9 pass: the results come from several ordered blocks.
    auto ends_in_9 = [](const std::string& id) { return id.back() == '9'; };
    auto found = c.top_neighbours({"q"}, 20, ends_in_9);
    ASSERT_EQ(found.size(), 20u);
    for (size_t i = 1; i < found.size(); ++i) {
        EXPECT_TRUE(found[i - 1].pairs > found[i].pairs ||
                    (found[i - 1].pairs == found[i].pairs && found[i - 1].item_id < found[i].item_id));
    }
    EXPECT_EQ(c.top_neighbours({"q"}, 1000, ends_in_9).size(), 30u);
}

TEST(CoVisitation, CountPairsWithinTheWindowOncePerEventPair) {
    // User 0: items 2, 1, 2 at 0, 10, 25 s; user 1: items 1, 2 at 0 and 100 s (beyond the window).
    const int64_t s = 1000000;
    std::vector<recsys::VisitEvent> events = {{0, 2, 0}, {0, 1, 10 * s}, {0, 2, 25 * s}, {1, 1, 0}, {1, 2, 100 * s}};
    auto counts = recsys::count_pairs(events, 30 * s);
    // (1, 2): 2-at-0 with 1-at-10 and 1-at-10 with 2-at-25; the two events on item 2 are no pair.
    ASSERT_EQ(counts.size(), 1u);
    EXPECT_EQ(counts[0].a, 1);
    EXPECT_EQ(counts[0].b, 2);
    EXPECT_EQ(counts[0].pairs, 2);
    // The window bound is inclusive; a shorter window keeps only the closer pair.
    EXPECT_EQ(recsys::count_pairs(events, 15 * s)[0].pairs, 2);
    EXPECT_EQ(recsys::count_pairs(events, 10 * s)[0].pairs, 1);
    EXPECT_TRUE(recsys::count_pairs(events, 9 * s).empty());
    EXPECT_EQ(recsys::count_pairs(events, 100 * s)[0].pairs, 3);
}

TEST(CoVisitation, CountPairsRejectsUnsortedEvents) {
    EXPECT_THROW(recsys::count_pairs({{0, 1, 5}, {0, 2, 4}}, 10), recsys::Error);
    EXPECT_THROW(recsys::count_pairs({{1, 1, 5}, {0, 2, 6}}, 10), recsys::Error);
}

TEST(CoVisitation, PenaltyDividesByTheNeighboursTotalPairs) {
    recsys::CoVisitation c = hub_and_niche();
    EXPECT_DOUBLE_EQ(c.total("h"), 100.0);
    EXPECT_EQ(ids(c.top_neighbours({"q"}, 2, keep_all)), (std::vector<std::string>{"h", "x"}));
    auto penalised = c.top_neighbours({"q"}, 2, keep_all, 0.5);  // h: 4 / 10, x: 2 / sqrt(2)
    EXPECT_EQ(ids(penalised), (std::vector<std::string>{"x", "h"}));
    EXPECT_NEAR(penalised[1].pairs, 0.4, 1e-12);
    // Totals follow replaced lists.
    c.replace("z", {});
    EXPECT_DOUBLE_EQ(c.total("h"), 4.0);
    EXPECT_DOUBLE_EQ(c.total("z"), 0.0);
    EXPECT_THROW(c.top_neighbours({"q"}, 2, keep_all, 1.5), recsys::Error);
}

TEST(CoVisitation, PenalisedScoresFollowChangedTotals) {
    // The penalised totals are kept between calls: every change to a total, and a change of
    // penalty, must show in the next scores.
    recsys::CoVisitation c = hub_and_niche();
    EXPECT_NEAR(c.top_neighbours({"q"}, 2, keep_all, 0.5)[1].pairs, 4 / std::sqrt(100.0), 1e-12);
    EXPECT_NEAR(c.top_neighbours({"q"}, 2, keep_all, 1.0)[1].pairs, 4 / 100.0, 1e-12);
    c.replace("z", {{"h", 12}});  // h's total: 4 + 12
    auto after_replace = c.top_neighbours({"q"}, 2, keep_all, 0.5);
    EXPECT_EQ(ids(after_replace), (std::vector<std::string>{"x", "h"}));
    EXPECT_NEAR(after_replace[1].pairs, 4 / std::sqrt(16.0), 1e-12);
    c.add_pair("h", "w", 84);  // h's total: 100 again
    EXPECT_NEAR(c.top_neighbours({"q"}, 2, keep_all, 0.5)[1].pairs, 4 / std::sqrt(100.0), 1e-12);
    EXPECT_NEAR(c.top_neighbours({"q"}, 2, keep_all, 0.0)[0].pairs, 4.0, 1e-12);
}

TEST(CoVisitation, LoadCountsEqualsPairByPairLoading) {
    std::vector<std::string> items = {"a", "b", "c", "d"};
    std::vector<recsys::PairCount> counts = {{0, 1, 5}, {0, 2, 2}, {1, 2, 3}, {2, 3, 7}};
    recsys::CoVisitation bulk;
    bulk.load_counts(items, counts);
    recsys::CoVisitation c = loaded();
    for (const char* x : {"a", "b", "c", "d"})
        for (const char* y : {"a", "b", "c", "d"}) EXPECT_EQ(bulk.pairs(x, y), c.pairs(x, y)) << x << y;
    EXPECT_EQ(ids(bulk.top_neighbours({"c"}, 10, keep_all)), ids(c.top_neighbours({"c"}, 10, keep_all)));
    EXPECT_DOUBLE_EQ(bulk.total("c"), 12.0);
    EXPECT_THROW(bulk.load_counts(items, counts), recsys::Error);
    recsys::CoVisitation bad;
    EXPECT_THROW(bad.load_counts(items, {{0, 4, 1}}), recsys::Error);
}

TEST(CoVisitation, TopNeighboursEqualAFullSortWithManyTies) {
    // Sums tie often (small counts, ids inserted out of order, ids sharing their first 16 bytes):
    // every n and filter must give exactly the head of the fully sorted list, whether the scores
    // are chosen by counting (small whole numbers), by comparison (counts of 1,000 and more) or
    // are penalised (fractions).
    for (int scale : {1, 1000})
        for (double penalty : {0.0, 0.5}) {
            recsys::CoVisitation c;
            std::vector<std::pair<std::string, double>> expected;
            for (int i = 0; i < 2000; ++i) {
                std::string id = (i % 3 == 0 ? "a-long-shared-prefix-" : "n") + std::to_string((i * 7919) % 2000);
                int pairs = (1 + (i * 31) % 4) * scale;
                c.add_pair("q", id, pairs);
                expected.emplace_back(id, pairs / std::pow(static_cast<double>(pairs), penalty));
            }
            c.finish_load();
            std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
                return a.second != b.second ? a.second > b.second : a.first < b.first;
            });
            auto odd = [](const std::string& id) { return (id.back() - '0') % 2 == 1; };
            for (size_t n : {1u, 7u, 100u, 499u, 500u, 501u, 1999u, 5000u})
                for (bool filtered : {false, true}) {
                    std::vector<std::string> want;
                    for (const auto& e : expected)
                        if (want.size() < n && (!filtered || odd(e.first))) want.push_back(e.first);
                    auto found = filtered ? c.top_neighbours({"q"}, n, odd, penalty)
                                          : c.top_neighbours({"q"}, n, keep_all, penalty);
                    EXPECT_EQ(ids(found), want) << "n " << n << (filtered ? " filtered" : "") << " scale " << scale
                                                << " penalty " << penalty;
                }
        }
}
