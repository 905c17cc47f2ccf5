// Unit tests of IntMap: first insertion wins, absent keys, growth past the expected size.
#include <gtest/gtest.h>

#include <cstddef>

#include "core/int_map.hpp"

TEST(IntMap, KeepsTheFirstValueAndFindsEveryKeyAfterGrowing) {
    recsys::IntMap<size_t> map(4);
    EXPECT_EQ(map.find(7), nullptr);
    EXPECT_EQ(map.emplace(7, 1), 1u);
    EXPECT_EQ(map.emplace(7, 2), 1u);  // present: the stored value, unchanged
    // Keys that collide in a small table and far more of them than expected.
    for (int k = 0; k < 5000; ++k) map.emplace(k * 1024, static_cast<size_t>(k) + 10);
    for (int k = 0; k < 5000; ++k) {
        const size_t* found = map.find(k * 1024);
        ASSERT_NE(found, nullptr) << k;
        EXPECT_EQ(*found, static_cast<size_t>(k) + 10);
    }
    EXPECT_EQ(*map.find(7), 1u);
    EXPECT_EQ(map.find(3), nullptr);
    map.emplace(7, 0) = 9;  // the reference is the stored value
    EXPECT_EQ(*map.find(7), 9u);
}
