// A namespace's catalogue held in memory for serving: item attributes, unit-length embeddings
// with an optional inverted-file (IVF) index, tag/brand/category postings ordered by item_id and
// the ALS item factors. Pure C++; src/pg/catalog_cache.cpp keeps one per namespace current.
//
// Items are slots addressed by an int; ids never move, so postings and IVF lists hold slots.
// Ordering by item_id is byte order, as the "C" collation of recsys.items.item_id. Some const
// queries keep what does not change between calls (mutable members, cleared by the changes
// that affect them): a Catalog serves one thread, its backend.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/covisitation.hpp"
#include "core/int_map.hpp"
#include "core/pipeline.hpp"

namespace recsys {

// One item as read from recsys.items; an empty embedding means none.
struct CatalogRecord {
    std::string item_id;
    bool available = true;
    double price = NAN;
    double created_at = NAN;  // seconds since 1970
    std::string brand, category;
    std::vector<std::string> tags;
    std::vector<float> embedding;
};

// What a rule names: any item that is listed, or carries one of the tags, brands or categories.
struct ItemTarget {
    std::vector<std::string> item_ids, tags, brands, categories;
};

// A target resolved against one catalogue for fast matching (see Catalog::compile): the named
// items as sorted slots (ids the catalogue lacks kept apart), attribute values as the
// catalogue's token numbers (values no item has are dropped).
struct CompiledTarget {
    std::vector<int> slots;
    std::unordered_set<std::string> missing_ids;
    std::vector<int> tags, brands, categories;
};

// A scored item slot.
struct ScoredSlot {
    int slot;
    double score;
};

class Catalog {
public:
    // dim: the namespace's embedding dimension (0: no embeddings).
    explicit Catalog(size_t dim);
    Catalog(const Catalog&) = delete;
    Catalog& operator=(const Catalog&) = delete;

    // Adds the item or replaces every attribute of it; an embedding of another length is an error.
    void upsert(const CatalogRecord& record);

    // The slot of an item, -1 when unknown. Slots only grow: an item keeps its slot for the
    // catalogue's life.
    int find(const std::string& item_id) const;
    // A number no other catalogue of the process has: slots handed out by this one stay valid
    // wherever the serial matches.
    uint64_t serial() const { return serial_; }
    size_t size() const { return ids_.size(); }
    size_t dim() const { return dim_; }
    const std::string& item_id(int slot) const { return ids_[static_cast<size_t>(slot)]; }
    // Calls visit(token) for each attribute token of an item (brand, category, tags; see compile).
    template <typename Visit>
    void for_each_token(int slot, Visit&& visit) const {
        size_t s = static_cast<size_t>(slot);
        const InlineTokens& inline_tokens = inline_tokens_[s];
        if (inline_tokens.count >= 0) {  // one cache line for most items
            for (int i = 0; i < inline_tokens.count; ++i) visit(inline_tokens.tokens[i]);
            return;
        }
        if (brand_token_[s] >= 0) visit(brand_token_[s]);
        if (category_token_[s] >= 0) visit(category_token_[s]);
        for (int t : tag_tokens_[s]) visit(t);
    }
    // Which of a set of rules each slot's attribute tokens name, kept between calls by
    // rule_effects (at most 64 rules: one bit set per slot). `named` lists the named tokens with
    // their rule sets; a slot's set is valid while its stamp equals `generation`.
    struct TokenMatches {
        struct Entry {
            uint64_t set = 0;
            uint32_t stamp = 0;  // 0: never valid
        };
        std::vector<std::pair<int, uint64_t>> named;
        std::vector<Entry> slots;  // per slot
        uint32_t generation = 0;
    };
    // The kept matches for these named tokens (token, rule set), sorted by token: started afresh
    // when they differ from the last call's; an upserted item's own set is dropped (its tokens
    // may have changed).
    TokenMatches& token_matches(const std::vector<std::pair<int, uint64_t>>& named) const;

    // Starts loading a slot's attribute tokens into the CPU cache (for_each_token over many
    // items misses the cache once per item otherwise).
    void prefetch_tokens(int slot) const { __builtin_prefetch(&inline_tokens_[static_cast<size_t>(slot)]); }
    bool available(int slot) const { return available_[static_cast<size_t>(slot)] != 0; }
    const std::string& brand(int slot) const { return brand_[static_cast<size_t>(slot)]; }
    const std::string& category(int slot) const { return category_[static_cast<size_t>(slot)]; }
    const std::vector<std::string>& tags(int slot) const { return tags_[static_cast<size_t>(slot)]; }

