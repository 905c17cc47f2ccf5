// Deterministic synthetic catalogue, users and events for demos, tests and benchmarks.
//
// Every row is a pure function of (config, index): the PostgreSQL layer asks for row i and
// gets the same answer on every machine and every run. Rows are plain structs with fixed
// buffers so that no C++ object with a destructor outlives a call into the core.
#pragma once

#include <cstdint>

namespace recsys {

constexpr int synthetic_segment_count = 5;
constexpr int synthetic_max_tags = 6;
constexpr int synthetic_name_length = 48;

// Sizes and shape of a synthetic namespace.
struct SyntheticConfig {
    int64_t items = 1000;
    int64_t users = 200;
    int64_t events = 20000;
    uint64_t seed = 42;
    int dim = 384;
    int categories = 20;
    int brands_per_category = 8;
    double window_days = 90.0;
    double available_share = 0.95;
    double end_unix = 0.0;  // end of the event window, seconds since 1970-01-01
};

// Throws recsys::Error (invalid_parameter) naming the first option out of range.
void validate(const SyntheticConfig& config);

// One catalogue item; the embedding goes to a caller-supplied buffer of config.dim floats.
struct SyntheticItem {
    char item_id[24];
    bool available;
    double price;
    double margin;
    char brand[synthetic_name_length];
    char category[synthetic_name_length];
    int tag_count;
    char tags[synthetic_max_tags][synthetic_name_length];
    double created_unix;
};

// One user with the traits segments are built on.
struct SyntheticUser {
    char user_id[24];
    const char* segment;
    const char* tier;
    int age;
    const char* country;
    int signup_days_ago;
};

// One interaction; type follows the built-in numbering (0 view, 1 click, 2 add, 3 purchase).
struct SyntheticEvent {
    char event_id[24];
    char user_id[24];
    char item_id[24];
    int type;
    double ts_unix;
};

// Fills item `index` (0-based) and its embedding.
void synthetic_item(const SyntheticConfig& config, int64_t index, SyntheticItem* out, float* embedding);

// Fills user `index` (0-based).
void synthetic_user(const SyntheticConfig& config, int64_t index, SyntheticUser* out);

// Fills event `index` (0-based).
void synthetic_event(const SyntheticConfig& config, int64_t index, SyntheticEvent* out);

}  // namespace recsys
