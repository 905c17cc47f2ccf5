// The candidate pool of one ranking request: every item some source proposed, with the bits of
// the sources that proposed it, its co-visitation count (from the co-visitation source) and
// request flags (seen, purchased, excluded). Pure C++; src/pg/candidates.cpp fills it from the
// cached catalogue.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

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
    // Adds a proposal: sources are or-ed, the highest co-visitation kept, a known slot recorded.
    void add(const std::string& item_id, uint32_t source, double covisitation = NAN, int slot = -1);
    // Sets `flag` on every pooled item of `item_ids` (others are ignored).
    void flag(const std::vector<std::string>& item_ids, uint32_t flag);
    size_t size() const { return items_.size(); }
    // The pool ordered by item_id (byte order).
    std::vector<PooledItem> sorted() const;

private:
    std::unordered_map<std::string, size_t> index_;
    std::vector<PooledItem> items_;
};

}  // namespace recsys
