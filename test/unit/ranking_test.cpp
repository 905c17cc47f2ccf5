// Unit tests of normalisation, blending, similarity and MMR.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "core/ranking.hpp"

namespace {

recsys::Candidate item(const std::string& id, double relevance, const std::string& brand = "",
                       const std::string& category = "", std::vector<float> embedding = {}) {
    recsys::Candidate c;
    c.item_id = id;
    c.relevance = relevance;
    c.brand = brand;
    c.category = category;
    c.embedding = std::move(embedding);
    return c;
}

std::vector<std::string> ids(const std::vector<recsys::Candidate>& cs, const std::vector<recsys::MmrPick>& picks) {
    std::vector<std::string> out;
    for (const auto& p : picks) out.push_back(cs[p.index].item_id);
    return out;
}

// MMR by its definition: every round scores every remaining candidate within the caps.
std::vector<recsys::MmrPick> full_scan_mmr(const std::vector<recsys::Candidate>& cs, const recsys::MmrOptions& o) {
    std::vector<double> max_similarity(cs.size(), 0.0);
    std::vector<bool> taken(cs.size(), false);
    std::map<std::string, size_t> brands, categories;
    std::vector<recsys::MmrPick> picks;
    while (picks.size() < o.k) {
        size_t best = cs.size();
        double best_score = 0.0;
        for (size_t i = 0; i < cs.size(); ++i) {
            if (taken[i] || (o.brand_cap && brands[cs[i].brand] >= o.brand_cap) ||
                (o.category_cap && categories[cs[i].category] >= o.category_cap))
                continue;
            double score = o.lambda * cs[i].relevance - (1.0 - o.lambda) * max_similarity[i];
            if (best == cs.size() || score > best_score || (score == best_score && cs[i].item_id < cs[best].item_id)) {
                best = i;
                best_score = score;
            }
        }
        if (best == cs.size()) break;
        taken[best] = true;
        picks.push_back({best, max_similarity[best], best_score});
        ++brands[cs[best].brand];
        ++categories[cs[best].category];
        for (size_t i = 0; i < cs.size(); ++i)
            if (!taken[i]) max_similarity[i] = std::max(max_similarity[i], recsys::similarity(cs[best], cs[i]));
    }
    return picks;
}

}  // namespace

TEST(Ranking, NormalizeMapsToUnitInterval) {
    auto n = recsys::normalize({2.0, 4.0, NAN, 3.0});
    EXPECT_DOUBLE_EQ(n[0], 0.0);
    EXPECT_DOUBLE_EQ(n[1], 1.0);
    EXPECT_DOUBLE_EQ(n[2], 0.0);
    EXPECT_DOUBLE_EQ(n[3], 0.5);
    EXPECT_EQ(recsys::normalize({5.0, 5.0}), (std::vector<double>{1.0, 1.0}));
    EXPECT_EQ(recsys::normalize({0.0, 0.0}), (std::vector<double>{0.0, 0.0}));
    EXPECT_THROW(recsys::normalize({1.0, INFINITY}), recsys::Error);
}

TEST(Ranking, BlendWeighsNormalisedSignals) {
    // rows: a, b; columns: popularity, co_visitation
    std::vector<double> normalized;
    auto scores = recsys::blend({10.0, NAN, 20.0, 3.0}, 2, {0.5, 2.0}, &normalized);
    EXPECT_DOUBLE_EQ(scores[0], 0.0);        // popularity 0 after scaling, co-visitation missing
    EXPECT_DOUBLE_EQ(scores[1], 0.5 + 2.0);  // both at the top
    EXPECT_EQ(normalized, (std::vector<double>{0.0, 0.0, 1.0, 1.0}));
    EXPECT_THROW(recsys::blend({1.0, 2.0, 3.0}, 2, {1.0, 1.0}, &normalized), recsys::Error);
}

TEST(Ranking, SimilarityUsesEmbeddingsElseJaccard) {
    auto a = item("a", 1, "", "", {1, 0});
    auto b = item("b", 1, "", "", {1, 0});
    auto c = item("c", 1, "", "", {-1, 0});
    EXPECT_NEAR(recsys::similarity(a, b), 1.0, 1e-9);
    EXPECT_NEAR(recsys::similarity(a, c), 0.0, 1e-9);
    auto x = item("x", 1, "acme", "shoes");
    auto y = item("y", 1, "acme", "hats");
    x.tags = {"red"};
    y.tags = {"red", "wool"};
    // {red, brand:acme, category:shoes} vs {red, wool, brand:acme, category:hats}: 2 shared of 5
    EXPECT_NEAR(recsys::similarity(x, y), 2.0 / 5.0, 1e-12);
}

