// The ranking pipeline after candidate generation: filters (counted in a funnel), signal
// normalisation and blend, a gentle tag-profile personalisation boost, then MMR with hard caps,
// with the reasons for every item. Candidate gathering happens outside (src/sql/serving.sql).
#pragma once

#include <cmath>
#include <cstdint>
#include <unordered_map>
#include <string>
#include <vector>

#include "core/ranking.hpp"

namespace recsys {

// Candidate sources, as bits of PipelineItem::sources.
enum Source : uint32_t {
    source_popularity = 1u << 0,
    source_covisitation = 1u << 1,
    source_embedding = 1u << 2,
    source_content = 1u << 3,
};

// One candidate with what the pipeline needs. Signals are raw values; NaN: not produced.
struct PipelineItem {
    Candidate candidate;  // item_id, brand, category, tags, embedding (relevance is set by the pipeline)
    bool available = true;
    double price = NAN;
    double created_at = NAN;  // seconds since 1970
    double popularity = NAN;
    double covisitation = NAN;
    double similarity = NAN;   // embedding cosine (or collaborative score) to the user
    bool collaborative = false;  // similarity is the ALS score of the user's factors
    uint32_t sources = 0;
    bool seen = false;              // the user interacted with it
    bool purchased_recently = false;
    bool excluded = false;          // named in exclude_item_ids
    bool blocked = false;           // matched by a block rule (block always wins)
    double rule_factor = 1.0;       // product of (1 + boost) of the matching boost rules
    int pin = -1;                   // position among the pinned items (0 first); -1: not pinned
    // The summed tag-profile weight of its tags when the caller computed it (the catalogue does,
    // by tag token); NaN: the pipeline sums it from the tags.
    double profile_weight = NAN;
};

struct PipelineOptions {
    size_t k = 20;
    double alpha = 1.0;  // popularity weight
    double beta = 1.0;   // co-visitation weight
    double gamma = 0.5;  // similarity weight
    double profile_boost = 0.15;
    double boost_floor = 0.05;  // relevance a positively boosted item is lifted to before the boost
    double novelty = 0.0;       // score share taken from popular items: times 1 - novelty * normalised popularity
    MmrOptions mmr;      // lambda and caps (k is taken from k above)
    bool exclude_seen = false;
    std::vector<std::string> include_tags_any;  // empty: no tag filter
    double price_min = NAN, price_max = NAN;    // NaN: open
    double created_after = NAN;                 // NaN: no freshness filter
    size_t user_history = 0;                    // interactions of the user (attenuates the boost)
    std::unordered_map<std::string, double> tag_profile;  // tag -> weight, any scale
};

// How many candidates each stage removed, and which stage removed which candidate.
struct Funnel {
    size_t candidates = 0, unavailable = 0, blocked = 0, excluded = 0, seen = 0, purchased = 0, tags = 0,
           price = 0, freshness = 0, eligible = 0, pinned = 0, returned = 0;
    std::vector<std::pair<size_t, const char*>> dropped;  // (input index, stage name) in input order
};

struct RankedItem {
    size_t index;               // into the input
    double score;               // blended relevance with the personalisation and rule factors
    double blend;               // before the boost
    double boost;               // multiplicative personalisation factor - 1
    double max_similarity;      // to the items ranked above it
    std::vector<std::string> reasons;
    double popularity = 0.0;    // normalised signals that went into the blend
    double covisitation = 0.0;
    double similarity = 0.0;
    double rule_factor = 1.0;
};

// Runs filters, blend, boost, rule boosts and MMR over `items`; pinned items (available, not
// blocked) come first in pin order, then the MMR picks. The output is in rank order.
std::vector<RankedItem> run_pipeline(std::vector<PipelineItem>& items, const PipelineOptions& options, Funnel* funnel);

}  // namespace recsys
