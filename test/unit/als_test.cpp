// Implicit ALS: the objective falls, held-out items of a user's taste score above the rest,
// training is deterministic for a seed, fold-in matches a trained row, and bad options and
// cancellation raise errors.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "core/als.hpp"
#include "core/error.hpp"

namespace {

// Two tastes: users 0..9 use items 0..9, users 10..19 use items 10..19; each user misses one
// item of its own block (u % 10), kept for the held-out check.
struct Blocks {
    std::vector<int64_t> ptr{0};
    std::vector<int32_t> cols;
    std::vector<float> values;
    Blocks() {
        for (int u = 0; u < 20; ++u) {
            int base = u < 10 ? 0 : 10;
            for (int i = 0; i < 10; ++i) {
                if (i == u % 10) continue;
                cols.push_back(base + i);
                values.push_back(1.0f);
            }
            ptr.push_back(static_cast<int64_t>(cols.size()));
        }
    }
    recsys::SparseRows rows() const { return {20, ptr.data(), cols.data(), values.data()}; }
    // The transpose (items x users).
    void transpose(std::vector<int64_t>& tptr, std::vector<int32_t>& tcols, std::vector<float>& tvalues) const {
        std::vector<std::vector<std::pair<int32_t, float>>> by_item(20);
        for (int u = 0; u < 20; ++u)
            for (int64_t e = ptr[u]; e < ptr[u + 1]; ++e) by_item[cols[e]].push_back({u, values[e]});
        tptr = {0};
        for (auto& entries : by_item) {
            for (auto& [u, w] : entries) { tcols.push_back(u); tvalues.push_back(w); }
            tptr.push_back(static_cast<int64_t>(tcols.size()));
        }
    }
};

double dot(const std::vector<float>& a, size_t ra, const std::vector<float>& b, size_t rb, int f) {
    double s = 0;
    for (int c = 0; c < f; ++c) s += a[ra * f + c] * b[rb * f + c];
    return s;
}

struct Trained {
    std::vector<float> users, items;
    std::vector<double> losses;
};

Trained train(const recsys::AlsOptions& o, uint64_t seed, int iterations) {
    Blocks b;
    std::vector<int64_t> tptr;
    std::vector<int32_t> tcols;
    std::vector<float> tvalues;
    b.transpose(tptr, tcols, tvalues);
    recsys::SparseRows item_rows{20, tptr.data(), tcols.data(), tvalues.data()};
    Trained t{std::vector<float>(20 * o.factors), std::vector<float>(20 * o.factors), {}};
    recsys::als_init(t.users.data(), 20, o.factors, seed, 0);
    recsys::als_init(t.items.data(), 20, o.factors, seed, 1);
    for (int it = 0; it < iterations; ++it) {
        recsys::als_solve(b.rows(), t.items.data(), 20, t.users.data(), o, nullptr);
        recsys::als_solve(item_rows, t.users.data(), 20, t.items.data(), o, nullptr);
        t.losses.push_back(recsys::als_loss(b.rows(), t.users.data(), t.items.data(), 20, o));
    }
    return t;
}

recsys::AlsOptions small() {
    recsys::AlsOptions o;
    o.factors = 4;
    o.regularization = 0.1;
    o.alpha = 5;
    return o;
}

}  // namespace

TEST(Als, LossFallsAndHeldOutItemsOfTheSameTasteWin) {
    Trained t = train(small(), 7, 10);
    for (size_t i = 1; i < t.losses.size(); ++i) EXPECT_LE(t.losses[i], t.losses[i - 1] + 1e-6) << "iteration " << i;
    EXPECT_LT(t.losses.back(), t.losses.front());
    for (int u = 0; u < 20; ++u) {
        int held_out = (u < 10 ? 0 : 10) + u % 10;
        int other_block = (u < 10 ? 10 : 0) + u % 10;
        EXPECT_GT(dot(t.users, u, t.items, held_out, 4), dot(t.users, u, t.items, other_block, 4)) << "user " << u;
    }
}

TEST(Als, SameSeedSameFactors) {
    EXPECT_EQ(train(small(), 3, 3).items, train(small(), 3, 3).items);
    EXPECT_NE(train(small(), 3, 3).items, train(small(), 4, 3).items);
}

TEST(Als, FoldInAgreesWithTheTrainedRow) {
    recsys::AlsOptions o = small();
    o.cg_steps = 50;  // converge each row exactly, like the fold-in's direct solve
    Trained t = train(o, 7, 6);
    Blocks b;
    std::vector<float> rows;
    for (int64_t e = b.ptr[3]; e < b.ptr[4]; ++e)
        rows.insert(rows.end(), t.items.begin() + b.cols[e] * 4, t.items.begin() + (b.cols[e] + 1) * 4);
    std::vector<float> weights(rows.size() / 4, 1.0f);
    std::vector<float> folded = recsys::als_fold_in(recsys::als_gram(t.items.data(), 20, 4), rows.data(), weights.size(),
                                                    weights, o);
    // One more user half-step against the final items gives the exact row to compare with.
    recsys::als_solve(b.rows(), t.items.data(), 20, t.users.data(), o, nullptr);
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(folded[c], t.users[3 * 4 + c], 1e-3);
}

TEST(Als, BadOptionsAndCancellation) {
    recsys::AlsOptions o = small();
    o.factors = 0;
    EXPECT_THROW(recsys::check_als_options(o), recsys::Error);
    o = small();
    o.alpha = 0;
    EXPECT_THROW(recsys::check_als_options(o), recsys::Error);
    o = small();
    Blocks b;
    std::vector<float> users(20 * 4), items(20 * 4);
    try {
        recsys::als_solve(b.rows(), items.data(), 20, users.data(), o, [] { return true; });
        FAIL() << "no cancellation";
    } catch (const recsys::Error& e) {
        EXPECT_EQ(e.kind(), recsys::ErrorKind::cancelled);
    }
    EXPECT_THROW(recsys::als_solve(b.rows(), items.data(), 5, users.data(), o, nullptr), recsys::Error);
}
