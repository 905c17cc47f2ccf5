// Synthetic data: categories with Zipf popularity inside each, brands, tags, prices and
// margins, 384-d embeddings clustered by category and brand, and users in five segments whose
// sessions prefer their favourite categories (niche readers the long tail, trend seekers the
// new arrivals, weekend adventurers the weekends).
#include "core/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/eigen.hpp"
#include "core/error.hpp"
#include "core/random.hpp"

namespace recsys {
namespace {

// Streams of the counter-based generator, one per kind of draw.
enum Stream : uint64_t {
    stream_item = 1,
    stream_item_noise,
    stream_category_center,
    stream_brand_center,
    stream_user,
    stream_session,
    stream_event,
};

const char* const category_names[] = {
    "electronics", "books",  "fashion", "home",   "sports", "beauty", "toys",
    "grocery",     "garden", "automotive", "music", "movies", "games", "health",
    "office",      "pets",   "jewelry", "shoes",  "outdoor", "kitchen"};
constexpr int named_categories = sizeof(category_names) / sizeof(category_names[0]);

const char* const plain_tags[] = {"eco",     "premium", "budget",  "bestseller", "gift",    "limited",
                                  "classic", "handmade", "compact", "vintage",   "smart",   "kids",
                                  "pro",     "travel",  "organic", "wireless"};
constexpr int plain_tag_count = sizeof(plain_tags) / sizeof(plain_tags[0]);

const char* const syllables[] = {"nor", "vex", "al", "tri", "zen", "ko", "mar", "lu", "pex", "sol",
                                 "ra",  "vi",  "dor", "qua", "fen", "ix", "bel", "tor", "mo", "cy"};
constexpr int syllable_count = sizeof(syllables) / sizeof(syllables[0]);

const char* const segment_names[synthetic_segment_count] = {
    "power_users", "new_users", "niche_readers", "trend_seekers", "weekend_adventurers"};
// Share of users in each segment (cumulative) and relative activity of each segment.
const double segment_cumulative_share[synthetic_segment_count] = {0.10, 0.30, 0.50, 0.80, 1.00};
const double segment_activity[synthetic_segment_count] = {1.0, 0.08, 0.35, 0.45, 0.35};

const char* const tiers[] = {"gold", "silver", "bronze"};
const char* const countries[] = {"US", "DE", "FR", "GB", "ES", "IT", "NL", "SE", "PL", "JP"};

constexpr int session_length = 6;
constexpr double seconds_per_day = 86400.0;
constexpr double catalogue_age_days = 365.0;

// Copies text into a fixed buffer, truncating if needed.
void copy_text(char* dest, size_t size, const std::string& text) {
    std::snprintf(dest, size, "%s", text.c_str());
}

std::string category_name(int category) {
    if (category < named_categories) return category_names[category];
    return "category_" + std::to_string(category + 1);
}

// A pronounceable brand name, unique per (category, brand) pair.
std::string brand_name(int category, int brand) {
    uint64_t h = mix64(static_cast<uint64_t>(category) * 1000003ULL + static_cast<uint64_t>(brand));
    std::string name = std::string(syllables[h % syllable_count]) + syllables[(h >> 8) % syllable_count];
    name[0] = static_cast<char>(name[0] - 'a' + 'A');
    return name + "-" + std::to_string(category * 100 + brand);
}

// Number of items in category c (items are dealt to categories round-robin).
int64_t category_size(const SyntheticConfig& config, int category) {
    return (config.items - category + config.categories - 1) / config.categories;
}

// Item index of the item with popularity rank `rank` inside category c.
int64_t item_at(const SyntheticConfig& config, int category, int64_t rank) {
    return category + static_cast<int64_t>(config.categories) * rank;
}

int segment_of_user(const SyntheticConfig& config, int64_t user) {
    double u = CounterRng(config.seed, stream_user, static_cast<uint64_t>(user)).uniform();
    for (int s = 0; s < synthetic_segment_count; ++s)
        if (u < segment_cumulative_share[s]) return s;
    return synthetic_segment_count - 1;
}

// The two favourite categories of a user.
void favourite_categories(const SyntheticConfig& config, int64_t user, int* first, int* second) {
    CounterRng rng(config.seed, stream_user, static_cast<uint64_t>(user) + 0x100000000ULL);
    *first = static_cast<int>(rng.below(static_cast<uint64_t>(config.categories)));
    *second = static_cast<int>(rng.below(static_cast<uint64_t>(config.categories)));
}

// A unit-norm random direction for a cluster centre.
Eigen::VectorXf random_direction(const SyntheticConfig& config, uint64_t stream, uint64_t key) {
    CounterRng rng(config.seed, stream, key);
    Eigen::VectorXf v(config.dim);
    for (int d = 0; d < config.dim; ++d) v[d] = static_cast<float>(rng.gaussian());
    return v.normalized();
}

// Chooses the item of one session step for a user of the given segment.
int64_t choose_item(const SyntheticConfig& config, int segment, int favourite, int second, CounterRng& rng) {
    double u = rng.uniform();
    if (u >= 0.75 || segment == 1 /* new users follow the crowd */) {
        return static_cast<int64_t>(rng.zipf_rank(static_cast<uint64_t>(config.items)));
    }
    int category = u < 0.5 ? favourite : second;
    int64_t size = category_size(config, category);
    int64_t rank;
    switch (segment) {
        case 2: {  // niche readers: the long tail of their categories
            int64_t head = std::max<int64_t>(1, size / 5);
            rank = size > head ? head + static_cast<int64_t>(rng.below(static_cast<uint64_t>(size - head))) : 0;
            break;
        }
        case 3: {  // trend seekers: the newest arrivals (highest ranks are the newest items)
            int64_t window = std::max<int64_t>(1, size / 10);
            rank = size - 1 - static_cast<int64_t>(rng.zipf_rank(static_cast<uint64_t>(window)));
            break;
        }
        default:
            rank = static_cast<int64_t>(rng.zipf_rank(static_cast<uint64_t>(size)));
    }
    return item_at(config, category, rank);
}

}  // namespace

void validate(const SyntheticConfig& config) {
    if (config.items < 1 || config.items > 10000000) throw_invalid("option \"items\" must be between 1 and 10000000");
    if (config.users < 1 || config.users > 10000000) throw_invalid("option \"users\" must be between 1 and 10000000");
    if (config.events < 0 || config.events > 100000000)
        throw_invalid("option \"events\" must be between 0 and 100000000");
    if (config.dim < 0 || config.dim > 4096) throw_invalid("option \"dim\" must be between 0 and 4096");
    if (config.categories < 1 || config.categories > 1000)
        throw_invalid("option \"categories\" must be between 1 and 1000");
    if (config.categories > config.items)
        throw_invalid("option \"categories\" must not exceed option \"items\"");
    if (config.brands_per_category < 1 || config.brands_per_category > 1000)
        throw_invalid("option \"brands_per_category\" must be between 1 and 1000");
    if (!(config.window_days > 0.0 && config.window_days <= 3650.0))
        throw_invalid("option \"window_days\" must be greater than 0 and at most 3650");
    if (!(config.available_share >= 0.0 && config.available_share <= 1.0))
        throw_invalid("option \"available_share\" must be between 0 and 1");
}

void synthetic_item(const SyntheticConfig& config, int64_t index, SyntheticItem* out, float* embedding) {
    CounterRng rng(config.seed, stream_item, static_cast<uint64_t>(index));
    int category = static_cast<int>(index % config.categories);
    int64_t rank = index / config.categories;
    int64_t size = category_size(config, category);
    int brand = static_cast<int>(rng.below(static_cast<uint64_t>(config.brands_per_category)));

    copy_text(out->item_id, sizeof(out->item_id), "item_" + std::to_string(index + 1));
    copy_text(out->category, sizeof(out->category), category_name(category));
    copy_text(out->brand, sizeof(out->brand), brand_name(category, brand));
    out->available = rng.uniform() < config.available_share;
    double base_price = std::exp(2.5 + 0.4 * (category % 5));
    out->price = std::round(base_price * std::exp(0.5 * rng.gaussian()) * 100.0) / 100.0;
    out->margin = std::round((0.05 + 0.45 * rng.uniform()) * 100.0) / 100.0;

    // Popular ranks are old staples; the highest ranks of a category are the newest arrivals.
    double age_days = catalogue_age_days * (1.0 - static_cast<double>(rank) / static_cast<double>(size)) +
                      rng.uniform() * 3.0;
    out->created_unix = std::floor(config.end_unix - age_days * seconds_per_day);

    out->tag_count = 0;
    copy_text(out->tags[out->tag_count++], synthetic_name_length, "category:" + category_name(category));
    copy_text(out->tags[out->tag_count++], synthetic_name_length, "brand:" + brand_name(category, brand));
    int plain = 1 + static_cast<int>(rng.below(3));
    for (int t = 0; t < plain; ++t) {
        // Categories lean towards a few tags of their own, so tags carry signal.
        int tag = rng.uniform() < 0.6 ? (category * 3 + t) % plain_tag_count
                                      : static_cast<int>(rng.below(plain_tag_count));
        bool seen = false;
        for (int k = 2; k < out->tag_count; ++k) seen |= std::strcmp(out->tags[k], plain_tags[tag]) == 0;
        if (!seen) copy_text(out->tags[out->tag_count++], synthetic_name_length, plain_tags[tag]);
    }
    if (age_days < 30.0 && out->tag_count < synthetic_max_tags)
        copy_text(out->tags[out->tag_count++], synthetic_name_length, "new-arrival");

    if (config.dim > 0) {
        Eigen::Map<Eigen::VectorXf> vector(embedding, config.dim);
        CounterRng noise(config.seed, stream_item_noise, static_cast<uint64_t>(index));
        vector = random_direction(config, stream_category_center, static_cast<uint64_t>(category)) +
                 0.5f * random_direction(config, stream_brand_center,
                                         static_cast<uint64_t>(category) * 1000003ULL + static_cast<uint64_t>(brand));
        float scale = 0.7f / std::sqrt(static_cast<float>(config.dim));
        for (int d = 0; d < config.dim; ++d) vector[d] += scale * static_cast<float>(noise.gaussian());
        vector.normalize();
    }
}

void synthetic_user(const SyntheticConfig& config, int64_t index, SyntheticUser* out) {
    CounterRng rng(config.seed, stream_user, static_cast<uint64_t>(index) + 0x200000000ULL);
    int segment = segment_of_user(config, index);
    copy_text(out->user_id, sizeof(out->user_id), "user_" + std::to_string(index + 1));
    out->segment = segment_names[segment];
    double tier = rng.uniform() + (segment == 0 ? 0.5 : 0.0);
    out->tier = tier > 1.2 ? tiers[0] : tier > 0.7 ? tiers[1] : tiers[2];
    out->age = 18 + static_cast<int>(rng.below(55));
    out->country = countries[rng.below(sizeof(countries) / sizeof(countries[0]))];
    out->signup_days_ago = segment == 1 ? static_cast<int>(rng.below(14))
                                        : 14 + static_cast<int>(rng.below(1000));
}

void synthetic_event(const SyntheticConfig& config, int64_t index, SyntheticEvent* out) {
    uint64_t session = static_cast<uint64_t>(index / session_length);
    int step = static_cast<int>(index % session_length);
    CounterRng session_rng(config.seed, stream_session, session);

    // The session's user: uniform draw, accepted with the segment's activity (rejection sampling).
    int64_t user = 0;
    int segment = 0;
    for (int attempt = 0; attempt < 64; ++attempt) {
        user = static_cast<int64_t>(session_rng.below(static_cast<uint64_t>(config.users)));
        segment = segment_of_user(config, user);
        if (session_rng.uniform() < segment_activity[segment]) break;
    }

    double window = config.window_days * seconds_per_day;
    double start = config.end_unix - window * session_rng.uniform();
    if (segment == 1) start = config.end_unix - std::min(window, 14.0 * seconds_per_day) * session_rng.uniform();
    if (segment == 4) {
        // Move the session to the preceding weekend (1970-01-01 was a Thursday: day 2 is Saturday).
        double day = std::floor(start / seconds_per_day);
        int weekday = static_cast<int>(static_cast<int64_t>(day) % 7);
        if (weekday != 2 && weekday != 3) start -= ((weekday + 7 - 3) % 7) * seconds_per_day;
        if (start < config.end_unix - window) start += 7 * seconds_per_day;
    }

    CounterRng rng(config.seed, stream_event, static_cast<uint64_t>(index));
    double ts = start + step * (30.0 + 270.0 * rng.uniform());
    int favourite = 0, second = 0;
    favourite_categories(config, user, &favourite, &second);
    int64_t item = choose_item(config, segment, favourite, second, rng);
    double t = rng.uniform();

    copy_text(out->event_id, sizeof(out->event_id), "ev_" + std::to_string(index + 1));
    copy_text(out->user_id, sizeof(out->user_id), "user_" + std::to_string(user + 1));
    copy_text(out->item_id, sizeof(out->item_id), "item_" + std::to_string(item + 1));
    out->type = t < 0.70 ? 0 : t < 0.88 ? 1 : t < 0.96 ? 2 : 3;
    out->ts_unix = std::floor(std::min(ts, config.end_unix));
}

}  // namespace recsys
