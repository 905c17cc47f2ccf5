// A namespace's co-visitation counts held in memory for serving: for every item, its neighbours
// and pair counts (recsys.covis, both directions). Pure C++; src/pg/catalog_cache.cpp loads it
// whole once and then replaces the lists of the items whose events changed.
//
// Items get their own dense index (an item may have pairs before it is in the catalogue); each
// list is sorted by that index, so a replaced list is merged into its neighbours' lists without
// rebuilding them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/id_key.hpp"

namespace recsys {

// An item and the summed pair counts of its co-visitation with a set of items.
struct CoVisited {
    std::string item_id;
    double pairs;
};

// One event for counting co-visitation: its user and item as numbers (items numbered in item_id
// order) and its time in microseconds.
struct VisitEvent {
    int user;
    int item;
    int64_t ts;
};

// A co-visitation count of two items (a < b).
struct PairCount {
    int a;
    int b;
    int64_t pairs;
};

// Counts co-visitation from events sorted by user, then time: every two events of one user on
// different items at most `window` microseconds apart count once for their item pair. The result
// is ordered by (a, b). (The ingestion triggers count the same pairs incrementally in SQL; see
// src/sql/derived.sql.)
std::vector<PairCount> count_pairs(const std::vector<VisitEvent>& events, int64_t window);

class CoVisitation {
public:
    // Adds every pair of `counts` (as count_pairs returns them; items index `ids`) in one go; the
    // lists are ready without finish_load(). For an empty CoVisitation only.
    void load_counts(const std::vector<std::string>& ids, const std::vector<PairCount>& counts);

    // Adds one pair row (a full load); lists are unsorted until finish_load().
    void add_pair(const std::string& a, const std::string& b, int64_t pairs);
    // Sorts the lists after the last add_pair().
    void finish_load();

    // Replaces every pair of `item` with `pairs` (neighbour id, count; other pairs are gone),
    // updating the neighbours' lists to match.
    void replace(const std::string& item, const std::vector<std::pair<std::string, int64_t>>& pairs);

    // The pair count of two items (0 when none).
    int64_t pairs(const std::string& a, const std::string& b) const;
    // Number of stored pairs (each unordered pair once).
    size_t size() const { return entries_ / 2; }

    // Sums the pair counts of every item with `items`, each sum divided by the item's total pair
    // count raised to `penalty` (0: raw counts; towards 1, popular items, which pair with
    // everything, weigh less); the n highest scores of the items that `keep` accepts, highest
    // first, ties by item_id. An item is never its own neighbour, but one of `items` can be
    // another's.
    std::vector<CoVisited> top_neighbours(const std::vector<std::string>& items, size_t n,
                                          const std::function<bool(const std::string&)>& keep,
                                          double penalty = 0.0) const;

    // The same with items as this structure's numbers (see item_id): (number, score) pairs, and
    // `keep` asked by number.
    std::vector<std::pair<int, double>> top_neighbour_numbers(const std::vector<std::string>& items, size_t n,
                                                              const std::function<bool(int)>& keep,
                                                              double penalty = 0.0) const;
    // How many items have a number, and the id of one.
    size_t item_count() const { return ids_.size(); }
    const std::string& item_id(int number) const { return ids_[static_cast<size_t>(number)]; }

    // The sum of an item's pair counts (0 when none).
    double total(const std::string& item) const;

private:
    struct Neighbour {
        int32_t item;
        uint32_t pairs;  // saturates at 2^32 - 1
    };
    using List = std::vector<Neighbour>;

    int index_of(const std::string& id);
    int find(const std::string& id) const;
    static uint32_t saturated(int64_t pairs);
    // Sets (count > 0) or removes (count 0) `item` in the sorted list of `owner`.
    void set_entry(int owner, int item, uint32_t count);

    std::unordered_map<std::string, int> index_;
    std::vector<std::string> ids_;
    std::vector<IdKey> keys_;  // per item: id_key of its id
    std::vector<List> lists_;
    std::vector<double> totals_;  // per item: the sum of its pair counts
    size_t entries_ = 0;
    // Per-item sums of top_neighbours, kept zeroed between calls (a backend serves one call at a time).
    mutable std::vector<double> sums_;
    // Per item: its total raised to penalised_power_, computed on first use (NaN: not yet); emptied
    // by every change to the totals.
    mutable std::vector<double> penalised_totals_;
    mutable double penalised_power_ = 0.0;
};

}  // namespace recsys