    // Starts loading what fill, popularity and factor_score (by_factors) or cosine read of a
    // slot into the CPU cache (one miss each otherwise, for every candidate).
    void prefetch_item(int slot, bool by_factors) const;
    // A tag profile (tag, weight) as a table of tag tokens, for profile_weight; tags no item has
    // are left out.
    IntMap<double> profile_tokens(const std::vector<std::pair<std::string, double>>& profile) const;
    // The summed weight of the slot's tags in a profile of profile_tokens (as the pipeline sums
    // it from the tag strings, but by token).
    double profile_weight(int slot, const IntMap<double>& profile) const;
    // Fills a pipeline item with the slot's attributes; its tags and embedding are borrowed
    // (valid until the catalogue next changes). Signals are left untouched.
    void fill(int slot, PipelineItem& item) const;

    // Cosine of the slot's embedding to a unit-length query; NaN without an embedding.
    double cosine(int slot, const std::vector<float>& unit_query) const;

    // Mean of the slots' embeddings, scaled to unit length; empty when none has one.
    std::vector<float> centroid(const std::vector<int>& slots) const;

    // For the items at `slots` (-1: not in the catalogue, skipped; available or not), each tag
    // with the sum of the positive `weights` of the items carrying it (a user's tag profile): the
    // `limit` heaviest, by weight, ties by tag (byte order).
    std::vector<std::pair<std::string, double>> tag_profile(const std::vector<int>& slots,
                                                            const std::vector<double>& weights, size_t limit) const;

    // Available items carrying any of `tags`, the first `limit` by item_id.
    std::vector<int> with_any_tag(const std::vector<std::string>& tags, size_t limit) const;

    // Every item the target names, by item_id; only available ones when asked.
    std::vector<int> matching(const ItemTarget& target, bool available_only) const;

    // Whether the target names the item (an id missing from the catalogue can still be listed).
    bool matches(const ItemTarget& target, const std::string& item_id) const;
    // A target compiled for matching many items, and the match for an item whose slot is known
    // (-1: not in the catalogue); valid until the catalogue changes.
    CompiledTarget compile(const ItemTarget& target) const;
    bool matches(const CompiledTarget& target, const std::string& item_id, int slot) const;

    // The IVF index: `centroids` (lists x dim, row-major) and how many lists a search probes;
    // every embedding is assigned to its nearest centroid. Empty centroids: exact search.
    void set_index(const std::vector<float>& centroids, size_t probes);
    size_t index_lists() const { return lists_.size(); }

    // The n available items nearest to `query` by cosine (through the index when there is one),
    // best first, ties by item_id; the `skip` slots are left out. The index chooses them by int8
    // codes; without `exact_scores` they keep those approximate scores (for callers that only
    // need the set and score the items themselves).
    std::vector<ScoredSlot> nearest(const std::vector<float>& query, size_t n, const std::vector<int>& skip,
                                    bool exact_scores = true) const;

    // ALS item factors: replaces them all (rank 0 clears); an unknown item id is ignored.
    void set_factors(size_t rank, const std::vector<std::pair<std::string, std::vector<float>>>& factors);
    size_t factor_rank() const { return rank_; }

    // The n available items with the highest dot product with `user`, best first, ties by item_id;
    // chosen by int8 codes, with exact scores unless `exact_scores` is false (as nearest).
    std::vector<ScoredSlot> top_by_factors(const std::vector<float>& user, size_t n, bool exact_scores = true) const;

    // The ALS score of a slot for `user`; NaN without factors.
    double factor_score(int slot, const std::vector<float>& user) const;

    // Decayed popularity kept in log2 space per event type (see decay.hpp): sets the score of an
    // item for a type (an item not in the catalogue yet keeps it until it arrives).
    void set_popularity(const std::string& item_id, int type, double log2_score);
    // The half-life in days of each event type that counts; types left out are ignored.
    void set_half_lives(const std::vector<std::pair<int, double>>& half_lives);

    // Popularity of a slot `days` after the decay epoch: sum over types of 2^(log2 - days / h);
    // NaN when the item has no score of a counted type.
    double popularity(int slot, double days) const;

    // The n most popular available items at `days`, best first, ties by item_id: the union of
    // the n best of each type (time-invariant within a type), scored over all types.
    std::vector<ScoredSlot> top_popular(size_t n, double days) const;

    // The namespace's co-visitation counts (kept current by the loader).
    CoVisitation& covisitation() { return covis_; }
    const CoVisitation& covisitation() const { return covis_; }

