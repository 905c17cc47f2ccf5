// Unit tests of the counter-based random numbers.
#include <gtest/gtest.h>

#include <vector>

#include "core/random.hpp"

TEST(Random, SameKeySameStream) {
    recsys::CounterRng a(1, 2, 3), b(1, 2, 3), c(1, 2, 4);
    EXPECT_EQ(a.next(), b.next());
    EXPECT_NE(a.next(), c.next());
}

TEST(Random, UniformStaysInRangeAndCentres) {
    recsys::CounterRng rng(9, 9, 9);
    double sum = 0;
    for (int i = 0; i < 100000; ++i) {
        double u = rng.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
    }
    EXPECT_NEAR(sum / 100000, 0.5, 0.01);
}

TEST(Random, ZipfFavoursLowRanks) {
    recsys::CounterRng rng(4, 5, 6);
    std::vector<int> counts(1000, 0);
    for (int i = 0; i < 200000; ++i) {
        uint64_t r = rng.zipf_rank(1000);
        ASSERT_LT(r, 1000u);
        ++counts[r];
    }
    EXPECT_GT(counts[0], 10 * counts[500]);
    EXPECT_GT(counts[0], counts[1]);
    EXPECT_GT(counts[10], counts[100]);
}
