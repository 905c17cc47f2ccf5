// Unit tests of the log2-space decay arithmetic.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/decay.hpp"

TEST(Decay, Log2AddMatchesDirectSum) {
    EXPECT_NEAR(recsys::log2_add(std::log2(3.0), std::log2(5.0)), std::log2(8.0), 1e-12);
    EXPECT_NEAR(recsys::log2_add(0.0, 0.0), 1.0, 1e-12);
}

TEST(Decay, Log2AddNeverOverflows) {
    double big = 5000.0;  // 2^5000 overflows a double; its log does not
    EXPECT_NEAR(recsys::log2_add(big, big), big + 1.0, 1e-9);
    EXPECT_NEAR(recsys::log2_add(big, 0.0), big, 1e-9);
    EXPECT_TRUE(std::isfinite(recsys::log2_add(-big, big)));
}

TEST(Decay, NegativeInfinityIsAZeroWeight) {
    double minus_inf = -std::numeric_limits<double>::infinity();
    EXPECT_EQ(recsys::log2_add(minus_inf, 3.5), 3.5);
    EXPECT_EQ(recsys::log2_add(3.5, minus_inf), 3.5);
}

TEST(Decay, HalfLifeHalvesTheScore) {
    double half_life = 7.0;
    double at_event = recsys::log2_event(0.4, 100.0, half_life);
    double week_later = at_event - (100.0 + half_life) / half_life;
    EXPECT_NEAR(std::exp2(week_later), 0.2, 1e-12);
}
