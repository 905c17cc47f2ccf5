// Unit tests of the ranking pipeline: filters and funnel, blend, boost, caps, reasons, ties.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/pipeline.hpp"

namespace {

recsys::PipelineItem item(const std::string& id, double popularity, std::vector<std::string> tags = {}) {
    recsys::PipelineItem p;
    p.candidate.item_id = id;
    p.candidate.tags = std::move(tags);
    p.popularity = popularity;
    p.sources = recsys::source_popularity;
    return p;
}

std::vector<std::string> ids(const std::vector<recsys::PipelineItem>& items, const std::vector<recsys::RankedItem>& ranked) {
    std::vector<std::string> out;
    for (const auto& r : ranked) out.push_back(items[r.index].candidate.item_id);
    return out;
}

recsys::PipelineOptions relevance_only() {
    recsys::PipelineOptions o;
    o.mmr.lambda = 1.0;
    return o;
}

}  // namespace

TEST(Pipeline, FiltersAreCountedAndNeverLeak) {
    std::vector<recsys::PipelineItem> items = {item("a", 9), item("b", 8), item("c", 7), item("d", 6, {"red"}),
                                               item("e", 5, {"red"}), item("f", 4, {"red"})};
    items[0].available = false;
    items[1].excluded = true;
    items[2].seen = true;
    items[3].purchased_recently = true;
    items[4].price = 50;
    items[5].price = 5;
    auto o = relevance_only();
    o.exclude_seen = true;
    o.include_tags_any = {"red"};
    o.price_max = 10;
    recsys::Funnel f;
    auto ranked = recsys::run_pipeline(items, o, &f);
    EXPECT_EQ(ids(items, ranked), (std::vector<std::string>{"f"}));
    EXPECT_EQ(f.candidates, 6u);
    EXPECT_EQ(f.unavailable, 1u);
    EXPECT_EQ(f.excluded, 1u);
    EXPECT_EQ(f.seen, 1u);
    EXPECT_EQ(f.purchased, 1u);
    EXPECT_EQ(f.price, 1u);
    EXPECT_EQ(f.tags, 0u);
    EXPECT_EQ(f.eligible, 1u);
    EXPECT_EQ(f.returned, 1u);
    // Each dropped candidate is named with the first stage that removed it, in input order.
    std::vector<std::string> dropped;
    for (const auto& d : f.dropped) dropped.push_back(items[d.first].candidate.item_id + ":" + d.second);
    EXPECT_EQ(dropped, (std::vector<std::string>{"a:unavailable", "b:excluded", "c:seen", "d:purchased", "e:price"}));
}

TEST(Pipeline, BlendWeightsDecideTheOrder) {
    std::vector<recsys::PipelineItem> items = {item("a", 10), item("b", 1)};
    items[1].covisitation = 5;
    items[0].covisitation = 0;
    auto o = relevance_only();
    o.alpha = 1;
    o.beta = 0;
    recsys::Funnel f;
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"a", "b"}));
    o.alpha = 0.2;
    o.beta = 1;
    auto ranked = recsys::run_pipeline(items, o, &f);
    EXPECT_EQ(ids(items, ranked), (std::vector<std::string>{"b", "a"}));
    EXPECT_EQ(ranked[0].reasons, (std::vector<std::string>{"co_visitation"}));
    EXPECT_EQ(ranked[1].reasons, (std::vector<std::string>{"recent_popularity"}));
}

TEST(Pipeline, PersonalisationIsGentleAndAttenuated) {
    std::vector<recsys::PipelineItem> items = {item("a", 10, {"x"}), item("b", 9.5, {"shoes"}), item("c", 0, {"shoes"})};
    auto o = relevance_only();
    o.tag_profile = {{"shoes", 3.0}};
    o.profile_boost = 0.15;
    o.user_history = 0;  // cold user: no boost
    recsys::Funnel f;
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"a", "b", "c"}));
    o.user_history = 20;  // full boost lifts b (0.95 * 1.15 > 1) but not c (score 0)
    auto ranked = recsys::run_pipeline(items, o, &f);
    EXPECT_EQ(ids(items, ranked), (std::vector<std::string>{"b", "a", "c"}));
    EXPECT_NEAR(ranked[0].boost, 0.15, 1e-12);
    EXPECT_EQ(ranked[0].reasons.back(), "personalization");
    o.user_history = 5;  // half the boost: 0.95 * 1.075 > 1 still
    EXPECT_NEAR(recsys::run_pipeline(items, o, &f)[0].boost, 0.075, 1e-12);
}