    // The n available items most co-visited with `items` (summed pair counts, popularity
    // penalised as CoVisitation::top_neighbours), best first, ties by item_id; only items of
    // `within` when given.
    std::vector<ScoredSlot> top_covisited(const std::vector<std::string>& items, size_t n,
                                          const std::unordered_set<std::string>* within = nullptr,
                                          double penalty = 0.0) const;

private:
    struct ById {
        const std::vector<std::string>* ids;
        bool operator()(int a, int b) const { return (*ids)[static_cast<size_t>(a)] < (*ids)[static_cast<size_t>(b)]; }
    };
    // Scored slots best first: higher score, then item_id.
    struct ByScoreThenId {
        const std::vector<std::string>* ids;
        bool operator()(const ScoredSlot& a, const ScoredSlot& b) const {
            if (a.score != b.score) return a.score > b.score;
            return (*ids)[static_cast<size_t>(a.slot)] < (*ids)[static_cast<size_t>(b.slot)];
        }
    };
    using Posting = std::set<int, ById>;
    using Postings = std::unordered_map<std::string, Posting>;

    void post(Postings& postings, const std::string& key, int slot);
    int token(char kind, const std::string& value);
    int find_token(char kind, const std::string& value) const;
    void unpost(Postings& postings, const std::string& key, int slot);
    // Puts the slot in the index list nearest its vector (out of any list it was in).
    void assign_to_list(int slot);
    // Appends the slot and its codes to an index list.
    void add_to_list(size_t list, int slot);
    void count_types();
    std::vector<int> merge(const std::vector<const Posting*>& postings, const std::vector<int>& extra, size_t limit,
                           bool available_only) const;
    std::vector<ScoredSlot> best(std::vector<ScoredSlot>& scored, size_t n) const;

    size_t dim_;
    uint64_t serial_;
    std::vector<std::string> ids_;
    std::unordered_map<std::string, int> slot_of_;
    std::vector<uint8_t> available_;
    std::vector<double> price_, created_at_;
    std::vector<std::string> brand_, category_;
    std::vector<std::vector<std::string>> tags_;
    // The same attributes as token numbers ("kind:value" interned; -1: none), for rule matching.
    std::unordered_map<std::string, int> tokens_;
    std::vector<std::string> token_values_;  // per token: its value without the kind
    std::vector<std::vector<int>> tag_tokens_;
    std::vector<int> brand_token_, category_token_;
    // The same tokens of a slot in 32 bytes when they are at most 7 (count -1: more; use the above).
    struct InlineTokens {
        int32_t count = -1;
        int32_t tokens[7];
    };
    std::vector<InlineTokens> inline_tokens_;
    std::vector<float> vectors_;       // dim per slot, unit length
    std::vector<double> vector_norm_;  // per slot: the stored vector's norm (1 up to rounding)
    std::vector<uint8_t> has_vector_;
    Postings tag_postings_, brand_postings_, category_postings_;
    std::vector<float> centroids_;     // lists x dim
    // An inverted list of the embedding index: its items' slots and, in the same order and
    // contiguous (a probe streams through memory), their int8 codes (dim each: the unit vector
    // scaled by the item's scale, 127 / its largest absolute component, and rounded).
    struct IndexList {
        std::vector<int> slots;
        std::vector<int8_t> codes;
        std::vector<float> scales;
    };
    std::vector<IndexList> lists_;
    std::vector<int> list_of_;         // -1: in no list
    size_t probes_ = 0;
    size_t rank_ = 0;
    std::vector<float> factors_;       // rank per slot
    // The items with factors by the length of their codes' vector, longest first: slot, int8
    // codes (rank each; see IndexList), scale, and that length (|codes| / scale).
    std::vector<int> factor_order_;
    std::vector<int8_t> factor_order_codes_;
    std::vector<float> factor_order_scale_;
    std::vector<float> factor_order_norm_;
    std::vector<uint8_t> has_factors_;
    static constexpr int event_types = 256;
    using ByScore = std::set<std::pair<double, int>, std::greater<std::pair<double, int>>>;
    std::vector<std::vector<double>> log2_;   // per type, per slot (-inf: none); empty: type unused
    std::vector<ByScore> by_score_;           // per type: (log2, slot), best first
    std::vector<double> half_life_;           // per type; NaN: not counted
    std::vector<size_t> counted_types_;       // the types with scores and a half-life
    // top_popular's union of the n best available items of each type (n 0: to be rebuilt).
    mutable std::vector<int> popular_union_;
    mutable size_t popular_union_n_ = 0;
    std::unordered_map<std::string, std::vector<std::pair<int, double>>> pending_popularity_;
    CoVisitation covis_;
    mutable std::vector<int> covis_slots_;  // per co-visitation number: its slot (-1 none, -2 unknown yet)
    mutable TokenMatches token_matches_;
};

// Spherical k-means over n vectors (row-major n x dim, each scaled to unit length first):
// `lists` unit-length centroids seeded from distinct sample points, `iterations` Lloyd rounds.
// Deterministic for a seed.
std::vector<float> spherical_kmeans(const std::vector<float>& vectors, size_t n, size_t dim, size_t lists,
                                    size_t iterations, uint64_t seed);

}  // namespace recsys
