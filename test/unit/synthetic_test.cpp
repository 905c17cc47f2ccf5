// Unit tests of the synthetic generator: determinism, validation, shape.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/synthetic.hpp"

namespace {

recsys::SyntheticConfig small_config() {
    recsys::SyntheticConfig config;
    config.items = 500;
    config.users = 50;
    config.events = 5000;
    config.dim = 32;
    config.categories = 5;
    config.end_unix = 1780000000.0;
    return config;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    return dot / std::sqrt(na * nb);
}

}  // namespace

TEST(Synthetic, SameIndexGivesSameRow) {
    auto config = small_config();
    recsys::SyntheticItem first{}, second{};
    std::vector<float> e1(config.dim), e2(config.dim);
    recsys::synthetic_item(config, 17, &first, e1.data());
    recsys::synthetic_item(config, 17, &second, e2.data());
    EXPECT_STREQ(first.item_id, second.item_id);
    EXPECT_EQ(first.price, second.price);
    EXPECT_EQ(e1, e2);
    recsys::SyntheticEvent a{}, b{};
    recsys::synthetic_event(config, 1234, &a);
    recsys::synthetic_event(config, 1234, &b);
    EXPECT_STREQ(a.user_id, b.user_id);
    EXPECT_STREQ(a.item_id, b.item_id);
    EXPECT_EQ(a.ts_unix, b.ts_unix);
}

TEST(Synthetic, SeedChangesEvents) {
    auto config = small_config();
    auto other = config;
    other.seed = config.seed + 1;
    int differ = 0;
    for (int i = 0; i < 100; ++i) {
        recsys::SyntheticEvent a{}, b{};
        recsys::synthetic_event(config, i, &a);
        recsys::synthetic_event(other, i, &b);
        differ += std::strcmp(a.item_id, b.item_id) != 0;
    }
    EXPECT_GT(differ, 80);
}

TEST(Synthetic, ValidationNamesTheOption) {
    auto config = small_config();
    config.items = 0;
    try {
        recsys::validate(config);
        FAIL() << "validate accepted items = 0";
    } catch (const recsys::Error& e) {
        EXPECT_EQ(e.kind(), recsys::ErrorKind::invalid_parameter);
        EXPECT_NE(std::string(e.what()).find("\"items\""), std::string::npos);
    }
    config = small_config();
    config.available_share = std::nan("");
    EXPECT_THROW(recsys::validate(config), recsys::Error);
    config = small_config();
    config.categories = 600;
    EXPECT_THROW(recsys::validate(config), recsys::Error);
    EXPECT_NO_THROW(recsys::validate(small_config()));
}

TEST(Synthetic, ItemsAreWellFormed) {
    auto config = small_config();
    std::vector<float> embedding(config.dim);
    for (int64_t i = 0; i < config.items; ++i) {
        recsys::SyntheticItem item{};
        recsys::synthetic_item(config, i, &item, embedding.data());
        ASSERT_GE(item.tag_count, 3);
        EXPECT_EQ(std::string(item.tags[0]), std::string("category:") + item.category);
        EXPECT_EQ(std::string(item.tags[1]), std::string("brand:") + item.brand);
        EXPECT_GT(item.price, 0.0);
        EXPECT_LE(item.created_unix, config.end_unix);
        double norm = 0;
        for (float v : embedding) norm += v * v;
        EXPECT_NEAR(norm, 1.0, 1e-4);
    }
}

TEST(Synthetic, EmbeddingsClusterByCategory) {
    auto config = small_config();
    std::vector<std::vector<float>> vectors(20, std::vector<float>(config.dim));
    recsys::SyntheticItem item{};
    for (int i = 0; i < 20; ++i) recsys::synthetic_item(config, i, &item, vectors[i].data());
    double same = 0, other = 0;
    int n_same = 0, n_other = 0;
    for (int i = 0; i < 20; ++i)
        for (int j = i + 1; j < 20; ++j) {
            double c = cosine(vectors[i], vectors[j]);
            if (i % config.categories == j % config.categories) same += c, ++n_same;
            else other += c, ++n_other;
        }
    EXPECT_GT(same / n_same, other / n_other + 0.3);
}

TEST(Synthetic, EventsReferenceGeneratedRowsInsideTheWindow) {
    auto config = small_config();
    std::set<std::string> types;
    for (int64_t i = 0; i < config.events; ++i) {
        recsys::SyntheticEvent event{};
        recsys::synthetic_event(config, i, &event);
        int user = std::stoi(std::string(event.user_id).substr(5));
        int item = std::stoi(std::string(event.item_id).substr(5));
        ASSERT_GE(user, 1);
        ASSERT_LE(user, config.users);
        ASSERT_GE(item, 1);
        ASSERT_LE(item, config.items);
        ASSERT_LE(event.ts_unix, config.end_unix);
        ASSERT_GE(event.ts_unix, config.end_unix - config.window_days * 86400.0 - 7 * 86400.0);
        types.insert(std::to_string(event.type));
    }
    EXPECT_EQ(types.size(), 4u);
}