TEST(Ranking, LambdaOneIsPureRelevanceWithIdTieBreak) {
    std::vector<recsys::Candidate> cs = {item("b", 0.5), item("a", 0.5), item("c", 0.9)};
    recsys::MmrOptions o;
    o.lambda = 1.0;
    o.k = 3;
    EXPECT_EQ(ids(cs, recsys::mmr_select(cs, o)), (std::vector<std::string>{"c", "a", "b"}));
}

TEST(Ranking, LowerLambdaPicksTheDissimilarItem) {
    std::vector<recsys::Candidate> cs = {item("a", 1.0, "", "", {1, 0}), item("b", 0.95, "", "", {1, 0.01f}),
                                         item("c", 0.6, "", "", {0, 1})};
    recsys::MmrOptions o;
    o.k = 2;
    o.lambda = 0.9;
    EXPECT_EQ(ids(cs, recsys::mmr_select(cs, o)), (std::vector<std::string>{"a", "b"}));
    o.lambda = 0.5;
    auto picks = recsys::mmr_select(cs, o);
    EXPECT_EQ(ids(cs, picks), (std::vector<std::string>{"a", "c"}));
    EXPECT_NEAR(picks[1].max_similarity, 0.0, 1e-9);
}

TEST(Ranking, CapsAreHard) {
    std::vector<recsys::Candidate> cs = {item("a", 1.0, "acme", "shoes"), item("b", 0.9, "acme", "shoes"),
                                         item("c", 0.8, "acme", "hats"), item("d", 0.1, "zed", "shoes")};
    recsys::MmrOptions o;
    o.lambda = 1.0;
    o.k = 4;
    o.brand_cap = 2;
    o.category_cap = 2;
    // a, b use up acme; c is acme (capped); d is shoes (capped): only two fit.
    EXPECT_EQ(ids(cs, recsys::mmr_select(cs, o)), (std::vector<std::string>{"a", "b"}));
    o.brand_cap = 0;
    EXPECT_EQ(ids(cs, recsys::mmr_select(cs, o)), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Ranking, RejectsLambdaOutOfRange) {
    recsys::MmrOptions o;
    o.lambda = 1.5;
    EXPECT_THROW(recsys::mmr_select({}, o), recsys::Error);
}

TEST(Ranking, SplitJoinedDropsEmptyParts) {
    EXPECT_EQ(recsys::split_joined("red\x1f\x1fwool\x1f", '\x1f'), (std::vector<std::string>{"red", "wool"}));
    EXPECT_TRUE(recsys::split_joined("", '\x1f').empty());
}

TEST(Ranking, MmrEqualsTheFullScanOnRandomLists) {
    for (uint64_t seed = 1; seed <= 80; ++seed) {
        recsys::CounterRng rng(seed, 0, 0);
        std::vector<recsys::Candidate> cs;
        bool embeddings = seed % 2 == 0;
        // Half of the embedded lists lie in a few tight clusters: most candidates are then like
        // some pick, and the picks reach far down the relevance order.
        bool clustered = seed % 4 == 2;
        std::vector<std::vector<float>> centres(3);
        for (auto& centre : centres)
            for (int d = 0; d < 8; ++d) centre.push_back(static_cast<float>(rng.gaussian()));
        for (int i = 0; i < 300; ++i) {
            std::vector<float> e;
            if (embeddings)
                for (int d = 0; d < 8; ++d)
                    e.push_back(static_cast<float>(clustered ? centres[static_cast<size_t>(i % 3)][static_cast<size_t>(d)] +
                                                                   0.2 * rng.gaussian()
                                                             : rng.gaussian()));
            // Coarse relevance, so that ties (broken by item_id) occur.
            recsys::Candidate c = item("i" + std::to_string(rng.below(1000)) + "_" + std::to_string(i),
                                       static_cast<double>(rng.below(20)) / 19.0, "b" + std::to_string(rng.below(6)),
                                       "c" + std::to_string(rng.below(4)), e);
            c.tags = {"t" + std::to_string(rng.below(5)), "t" + std::to_string(rng.below(5))};
            cs.push_back(c);
        }
        recsys::MmrOptions o;
        o.k = 25;
        o.lambda = static_cast<double>(seed % 5) / 4.0;  // 0, 0.25, ..., 1
        o.brand_cap = seed % 3 == 0 ? 5 : 0;
        o.category_cap = seed % 4 == 0 ? 7 : 0;
        auto fast = recsys::mmr_select(cs, o);
        auto reference = full_scan_mmr(cs, o);
        ASSERT_EQ(ids(cs, fast), ids(cs, reference)) << "seed " << seed;
        for (size_t p = 0; p < fast.size(); ++p) {
            EXPECT_NEAR(fast[p].max_similarity, reference[p].max_similarity, 1e-6) << "seed " << seed;
            EXPECT_NEAR(fast[p].mmr_score, reference[p].mmr_score, 1e-6) << "seed " << seed;
        }
    }
}
