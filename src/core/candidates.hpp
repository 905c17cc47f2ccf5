// The candidate pool of one ranking request: every item some source proposed, with the bits of
// the sources that proposed it, its co-visitation count (from the co-visitation source) and
// request flags (seen, purchased, excluded). Pure C++; src/pg/serve.cpp fills it from the
// cached catalogue.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/int_map.hpp"

namespace recsys {

// One pooled candidate.
struct PooledItem {
    std::string item_id;
    uint32_t sources = 0;
    double covisitation = NAN;  // NaN: not proposed by co-visitation
    uint32_t flags = 0;
    int slot = -1;  // catalogue slot when the source knew it, else -1
};

class CandidatePool {
public:
    // slot_of: an id's catalogue slot (-1 when the catalogue lacks it); without one, ids only.
    // Items are pooled by slot where known (no string hashing for the sources that find slots),
    // by id otherwise.
    explicit CandidatePool(std::function<int(const std::string&)> slot_of = nullptr);
    // Adds a proposal: sources are or-ed, the highest co-visitation kept; `slot`, when the
    // source knows it (>= 0), must be the id's slot.
    void add(const std::string& item_id, uint32_t source, double covisitation = NAN, int slot = -1);
    // Sets `flag` on every pooled item of `item_ids` (others are ignored); `slots`, when given,
    // holds the ids' catalogue slots (-1: none), in the same order.
    void flag(const std::vector<std::string>& item_ids, uint32_t flag, const std::vector<int>* slots = nullptr);
    size_t size() const { return items_.size(); }
    // The pool ordered by item_id (byte order), moved out: the pool is empty afterwards.
    std::vector<PooledItem> take_sorted();

private:
    // The pooled item of an id (and its slot, when known), or nullptr.
    PooledItem* find(const std::string& item_id, int slot);

    std::function<int(const std::string&)> slot_of_;
    IntMap<size_t> by_slot_{2048};                   // catalogue slot -> index into items_
    std::unordered_map<std::string, size_t> by_id_;  // items without a slot
    std::vector<PooledItem> items_;
};

}  // namespace recsys