TEST(Pipeline, CapsAndDiversityReasons) {
    std::vector<recsys::PipelineItem> items = {item("a", 10), item("b", 9), item("c", 1)};
    items[0].candidate.brand = items[1].candidate.brand = "acme";
    items[2].candidate.brand = "zed";
    auto o = relevance_only();
    o.mmr.brand_cap = 1;
    recsys::Funnel f;
    auto ranked = recsys::run_pipeline(items, o, &f);
    EXPECT_EQ(ids(items, ranked), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(ranked[1].reasons.back(), "diversity");
}

TEST(Pipeline, TiesGoToTheSmallerItemId) {
    std::vector<recsys::PipelineItem> items = {item("m", 1), item("b", 1), item("x", 1)};
    auto o = relevance_only();
    recsys::Funnel f;
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"b", "m", "x"}));
}

TEST(Pipeline, RejectsNegativeWeights) {
    std::vector<recsys::PipelineItem> items = {item("a", 1)};
    auto o = relevance_only();
    o.beta = -1;
    recsys::Funnel f;
    EXPECT_THROW(recsys::run_pipeline(items, o, &f), recsys::Error);
}

TEST(Pipeline, BlockWinsPinsComeFirstBoostsMultiply) {
    std::vector<recsys::PipelineItem> items = {item("a", 10), item("b", 9), item("c", 8), item("d", 1), item("e", 7)};
    items[0].blocked = true;  // blocked and pinned: block wins
    items[0].pin = 0;
    items[3].pin = 1;         // a weak item pinned
    items[2].rule_factor = 3.0;  // boosted above b (0.5 * 3 > 1)
    items[4].rule_factor = 0.1;  // demoted below everything
    auto o = relevance_only();
    o.k = 4;
    recsys::Funnel f;
    auto ranked = recsys::run_pipeline(items, o, &f);
    EXPECT_EQ(ids(items, ranked), (std::vector<std::string>{"d", "c", "b", "e"}));
    EXPECT_EQ(ranked[0].reasons, (std::vector<std::string>{"rule:pin"}));
    EXPECT_EQ(ranked[1].reasons.back(), "rule:boost");
    EXPECT_EQ(ranked[3].reasons.back(), "rule:demote");
    EXPECT_EQ(f.blocked, 1u);
    EXPECT_EQ(f.pinned, 1u);
    EXPECT_EQ(f.candidates, f.blocked + f.eligible + f.pinned);
}

TEST(Pipeline, PositiveBoostLiftsToTheFloorFirst) {
    // Popularity only: a scores 1, b 0 (min-max), fresh has no signal at all.
    std::vector<recsys::PipelineItem> items = {item("a", 10), item("b", 5), item("fresh", NAN)};
    items[2].rule_factor = 10.0;
    auto o = relevance_only();
    o.beta = 0;
    o.gamma = 0;
    o.boost_floor = 0.05;  // fresh: 0.05 * 10 = 0.5, between a and b
    recsys::Funnel f;
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"a", "fresh", "b"}));
    o.boost_floor = 0.2;  // fresh: 2.0, ahead of a
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"fresh", "a", "b"}));
    o.boost_floor = 0.0;  // no floor: nothing to multiply, fresh stays last
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"a", "b", "fresh"}));
}

TEST(Pipeline, NoveltyDemotesThePopular) {
    // a is the most popular; b has the best collaborative score but is less popular.
    std::vector<recsys::PipelineItem> items = {item("a", 100), item("b", 10), item("c", 0)};
    items[0].similarity = 0.6;
    items[1].similarity = 1.0;
    items[2].similarity = 0.0;
    auto o = relevance_only();
    o.alpha = 1;
    o.gamma = 1;
    recsys::Funnel f;
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"a", "b", "c"}));
    o.novelty = 0.5;  // a: (1 + 0.6) / 2 * 0.5 = 0.4; b: (0.1 + 1) / 2 * 0.95 = 0.52
    EXPECT_EQ(ids(items, recsys::run_pipeline(items, o, &f)), (std::vector<std::string>{"b", "a", "c"}));
    o.novelty = 1.5;
    EXPECT_THROW(recsys::run_pipeline(items, o, &f), recsys::Error);
}
