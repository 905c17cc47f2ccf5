// Unit tests of the candidate pool: merged sources, the highest co-visitation, flags, id order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/candidates.hpp"

TEST(CandidatePool, MergesSourcesAndKeepsTheHighestCoVisitation) {
    recsys::CandidatePool pool;
    pool.add("b", 1);
    pool.add("a", 2, 3.0);
    pool.add("b", 2, 5.0);
    pool.add("b", 2, 4.0);
    pool.add("a", 16);
    auto items = pool.take_sorted();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].item_id, "a");
    EXPECT_EQ(items[0].sources, 18u);
    EXPECT_DOUBLE_EQ(items[0].covisitation, 3.0);
    EXPECT_EQ(items[1].item_id, "b");
    EXPECT_EQ(items[1].sources, 3u);
    EXPECT_DOUBLE_EQ(items[1].covisitation, 5.0);
}

TEST(CandidatePool, FlagsOnlyPooledItemsAndOrdersByBytes) {
    recsys::CandidatePool pool;
    for (const char* id : {"item_10", "item_9", "Item_2"}) pool.add(id, 1);
    pool.flag({"item_9", "elsewhere"}, 1);
    pool.flag({"item_9", "item_10"}, 4);
    auto items = pool.take_sorted();
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].item_id, "Item_2");  // upper case sorts first in byte order
    EXPECT_EQ(items[1].item_id, "item_10");
    EXPECT_EQ(items[1].flags, 4u);
    EXPECT_EQ(items[2].flags, 5u);
    EXPECT_TRUE(std::isnan(items[0].covisitation));
}

TEST(CandidatePool, PoolsBySlotWhereTheCatalogueHasOne) {
    // "a" is slot 0 and "b" slot 1 in this catalogue; "new" is unknown to it.
    auto slot_of = [](const std::string& id) { return id == "a" ? 0 : id == "b" ? 1 : -1; };
    recsys::CandidatePool pool(slot_of);
    pool.add("a", 1, NAN, 0);  // a source that knew the slot
    pool.add("a", 2, 7.0);     // by id: the same item
    pool.add("b", 4);
    pool.add("new", 8);
    pool.add("new", 16, 1.0);
    pool.flag({"b", "new", "missing"}, 1);
    // Slots looked up by the caller: the same items are flagged.
    std::vector<int> slots{0, -1, -1};
    pool.flag({"a", "new", "missing"}, 32, &slots);
    auto items = pool.take_sorted();
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].item_id, "a");
    EXPECT_EQ(items[0].flags, 32u);
    EXPECT_EQ(items[0].sources, 3u);
    EXPECT_EQ(items[0].slot, 0);
    EXPECT_DOUBLE_EQ(items[0].covisitation, 7.0);
    EXPECT_EQ(items[1].item_id, "b");
    EXPECT_EQ(items[1].slot, 1);
    EXPECT_EQ(items[1].flags, 1u);
    EXPECT_EQ(items[2].item_id, "new");
    EXPECT_EQ(items[2].slot, -1);
    EXPECT_EQ(items[2].sources, 24u);
    EXPECT_EQ(items[2].flags, 33u);
}

TEST(CandidatePool, ManySlotsStayDistinctAsThePoolGrows) {
    // More items than the slot table first holds, in an order unrelated to their slots.
    auto slot_of = [](const std::string& id) { return std::stoi(id.substr(1)); };
    recsys::CandidatePool pool(slot_of);
    for (int i = 0; i < 5000; ++i) pool.add("i" + std::to_string((i * 7919) % 5000), 1);
    for (int i = 0; i < 5000; ++i) pool.add("i" + std::to_string(i), 2, static_cast<double>(i), i);
    EXPECT_EQ(pool.size(), 5000u);
    pool.flag({"i0", "i4999"}, 4);
    for (const recsys::PooledItem& item : pool.take_sorted()) {
        int slot = slot_of(item.item_id);
        EXPECT_EQ(item.slot, slot);
        EXPECT_EQ(item.sources, 3u);
        EXPECT_DOUBLE_EQ(item.covisitation, slot);
        EXPECT_EQ(item.flags, slot == 0 || slot == 4999 ? 4u : 0u);
    }
}

TEST(CandidatePool, SortedEqualsByteOrderForLongSharedPrefixesAndHighBytes) {
    // Ids that share their first 8 or 16 bytes, are prefixes of each other, or carry bytes >= 0x80
    // (UTF-8): the order must be std::string's byte order in every case.
    std::vector<std::string> ids = {"sku-0000-12", "sku-0000-2", "sku-0000", "sku-000", "sku-0000-1", "\xc3\xa9t\xc3\xa9",
                                    "zeta", "a", "", "sku-0000-\xc3\xa9", "sku-0000-12a", "SKU",
                                    "long-shared-prefix-002", "long-shared-prefix-0010", "long-shared-prefix-001",
                                    "long-shared-prefi", "long-shared-prefix"};
    recsys::CandidatePool pool;
    for (const std::string& id : ids) pool.add(id, 1);
    std::vector<std::string> expected = ids;
    std::sort(expected.begin(), expected.end());
    std::vector<std::string> got;
    for (const recsys::PooledItem& item : pool.take_sorted()) got.push_back(item.item_id);
    EXPECT_EQ(got, expected);
}
